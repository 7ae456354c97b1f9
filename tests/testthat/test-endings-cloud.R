# Nothing a host finished is ever lost, on SageMaker too: however a map job
# ends (stopped, its code failed on a host, a host lost, a host that never
# started), what its hosts finished comes back, and a resubmission runs only
# the rest. The hosts are played on this machine (fixtures/moto_launcher.py,
# POST /play-jobs); a map's results are a Continuous output, in S3 as written.
# (Simulations and sweeps: test-endings-cloud-sim.R.)

draw <- function(i) mean(stats::rnorm(5, mean = i))

# A map job on two played hosts, each element's results written as it
# finishes (SAGESIM_PROGRESS_EVERY = 0).
submit_played_map <- function(x, f, seed, session, ...) {
  submit_map(x, f, seed = seed, instance_count = 2, instance_type = "ml.m5.large",
             image_uri = image, env = c(SAGESIM_PROGRESS_EVERY = "0"), wait = FALSE,
             session = session, ...)
}

# The map results files the job's hosts delivered to S3.
delivered_results <- function(job, session) {
  destination <- job$outputs[[1]]$destination
  keys <- bucket_keys(session, sub("^s3://[^/]+/", "", destination))
  keys[grepl("map-results-.*[.]rds$", keys)]
}

# Which elements of a partial result are unfinished.
unfinished_elements <- function(partial) {
  which(vapply(partial, inherits, NA, "sagesim_element_unfinished"))
}

test_that("a stopped cloud map keeps what its hosts finished, and a resubmission runs only the rest", {
  local_moto()
  session <- aws_session(role = role)
  play_jobs()
  clean <- job_collect(submit_map(1:40, draw, seed = 5, instance_type = "local", logs = FALSE))
  slow_draw <- function(i) {
    Sys.sleep(0.3)
    draw(i)
  }
  job <- submit_played_map(1:40, slow_draw, seed = 5, session = session)
  wait_for_progress(job, done = 6)
  expect_message(job_stop(job), "stop")
  stops <- recorded_sagemaker("StopProcessingJob")
  expect_length(stops, 1)
  expect_identical(stops[[1]]$ProcessingJobName, job$name)
  expect_warning(job_wait(job, logs = FALSE, timeout = 60), class = "sagesim_job_stopped")
  expect_identical(job_status(job)$status, "Stopped")
  # The hosts stopped: what they had written, and no more, was delivered.
  delivered <- delivered_results(job, session)
  expect_gt(length(delivered), 0)
  expect_lt(length(delivered), 40)
  # A stopped job stays stopped; SageMaker refuses to stop it again.
  Sys.sleep(1)
  expect_identical(job_status(job)$status, "Stopped")
  expect_error(sagesim:::aws_request(session, "sagemaker:StopProcessingJob",
                                     list(ProcessingJobName = job$name)),
               class = "sagesim_aws_ValidationException")
  expect_identical(delivered_results(job, session), delivered)

  expect_warning(partial <- job_collect(job, errors = "return"), class = "sagesim_partial_results")
  expect_length(partial, 40)
  unfinished <- unfinished_elements(partial)
  expect_gt(length(unfinished), 0)
  expect_lt(length(unfinished), 40)
  expect_identical(partial[-unfinished], clean[-unfinished])

  rest <- job_resubmit(job, logs = FALSE)
  expect_identical(rest$record$resubmission_of, job$name)
  expect_identical(rest$elements, length(unfinished))
  expect_identical(sagesim:::map_payload_of(rest)$indices, unfinished)
  expect_identical(job_collect(rest), clean)
})

test_that("a cloud map whose code fails on one host keeps the other's elements; a fixed f finishes it", {
  local_moto()
  session <- aws_session(role = role)
  play_jobs()
  fixed <- function(i) draw(i)
  clean <- job_collect(submit_map(1:4, fixed, seed = 2, instance_type = "local", logs = FALSE))
  # Element 3 is the first of algo-2's two.
  broken <- function(i) {
    if (i == 3) quit(status = 3)
    draw(i)
  }
  job <- submit_played_map(1:4, broken, seed = 2, session = session, retries = 0)
  error <- tryCatch(suppressMessages(job_wait(job, logs = FALSE, timeout = 120)), error = identity)
  expect_s3_class(error, "sagesim_job_failed")
  expect_match(error$failure_reason, "^AlgorithmError: algo-2 exited with status 3")
  expect_length(recorded_sagemaker("CreateProcessingJob"), 1)

  expect_warning(partial <- job_collect(job, errors = "return"), class = "sagesim_partial_results")
  expect_identical(partial[1:2], clean[1:2])
  expect_identical(unfinished_elements(partial), 3:4)

  again <- job_resubmit(job, f = fixed, logs = FALSE)
  expect_identical(sagesim:::map_payload_of(again)$indices, 3:4)
  expect_identical(job_collect(again), clean)
})

test_that("a cloud map that loses a host, with no retries, keeps what its hosts finished", {
  local_moto()
  session <- aws_session(role = role)
  play_jobs()
  clean <- job_collect(submit_map(1:20, draw, seed = 6, instance_type = "local", logs = FALSE))
  slow_draw <- function(i) {
    Sys.sleep(0.2)
    draw(i)
  }
  # algo-2 is killed once it has reported 0, 1, 2 and 3 elements done.
  inject_faults(LoseHost = list(Host = "algo-2", AfterReports = 4))
  job <- submit_played_map(1:20, slow_draw, seed = 6, session = session, retries = 0)
  error <- tryCatch(suppressMessages(job_wait(job, logs = FALSE, timeout = 120)), error = identity)
  expect_s3_class(error, "sagesim_job_failed")
  expect_match(error$failure_reason, "^InternalServerError")
  expect_length(job$record$attempts, 0)
  expect_length(recorded_sagemaker("CreateProcessingJob"), 1)

  expect_warning(partial <- job_collect(job, errors = "return"), class = "sagesim_partial_results")
  unfinished <- unfinished_elements(partial)
  # algo-1 finished its share (1 to 10); algo-2 some of its own, not all.
  expect_gt(length(unfinished), 0)
  expect_lt(length(unfinished), 10)
  expect_true(all(unfinished > 10))
  expect_identical(partial[-unfinished], clean[-unfinished])
})

test_that("a cloud map with a host that never starts keeps the other's elements, and says which host", {
  local_moto()
  session <- aws_session(role = role)
  play_jobs()
  clean <- job_collect(submit_map(1:10, draw, seed = 8, instance_type = "local", logs = FALSE))
  inject_faults(NeverStart = list(Host = "algo-2"))
  job <- submit_played_map(1:10, draw, seed = 8, session = session, retries = 0)
  error <- tryCatch(suppressMessages(job_wait(job, logs = FALSE, timeout = 120)), error = identity)
  expect_s3_class(error, "sagesim_job_failed")
  expect_match(error$failure_reason, "^InternalServerError")
  expect_length(job$record$attempts, 0)
  # algo-2 never ran: it logged nothing.
  logs <- job_logs(job)
  expect_true("algo-1" %in% logs$host)
  expect_false("algo-2" %in% logs$host)

  expect_warning(partial <- job_collect(job, errors = "return"), class = "sagesim_partial_results")
  expect_identical(partial[1:5], clean[1:5])
  expect_identical(unfinished_elements(partial), 6:10)
  said <- vapply(partial[6:10], conditionMessage, "")
  # (SageMaker says why the job failed, not which host: the reason is the job's.)
  expect_match(said, "before host algo-2 finished it")
  expect_match(said, "InternalServerError")

  rest <- job_resubmit(job, logs = FALSE)
  expect_identical(sagesim:::map_payload_of(rest)$indices, 6:10)
  expect_identical(job_collect(rest), clean)
})
