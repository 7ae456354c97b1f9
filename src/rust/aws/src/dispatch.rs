//! The operation table: one string names one handler, so the R side needs a
//! single entry point and new operations need no new glue.

use serde_json::{json, Value};

use crate::error::AwsError;
use crate::session::AwsSession;
use crate::{ecr, logs, s3, sagemaker};

/// Every operation `AwsSession::call` understands.
pub const OPERATIONS: &[&str] = &[
    "sts:GetCallerIdentity",
    "s3:EnsureBucket",
    "s3:PutObjectFromFile",
    "s3:UploadDirectory",
    "s3:GetObjectToFile",
    "s3:DownloadPrefix",
    "s3:ListObjects",
    "s3:DeleteObjects",
    "sagemaker:CreateProcessingJob",
    "sagemaker:DescribeProcessingJob",
    "sagemaker:StopProcessingJob",
    "sagemaker:ListProcessingJobs",
    "sagemaker:ListTags",
    "logs:DescribeLogStreams",
    "logs:GetLogEvents",
    "ecr:EnsureRepository",
    "ecr:Login",
];

impl AwsSession {
    /// Run `operation` ("service:Operation") with AWS-shaped JSON params and
    /// return AWS-shaped JSON. Unknown operations and bad params are
    /// `invalid_request` errors.
    pub async fn call(&self, operation: &str, params: Value) -> Result<Value, AwsError> {
        match operation {
            "sts:GetCallerIdentity" => get_caller_identity(self, params).await,
            "s3:EnsureBucket" => s3::ensure_bucket(self, params).await,
            "s3:PutObjectFromFile" => s3::put_object_from_file(self, params).await,
            "s3:UploadDirectory" => s3::upload_directory(self, params).await,
            "s3:GetObjectToFile" => s3::get_object_to_file(self, params).await,
            "s3:DownloadPrefix" => s3::download_prefix(self, params).await,
            "s3:ListObjects" => s3::list_objects(self, params).await,
            "s3:DeleteObjects" => s3::delete_objects(self, params).await,
            "sagemaker:CreateProcessingJob" => sagemaker::create_processing_job(self, params).await,
            "sagemaker:DescribeProcessingJob" => {
                sagemaker::describe_processing_job(self, params).await
            }
            "sagemaker:StopProcessingJob" => sagemaker::stop_processing_job(self, params).await,
            "sagemaker:ListProcessingJobs" => sagemaker::list_processing_jobs(self, params).await,
            "sagemaker:ListTags" => sagemaker::list_tags(self, params).await,
            "logs:DescribeLogStreams" => logs::describe_log_streams(self, params).await,
            "logs:GetLogEvents" => logs::get_log_events(self, params).await,
            "ecr:EnsureRepository" => ecr::ensure_repository(self, params).await,
            "ecr:Login" => ecr::login(self, params).await,
            other => {
                let (service, op) = other.split_once(':').unwrap_or(("", other));
                Err(AwsError::invalid(
                    service,
                    op,
                    format!(
                        "unknown operation {other:?}; known: {}",
                        OPERATIONS.join(", ")
                    ),
                )
                .with_code("UnknownOperation"))
            }
        }
    }
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
