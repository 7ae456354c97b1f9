# SageMaker's API model as a check of what sagesim sends: moto accepts
# almost any request (no lengths, patterns, ranges or enums), SageMaker does
# not. fixtures/api_model_check.py checks a body against botocore's copy of
# the model (botocore comes with moto).

# The problems api_model_check.py finds in `body` (a list, as
# recorded_sagemaker() returns a request) sent as `operation`
# ("CreateTrainingJob"): a list of list(path, problem), empty when valid.
api_model_problems <- function(operation, body) {
  input <- withr::local_tempfile(fileext = ".json")
  writeLines(jsonlite::toJSON(body, auto_unbox = TRUE, null = "null", digits = NA), input)
  checker <- normalizePath(test_path("fixtures", "api_model_check.py"))
  out <- suppressWarnings(python3(c(shQuote(checker), shQuote(operation)), stdin = input,
                                  stdout = TRUE, stderr = TRUE))
  status <- attr(out, "status")
  if (!is.null(status) && status != 0) {
    stop("api_model_check.py failed: ", paste(out, collapse = "\n"))
  }
  jsonlite::fromJSON(paste(out, collapse = "\n"), simplifyVector = FALSE)
}

# Fails, listing each problem (path: what is wrong), unless `body` is a
# valid `operation` request by SageMaker's API model.
expect_valid_request <- function(operation, body) {
  label <- paste(deparse(substitute(body)), collapse = "")
  problems <- api_model_problems(operation, body)
  lines <- vapply(problems, function(p) sprintf("* %s: %s", p$path, p$problem), character(1))
  testthat::expect(length(problems) == 0,
                   sprintf("%s is not a valid %s request:\n%s", label, operation,
                           paste(lines, collapse = "\n")))
  invisible(body)
}

# Every recorded request of `operation` since the test began, each checked
# against the API model; returns them.
expect_valid_requests <- function(operation) {
  sent <- recorded_sagemaker(operation)
  testthat::expect(length(sent) > 0, sprintf("no %s request was sent", operation))
  for (body in sent) expect_valid_request(operation, body)
  invisible(sent)
}

# A cloud job's record (submitted to moto, not run), whose plan the Training
# records below are made from.
submitted_record <- function(session, ...) {
  job <- submit_processing(simulation = simulation_spec(300, 200, 120, 101, seed = 17),
                           image_uri = image, instance_count = 2, wait = FALSE, session = session,
                           env = c(MODE = "full"), tags = c(project = "covid"),
                           network = network_config(subnets = "subnet-1", security_group_ids = "sg-1"),
                           volume_kms_key = "vol-key", output_kms_key = "out-key", ...)
  job$record
}

# The JSON of `record` (a job's record, job$record) made a Training job's:
# named `name`, with `training` as the job crate's TrainingPlan (spot,
# max_wait, keep_alive, checkpoint_uri, output_uri) under
# s3://{bucket}/{name}, and `env` added to the plan's. For
# aws_request(session, "sagemaker:CreateTrainingJob", json, json = TRUE)
# until the submit functions make such records themselves.
training_record_json <- function(record, name, bucket, spot = FALSE, max_wait = NULL,
                                 keep_alive = NULL, env = NULL) {
  value <- jsonlite::fromJSON(record$json, simplifyVector = FALSE)
  value$plan$name <- name
  if (!is.null(env)) value$plan$env <- utils::modifyList(value$plan$env %||% list(), as.list(env))
  value$plan$training <- list(
    spot = spot, max_wait = max_wait, keep_alive = keep_alive,
    checkpoint_uri = sprintf("s3://%s/%s/checkpoints", bucket, name),
    output_uri = sprintf("s3://%s/%s/training-output", bucket, name))
  as.character(jsonlite::toJSON(value, auto_unbox = TRUE, null = "null", digits = NA))
}

# The launcher plays training jobs (POST /play-jobs) with
# fixtures/fake_training_runtime.py instead of sagesim's runtime stand-in:
# each host runs the shell script in the job's FAKE_HOST_SCRIPT variable
# (HOST and CHECKPOINTS set), its checkpoints kept in S3. For tests of the
# Training life cycle of the stand-in itself.
play_training_with_fake_runtime <- function() {
  fake <- normalizePath(test_path("fixtures", "fake_training_runtime.py"))
  command <- python3_command()
  control("/play-jobs", list(Runtime = as.list(c(command, fake)), Environment = list(PLAYED = "yes")))
}

# Polls DescribeTrainingJob until `done(description)` holds; the description.
await_training_job <- function(session, name, done = function(d) {
  d$TrainingJobStatus %in% c("Completed", "Failed", "Stopped")
}, timeout = 60) {
  deadline <- Sys.time() + timeout
  repeat {
    d <- sagesim:::aws_request(session, "sagemaker:DescribeTrainingJob", list(TrainingJobName = name))
    if (done(d)) return(d)
    if (Sys.time() > deadline) stop("training job ", name, " is still ", d$TrainingJobStatus,
                                    " (", d$SecondaryStatus, ")")
    Sys.sleep(0.2)
  }
}
