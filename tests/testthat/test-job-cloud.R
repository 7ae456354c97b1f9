# SageMaker job handles against moto, with the launcher driving job status.


submit_simulation <- function(session, spec = simulation_spec(300, 200, 120, 101, seed = 17), ...) {
  submit_processing(simulation = spec, image_uri = image, wait = FALSE, session = session, ...)
}

# Changes a job's status from another process after a delay, while R waits.
set_status_later <- function(seconds, name, status, reason = NULL) {
  body <- jsonlite::toJSON(Filter(Negate(is.null), list(
    ProcessingJobName = name, Status = status, FailureReason = reason)), auto_unbox = TRUE)
  code <- sprintf(paste0("import time, urllib.request; time.sleep(%s); ",
                         "urllib.request.urlopen(urllib.request.Request('http://127.0.0.1:%d/processing-job', ",
                         "data=%s.encode(), headers={'Content-Type': 'application/json'}))"),
                  seconds, moto$control_port, deparse(as.character(body)))
  python3(c("-c", shQuote(code)), wait = FALSE)
}

test_that("waiting polls until Completed and streams every host's logs", {
  local_moto()
  session <- aws_session(role = role)
  job <- submit_simulation(session, instance_count = 2)
  set_job_status(job$name, "InProgress")
  put_job_logs(job$name, "algo-1", c("starting", "half way"))
  put_job_logs(job$name, "algo-2", "algo-2 says hello")
  set_status_later(1.5, job$name, "Completed")
  output <- capture.output(job_wait(job, poll = 0.2))
  expect_true("[algo-1] starting" %in% output)
  expect_true("[algo-1] half way" %in% output)
  expect_true("[algo-2] algo-2 says hello" %in% output)
  # Each line exactly once, although the logs were polled many times.
  expect_identical(sum(output == "[algo-1] half way"), 1L)
  expect_identical(job_status(job)$status, "Completed")
  logs <- job_logs(job)
  expect_setequal(logs$host, c("algo-1", "algo-2"))
  expect_identical(logs$message[logs$host == "algo-1"], c("starting", "half way"))
})

test_that("a failed job raises its FailureReason; a stopped job ends the wait", {
  local_moto()
  session <- aws_session(role = role)
  job <- submit_simulation(session)
  set_job_status(job$name, "InProgress")
  set_status_later(1, job$name, "Failed", "AlgorithmError: the model diverged")
  error <- tryCatch(job_wait(job, poll = 0.2, logs = FALSE), error = identity)
  expect_s3_class(error, "sagesim_job_failed")
  expect_identical(error$failure_reason, "AlgorithmError: the model diverged")
  expect_match(conditionMessage(error), "the model diverged")
  expect_identical(error$job$name, job$name)
  expect_error(job_collect(job), class = "sagesim_job_failed")

  # The worker's /opt/ml/output/message reaches R as the ExitMessage.
  crashed <- submit_simulation(session)
  set_job_status(crashed$name, "Failed", "AlgorithmError: see the job logs",
                 exit_message = "Error in run_worker(): --seed must be a whole number")
  error <- tryCatch(job_wait(crashed, logs = FALSE), error = identity)
  expect_s3_class(error, "sagesim_job_failed")
  expect_identical(error$exit_message, "Error in run_worker(): --seed must be a whole number")
  expect_match(conditionMessage(error), "Exit message: Error in run_worker\\(\\): --seed")
  expect_identical(job_status(crashed)$exit_message, error$exit_message)

  other <- submit_simulation(session)
  set_job_status(other$name, "InProgress")
  expect_error(job_wait(other, poll = 0.1, timeout = 0.5, logs = FALSE), class = "sagesim_wait_timeout")
  expect_error(job_collect(other), class = "sagesim_job_not_finished")
  expect_message(job_stop(other), "stop")
  expect_warning(job_wait(other, poll = 0.1, logs = FALSE), class = "sagesim_job_stopped")
  expect_identical(job_status(other)$status, "Stopped")
  # Stopping an ended job asks SageMaker nothing (it would refuse).
  expect_message(job_stop(other), "has already ended \\(Stopped\\); nothing to stop")
  stops <- Filter(function(r) identical(r$ProcessingJobName, other$name),
                  recorded_sagemaker("StopProcessingJob"))
  expect_length(stops, 1)
})

test_that("a new handle prints as InProgress; missing or unreadable logs do not end the wait", {
  local_moto()
  session <- aws_session(role = role)
  job <- submit_simulation(session)
  # (moto completes a job the moment it is created.)
  set_job_status(job$name, "InProgress")
  expect_output(print(job), "status:    InProgress")
  expect_output(print(job), "elapsed:   [0-9.]+ s")
  # No log group yet (the account's first job): nothing to show, no fuss.
  set_job_status(job$name, "InProgress")
  set_status_later(0.6, job$name, "Completed")
  expect_no_warning(job_wait(job, poll = 0.2))
  expect_identical(job_status(job)$status, "Completed")

  # Logs that cannot be read (throttled, say): said once, and the wait goes on.
  other <- submit_simulation(session)
  set_job_status(other$name, "InProgress")
  set_status_later(0.6, other$name, "Completed")
  class(other) <- c("sagesim_test_unreadable_logs", class(other))
  registerS3method("new_log_lines", "sagesim_test_unreadable_logs", function(job, cursors = "log_cursors") {
    sagesim:::abort("AWS logs GetLogEvents failed (ThrottlingException): Rate exceeded",
                    class = c("sagesim_aws_ThrottlingException", "sagesim_aws_error"))
  }, envir = asNamespace("sagesim"))
  warned <- character()
  withCallingHandlers(job_wait(other, poll = 0.2), warning = function(w) {
    warned <<- c(warned, conditionMessage(w))
    invokeRestart("muffleWarning")
  })
  expect_length(warned, 1)
  expect_match(warned, "Could not read the logs .*Rate exceeded.*still waiting")
  expect_identical(job_status(other)$status, "Completed")
})

test_that("jobs can be re-attached by name, listed, and printed", {
  local_moto()
  session <- aws_session(role = role)
  a <- submit_simulation(session, base_job_name = "alpha")
  Sys.sleep(0.01)
  b <- submit_processing(code = local_script(),
                         image_uri = image, base_job_name = "beta", wait = FALSE, session = session)
  again <- job_attach(a$name, session = session)
  expect_s3_class(again, "sagesim_cloud_job")
  expect_identical(again$kind, "simulation")
  expect_identical(job_attach(b$name, session = session)$kind, "script")
  expect_identical(again$outputs[[1]]$destination,
                   sprintf("s3://%s/%s/output/simulation", session$bucket, a$name))
  jobs <- list_jobs(session = session)
  expect_s3_class(jobs, "data.frame")
  expect_setequal(jobs$name, c(a$name, b$name))
  expect_identical(list_jobs(name_contains = "beta", session = session)$name, b$name)
  expect_output(print(again), a$name, fixed = TRUE)
  expect_output(print(job_status(again)), "Completed")
})

test_that("collecting a simulation job merges every host's results into the local result", {
  local_moto()
  session <- aws_session(role = role)
  job <- submit_simulation(session, instance_count = 2)
  # What the two hosts would upload at the end of the job, signed with the
  # key its request gave them.
  root <- withr::local_tempdir()
  out <- file.path(root, "out")
  for (host in c("algo-1", "algo-2")) local({
    fake_opt_ml(file.path(root, host), host, c("algo-1", "algo-2"))
    withr::local_envvar(SAGESIM_RESULTS_KEY = sagesim:::secret_value(job$results_key))
    capture.output(run_worker(c("--x-length", "300", "--y-length", "200", "--num-people", "120",
                                "--max-iterations", "101", "--seed", "17", "--output-dir", out),
                              exit_on_error = FALSE))
  })
  for (file in list.files(out)) {
    sagesim:::aws_request(session, "s3:PutObjectFromFile", list(
      Bucket = session$bucket, Key = sprintf("%s/output/simulation/%s", job$name, file),
      Path = file.path(out, file)))
  }
  path <- file.path(withr::local_tempdir(), "collected")
  result <- job_collect(job, path = path)
  local <- simulate_local(300, 200, 120, 101, seed = 17)
  expect_identical(result$values, local$values)
  expect_identical(result$sd, local$sd)
  expect_true(file.exists(file.path(path, "simulation", "sagesim-result-algo-2-00001.json")))
  expect_false(any(grepl("partial", list.files(dirname(path)))))
})

test_that("collecting a script job returns its files and output_result_mean.txt", {
  local_moto()
  session <- aws_session(role = role)
  script <- local_script()
  job <- submit_processing(code = script, image_uri = image, session = session, wait = FALSE,
                           outputs = c(result = "/opt/ml/processing/output"))
  value <- withr::local_tempfile()
  writeLines("0.1128", value)
  sagesim:::aws_request(session, "s3:PutObjectFromFile", list(
    Bucket = session$bucket, Key = sprintf("%s/output/result/output_result_mean.txt", job$name),
    Path = value))
  files <- job_collect(job)
  expect_s3_class(files, "sagesim_job_files")
  expect_identical(files$result_mean, 0.1128)
  expect_identical(files$files$file, "result/output_result_mean.txt")
})

test_that("the defaults of the cloud path: wait and logs on, the default session, attach and list", {
  local_moto()
  # The launcher logs these a second after each job's status changed: only
  # job_wait()'s last look, final_log_delay later, can see them.
  play_jobs(late_lines = "the very last line")
  withr::local_options(sagesim.final_log_delay = 2.5)
  spec <- simulation_spec(300, 200, 120, 2001)
  # No session, no wait = FALSE: the job runs while submit_processing() follows it.
  output <- capture.output(
    job <- submit_processing(simulation = spec, image_uri = image, role = "SageMakerRole",
                             instance_count = 2))
  # Both hosts' lines, as they came while the job ran, and the line logged
  # after the job had ended (read once more after the end).
  expect_true(any(grepl("^\\[algo-1\\] .*algo-1 \\(host 1 of 2\\)", output)))
  expect_true(any(grepl("^\\[algo-2\\] .*algo-2: done in", output)))
  expect_identical(sum(output == "[algo-1] the very last line"), 1L)
  expect_identical(sum(output == "[algo-2] the very last line"), 1L)
  expect_identical(job_status(job)$status, "Completed")
  # Picked up again by name alone, with the default session.
  again <- job_attach(job$name)
  expect_identical(again$kind, "simulation")
  expect_identical(job_collect(again)$values, simulate_local(spec)$values)
  jobs <- list_jobs()
  expect_identical(jobs$name, job$name)
  expect_identical(jobs$status, "Completed")
})

test_that("list_jobs() shows the newest jobs of a real account's size, page by page", {
  local_moto()
  session <- aws_session(role = role)
  names <- sprintf("bulk-%03d", 1:160)
  for (name in names) {
    sagesim:::aws_request(session, "sagemaker:CreateProcessingJob", list(
      format = "sagesim-job/1", sagesim_version = "0.1.0", created = 1.7e9,
      work = list(kind = "script", code = "x.R"),
      plan = list(name = name, role = role, image_uri = image, entrypoint = list("Rscript", "x.R"),
                  instance_count = 1, instance_type = "ml.m5.xlarge", volume_size_gb = 30,
                  max_runtime = 60)))
  }
  http_request(moto$port, "POST", "/moto-api/recorder/reset-recording")
  expect_identical(list_jobs(5, session = session)$name, rev(names)[1:5])
  expect_identical(list_jobs(session = session)$name, rev(names)[1:20])
  many <- list_jobs(150, session = session)
  expect_identical(nrow(many), 150L)
  expect_identical(many$name, rev(names)[1:150])
  # Asked of SageMaker newest first, in pages of at most 100.
  asked <- recorded_sagemaker("ListProcessingJobs")
  expect_true(all(vapply(asked, function(a) {
    identical(a$SortBy, "CreationTime") && identical(a$SortOrder, "Descending") && a$MaxResults <= 100
  }, logical(1))))
  expect_identical(vapply(asked, function(a) a$MaxResults, 1L), c(5L, 20L, 100L, 50L))
  # Filters are the server's.
  expect_identical(list_jobs(3, name_contains = "bulk-15", session = session)$name,
                   sprintf("bulk-%03d", 159:157))
})

test_that("collecting a simulation job whose hosts wrote no results names them and where it looked", {
  local_moto()
  session <- aws_session(role = role)
  spec <- simulation_spec(300, 200, 120, 41, seed = 3)
  # moto completes a job at once, and nothing runs it: no host wrote anything.
  nothing <- submit_processing(simulation = spec, image_uri = image, instance_count = 2,
                               wait = FALSE, session = session)
  error <- tryCatch(job_collect(nothing), error = identity)
  expect_s3_class(error, "sagesim_results_missing")
  expect_s3_class(error, "sagesim_results_error")
  expect_identical(error$missing_hosts, c("algo-1", "algo-2"))
  prefix <- sprintf("s3://%s/%s/output/simulation", session$bucket, nothing$name)
  expect_identical(error$location, prefix)
  expect_match(conditionMessage(error), "hosts algo-1, algo-2", fixed = TRUE)
  expect_match(conditionMessage(error), prefix, fixed = TRUE)
  expect_false(dir.exists(file.path(tempdir(), nothing$name)))
  # One host's results lost on the way: never a partial merge.
  play_jobs()
  job <- submit_processing(simulation = spec, image_uri = image, instance_count = 3,
                           wait = FALSE, session = session)
  job_wait(job, logs = FALSE, timeout = 120)
  sagesim:::aws_request(session, "s3:DeleteObjects", list(
    Bucket = session$bucket,
    Keys = list(sprintf("%s/output/simulation/sagesim-result-algo-2-00001.json", job$name))))
  path <- file.path(withr::local_tempdir(), "collected")
  error <- tryCatch(job_collect(job, path = path), error = identity)
  expect_s3_class(error, "sagesim_results_missing")
  expect_identical(error$missing_hosts, "algo-2")
  expect_match(conditionMessage(error), "host algo-2 (of algo-1, algo-2, algo-3)", fixed = TRUE)
  expect_false(dir.exists(path))
  expect_length(list.files(dirname(path)), 0)
})
