# A job handle and what it reports: the handle (an environment, so that its
# status, log cursors and progress update in place), job statuses, log
# lines and hosts' progress, and how each prints. Both backends make
# handles here; the user's verbs on them are in R/job.R.

# The handle of a job: SageMaker's (`backend = "cloud"`) or a local one. What
# the job is comes from its record; a job without one (made by the Python
# SDK or an older sagesim) is a script job whose fields come in `...`.
# The backends' own fields (a session, a folder) come in `...` too.
new_job <- function(name, backend, record = NULL, ...) {
  job <- new.env(parent = emptyenv())
  job$name <- name
  job$record <- record
  job$kind <- if (!is.null(record)) record_kind(record) else "script"
  job$instance_count <- record$plan$instance_count
  job$instance_type <- record$plan$instance_type
  job$outputs <- if (!is.null(record)) record_outputs(record) else list()
  work <- record$work
  job$seed <- switch(job$kind,
    simulation = as.numeric(work$spec$seed),
    sweep = as.numeric(work$grid$seed),
    map = as.numeric(work$seed))
  job$elements <- work$elements
  job$log_cursors <- list()
  job$last_status <- NULL
  job$progress <- list()
  fields <- list(...)
  for (field in names(fields)) assign(field, fields[[field]], envir = job)
  class(job) <- c(sprintf("sagesim_%s_job", backend), "sagesim_job")
  job
}

terminal_statuses <- c("Completed", "Failed", "Stopped")

# The hosts of a job, as SageMaker names them.
job_hosts <- function(job) {
  if (is.null(job$instance_count)) NULL else host_names(job$instance_count)
}

check_job <- function(job) {
  if (!inherits(job, "sagesim_job")) not_a_job(job)
}

not_a_job <- function(job) {
  abort_argument("job", sprintf("`job` must be a job handle from submit_processing(), submit_map() or job_attach(), not %s.",
                                describe_type(job)))
}

# `...`: what a kind of job tells besides (a Training job's secondary
# status, billing and warm pool: R/job-kinds.R).
new_job_status <- function(name, status, failure_reason = NULL, exit_message = NULL,
                           creation_time = NULL, start_time = NULL, end_time = NULL,
                           hosts = NULL, ...) {
  structure(c(list(name = name, status = status, failure_reason = failure_reason,
                   exit_message = exit_message, creation_time = creation_time,
                   start_time = start_time, end_time = end_time, hosts = hosts),
              Filter(Negate(is.null), list(...))),
            class = "sagesim_job_status")
}

format_elapsed <- function(status) {
  start <- status$start_time %||% status$creation_time
  if (is.null(start)) return("unknown")
  end <- status$end_time %||% as.numeric(Sys.time())
  seconds <- max(0, end - start)
  if (seconds < 60) return(sprintf("%.1f s", seconds))
  sprintf("%dm %02ds", as.integer(seconds %/% 60), as.integer(round(seconds %% 60)))
}

# The exit message, when it says more than the failure reason (a local
# job's reason already holds it: one failure, one message).
distinct_exit_message <- function(status) {
  message <- status$exit_message
  if (is.null(message) || !nzchar(message)) return(NULL)
  if (!is.null(status$failure_reason) && grepl(message, status$failure_reason, fixed = TRUE)) {
    return(NULL)
  }
  message
}

#' @export
print.sagesim_job_status <- function(x, ...) {
  cat(sprintf("%s: %s\n", x$name, x$status))
  if (!is.null(x$failure_reason)) cat(sprintf("  failure reason: %s\n", x$failure_reason))
  if (!is.null(distinct_exit_message(x))) {
    cat(sprintf("  exit message:   %s\n", x$exit_message))
  }
  cat(sprintf("  elapsed:        %s\n", format_elapsed(x)))
  invisible(x)
}

# Where a job's hosts put their results (the output named `output`).
results_location <- function(job, output = "simulation") {
  outputs <- Filter(function(o) identical(o$name, output), job$outputs)
  if (length(outputs) > 0) outputs[[1]]$destination else "the job's outputs"
}

# --- hosts' progress ------------------------------------------------------------

# Hosts report progress as log lines of a defined format (the core's
# progress module); the handle keeps each host's latest report.
note_progress <- function(job, lines) {
  found <- progress_parse(as.character(lines$message))
  for (k in seq_along(found$line)) {
    job$progress[[found$host[[k]]]] <- list(unit = found$unit[[k]], done = found$done[[k]],
                                            total = found$total[[k]], failed = found$failed[[k]])
  }
  invisible(job)
}

# The job's progress over its hosts so far: done, total, failed, unit and
# how many hosts reported; NULL before any did.
job_progress <- function(job) {
  reports <- job$progress
  if (length(reports) == 0) return(NULL)
  sum_of <- function(field) sum(vapply(reports, function(r) as.numeric(r[[field]]), numeric(1)))
  list(unit = reports[[1]]$unit, done = sum_of("done"), total = sum_of("total"),
       failed = sum_of("failed"), hosts = length(reports))
}

format_progress <- function(progress, job) {
  total <- if (identical(progress$unit, "elements")) job$elements %||% progress$total else progress$total
  sprintf("%s of %s %s done%s%s", format_count(progress$done), format_count(total), progress$unit,
          if (progress$failed > 0) sprintf(", %s failed", format_count(progress$failed)) else "",
          if (progress$hosts < (job$instance_count %||% 0)) " (not every host has reported yet)" else "")
}

# --- log lines ---------------------------------------------------------------------

log_lines <- function(host = character(), time = numeric(), message = character()) {
  data.frame(host = host, time = as.POSIXct(time, origin = "1970-01-01"), message = message,
             stringsAsFactors = FALSE)
}

# Log lines as people read them: a progress report in words.
readable_messages <- function(messages) {
  found <- progress_parse(as.character(messages))
  for (k in seq_along(found$line)) {
    messages[[found$line[[k]]]] <- sprintf(
      "%s of %s %s done%s", format_count(found$done[[k]]), format_count(found$total[[k]]),
      found$unit[[k]], if (found$failed[[k]] > 0) sprintf(" (%s failed)", format_count(found$failed[[k]])) else "")
  }
  messages
}

print_log_lines <- function(lines) {
  if (nrow(lines) > 0) {
    cat(sprintf("[%s] %s\n", lines$host, readable_messages(lines$message)), sep = "")
  }
  nrow(lines)
}

#' @export
print.sagesim_logs <- function(x, ...) {
  if (nrow(x) == 0) {
    cat("(no log lines yet)\n")
  } else {
    print_log_lines(x)
  }
  invisible(x)
}

# The rows of list_jobs() for `statuses` (job statuses) of jobs `where`,
# with each job's record's fields when `records` are given.
job_list_frame <- function(statuses, where, records = NULL) {
  time <- function(x) as.POSIXct(x, origin = "1970-01-01")
  frame <- data.frame(
    name = vapply(statuses, `[[`, character(1), "name"),
    where = rep(where, length.out = length(statuses)),
    status = vapply(statuses, `[[`, character(1), "status"),
    created = time(vapply(statuses, function(j) j$creation_time %||% NA_real_, numeric(1))),
    ended = time(vapply(statuses, function(j) j$end_time %||% NA_real_, numeric(1))),
    failure_reason = vapply(statuses, function(j) j$failure_reason %||% NA_character_, character(1)),
    stringsAsFactors = FALSE
  )
  if (!is.null(records)) {
    frame$kind <- vapply(records, function(r) if (is.null(r)) "script" else record_kind(r), "")
    frame$instance_count <- vapply(records, function(r) as.numeric(r$plan$instance_count %||% NA), 1)
    frame$instance_type <- vapply(records, function(r) r$plan$instance_type %||% NA_character_, "")
  }
  frame
}
