# The RStudio Jobs pane. Inside RStudio (rstudioapi::isAvailable()), a job
# shows in the Jobs pane while it is waited on (job_wait(), and so
# `wait = TRUE`) and, when submitted with `wait = FALSE`, while the console
# stays free: then a background updater follows it, run by the later
# package whenever the console is idle (later runs its callbacks only at the
# top level, between the user's commands; RStudio's console runs them as it
# does for Shiny apps). Without later, a job shows only while it is waited
# on. The pane shows the job's status, its progress (elements or
# iterations done of the total, as the job handle knows it from its hosts'
# reports), its hosts' log lines, and its end; its Stop button calls
# job_stop(). Outside RStudio, or with options(sagesim.rstudio_jobs = FALSE),
# none of this runs. Trouble talking to RStudio never disturbs the job or the
# wait: the entry is dropped.
#
# One entry per job name, whoever follows it (the wait, the background
# updater, or both in turn).

pane_state <- new.env(parent = emptyenv())

pane_enabled <- function() {
  isTRUE(getOption("sagesim.rstudio_jobs", TRUE)) &&
    requireNamespace("rstudioapi", quietly = TRUE) &&
    rstudioapi::isAvailable() && rstudioapi::hasFun("addJob")
}

# The job's entry in the Jobs pane, added if it is not there yet; NULL
# outside RStudio.
pane_open <- function(job) {
  if (!pane_enabled()) return(NULL)
  entries <- pane_state$entries %||% list()
  entry <- entries[[job$name]]
  if (!is.null(entry)) return(entry)
  # A job whose end the pane has shown is not added again.
  if (job$name %in% pane_state$ended) return(NULL)
  entry <- new.env(parent = emptyenv())
  entry$job <- job
  entry$sent <- list()
  entry$done <- FALSE
  entry$units <- pane_units(job)
  entry$id <- pane_call(entry, rstudioapi::jobAdd(
    name = sprintf("%s (%s)", job$name, job$kind %||% "job"),
    status = "Submitted", progressUnits = as.integer(entry$units),
    actions = list(stop = function(id) job_stop(job)),
    running = TRUE, autoRemove = FALSE, show = FALSE
  ))
  if (is.null(entry$id)) return(NULL)
  entries[[job$name]] <- entry
  pane_state$entries <- entries
  entry
}

# Calls RStudio; an error drops the entry (the job and the wait go on).
pane_call <- function(entry, call) {
  tryCatch(call, error = function(e) {
    entry$done <- TRUE
    pane_forget(entry)
    NULL
  })
}

pane_forget <- function(entry) {
  entries <- pane_state$entries %||% list()
  if (!is.null(entry$job)) {
    entries[[entry$job$name]] <- NULL
    pane_state$ended <- utils::tail(c(pane_state$ended, entry$job$name), 1000)
  }
  pane_state$entries <- entries
}

# The lines of all_log_lines() (each host's lines, host after host) not sent
# yet, counted host by host; NULL when there are none.
pane_fresh_lines <- function(entry, lines) {
  if (is.null(lines) || nrow(lines) == 0) return(NULL)
  keep <- logical(nrow(lines))
  for (host in unique(lines$host)) {
    rows <- which(lines$host == host)
    sent <- entry$sent[[host]] %||% 0L
    keep[rows[seq_along(rows) > sent]] <- TRUE
    entry$sent[[host]] <- length(rows)
  }
  lines[keep, , drop = FALSE]
}

# Progress units: the elements of a map job; else the total its hosts
# report (0, RStudio's "no progress bar", until they do).
pane_units <- function(job) {
  job$elements %||% pane_progress(job)$total %||% 0
}

# Elements or iterations done of the total, summed over the hosts that have
# reported, from what the job handle knows of its hosts' progress.
pane_progress <- function(job, status = NULL) {
  progress <- status$progress %||% job$progress
  if (length(progress) == 0) return(NULL)
  if (!is.null(progress$done)) return(list(done = progress$done, total = progress$total))
  list(done = sum(vapply(progress, function(p) as.numeric(p$done), 1)),
       total = sum(vapply(progress, function(p) as.numeric(p$total), 1)))
}

# Brings the entry up to date with the job: new log lines, progress, status
# and, once the job has ended (and `final`: its last log lines are in), its
# final state. `status` is a job_status() the caller already has (else it is
# asked for here, and an error asking is the caller's). Anything going wrong
# past that drops the entry, never the caller's wait.
pane_update <- function(entry, status = NULL, final = TRUE) {
  if (is.null(entry) || entry$done) return(invisible(FALSE))
  status <- status %||% job_status(entry$job)
  tryCatch(pane_refresh(entry, status, final), error = function(e) {
    entry$done <- TRUE
    pane_forget(entry)
    invisible(FALSE)
  })
}

pane_refresh <- function(entry, status, final) {
  job <- entry$job
  ended <- status$status %in% terminal_statuses
  # A SageMaker job's logs are read whole (all_log_lines()): every 15 s at most
  # until it ends.
  every <- if (identical(job$instance_type, "local")) 0 else 15
  due <- is.null(entry$logs_read) || ended ||
    as.numeric(difftime(Sys.time(), entry$logs_read, units = "secs")) >= every
  if (due) {
    entry$logs_read <- Sys.time()
    # (All of them: the progress reports too, which job_logs() leaves out.)
    fresh <- pane_fresh_lines(entry, all_log_lines(job))
    if (NROW(fresh) > 0) {
      # job_wait() tells the handle its hosts' progress from the lines it
      # reads; in the background, the lines read here do.
      if (is.null(status$progress)) note_progress(job, fresh)
      pane_call(entry, rstudioapi::jobAddOutput(
        entry$id, paste0(sprintf("[%s] %s", fresh$host, readable_messages(fresh$message)), "\n",
                         collapse = "")))
    }
  }
  if (entry$done) return(invisible(FALSE))
  progress <- pane_progress(job, status)
  text <- status$status
  if (!is.null(progress)) {
    if (entry$units == 0 && progress$total > 0) entry$units <- progress$total
    pane_call(entry, rstudioapi::jobSetProgress(entry$id, as.integer(min(progress$done, entry$units))))
    text <- sprintf("%s: %s of %s%s done", status$status, format_count(progress$done),
                    format_count(entry$units), if (identical(job$kind, "map")) " elements" else "")
  }
  if (identical(status$status, "Failed") && !is.null(status$failure_reason)) {
    text <- sprintf("Failed: %s", status$failure_reason)
  }
  if (!identical(text, entry$text)) {
    entry$text <- text
    pane_call(entry, rstudioapi::jobSetStatus(entry$id, text))
  }
  if (final && ended && !entry$done) {
    state <- switch(status$status, Completed = "succeeded", Failed = "failed", Stopped = "cancelled")
    pane_call(entry, rstudioapi::jobSetState(entry$id, state))
    entry$done <- TRUE
    pane_forget(entry)
  }
  invisible(!entry$done)
}

# A job submitted with `wait = FALSE`: followed in the background, so the
# console stays free. Its entry is added by the first update, once the
# submitting function has returned (and the handle knows how many elements
# the job has: the pane's total is fixed when the entry is added).
pane_follow <- function(job) {
  if (!pane_enabled() || !requireNamespace("later", quietly = TRUE)) return(invisible(NULL))
  interval <- getOption("sagesim.poll_interval") %||%
    if (identical(job$instance_type, "local")) 0.5 else 5
  failures <- 0
  tick <- function() {
    # A status that cannot be read (the network, a job's folder removed) is
    # asked again, five times in a row at most.
    going <- tryCatch({
      going <- pane_update(pane_open(job))
      failures <<- 0
      going
    }, error = function(e) {
      failures <<- failures + 1
      failures < 5
    })
    if (isTRUE(going)) later::later(tick, interval)
  }
  later::later(tick, 0)
  invisible(job)
}
