# How a local job's hosts are doing, read from their folders (R/runtime.R,
# R/runners.R, R/processes.R): alive or ended, with which exit status and
# why. Read by the job's status (R/job-local.R) and by its supervisor
# (R/supervisor.R), which delivers the outputs once no host is alive.

# What the job's hosts are doing: `alive` (per host), `finished` (every host
# exited 0), `stopped` (job_stop() was called), `end_time` (once none is
# alive) and `endings` (host_endings()). Read by local_status() and by the
# supervisor (R/supervisor.R), which delivers once none is alive.
observe_local_hosts <- function(job) {
  dir <- job$dir
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
  list(alive = alive, finished = finished, stopped = file.exists(stopped), end_time = end_time,
       endings = host_endings(dir, job$hosts, exit_codes, alive, file.exists(stopped) && !finished))
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
