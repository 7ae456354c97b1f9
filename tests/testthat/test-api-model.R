# What sagesim sends SageMaker, checked against SageMaker's API model
# (helper-api-model.R): moto accepts requests SageMaker would refuse.

# A valid CreateTrainingJob body, made by hand.
hand_made_training <- function() {
  list(
    TrainingJobName = "sagesim-check-1", RoleArn = role,
    AlgorithmSpecification = list(TrainingImage = image, TrainingInputMode = "File"),
    OutputDataConfig = list(S3OutputPath = "s3://bucket/out"),
    ResourceConfig = list(InstanceType = "ml.m5.xlarge", InstanceCount = 1L, VolumeSizeInGB = 30L),
    StoppingCondition = list(MaxRuntimeInSeconds = 600L),
    Environment = list(A = "1"))
}

problem_paths <- function(body) {
  vapply(api_model_problems("CreateTrainingJob", body), `[[`, character(1), "path")
}

test_that("the API-model check finds what SageMaker would refuse", {
  skip_without_moto()
  valid <- hand_made_training()
  expect_valid_request("CreateTrainingJob", valid)
  expect_length(api_model_problems("CreateTrainingJob", valid), 0)

  missing <- valid
  missing$RoleArn <- NULL
  expect_identical(problem_paths(missing), "RoleArn")
  expect_failure(expect_valid_request("CreateTrainingJob", missing), "RoleArn: required member")

  unknown <- valid
  unknown$ResourceConfig$InstanceCuont <- 2L
  expect_identical(problem_paths(unknown), "ResourceConfig.InstanceCuont")
  expect_failure(expect_valid_request("CreateTrainingJob", unknown), "unknown member of ResourceConfig")

  range <- valid
  range$ResourceConfig$KeepAlivePeriodInSeconds <- 21601L
  expect_identical(problem_paths(range), "ResourceConfig.KeepAlivePeriodInSeconds")
  expect_failure(expect_valid_request("CreateTrainingJob", range), "21601 is above the maximum 21600")
  range$ResourceConfig$KeepAlivePeriodInSeconds <- 21600L
  expect_valid_request("CreateTrainingJob", range)
  range$StoppingCondition$MaxRuntimeInSeconds <- 0L
  expect_failure(expect_valid_request("CreateTrainingJob", range), "0 is below the minimum 1")

  enum <- valid
  enum$AlgorithmSpecification$TrainingInputMode <- "Folder"
  expect_identical(problem_paths(enum), "AlgorithmSpecification.TrainingInputMode")
  expect_failure(expect_valid_request("CreateTrainingJob", enum), "'Folder' is not a value of TrainingInputMode")

  long <- valid
  long$Environment$A <- strrep("x", 513)
  expect_identical(problem_paths(long), 'Environment["A"]')
  expect_failure(expect_valid_request("CreateTrainingJob", long), "513 characters, more than the 512")

  # Patterns (the model's Java syntax translated) and list sizes.
  pattern <- valid
  pattern$TrainingJobName <- "not_a_job_name"
  expect_failure(expect_valid_request("CreateTrainingJob", pattern), "does not match the pattern")
  pattern$TrainingJobName <- strrep("a", 64)
  expect_identical(problem_paths(pattern), c("TrainingJobName", "TrainingJobName"))
  tagged <- valid
  tagged$Tags <- list(list(Key = "team", Value = "sim \u00e9t\u00e9"))
  expect_valid_request("CreateTrainingJob", tagged)
  tagged$Tags[[1]]$Value <- "no ; here"
  expect_identical(problem_paths(tagged), "Tags[0].Value")
  many <- valid
  many$AlgorithmSpecification$ContainerArguments <- as.list(rep("a", 101))
  expect_failure(expect_valid_request("CreateTrainingJob", many), "101 items, more than the 100")
  flag <- valid
  flag$EnableManagedSpotTraining <- "yes"
  expect_failure(expect_valid_request("CreateTrainingJob", flag), "must be true or false")
})

test_that("the Processing requests of every kind of job pass the API model", {
  local_moto()
  session <- aws_session(role = role)
  key <- "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  everything <- list(
    env = c(MODE = "full"), tags = c(project = "covid", owner = "team sim"),
    network = network_config(subnets = c("subnet-1", "subnet-2"), security_group_ids = "sg-1",
                             encrypt_inter_container_traffic = TRUE),
    volume_kms_key = key, output_kms_key = key, kms_key = key,
    image_uri = image, instance_type = "ml.m5.xlarge", instance_count = 2, wait = FALSE,
    session = session)
  script <- file.path(withr::local_tempdir(), "analysis.R")
  writeLines("cat('hi\\n')", script)
  data_dir <- withr::local_tempdir()
  writeLines("a,b", file.path(data_dir, "one.csv"))
  jobs <- list(
    do.call(submit_processing, c(list(
      code = script, arguments = c("--n", "10"), base_job_name = "check-script",
      inputs = list(processing_input(data_dir, name = "data"),
                    processing_input("s3://other-bucket/ref/", destination = "/opt/ml/processing/ref",
                                     s3_data_distribution_type = "ShardedByS3Key")),
      outputs = list(processing_output("/opt/ml/processing/output/a"))), everything)),
    do.call(submit_processing, c(list(simulation = simulation_spec(300, 200, 120, 101, seed = 17)),
                                 everything)),
    do.call(submit_processing, c(list(simulation = simulation_grid(c(500, 1000), 800, c(100, 200), 50,
                                                                   seed = 7)), everything)),
    do.call(submit_map, c(list(x = 1:5, f = function(i) i^2, seed = 1), everything)))
  sent <- expect_valid_requests("CreateProcessingJob")
  expect_length(sent, length(jobs))
  expect_setequal(vapply(sent, `[[`, "", "ProcessingJobName"), vapply(jobs, `[[`, "", "name"))
  # Each of them has what the check covers: VPC, keys, variables, tags.
  for (request in sent) {
    expect_identical(request$NetworkConfig$VpcConfig$Subnets, list("subnet-1", "subnet-2"))
    expect_identical(request$ProcessingResources$ClusterConfig$VolumeKmsKeyId, key)
    expect_identical(request$Environment$MODE, "full")
    expect_true(length(request$Tags) >= 2)
  }
})

test_that("CreateTrainingJob requests of Spot and warm-pool records pass the API model and describe as sent", {
  local_moto()
  session <- aws_session(role = role)
  record <- submitted_record(session)
  bucket <- session$bucket
  spot <- training_record_json(record, "sagesim-spot-1", bucket, spot = TRUE, max_wait = 172800)
  warm <- training_record_json(record, "sagesim-warm-1", bucket, keep_alive = 1800)
  for (json in c(spot, warm)) {
    reply <- sagesim:::aws_request(session, "sagemaker:CreateTrainingJob", json, json = TRUE)
    expect_match(reply$TrainingJobArn, "training-job/sagesim-(spot|warm)-1$")
  }
  sent <- expect_valid_requests("CreateTrainingJob")
  expect_length(sent, 2)
  names(sent) <- vapply(sent, `[[`, "", "TrainingJobName")
  expect_true(sent[["sagesim-spot-1"]]$EnableManagedSpotTraining)
  expect_identical(sent[["sagesim-spot-1"]]$StoppingCondition$MaxWaitTimeInSeconds, 172800L)
  expect_null(sent[["sagesim-spot-1"]]$ResourceConfig$KeepAlivePeriodInSeconds)
  expect_identical(sent[["sagesim-warm-1"]]$ResourceConfig$KeepAlivePeriodInSeconds, 1800L)
  expect_false(sent[["sagesim-warm-1"]]$EnableManagedSpotTraining)
  # The worker's command follows training_host(); inputs are channels and
  # their container paths hyperparameters.
  request <- sent[["sagesim-spot-1"]]
  plan <- record$plan
  expect_identical(unlist(request$AlgorithmSpecification$ContainerEntrypoint),
                   c("Rscript", "-e", "sagesim::training_host()"))
  expect_identical(unlist(request$AlgorithmSpecification$ContainerArguments),
                   c(unlist(plan$entrypoint), unlist(plan$arguments)))
  expect_identical(vapply(request$InputDataConfig, `[[`, "", "ChannelName"),
                   vapply(plan$inputs, `[[`, "", "name"))
  for (input in plan$inputs) {
    expect_identical(request$HyperParameters[[paste0("sagesim-input-", input$name)]], input$destination)
  }
  for (output in plan$outputs) {
    expect_identical(request$HyperParameters[[paste0("sagesim-output-", output$name)]], output$source)
  }
  expect_identical(request$CheckpointConfig$S3Uri, sprintf("s3://%s/sagesim-spot-1/checkpoints", bucket))
  expect_identical(request$Tags, list(list(Key = "project", Value = "covid")))

  # A described job is rendered as the request's JSON is (job_config()):
  # every member of the config reads back the same.
  for (json in c(spot, warm)) {
    config <- jsonlite::fromJSON(sagesim:::unwrap(sagesim:::job_config(json)), simplifyVector = FALSE)
    described <- sagesim:::aws_request(session, "sagemaker:DescribeTrainingJob",
                                       list(TrainingJobName = config$TrainingJobName))
    for (member in names(config)) {
      expect_identical(described[[member]], config[[member]], label = paste("described", member))
    }
    expect_identical(described$TrainingJobStatus, "Completed")
  }
  # A Processing record is not made a Training job, nor the reverse.
  expect_error(sagesim:::aws_request(session, "sagemaker:CreateTrainingJob", record$json, json = TRUE),
               "has no `training`")
  expect_error(sagesim:::aws_request(session, "sagemaker:CreateProcessingJob", spot, json = TRUE),
               "create it with CreateTrainingJob")
  # What SageMaker would refuse is refused before anything is sent.
  expect_error(sagesim:::aws_request(session, "sagemaker:CreateTrainingJob",
                                     training_record_json(record, "sagesim-bad-1", bucket, spot = TRUE,
                                                          keep_alive = 60), json = TRUE),
               "cannot keep a warm pool")
  expect_length(recorded_sagemaker("CreateTrainingJob"), 2)
})

test_that("Spot and warm-pool jobs submitted with spot = TRUE or keep_alive send valid CreateTrainingJobs", {
  local_moto()
  session <- aws_session(role = role)
  job <- submit_map(1:4, function(i) i + 1, seed = 3, image_uri = image, instance_type = "ml.m5.xlarge",
                    spot = TRUE, max_wait = 7200, max_runtime = 3600, wait = FALSE, session = session)
  sent <- expect_valid_requests("CreateTrainingJob")
  expect_identical(sent[[1]]$TrainingJobName, job$name)
  expect_identical(sent[[1]]$StoppingCondition,
                   list(MaxRuntimeInSeconds = 3600L, MaxWaitTimeInSeconds = 7200L))
  warm <- submit_processing(simulation = simulation_spec(300, 200, 120, 101, seed = 17), image_uri = image,
                            instance_type = "ml.m5.xlarge", keep_alive = 900, wait = FALSE,
                            session = session)
  sent <- expect_valid_requests("CreateTrainingJob")
  expect_length(sent, 2)
  expect_identical(sent[[2]]$TrainingJobName, warm$name)
  expect_identical(sent[[2]]$ResourceConfig$KeepAlivePeriodInSeconds, 900L)
  expect_false(sent[[2]]$EnableManagedSpotTraining)
  expect_length(recorded_sagemaker("CreateProcessingJob"), 0)
})

test_that("DescribeTrainingJob, StopTrainingJob and ListTrainingJobs work against the stand-in", {
  local_moto()
  session <- aws_session(role = role)
  record <- submitted_record(session)
  bucket <- session$bucket
  play_training_with_fake_runtime()
  script <- "echo started $HOST $PLAYED; sleep 60"
  long <- training_record_json(record, "sagesim-long-1", bucket, keep_alive = 600,
                               env = c(FAKE_HOST_SCRIPT = script))
  sagesim:::aws_request(session, "sagemaker:CreateTrainingJob", long, json = TRUE)
  running <- await_training_job(session, "sagesim-long-1", function(d) identical(d$SecondaryStatus, "Training"))
  expect_identical(running$TrainingJobStatus, "InProgress")
  expect_identical(vapply(running$SecondaryStatusTransitions, `[[`, "", "Status"),
                   c("Starting", "Downloading", "Training"))
  expect_true(is.numeric(running$TrainingStartTime))
  expect_null(running$TrainingEndTime)
  sagesim:::aws_request(session, "sagemaker:StopTrainingJob", list(TrainingJobName = "sagesim-long-1"))
  expect_identical(sagesim:::aws_request(session, "sagemaker:DescribeTrainingJob",
                                         list(TrainingJobName = "sagesim-long-1"))$TrainingJobStatus,
                   "Stopping")
  stopped <- await_training_job(session, "sagesim-long-1")
  expect_identical(stopped$TrainingJobStatus, "Stopped")
  expect_identical(stopped$SecondaryStatus, "Stopped")
  expect_gte(stopped$TrainingTimeInSeconds, 1L)
  expect_identical(stopped$BillableTimeInSeconds, stopped$TrainingTimeInSeconds)
  # Its hosts really ran, with the request's and the launcher's variables.
  streams <- sagesim:::aws_request(session, "logs:DescribeLogStreams",
                                   list(LogGroupName = "/aws/sagemaker/TrainingJobs"))
  names <- vapply(streams$LogStreams, `[[`, "", "LogStreamName")
  expect_setequal(sub("-[0-9]+$", "", names), c("sagesim-long-1/algo-1", "sagesim-long-1/algo-2"))
  # An ended job cannot be stopped, as SageMaker says.
  expect_error(sagesim:::aws_request(session, "sagemaker:StopTrainingJob",
                                     list(TrainingJobName = "sagesim-long-1")),
               "is in status Stopped")
  expect_error(sagesim:::aws_request(session, "sagemaker:StopTrainingJob", list(TrainingJobName = "nope")),
               "Could not find training job")
  expect_error(sagesim:::aws_request(session, "sagemaker:StopTrainingJob", list(TrainingJobNmae = "x")),
               "TrainingJobNmae")

  # Listing, with paging, filters and the summaries' statuses.
  short <- training_record_json(record, "sagesim-short-1", bucket, spot = TRUE, max_wait = 172800,
                                env = c(FAKE_HOST_SCRIPT = "echo quick"))
  sagesim:::aws_request(session, "sagemaker:CreateTrainingJob", short, json = TRUE)
  done <- await_training_job(session, "sagesim-short-1")
  expect_identical(done$TrainingJobStatus, "Completed")
  listed <- sagesim:::aws_request(session, "sagemaker:ListTrainingJobs",
                                  list(SortBy = "Name", SortOrder = "Descending"))
  summaries <- listed$TrainingJobSummaries
  expect_identical(vapply(summaries, `[[`, "", "TrainingJobName"), c("sagesim-short-1", "sagesim-long-1"))
  expect_identical(vapply(summaries, `[[`, "", "SecondaryStatus"), c("Completed", "Stopped"))
  expect_identical(summaries[[2]]$WarmPoolStatus$Status, "Available")
  expect_null(summaries[[1]]$WarmPoolStatus)
  one <- sagesim:::aws_request(session, "sagemaker:ListTrainingJobs", list(MaxResults = 1))
  expect_length(one$TrainingJobSummaries, 1)
  stopped_only <- sagesim:::aws_request(session, "sagemaker:ListTrainingJobs", list(StatusEquals = "Stopped"))
  expect_identical(vapply(stopped_only$TrainingJobSummaries, `[[`, "", "TrainingJobName"), "sagesim-long-1")
  expect_error(sagesim:::aws_request(session, "sagemaker:ListTrainingJobs", list(Sort = "Name")), "Sort")
})
