#' Follow, stop and collect processing jobs
#'
#' A job handle comes from [submit_processing()] or [attach_job()] and works
#' the same for SageMaker and local jobs.
#'
#' * `job_status()` asks for the current status (with failure reason and exit
#'   message).
#' * `job_wait()` polls, with back-off, until the job is Completed, Failed or
#'   Stopped, streaming every host's log lines to the console. A failed job
#'   raises a `sagesim_job_failed` error showing its failure reason; a stopped
#'   one ends the wait with a `sagesim_job_stopped` warning. Ctrl-C stops
#'   waiting, not the job.
#' * `job_logs()` returns every host's log lines so far.
#' * `job_stop()` asks the job to stop.
#' * `job_collect()` downloads the outputs to `path` and returns the
#'   simulation result ([simulate_local()]'s object, merged over hosts) for
#'   simulation jobs, or the downloaded files (and the value of
#'   `output_result_mean.txt` when there is one) for script jobs.
#'
#' @param job A `sagesim_job`.
#' @param logs Stream the job's logs while waiting.
#' @param poll Seconds between the first polls (growing to 30 s while
#'   nothing happens); default `getOption("sagesim.poll_interval")`, else 5
#'   for SageMaker and 0.5 for local jobs.
#' @param timeout Give up waiting after this many seconds (the job goes on).
#' @param path Local folder for the outputs; default a folder named after the
#'   job in the session's temporary directory.
#' @return `job_status()`: a `sagesim_job_status` list. `job_wait()`,
#'   `job_stop()`: the job, invisibly. `job_logs()`: a data.frame of `host`,
#'   `time` and `message`. `job_collect()`: a `sagesim_simulation` or a
#'   `sagesim_job_files`.
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

#' @rdname jobs
#' @export
job_wait <- function(job, logs = TRUE, poll = NULL, timeout = Inf) {
  call <- sys.call()
  check_job(job, call = call)
  check_flag(logs, "logs", call = call)
  if (!is.null(poll)) check_number(poll, "poll", min = 0, above = TRUE, call = call)
  check_number(timeout, "timeout", min = 0, above = TRUE, finite = FALSE, call = call)
  delay <- poll %||% getOption("sagesim.poll_interval") %||% default_poll_interval(job)
  started <- Sys.time()
  finished <- FALSE
  on.exit(if (!finished) {
    message(sprintf("Stopped waiting; job %s goes on. Pick it up with attach_job(\"%s\"), or job_stop() it.",
                    job$name, job$name))
  }, add = TRUE)
  # Logs are a courtesy: trouble reading them (throttling, a stream not
  # there yet) is reported once and the wait goes on.
  logs_failed <- FALSE
  print_new_logs <- function() {
    tryCatch(print_log_lines(poll_log_lines(job)), sagesim_aws_error = function(e) {
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
    new_lines <- if (logs) print_new_logs() else 0
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
  if (logs) print_new_logs()
  finished <- TRUE
  check_job_outcome(status, job)
  invisible(job)
}

#' @rdname jobs
#' @export
job_logs <- function(job) {
  check_job(job, call = sys.call())
  lines <- all_log_lines(job)
  structure(lines, class = c("sagesim_logs", "data.frame"))
}

#' @rdname jobs
#' @export
job_stop <- function(job) UseMethod("job_stop")

#' @rdname jobs
#' @export
job_collect <- function(job, path = NULL) {
  call <- sys.call()
  check_job(job, call = call)
  check_string(path, "path", null_ok = TRUE, call = call)
  status <- job_status(job)
  if (!identical(status$status, "Completed")) {
    check_job_outcome(status, job)
    abort(sprintf("Job %s is %s; wait for it to complete (job_wait()) before collecting.",
                  job$name, status$status),
          class = "sagesim_job_not_finished", job_name = job$name, call = call)
  }
  path <- path %||% file.path(tempdir(), job$name)
  # Outputs land in a staging folder renamed into place only when complete,
  # so a failed download never leaves files that look like results.
  staging <- paste0(path, ".partial-", Sys.getpid())
  unlink(staging, recursive = TRUE)
  on.exit(unlink(staging, recursive = TRUE), add = TRUE)
  dir.create(staging, recursive = TRUE, showWarnings = FALSE)
  fetch_outputs(job, staging)
  unlink(path, recursive = TRUE)
  dir.create(dirname(path), recursive = TRUE, showWarnings = FALSE)
  if (!file.rename(staging, path)) {
    abort(sprintf("Could not move the downloaded outputs into %s.", path),
          class = "sagesim_results_error", call = call)
  }
  collected_results(job, path)
}

fetch_outputs <- function(job, path) UseMethod("fetch_outputs")

default_poll_interval <- function(job) UseMethod("default_poll_interval")

terminal_statuses <- c("Completed", "Failed", "Stopped")

check_job <- function(job, call = sys.call(-1)) {
  if (!inherits(job, "sagesim_job")) {
    abort_argument("job", sprintf("`job` must be a job handle from submit_processing() or attach_job(), not %s.",
                                  describe_type(job)), call = call)
  }
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

# What job_collect() returns: the simulation, merged over hosts, when the
# outputs hold result files; otherwise the files themselves.
collected_results <- function(job, path) {
  files <- list.files(path, recursive = TRUE, all.files = FALSE)
  if (any(grepl(shard_file_pattern, basename(files)))) {
    return(read_simulation_results(path))
  }
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

print_log_lines <- function(lines) {
  if (nrow(lines) > 0) cat(sprintf("[%s] %s\n", lines$host, lines$message), sep = "")
  nrow(lines)
}

poll_log_lines <- function(job) UseMethod("poll_log_lines")

all_log_lines <- function(job) UseMethod("all_log_lines")

#' Re-attach to a job by name
#'
#' Gives back a handle for a job submitted earlier, also from another R
#' session: a local job (found in `getOption("sagesim.job_dir")`) or else a
#' SageMaker job.
#'
#' @param name The job name.
#' @param session An [aws_session()] for SageMaker jobs.
#' @return A `sagesim_job`.
#' @examples
#' options(sagesim.job_dir = tempdir())   # where local jobs keep their files
#' job <- submit_processing(simulation = simulation_spec(100, 100, 50, 20, seed = 3),
#'                          instance_type = "local", logs = FALSE)
#' attach_job(job$name)
#' @export
attach_job <- function(name, session = NULL) {
  call <- sys.call()
  check_string(name, "name", pattern = job_name_pattern, call = call)
  if (dir.exists(local_job_dir(name))) {
    return(attach_local_job(name))
  }
  session <- default_session(session, call = call)
  description <- tryCatch(
    aws_request(session, "sagemaker:DescribeProcessingJob", list(ProcessingJobName = name),
                call = call),
    sagesim_aws_ValidationException = function(e) {
      abort(sprintf("No processing job named %s in %s (%s).", name, session$region, e$aws_message),
            class = "sagesim_job_not_found", job_name = name, call = call)
    }
  )
  outputs <- lapply(description$ProcessingOutputConfig$Outputs, function(output) {
    list(name = output$OutputName, destination = output$S3Output$S3Uri,
         source = output$S3Output$LocalPath)
  })
  entrypoint <- unlist(description$AppSpecification$ContainerEntrypoint)
  job <- new_cloud_job(name, session,
                       kind = if (any(grepl("run_worker", entrypoint, fixed = TRUE))) "simulation" else "script",
                       outputs = outputs)
  update_cloud_status(job, description)
  job
}

#' List recent jobs
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
  call <- sys.call()
  n <- check_count(n, "n", min = 1, max = 10000, call = call)
  check_string(name_contains, "name_contains", null_ok = TRUE, call = call)
  if (!is.null(status)) {
    check_choice(status, c("InProgress", "Completed", "Failed", "Stopping", "Stopped"), "status",
                 call = call)
  }
  check_flag(local, "local", call = call)
  jobs <- if (local) list_local_jobs() else {
    session <- default_session(session, call = call)
    reply <- aws_request(session, "sagemaker:ListProcessingJobs",
                         Filter(Negate(is.null), list(MaxResults = n, NameContains = name_contains,
                                                      StatusEquals = status)), call = call)
    lapply(reply$ProcessingJobSummaries, function(s) new_job_status(
      s$ProcessingJobName, s$ProcessingJobStatus, s$FailureReason, s$ExitMessage,
      creation_time = s$CreationTime, end_time = s$ProcessingEndTime))
  }
  if (!is.null(name_contains)) jobs <- Filter(function(j) grepl(name_contains, j$name, fixed = TRUE), jobs)
  if (!is.null(status)) jobs <- Filter(function(j) identical(j$status, status), jobs)
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

# --- SageMaker jobs -------------------------------------------------------------

new_cloud_job <- function(name, session, kind, outputs, instance_count = NULL,
                          instance_type = NULL) {
  job <- new.env(parent = emptyenv())
  job$name <- name
  job$session <- session
  job$kind <- kind
  job$outputs <- outputs
  job$instance_count <- instance_count
  job$instance_type <- instance_type
  job$log_cursors <- list()
  job$last_status <- NULL
  class(job) <- c("sagesim_cloud_job", "sagesim_job")
  job
}

update_cloud_status <- function(job, d) {
  cluster <- d$ProcessingResources$ClusterConfig
  if (!is.null(cluster)) {
    job$instance_count <- cluster$InstanceCount
    job$instance_type <- cluster$InstanceType
  }
  job$last_status <- new_job_status(
    job$name, d$ProcessingJobStatus, d$FailureReason, d$ExitMessage,
    creation_time = d$CreationTime, start_time = d$ProcessingStartTime,
    end_time = d$ProcessingEndTime)
  job$last_status
}

#' @export
job_status.sagesim_cloud_job <- function(job) {
  description <- aws_request(job$session, "sagemaker:DescribeProcessingJob",
                             list(ProcessingJobName = job$name))
  update_cloud_status(job, description)
}

#' @export
job_stop.sagesim_cloud_job <- function(job) {
  aws_request(job$session, "sagemaker:StopProcessingJob", list(ProcessingJobName = job$name))
  message(sprintf("Asked SageMaker to stop %s.", job$name))
  invisible(job)
}

#' @export
default_poll_interval.sagesim_cloud_job <- function(job) 5

log_group <- "/aws/sagemaker/ProcessingJobs"

# Streams are named {job}/{host}-{epoch}; the host is what users recognise.
host_of_stream <- function(stream, job_name) {
  sub("-[0-9]+$", "", substring(stream, nchar(job_name) + 2))
}

cloud_log_lines <- function(job, cursors) {
  # (A log group not there yet is an empty list.)
  streams <- aws_request(job$session, "logs:DescribeLogStreams",
                         list(LogGroupName = log_group, LogStreamNamePrefix = paste0(job$name, "/")))
  lines <- list()
  for (stream in streams$LogStreams) {
    name <- stream$LogStreamName
    reply <- aws_request(job$session, "logs:GetLogEvents", Filter(Negate(is.null), list(
      LogGroupName = log_group, LogStreamName = name, NextToken = cursors[[name]],
      StartFromHead = TRUE)))
    cursors[[name]] <- reply$NextForwardToken
    if (length(reply$Events) > 0) {
      lines[[length(lines) + 1]] <- log_lines(
        host = host_of_stream(name, job$name),
        time = vapply(reply$Events, function(e) e$Timestamp, numeric(1)),
        message = vapply(reply$Events, function(e) sub("\n$", "", e$Message), character(1)))
    }
  }
  list(lines = if (length(lines) > 0) do.call(rbind, lines) else log_lines(), cursors = cursors)
}

#' @export
poll_log_lines.sagesim_cloud_job <- function(job) {
  result <- cloud_log_lines(job, job$log_cursors)
  job$log_cursors <- result$cursors
  result$lines
}

#' @export
all_log_lines.sagesim_cloud_job <- function(job) {
  cloud_log_lines(job, list())$lines
}

#' @export
fetch_outputs.sagesim_cloud_job <- function(job, path) {
  for (output in job$outputs) {
    location <- parse_s3_uri(output$destination)
    aws_request(job$session, "s3:DownloadPrefix",
                list(Bucket = location$bucket, Prefix = paste0(sub("/+$", "", location$key), "/"),
                     Directory = file.path(path, output$name)))
  }
}
