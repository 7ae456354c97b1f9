//! SageMaker Training jobs against moto (and the launcher's additions:
//! StopTrainingJob, POST /training-job), with the exact request checked
//! through moto's recorder.

mod common;

use common::{call, ok, ACCOUNT};
use serde_json::{json, Value};

/// A Spot job as sagesim plans it.
fn record(name: &str, training: Value) -> Value {
    json!({
        "format": sagesim_job::RECORD_FORMAT, "sagesim_version": "0.1.0", "created": 1.0e9,
        "work": {"kind": "script", "code": "run.R"},
        "plan": {
            "name": name,
            "role": format!("arn:aws:iam::{ACCOUNT}:role/SageMakerRole"),
            "image_uri": format!("{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/sagesim:1.0"),
            "entrypoint": ["Rscript", "/opt/ml/processing/input/code/run.R"],
            "arguments": ["--shard", "3"],
            "instance_count": 2, "instance_type": "ml.m5.xlarge", "volume_size_gb": 30,
            "volume_kms_key": "arn:aws:kms:us-east-1:123456789012:key/vol",
            "max_runtime": 3600,
            "inputs": [{
                "name": "code",
                "source": "s3://sagemaker-us-east-1-123456789012/job/input/code",
                "destination": "/opt/ml/processing/input/code",
                "s3_data_type": "S3Prefix", "s3_input_mode": "File",
                "s3_data_distribution_type": "FullyReplicated", "s3_compression_type": "None"
            }],
            "outputs": [{
                "name": "results",
                "source": "/opt/ml/processing/output/results",
                "destination": "s3://sagemaker-us-east-1-123456789012/job/checkpoints/results",
                "s3_upload_mode": "Continuous"
            }],
            "output_kms_key": "arn:aws:kms:us-east-1:123456789012:key/out",
            "env": {"SAGESIM_SHARD": "3"},
            "tags": [{"key": "team", "value": "stats"}],
            "network": {
                "subnets": ["subnet-1"], "security_group_ids": ["sg-1"],
                "enable_network_isolation": false, "encrypt_inter_container_traffic": true
            },
            "training": training
        }
    })
}

fn spot() -> Value {
    json!({"spot": true, "max_wait": 7200,
           "checkpoint_uri": "s3://sagemaker-us-east-1-123456789012/job/checkpoints",
           "output_uri": "s3://sagemaker-us-east-1-123456789012/job/training-output"})
}

/// The CreateTrainingJob request `record(name, spot())` must make.
fn request(name: &str) -> Value {
    json!({
        "TrainingJobName": name,
        "RoleArn": format!("arn:aws:iam::{ACCOUNT}:role/SageMakerRole"),
        "AlgorithmSpecification": {
            "TrainingImage": format!("{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/sagesim:1.0"),
            "TrainingInputMode": "File",
            "ContainerEntrypoint": ["Rscript", "-e", "sagesim::training_host()"],
            "ContainerArguments": ["Rscript", "/opt/ml/processing/input/code/run.R", "--shard", "3"]
        },
        "HyperParameters": {
            "sagesim-input-code": "/opt/ml/processing/input/code",
            "sagesim-output-results": "/opt/ml/processing/output/results"
        },
        "InputDataConfig": [{
            "ChannelName": "code",
            "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": "s3://sagemaker-us-east-1-123456789012/job/input/code",
                "S3DataDistributionType": "FullyReplicated"
            }},
            "CompressionType": "None",
            "InputMode": "File"
        }],
        "OutputDataConfig": {
            "KmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/out",
            "S3OutputPath": "s3://sagemaker-us-east-1-123456789012/job/training-output"
        },
        "ResourceConfig": {
            "InstanceType": "ml.m5.xlarge", "InstanceCount": 2, "VolumeSizeInGB": 30,
            "VolumeKmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/vol"
        },
        "VpcConfig": {"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1"]},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200},
        "Tags": [{"Key": "team", "Value": "stats"}],
        "EnableNetworkIsolation": false,
        "EnableInterContainerTrafficEncryption": true,
        "EnableManagedSpotTraining": true,
        "CheckpointConfig": {
            "S3Uri": "s3://sagemaker-us-east-1-123456789012/job/checkpoints",
            "LocalPath": "/opt/ml/checkpoints"
        },
        "Environment": {"SAGESIM_SHARD": "3", "SAGESIM_RESULTS_KEY": "k"}
    })
}

#[test]
fn create_sends_the_exact_request_and_describe_renders_it_alike() {
    let f = moto_or_skip!();
    let s = f.moto.session();
    f.moto
        .moto_api("POST", "/moto-api/recorder/reset-recording");
    f.moto
        .moto_api("POST", "/moto-api/recorder/start-recording");
    let mut sent = record("sagesim-train-1", spot());
    sent["ExtraEnvironment"] = json!({"SAGESIM_RESULTS_KEY": "k"});
    let created = ok(&s, "sagemaker:CreateTrainingJob", sent);
    f.moto.moto_api("POST", "/moto-api/recorder/stop-recording");
    let arn = format!("arn:aws:sagemaker:us-east-1:{ACCOUNT}:training-job/sagesim-train-1");
    assert_eq!(created, json!({"TrainingJobArn": arn}));

    let reqs = common::recorded_requests(f.moto);
    let (_, body) = reqs
        .iter()
        .find(|(e, _)| common::header(e, "X-Amz-Target") == Some("SageMaker.CreateTrainingJob"))
        .expect("CreateTrainingJob recorded");
    let sent: Value = serde_json::from_slice(body).expect("JSON body");
    assert_eq!(sent, request("sagesim-train-1"));

    // The config (the request without Tags and the extra variables) is
    // rendered as a described job is: each of its members reads back alike.
    let parsed = sagesim_job::JobRecord::from_value(record("sagesim-train-1", spot())).unwrap();
    let config = sagesim_aws::training_job_config(&parsed).unwrap();
    assert_eq!(config, sagesim_aws::job_config(&parsed));
    let mut expected = request("sagesim-train-1");
    expected.as_object_mut().unwrap().remove("Tags");
    expected["Environment"] = json!({"SAGESIM_SHARD": "3"});
    assert_eq!(config, expected);
    let d = ok(
        &s,
        "sagemaker:DescribeTrainingJob",
        json!({"TrainingJobName": "sagesim-train-1"}),
    );
    for (member, value) in config.as_object().unwrap() {
        if member == "Environment" {
            assert_eq!(d[member], request("sagesim-train-1")["Environment"]);
        } else {
            assert_eq!(&d[member], value, "{member}");
        }
    }
    assert_eq!(d["TrainingJobArn"], arn);
    assert_eq!(
        d["TrainingJobStatus"], "Completed",
        "moto completes jobs at once"
    );
    assert!(d["CreationTime"].as_f64().unwrap() > 1.6e9);
    // moto reports no billing and no warm pool: nothing is invented.
    assert!(d.get("BillableTimeInSeconds").is_none(), "{d}");
    assert!(d.get("WarmPoolStatus").is_none(), "{d}");

    // The launcher sets what moto does not report.
    f.moto.control(
        "/training-job",
        json!({"TrainingJobName": "sagesim-train-1", "Status": "Completed",
               "BillableTimeInSeconds": 3, "TrainingTimeInSeconds": 10,
               "WarmPoolStatus": {"Status": "Reused", "ReusedByJob": "next",
                                  "ResourceRetainedBillableTimeInSeconds": 40}}),
    );
    let d = ok(
        &s,
        "sagemaker:DescribeTrainingJob",
        json!({"TrainingJobName": "sagesim-train-1"}),
    );
    assert_eq!(d["BillableTimeInSeconds"], 3);
    assert_eq!(d["TrainingTimeInSeconds"], 10);
    assert_eq!(
        d["WarmPoolStatus"],
        json!({"Status": "Reused", "ReusedByJob": "next",
               "ResourceRetainedBillableTimeInSeconds": 40})
    );
    let statuses: Vec<&str> = d["SecondaryStatusTransitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["Status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["Starting", "Completed"]);
    assert_eq!(d["SecondaryStatus"], "Completed");
}

#[test]
fn stop_list_and_refusals() {
    let f = moto_or_skip!();
    let s = f.moto.session();
    let warm = json!({"spot": false, "keep_alive": 600,
                      "checkpoint_uri": "s3://b/j/checkpoints", "output_uri": "s3://b/j/out"});
    ok(
        &s,
        "sagemaker:CreateTrainingJob",
        record("sagesim-a", spot()),
    );
    ok(&s, "sagemaker:CreateTrainingJob", record("sagesim-b", warm));
    f.moto.control(
        "/training-job",
        json!({"TrainingJobName": "sagesim-b", "Status": "InProgress"}),
    );
    assert_eq!(
        ok(
            &s,
            "sagemaker:StopTrainingJob",
            json!({"TrainingJobName": "sagesim-b"})
        ),
        json!({})
    );
    let d = ok(
        &s,
        "sagemaker:DescribeTrainingJob",
        json!({"TrainingJobName": "sagesim-b"}),
    );
    assert_eq!(d["TrainingJobStatus"], "Stopped");
    assert_eq!(d["ResourceConfig"]["KeepAlivePeriodInSeconds"], 600);
    assert_eq!(d["EnableManagedSpotTraining"], false);

    let listed = ok(
        &s,
        "sagemaker:ListTrainingJobs",
        json!({"SortBy": "Name", "SortOrder": "Descending"}),
    );
    let names: Vec<&str> = listed["TrainingJobSummaries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["TrainingJobName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["sagesim-b", "sagesim-a"]);
    let b = &listed["TrainingJobSummaries"][0];
    assert_eq!(b["TrainingJobStatus"], "Stopped");
    assert_eq!(b["SecondaryStatus"], "Stopped");
    assert!(b["CreationTime"].is_f64());
    let paged = ok(&s, "sagemaker:ListTrainingJobs", json!({"MaxResults": 1}));
    assert_eq!(paged["TrainingJobSummaries"].as_array().unwrap().len(), 1);

    let refused = |op: &str, params: Value, words: &str| {
        let e = call(&s, op, params).unwrap_err();
        assert!(e.message.contains(words), "{op}: {e}");
    };
    refused(
        "sagemaker:StopTrainingJob",
        json!({"TrainingJobName": "absent"}),
        "Could not find training job",
    );
    refused(
        "sagemaker:DescribeTrainingJob",
        json!({"TrainingJobName": "x", "Extra": 1}),
        "Extra",
    );
    refused(
        "sagemaker:ListTrainingJobs",
        json!({"NameContain": "x"}),
        "NameContain",
    );
    let mut processing = record("sagesim-c", spot());
    processing["plan"]
        .as_object_mut()
        .unwrap()
        .remove("training");
    refused(
        "sagemaker:CreateTrainingJob",
        processing,
        "has no `training`",
    );
    refused(
        "sagemaker:CreateProcessingJob",
        record("sagesim-d", spot()),
        "create it with CreateTrainingJob",
    );
}
