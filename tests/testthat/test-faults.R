# Faults between sagesim and AWS, injected per request in front of moto
# (fixtures/moto_launcher.py, POST /faults "Requests"): transient ones are
# retried by the SDK (R/session.R: `sagesim.aws_max_attempts`, default 5)
# to the same end result; a reply lost after SageMaker created the job
# neither makes a second job nor loses the first; a submission that fails
# leaves nothing behind.

# The processing jobs SageMaker (moto) has.
processing_jobs <- function(session) {
  listed <- sagesim:::aws_request(session, "sagemaker:ListProcessingJobs", list())
  vapply(listed$ProcessingJobSummaries, `[[`, "", "ProcessingJobName")
}

test_that("throttling, 500s, 503s, reset connections and a slow reply are retried to the same result", {
  local_moto()
  session <- aws_session(role = role)
  play_jobs()
  spec <- simulation_spec(300, 200, 120, 41, seed = 11)
  inject_request_faults(
    list(Operation = "s3:HeadBucket", Fault = "ServiceUnavailable"),
    list(Operation = "s3:PutObject", Fault = "InternalError"),
    list(Operation = "s3:PutObject", Fault = "Reset"),
    list(Operation = "sagemaker:CreateProcessingJob", Fault = "Throttle", Count = 2),
    list(Operation = "sagemaker:DescribeProcessingJob", Fault = "ServiceUnavailable", Count = 2),
    list(Operation = "sagemaker:DescribeProcessingJob", Fault = "Slow", Seconds = 2),
    list(Operation = "logs:DescribeLogStreams", Fault = "Throttle"),
    list(Operation = "logs:GetLogEvents", Fault = "Reset"),
    list(Operation = "s3:ListObjectsV2", Fault = "Reset"),
    list(Operation = "s3:GetObject", Fault = "InternalError"))
  job <- submit_processing(simulation = spec, image_uri = image, instance_count = 2, wait = FALSE,
                           session = session)
  capture.output(job_wait(job, logs = TRUE, timeout = 120))
  result <- job_collect(job)
  expected <- simulate_local(300, 200, 120, 41, seed = 11)
  expect_identical(result$values, expected$values)
  expect_identical(result$counts, expected$counts)
  # Every fault was met (and retried), and one job was made.
  injected <- inject_faults()$injected
  expect_identical(injected[order(names(injected))],
                   list(InternalError = 2L, Reset = 3L, ServiceUnavailable = 3L, Slow = 1L, Throttle = 3L))
  expect_identical(processing_jobs(session), job$name)
  expect_length(sent("sagemaker:CreateProcessingJob"), 3)
})

test_that("a job whose creation reply is lost is the submission's: no second job, none stopped", {
  local_moto()
  session <- aws_session(role = role)
  play_jobs()
  spec <- simulation_spec(300, 200, 120, 41, seed = 12)
  # The connection drops after SageMaker created the job; the SDK's retry is
  # told the name is taken.
  inject_request_faults(list(Operation = "sagemaker:CreateProcessingJob", Fault = "ResetAfter"))
  expect_message(job <- submit_processing(simulation = spec, image_uri = image, instance_count = 2,
                                          wait = FALSE, session = session),
                 "reply to the creation of .* was lost; the job it created is used")
  creates <- sent("sagemaker:CreateProcessingJob")
  expect_length(creates, 2)
  expect_identical(unique(vapply(creates, function(r) r$Body$ProcessingJobName, "")), job$name)
  expect_identical(processing_jobs(session), job$name)
  expect_length(sent("sagemaker:StopProcessingJob"), 0)
  job_wait(job, logs = FALSE, timeout = 120)
  expect_identical(job_collect(job)$values, simulate_local(300, 200, 120, 41, seed = 12)$values)

  # Answered 500 after the job was made, then "in use" (POST /lose-reply):
  # the same.
  control("/lose-reply", list(Target = "SageMaker.CreateProcessingJob"))
  expect_message(again <- submit_processing(simulation = spec, image_uri = image, instance_count = 2,
                                            wait = FALSE, session = session),
                 "was lost; the job it created is used")
  expect_setequal(processing_jobs(session), c(job$name, again$name))
  expect_length(sent("sagemaker:StopProcessingJob"), 0)
  job_wait(again, logs = FALSE, timeout = 120)
  expect_identical(job_collect(again)$values, simulate_local(300, 200, 120, 41, seed = 12)$values)
})

test_that("a submission that fails for good leaves no job and no uploads behind", {
  local_moto()
  session <- aws_session(role = role)
  data <- withr::local_tempdir()
  writeLines("x", file.path(data, "a.csv"))
  # More server errors than the SDK tries: the job was never made.
  inject_request_faults(list(Operation = "sagemaker:CreateProcessingJob", Fault = "InternalError",
                             Count = 5))
  expect_error(submit_processing(code = local_script(), image_uri = image, inputs = c(data = data),
                                 wait = FALSE, session = session),
               class = "sagesim_aws_InternalFailure")
  expect_length(sent("sagemaker:CreateProcessingJob"), 5)
  expect_length(processing_jobs(session), 0)
  expect_length(bucket_keys(session), 0)
  # Refused (the service's 400): nothing is retried, nothing is left.
  inject_request_faults(list(Operation = "sagemaker:CreateProcessingJob", Fault = "AccessDenied"))
  expect_error(submit_processing(code = local_script(), image_uri = image, inputs = c(data = data),
                                 wait = FALSE, session = session),
               class = "sagesim_access_denied")
  expect_length(sent("sagemaker:CreateProcessingJob"), 6)
  expect_length(processing_jobs(session), 0)
  expect_length(bucket_keys(session), 0)
})
