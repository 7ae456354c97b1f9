#' Follow, stop and collect processing jobs
#'
#' A job handle comes from [submit_processing()] or [attach_job()] and works
#' the same for SageMaker and local jobs.
#'
#' * `job_status()` asks for the current status (with failure reason and exit
#'   message).
#' * `job_wait()` polls, with back-off, until the job is Completed, Failed or
#'   Stopped, streaming every host's log lines to the console (and reading
#'   them once more a few seconds after the end, as a host's last lines
#'   often arrive after its status changes). A failed job raises a
#'   `sagesim_job_failed` error showing its failure reason; a stopped one ends
#'   the wait with a `sagesim_job_stopped` warning. Ctrl-C stops waiting, not
#'   the job.
#' * `job_logs()` returns every host's log lines so far.
#' * `job_stop()` asks the job to stop.
#' * `job_collect()` downloads the outputs to `path` and returns the
#'   simulation result ([simulate_local()]'s object, merged over hosts) for
#'   simulation and sweep jobs, the list of results for [submit_map()] jobs,
#'   or the downloaded files (and the value of `output_result_mean.txt` when
#'   there is one) for script jobs. A
#'   simulation job whose hosts did not all write their results is an error
#'   (`sagesim_results_missing`) naming those hosts and where sagesim looked:
#'   part of a result is never presented as the result.
#'
#' @param job A `sagesim_job`.
#' @param logs Stream the job's logs while waiting.
#' @param poll Seconds between the first polls (growing to 30 s while
#'   nothing happens); default `getOption("sagesim.poll_interval")`, else 5
#'   for SageMaker and 0.5 for local jobs.
#' @param timeout Give up waiting after this many seconds (the job goes on);
#'   default `getOption("sagesim.wait_timeout")`, else no limit.
#' @param path Local folder for the outputs; default a folder named after the
#'   job in the session's temporary directory.
#' @param errors For a [submit_map()] job with failed elements: `"stop"` (the
#'   default) raises a `sagesim_map_failed` error listing them; `"return"`
#'   returns the list with each failed element's condition in its place.
#' @return `job_status()`: a `sagesim_job_status` list. `job_wait()`,
#'   `job_stop()`: the job, invisibly. `job_logs()`: a data.frame of `host`,
#'   `time` and `message`. `job_collect()`: a `sagesim_simulation`, a
#'   `sagesim_sweep`, a list (map jobs) or a `sagesim_job_files`.
#' @examples
#' options(sagesim.job_dir = tempdir())   # where local jobs keep their files
#' job <- submit_processing(simulation = simulation_spec(100, 100, 50, 100, seed = 3),
#'                          instance_type = "local", wait = FALSE)
#' job_wait(job, logs = FALSE)
#' job_status(job)
#' job_collect(job)
#' @name jobs
NULL

#' @rdname jobs
#' @export
job_status <- function(job) UseMethod("job_status")

#' @export
job_status.default <- function(job) not_a_job(job)

#' @rdname jobs
#' @export
job_wait <- function(job, logs = TRUE, poll = NULL, timeout = getOption("sagesim.wait_timeout", Inf)) {
  check_job(job)
  check_flag(logs, "logs")
  if (!is.null(poll)) check_number(poll, "poll", min = 0, above = TRUE)
  check_number(timeout, "timeout", min = 0, above = TRUE, finite = FALSE)
  delay <- poll %||% getOption("sagesim.poll_interval") %||% default_poll_interval(job)
  started <- Sys.time()
  finished <- FALSE
  on.exit(if (!finished) {
    message(sprintf("Stopped waiting; job %s goes on. Pick it up with attach_job(\"%s\"), or job_stop() it.",
                    job$name, job$name))
  }, add = TRUE)
  # RStudio's Jobs pane (R/rstudio.R; NULL elsewhere), followed in the
  # background if the wait ends before the job.
  pane <- pane_open(job)
  on.exit(if (!is.null(pane) && !pane$done) pane_follow(job), add = TRUE)
  # Logs are a courtesy: trouble reading them (throttling, a stream not
  # there yet) is reported once and the wait goes on.
  logs_failed <- FALSE
  # A map job's progress comes from its hosts' log lines, shown or not.
  follow <- logs || identical(job$kind, "map")
  print_new_logs <- function() {
    tryCatch({
      lines <- poll_log_lines(job)
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
  repeat {
    status <- job_status(job)
    new_lines <- if (follow) print_new_logs() else 0
    pane_update(pane, status, final = FALSE)
    if (status$status %in% terminal_statuses) break
    if (as.numeric(difftime(Sys.time(), started, units = "secs")) > timeout) {
      finished <- TRUE # the error says all there is to say
      abort(sprintf("Job %s is still %s after %s s of waiting.", job$name, status$status, timeout),
            class = "sagesim_wait_timeout", job_name = job$name)
    }
    Sys.sleep(delay)
    # Back off while nothing happens; stay responsive while logs flow.
    delay <- if (new_lines > 0) delay else min(delay * 1.5, max(delay, 30))
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

#' @rdname jobs
#' @export
job_logs <- function(job) {
  check_job(job)
  structure(all_log_lines(job), class = c("sagesim_logs", "data.frame"))
}

#' @rdname jobs
#' @export
job_stop <- function(job) UseMethod("job_stop")

#' @export
job_stop.default <- function(job) not_a_job(job)

#' @rdname jobs
#' @export
job_collect <- function(job, path = NULL, errors = c("stop", "return")) {
  check_job(job)
  check_string(path, "path", null_ok = TRUE)
  errors <- match_choice(errors, "errors")
  status <- job_status(job)
  if (!identical(status$status, "Completed")) {
    check_job_outcome(status, job)
    abort(sprintf("Job %s is %s; wait for it to complete (job_wait()) before collecting.",
                  job$name, status$status),
          class = "sagesim_job_not_finished", job_name = job$name)
  }
  path <- path %||% file.path(tempdir(), job$name)
  # Outputs land in a staging folder renamed into place only when complete
  # and read, so a failed download or missing results never leave files
  # that look like results.
  staging <- paste0(path, ".partial-", Sys.getpid())
  unlink(staging, recursive = TRUE)
  on.exit(unlink(staging, recursive = TRUE), add = TRUE)
  dir.create(staging, recursive = TRUE, showWarnings = FALSE)
  fetch_outputs(job, staging)
  result <- collected_results(job, staging, errors)
  unlink(path, recursive = TRUE)
  dir.create(dirname(path), recursive = TRUE, showWarnings = FALSE)
  if (!file.rename(staging, path)) {
    abort(sprintf("Could not move the downloaded outputs into %s.", path),
          class = "sagesim_results_error")
  }
  if (inherits(result, "sagesim_job_files")) result$path <- path
  result
}

terminal_statuses <- c("Completed", "Failed", "Stopped")

# The handle of a job: SageMaker's (`backend = "cloud"`) or a local one. The
# backends' own fields (a session, a folder) come in `...`.
new_job <- function(name, backend, kind, outputs, instance_count = NULL, instance_type = NULL,
                    ...) {
  job <- new.env(parent = emptyenv())
  job$name <- name
  job$kind <- kind
  job$outputs <- outputs
  job$instance_count <- instance_count
  job$instance_type <- instance_type
  job$log_cursors <- list()
  job$last_status <- NULL
  fields <- list(...)
  for (field in names(fields)) assign(field, fields[[field]], envir = job)
  # A map job's seed is on its command line (a job attached by name too).
  if (identical(kind, "map") && is.null(job$seed) && length(job$arguments) > 0) {
    job$seed <- parse_worker_args(job$arguments)$seed
  }
  class(job) <- c(sprintf("sagesim_%s_job", backend), "sagesim_job")
  job
}

# What a job runs, told from its command line (for a job attached by name).
job_kind <- function(entrypoint, arguments) {
  if (!identical(as.character(entrypoint), worker_entrypoint)) return("script")
  if ("--map" %in% arguments) return("map")
  sweep <- which(arguments == "--sweep")
  if (length(sweep) > 0 && identical(arguments[sweep[[1]] + 1], "true")) "sweep" else "simulation"
}

# The hosts of a job, as SageMaker names them.
job_hosts <- function(job) {
  if (is.null(job$instance_count)) NULL else sprintf("algo-%d", seq_len(job$instance_count))
}

check_job <- function(job) {
  if (!inherits(job, "sagesim_job")) not_a_job(job)
}

not_a_job <- function(job) {
  abort_argument("job", sprintf("`job` must be a job handle from submit_processing() or attach_job(), not %s.",
                                describe_type(job)))
}

# A failed job is an error, a stopped one a warning; both carry the job so
# that a caller who lost the handle (submit_processing() raised) keeps it.
check_job_outcome <- function(status, job = NULL) {
  if (identical(status$status, "Failed")) {
    abort(c(sprintf("Job %s failed: %s", status$name, status$failure_reason %||% "no reason given"),
            if (!is.null(status$exit_message) && nzchar(status$exit_message))
              sprintf("Exit message: %s", status$exit_message)),
          class = "sagesim_job_failed", job_name = status$name, job = job,
          failure_reason = status$failure_reason, exit_message = status$exit_message,
          call = NULL)
  }
  if (identical(status$status, "Stopped")) {
    warning(structure(class = c("sagesim_job_stopped", "warning", "condition"),
                      list(message = sprintf("Job %s was stopped.", status$name), call = NULL,
                           job_name = status$name, job = job)))
  }
}

# What job_collect() returns: for a simulation job its result, merged over
# hosts (never a part of it); otherwise the files themselves.
collected_results <- function(job, path, errors) {
  if (job$kind %in% c("simulation", "sweep")) {
    grid <- if (identical(job$kind, "sweep")) simulation_of_options(parse_worker_args(job$arguments))
    return(read_job_results(path, hosts = job_hosts(job), location = results_location(job),
                            grid = grid))
  }
  if (identical(job$kind, "map")) {
    return(read_map_results(job, path, errors))
  }
  files <- list.files(path, recursive = TRUE, all.files = FALSE)
  mean_file <- files[basename(files) == "output_result_mean.txt"]
  result_mean <- if (length(mean_file) > 0) {
    as.numeric(trimws(readLines(file.path(path, mean_file[[1]]), n = 1, warn = FALSE)))
  }
  structure(list(
    job_name = job$name,
    path = path,
    files = data.frame(file = files, size = file.size(file.path(path, files)),
                       stringsAsFactors = FALSE),
    result_mean = result_mean
  ), class = "sagesim_job_files")
}

# Where a job's hosts put their results (the output named `output`).
results_location <- function(job, output = "simulation") {
  outputs <- Filter(function(o) identical(o$name, output), job$outputs)
  if (length(outputs) > 0) outputs[[1]]$destination else "the job's outputs"
}

#' @export
print.sagesim_job_files <- function(x, ...) {
  cat(sprintf("<sagesim job outputs> %s\n", x$job_name))
  cat(sprintf("  folder: %s\n", x$path))
  cat(sprintf("  files:  %d (%s bytes)\n", nrow(x$files), format_count(sum(x$files$size))))
  for (f in utils::head(x$files$file, 10)) cat(sprintf("    %s\n", f))
  if (nrow(x$files) > 10) cat(sprintf("    ... and %d more\n", nrow(x$files) - 10))
  if (!is.null(x$result_mean)) cat(sprintf("  output_result_mean.txt: %s\n", format(x$result_mean, digits = 15)))
  invisible(x)
}

#' @export
print.sagesim_job <- function(x, ...) {
  status <- x$last_status
  where <- if (inherits(x, "sagesim_local_job")) "local" else "SageMaker"
  cat(sprintf("<sagesim job> %s (%s, %s)\n", x$name, where, x$kind))
  if (is.null(status)) {
    cat("  status:    unknown (job_status() asks)\n")
  } else {
    cat(sprintf("  status:    %s%s\n", status$status,
                if (!is.null(status$failure_reason)) sprintf(" - %s", status$failure_reason) else ""))
    cat(sprintf("  elapsed:   %s\n", format_elapsed(status)))
  }
  cat(sprintf("  instances: %s x %s\n", x$instance_count %||% "?", x$instance_type %||% "?"))
  if (!is.null(x$seed)) cat(sprintf("  seed:      %s\n", format(x$seed)))
  if (length(x$progress) > 0) {
    done <- sum(vapply(x$progress, `[[`, 1, "done"))
    total <- sum(vapply(x$progress, `[[`, 1, "total"))
    cat(sprintf("  progress:  %s of %s elements done%s\n", format_count(done),
                format_count(x$elements %||% total),
                if (length(x$progress) < (x$instance_count %||% 0)) " (not every host has reported yet)" else ""))
  }
  for (output in x$outputs) {
    cat(sprintf("  output:    %s -> %s\n", output$name, output$destination))
  }
  invisible(x)
}

format_elapsed <- function(status) {
  start <- status$start_time %||% status$creation_time
  if (is.null(start)) return("unknown")
  end <- status$end_time %||% as.numeric(Sys.time())
  seconds <- max(0, end - start)
  if (seconds < 60) return(sprintf("%.1f s", seconds))
  sprintf("%dm %02ds", as.integer(seconds %/% 60), as.integer(round(seconds %% 60)))
}

new_job_status <- function(name, status, failure_reason = NULL, exit_message = NULL,
                           creation_time = NULL, start_time = NULL, end_time = NULL) {
  structure(list(name = name, status = status, failure_reason = failure_reason,
                 exit_message = exit_message, creation_time = creation_time,
                 start_time = start_time, end_time = end_time),
            class = "sagesim_job_status")
}

#' @export
print.sagesim_job_status <- function(x, ...) {
  cat(sprintf("%s: %s\n", x$name, x$status))
  if (!is.null(x$failure_reason)) cat(sprintf("  failure reason: %s\n", x$failure_reason))
  if (!is.null(x$exit_message) && nzchar(x$exit_message)) {
    cat(sprintf("  exit message:   %s\n", x$exit_message))
  }
  cat(sprintf("  elapsed:        %s\n", format_elapsed(x)))
  invisible(x)
}

#' @export
print.sagesim_logs <- function(x, ...) {
  if (nrow(x) == 0) {
    cat("(no log lines yet)\n")
  } else {
    cat(sprintf("[%s] %s\n", x$host, x$message), sep = "")
  }
  invisible(x)
}

log_lines <- function(host = character(), time = numeric(), message = character()) {
  data.frame(host = host, time = as.POSIXct(time, origin = "1970-01-01"), message = message,
             stringsAsFactors = FALSE)
}

# Hosts of map jobs log "<host>: 3 of 10 elements done"; the handle keeps
# the latest count of each host.
note_progress <- function(job, lines) {
  counts <- regmatches(lines$message, regexec("([0-9]+) of ([0-9]+) elements done", lines$message))
  for (k in seq_along(counts)) {
    if (length(counts[[k]]) == 3) {
      job$progress[[lines$host[[k]]]] <- list(done = as.numeric(counts[[k]][[2]]),
                                               total = as.numeric(counts[[k]][[3]]))
    }
  }
  invisible(job)
}

print_log_lines <- function(lines) {
  if (nrow(lines) > 0) cat(sprintf("[%s] %s\n", lines$host, lines$message), sep = "")
  nrow(lines)
}

# What each kind of job implements (R/job-cloud.R, R/job-local.R).
poll_log_lines <- function(job) UseMethod("poll_log_lines")
all_log_lines <- function(job) UseMethod("all_log_lines")
fetch_outputs <- function(job, path) UseMethod("fetch_outputs")
default_poll_interval <- function(job) UseMethod("default_poll_interval")
final_log_delay <- function(job) UseMethod("final_log_delay")

#' Re-attach to a job by name
#'
#' Gives back a handle for a job submitted earlier, also from another R
#' session: a local job (found in `getOption("sagesim.job_dir")`) or else a
#' SageMaker job.
#'
#' @param name The job name.
#' @param session An [aws_session()] for SageMaker jobs; default one from the
#'   standard chain.
#' @return A `sagesim_job`.
#' @examples
#' options(sagesim.job_dir = tempdir())   # where local jobs keep their files
#' job <- submit_processing(simulation = simulation_spec(100, 100, 50, 20, seed = 3),
#'                          instance_type = "local", logs = FALSE)
#' attach_job(job$name)
#' @export
attach_job <- function(name, session = NULL) {
  check_string(name, "name", pattern = job_name_pattern)
  if (dir.exists(local_job_dir(name))) {
    return(attach_local_job(name))
  }
  attach_cloud_job(name, default_session(session))
}

#' List recent jobs
#'
#' SageMaker jobs come newest first, asked of SageMaker page by page (100 at
#' a time) and filtered there.
#'
#' @param n At most this many jobs, newest first.
#' @param name_contains Only jobs whose name contains this.
#' @param status Only jobs with this status.
#' @param local List local jobs instead of SageMaker jobs.
#' @param session An [aws_session()] for SageMaker jobs.
#' @return A data.frame with `name`, `status`, `created`, `ended` and
#'   `failure_reason`.
#' @examples
#' list_jobs(local = TRUE)
#' @export
list_jobs <- function(n = 20, name_contains = NULL, status = NULL, local = FALSE,
                      session = NULL) {
  n <- check_count(n, "n", min = 1, max = 10000)
  check_string(name_contains, "name_contains", null_ok = TRUE)
  if (!is.null(status)) {
    check_choice(status, c("InProgress", "Completed", "Failed", "Stopping", "Stopped"), "status")
  }
  check_flag(local, "local")
  jobs <- if (local) {
    Filter(function(j) {
      (is.null(name_contains) || grepl(name_contains, j$name, fixed = TRUE)) &&
        (is.null(status) || identical(j$status, status))
    }, list_local_jobs())
  } else {
    list_cloud_jobs(default_session(session), n, name_contains, status)
  }
  time <- function(x) as.POSIXct(x %||% NA_real_, origin = "1970-01-01")
  frame <- data.frame(
    name = vapply(jobs, `[[`, character(1), "name"),
    status = vapply(jobs, `[[`, character(1), "status"),
    created = time(vapply(jobs, function(j) j$creation_time %||% NA_real_, numeric(1))),
    ended = time(vapply(jobs, function(j) j$end_time %||% NA_real_, numeric(1))),
    failure_reason = vapply(jobs, function(j) j$failure_reason %||% NA_character_, character(1)),
    stringsAsFactors = FALSE
  )
  frame <- frame[order(frame$created, decreasing = TRUE), , drop = FALSE]
  rownames(frame) <- NULL
  utils::head(frame, n)
}
