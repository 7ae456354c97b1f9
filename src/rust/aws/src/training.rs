//! SageMaker Training jobs (managed Spot, warm pools): create, describe,
//! stop, list.
//!
//! A job whose plan has `training` runs as a Training job. The worker is the
//! Processing one: the container starts `sagesim::training_host()`, which
//! lays out the Processing paths inside the Training container and then runs
//! the plan's entrypoint and arguments (its `ContainerArguments`). The
//! plan's inputs become channels; the container paths the worker expects
//! reach it as hyperparameters (`sagesim-input-<name>` = where an input is
//! read, `sagesim-output-<name>` = where an output is written).
//!
//! [`training_job_config`] renders the request as JSON with the same code
//! that renders a described job, so the two compare member for member, as
//! [`crate::sagemaker::processing_job_config`] does for Processing.

use std::collections::HashMap;

use aws_sdk_sagemaker::types as t;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::AwsError;
use crate::json::{params, Obj};
use crate::sagemaker::{
    collect_pages, extra_environment, record_plan, tags, vpc_config, vpc_json, ListArgs, SVC,
};
use crate::session::AwsSession;
use sagesim_job::{JobPlan, JobRecord};

/// The command every sagesim Training container starts with; the plan's
/// entrypoint and arguments follow it (`Rscript -e expr A B C` hands A B C
/// to the expression's `commandArgs(trailingOnly = TRUE)`).
pub const TRAINING_ENTRYPOINT: [&str; 3] = ["Rscript", "-e", "sagesim::training_host()"];
/// Where a Training container's checkpoints live (synced with
/// `CheckpointConfig.S3Uri`).
pub const CHECKPOINT_PATH: &str = "/opt/ml/checkpoints";
/// The hyperparameter naming where input `<name>` is read inside the container.
pub const INPUT_HYPERPARAMETER: &str = "sagesim-input-";
/// The hyperparameter naming where output `<name>` is written inside the container.
pub const OUTPUT_HYPERPARAMETER: &str = "sagesim-output-";

/// The members of a CreateTrainingJob request, built once from a plan.
struct Request {
    name: String,
    role: String,
    algorithm: t::AlgorithmSpecification,
    hyper_parameters: Option<HashMap<String, String>>,
    channels: Option<Vec<t::Channel>>,
    output: t::OutputDataConfig,
    resources: t::ResourceConfig,
    stopping: t::StoppingCondition,
    spot: bool,
    checkpoint: t::CheckpointConfig,
    environment: Option<HashMap<String, String>>,
    vpc: Option<t::VpcConfig>,
    network_isolation: Option<bool>,
    traffic_encryption: Option<bool>,
    tags: Option<Vec<t::Tag>>,
}

/// The Training request a plan makes; `None` when the plan is a
/// Processing job's (no `training`).
fn request(plan: JobPlan) -> Option<Request> {
    let training = plan.training?;
    let mut hyper: HashMap<String, String> = HashMap::new();
    for i in &plan.inputs {
        hyper.insert(
            format!("{INPUT_HYPERPARAMETER}{}", i.name),
            i.destination.clone(),
        );
    }
    for o in &plan.outputs {
        hyper.insert(
            format!("{OUTPUT_HYPERPARAMETER}{}", o.name),
            o.source.clone(),
        );
    }
    let channels = plan
        .inputs
        .into_iter()
        .map(|i| {
            t::Channel::builder()
                .channel_name(i.name)
                .data_source(
                    t::DataSource::builder()
                        .s3_data_source(
                            t::S3DataSource::builder()
                                .s3_data_type(t::S3DataType::from(i.s3_data_type.as_str()))
                                .s3_uri(i.source)
                                .s3_data_distribution_type(t::S3DataDistribution::from(
                                    i.s3_data_distribution_type.as_str(),
                                ))
                                .build(),
                        )
                        .build(),
                )
                .input_mode(t::TrainingInputMode::from(i.s3_input_mode.as_str()))
                .compression_type(t::CompressionType::from(i.s3_compression_type.as_str()))
                .build()
        })
        .collect::<Vec<_>>();
    let arguments: Vec<String> = plan.entrypoint.into_iter().chain(plan.arguments).collect();
    let network = plan.network;
    Some(Request {
        name: plan.name,
        role: plan.role,
        algorithm: t::AlgorithmSpecification::builder()
            .training_image(plan.image_uri)
            .training_input_mode(t::TrainingInputMode::File)
            .set_container_entrypoint(Some(
                TRAINING_ENTRYPOINT.iter().map(|s| s.to_string()).collect(),
            ))
            .set_container_arguments((!arguments.is_empty()).then_some(arguments))
            .build(),
        hyper_parameters: (!hyper.is_empty()).then_some(hyper),
        channels: (!channels.is_empty()).then_some(channels),
        output: t::OutputDataConfig::builder()
            .s3_output_path(training.output_uri)
            .set_kms_key_id(plan.output_kms_key)
            .build(),
        resources: t::ResourceConfig::builder()
            .instance_type(t::TrainingInstanceType::from(plan.instance_type.as_str()))
            .instance_count(plan.instance_count)
            .volume_size_in_gb(plan.volume_size_gb)
            .set_volume_kms_key_id(plan.volume_kms_key)
            .set_keep_alive_period_in_seconds(training.keep_alive)
            .build(),
        stopping: t::StoppingCondition::builder()
            .max_runtime_in_seconds(plan.max_runtime)
            .set_max_wait_time_in_seconds(training.max_wait.filter(|_| training.spot))
            .build(),
        spot: training.spot,
        checkpoint: t::CheckpointConfig::builder()
            .s3_uri(training.checkpoint_uri)
            .local_path(CHECKPOINT_PATH)
            .build(),
        environment: (!plan.env.is_empty())
            .then(|| plan.env.into_iter().collect::<HashMap<_, _>>()),
        vpc: network.as_ref().and_then(vpc_config),
        network_isolation: network.as_ref().map(|n| n.enable_network_isolation),
        traffic_encryption: network.as_ref().map(|n| n.encrypt_inter_container_traffic),
        tags: tags(plan.tags),
    })
}

/// `sagemaker:CreateTrainingJob` of the plan of a [`JobRecord`] that has
/// `training`, with `ExtraEnvironment` as `sagemaker:CreateProcessingJob`
/// takes it.
pub(crate) async fn create_training_job(s: &AwsSession, p: Value) -> Result<Value, AwsError> {
    const OP: &str = "CreateTrainingJob";
    let (p, extra) = extra_environment(OP, p)?;
    let mut r = request(record_plan(OP, p)?).ok_or_else(|| {
        AwsError::invalid(
            SVC,
            OP,
            "the record plans a Processing job (it has no `training`): create it with CreateProcessingJob",
        )
    })?;
    if !extra.is_empty() {
        r.environment.get_or_insert_with(HashMap::new).extend(extra);
    }
    let out = s
        .sagemaker
        .create_training_job()
        .training_job_name(r.name)
        .role_arn(r.role)
        .algorithm_specification(r.algorithm)
        .set_hyper_parameters(r.hyper_parameters)
        .set_input_data_config(r.channels)
        .output_data_config(r.output)
        .resource_config(r.resources)
        .stopping_condition(r.stopping)
        .enable_managed_spot_training(r.spot)
        .checkpoint_config(r.checkpoint)
        .set_environment(r.environment)
        .set_vpc_config(r.vpc)
        .set_enable_network_isolation(r.network_isolation)
        .set_enable_inter_container_traffic_encryption(r.traffic_encryption)
        .set_tags(r.tags)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(SVC, OP, &e))?;
    Ok(Obj::new()
        .opt("TrainingJobArn", out.training_job_arn())
        .build())
}

/// The CreateTrainingJob request (without Tags) of a record whose plan has
/// `training`, as JSON in the API's own member names: what the Training
/// runtime stand-in stages from, and what DescribeTrainingJob is compared
/// with. `None` for a Processing job's record.
pub fn training_job_config(record: &JobRecord) -> Option<Value> {
    let r = request(record.plan.clone())?;
    Some(
        Obj::new()
            .set("TrainingJobName", r.name)
            .set("RoleArn", r.role)
            .set("AlgorithmSpecification", algorithm_json(&r.algorithm))
            .opt("HyperParameters", r.hyper_parameters.map(|h| json!(h)))
            .opt(
                "InputDataConfig",
                r.channels
                    .as_ref()
                    .map(|v| v.iter().map(channel_json).collect::<Vec<_>>()),
            )
            .set("OutputDataConfig", output_json(&r.output))
            .set("ResourceConfig", resources_json(&r.resources))
            .set("StoppingCondition", stopping_json(&r.stopping))
            .set("EnableManagedSpotTraining", r.spot)
            .set("CheckpointConfig", checkpoint_json(&r.checkpoint))
            .opt("Environment", r.environment.map(|env| json!(env)))
            .opt("VpcConfig", r.vpc.as_ref().map(vpc_json))
            .opt("EnableNetworkIsolation", r.network_isolation)
            .opt(
                "EnableInterContainerTrafficEncryption",
                r.traffic_encryption,
            )
            .build(),
    )
}

/// The request's JSON for either kind of job: the Training request when the
/// plan has `training`, else the Processing one.
pub fn job_config(record: &JobRecord) -> Value {
    training_job_config(record).unwrap_or_else(|| crate::sagemaker::processing_job_config(record))
}

fn algorithm_json(a: &t::AlgorithmSpecification) -> Value {
    Obj::new()
        .opt("TrainingImage", a.training_image())
        .opt(
            "TrainingInputMode",
            a.training_input_mode().map(|m| m.as_str()),
        )
        .opt(
            "ContainerEntrypoint",
            crate::json::strings(&a.container_entrypoint),
        )
        .opt(
            "ContainerArguments",
            crate::json::strings(&a.container_arguments),
        )
        .build()
}

fn channel_json(c: &t::Channel) -> Value {
    Obj::new()
        .opt("ChannelName", c.channel_name())
        .opt(
            "DataSource",
            c.data_source().and_then(|d| d.s3_data_source()).map(|s3| {
                json!({"S3DataSource": Obj::new()
                    .opt("S3DataType", s3.s3_data_type().map(|v| v.as_str()))
                    .opt("S3Uri", s3.s3_uri())
                    .opt(
                        "S3DataDistributionType",
                        s3.s3_data_distribution_type().map(|v| v.as_str()),
                    )
                    .build()})
            }),
        )
        .opt("InputMode", c.input_mode().map(|v| v.as_str()))
        .opt("CompressionType", c.compression_type().map(|v| v.as_str()))
        .build()
}

fn output_json(o: &t::OutputDataConfig) -> Value {
    Obj::new()
        .opt("S3OutputPath", o.s3_output_path())
        .opt("KmsKeyId", o.kms_key_id())
        .build()
}

fn resources_json(r: &t::ResourceConfig) -> Value {
    Obj::new()
        .opt("InstanceType", r.instance_type().map(|v| v.as_str()))
        .opt("InstanceCount", r.instance_count())
        .opt("VolumeSizeInGB", r.volume_size_in_gb())
        .opt("VolumeKmsKeyId", r.volume_kms_key_id())
        .opt("KeepAlivePeriodInSeconds", r.keep_alive_period_in_seconds())
        .build()
}

fn stopping_json(sc: &t::StoppingCondition) -> Value {
    Obj::new()
        .opt("MaxRuntimeInSeconds", sc.max_runtime_in_seconds())
        .opt("MaxWaitTimeInSeconds", sc.max_wait_time_in_seconds())
        .build()
}

fn checkpoint_json(c: &t::CheckpointConfig) -> Value {
    Obj::new()
        .opt("S3Uri", c.s3_uri())
        .opt("LocalPath", c.local_path())
        .build()
}

fn warm_pool_json(w: &t::WarmPoolStatus) -> Value {
    Obj::new()
        .opt("Status", w.status().map(|v| v.as_str()))
        .opt(
            "ResourceRetainedBillableTimeInSeconds",
            w.resource_retained_billable_time_in_seconds(),
        )
        .opt("ReusedByJob", w.reused_by_job())
        .build()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct JobName {
    training_job_name: String,
}

/// `sagemaker:DescribeTrainingJob`: what SageMaker says of the job, its
/// request members rendered as [`training_job_config`] renders them.
pub(crate) async fn describe_training_job(s: &AwsSession, p: Value) -> Result<Value, AwsError> {
    const OP: &str = "DescribeTrainingJob";
    let a: JobName = params(SVC, OP, p)?;
    let o = s
        .sagemaker
        .describe_training_job()
        .training_job_name(a.training_job_name)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(SVC, OP, &e))?;
    let transitions: Option<Vec<Value>> = o.secondary_status_transitions.as_ref().map(|list| {
        list.iter()
            .map(|tr| {
                Obj::new()
                    .opt("Status", tr.status().map(|v| v.as_str()))
                    .time("StartTime", tr.start_time())
                    .time("EndTime", tr.end_time())
                    .opt("StatusMessage", tr.status_message())
                    .build()
            })
            .collect()
    });
    Ok(Obj::new()
        .opt("TrainingJobName", o.training_job_name())
        .opt("TrainingJobArn", o.training_job_arn())
        .opt(
            "TrainingJobStatus",
            o.training_job_status().map(|v| v.as_str()),
        )
        .opt("SecondaryStatus", o.secondary_status().map(|v| v.as_str()))
        .opt("FailureReason", o.failure_reason())
        .time("CreationTime", o.creation_time())
        .time("TrainingStartTime", o.training_start_time())
        .time("TrainingEndTime", o.training_end_time())
        .time("LastModifiedTime", o.last_modified_time())
        .opt("BillableTimeInSeconds", o.billable_time_in_seconds())
        .opt("TrainingTimeInSeconds", o.training_time_in_seconds())
        .opt(
            "EnableManagedSpotTraining",
            o.enable_managed_spot_training(),
        )
        .opt("WarmPoolStatus", o.warm_pool_status().map(warm_pool_json))
        .opt("SecondaryStatusTransitions", transitions)
        .opt("RoleArn", o.role_arn())
        .opt(
            "AlgorithmSpecification",
            o.algorithm_specification().map(algorithm_json),
        )
        .opt("ResourceConfig", o.resource_config().map(resources_json))
        .opt(
            "StoppingCondition",
            o.stopping_condition().map(stopping_json),
        )
        .opt(
            "CheckpointConfig",
            o.checkpoint_config().map(checkpoint_json),
        )
        .opt(
            "InputDataConfig",
            o.input_data_config
                .as_ref()
                .map(|v| v.iter().map(channel_json).collect::<Vec<_>>()),
        )
        .opt("OutputDataConfig", o.output_data_config().map(output_json))
        .opt("HyperParameters", o.hyper_parameters().map(|h| json!(h)))
        .opt("Environment", o.environment().map(|env| json!(env)))
        .opt("VpcConfig", o.vpc_config().map(vpc_json))
        .opt("EnableNetworkIsolation", o.enable_network_isolation())
        .opt(
            "EnableInterContainerTrafficEncryption",
            o.enable_inter_container_traffic_encryption(),
        )
        .build())
}

/// `sagemaker:StopTrainingJob`.
pub(crate) async fn stop_training_job(s: &AwsSession, p: Value) -> Result<Value, AwsError> {
    const OP: &str = "StopTrainingJob";
    let a: JobName = params(SVC, OP, p)?;
    s.sagemaker
        .stop_training_job()
        .training_job_name(a.training_job_name)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(SVC, OP, &e))?;
    Ok(json!({}))
}

/// `sagemaker:ListTrainingJobs`: the arguments and paging of
/// `sagemaker:ListProcessingJobs`.
pub(crate) async fn list_training_jobs(s: &AwsSession, p: Value) -> Result<Value, AwsError> {
    const OP: &str = "ListTrainingJobs";
    let a: ListArgs = params(SVC, OP, p)?;
    let out = collect_pages(a.max_results, |size, token| {
        let request = s
            .sagemaker
            .list_training_jobs()
            .max_results(size)
            .set_next_token(token)
            .set_name_contains(a.name_contains.clone())
            .set_status_equals(a.status_equals.as_deref().map(t::TrainingJobStatus::from))
            .set_sort_by(a.sort_by.as_deref().map(t::SortBy::from))
            .set_sort_order(a.sort_order.as_deref().map(t::SortOrder::from));
        async move {
            let page = request
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(SVC, OP, &e))?;
            let summaries = page
                .training_job_summaries()
                .iter()
                .map(|j| {
                    Obj::new()
                        .opt("TrainingJobName", j.training_job_name())
                        .opt("TrainingJobArn", j.training_job_arn())
                        .opt(
                            "TrainingJobStatus",
                            j.training_job_status().map(|v| v.as_str()),
                        )
                        .opt("SecondaryStatus", j.secondary_status().map(|v| v.as_str()))
                        .time("CreationTime", j.creation_time())
                        .time("TrainingEndTime", j.training_end_time())
                        .time("LastModifiedTime", j.last_modified_time())
                        .opt("WarmPoolStatus", j.warm_pool_status().map(warm_pool_json))
                        .build()
                })
                .collect();
            Ok((summaries, page.next_token().map(str::to_owned)))
        }
    })
    .await?;
    Ok(json!({"TrainingJobSummaries": out}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(training: Value) -> JobRecord {
        let value = json!({
            "format": sagesim_job::RECORD_FORMAT,
            "sagesim_version": "0.1.0",
            "created": 1.7e9,
            "work": {"kind": "map", "elements": 8, "seed": 5, "payload": "s3://b/j/input/map"},
            "plan": {
                "name": "sagesim-map-1", "role": "arn:aws:iam::123456789012:role/R",
                "image_uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/sagesim:1",
                "entrypoint": ["Rscript", "-e", "sagesim::worker()"],
                "arguments": ["map", "--elements", "8"],
                "instance_count": 2, "instance_type": "ml.m5.xlarge",
                "volume_size_gb": 30, "volume_kms_key": "vol-key", "max_runtime": 600,
                "inputs": [{"name": "payload", "source": "s3://b/j/input/map",
                            "destination": "/opt/ml/processing/input/payload",
                            "s3_data_type": "S3Prefix", "s3_input_mode": "File",
                            "s3_data_distribution_type": "FullyReplicated",
                            "s3_compression_type": "None"}],
                "outputs": [{"name": "map", "source": "/opt/ml/processing/output/map",
                             "destination": "s3://b/j/output/map", "s3_upload_mode": "Continuous"}],
                "output_kms_key": "out-key",
                "env": {"SAGESIM_A": "1"},
                "tags": [{"key": "team", "value": "sim"}],
                "network": {"subnets": ["subnet-1"], "security_group_ids": ["sg-1"],
                            "enable_network_isolation": false,
                            "encrypt_inter_container_traffic": true},
                "training": training
            }
        });
        JobRecord::from_value(value).unwrap()
    }

    fn spot() -> JobRecord {
        record(json!({"spot": true, "max_wait": 1200, "keep_alive": null,
                      "checkpoint_uri": "s3://b/j/checkpoints",
                      "output_uri": "s3://b/j/output/training"}))
    }

    fn warm() -> JobRecord {
        record(json!({"spot": false, "keep_alive": 900,
                      "checkpoint_uri": "s3://b/j/checkpoints",
                      "output_uri": "s3://b/j/output/training"}))
    }

    #[test]
    fn a_spot_record_renders_a_spot_request() {
        let r = spot();
        let c = training_job_config(&r).unwrap();
        assert_eq!(c["TrainingJobName"], "sagesim-map-1");
        assert_eq!(c["RoleArn"], r.plan.role.as_str());
        let a = &c["AlgorithmSpecification"];
        assert_eq!(a["TrainingImage"], r.plan.image_uri.as_str());
        assert_eq!(a["TrainingInputMode"], "File");
        assert_eq!(a["ContainerEntrypoint"], json!(TRAINING_ENTRYPOINT));
        let mut expected = r.plan.entrypoint.clone();
        expected.extend(r.plan.arguments.clone());
        assert_eq!(a["ContainerArguments"], json!(expected));
        assert_eq!(
            c["HyperParameters"],
            json!({"sagesim-input-payload": "/opt/ml/processing/input/payload",
                   "sagesim-output-map": "/opt/ml/processing/output/map"})
        );
        assert_eq!(
            c["InputDataConfig"],
            json!([{"ChannelName": "payload",
                    "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                    "S3Uri": "s3://b/j/input/map",
                                                    "S3DataDistributionType": "FullyReplicated"}},
                    "InputMode": "File", "CompressionType": "None"}])
        );
        assert_eq!(
            c["OutputDataConfig"],
            json!({"S3OutputPath": "s3://b/j/output/training", "KmsKeyId": "out-key"})
        );
        assert_eq!(
            c["ResourceConfig"],
            json!({"InstanceType": "ml.m5.xlarge", "InstanceCount": 2, "VolumeSizeInGB": 30,
                   "VolumeKmsKeyId": "vol-key"})
        );
        assert_eq!(
            c["StoppingCondition"],
            json!({"MaxRuntimeInSeconds": 600, "MaxWaitTimeInSeconds": 1200})
        );
        assert_eq!(c["EnableManagedSpotTraining"], true);
        assert_eq!(
            c["CheckpointConfig"],
            json!({"S3Uri": "s3://b/j/checkpoints", "LocalPath": CHECKPOINT_PATH})
        );
        assert_eq!(c["Environment"], json!({"SAGESIM_A": "1"}));
        assert_eq!(
            c["VpcConfig"],
            json!({"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1"]})
        );
        assert_eq!(c["EnableNetworkIsolation"], false);
        assert_eq!(c["EnableInterContainerTrafficEncryption"], true);
        // The config is what the hosts see: no Tags.
        assert!(c.get("Tags").is_none());
        // The request itself carries them.
        let req = request(r.plan.clone()).unwrap();
        let tags = req.tags.unwrap();
        assert_eq!(
            (tags[0].key(), tags[0].value()),
            (Some("team"), Some("sim"))
        );
    }

    #[test]
    fn a_warm_pool_record_keeps_its_instances() {
        let c = training_job_config(&warm()).unwrap();
        assert_eq!(c["ResourceConfig"]["KeepAlivePeriodInSeconds"], 900);
        assert_eq!(c["EnableManagedSpotTraining"], false);
        assert_eq!(c["StoppingCondition"], json!({"MaxRuntimeInSeconds": 600}));
        // A Spot job keeps none.
        let s = training_job_config(&spot()).unwrap();
        assert!(s["ResourceConfig"]
            .get("KeepAlivePeriodInSeconds")
            .is_none());
    }

    #[test]
    fn a_plan_without_inputs_outputs_or_network_leaves_them_out() {
        let mut r = warm();
        r.plan.inputs.clear();
        r.plan.outputs.clear();
        r.plan.network = None;
        r.plan.env.clear();
        r.plan.arguments.clear();
        r.plan.entrypoint.clear();
        r.plan.output_kms_key = None;
        let c = training_job_config(&r).unwrap();
        for member in [
            "HyperParameters",
            "InputDataConfig",
            "VpcConfig",
            "EnableNetworkIsolation",
            "EnableInterContainerTrafficEncryption",
            "Environment",
        ] {
            assert!(c.get(member).is_none(), "{member}");
        }
        assert!(c["AlgorithmSpecification"]
            .get("ContainerArguments")
            .is_none());
        assert_eq!(
            c["OutputDataConfig"],
            json!({"S3OutputPath": "s3://b/j/output/training"})
        );
        // A network with no subnets has flags but no VPC.
        let mut r = warm();
        r.plan.network.as_mut().unwrap().subnets.clear();
        let c = training_job_config(&r).unwrap();
        assert!(c.get("VpcConfig").is_none());
        assert_eq!(c["EnableInterContainerTrafficEncryption"], true);
    }

    #[test]
    fn job_config_renders_the_kind_of_job_the_record_plans() {
        let r = spot();
        assert_eq!(job_config(&r), training_job_config(&r).unwrap());
        let mut processing = spot();
        processing.plan.training = None;
        assert!(training_job_config(&processing).is_none());
        let c = job_config(&processing);
        assert_eq!(c["ProcessingJobName"], "sagesim-map-1");
        assert!(c.get("TrainingJobName").is_none());
    }

    #[test]
    fn the_checks_of_the_record_hold_for_training_requests() {
        // What the job crate refuses never reaches a request.
        let mut value: Value = serde_json::from_str(&spot().to_json()).unwrap();
        value["plan"]["training"]["keep_alive"] = json!(60);
        let err = record_plan("CreateTrainingJob", value).unwrap_err();
        assert!(err.to_string().contains("warm pool"), "{err}");
        let mut value: Value = serde_json::from_str(&spot().to_json()).unwrap();
        value["plan"]["training"]["max_wait"] = json!(599);
        let err = record_plan("CreateTrainingJob", value).unwrap_err();
        assert!(err.to_string().contains("max_runtime"), "{err}");
        let mut value: Value = serde_json::from_str(&warm().to_json()).unwrap();
        value["plan"]["training"]["keep_alive"] = json!(3601);
        assert!(record_plan("CreateTrainingJob", value).is_err());
        let mut value: Value = serde_json::from_str(&warm().to_json()).unwrap();
        value["plan"]["training"]["max_wait"] = json!(900);
        assert!(record_plan("CreateTrainingJob", value).is_err());
    }
}
