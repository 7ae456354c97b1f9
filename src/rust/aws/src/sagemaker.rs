//! SageMaker Processing jobs: create, describe, stop, list (Training jobs
//! are in `training.rs`, which shares this module's helpers).
//!
//! A job arrives as a [`JobPlan`], in sagesim's own terms (what R's
//! `submit_processing()` decided), inside its [`JobRecord`]; this module
//! alone turns it into the SageMaker request, and renders that request as
//! the JSON a Processing container finds in
//! `/opt/ml/config/processingjobconfig.json` with the same code that renders
//! a described job. Unknown members are refused, so a typo on the R side
//! fails loudly instead of being dropped.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_sagemaker::types as t;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::AwsError;
use crate::json::{params, strings, Obj};
use crate::session::AwsSession;
use sagesim_job::{JobPlan, JobRecord, PlannedNetwork, PlannedTag};

pub(crate) const SVC: &str = "sagemaker";

/// The members of a CreateProcessingJob request, built once from a plan.
struct Request {
    name: String,
    role: String,
    app: t::AppSpecification,
    resources: t::ProcessingResources,
    stopping: t::ProcessingStoppingCondition,
    inputs: Option<Vec<t::ProcessingInput>>,
    outputs: Option<t::ProcessingOutputConfig>,
    environment: Option<HashMap<String, String>>,
    network: Option<t::NetworkConfig>,
    tags: Option<Vec<t::Tag>>,
}

/// The SageMaker request a plan makes.
fn request(plan: JobPlan) -> Request {
    let non_empty = |v: Vec<String>| (!v.is_empty()).then_some(v);
    let inputs = plan
        .inputs
        .into_iter()
        .map(|i| {
            t::ProcessingInput::builder()
                .input_name(i.name)
                .s3_input(
                    t::ProcessingS3Input::builder()
                        .s3_uri(i.source)
                        .local_path(i.destination)
                        .s3_data_type(t::ProcessingS3DataType::from(i.s3_data_type.as_str()))
                        .s3_input_mode(t::ProcessingS3InputMode::from(i.s3_input_mode.as_str()))
                        .s3_data_distribution_type(t::ProcessingS3DataDistributionType::from(
                            i.s3_data_distribution_type.as_str(),
                        ))
                        .s3_compression_type(t::ProcessingS3CompressionType::from(
                            i.s3_compression_type.as_str(),
                        ))
                        .build(),
                )
                .build()
        })
        .collect::<Vec<_>>();
    let outputs = plan
        .outputs
        .into_iter()
        .map(|o| {
            t::ProcessingOutput::builder()
                .output_name(o.name)
                .s3_output(
                    t::ProcessingS3Output::builder()
                        .s3_uri(o.destination)
                        .local_path(o.source)
                        .s3_upload_mode(t::ProcessingS3UploadMode::from(o.s3_upload_mode.as_str()))
                        .build(),
                )
                .build()
        })
        .collect::<Vec<_>>();
    let output_kms_key = plan.output_kms_key;
    Request {
        name: plan.name,
        role: plan.role,
        app: t::AppSpecification::builder()
            .image_uri(plan.image_uri)
            .set_container_entrypoint(non_empty(plan.entrypoint))
            .set_container_arguments(non_empty(plan.arguments))
            .build(),
        resources: t::ProcessingResources::builder()
            .cluster_config(
                t::ProcessingClusterConfig::builder()
                    .instance_count(plan.instance_count)
                    .instance_type(t::ProcessingInstanceType::from(plan.instance_type.as_str()))
                    .volume_size_in_gb(plan.volume_size_gb)
                    .set_volume_kms_key_id(plan.volume_kms_key)
                    .build(),
            )
            .build(),
        stopping: t::ProcessingStoppingCondition::builder()
            .max_runtime_in_seconds(plan.max_runtime)
            .build(),
        inputs: (!inputs.is_empty()).then_some(inputs),
        outputs: (!outputs.is_empty()).then(|| {
            t::ProcessingOutputConfig::builder()
                .set_outputs(Some(outputs))
                .set_kms_key_id(output_kms_key)
                .build()
        }),
        environment: (!plan.env.is_empty())
            .then(|| plan.env.into_iter().collect::<HashMap<_, _>>()),
        network: plan.network.map(|n| {
            t::NetworkConfig::builder()
                .enable_inter_container_traffic_encryption(n.encrypt_inter_container_traffic)
                .enable_network_isolation(n.enable_network_isolation)
                .set_vpc_config(vpc_config(&n))
                .build()
        }),
        tags: tags(plan.tags),
    }
}

/// The VPC of a planned network: none when it names no subnets.
pub(crate) fn vpc_config(n: &PlannedNetwork) -> Option<t::VpcConfig> {
    (!n.subnets.is_empty()).then(|| {
        t::VpcConfig::builder()
            .set_security_group_ids(Some(n.security_group_ids.clone()))
            .set_subnets(Some(n.subnets.clone()))
            .build()
    })
}

/// The plan's tags as the request carries them: none when it has none.
pub(crate) fn tags(planned: Vec<PlannedTag>) -> Option<Vec<t::Tag>> {
    (!planned.is_empty()).then(|| {
        planned
            .into_iter()
            .map(|t| t::Tag::builder().key(t.key).value(t.value).build())
            .collect()
    })
}

/// `sagemaker:CreateProcessingJob` of the plan of a [`JobRecord`]. The
/// record may come with `ExtraEnvironment` (an object of strings): variables
/// the request gives the hosts that the record does not hold, because the
/// record goes to S3 and they must not (a job's results key).
pub(crate) async fn create_processing_job(s: &AwsSession, p: Value) -> Result<Value, AwsError> {
    const OP: &str = "CreateProcessingJob";
    let (p, extra) = extra_environment(OP, p)?;
    let plan = record_plan(OP, p)?;
    if plan.training.is_some() {
        return Err(AwsError::invalid(
            SVC,
            OP,
            "the record plans a Training job (it has `training`): create it with CreateTrainingJob",
        ));
    }
    let mut r = request(plan);
    if !extra.is_empty() {
        r.environment.get_or_insert_with(HashMap::new).extend(extra);
    }
    let out = s
        .sagemaker
        .create_processing_job()
        .processing_job_name(r.name)
        .role_arn(r.role)
        .app_specification(r.app)
        .processing_resources(r.resources)
        .stopping_condition(r.stopping)
        .set_processing_inputs(r.inputs)
        .set_processing_output_config(r.outputs)
        .set_environment(r.environment)
        .set_network_config(r.network)
        .set_tags(r.tags)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(SVC, OP, &e))?;
    Ok(Obj::new()
        .opt("ProcessingJobArn", out.processing_job_arn())
        .build())
}

/// The record, and the variables given beside it in `ExtraEnvironment`.
pub(crate) fn extra_environment(
    operation: &str,
    mut record: Value,
) -> Result<(Value, BTreeMap<String, String>), AwsError> {
    let extra = record
        .as_object_mut()
        .and_then(|o| o.remove("ExtraEnvironment"));
    let extra = match extra {
        None => BTreeMap::new(),
        Some(value) => serde_json::from_value(value)
            .map_err(|e| AwsError::invalid(SVC, operation, format!("ExtraEnvironment: {e}")))?,
    };
    Ok((record, extra))
}

pub(crate) fn record_plan(operation: &str, record: Value) -> Result<JobPlan, AwsError> {
    JobRecord::from_value(record)
        .map(|r| r.plan)
        .map_err(|e| AwsError::invalid(SVC, operation, e.message))
}

/// The request a job's plan makes, as a Processing container sees it in
/// `/opt/ml/config/processingjobconfig.json` (and as DescribeProcessingJob
/// describes it): local mode writes it, and a submission whose reply was
/// lost compares a described job with it.
pub fn processing_job_config(record: &JobRecord) -> Value {
    let r = request(record.plan.clone());
    Obj::new()
        .set("ProcessingJobName", r.name)
        .set("RoleArn", r.role)
        .set("AppSpecification", app_json(&r.app))
        .opt("ProcessingResources", resources_json(&r.resources))
        .set(
            "StoppingCondition",
            Obj::new()
                .opt("MaxRuntimeInSeconds", r.stopping.max_runtime_in_seconds())
                .build(),
        )
        .opt(
            "ProcessingInputs",
            r.inputs
                .as_ref()
                .map(|v| v.iter().map(input_json).collect::<Vec<_>>()),
        )
        .opt(
            "ProcessingOutputConfig",
            r.outputs.as_ref().map(output_config_json),
        )
        .opt("Environment", r.environment.map(|env| json!(env)))
        .opt("NetworkConfig", r.network.as_ref().map(network_json))
        .build()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct JobName {
    processing_job_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct ListArgs {
    pub(crate) max_results: Option<usize>,
    pub(crate) name_contains: Option<String>,
    pub(crate) status_equals: Option<String>,
    pub(crate) sort_by: Option<String>,
    pub(crate) sort_order: Option<String>,
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
        .opt("VpcConfig", n.vpc_config().map(vpc_json))
        .build()
}

pub(crate) fn vpc_json(v: &t::VpcConfig) -> Value {
    json!({"SecurityGroupIds": v.security_group_ids(), "Subnets": v.subnets()})
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

/// Follows NextToken until `max` (default 100) summaries are collected:
/// `page(size, token)` asks for one page and gives its summaries, rendered,
/// and its NextToken. ListProcessingJobs and ListTrainingJobs page alike.
pub(crate) async fn collect_pages<F, Fut>(
    max: Option<usize>,
    mut page: F,
) -> Result<Vec<Value>, AwsError>
where
    F: FnMut(i32, Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<Value>, Option<String>), AwsError>>,
{
    let max = max.unwrap_or(100);
    let mut out: Vec<Value> = Vec::new();
    let mut token: Option<String> = None;
    while out.len() < max {
        let (summaries, next) = page((max - out.len()).min(100) as i32, token.take()).await?;
        out.extend(summaries.into_iter().take(max - out.len()));
        match next {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => break,
        }
    }
    Ok(out)
}

/// `sagemaker:ListProcessingJobs`.
pub(crate) async fn list_processing_jobs(s: &AwsSession, p: Value) -> Result<Value, AwsError> {
    const OP: &str = "ListProcessingJobs";
    let a: ListArgs = params(SVC, OP, p)?;
    let out = collect_pages(a.max_results, |size, token| {
        let request = s
            .sagemaker
            .list_processing_jobs()
            .max_results(size)
            .set_next_token(token)
            .set_name_contains(a.name_contains.clone())
            .set_status_equals(a.status_equals.as_deref().map(t::ProcessingJobStatus::from))
            .set_sort_by(a.sort_by.as_deref().map(t::SortBy::from))
            .set_sort_order(a.sort_order.as_deref().map(t::SortOrder::from));
        async move {
            let page = request
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(SVC, OP, &e))?;
            let summaries = page
                .processing_job_summaries()
                .iter()
                .map(|j| {
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
                        .build()
                })
                .collect();
            Ok((summaries, page.next_token().map(str::to_owned)))
        }
    })
    .await?;
    Ok(json!({"ProcessingJobSummaries": out}))
}
