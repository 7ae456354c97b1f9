# Waiting on a job: polling its status, streaming its hosts' log lines,
# following its progress, and keeping its RStudio Jobs pane entry
# (R/rstudio.R) up to date. Documented with the other verbs, in ?jobs.

#' @rdname jobs
#' @param ... Not used: an argument these do not take is refused
#'   (`sagesim_unknown_argument`), naming the one meant.
#' @export
job_wait <- function(job, logs = TRUE, poll = NULL, timeout = getOption("sagesim.wait_timeout", Inf), ...) {
  check_unknown_arguments("job_wait", ...)
  check_job(job)
  check_flag(logs, "logs")
  if (!is.null(poll)) check_number(poll, "poll", min = 0, above = TRUE)
  check_number(timeout, "timeout", min = 0, above = TRUE, finite = FALSE)
  delay <- poll %||% getOption("sagesim.poll_interval") %||% default_poll_interval(job)
  started <- Sys.time()
  finished <- FALSE
  on.exit(if (!finished) {
    message(sprintf("Stopped waiting; job %s goes on. Pick it up with job_attach(\"%s\"), or job_stop() it.",
                    job$name, job$name))
  }, add = TRUE)
  # RStudio's Jobs pane (R/rstudio.R; NULL elsewhere), followed in the
  # background if the wait ends before the job.
  pane <- pane_open(job)
  on.exit(if (!is.null(pane) && !pane$done) pane_follow(job), add = TRUE)
  # Logs are a courtesy: trouble reading them (throttling, a stream not
  # there yet) is reported once and the wait goes on.
  logs_failed <- FALSE
  # Progress comes from the hosts' log lines, shown or not.
  follow <- logs || job$kind %in% c("map", "simulation", "sweep")
  print_new_logs <- function() {
    tryCatch({
      lines <- new_log_lines(job)
      note_progress(job, lines)
      if (logs) print_log_lines(lines) else 0
    }, sagesim_aws_error = function(e) {
      if (!logs_failed) {
        warning(sprintf("Could not read the logs of %s (%s); still waiting for the job.",
                        job$name, conditionMessage(e)), call. = FALSE)
      }
      logs_failed <<- TRUE
      0
    })
  }
  stage <- NULL
  repeat {
    status <- job_status(job)
    # A Training job's secondary status (Starting, Training, Interrupted,
    # ...) is shown with the logs as it changes.
    if (logs && !is.null(status$secondary_status) && !identical(status$secondary_status, stage)) {
      stage <- status$secondary_status
      cat(sprintf("[SageMaker] %s: %s\n", job$name, stage))
    }
    new_lines <- if (follow) print_new_logs() else 0
    pane_update(pane, status, final = FALSE)
    if (status$status %in% terminal_statuses) {
      # The cloud failed it, not its code: the handle follows a new attempt.
      if (retry_failed_job(job, status)) next
      break
    }
    if (as.numeric(difftime(Sys.time(), started, units = "secs")) > timeout) {
      finished <- TRUE # the error says all there is to say
      abort(sprintf("Job %s is still %s after %s s of waiting.", job$name, status$status, timeout),
            class = "sagesim_wait_timeout", job_name = job$name)
    }
    Sys.sleep(delay)
    delay <- next_poll_delay(job, delay, new_lines)
  }
  if (follow) {
    print_new_logs()
    # A host's last lines often reach the logs after its status changed.
    settle <- getOption("sagesim.final_log_delay") %||% final_log_delay(job)
    if (settle > 0) {
      Sys.sleep(settle)
      print_new_logs()
    }
  }
  pane_update(pane, status)
  finished <- TRUE
  check_job_outcome(status, job)
  invisible(job)
}
