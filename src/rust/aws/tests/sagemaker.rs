//! SageMaker Processing jobs against moto, with the exact request checked
//! through moto's recorder (moto's Describe drops ProcessingResources and
//! Environment).

mod common;

use common::{call, ok, ACCOUNT};
use serde_json::{json, Value};

/// A job as sagesim plans it (R's `submit_processing()` sends this).
fn plan(name: &str) -> Value {
    json!({
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
            "destination": "s3://sagemaker-us-east-1-123456789012/job/output/results",
            "s3_upload_mode": "EndOfJob"
        }],
        "output_kms_key": "arn:aws:kms:us-east-1:123456789012:key/out",
        "env": {"SAGESIM_SHARD": "3", "R_LIBS_USER": "/opt/R"},
        "tags": [{"key": "sagesim:run", "value": "r1"}, {"key": "team", "value": "stats"}],
        "network": {
            "subnets": ["subnet-1", "subnet-2"], "security_group_ids": ["sg-1"],
            "enable_network_isolation": false, "encrypt_inter_container_traffic": true
        }
    })
}

/// The CreateProcessingJob request `plan(name)` must make, as the SageMaker
/// API documents it.
fn request(name: &str) -> Value {
    json!({
        "ProcessingJobName": name,
        "RoleArn": format!("arn:aws:iam::{ACCOUNT}:role/SageMakerRole"),
        "AppSpecification": {
            "ImageUri": format!("{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/sagesim:1.0"),
            "ContainerEntrypoint": ["Rscript", "/opt/ml/processing/input/code/run.R"],
            "ContainerArguments": ["--shard", "3"]
        },
        "ProcessingResources": {"ClusterConfig": {
            "InstanceCount": 2, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30,
            "VolumeKmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/vol"
        }},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "ProcessingInputs": [{
            "InputName": "code",
            "S3Input": {
                "S3Uri": "s3://sagemaker-us-east-1-123456789012/job/input/code",
                "LocalPath": "/opt/ml/processing/input/code",
                "S3DataType": "S3Prefix", "S3InputMode": "File",
                "S3DataDistributionType": "FullyReplicated", "S3CompressionType": "None"
            }
        }],
        "ProcessingOutputConfig": {
            "Outputs": [{"OutputName": "results", "S3Output": {
                "S3Uri": "s3://sagemaker-us-east-1-123456789012/job/output/results",
                "LocalPath": "/opt/ml/processing/output/results", "S3UploadMode": "EndOfJob"
            }}],
            "KmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/out"
        },
        "Environment": {"SAGESIM_SHARD": "3", "R_LIBS_USER": "/opt/R"},
        "NetworkConfig": {
            "EnableInterContainerTrafficEncryption": true, "EnableNetworkIsolation": false,
            "VpcConfig": {"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1", "subnet-2"]}
        },
        "Tags": [{"Key": "sagesim:run", "Value": "r1"}, {"Key": "team", "Value": "stats"}]
    })
}

/// The job record a submission sends: the plan, and what the job computes.
fn record(plan: Value) -> Value {
    json!({
        "format": sagesim_job::RECORD_FORMAT, "sagesim_version": "0.1.0", "created": 1.0e9,
        "work": {"kind": "script", "code": "run.R"}, "plan": plan
    })
}

fn minimal(name: &str) -> Value {
    json!({
        "name": name,
        "role": format!("arn:aws:iam::{ACCOUNT}:role/R"),
        "image_uri": "img:1",
        "entrypoint": ["Rscript", "x.R"],
        "instance_count": 1, "instance_type": "ml.t3.medium", "volume_size_gb": 5,
        "max_runtime": 60
    })
}

#[test]
fn create_sends_the_exact_request_then_describe_stop() {
    let f = moto_or_skip!();
    let s = f.moto.session();
    let req = request("sagesim-job-1");
    f.moto
        .moto_api("POST", "/moto-api/recorder/reset-recording");
    f.moto
        .moto_api("POST", "/moto-api/recorder/start-recording");
    let created = call(
        &s,
        "sagemaker:CreateProcessingJob",
        record(plan("sagesim-job-1")),
    );
    f.moto.moto_api("POST", "/moto-api/recorder/stop-recording");
    let arn = format!("arn:aws:sagemaker:us-east-1:{ACCOUNT}:processing-job/sagesim-job-1");
    assert_eq!(created.unwrap(), json!({"ProcessingJobArn": arn}));

    let reqs = common::recorded_requests(f.moto);
    let (entry, body) = reqs
        .iter()
        .find(|(e, _)| common::header(e, "X-Amz-Target") == Some("SageMaker.CreateProcessingJob"))
        .expect("CreateProcessingJob recorded");
    assert_eq!(entry["method"], "POST");
    let sent: Value = serde_json::from_slice(body).expect("JSON body");
    assert_eq!(sent, req, "the plan makes exactly the documented request");
    // What a host of the job reads in processingjobconfig.json: the request
    // (tags aside), rendered as DescribeProcessingJob renders it.
    let parsed = sagesim_job::JobRecord::from_value(record(plan("sagesim-job-1"))).unwrap();
    let config = sagesim_aws::processing_job_config(&parsed);
    let mut expected = req.clone();
    expected.as_object_mut().unwrap().remove("Tags");
    assert_eq!(config, expected);
    let auth = common::header(entry, "Authorization").unwrap_or_default();
    assert!(auth.starts_with("AWS4-HMAC-SHA256"), "signed request");

    let d = ok(
        &s,
        "sagemaker:DescribeProcessingJob",
        json!({"ProcessingJobName": "sagesim-job-1"}),
    );
    assert_eq!(d["ProcessingJobName"], "sagesim-job-1");
    assert_eq!(d["ProcessingJobArn"], arn);
    assert_eq!(
        d["ProcessingJobStatus"], "Completed",
        "moto completes jobs at creation"
    );
    assert_eq!(d["RoleArn"], req["RoleArn"]);
    assert_eq!(d["AppSpecification"], req["AppSpecification"]);
    assert_eq!(d["StoppingCondition"], req["StoppingCondition"]);
    assert_eq!(d["ProcessingInputs"], req["ProcessingInputs"]);
    assert_eq!(d["ProcessingOutputConfig"], req["ProcessingOutputConfig"]);
    assert_eq!(d["NetworkConfig"], req["NetworkConfig"]);
    assert!(d["CreationTime"].as_f64().unwrap() > 1.6e9, "epoch seconds");
    assert!(d["LastModifiedTime"].is_f64());
    // moto omits these; the SDK's placeholder ProcessingResources must not leak out.
    assert!(d.get("ProcessingResources").is_none(), "{d}");
    assert!(d.get("Environment").is_none());
    assert!(d.get("FailureReason").is_none());

    assert_eq!(
        ok(
            &s,
            "sagemaker:StopProcessingJob",
            json!({"ProcessingJobName": "sagesim-job-1"})
        ),
        json!({})
    );
    let d = ok(
        &s,
        "sagemaker:DescribeProcessingJob",
        json!({"ProcessingJobName": "sagesim-job-1"}),
    );
    assert_eq!(d["ProcessingJobStatus"], "Stopped");
}

#[test]
fn status_sequence_driven_through_the_control_endpoint() {
    let f = moto_or_skip!();
    let s = f.moto.session();
    ok(&s, "sagemaker:CreateProcessingJob", record(minimal("seq")));
    let describe = || {
        ok(
            &s,
            "sagemaker:DescribeProcessingJob",
            json!({"ProcessingJobName": "seq"}),
        )
    };

    f.moto.control(
        "/processing-job",
        json!({"ProcessingJobName": "seq", "Status": "InProgress"}),
    );
    let d = describe();
    assert_eq!(d["ProcessingJobStatus"], "InProgress");
    assert!(d["ProcessingStartTime"].is_f64());
    assert!(d.get("ProcessingEndTime").is_none(), "{d}");

    f.moto.control(
        "/processing-job",
        json!({"ProcessingJobName": "seq", "Status": "Failed",
               "FailureReason": "AlgorithmError: see logs", "ExitMessage": "Error in f(): boom"}),
    );
    let d = describe();
    assert_eq!(d["ProcessingJobStatus"], "Failed");
    assert_eq!(d["FailureReason"], "AlgorithmError: see logs");
    assert_eq!(d["ExitMessage"], "Error in f(): boom");
    assert!(d["ProcessingEndTime"].as_f64().unwrap() >= d["ProcessingStartTime"].as_f64().unwrap());

    // null clears a member.
    f.moto.control(
        "/processing-job",
        json!({"ProcessingJobName": "seq", "Status": "Stopped", "FailureReason": null}),
    );
    let d = describe();
    assert_eq!(d["ProcessingJobStatus"], "Stopped");
    assert!(d.get("FailureReason").is_none());
    assert_eq!(d["ExitMessage"], "Error in f(): boom");

    let (status, _) = common::http(
        f.moto.control_port,
        "POST",
        "/processing-job",
        Some(r#"{"ProcessingJobName": "absent", "Status": "Failed"}"#),
    );
    assert_eq!(status, 404);
}

#[test]
fn list_processing_jobs_follows_pages_and_filters() {
    let f = moto_or_skip!();
    let s = f.moto.session();
    for i in 0..120 {
        let name = if i % 2 == 0 {
            format!("even-{i:03}")
        } else {
            format!("odd-{i:03}")
        };
        ok(&s, "sagemaker:CreateProcessingJob", record(minimal(&name)));
    }
    let names = |v: &Value| -> Vec<String> {
        v["ProcessingJobSummaries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["ProcessingJobName"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = ok(&s, "sagemaker:ListProcessingJobs", json!({}));
    assert_eq!(names(&all).len(), 100, "default MaxResults is 100");
    let j = &all["ProcessingJobSummaries"][0];
    assert!(j["ProcessingJobArn"]
        .as_str()
        .unwrap()
        .contains(":processing-job/"));
    assert_eq!(j["ProcessingJobStatus"], "Completed");
    assert!(j["CreationTime"].is_f64() && j["LastModifiedTime"].is_f64());

    let more = ok(
        &s,
        "sagemaker:ListProcessingJobs",
        json!({"MaxResults": 115}),
    );
    let n = names(&more);
    assert_eq!(n.len(), 115, "second page followed");
    let unique: std::collections::HashSet<_> = n.iter().collect();
    assert_eq!(unique.len(), 115);

    // moto applies NameContains after slicing a page, so pages come back short
    // and only NextToken leads to the rest.
    let odd = ok(
        &s,
        "sagemaker:ListProcessingJobs",
        json!({"NameContains": "odd-", "MaxResults": 200}),
    );
    assert_eq!(names(&odd).len(), 60);
    assert!(names(&odd).iter().all(|n| n.starts_with("odd-")));

    ok(
        &s,
        "sagemaker:StopProcessingJob",
        json!({"ProcessingJobName": "odd-001"}),
    );
    f.moto.control(
        "/processing-job",
        json!({"ProcessingJobName": "even-002", "Status": "InProgress"}),
    );
    let stopped = ok(
        &s,
        "sagemaker:ListProcessingJobs",
        json!({"StatusEquals": "Stopped", "MaxResults": 500}),
    );
    assert_eq!(names(&stopped), vec!["odd-001"]);
    let running = ok(
        &s,
        "sagemaker:ListProcessingJobs",
        json!({"StatusEquals": "InProgress", "MaxResults": 500}),
    );
    assert_eq!(names(&running), vec!["even-002"]);

    // Newest first when asked (the test launcher makes moto honour the order).
    let newest = ok(
        &s,
        "sagemaker:ListProcessingJobs",
        json!({"SortBy": "CreationTime", "SortOrder": "Descending", "MaxResults": 3}),
    );
    assert_eq!(names(&newest), vec!["odd-119", "even-118", "odd-117"]);
}

#[test]
fn missing_job_is_a_validation_exception_with_request_id() {
    let f = moto_or_skip!();
    let s = f.moto.session();
    let e = call(
        &s,
        "sagemaker:DescribeProcessingJob",
        json!({"ProcessingJobName": "ghost"}),
    )
    .unwrap_err();
    assert_eq!(e.kind, "service");
    assert_eq!(
        (e.service.as_str(), e.operation.as_str()),
        ("sagemaker", "DescribeProcessingJob")
    );
    assert_eq!(e.code.as_deref(), Some("ValidationException"));
    assert!(e.message.contains("ghost"), "{e}");
    assert_eq!(e.http_status, Some(400));
    assert!(
        e.request_id.as_deref().is_some_and(|r| !r.is_empty()),
        "{e:?}"
    );
    let shown = e.to_string();
    assert!(
        shown.contains("ValidationException") && shown.contains("HTTP 400"),
        "{shown}"
    );
    let as_json = serde_json::to_value(&e).unwrap();
    assert_eq!(as_json["kind"], "service");
    assert_eq!(as_json["code"], "ValidationException");

    let e = call(
        &s,
        "sagemaker:StopProcessingJob",
        json!({"ProcessingJobName": "ghost"}),
    )
    .unwrap_err();
    assert_eq!(e.code.as_deref(), Some("ValidationException"));
}

#[test]
fn malformed_requests_are_rejected_before_sending() {
    let f = moto_or_skip!();
    let s = f.moto.session();
    let mut bad = minimal("x");
    bad["volume_size_GB"] = json!(5); // a typo
    let e = call(&s, "sagemaker:CreateProcessingJob", record(bad)).unwrap_err();
    assert_eq!(e.kind, "invalid_request");
    assert!(e.message.contains("volume_size_GB"), "{e}");
    let mut bad = minimal("x");
    bad.as_object_mut().unwrap().remove("role");
    let e = call(&s, "sagemaker:CreateProcessingJob", record(bad)).unwrap_err();
    assert!(e.message.contains("role"), "{e}");
    let listed = ok(&s, "sagemaker:ListProcessingJobs", json!({}));
    assert_eq!(listed["ProcessingJobSummaries"], json!([]));
}
