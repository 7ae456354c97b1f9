//! SageMaker Processing jobs: create, describe, stop, list, tags.
//!
//! Requests arrive in the API's own JSON shape; the serde mirrors below reject
//! unknown members so a typo on the R side fails loudly instead of being dropped.

use std::collections::HashMap;

use aws_sdk_sagemaker::primitives::DateTime;
use aws_sdk_sagemaker::types as t;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::AwsError;
use crate::json::{params, strings, Obj};
use crate::session::AwsSession;

const SVC: &str = "sagemaker";

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct CreateArgs {
    processing_job_name: String,
    role_arn: String,
    app_specification: AppSpec,
    processing_resources: Resources,
    stopping_condition: Option<Stopping>,
    processing_inputs: Option<Vec<Input>>,
    processing_output_config: Option<OutputConfig>,
    environment: Option<HashMap<String, String>>,
    network_config: Option<Network>,
    tags: Option<Vec<TagArg>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct AppSpec {
    image_uri: String,
    container_entrypoint: Option<Vec<String>>,
    container_arguments: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct Resources {
    cluster_config: Cluster,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct Cluster {
    instance_count: i32,
    instance_type: String,
    #[serde(rename = "VolumeSizeInGB")]
    volume_size_in_gb: i32,
    volume_kms_key_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct Stopping {
    max_runtime_in_seconds: i32,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct Input {
    input_name: String,
    app_managed: Option<bool>,
    s3_input: S3In,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct S3In {
    s3_uri: String,
    local_path: Option<String>,
    s3_data_type: String,
    s3_input_mode: Option<String>,
    s3_data_distribution_type: Option<String>,
    s3_compression_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct OutputConfig {
    outputs: Vec<Output>,
    kms_key_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct Output {
    output_name: String,
    app_managed: Option<bool>,
    s3_output: S3Out,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct S3Out {
    s3_uri: String,
    local_path: Option<String>,
    s3_upload_mode: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct Network {
    enable_inter_container_traffic_encryption: Option<bool>,
    enable_network_isolation: Option<bool>,
    vpc_config: Option<Vpc>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct Vpc {
    security_group_ids: Vec<String>,
    subnets: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct TagArg {
    key: String,
    value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct JobName {
    processing_job_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct ListArgs {
    max_results: Option<usize>,
    name_contains: Option<String>,
    status_equals: Option<String>,
    /// Epoch seconds.
    creation_time_after: Option<f64>,
    sort_by: Option<String>,
    sort_order: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct ResourceArn {
    resource_arn: String,
}

/// `sagemaker:CreateProcessingJob`.
pub(crate) async fn create_processing_job(s: &AwsSession, p: Value) -> Result<Value, AwsError> {
    const OP: &str = "CreateProcessingJob";
    let a: CreateArgs = params(SVC, OP, p)?;
    let c = a.processing_resources.cluster_config;
    let resources = t::ProcessingResources::builder()
        .cluster_config(
            t::ProcessingClusterConfig::builder()
                .instance_count(c.instance_count)
                .instance_type(t::ProcessingInstanceType::from(c.instance_type.as_str()))
                .volume_size_in_gb(c.volume_size_in_gb)
                .set_volume_kms_key_id(c.volume_kms_key_id)
                .build(),
        )
        .build();
    let app = t::AppSpecification::builder()
        .image_uri(a.app_specification.image_uri)
        .set_container_entrypoint(a.app_specification.container_entrypoint)
        .set_container_arguments(a.app_specification.container_arguments)
        .build();
    let inputs = a.processing_inputs.map(|v| {
        v.into_iter()
            .map(|i| {
                let s3 = i.s3_input;
                t::ProcessingInput::builder()
                    .input_name(i.input_name)
                    .set_app_managed(i.app_managed)
                    .s3_input(
                        t::ProcessingS3Input::builder()
                            .s3_uri(s3.s3_uri)
                            .set_local_path(s3.local_path)
                            .s3_data_type(t::ProcessingS3DataType::from(s3.s3_data_type.as_str()))
                            .set_s3_input_mode(
                                s3.s3_input_mode
                                    .as_deref()
                                    .map(t::ProcessingS3InputMode::from),
                            )
                            .set_s3_data_distribution_type(
                                s3.s3_data_distribution_type
                                    .as_deref()
                                    .map(t::ProcessingS3DataDistributionType::from),
                            )
                            .set_s3_compression_type(
                                s3.s3_compression_type
                                    .as_deref()
                                    .map(t::ProcessingS3CompressionType::from),
                            )
                            .build(),
                    )
                    .build()
            })
            .collect::<Vec<_>>()
    });
    let outputs = a.processing_output_config.map(|oc| {
        t::ProcessingOutputConfig::builder()
            .set_outputs(Some(
                oc.outputs
                    .into_iter()
                    .map(|o| {
                        t::ProcessingOutput::builder()
                            .output_name(o.output_name)
                            .set_app_managed(o.app_managed)
                            .s3_output(
                                t::ProcessingS3Output::builder()
                                    .s3_uri(o.s3_output.s3_uri)
                                    .set_local_path(o.s3_output.local_path)
                                    .s3_upload_mode(t::ProcessingS3UploadMode::from(
                                        o.s3_output.s3_upload_mode.as_str(),
                                    ))
                                    .build(),
                            )
                            .build()
                    })
                    .collect(),
            ))
            .set_kms_key_id(oc.kms_key_id)
            .build()
    });
    let network = a.network_config.map(|n| {
        t::NetworkConfig::builder()
            .set_enable_inter_container_traffic_encryption(
                n.enable_inter_container_traffic_encryption,
            )
            .set_enable_network_isolation(n.enable_network_isolation)
            .set_vpc_config(n.vpc_config.map(|v| {
                t::VpcConfig::builder()
                    .set_security_group_ids(Some(v.security_group_ids))
                    .set_subnets(Some(v.subnets))
                    .build()
            }))
            .build()
    });
    let tags = a.tags.map(|v| {
        v.into_iter()
            .map(|t| t::Tag::builder().key(t.key).value(t.value).build())
            .collect()
    });

    let out = s
        .sagemaker
        .create_processing_job()
        .processing_job_name(a.processing_job_name)
        .role_arn(a.role_arn)
        .app_specification(app)
        .processing_resources(resources)
        .set_stopping_condition(a.stopping_condition.map(|sc| {
            t::ProcessingStoppingCondition::builder()
                .max_runtime_in_seconds(sc.max_runtime_in_seconds)
                .build()
        }))
        .set_processing_inputs(inputs)
        .set_processing_output_config(outputs)
        .set_environment(a.environment)
        .set_network_config(network)
        .set_tags(tags)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(SVC, OP, &e))?;
    Ok(Obj::new()
        .opt("ProcessingJobArn", out.processing_job_arn())
        .build())
}

/// `sagemaker:DescribeProcessingJob`.
pub(crate) async fn describe_processing_job(s: &AwsSession, p: Value) -> Result<Value, AwsError> {
    const OP: &str = "DescribeProcessingJob";
    let a: JobName = params(SVC, OP, p)?;
    let o = s
        .sagemaker
        .describe_processing_job()
        .processing_job_name(a.processing_job_name)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(SVC, OP, &e))?;
    Ok(Obj::new()
        .opt("ProcessingJobName", o.processing_job_name())
        .opt("ProcessingJobArn", o.processing_job_arn())
        .opt(
            "ProcessingJobStatus",
            o.processing_job_status().map(|s| s.as_str()),
        )
        .opt("FailureReason", o.failure_reason())
        .opt("ExitMessage", o.exit_message())
        .time("CreationTime", o.creation_time())
        .time("ProcessingStartTime", o.processing_start_time())
        .time("ProcessingEndTime", o.processing_end_time())
        .time("LastModifiedTime", o.last_modified_time())
        .opt("RoleArn", o.role_arn())
        .opt("AppSpecification", o.app_specification().map(app_json))
        .opt(
            "ProcessingResources",
            o.processing_resources().and_then(resources_json),
        )
        .opt(
            "StoppingCondition",
            o.stopping_condition().map(|sc| {
                Obj::new()
                    .opt("MaxRuntimeInSeconds", sc.max_runtime_in_seconds())
                    .build()
            }),
        )
        .opt(
            "ProcessingInputs",
            o.processing_inputs
                .as_ref()
                .map(|v| v.iter().map(input_json).collect::<Vec<_>>()),
        )
        .opt(
            "ProcessingOutputConfig",
            o.processing_output_config().map(output_config_json),
        )
        .opt("Environment", o.environment().map(|env| json!(env)))
        .opt("NetworkConfig", o.network_config().map(network_json))
        .opt("MonitoringScheduleArn", o.monitoring_schedule_arn())
        .opt("TrainingJobArn", o.training_job_arn())
        .opt("AutoMLJobArn", o.auto_ml_job_arn())
        .build())
}

fn app_json(a: &t::AppSpecification) -> Value {
    Obj::new()
        .opt("ImageUri", a.image_uri())
        .opt("ContainerEntrypoint", strings(&a.container_entrypoint))
        .opt("ContainerArguments", strings(&a.container_arguments))
        .build()
}

/// `None` for the placeholder the SDK invents when the response lacks the
/// (required) member: no InstanceCount and no InstanceType. moto omits it.
fn resources_json(r: &t::ProcessingResources) -> Option<Value> {
    let c = r.cluster_config()?;
    if c.instance_count().is_none() && c.instance_type().is_none() {
        return None;
    }
    Some(json!({
        "ClusterConfig": Obj::new()
            .opt("InstanceCount", c.instance_count())
            .opt("InstanceType", c.instance_type().map(|t| t.as_str()))
            .opt("VolumeSizeInGB", c.volume_size_in_gb())
            .opt("VolumeKmsKeyId", c.volume_kms_key_id())
            .build()
    }))
}

fn input_json(i: &t::ProcessingInput) -> Value {
    Obj::new()
        .opt("InputName", i.input_name())
        .opt("AppManaged", i.app_managed())
        .opt(
            "S3Input",
            i.s3_input().map(|s3| {
                Obj::new()
                    .opt("S3Uri", s3.s3_uri())
                    .opt("LocalPath", s3.local_path())
                    .opt("S3DataType", s3.s3_data_type().map(|v| v.as_str()))
                    .opt("S3InputMode", s3.s3_input_mode().map(|v| v.as_str()))
                    .opt(
                        "S3DataDistributionType",
                        s3.s3_data_distribution_type().map(|v| v.as_str()),
                    )
                    .opt(
                        "S3CompressionType",
                        s3.s3_compression_type().map(|v| v.as_str()),
                    )
                    .build()
            }),
        )
        .build()
}

fn output_config_json(oc: &t::ProcessingOutputConfig) -> Value {
    let outputs: Vec<Value> = oc
        .outputs()
        .iter()
        .map(|o| {
            Obj::new()
                .opt("OutputName", o.output_name())
                .opt("AppManaged", o.app_managed())
                .opt(
                    "S3Output",
                    o.s3_output().map(|s3| {
                        Obj::new()
                            .opt("S3Uri", s3.s3_uri())
                            .opt("LocalPath", s3.local_path())
                            .opt("S3UploadMode", s3.s3_upload_mode().map(|v| v.as_str()))
                            .build()
                    }),
                )
                .build()
        })
        .collect();
    Obj::new()
        .set("Outputs", outputs)
        .opt("KmsKeyId", oc.kms_key_id())
        .build()
}

fn network_json(n: &t::NetworkConfig) -> Value {
    Obj::new()
        .opt(
            "EnableInterContainerTrafficEncryption",
            n.enable_inter_container_traffic_encryption(),
        )
        .opt("EnableNetworkIsolation", n.enable_network_isolation())
        .opt(
            "VpcConfig",
            n.vpc_config().map(
                |v| json!({"SecurityGroupIds": v.security_group_ids(), "Subnets": v.subnets()}),
            ),
        )
        .build()
}

/// `sagemaker:StopProcessingJob`.
pub(crate) async fn stop_processing_job(s: &AwsSession, p: Value) -> Result<Value, AwsError> {
    const OP: &str = "StopProcessingJob";
    let a: JobName = params(SVC, OP, p)?;
    s.sagemaker
        .stop_processing_job()
        .processing_job_name(a.processing_job_name)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(SVC, OP, &e))?;
    Ok(json!({}))
}

/// `sagemaker:ListProcessingJobs`: follows NextToken until MaxResults (default 100) are collected.
pub(crate) async fn list_processing_jobs(s: &AwsSession, p: Value) -> Result<Value, AwsError> {
    const OP: &str = "ListProcessingJobs";
    let a: ListArgs = params(SVC, OP, p)?;
    let max = a.max_results.unwrap_or(100);
    let mut out: Vec<Value> = Vec::new();
    let mut token: Option<String> = None;
    while out.len() < max {
        let page_size = (max - out.len()).min(100) as i32;
        let page = s
            .sagemaker
            .list_processing_jobs()
            .max_results(page_size)
            .set_next_token(token.take())
            .set_name_contains(a.name_contains.clone())
            .set_status_equals(a.status_equals.as_deref().map(t::ProcessingJobStatus::from))
            .set_creation_time_after(a.creation_time_after.map(DateTime::from_secs_f64))
            .set_sort_by(a.sort_by.as_deref().map(t::SortBy::from))
            .set_sort_order(a.sort_order.as_deref().map(t::SortOrder::from))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(SVC, OP, &e))?;
        for j in page.processing_job_summaries() {
            if out.len() >= max {
                break;
            }
            out.push(
                Obj::new()
                    .opt("ProcessingJobName", j.processing_job_name())
                    .opt("ProcessingJobArn", j.processing_job_arn())
                    .opt(
                        "ProcessingJobStatus",
                        j.processing_job_status().map(|s| s.as_str()),
                    )
                    .time("CreationTime", j.creation_time())
                    .time("ProcessingEndTime", j.processing_end_time())
                    .time("LastModifiedTime", j.last_modified_time())
                    .opt("FailureReason", j.failure_reason())
                    .opt("ExitMessage", j.exit_message())
                    .build(),
            );
        }
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_owned()),
            _ => break,
        }
    }
    Ok(json!({"ProcessingJobSummaries": out}))
}

/// `sagemaker:ListTags`, all pages.
pub(crate) async fn list_tags(s: &AwsSession, p: Value) -> Result<Value, AwsError> {
    const OP: &str = "ListTags";
    let a: ResourceArn = params(SVC, OP, p)?;
    let mut tags = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = s
            .sagemaker
            .list_tags()
            .resource_arn(&a.resource_arn)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(SVC, OP, &e))?;
        tags.extend(page.tags().iter().map(|t| {
            Obj::new()
                .opt("Key", t.key())
                .opt("Value", t.value())
                .build()
        }));
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_owned()),
            _ => break,
        }
    }
    Ok(json!({"Tags": tags}))
}
