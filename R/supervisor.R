# A local job's supervisor: the process that does, when the hosts end, what
# SageMaker's runtime does when a job's instances end (deliver its outputs),
# so that reading a status never copies files. It is started with the hosts
# (in a session of its own, so it outlives the R session that started it),
# watches them, delivers the outputs once (R/job-local.R:
# deliver_local_outputs()) and ends. Until it has, the job reads as still
# running (Stopping, if stopped), as a SageMaker job is while it uploads.
#
#   {dir}/supervisor/pid            its pid
#   {dir}/supervisor/log            what it printed
#   {dir}/outputs-delivered         written by the delivery
#   {dir}/delivery-warnings.rds     what it warned of, said again to readers
#   {dir}/outputs-undelivered       why the delivery failed, if it did

supervisor_dir <- function(dir) file.path(dir, "supervisor")

# Starts the supervisor of the local job in `dir`. With an AWS `session`
# (outputs going to S3), it gets the session's credentials as the hosts do.
launch_supervisor <- function(dir, session = NULL) {
  here <- supervisor_dir(dir)
  dir.create(here, showWarnings = FALSE)
  here <- normalizePath(here)
  credentials <- file.path(here, "credentials")
  if (!is.null(session)) {
    aws_request(session, "session:WriteHostCredentials", list(Path = credentials))
  }
  q <- shQuote
  script <- file.path(here, "run.sh")
  writeLines(c(
    "#!/bin/sh",
    sprintf("if [ -f %s ]; then set -a; . %s; set +a; rm -f %s; fi", q(credentials),
            q(credentials), q(credentials)),
    sprintf("export R_LIBS=%s", q(paste(.libPaths(), collapse = ":"))),
    sprintf("exec %s -e 'sagesim::supervise_local_job()' %s > %s 2>&1",
            q(file.path(R.home("bin"), "Rscript")), q(normalizePath(dir)),
            q(file.path(here, "log")))
  ), script)
  unlink(file.path(here, "pid"))
  setsid <- Sys.which("setsid")
  system2(if (nzchar(setsid)) setsid else "sh", c(if (nzchar(setsid)) "sh", q(script)),
          wait = FALSE, stdout = FALSE, stderr = FALSE)
  invisible(here)
}

#' A local job's supervisor
#'
#' Run by a local job (as `Rscript -e 'sagesim::supervise_local_job()'
#' <dir>`), not by users: it waits for the job's hosts to end and delivers
#' the job's outputs to their destinations, as SageMaker does when a job's
#' instances end.
#'
#' @param dir The local job's folder.
#' @return `NULL`, invisibly, once the outputs are delivered (or their
#'   delivery failed, which it records).
#' @keywords internal
#' @export
supervise_local_job <- function(dir = commandArgs(trailingOnly = TRUE)[[1]]) {
  writeLines(as.character(Sys.getpid()), file.path(supervisor_dir(dir), "pid"))
  record <- read_record_file(file.path(dir, "job.json"))
  # What the delivery needs of the job (a handle is R/job-local.R's).
  job <- list(dir = dir, record = record, hosts = record_hosts(record), created = record$created,
              outputs = record_outputs(record), session = NULL)
  repeat {
    hosts <- observe_local_hosts(job) # R/local-hosts.R
    if (!any(hosts$alive)) break
    Sys.sleep(0.1)
  }
  # A job that did not complete delivers what its hosts wrote as they went
  # (Continuous outputs), as SageMaker uploads them.
  tryCatch(deliver_local_outputs(job, failed = !hosts$finished), error = function(e) {
    writeLines(conditionMessage(e), file.path(dir, "outputs-undelivered"))
  })
  invisible()
}

# Where the job's outputs are: "delivered", "undelivered" (with `reason`),
# or "pending" while the supervisor works; a supervisor that is gone
# without a word (killed, or a job made before supervisors) is started
# again, at most `restarts` times, after which the outputs are undelivered.
local_delivery <- function(job, restarts = 3) {
  dir <- job$dir
  if (file.exists(file.path(dir, "outputs-delivered"))) return(delivered(dir))
  undelivered <- file.path(dir, "outputs-undelivered")
  if (file.exists(undelivered)) {
    return(list(state = "undelivered", reason = read_small_file(undelivered)))
  }
  if (supervisor_alive(dir)) return(list(state = "pending"))
  # (Its last words may have come as it ended.)
  if (file.exists(file.path(dir, "outputs-delivered"))) return(delivered(dir))
  started <- file.path(supervisor_dir(dir), "started")
  times <- length(read_small_file(started) %||% character())
  launched <- file.mtime(file.path(supervisor_dir(dir), "run.sh"))
  if (!is.na(launched) && !file.exists(file.path(supervisor_dir(dir), "pid")) &&
      as.numeric(difftime(Sys.time(), launched, units = "secs")) < 10) {
    return(list(state = "pending")) # launched a moment ago
  }
  if (times >= restarts) {
    return(list(state = "undelivered",
                reason = sprintf("its supervisor ended %d times before delivering them (see %s)",
                                 times, file.path(supervisor_dir(dir), "log"))))
  }
  cat("restarted\n", file = started, append = TRUE)
  launch_supervisor(dir, job$session)
  list(state = "pending")
}

supervisor_alive <- function(dir) {
  pid <- suppressWarnings(as.integer(read_small_file(file.path(supervisor_dir(dir), "pid"))))
  length(pid) == 1 && !is.na(pid) && process_alive(pid)
}

# Waits (at most `timeout` seconds) for the supervisor to deliver: job_stop()
# returns once the stopped job's outputs are where they go.
await_delivery <- function(job, timeout = 30) {
  deadline <- Sys.time() + timeout
  while (identical(local_delivery(job)$state, "pending") && Sys.time() < deadline) Sys.sleep(0.05)
  invisible(job)
}

delivered <- function(dir) {
  warnings <- file.path(dir, "delivery-warnings.rds")
  list(state = "delivered", warnings = if (file.exists(warnings)) readRDS(warnings))
}

# Once every host succeeded (or, `failed`, a host was lost: then Continuous
# outputs only), the outputs go to their destinations, exactly once. What
# the delivery warns of is kept for readers of the status, the marker
# written last.
deliver_local_outputs <- function(job, failed = FALSE) {
  marker <- file.path(job$dir, "outputs-delivered")
  if (file.exists(marker)) return(invisible())
  lock <- file.path(job$dir, "outputs-delivering")
  if (!dir.create(lock, showWarnings = FALSE)) {
    abort("another process is delivering this job's outputs right now",
          class = "sagesim_local_job_error")
  }
  on.exit(unlink(lock, recursive = TRUE), add = TRUE)
  needs_s3 <- any(vapply(job$outputs, function(o) is_s3_uri(o$destination), logical(1)))
  if (needs_s3) job$session <- default_session(job$session)
  warned <- list()
  withCallingHandlers(
    deliver_job_outputs(record_job_config(job$record), job$dir, job$hosts, job$session,
                    kms_key = job$record$upload_kms_key, failed = failed),
    warning = function(w) {
      warned[[length(warned) + 1]] <<- w
      invokeRestart("muffleWarning")
    })
  if (length(warned) > 0) saveRDS(warned, file.path(job$dir, "delivery-warnings.rds"))
  file.create(marker)
  invisible()
}
