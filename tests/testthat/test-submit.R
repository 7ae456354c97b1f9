# submit_processing() against moto: what is sent, where files go, and that
# bad input or a failed submission leaves nothing behind.

role <- "arn:aws:iam::123456789012:role/SageMakerRole"
image <- "123456789012.dkr.ecr.us-east-1.amazonaws.com/sagesim:latest"

bucket_keys <- function(session, prefix = "") {
  reply <- sagesim:::aws_request(session, "s3:ListObjects", list(Bucket = session$bucket, Prefix = prefix))
  vapply(reply$Objects, `[[`, character(1), "Key")
}

test_that("a script job is sent exactly as ScriptProcessor would send it", {
  local_moto()
  session <- aws_session(role = role)
  script <- file.path(withr::local_tempdir(), "analysis.R")
  writeLines("cat('hi\\n')", script)
  data_dir <- withr::local_tempdir()
  writeLines("a,b", file.path(data_dir, "one.csv"))
  writeLines("c,d", file.path(data_dir, "two.csv"))
  job <- submit_processing(
    code = script, image_uri = image, arguments = c("--n", "10"),
    instance_count = 2, instance_type = "ml.c5.2xlarge", volume_size_gb = 50, max_runtime = 3600,
    base_job_name = "covid-sim",
    inputs = list(processing_input(data_dir, name = "data"),
                  processing_input("s3://other-bucket/ref/", destination = "/opt/ml/processing/ref",
                                   s3_data_distribution_type = "ShardedByS3Key")),
    outputs = list(processing_output("/opt/ml/processing/output/a"),
                   processing_output("/opt/ml/processing/output/b", destination = "s3://results/x")),
    env = c(MODE = "full"), tags = c(project = "covid"),
    network = network_config(subnets = "subnet-1", security_group_ids = "sg-1",
                             encrypt_inter_container_traffic = TRUE),
    volume_kms_key = "vol-key", output_kms_key = "out-key",
    wait = FALSE, session = session)
  expect_s3_class(job, "sagesim_cloud_job")
  expect_match(job$name, "^covid-sim-[0-9]{4}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{3}$")
  sent <- recorded_sagemaker("CreateProcessingJob")
  expect_length(sent, 1)
  request <- sent[[1]]
  name <- job$name
  expect_identical(request$ProcessingJobName, name)
  expect_identical(request$RoleArn, role)
  expect_identical(request$AppSpecification$ImageUri, image)
  expect_identical(unlist(request$AppSpecification$ContainerEntrypoint),
                   c("Rscript", "/opt/ml/processing/input/code/analysis.R"))
  expect_identical(unlist(request$AppSpecification$ContainerArguments), c("--n", "10"))
  cluster <- request$ProcessingResources$ClusterConfig
  expect_identical(cluster$InstanceCount, 2L)
  expect_identical(cluster$InstanceType, "ml.c5.2xlarge")
  expect_identical(cluster$VolumeSizeInGB, 50L)
  expect_identical(cluster$VolumeKmsKeyId, "vol-key")
  expect_identical(request$StoppingCondition$MaxRuntimeInSeconds, 3600L)
  inputs <- request$ProcessingInputs
  expect_identical(vapply(inputs, `[[`, "", "InputName"), c("code", "data", "input-2"))
  expect_identical(inputs[[1]]$S3Input$S3Uri,
                   sprintf("s3://%s/%s/input/code/analysis.R", session$bucket, name))
  expect_identical(inputs[[1]]$S3Input$LocalPath, "/opt/ml/processing/input/code")
  expect_identical(inputs[[2]]$S3Input$S3Uri, sprintf("s3://%s/%s/input/data", session$bucket, name))
  expect_identical(inputs[[2]]$S3Input$LocalPath, "/opt/ml/processing/input/data")
  expect_identical(inputs[[3]]$S3Input$S3Uri, "s3://other-bucket/ref/")
  expect_identical(inputs[[3]]$S3Input$S3DataDistributionType, "ShardedByS3Key")
  expect_identical(inputs[[2]]$S3Input$S3InputMode, "File")
  outputs <- request$ProcessingOutputConfig$Outputs
  expect_identical(vapply(outputs, `[[`, "", "OutputName"), c("output-1", "output-2"))
  expect_identical(outputs[[1]]$S3Output$S3Uri, sprintf("s3://%s/%s/output/output-1", session$bucket, name))
  expect_identical(outputs[[2]]$S3Output$S3Uri, "s3://results/x")
  expect_identical(outputs[[1]]$S3Output$S3UploadMode, "EndOfJob")
  expect_identical(request$ProcessingOutputConfig$KmsKeyId, "out-key")
  expect_identical(request$Environment, list(MODE = "full"))
  expect_identical(request$NetworkConfig$EnableInterContainerTrafficEncryption, TRUE)
  expect_identical(unlist(request$NetworkConfig$VpcConfig$Subnets), "subnet-1")
  expect_identical(request$Tags, list(list(Key = "project", Value = "covid")))
  # The files really are where the request says.
  expect_setequal(bucket_keys(session, name), c(
    sprintf("%s/input/code/analysis.R", name),
    sprintf("%s/input/data/one.csv", name), sprintf("%s/input/data/two.csv", name)))
})

test_that("a simulation job runs the installed worker with the spec's parameters", {
  local_moto()
  session <- aws_session(role = role)
  spec <- simulation_spec(1000, 1000, 1000, 10000, seed = 42)
  job <- submit_processing(simulation = spec, image_uri = image, instance_count = 3,
                           wait = FALSE, session = session)
  expect_identical(job$kind, "simulation")
  expect_match(job$name, "^sagesim-simulation-")
  request <- recorded_sagemaker("CreateProcessingJob")[[1]]
  expect_identical(unlist(request$AppSpecification$ContainerEntrypoint),
                   c("Rscript", "-e", "sagesim::run_worker()"))
  expect_identical(unlist(request$AppSpecification$ContainerArguments), c(
    "--x-length", "1000", "--y-length", "1000", "--num-people", "1000",
    "--max-iterations", "10000", "--distance", "6", "--seed", "42",
    "--output-dir", "/opt/ml/processing/output/simulation"))
  expect_identical(request$ProcessingOutputConfig$Outputs[[1]]$S3Output$S3Uri,
                   sprintf("s3://%s/%s/output/simulation", session$bucket, job$name))
  expect_null(request$ProcessingInputs)
})

test_that("bad input is refused before any AWS call", {
  local_moto()
  session <- aws_session(role = role)
  http_request(moto$port, "POST", "/moto-api/recorder/reset-recording")
  script <- local_script()
  spec <- simulation_spec(10, 10, 5, 5, seed = 1)
  bad <- list(
    list(code = script),                                               # no image
    list(code = script, image_uri = image, base_job_name = "bad_name"),
    list(code = script, image_uri = image, instance_count = 101),
    list(code = script, image_uri = image, instance_type = "m5.large"),
    list(code = script, image_uri = image, volume_size_gb = 0),
    list(code = script, image_uri = image, max_runtime = 1e7),
    list(code = script, image_uri = image, env = c(`1BAD` = "x")),
    list(code = script, image_uri = image, env = c(GOOD = strrep("x", 257))),
    list(code = script, image_uri = image, env = setNames(rep("x", 101), paste0("K", 1:101))),
    list(code = script, image_uri = image, inputs = list(processing_input("s3://bucket/x"),
                                                         processing_input("s3://bucket/y", name = "input-1"))),
    list(code = script, image_uri = image, outputs = c(out = "/opt/ml/processing/output/a"),
         role = "arn:aws:iam::123456789012:user/not-a-role"),
    list(code = script, image_uri = image, inputs = c(a = "s3:/missing-slash")),
    list(code = script, image_uri = image,                             # a cloud job writes to S3
         outputs = list(processing_output("/opt/ml/processing/output/a", destination = "results"))),
    list(simulation = spec, image_uri = image, arguments = "--x")
  )
  for (args in bad) {
    expect_error(do.call(submit_processing, c(args, list(wait = FALSE, session = session))),
                 class = "sagesim_invalid_argument")
  }
  expect_error(processing_input("s3://b/x", destination = "/tmp/x"), class = "sagesim_invalid_argument")
  expect_error(processing_output("/opt/ml/processing/output/a", destination = "s3://Bad_Bucket/x"),
               class = "sagesim_invalid_argument")
  expect_error(processing_output("/opt/ml/processing/../etc"), class = "sagesim_invalid_argument")
  expect_length(recorded_requests(), 0)
})

test_that("without a role the submission says what to pass, and creates nothing", {
  local_moto()
  session <- aws_session()
  script <- local_script()
  error <- tryCatch(submit_processing(code = script, image_uri = image, wait = FALSE, session = session),
                    error = identity)
  expect_s3_class(error, "sagesim_invalid_argument")
  expect_identical(error$argument, "role")
  expect_match(conditionMessage(error), "arn:aws:iam::<account>:role/")
  expect_length(recorded_sagemaker("CreateProcessingJob"), 0)
})

test_that("a submission that fails part-way removes what it uploaded", {
  local_moto()
  session <- aws_session(role = role)
  script <- local_script()
  # The code uploads, then the input folder fails: it holds a dangling link.
  data <- withr::local_tempdir()
  writeLines("x", file.path(data, "good.csv"))
  file.symlink(file.path(data, "missing-target"), file.path(data, "broken.csv"))
  expect_error(submit_processing(code = script, image_uri = image, inputs = c(data = data),
                                 wait = FALSE, session = session), class = "sagesim_aws_error")
  expect_length(bucket_keys(session), 0)
  expect_length(recorded_sagemaker("CreateProcessingJob"), 0)
})

test_that("a job created although the create call failed (reply lost) is stopped, not orphaned", {
  local_moto()
  session <- aws_session(role = role)
  script <- local_script()
  # The first attempt creates the job but its reply is lost (500); the SDK
  # retries and SageMaker answers that the name is taken.
  control("/lose-reply", list(Target = "SageMaker.CreateProcessingJob"))
  expect_message(
    error <- tryCatch(submit_processing(code = script, image_uri = image, wait = FALSE,
                                        session = session), error = identity),
    "failed after the job was created; the job was stopped")
  expect_s3_class(error, "sagesim_aws_ResourceInUse")
  stopped <- recorded_sagemaker("StopProcessingJob")
  expect_length(stopped, 1)
  name <- stopped[[1]]$ProcessingJobName
  expect_identical(recorded_sagemaker("CreateProcessingJob")[[1]]$ProcessingJobName, name)
  expect_identical(job_status(attach_job(name, session = session))$status, "Stopped")
  expect_length(bucket_keys(session, paste0(name, "/")), 0)

  # Someone else's job that happens to bear the name is left alone.
  other <- submit_processing(code = script, image_uri = image, wait = FALSE, session = session)
  set_job_status(other$name, "InProgress")
  expect_message(
    sagesim:::abandon_submission(session, other$name, session$bucket, uploading = FALSE,
                                 maybe_created = list(RoleArn = role, AppSpecification = list(
                                   ImageUri = "elsewhere/image:1"))),
    "not this submission's; it was left alone")
  expect_identical(job_status(other)$status, "InProgress")
})

test_that("job names follow the Python SDK", {
  t <- as.POSIXct("2026-11-21 22:41:05", tz = "UTC") + 0.1234
  expect_identical(job_name_from_base("sagesim", t), "sagesim-2026-11-21-22-41-05-123")
  long <- job_name_from_base(strrep("a", 80), t)
  expect_identical(nchar(long), 63L)
  expect_match(long, sagesim:::job_name_pattern)
  expect_error(job_name_from_base("no_underscores"), class = "sagesim_invalid_argument")
})
