# The RStudio Jobs pane, through rstudioapi's own dispatch: rstudioapi asks
# isAvailable() (R's GUI is "RStudio", which RStudio sets by embedding R),
# then calls RStudio's side, `.rs.api.<name>` in the `tools:rstudio`
# environment. Here that side is a recording fake.

skip_if_not_installed("rstudioapi")
skip_if_not_installed("later")

# RStudio's side for the rest of the calling test: every call recorded (in
# the returned environment's `calls`), `addJob` answering with an id.
# `rstudio = FALSE` attaches the fake without claiming to be RStudio.
# `broken` names a function that fails, as a crashed pane would.
local_fake_rstudio <- function(rstudio = TRUE, broken = NULL, env = parent.frame()) {
  record <- new.env(parent = emptyenv())
  record$calls <- list()
  side <- attach(NULL, name = "tools:rstudio")
  withr::defer(detach("tools:rstudio", character.only = TRUE), envir = env)
  side$.rs.api.versionInfo <- function() list(version = package_version("2023.12.1"), mode = "desktop")
  for (name in c("addJob", "setJobProgress", "setJobStatus", "setJobState", "addJobOutput",
                 "addJobProgress", "removeJob")) {
    local({
      name <- name
      assign(paste0(".rs.api.", name), function(...) {
        if (identical(name, broken)) stop("the pane went away")
        record$calls[[length(record$calls) + 1]] <- list(name = name, args = list(...))
        if (name == "addJob") sprintf("rstudio-job-%d", length(record$calls)) else invisible(NULL)
      }, envir = side)
    })
  }
  # Not kept in this frame, which the deferred clean-ups keep alive (and
  # closures of the test, shipped to jobs, would carry along).
  rm(side)
  if (rstudio) {
    platform <- .Platform
    withr::defer({
      unlockBinding(".Platform", baseenv())
      assign(".Platform", platform, envir = baseenv())
      lockBinding(".Platform", baseenv())
    }, envir = env)
    fake <- platform
    fake$GUI <- "RStudio"
    unlockBinding(".Platform", baseenv())
    assign(".Platform", fake, envir = baseenv())
    lockBinding(".Platform", baseenv())
  }
  record
}

calls_named <- function(record, name) {
  Filter(function(call) identical(call$name, name), record$calls)
}

# Runs later's callbacks (as RStudio's idle console does) until `done()`.
pump_until <- function(done, timeout = 60) {
  deadline <- Sys.time() + timeout
  while (!done() && Sys.time() < deadline) later::run_now(0.1)
  expect_true(done())
}

test_that("a job that is waited on shows in the Jobs pane: its elements done, status, log lines and end", {
  use_temp_job_dir()
  record <- local_fake_rstudio()
  expect_true(rstudioapi::isAvailable())
  job <- submit_map(1:6, function(i) i^2, instance_count = 2, logs = FALSE)
  added <- calls_named(record, "addJob")
  expect_length(added, 1)
  expect_identical(added[[1]]$args$name, sprintf("%s (map)", job$name))
  expect_identical(added[[1]]$args$progressUnits, 6L)
  expect_true(added[[1]]$args$running)
  expect_true(is.function(added[[1]]$args$actions$stop))
  progress <- vapply(calls_named(record, "setJobProgress"), function(call) call$args$units, 1L)
  expect_identical(progress[[length(progress)]], 6L)
  expect_true(all(diff(progress) >= 0))
  status <- vapply(calls_named(record, "setJobStatus"), function(call) call$args$status, "")
  expect_identical(status[[length(status)]], "Completed: 6 of 6 elements done")
  output <- paste(vapply(calls_named(record, "addJobOutput"), function(call) call$args$output, ""),
                  collapse = "")
  # Hosts' progress reports read as words, not as their log format.
  expect_match(output, "\\[algo-1\\] 3 of 3 elements done\n")
  expect_match(output, "\\[algo-2\\] 3 of 3 elements done\n")
  expect_no_match(output, "sagesim-progress")
  states <- calls_named(record, "setJobState")
  expect_length(states, 1)
  expect_identical(states[[1]]$args$state, "succeeded")
  # Every call is about the job RStudio gave an id for, and the end is last.
  ids <- vapply(record$calls[-1], function(call) call$args$job, "")
  expect_true(all(ids == "rstudio-job-1"))
  expect_identical(record$calls[[length(record$calls)]]$name, "setJobState")
  expect_identical(job_collect(job), as.list((1:6)^2))
})

test_that("with wait = FALSE the console stays free while the pane follows the job; Stop calls job_stop()", {
  use_temp_job_dir()
  record <- local_fake_rstudio()
  job <- submit_map(1:4, function(i) {
    Sys.sleep(1)
    i
  }, instance_count = 2, wait = FALSE, logs = FALSE)
  # Back at the console at once, the job running; in the pane as soon as
  # the console is idle.
  expect_identical(job_status(job)$status, "InProgress")
  expect_length(record$calls, 0)
  later::run_now(0)
  added <- calls_named(record, "addJob")
  expect_length(added, 1)
  expect_identical(added[[1]]$args$progressUnits, 4L)
  pump_until(function() length(calls_named(record, "setJobState")) > 0)
  expect_identical(calls_named(record, "setJobState")[[1]]$args$state, "succeeded")
  progress <- calls_named(record, "setJobProgress")
  expect_identical(progress[[length(progress)]]$args$units, 4L)
  expect_identical(job_status(job)$status, "Completed")

  # The pane's Stop button.
  long <- submit_map(1:2, function(i) {
    Sys.sleep(120)
    i
  }, wait = FALSE, logs = FALSE)
  later::run_now(0)
  added <- calls_named(record, "addJob")
  expect_length(added, 2)
  stop_action <- added[[2]]$args$actions$stop
  expect_message(stop_action("rstudio-job-id"), sprintf("Stopped local job %s", long$name))
  pump_until(function() length(calls_named(record, "setJobState")) > 1)
  expect_identical(calls_named(record, "setJobState")[[2]]$args$state, "cancelled")
  expect_identical(job_status(long)$status, "Stopped")
})

test_that("a wait that ends before its job hands the pane's entry to the background updater", {
  use_temp_job_dir()
  record <- local_fake_rstudio()
  withr::local_options(sagesim.wait_timeout = 1, sagesim.mount_namespace = "none")
  error <- tryCatch(withCallingHandlers(
    submit_processing(code = local_script("Sys.sleep(120)"), instance_type = "local", logs = FALSE),
    sagesim_no_mount_namespace = function(w) invokeRestart("muffleWarning")),
    error = identity)
  expect_s3_class(error, "sagesim_wait_timeout")
  added <- calls_named(record, "addJob")
  expect_length(added, 1)
  expect_identical(added[[1]]$args$name, sprintf("%s (script)", error$job_name))
  expect_length(calls_named(record, "setJobState"), 0)
  statuses <- length(calls_named(record, "setJobStatus"))
  # The console is free; the pane goes on following the job, and its Stop
  # button stops it.
  expect_message(added[[1]]$args$actions$stop("rstudio-job-1"), "Stopped local job")
  pump_until(function() length(calls_named(record, "setJobState")) > 0)
  expect_identical(calls_named(record, "setJobState")[[1]]$args$state, "cancelled")
  expect_gt(length(calls_named(record, "setJobStatus")), statuses)
  expect_identical(job_status(job_attach(error$job_name))$status, "Stopped")
})

test_that("a failed job ends the pane's entry as failed, with its reason", {
  use_temp_job_dir()
  record <- local_fake_rstudio()
  error <- tryCatch(submit_map(1:2, function(i) quit(status = 3), logs = FALSE),
                    error = identity)
  expect_s3_class(error, "sagesim_job_failed")
  states <- calls_named(record, "setJobState")
  expect_identical(states[[length(states)]]$args$state, "failed")
  status <- vapply(calls_named(record, "setJobStatus"), function(call) call$args$status, "")
  expect_match(status[[length(status)]], "^Failed: AlgorithmError: algo-1 exited with status")
})

test_that("outside RStudio nothing changes", {
  use_temp_job_dir()
  record <- local_fake_rstudio(rstudio = FALSE)
  expect_false(rstudioapi::isAvailable())
  # Updates left over from earlier tests end (their jobs have ended).
  pump_until(later::loop_empty)
  job <- submit_map(1:3, identity, logs = FALSE, wait = FALSE)
  # Nothing follows the job in the background.
  expect_true(later::loop_empty())
  job_wait(job, logs = FALSE)
  expect_length(record$calls, 0)
  expect_identical(job_collect(job), as.list(1:3))
})

test_that("switched off, or with the pane failing, jobs run as ever", {
  use_temp_job_dir()
  record <- local_fake_rstudio()
  withr::with_options(list(sagesim.rstudio_jobs = FALSE), {
    job <- submit_map(1:3, identity, logs = FALSE)
  })
  expect_length(record$calls, 0)
  expect_identical(job_collect(job), as.list(1:3))
  broken <- local_fake_rstudio(broken = "setJobProgress")
  job <- submit_map(1:3, identity, logs = FALSE)
  expect_identical(job_collect(job), as.list(1:3))
  # The entry was dropped at the first failure: nothing more was sent.
  expect_false(any(vapply(broken$calls, `[[`, "", "name") == "setJobState"))
})
