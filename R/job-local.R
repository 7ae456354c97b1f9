# Local jobs: submit_processing(instance_type = "local") runs the job on this
# machine, one process (or container) per host, each with its own /opt/ml
# laid out by the runtime stand-in (R/runtime.R) and started by its run.sh
# (R/runners.R). A local job is entirely described by its folder, so any R
# session can attach to it, follow it, stop it and collect it:
#
#   {job_dir}/local-jobs/{name}/
#     job.json                      the job record (R/record.R)
#     results-key                   the key its hosts sign results with (R/integrity.R)
#     map/payload.rds               a map job's payload, once (hosts link to it)
#     hosts/{host}/...              each host: its /opt/ml, run.sh, pid, log, exit_code
#     output/{output}/              outputs without another destination
#     stopped                       present once job_stop() was called
#     outputs-delivered             present once outputs reached their destination

local_backend <- function() {
  new_backend("local", start = start_local_job, attach = attach_local_job, list = list_local_jobs,
              where = function(session) sprintf("no local job of that name in %s", local_job_root()))
}

local_job_root <- function() {
  # Expanded: the folder name also goes to Rust, which knows nothing of `~`.
  file.path(path.expand(getOption("sagesim.job_dir") %||% tools::R_user_dir("sagesim", "data")),
            "local-jobs")
}

local_job_dir <- function(name) file.path(local_job_root(), name)

start_local_job <- function(plan, session) {
  dir <- local_job_dir(plan$name)
  if (file.exists(dir)) {
    abort(sprintf("A local job named %s already exists in %s; choose another `job_name`.",
                  plan$name, local_job_root()),
          class = c("sagesim_job_exists", "sagesim_invalid_argument"), argument = "job_name",
          job_name = plan$name)
  }
  settings <- plan$settings
  # Chosen before anything is created: a missing engine or a refused
  # namespace leaves nothing behind.
  runner <- local_runner(settings$image_uri, isTRUE(settings$network$enable_network_isolation))
  needs_s3 <- any(vapply(plan$inputs, function(i) is_s3_uri(i$source), logical(1))) ||
    any(vapply(plan$outputs, function(o) !is.null(o$destination) && is_s3_uri(o$destination),
               logical(1)))
  # The session's credentials stand in for the job's role: given, needed, or
  # already made in this R session.
  session <- if (needs_s3) default_session(session) else session %||% session_cache$default
  defaulted <- vapply(Filter(function(o) is.null(o$destination), plan$outputs), `[[`, "", "name")
  # A Spot or warm-pool job rehearses a Training job: its outputs are its
  # checkpoints, kept in the job's folder as SageMaker keeps them in S3.
  plan$training <- training_plan(settings, normalizePath(dir, mustWork = FALSE)) # R/job-kinds.R
  outputs <- lapply(plan$outputs, function(output) {
    output$destination <- output$destination %||% if (!is.null(plan$training)) {
      training_output_destination(plan$training, output$name)
    } else {
      file.path(dir, "output", output$name)
    }
    if (!is_s3_uri(output$destination)) {
      output$destination <- normalizePath(output$destination, mustWork = FALSE)
    }
    output
  })
  dir.create(dir, recursive = TRUE)
  launched <- FALSE
  # A job that cannot be fully staged is removed: nothing half-done remains.
  on.exit(if (!launched) unlink(dir, recursive = TRUE), add = TRUE)
  inputs <- lapply(plan$inputs, function(input) {
    # A map's payload is kept once, in the job's folder: each host links to
    # it, and a resubmission reads it from there.
    if (identical(plan$work$kind, "map") && identical(input$name, "map")) {
      dir.create(file.path(dir, "map"))
      copy_into(input$source, file.path(dir, "map"))
      input$source <- normalizePath(file.path(dir, "map"))
    }
    input
  })
  record <- new_job_record(plan, role = settings$role %||% "local", inputs, outputs, defaulted,
                           runner)
  write_record_file(record, file.path(dir, "job.json"))
  key <- write_results_key(plan_results_key(plan), dir)
  config <- record_job_config(record)
  hosts <- record_hosts(record)
  request <- stage_hosts(config, dir, hosts, session)
  for (host in hosts) {
    write_host_script(request, dir, host, runner,
                      extra_env = c(results_key_environment(key),
                                    rehearsed_interruption(plan$training, host)))
    if (!is.null(session)) {
      aws_request(session, "session:WriteHostCredentials",
                  list(Path = file.path(normalizePath(host_dir(dir, host)), "credentials")))
    }
  }
  if (identical(runner$mode, "process") && length(runner$tried) > 0) warn_no_namespace(runner)
  for (host in hosts) launch_host(dir, host)
  launched <- TRUE
  job <- local_job(record, dir, session)
  local_status(job)
  job
}

# A local job's record and key are in its folder, which only this user
# writes: its hosts' arguments are the record's.
local_job <- function(record, dir, session = NULL) {
  new_job(record$plan$name, "local", record, dir = dir, hosts = record_hosts(record),
          created = record$created, runner = record$hosts, session = session,
          results_key = read_results_key(dir), request_arguments = record$plan$arguments)
}

# A local job's handle, or NULL when there is no local job of that name.
attach_local_job <- function(name, session = NULL) {
  dir <- local_job_dir(name)
  if (!file.exists(file.path(dir, "job.json"))) return(NULL)
  job <- local_job(read_record_file(file.path(dir, "job.json")), dir, session)
  local_status(job)
  job
}

local_status <- function(job) {
  dir <- job$dir
  # Every verb on a removed job (job_remove()) says so, as job_attach() does.
  if (!dir.exists(dir)) {
    abort(sprintf("Local job %s was removed: its folder %s is gone.", job$name, dir),
          class = "sagesim_job_not_found", job_name = job$name)
  }
  # Liveness first, exit codes second: run.sh renames its exit code into
  # place before it ends, so a host seen gone has one by the second read.
  # (Read the other way round, a host ending between the reads looked lost.)
  alive <- vapply(job$hosts, function(h) host_process_alive(dir, h), logical(1))
  exit_codes <- vapply(job$hosts, function(h) host_exit_code(dir, h), integer(1))
  alive <- alive & is.na(exit_codes)
  stopped <- stop_marker(dir)
  # A stop that came when every host had already done its work (a race with
  # job_stop()'s look at the status) leaves a completed job.
  finished <- all(!is.na(exit_codes) & exit_codes == 0L)
  end_time <- if (!any(alive)) {
    ends <- c(file.path(host_dir(dir, job$hosts), "exit_code"), if (!finished) stopped)
    max(c(job$created, as.numeric(file.mtime(ends[file.exists(ends)]))))
  }
  endings <- host_endings(dir, job$hosts, exit_codes, alive, file.exists(stopped) && !finished)
  status <- function(value, reason = NULL, message = NULL) {
    job$last_status <- new_job_status(job$name, value, reason, message,
                                      creation_time = job$created, start_time = job$created,
                                      end_time = if (value %in% terminal_statuses) end_time,
                                      hosts = endings)
    job$last_status
  }
  if (any(alive)) {
    return(status(if (file.exists(stopped) && !finished) "Stopping" else "InProgress"))
  }
  # Whatever ended the job, what its hosts wrote as they went (Continuous
  # outputs) reaches its destination, as SageMaker uploads it.
  if (!finished) tryCatch(deliver_local_outputs(job, failed = TRUE), error = function(e) NULL)
  if (file.exists(stopped) && !finished) return(status("Stopped"))
  failed <- job$hosts[endings$ending != "completed"]
  if (length(failed) > 0) {
    host <- failed[[1]]
    return(status("Failed", endings$reason[[host]], endings$message[[host]]))
  }
  delivered <- tryCatch({
    deliver_local_outputs(job)
    TRUE
  }, error = function(e) conditionMessage(e))
  if (!isTRUE(delivered)) {
    return(status("Failed", sprintf("ClientError: outputs could not be delivered: %s", delivered)))
  }
  status("Completed")
}

host_exit_code <- function(dir, host) {
  code <- suppressWarnings(as.integer(read_small_file(file.path(host_dir(dir, host), "exit_code"))))
  if (length(code) == 1) code else NA_integer_
}

# How each host ended (or that it runs): `ending` is "running", "completed",
# "failed" (its code failed), "lost" (killed by a signal, or gone without an
# exit status: for the job an internal error, as when SageMaker loses an
# instance) or "stopped"; `reason` is the job's failure reason it gives, and
# `message` its exit message.
host_endings <- function(dir, hosts, exit_codes, alive, stopped) {
  one <- function(host) {
    code <- exit_codes[[host]]
    if (alive[[host]]) return(list("running", NULL, NULL))
    if (!is.na(code) && code == 0L) return(list("completed", NULL, NULL))
    output <- file.path(host_opt_ml(dir, host), "output")
    # (A Training host's message is its failure file.)
    message <- read_small_file(file.path(output, "message")) %||%
      read_small_file(file.path(output, "failure")) %||% r_error_line(dir, host)
    if (stopped && (is.na(code) || code > 128L || code == 143L)) {
      return(list("stopped", sprintf("%s was stopped", host), NULL))
    }
    if (is.na(code)) {
      how <- if (host_never_started(dir, host)) "it never started" else "it ended without an exit status"
      return(list("lost", sprintf("InternalServerError: %s was lost: %s", host, how), NULL))
    }
    if (code > 128L && is.null(message)) {
      return(list("lost", sprintf("InternalServerError: %s was lost: it was ended by signal %d",
                                  host, code - 128L), NULL))
    }
    if (code == 124L && is.null(message)) {
      return(list("failed", sprintf("MaxRuntimeExceeded: %s ran longer than max_runtime", host),
                  NULL))
    }
    list("failed", sprintf("AlgorithmError: %s exited with status %d%s", host, code,
                           if (!is.null(message)) paste0(": ", message) else ""),
         message)
  }
  each <- stats::setNames(lapply(hosts, one), hosts)
  list(ending = vapply(each, `[[`, "", 1),
       reason = lapply(each, `[[`, 2), message = lapply(each, `[[`, 3))
}

host_log <- function(dir, host) {
  log <- file.path(host_dir(dir, host), "log")
  # No log if the host failed before its command started.
  if (file.exists(log)) readLines(log, warn = FALSE) else character()
}

# The error that stopped an R script (the `Error ...` lines before R's
# "Execution halted"), the exit message of a host that wrote none.
r_error_line <- function(dir, host) {
  lines <- host_log(dir, host)
  halted <- utils::tail(which(lines == "Execution halted"), 1)
  if (length(halted) == 0) return(NULL)
  start <- utils::tail(which(startsWith(lines[seq_len(halted - 1)], "Error")), 1)
  if (length(start) == 0) return(NULL)
  substr(paste(trimws(lines[start:(halted - 1)]), collapse = " "), 1, 1024)
}

# Once every host succeeded (or, `failed`, a host was lost: then Continuous
# outputs only), the outputs go to their destinations, exactly once even if
# several R sessions look.
deliver_local_outputs <- function(job, failed = FALSE) {
  marker <- file.path(job$dir, "outputs-delivered")
  if (file.exists(marker)) return(invisible())
  lock <- file.path(job$dir, "outputs-delivering")
  if (!dir.create(lock, showWarnings = FALSE)) {
    abort("another R session is delivering this job's outputs right now; try again",
          class = "sagesim_local_job_error")
  }
  on.exit(unlink(lock, recursive = TRUE), add = TRUE)
  needs_s3 <- any(vapply(job$outputs, function(o) is_s3_uri(o$destination), logical(1)))
  if (needs_s3) job$session <- default_session(job$session)
  deliver_outputs(record_job_config(job$record), job$dir, job$hosts, job$session,
                  kms_key = job$record$upload_kms_key, failed = failed)
  file.create(marker)
  invisible()
}

#' @export
job_status.sagesim_local_job <- function(job, ...) local_status(job)

stop_job.sagesim_local_job <- function(job) {
  stopped <- stop_marker(job$dir)
  file.create(stopped)
  groups <- host_process_groups(job$dir, job$hosts)
  stop_process_groups(groups, grace = getOption("sagesim.stop_grace", 10))
  runner <- job$runner
  # A docker or podman container is the engine's child, not the host's: it
  # is removed by name. (A buildah host's own run.sh removes its container.)
  if (identical(runner$mode, "container") && runner$engine != "buildah") {
    system2(runner$engine_path, c("rm", "-f", container_name(job$name, job$hosts)),
            stdout = FALSE, stderr = FALSE)
  }
  # The job ended now: its end time is the marker's.
  Sys.setFileTime(stopped, Sys.time())
  local_status(job)
  message(sprintf("Stopped local job %s.", job$name))
  invisible(job)
}

#' @export
default_poll_interval.sagesim_local_job <- function(job) 0.2

# Its processes are watched, not asked of a service: no back-off.
#' @export
next_poll_delay.sagesim_local_job <- function(job, delay, new_lines) delay

# A host's log is complete once its process has ended.
#' @export
final_log_delay.sagesim_local_job <- function(job) 0

# New lines of every host's log since the last poll: complete lines while
# the host runs, and its last line too (newline or not) once it has ended.
#' @export
new_log_lines.sagesim_local_job <- function(job, cursors = "log_cursors") {
  lines <- list()
  for (host in job$hosts) {
    path <- file.path(host_dir(job$dir, host), "log")
    if (!file.exists(path)) next
    ended <- file.exists(file.path(host_dir(job$dir, host), "exit_code"))
    offset <- job[[cursors]][[host]] %||% 0
    size <- file.size(path)
    if (size <= offset) next
    connection <- file(path, "rb")
    seek(connection, offset)
    bytes <- readBin(connection, "raw", size - offset)
    close(connection)
    ends <- which(bytes == as.raw(10L))
    end <- if (ended) length(bytes) else if (length(ends) > 0) ends[[length(ends)]] else 0
    if (end == 0) next
    complete <- bytes[seq_len(end)]
    job[[cursors]][[host]] <- offset + length(complete)
    text <- strsplit(rawToChar(complete), "\n", fixed = TRUE)[[1]]
    lines[[host]] <- log_lines(host, rep(as.numeric(Sys.time()), length(text)), text)
  }
  if (length(lines) > 0) do.call(rbind, unname(lines)) else log_lines()
}

#' @export
all_log_lines.sagesim_local_job <- function(job) {
  lines <- lapply(job$hosts, function(host) {
    path <- file.path(host_dir(job$dir, host), "log")
    text <- if (file.exists(path)) readLines(path, warn = FALSE) else character()
    log_lines(rep(host, length(text)), rep(as.numeric(file.mtime(path)), length(text)), text)
  })
  do.call(rbind, lines)
}

#' @export
fetch_outputs.sagesim_local_job <- function(job, path) {
  for (output in job$outputs) {
    target <- file.path(path, output$name)
    dir.create(target, recursive = TRUE, showWarnings = FALSE)
    if (is_s3_uri(output$destination)) {
      location <- parse_s3_uri(output$destination)
      aws_request(default_session(job$session), "s3:DownloadPrefix",
                  list(Bucket = location$bucket, Prefix = paste0(sub("/+$", "", location$key), "/"),
                       Directory = target))
    } else if (dir.exists(output$destination)) {
      copy_into(output$destination, target)
    }
  }
}

# Every local job's status (and, with `details`, its record's fields).
list_local_jobs <- function(n, name_contains, status, details, session) {
  names <- list.dirs(local_job_root(), full.names = FALSE, recursive = FALSE)
  names <- names[file.exists(file.path(local_job_root(), names, "job.json"))]
  if (!is.null(name_contains)) names <- names[grepl(name_contains, names, fixed = TRUE)]
  jobs <- lapply(names, attach_local_job)
  statuses <- lapply(jobs, `[[`, "last_status")
  keep <- is.null(status) | vapply(statuses, function(s) identical(s$status, status), logical(1))
  job_list_frame(statuses[keep], "local",
                 if (details) lapply(jobs[keep], `[[`, "record"))
}

#' Remove local jobs' folders
#'
#' A local job keeps its hosts' files, logs and outputs in its folder,
#' `local-jobs/<name>` under `getOption("sagesim.job_dir")` (default
#' `tools::R_user_dir("sagesim", "data")`), until it is removed. `job_remove()`
#' removes one local job's folder; `clean_local_jobs()` removes those of
#' every local job that has ended (Completed, Failed or Stopped) and was
#' created more than `older_than` days ago. A job that is still running is
#' never removed (stop it first with [job_stop()]); outputs delivered
#' elsewhere (another folder, S3) stay where they are.
#'
#' @param job A local job's handle or name.
#' @param older_than Days: only jobs created longer ago than this.
#' @param dry_run List what would be removed, and remove nothing.
#' @return `job_remove()`: the job's name, invisibly. `clean_local_jobs()`:
#'   the [list_jobs()] rows of the jobs removed (or that would be), invisibly.
#' @examples
#' old <- options(sagesim.job_dir = tempfile("sagesim-example-"))  # where local jobs keep their files
#' job <- submit_processing(simulation = simulation_spec(100, 100, 50, 20, seed = 3),
#'                          instance_type = "local", logs = FALSE)
#' job_remove(job)
#' clean_local_jobs(older_than = 30, dry_run = TRUE)
#' unlink(getOption("sagesim.job_dir"), recursive = TRUE)
#' options(old)
#' @export
job_remove <- function(job, ...) {
  check_unknown_arguments("job_remove", ...)
  if (is.character(job)) {
    check_name(job, "job", job_name_pattern)
    job <- attach_local_job(job) %||% abort(sprintf("No local job named %s in %s.", job, local_job_root()),
                                            class = "sagesim_job_not_found", job_name = job)
  }
  check_job(job)
  if (!inherits(job, "sagesim_local_job")) {
    abort_argument("job", sprintf("Job %s runs on SageMaker: only local jobs keep a folder here to remove.",
                                  job$name))
  }
  status <- local_status(job)
  if (!status$status %in% terminal_statuses) {
    abort(sprintf("Job %s is %s; stop it (job_stop()) before removing it.", job$name, status$status),
          class = "sagesim_job_not_finished", job_name = job$name)
  }
  unlink(job$dir, recursive = TRUE)
  invisible(job$name)
}

#' @rdname job_remove
#' @param ... Not used: an argument these do not take is refused
#'   (`sagesim_unknown_argument`), naming the one meant.
#' @export
clean_local_jobs <- function(older_than = 7, dry_run = FALSE, ...) {
  check_unknown_arguments("clean_local_jobs", ...)
  check_number(older_than, "older_than", min = 0)
  check_flag(dry_run, "dry_run")
  jobs <- list_local_jobs(Inf, NULL, NULL, FALSE, NULL)
  cutoff <- Sys.time() - older_than * 86400
  old <- jobs[jobs$status %in% terminal_statuses & jobs$created < cutoff, , drop = FALSE]
  if (!dry_run) {
    for (name in old$name) unlink(local_job_dir(name), recursive = TRUE)
  }
  rownames(old) <- NULL
  invisible(old)
}

# A host starts by recording its pid and ends by renaming its exit status
# into place: the two files' times.
#' @export
host_spans.sagesim_local_job <- function(job, lines) {
  time_of <- function(host, file) {
    path <- file.path(host_dir(job$dir, host), file)
    if (file.exists(path)) as.numeric(file.mtime(path)) else NA_real_
  }
  started <- vapply(job$hosts, time_of, 0, "pid")
  ended <- vapply(job$hosts, time_of, 0, "exit_code")
  # A host killed without an exit status ended when its log last changed.
  lost <- !is.na(started) & is.na(ended) & !vapply(job$hosts, function(h) host_process_alive(job$dir, h), TRUE)
  ended[lost] <- vapply(job$hosts[lost], time_of, 0, "log")
  data.frame(host = job$hosts, started = unname(started), ended = unname(ended),
             stringsAsFactors = FALSE)
}
