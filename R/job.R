#' Follow, stop and collect processing jobs
#'
#' A job handle comes from [submit_processing()], [submit_map()] or
#' [job_attach()] and works the same for SageMaker and local jobs.
#'
#' * `job_status()` asks for the current status (with failure reason and exit
#'   message).
#' * `job_wait()` polls until the job is Completed, Failed or Stopped
#'   (SageMaker jobs with back-off; local jobs several times a second, so
#'   their end is noticed within a second), streaming every host's log lines
#'   to the console (and reading a SageMaker job's once more a few seconds
#'   after the end, as a host's last lines often arrive after its status
#'   changes). A failed job raises a
#'   `sagesim_job_failed` error showing its failure reason; a stopped one ends
#'   the wait with a `sagesim_job_stopped` warning. Ctrl-C stops waiting, not
#'   the job.
#' * `job_logs()` returns every host's log lines so far.
#' * `job_stop()` asks the job to stop (a local job's hosts get TERM, then
#'   KILL after `getOption("sagesim.stop_grace", 10)` seconds) and returns
#'   once it has stopped (local) or SageMaker has been asked.
#' * `job_collect()` downloads the outputs to `path` and returns the
#'   simulation result ([simulate_local()]'s object, merged over hosts) for
#'   simulation and sweep jobs, the list of results for [submit_map()] jobs,
#'   or the downloaded files (and the value of `output_result_mean.txt` when
#'   there is one) for script jobs. A
#'   simulation job whose hosts did not all write their results is an error
#'   (`sagesim_results_missing`) naming those hosts and where sagesim looked:
#'   part of a result is never presented as the result, unless asked for.
#'
#' @section What survives which ending:
#' A map, simulation or sweep job's hosts save what they finish as they go
#' (elements, or runs of iterations, at least every
#' `SAGESIM_CHECKPOINT_EVERY` seconds, default 2, and as they report
#' progress), as Continuous outputs that SageMaker uploads as they are
#' written. So whatever ends the job keeps it: [job_stop()] (or the RStudio
#' Jobs pane's Stop), a host whose code fails (an element that calls
#' `quit()`, an error outside `f`, `max_runtime` reached), a host killed or
#' out of memory, a host that never starts. For a job that ended Failed or
#' Stopped, `job_collect(job, errors = "return")` warns
#' (`sagesim_partial_results`) and returns what the hosts finished:
#' * a map job: the list of all elements, those finished `identical()` to a
#'   clean run's, each of the others a `sagesim_element_unfinished` condition
#'   saying why (the job was stopped; host algo-2 failed with ...; host
#'   algo-2 was lost) with its `host`;
#' * a simulation job: a `sagesim_simulation` of the iterations finished,
#'   with `partial = TRUE` and `ranges` (first and last iteration of each run
#'   of them); its values are a clean run's at those iterations, its
#'   statistics theirs;
#' * a sweep job: a `sagesim_sweep` with `partial = TRUE`, its cells partial
#'   simulations.
#'
#' [job_resubmit()] then runs only the rest. A script job keeps the files it
#' wrote to Continuous outputs; there is nothing to merge.
#'
#' @param job A `sagesim_job`.
#' @param logs Stream the job's logs while waiting.
#' @param poll Seconds between polls (for SageMaker jobs growing to 30 s
#'   while nothing happens); default `getOption("sagesim.poll_interval")`,
#'   else 5 for SageMaker and 0.2 for local jobs.
#' @param timeout Give up waiting after this many seconds (the job goes on);
#'   default `getOption("sagesim.wait_timeout")`, else no limit.
#' @param path Local folder for the outputs, kept there. By default a script
#'   job's outputs go to a folder named after the job in the session's
#'   temporary directory, and the results of a simulation, sweep or map are
#'   read into R without leaving files behind.
#' @param errors For a [submit_map()] job with failed elements: `"stop"` (the
#'   default) raises a `sagesim_map_failed` error listing them; `"return"`
#'   returns the list with each failed element's condition in its place. For
#'   a map, simulation or sweep job that failed or was stopped, `"return"`
#'   returns what its hosts finished (see "What survives which ending").
#' @return `job_status()`: a `sagesim_job_status` list. `job_wait()`,
#'   `job_stop()`: the job, invisibly. `job_logs()`: a data.frame of `host`,
#'   `time` and `message`. `job_collect()`: a `sagesim_simulation`, a
#'   `sagesim_sweep`, a list (map jobs) or a `sagesim_job_files`.
#' @examples
#' old <- options(sagesim.job_dir = tempfile("sagesim-example-"))  # where local jobs keep their files
#' job <- submit_processing(simulation = simulation_spec(100, 100, 50, 100, seed = 3),
#'                          instance_type = "local", wait = FALSE)
#' job_wait(job, logs = FALSE)
#' job_status(job)
#' job_collect(job)
#' unlink(getOption("sagesim.job_dir"), recursive = TRUE)
#' options(old)
#' @name jobs
NULL

#' @rdname jobs
#' @export
job_logs <- function(job, ...) {
  check_unknown_arguments("job_logs", ...)
  check_job(job)
  lines <- all_log_lines(job)
  # Hosts' progress reports are for job_wait() and the Jobs pane, not to read.
  progress <- progress_parse(as.character(lines$message))$line
  if (length(progress) > 0) lines <- lines[-progress, , drop = FALSE]
  rownames(lines) <- NULL
  structure(lines, class = c("sagesim_logs", "data.frame"))
}

#' @rdname jobs
#' @export
job_stop <- function(job, ...) {
  check_unknown_arguments("job_stop", ...)
  check_job(job)
  # A job that has ended keeps what it ended with: its results stay
  # collectable (and SageMaker refuses to stop an ended job).
  status <- job_status(job)
  if (status$status %in% terminal_statuses) {
    message(sprintf("Job %s has already ended (%s); nothing to stop.", job$name, status$status))
    return(invisible(job))
  }
  stop_job(job)
}

#' @rdname jobs
#' @export
job_collect <- function(job, path = NULL, errors = c("stop", "return"), ...) {
  check_unknown_arguments("job_collect", ...)
  check_job(job)
  check_string(path, "path", null_ok = TRUE)
  errors <- match_choice(errors, "errors")
  status <- job_status(job)
  # A job whose hosts did not all finish still has what they finished: with
  # errors = "return", a map's finished elements (each unfinished one a
  # condition), a simulation's or sweep's finished iterations.
  partial <- job$kind %in% c("map", "simulation", "sweep") && identical(errors, "return") &&
    status$status %in% c("Failed", "Stopped")
  if (partial) {
    warning(structure(class = c("sagesim_partial_results", "warning", "condition"), list(
      message = sprintf("Job %s is %s%s: %s (job_resubmit() runs the rest).",
                        job$name, status$status,
                        if (!is.null(status$failure_reason)) sprintf(" (%s)", status$failure_reason) else "",
                        if (identical(job$kind, "map")) "the elements its hosts finished are returned; the others are sagesim_element_unfinished conditions"
                        else "the iterations its hosts finished are returned, as a partial result"),
      call = NULL, job_name = job$name)))
  } else if (identical(status$status, "Failed")) {
    check_job_outcome(status, job)
  }
  if (!partial && status$status %in% c("Stopped", "Stopping")) {
    abort(c(sprintf("Job %s was stopped before it completed.", job$name),
            if (job$kind %in% c("map", "simulation", "sweep")) "What its hosts finished is kept: job_collect(job, errors = \"return\") returns it, job_resubmit(job) runs the rest."
            else "Run it again with job_resubmit()."),
          class = "sagesim_job_not_finished", job_name = job$name, job = job)
  }
  if (!partial && !identical(status$status, "Completed")) {
    abort(sprintf("Job %s is %s; wait for it to complete (job_wait()) before collecting.",
                  job$name, status$status),
          class = "sagesim_job_not_finished", job_name = job$name, job = job)
  }
  # Results read into R need no folder unless one was asked for.
  keep <- !is.null(path) || !job$kind %in% c("map", "simulation", "sweep")
  path <- path %||% file.path(tempdir(), job$name)
  # Outputs land in a staging folder renamed into place only when complete
  # and read, so a failed download or missing results never leave files
  # that look like results.
  staging <- paste0(path, ".partial-", Sys.getpid())
  unlink(staging, recursive = TRUE)
  on.exit(unlink(staging, recursive = TRUE), add = TRUE)
  dir.create(staging, recursive = TRUE, showWarnings = FALSE)
  fetch_outputs(job, staging)
  result <- collected_results(job, staging, errors, partial)
  if (!keep) return(result)
  unlink(path, recursive = TRUE)
  dir.create(dirname(path), recursive = TRUE, showWarnings = FALSE)
  if (!file.rename(staging, path)) {
    abort(sprintf("Could not move the downloaded outputs into %s.", path),
          class = "sagesim_results_error")
  }
  if (inherits(result, "sagesim_job_files")) result$path <- path
  result
}

#' @export
print.sagesim_job <- function(x, ...) {
  # A job that may still be running is asked how it is, and how far its
  # hosts are, so that a job started with `wait = FALSE` prints its progress.
  if (is.null(x$last_status) || !x$last_status$status %in% terminal_statuses) {
    tryCatch(refresh_job(x), sagesim_error = function(e) NULL)
  }
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
  capacity <- capacity_line(x) # R/job-kinds.R
  if (!is.null(capacity)) cat(sprintf("  capacity:  %s\n", capacity))
  cost <- cost_line(x) # R/cost.R
  if (!is.null(cost)) cat(sprintf("  cost:      %s\n", cost))
  if (!is.null(x$seed)) cat(sprintf("  seed:      %s\n", format_number(x$seed)))
  progress <- job_progress(x)
  if (!is.null(progress)) cat(sprintf("  progress:  %s\n", format_progress(progress, x)))
  if (!is.null(x$record$resubmission_of)) {
    cat(sprintf("  reruns:    %s\n", x$record$resubmission_of))
  }
  attempts <- x$record$attempts
  if (length(attempts) > 0) {
    cat(sprintf("  attempts:  %d (%d before this one)\n", length(attempts) + 1, length(attempts)))
    for (attempt in attempts) {
      cat(sprintf("    %s: %s%s; %s\n", attempt$name, attempt$status,
                  if (!is.null(attempt$failure_reason)) paste0(", ", attempt$failure_reason) else "",
                  if (identical(attempt$rerun, "all")) "run again whole" else "its missing share run again"))
    }
  }
  for (output in x$outputs) {
    cat(sprintf("  output:    %s -> %s\n", output$name, output$destination))
  }
  invisible(x)
}

# The job's status and its hosts' progress, read from their logs without
# taking the lines job_wait() shows.
refresh_job <- function(job) {
  status <- job_status(job)
  lines <- new_log_lines(job, "progress_cursors")
  note_progress(job, lines)
  status
}

# A failed job is an error, a stopped one a warning; both carry the job so
# that a caller who lost the handle (submit_processing() raised) keeps it.
check_job_outcome <- function(status, job = NULL) {
  if (identical(status$status, "Failed")) {
    abort(c(sprintf("Job %s failed: %s", status$name, status$failure_reason %||% "no reason given"),
            if (!is.null(distinct_exit_message(status)))
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

# What job_collect() returns: for a simulation or sweep job its result,
# merged over hosts (never a part of it), for a map job the list of values;
# otherwise the files themselves.
collected_results <- function(job, path, errors, partial = FALSE) {
  if (job$kind %in% c("simulation", "sweep")) {
    # A follow-up of a job that lost hosts completes the results it left.
    fetch_earlier_results(job, path)
    grid <- if (identical(job$kind, "sweep")) record_simulation(job$record)
    return(read_job_results(path, hosts = job_hosts(job), location = results_location(job),
                            grid = grid, partial = partial, job = job))
  }
  if (identical(job$kind, "map")) {
    return(read_map_results(job, path, errors, partial))
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

#' Re-attach to a job by name
#'
#' Gives back a handle for a job submitted earlier, also from another R
#' session: a local job (found under `getOption("sagesim.job_dir")`, see
#' [job_remove()]) or else a
#' SageMaker job. What the job is (its kind, settings, seed, elements) comes
#' from the record sagesim wrote when it was submitted; a SageMaker job
#' without one (made by the Python SDK, or an older sagesim) is attached as
#' a script job. `attach_job()` is the former name of `job_attach()`.
#'
#' @param name The job name.
#' @param session An [aws_session()] for SageMaker jobs; default one from the
#'   standard chain.
#' @return A `sagesim_job`. A name that no backend knows is a
#'   `sagesim_job_not_found` error.
#' @examples
#' old <- options(sagesim.job_dir = tempfile("sagesim-example-"))  # where local jobs keep their files
#' job <- submit_processing(simulation = simulation_spec(100, 100, 50, 20, seed = 3),
#'                          instance_type = "local", logs = FALSE)
#' job_attach(job$name)
#' unlink(getOption("sagesim.job_dir"), recursive = TRUE)
#' options(old)
#' @param ... Not used: an argument these do not take is refused
#'   (`sagesim_unknown_argument`), naming the one meant.
#' @export
job_attach <- function(name, session = NULL, ...) {
  check_unknown_arguments("job_attach", ...)
  check_name(name, "name", job_name_pattern)
  if (!is.null(session)) check_class(session, "sagesim_session", "session", "aws_session()")
  not_asked <- character()
  for (backend in job_backends()) {
    job <- tryCatch(backend$attach(name, session), sagesim_backend_unavailable = function(e) {
      not_asked[[backend$label]] <<- conditionMessage(e)
      NULL
    })
    if (!is.null(job)) return(job)
  }
  abort(c(sprintf("No job named %s: %s.", name, paste(vapply(job_backends(), function(b) {
            if (b$label %in% names(not_asked)) not_asked[[b$label]] else b$where(session)
          }, character(1)), collapse = "; ")),
          "list_jobs() shows the jobs there are."),
        class = "sagesim_job_not_found", job_name = name)
}

#' @rdname job_attach
#' @export
attach_job <- function(name, session = NULL) {
  deprecated_name("attach_job()", "job_attach()")
  job_attach(name, session)
}

#' List recent jobs
#'
#' Local jobs and SageMaker jobs, newest first. SageMaker jobs are asked of
#' SageMaker page by page (100 at a time) and filtered there; when no AWS
#' account is configured, local jobs are listed with a message saying why
#' SageMaker's are not.
#'
#' @param n At most this many jobs, newest first.
#' @param name_contains Only jobs whose name contains this.
#' @param status Only jobs with this status.
#' @param instance_type `"local"` for local jobs only, `"sagemaker"` for
#'   SageMaker jobs only; `NULL` (the default) for both.
#' @param details Also read each job's record: its `kind`, `instance_count`
#'   and `instance_type` (one S3 request per SageMaker job).
#' @param session An [aws_session()] for SageMaker jobs.
#' @param local Deprecated: use `instance_type = "local"`.
#' @return A data.frame with `name`, `where` (`"local"` or `"SageMaker"`),
#'   `status`, `created`, `ended` and `failure_reason` (and with `details`,
#'   `kind`, `instance_count`, `instance_type`).
#' @examples
#' old <- options(sagesim.job_dir = tempfile("sagesim-example-"))  # where local jobs keep their files
#' list_jobs(instance_type = "local", details = TRUE)
#' unlink(getOption("sagesim.job_dir"), recursive = TRUE)
#' options(old)
#' @param ... Not used: an argument these do not take is refused
#'   (`sagesim_unknown_argument`), naming the one meant.
#' @export
list_jobs <- function(n = 20, name_contains = NULL, status = NULL, instance_type = NULL,
                      details = FALSE, session = NULL, local = NULL, ...) {
  check_unknown_arguments("list_jobs", ...)
  n <- check_count(n, "n", min = 1, max = 10000)
  check_string(name_contains, "name_contains", null_ok = TRUE)
  if (!is.null(status)) {
    check_choice(status, c("InProgress", "Completed", "Failed", "Stopping", "Stopped"), "status")
  }
  if (!is.null(local)) {
    deprecated_name("list_jobs(local = )", "list_jobs(instance_type = \"local\")")
    check_flag(local, "local")
    instance_type <- if (local) "local" else "sagemaker"
  }
  if (!is.null(instance_type)) check_choice(instance_type, c("local", "sagemaker"), "instance_type")
  check_flag(details, "details")
  if (!is.null(session)) check_class(session, "sagesim_session", "session", "aws_session()")
  backends <- job_backends()
  if (!is.null(instance_type)) {
    backends <- backends[names(backends) == if (instance_type == "local") "local" else "cloud"]
  }
  frames <- list()
  for (backend in backends) {
    listed <- tryCatch(backend$list(n, name_contains, status, details, session),
                       sagesim_backend_unavailable = function(e) {
                         if (!is.null(instance_type)) stop(e)
                         message(sprintf("%s jobs are not listed: %s", backend$label,
                                         conditionMessage(e)))
                         NULL
                       })
    if (!is.null(listed)) frames[[length(frames) + 1]] <- listed
  }
  frame <- if (length(frames) > 0) do.call(rbind, frames) else job_list_frame(list(), character())
  frame <- frame[order(frame$created, decreasing = TRUE), , drop = FALSE]
  rownames(frame) <- NULL
  utils::head(frame, n)
}
