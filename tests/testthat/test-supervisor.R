# A local job's supervisor delivers its outputs when its hosts end, so that
# reading a status never copies files (R/supervisor.R).

# A script job of `hosts` hosts, each writing a file of its own to the
# output "out" after `sleep` seconds.
output_job <- function(hosts = 2, sleep = 0, wait = TRUE, env = parent.frame()) {
  script <- withr::local_tempfile(fileext = ".R", .local_envir = env, lines = c(
    sprintf("Sys.sleep(%s)", sleep),
    "host <- sagesim::processing_config()$current_host",
    "writeLines(host, file.path('/opt/ml/processing/output/out', paste0(host, '.txt')))"))
  submit_processing(code = script, instance_type = "local", instance_count = hosts,
                    outputs = list(processing_output("/opt/ml/processing/output/out", name = "out")),
                    wait = wait, logs = FALSE)
}

delivered_files <- function(job) {
  sort(list.files(Filter(function(o) o$name == "out", job$outputs)[[1]]$destination))
}

test_that("reading a status never copies files: the job's supervisor delivers them", {
  use_temp_job_dir()
  # In this session delivering fails: a status read that delivered would
  # fail the job. The supervisor runs in a process of its own.
  original <- sagesim:::deliver_outputs
  copied <- FALSE
  utils::assignInNamespace("deliver_outputs", function(...) {
    copied <<- TRUE
    stop("a status read copied files")
  }, "sagesim")
  withr::defer(utils::assignInNamespace("deliver_outputs", original, "sagesim"))
  job <- output_job()
  expect_identical(job_status(job)$status, "Completed")
  expect_identical(delivered_files(job), c("algo-1.txt", "algo-2.txt"))
  pid <- as.integer(readLines(file.path(job$dir, "supervisor", "pid")))
  expect_false(sagesim:::process_alive(pid))
  # Read again (and from a new handle): the same, nothing copied.
  expect_identical(job_status(job_attach(job$name))$status, "Completed")
  expect_false(copied)
})

test_that("a supervisor killed before it delivered is started again when the status is read", {
  use_temp_job_dir()
  job <- output_job(sleep = 2, wait = FALSE)
  pid_file <- file.path(job$dir, "supervisor", "pid")
  deadline <- Sys.time() + 30
  while (!file.exists(pid_file) && Sys.time() < deadline) Sys.sleep(0.05)
  tools::pskill(as.integer(readLines(pid_file)), tools::SIGKILL)
  # Until outputs are delivered the job is not over, as a SageMaker job
  # that is uploading.
  job_wait(job)
  expect_identical(job$last_status$status, "Completed")
  expect_identical(delivered_files(job), c("algo-1.txt", "algo-2.txt"))
  expect_length(readLines(file.path(job$dir, "supervisor", "started")), 1)
})

test_that("a stopped job's outputs are delivered before job_stop() returns", {
  use_temp_job_dir()
  script <- withr::local_tempfile(fileext = ".R", lines = c(
    "host <- sagesim::processing_config()$current_host",
    "writeLines(host, file.path('/opt/ml/processing/output/out', paste0(host, '.txt')))",
    "Sys.sleep(60)"))
  job <- submit_processing(code = script, instance_type = "local", instance_count = 2,
                           outputs = list(processing_output("/opt/ml/processing/output/out",
                                                            name = "out", s3_upload_mode = "Continuous")),
                           wait = FALSE, logs = FALSE)
  files <- file.path(job$dir, "hosts", c("algo-1", "algo-2"), "opt", "ml", "processing", "output",
                     "out", c("algo-1.txt", "algo-2.txt"))
  deadline <- Sys.time() + 30
  while (!all(file.exists(files)) && Sys.time() < deadline) Sys.sleep(0.05)
  withr::local_options(sagesim.stop_grace = 1)
  suppressMessages(job_stop(job))
  expect_identical(job$last_status$status, "Stopped")
  expect_identical(delivered_files(job), c("algo-1.txt", "algo-2.txt"))
})
