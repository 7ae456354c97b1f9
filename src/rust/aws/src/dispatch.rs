//! The operation table: one string names one handler, so the R side needs a
//! single entry point and new operations need no new glue.

use serde_json::{json, Value};

use crate::error::AwsError;
use crate::session::AwsSession;
use crate::{ecr, iam, logs, s3, sagemaker, training};

/// The operation table, written once: it makes both [`OPERATIONS`] and the
/// dispatch of [`AwsSession::call`].
macro_rules! operations {
    ($($name:literal => $handler:path,)*) => {
        /// Every operation `AwsSession::call` understands.
        pub const OPERATIONS: &[&str] = &[$($name),*];

        impl AwsSession {
            /// Run `operation` ("service:Operation") with JSON params and
            /// return JSON. Unknown operations and bad params are
            /// `invalid_request` errors.
            pub async fn call(&self, operation: &str, params: Value) -> Result<Value, AwsError> {
                match operation {
                    $($name => $handler(self, params).await,)*
                    other => Err(unknown_operation(other)),
                }
            }
        }
    };
}

operations! {
    "sts:GetCallerIdentity" => get_caller_identity,
    "iam:GetRole" => iam::get_role,
    "s3:EnsureBucket" => s3::ensure_bucket,
    "s3:PutObjectFromFile" => s3::put_object_from_file,
    "s3:UploadDirectory" => s3::upload_directory,
    "s3:DownloadPrefix" => s3::download_prefix,
    "s3:ListObjects" => s3::list_objects,
    "s3:DeleteObjects" => s3::delete_objects,
    "sagemaker:CreateProcessingJob" => sagemaker::create_processing_job,
    "sagemaker:DescribeProcessingJob" => sagemaker::describe_processing_job,
    "sagemaker:StopProcessingJob" => sagemaker::stop_processing_job,
    "sagemaker:ListProcessingJobs" => sagemaker::list_processing_jobs,
    "sagemaker:CreateTrainingJob" => training::create_training_job,
    "sagemaker:DescribeTrainingJob" => training::describe_training_job,
    "sagemaker:StopTrainingJob" => training::stop_training_job,
    "sagemaker:ListTrainingJobs" => training::list_training_jobs,
    "logs:DescribeLogStreams" => logs::describe_log_streams,
    "logs:GetLogEvents" => logs::get_log_events,
    "ecr:EnsureRepository" => ecr::ensure_repository,
    "ecr:Login" => ecr::login,
    "session:WriteHostCredentials" => crate::session::write_host_credentials,
}

fn unknown_operation(operation: &str) -> AwsError {
    let (service, op) = operation.split_once(':').unwrap_or(("", operation));
    AwsError::invalid(
        service,
        op,
        format!(
            "unknown operation {operation:?}; known: {}",
            OPERATIONS.join(", ")
        ),
    )
    .with_code("UnknownOperation")
}

/// `sts:GetCallerIdentity` (no params) -> {Account, Arn, UserId}.
async fn get_caller_identity(s: &AwsSession, params: Value) -> Result<Value, AwsError> {
    const OP: &str = "GetCallerIdentity";
    let _: serde_json::Map<String, Value> = crate::json::params("sts", OP, params)?;
    let out = s
        .sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("sts", OP, &e))?;
    Ok(json!({"Account": out.account(), "Arn": out.arn(), "UserId": out.user_id()}))
}
