# What a backend is, declared once: where jobs run (this machine,
# R/job-local.R, or SageMaker, R/job-cloud.R) and what each must do. Every
# obligation has a default that errors (`sagesim_backend_unimplemented`), so
# a backend that forgets one says which, instead of doing something else.
#
# A backend, as new_backend() makes it:
#   label                                    how messages name it
#   start(plan, session)                     a new job's handle (R/plan.R)
#   attach(name, session)                    a handle, or NULL when it has no such job
#   list(n, name_contains, status, details, session)
#                                            a list_jobs() frame (job_list_frame())
#   where(session)                           where it looked, for messages
# A backend that cannot be asked at all raises `sagesim_backend_unavailable`
# (R/conditions.R); job_attach() and list_jobs() then ask the next one.
#
# Its job handles (new_job(name, "<backend>", ...), R/handle.R) have methods
# for the generics below: the status, stopping, log lines, outputs and the
# pace of polling. Reading a status may deliver what a host has finished to
# the job's destinations (local jobs stand in for S3 uploads), never more.

new_backend <- function(label, start = NULL, attach = NULL, list = NULL, where = NULL) {
  missing_one <- function(what) function(...) backend_unimplemented(label, what)
  base::list(label = label, start = start %||% missing_one("start"),
             attach = attach %||% missing_one("attach"), list = list %||% missing_one("list"),
             where = where %||% function(session) sprintf("no %s job of that name", label))
}

backend_unimplemented <- function(backend, what) {
  abort(sprintf("The %s backend does not implement %s(), which every backend must.", backend, what),
        class = "sagesim_backend_unimplemented")
}

# The backend a handle's class names ("sagesim_local_job" -> "local").
handle_backend <- function(job) sub("^sagesim_(.*)_job$", "\\1", class(job)[[1]])

#' @rdname jobs
#' @export
job_status <- function(job, ...) {
  check_unknown_arguments("job_status", ...)
  UseMethod("job_status")
}

#' @export
job_status.default <- function(job, ...) {
  if (inherits(job, "sagesim_job")) backend_unimplemented(handle_backend(job), "job_status")
  not_a_job(job) # R/handle.R
}

# Asks the backend to stop the job (job_stop() checks it has not ended).
stop_job <- function(job) UseMethod("stop_job")
stop_job.default <- function(job) backend_unimplemented(handle_backend(job), "stop_job")

# The lines logged since the last call, kept apart per cursor set: job_wait()
# shows "log_cursors", progress reading uses "progress_cursors".
new_log_lines <- function(job, cursors = "log_cursors") UseMethod("new_log_lines")
new_log_lines.default <- function(job, cursors = "log_cursors") {
  backend_unimplemented(handle_backend(job), "new_log_lines")
}

# Every line the job logged (job_logs()).
all_log_lines <- function(job) UseMethod("all_log_lines")
all_log_lines.default <- function(job) backend_unimplemented(handle_backend(job), "all_log_lines")

# The job's outputs, copied into the folder `path` (job_collect()).
fetch_outputs <- function(job, path) UseMethod("fetch_outputs")
fetch_outputs.default <- function(job, path) backend_unimplemented(handle_backend(job), "fetch_outputs")

# Seconds between status reads when the user gives no `poll`.
default_poll_interval <- function(job) UseMethod("default_poll_interval")
default_poll_interval.default <- function(job) {
  backend_unimplemented(handle_backend(job), "default_poll_interval")
}

# The wait after a poll that brought `new_lines` lines.
next_poll_delay <- function(job, delay, new_lines) UseMethod("next_poll_delay")
next_poll_delay.default <- function(job, delay, new_lines) {
  backend_unimplemented(handle_backend(job), "next_poll_delay")
}

# Seconds to wait, once the job ended, for its last log lines to arrive.
final_log_delay <- function(job) UseMethod("final_log_delay")
final_log_delay.default <- function(job) backend_unimplemented(handle_backend(job), "final_log_delay")

# When each host started and ended (seconds since the epoch; NA when it
# never started, or has not ended): a data frame of host, started, ended.
# `lines`: the job's log lines (all_log_lines()), for a backend that reads
# the spans from them; the caller has them already.
host_spans <- function(job, lines) UseMethod("host_spans")
host_spans.default <- function(job, lines) backend_unimplemented(handle_backend(job), "host_spans")
