# The moto stand-in's Training jobs (fixtures/moto_launcher.py): POST
# /training-job, played jobs (run by fixtures/fake_training_runtime.py),
# Spot interruptions, no Spot capacity, warm pools, billing and quotas.

describe_training <- function(session, name) {
  sagesim:::aws_request(session, "sagemaker:DescribeTrainingJob", list(TrainingJobName = name))
}

create_training <- function(session, json) {
  sagesim:::aws_request(session, "sagemaker:CreateTrainingJob", json, json = TRUE)
}

# The messages of each log stream of a training job, by stream name.
training_logs <- function(session, name) {
  streams <- sagesim:::aws_request(session, "logs:DescribeLogStreams",
                                   list(LogGroupName = "/aws/sagemaker/TrainingJobs"))
  names <- vapply(streams$LogStreams, `[[`, "", "LogStreamName")
  names <- sort(names[startsWith(names, paste0(name, "/"))])
  stats::setNames(lapply(names, function(stream) {
    events <- sagesim:::aws_request(session, "logs:GetLogEvents", list(
      LogGroupName = "/aws/sagemaker/TrainingJobs", LogStreamName = stream, StartFromHead = TRUE))
    vapply(events$Events, `[[`, "", "Message")
  }), names)
}

transitions <- function(d) vapply(d$SecondaryStatusTransitions, `[[`, "", "Status")

test_that("POST /training-job sets what DescribeTrainingJob reports", {
  local_moto()
  session <- aws_session(role = role)
  record <- submitted_record(session)
  create_training(session, training_record_json(record, "sagesim-set-1", session$bucket, keep_alive = 60))
  reply <- control("/training-job", list(TrainingJobName = "sagesim-set-1", Status = "InProgress"))
  expect_identical(reply$SecondaryStatus, "Training")
  d <- describe_training(session, "sagesim-set-1")
  expect_identical(c(d$TrainingJobStatus, d$SecondaryStatus), c("InProgress", "Training"))
  expect_null(d$TrainingEndTime)
  expect_null(d$BillableTimeInSeconds)
  control("/training-job", list(
    TrainingJobName = "sagesim-set-1", Status = "Completed", TrainingStartTime = 1.7e9,
    TrainingEndTime = 1.7e9 + 100, BillableTimeInSeconds = 30, TrainingTimeInSeconds = 100,
    WarmPoolStatus = list(Status = "Available", ResourceRetainedBillableTimeInSeconds = 0)))
  d <- describe_training(session, "sagesim-set-1")
  expect_identical(c(d$TrainingJobStatus, d$SecondaryStatus), c("Completed", "Completed"))
  expect_equal(d$TrainingEndTime - d$TrainingStartTime, 100)
  expect_identical(c(d$BillableTimeInSeconds, d$TrainingTimeInSeconds), c(30L, 100L))
  expect_mapequal(d$WarmPoolStatus, list(Status = "Available", ResourceRetainedBillableTimeInSeconds = 0L))
  # moto's own first transition, then one per change.
  expect_identical(transitions(d), c("Starting", "Training", "Completed"))
  last <- d$SecondaryStatusTransitions[[3]]
  expect_identical(last$StatusMessage, "Training job completed")
  expect_true(is.numeric(d$SecondaryStatusTransitions[[2]]$EndTime))
  # null removes a member; bad bodies and unknown jobs are refused.
  control("/training-job", list(TrainingJobName = "sagesim-set-1", Status = "Failed",
                                FailureReason = "AlgorithmError: x", WarmPoolStatus = NULL))
  d <- describe_training(session, "sagesim-set-1")
  expect_identical(d$FailureReason, "AlgorithmError: x")
  expect_null(d$WarmPoolStatus)
  expect_error(control("/training-job", list(TrainingJobName = "sagesim-set-1", Status = "Done")),
               "Status must be one of")
  expect_error(control("/training-job", list(TrainingJobName = "nope", Status = "Completed")),
               "no training job")
})

# Counts to 6 in its checkpoint folder, one progress line a step, starting
# from what the checkpoints hold.
counting_script <- paste(
  'n=0; [ -f "$CHECKPOINTS/$HOST" ] && n=$(cat "$CHECKPOINTS/$HOST"); echo "from $n"',
  'while [ $n -lt 6 ]; do n=$((n+1)); echo $n > "$CHECKPOINTS/$HOST"; echo "sagesim-progress/1 $n"; sleep 0.3; done',
  "echo done", sep = "\n")

test_that("an interrupted Spot host resumes from its checkpoints, and Spot bills a share", {
  local_moto()
  session <- aws_session(role = role)
  record <- submitted_record(session)
  play_training_with_fake_runtime()
  inject_faults(Interrupt = list(`algo-2` = 2), SpotBillableFraction = 0.5)
  create_training(session, training_record_json(record, "sagesim-spot-1", session$bucket, spot = TRUE,
                                                 max_wait = 172800,
                                                 env = c(FAKE_HOST_SCRIPT = counting_script)))
  d <- await_training_job(session, "sagesim-spot-1")
  expect_identical(d$TrainingJobStatus, "Completed")
  expect_identical(transitions(d), c("Starting", "Downloading", "Training", "Interrupted", "Training",
                                     "Uploading", "Completed"))
  logs <- training_logs(session, "sagesim-spot-1")
  expect_match(names(logs), "^sagesim-spot-1/algo-[12]-[0-9]+")
  hosts <- regmatches(names(logs), regexpr("algo-[0-9]+", names(logs)))
  expect_identical(sort(hosts), c("algo-1", "algo-2", "algo-2"))
  algo2 <- logs[hosts == "algo-2"]
  # Killed after its second report; run again from the checkpoint it had
  # saved, in a new stream.
  expect_identical(algo2[[1]], c("from 0", "sagesim-progress/1 1", "sagesim-progress/1 2"))
  expect_identical(algo2[[2]][1], "from 2")
  expect_identical(utils::tail(algo2[[2]], 1), "done")
  expect_identical(logs[hosts == "algo-1"][[1]][1], "from 0")
  # The checkpoints were listed to restore every host at its start, and
  # algo-2 again after its interruption.
  restores <- Filter(function(r) identical(r$AccessKeyId, "EXECUTIONROLEKEY") &&
                       identical(r$Query$prefix, "sagesim-spot-1/checkpoints/"),
                     sent("s3:ListObjectsV2"))
  expect_length(restores, 3)
  expect_setequal(bucket_keys(session, "sagesim-spot-1/checkpoints/"),
                  c("sagesim-spot-1/checkpoints/algo-1", "sagesim-spot-1/checkpoints/algo-2"))
  expect_gte(d$TrainingTimeInSeconds, 1L)
  expect_identical(d$BillableTimeInSeconds, as.integer(ceiling(d$TrainingTimeInSeconds * 0.5)))
  expect_equal(d$TrainingTimeInSeconds, floor(d$TrainingEndTime - d$TrainingStartTime), tolerance = 1)
})

test_that("a Spot job without capacity ends MaxWaitTimeExceeded without running", {
  local_moto()
  session <- aws_session(role = role)
  record <- submitted_record(session)
  play_training_with_fake_runtime()
  inject_faults(NoSpotCapacity = TRUE)
  create_training(session, training_record_json(record, "sagesim-nocap-1", session$bucket, spot = TRUE,
                                                 max_wait = 172800))
  d <- await_training_job(session, "sagesim-nocap-1")
  expect_identical(c(d$TrainingJobStatus, d$SecondaryStatus), c("Stopped", "MaxWaitTimeExceeded"))
  expect_identical(c(d$BillableTimeInSeconds, d$TrainingTimeInSeconds), c(0L, 0L))
  expect_null(d$TrainingStartTime)
  expect_length(training_logs(session, "sagesim-nocap-1"), 0)
  # Only the next Spot job: the one after runs.
  create_training(session, training_record_json(record, "sagesim-nocap-2", session$bucket, spot = TRUE,
                                                 max_wait = 172800))
  expect_identical(await_training_job(session, "sagesim-nocap-2")$TrainingJobStatus, "Completed")
})

test_that("a host's failure fails the job with its failure text", {
  local_moto()
  session <- aws_session(role = role)
  record <- submitted_record(session)
  play_training_with_fake_runtime()
  script <- paste("echo \"variables $MODE $PLAYED\"; mkdir -p opt/ml/output",
                  "echo 'bad input' > opt/ml/output/failure; exit 3", sep = "; ")
  create_training(session, training_record_json(record, "sagesim-fail-1", session$bucket,
                                                 env = c(FAKE_HOST_SCRIPT = script)))
  d <- await_training_job(session, "sagesim-fail-1")
  expect_identical(c(d$TrainingJobStatus, d$SecondaryStatus), c("Failed", "Failed"))
  expect_identical(d$FailureReason, "AlgorithmError: bad input, exit code: 3")
  expect_identical(d$BillableTimeInSeconds, d$TrainingTimeInSeconds)
  # The hosts had the request's variables (the record's MODE) and the
  # launcher's (/play-jobs' PLAYED).
  logs <- training_logs(session, "sagesim-fail-1")
  expect_length(logs, 2)
  for (lines in logs) expect_identical(lines, "variables full yes")
})

test_that("a warm pool is reused by the next job of the same instances, and only by it", {
  local_moto()
  session <- aws_session(role = role)
  record <- submitted_record(session)
  play_training_with_fake_runtime()
  make <- function(name, script = "echo hi", record_ = record) {
    create_training(session, training_record_json(record_, name, session$bucket, keep_alive = 600,
                                                   env = c(FAKE_HOST_SCRIPT = script)))
  }
  make("sagesim-warm-1")
  first <- await_training_job(session, "sagesim-warm-1")
  expect_mapequal(first$WarmPoolStatus, list(Status = "Available", ResourceRetainedBillableTimeInSeconds = 0L))
  make("sagesim-warm-2", "sleep 2")
  running <- await_training_job(session, "sagesim-warm-2", function(d) identical(d$SecondaryStatus, "Training"))
  expect_identical(running$WarmPoolStatus, list(Status = "InUse"))
  reused <- describe_training(session, "sagesim-warm-1")$WarmPoolStatus
  expect_identical(reused$Status, "Reused")
  expect_identical(reused$ReusedByJob, "sagesim-warm-2")
  # Other instances (a count of 1) start anew, even while a pool is free.
  other <- jsonlite::fromJSON(record$json, simplifyVector = FALSE)
  other$plan$instance_count <- 1L
  other <- list(json = as.character(jsonlite::toJSON(other, auto_unbox = TRUE, null = "null", digits = NA)))
  second <- await_training_job(session, "sagesim-warm-2")
  expect_identical(second$WarmPoolStatus$Status, "Available")
  make("sagesim-warm-3", record_ = other)
  third <- await_training_job(session, "sagesim-warm-3")
  expect_identical(third$WarmPoolStatus$Status, "Available")
  expect_identical(describe_training(session, "sagesim-warm-2")$WarmPoolStatus$Status, "Available")
  listed <- sagesim:::aws_request(session, "sagemaker:ListTrainingJobs", list(SortBy = "Name"))
  pools <- vapply(listed$TrainingJobSummaries, function(s) s$WarmPoolStatus$Status, "")
  expect_identical(pools, c("Reused", "Available", "Available"))
})

test_that("training quotas refuse in SageMaker's words: warm pools, on-demand and Spot instances", {
  local_moto()
  session <- aws_session(role = role)
  record <- submitted_record(session)
  inject_faults(WarmPoolQuota = TRUE)
  warm <- training_record_json(record, "sagesim-quota-1", session$bucket, keep_alive = 60)
  expect_error(create_training(session, warm),
               "'ml.m5.xlarge for training warm pool usage' is 0 Instances, with current utilization of 0 Instances and a request delta of 2 Instances")
  # Once: the next such request goes through.
  again <- training_record_json(record, "sagesim-quota-4", session$bucket, keep_alive = 60)
  created <- create_training(session, again)
  expect_match(created$TrainingJobArn, "sagesim-quota-4$")
  inject_faults(InstanceLimit = 1)
  expect_error(create_training(session, training_record_json(record, "sagesim-quota-2", session$bucket,
                                                              spot = TRUE, max_wait = 172800)),
               "'ml.m5.xlarge for spot training job usage' is 1 Instances")
  expect_error(create_training(session, training_record_json(record, "sagesim-quota-3", session$bucket,
                                                              keep_alive = 60)),
               "'ml.m5.xlarge for training job usage' is 1 Instances")
  listed <- sagesim:::aws_request(session, "sagemaker:ListTrainingJobs", list())
  expect_identical(vapply(listed$TrainingJobSummaries, `[[`, "", "TrainingJobName"), "sagesim-quota-4")
})

test_that("a warm pool past its keep-alive is Terminated, and not reused", {
  local_moto()
  session <- aws_session(role = role)
  record <- submitted_record(session)
  play_training_with_fake_runtime()
  create_training(session, training_record_json(record, "sagesim-brief-1", session$bucket, keep_alive = 1))
  first <- await_training_job(session, "sagesim-brief-1")
  expect_identical(first$WarmPoolStatus$Status, "Available")
  Sys.sleep(1.5)
  expect_mapequal(describe_training(session, "sagesim-brief-1")$WarmPoolStatus,
                  list(Status = "Terminated", ResourceRetainedBillableTimeInSeconds = 1L))
  create_training(session, training_record_json(record, "sagesim-brief-2", session$bucket, keep_alive = 1,
                                                 env = c(FAKE_HOST_SCRIPT = "sleep 1")))
  running <- await_training_job(session, "sagesim-brief-2", function(d) identical(d$SecondaryStatus, "Training"))
  expect_null(running$WarmPoolStatus)
  expect_identical(describe_training(session, "sagesim-brief-1")$WarmPoolStatus$Status, "Terminated")
})
