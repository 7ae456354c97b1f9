//! sagesim's AWS layer: SageMaker Processing and Training, S3, CloudWatch Logs, ECR, STS and IAM
//! through aws-sdk-rust, driven by AWS-shaped JSON so R needs no Python.
//!
//! Entry points: [`runtime`] to block on futures from synchronous (R) code,
//! [`AwsSession::load`] to resolve configuration once, and
//! [`AwsSession::call`] with an operation name from [`OPERATIONS`].

mod dispatch;
mod ecr;
mod error;
mod iam;
mod json;
mod logs;
mod progress;
mod s3;
mod sagemaker;
mod session;
mod training;

use std::sync::OnceLock;

pub use dispatch::OPERATIONS;
pub use error::AwsError;
pub use progress::counting_bytes;
pub use s3::{local_path_for_key, MULTIPART_THRESHOLD};
pub use sagemaker::processing_job_config;
pub use session::{AwsSession, SessionConfig};
pub use training::{job_config, training_job_config};

/// The process-wide Tokio runtime (2 worker threads), built on first use.
/// One runtime keeps connection pools and the SDK's background tasks alive
/// between calls from R.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("sagesim-aws")
            .build()
            .expect("cannot start the Tokio runtime")
    })
}
