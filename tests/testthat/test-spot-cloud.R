# Spot and warm-pool jobs on SageMaker (moto, with the launcher playing the
# Training runtime: fixtures/moto_launcher.py): interruptions that change
# nothing, billing, warm pools, quotas, no capacity, and every verb. Each
# request sagesim sends is checked against AWS's API model.

draw <- function(i) mean(stats::rnorm(5, mean = i))

test_that("a 4-host Spot map interrupted on two hosts returns a clean run's values, billed less", {
  local_moto()
  session <- aws_session(role = role)
  play_jobs()
  clean <- job_collect(submit_map(1:200, draw, seed = 7, instance_type = "local", logs = FALSE))
  # (Each element is one progress report: algo-2 is interrupted after 10 of
  # its 50 elements, algo-4 after 30.)
  inject_faults(Interrupt = list(`algo-2` = 10, `algo-4` = 30), SpotBillableFraction = 0.3)
  shown <- capture.output(
    job <- submit_map(1:200, draw, seed = 7, instance_count = 4, instance_type = "ml.m5.large",
                      image_uri = image, env = c(SAGESIM_PROGRESS_EVERY = "0"), spot = TRUE,
                      session = session, logs = TRUE))
  expect_identical(job$last_status$status, "Completed")
  # The logs show the Training job's secondary status as it changes.
  expect_true(any(grepl(sprintf("[SageMaker] %s: Training", job$name), shown, fixed = TRUE)))
  expect_true(any(grepl(sprintf("[SageMaker] %s: Completed", job$name), shown, fixed = TRUE)))
  expect_identical(job_collect(job), clean)
  expect_length(recorded_sagemaker("CreateProcessingJob"), 0)
  created <- recorded_sagemaker("CreateTrainingJob")
  expect_length(created, 1)
  request <- created[[1]]
  expect_valid_request("CreateTrainingJob", request)
  expect_true(request$EnableManagedSpotTraining)
  expect_identical(request$StoppingCondition$MaxWaitTimeInSeconds, 2L * 86400L)
  expect_identical(request$CheckpointConfig$S3Uri,
                   sprintf("s3://%s/%s/checkpoints", session$bucket, job$name))
  # Both interrupted hosts went on from their checkpoints.
  lines <- job_logs(job)
  for (host in c("algo-2", "algo-4")) {
    expect_true(any(grepl("restarted on [0-9]+ results files? of its own", lines$message[lines$host == host])))
  }
  # What Spot billed, against the time it ran.
  described <- sagesim:::aws_request(session, "sagemaker:DescribeTrainingJob",
                                     list(TrainingJobName = job$name))
  cost <- job_cost(job)
  expect_equal(cost$seconds, described$BillableTimeInSeconds)
  expect_equal(described$BillableTimeInSeconds, ceiling(described$TrainingTimeInSeconds * 0.3))
  expect_lt(cost$usd, cost$on_demand_usd)
  expect_output(print(cost), "Spot billed")
  expect_output(print(job), "capacity:  Spot")
})

test_that("a warm-pool pair: the second job with the same settings reuses the first's pool, and says so", {
  local_moto()
  session <- aws_session(role = role)
  play_jobs()
  spec <- simulation_spec(100, 100, 30, 40, seed = 2)
  submit <- function() {
    submit_processing(simulation = spec, image_uri = image, instance_count = 2,
                      instance_type = "ml.m5.large", keep_alive = 600, session = session,
                      network = network_config(subnets = "subnet-1", security_group_ids = "sg-1"),
                      volume_kms_key = "alias/volumes", tags = c(team = "stats"), logs = FALSE)
  }
  first <- submit()
  second <- submit()
  created <- recorded_sagemaker("CreateTrainingJob")
  expect_length(created, 2)
  for (request in created) {
    expect_valid_request("CreateTrainingJob", request)
    expect_identical(request$ResourceConfig$KeepAlivePeriodInSeconds, 600L)
    expect_false(isTRUE(request$EnableManagedSpotTraining))
  }
  # The settings a pool is matched on are the same in both requests.
  expect_identical(created[[1]]$ResourceConfig, created[[2]]$ResourceConfig)
  expect_identical(created[[1]]$VpcConfig, created[[2]]$VpcConfig)
  expect_identical(created[[1]]$RoleArn, created[[2]]$RoleArn)
  expect_identical(job_status(first)$warm_pool$Status, "Reused")
  expect_identical(job_status(first)$warm_pool$ReusedByJob, second$name)
  expect_output(print(second), sprintf("reused the warm pool of %s", first$name), fixed = TRUE)
  expect_output(print(first), "started new instances")
  expect_identical(job_collect(second)$values, job_collect(first)$values)
})

test_that("a warm pool refused for the account's quota says which quota; nothing is left", {
  local_moto()
  session <- aws_session(role = role)
  inject_faults(WarmPoolQuota = TRUE)
  refused <- expect_error(
    submit_map(1:4, draw, instance_type = "ml.m5.large", image_uri = image, keep_alive = 60,
               session = session, logs = FALSE),
    class = "sagesim_warm_pool_quota")
  expect_match(conditionMessage(refused), "'ml.m5.large for training warm pool usage'", fixed = TRUE)
  expect_match(conditionMessage(refused), "Service Quotas")
  listed <- sagesim:::aws_request(session, "s3:ListObjects", list(Bucket = session$bucket, Prefix = ""))
  expect_length(listed$Objects, 0)
  expect_length(list_jobs(session = session)$name, 0)
})

test_that("a Spot job that finds no capacity within max_wait is run again, as the cloud's failure", {
  local_moto()
  session <- aws_session(role = role)
  play_jobs()
  inject_faults(NoSpotCapacity = TRUE)
  spec <- simulation_spec(100, 100, 30, 40, seed = 4)
  said <- character()
  job <- withCallingHandlers(
    submit_processing(simulation = spec, image_uri = image, instance_count = 2,
                      instance_type = "ml.m5.large", spot = TRUE, max_runtime = 600,
                      max_wait = 1200, session = session, logs = FALSE),
    message = function(m) {
      said <<- c(said, conditionMessage(m))
      invokeRestart("muffleMessage")
    })
  expect_identical(job$last_status$status, "Completed")
  expect_length(job$record$attempts, 1)
  expect_match(job$record$attempts[[1]]$failure_reason, "^CapacityError.*MaxWaitTimeExceeded")
  created <- recorded_sagemaker("CreateTrainingJob")
  expect_length(created, 2)
  for (request in created) {
    expect_true(request$EnableManagedSpotTraining)
    expect_identical(request$StoppingCondition$MaxWaitTimeInSeconds, 1200L)
  }
  expect_identical(job_collect(job)$values,
                   job_collect(submit_processing(simulation = spec, instance_count = 2,
                                                 instance_type = "local", logs = FALSE))$values)
})

test_that("a Spot job is stopped, attached, listed and resubmitted with its settings kept", {
  local_moto()
  session <- aws_session(role = role)
  play_jobs()
  slow <- function(i) {
    Sys.sleep(1)
    draw(i)
  }
  clean <- job_collect(submit_map(1:40, draw, seed = 5, instance_type = "local", logs = FALSE))
  job <- submit_map(1:40, slow, seed = 5, instance_count = 2, instance_type = "ml.m5.large",
                    image_uri = image, spot = TRUE, max_wait = 200000, session = session,
                    env = c(SAGESIM_PROGRESS_EVERY = "0"), wait = FALSE)
  deadline <- Sys.time() + 60
  repeat {
    sagesim:::refresh_job(job)
    if (isTRUE(sagesim:::job_progress(job)$done >= 4) || Sys.time() > deadline) break
    Sys.sleep(0.2)
  }
  suppressMessages(job_stop(job))
  expect_length(recorded_sagemaker("StopTrainingJob"), 1)
  expect_warning(job_wait(job, logs = FALSE), "was stopped")
  expect_identical(job$last_status$status, "Stopped")
  attached <- job_attach(job$name, session = session)
  expect_identical(attached$sagemaker_kind, "training")
  expect_identical(attached$last_status$status, "Stopped")
  expect_true(attached$record$plan$training$spot)
  expect_true(job$name %in% list_jobs(session = session)$name)
  partial <- suppressWarnings(job_collect(attached, errors = "return"))
  finished <- vapply(partial, function(v) !inherits(v, "condition"), logical(1))
  expect_gt(sum(finished), 0)
  expect_lt(sum(finished), 40)
  expect_identical(partial[finished], clean[finished])
  again <- job_resubmit(attached, f = draw, logs = FALSE)
  created <- recorded_sagemaker("CreateTrainingJob")
  expect_length(created, 2)
  expect_true(created[[2]]$EnableManagedSpotTraining)
  expect_identical(created[[2]]$StoppingCondition$MaxWaitTimeInSeconds, 200000L)
  expect_valid_request("CreateTrainingJob", created[[2]])
  expect_identical(job_collect(again), clean)
})
