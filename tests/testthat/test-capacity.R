# Spot capacity and warm pools as settings: what holds together, what is
# refused before anything exists, and how estimates, costs and statuses of
# Training jobs read. (Running them: test-spot-local.R, test-spot-cloud.R.)

test_that("Spot and a warm pool together, or max_wait without Spot, are refused before anything exists", {
  dir <- use_temp_job_dir()
  spec <- simulation_spec(100, 100, 50, 20, seed = 1)
  both <- expect_error(submit_processing(simulation = spec, instance_type = "local", spot = TRUE,
                                         keep_alive = 60, logs = FALSE),
                       class = "sagesim_invalid_argument")
  expect_identical(both$argument, "keep_alive")
  expect_match(conditionMessage(both), "not both")
  alone <- expect_error(submit_map(1:3, identity, instance_type = "local", max_wait = 600,
                                   logs = FALSE),
                        class = "sagesim_invalid_argument")
  expect_identical(alone$argument, "max_wait")
  short <- expect_error(submit_processing(simulation = spec, instance_type = "local", spot = TRUE,
                                          max_runtime = 3600, max_wait = 600, logs = FALSE),
                        class = "sagesim_invalid_argument")
  expect_match(conditionMessage(short), "at least `max_runtime` \\(3,600 s\\)")
  expect_error(submit_processing(simulation = spec, instance_type = "local", keep_alive = 7200),
               class = "sagesim_invalid_argument")
  expect_error(submit_processing(simulation = spec, instance_type = "local", spot = "yes"),
               class = "sagesim_invalid_argument")
  # The future plan and the foreach backend refuse them when given, not at
  # the first future or loop.
  expect_error(future::plan(sagesim::sagemaker, spot = TRUE, keep_alive = 10),
               class = "sagesim_invalid_argument")
  expect_error(registerDoSageMaker(instance_type = "local", spot = TRUE, keep_alive = 10),
               class = "sagesim_invalid_argument")
  expect_identical(list.files(dir, recursive = TRUE, all.files = TRUE), character())
})

test_that("a Spot job waits at most twice its runtime unless told, and keeps its outputs with its checkpoints", {
  use_temp_job_dir()
  work <- list(kind = "script", entrypoint = c("Rscript", "x.R"), arguments = character(),
               base_default = "s", inputs = list(), outputs = list())
  settings <- function(...) utils::modifyList(sagesim:::job_setting_defaults(), list(...))
  plan <- sagesim:::plan_job(work, settings(instance_type = "local", spot = TRUE, max_runtime = 600))
  expect_identical(plan$settings$max_wait, 1200)
  expect_true(sagesim:::training_settings(plan$settings))
  plain <- sagesim:::plan_job(work, settings(instance_type = "local"))
  expect_false(sagesim:::training_settings(plain$settings))
  expect_null(plain$settings$max_wait)
  told <- sagesim:::plan_job(work, settings(instance_type = "local", spot = TRUE, max_runtime = 600,
                                        max_wait = 900))
  expect_identical(told$settings$max_wait, 900)
  elsewhere <- list(processing_output("/opt/ml/processing/output/x", name = "x",
                                      destination = "s3://bucket/x"))
  refused <- expect_error(
    sagesim:::plan_job(work, settings(instance_type = "ml.m5.xlarge", image_uri = "i", spot = TRUE,
                                  outputs = elsewhere)),
    class = "sagesim_invalid_argument")
  expect_match(conditionMessage(refused), "keeps its outputs with its checkpoints")
  # Without Spot or a warm pool the same output goes where it is sent.
  expect_length(sagesim:::plan_job(work, settings(instance_type = "ml.m5.xlarge", image_uri = "i",
                                              outputs = elsewhere))$outputs, 1)
})

test_that("a Spot estimate is the on-demand bound, and says Spot's discount is not known", {
  use_temp_job_dir()
  spec <- simulation_spec(1000, 1000, 1000, 1e5, seed = 1)
  local_moto()
  on_demand <- submit_processing(simulation = spec, image_uri = image, instance_count = 2,
                                 instance_type = "ml.m5.xlarge", estimate = TRUE)
  spot <- submit_processing(simulation = spec, image_uri = image, instance_count = 2,
                            instance_type = "ml.m5.xlarge", estimate = TRUE, spot = TRUE)
  expect_equal(spot$usd, on_demand$usd)
  expect_output(print(spot), "Spot's discount is not known in advance")
  expect_false(any(grepl("Spot", capture.output(print(on_demand)))))
})

test_that("a Training job's status: its secondary status, billing and a Spot job that got no capacity", {
  described <- list(TrainingJobName = "j", TrainingJobStatus = "InProgress",
                    SecondaryStatus = "Interrupted", CreationTime = 100, TrainingStartTime = 110,
                    EnableManagedSpotTraining = TRUE)
  status <- sagesim:::described_status("training", "j", described)
  expect_identical(status$status, "InProgress")
  expect_identical(status$secondary_status, "Interrupted")
  expect_true(status$spot)
  expect_identical(status$start_time, 110)
  expect_null(sagesim:::infrastructure_failure(status))
  # SageMaker stops a Spot job that found no capacity within max_wait: for
  # sagesim it failed for the cloud, and is retried as a job without capacity.
  starved <- sagesim:::described_status("training", "j", utils::modifyList(described, list(
    TrainingJobStatus = "Stopped", SecondaryStatus = "MaxWaitTimeExceeded")))
  expect_identical(starved$status, "Failed")
  expect_identical(sagesim:::infrastructure_failure(starved), "capacity")
  stopped <- sagesim:::described_status("training", "j", utils::modifyList(described, list(
    TrainingJobStatus = "Stopped", SecondaryStatus = "Stopped")))
  expect_identical(stopped$status, "Stopped")
  processing <- sagesim:::described_status("processing", "p", list(
    ProcessingJobStatus = "Completed", ProcessingStartTime = 5, ProcessingEndTime = 9))
  expect_identical(processing$end_time, 9)
  expect_null(processing$secondary_status)
})

test_that("what Spot billed is the cost, with what it saved against on demand", {
  prices <- sagemaker_prices()
  price <- sagesim:::price_of("ml.m5.xlarge", "us-east-1", prices)
  row <- sagesim:::run_cost("j", "Completed", "ml.m5.xlarge", 4, "us-east-1", start_time = 1000,
                            end_time = 1000 + 3600, prices = prices, billable_seconds = 1080)
  expect_equal(row$seconds, 1080)
  expect_equal(row$run_seconds, 3600)
  expect_equal(row$usd, 4 * 1080 / 3600 * price$usd_per_hour)
  expect_equal(row$on_demand_usd, 4 * price$usd_per_hour)
  expect_output(print(row), sprintf("Spot billed 18.0 min of the 1.00 h it ran, saving 70%% of the on-demand %s",
                                    sagesim:::format_usd(4 * price$usd_per_hour)), fixed = TRUE)
  # On demand, billed seconds are the run's.
  plain <- sagesim:::run_cost("j", "Completed", "ml.m5.xlarge", 4, "us-east-1", start_time = 1000,
                              end_time = 1000 + 3600, prices = prices)
  expect_equal(plain$usd, plain$on_demand_usd)
  expect_false(any(grepl("Spot", capture.output(print(plain)))))
})

test_that("the IAM policy allows Training jobs and their log group", {
  policy <- sagesim_iam_policy(bucket = "my-bucket", region = "us-east-1", account = "123456789012")
  statements <- policy$user$Statement
  actions <- unlist(lapply(statements, `[[`, "Action"))
  expect_true(all(c("sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob",
                    "sagemaker:StopTrainingJob", "sagemaker:ListTrainingJobs") %in% actions))
  resources <- unlist(lapply(statements, `[[`, "Resource"))
  expect_true("arn:aws:sagemaker:us-east-1:123456789012:training-job/*" %in% resources)
  expect_true(any(grepl("log-group:/aws/sagemaker/TrainingJobs:log-stream:", resources, fixed = TRUE)))
})
