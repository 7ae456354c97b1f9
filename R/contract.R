# The Processing container contract as a host sees it: where its files are
# (/opt/ml, or SAGESIM_OPT_ML for a local host run as a plain process), its
# config, its log lines (stdout becomes the job's CloudWatch log), its
# progress reports and the exit message of a failure. Used by the
# simulation worker (R/worker.R) and the map worker (R/map-worker.R).

log_line <- function(text) {
  cat(sprintf("%s %s\n", format(Sys.time(), "%Y-%m-%dT%H:%M:%S", tz = "UTC"), text))
  flush(stdout())
}

# A host's progress as a log line of the format the core defines
# (src/rust/aws/src/progress.rs); whoever follows the job reads it back.
report_progress <- function(host, unit, done, total, failed = 0) {
  cat(unwrap(progress_line(host, unit, done, total, failed)), "\n", sep = "")
  flush(stdout())
}

# Seconds between progress reports (a host also reports its first and
# last): the job's SAGESIM_PROGRESS_EVERY (`env =`), else 10.
progress_every <- function() {
  every <- suppressWarnings(as.numeric(Sys.getenv("SAGESIM_PROGRESS_EVERY", "10")))
  if (is.na(every) || every < 0) 10 else every
}

# Seconds, at least, between a host's saves of what it has finished (the
# job's SAGESIM_CHECKPOINT_EVERY, else 2), so that whatever ends the job
# keeps it; a host also saves whenever it reports progress. A long run saves
# less often: after a twentieth of the time it has run (at most a minute),
# so a run of hours writes a few hundred files, not thousands.
checkpoint_every <- function() {
  every <- suppressWarnings(as.numeric(Sys.getenv("SAGESIM_CHECKPOINT_EVERY", "2")))
  if (is.na(every) || every < 0) 2 else every
}

checkpoint_due <- function(last_save, started) {
  now <- Sys.time()
  running <- as.numeric(difftime(now, started, units = "secs"))
  as.numeric(difftime(now, last_save, units = "secs")) >=
    max(checkpoint_every(), min(running / 20, 60))
}

# The exit message of a failed host, written only inside a job (where the
# runtime laid out /opt/ml/config, or a Training job's /opt/ml/input/config):
# run outside one, nothing is written. A Training job reads its failure
# from output/failure, a Processing job from output/message.
write_failure_message <- function(message) {
  root <- opt_ml_root()
  training <- file.exists(file.path(root, "input", "config", "resourceconfig.json"))
  if (!training && !file.exists(file.path(root, "config", "resourceconfig.json"))) {
    return(invisible())
  }
  names <- c("message", if (training) "failure")
  try({
    dir.create(file.path(root, "output"), recursive = TRUE, showWarnings = FALSE)
    # SageMaker shows the first 1 KB as the job's ExitMessage (FailureReason).
    for (name in names) writeLines(substr(message, 1, 1024), file.path(root, "output", name))
  }, silent = TRUE)
}

#' Where a processing job's files are
#'
#' Inside a SageMaker Processing container everything lives under `/opt/ml`;
#' a local-mode job ([submit_processing()] with `instance_type = "local"`)
#' sets `SAGESIM_OPT_ML` to its stand-in folder. Scripts that use these
#' helpers run unchanged in both.
#'
#' * `processing_path("input", "data")` is `/opt/ml/processing/input/data`.
#' * `processing_config()` reads `resourceconfig.json` (`current_host`,
#'   `hosts`; a single `algo-1` when absent) and `processingjobconfig.json`
#'   (`job`, the job's own description, or `NULL`: in a job run as a
#'   SageMaker Training job, see [training_host()], `job` is always `NULL`).
#'
#' @param ... Path components below `/opt/ml/processing`.
#' @return `processing_path()`: a path. `processing_config()`: a list with
#'   `current_host`, `hosts`, `job` and `root`.
#' @examples
#' processing_path("input", "code")
#' processing_config()$current_host
#' @export
processing_path <- function(...) file.path(opt_ml_root(), "processing", ...)

#' @rdname processing_path
#' @export
processing_config <- function() {
  root <- opt_ml_root()
  resource_file <- file.path(root, "config", "resourceconfig.json")
  job_file <- file.path(root, "config", "processingjobconfig.json")
  resources <- if (file.exists(resource_file)) {
    jsonlite::fromJSON(resource_file, simplifyVector = TRUE)
  } else {
    list(current_host = "algo-1", hosts = "algo-1")
  }
  if (!is.character(resources$current_host) || !resources$current_host %in% resources$hosts) {
    abort(sprintf("%s does not name the current host among its hosts.", resource_file),
          class = "sagesim_results_error")
  }
  list(current_host = resources$current_host, hosts = as.character(resources$hosts),
       job = if (file.exists(job_file)) jsonlite::fromJSON(job_file, simplifyVector = FALSE),
       root = root)
}

# /opt/ml/processing/x inside the container is {root}/processing/x here.
local_container_path <- function(root, path) file.path(root, sub("^/opt/ml/?", "", path))

# The variable that rehearses a Spot interruption: a worker that has saved
# this many results (map elements, or simulation result files) since it
# started kills itself, as a reclaimed Spot instance ends, having written
# the marker {root}/interrupted (R/training-contract.R, R/runners.R).
interrupt_variable <- "SAGESIM_INTERRUPT_AFTER"
interrupted_marker <- "interrupted"

opt_ml_root <- function() {
  root <- Sys.getenv("SAGESIM_OPT_ML")
  if (nzchar(root)) root else "/opt/ml"
}

# The names SageMaker gives a job's `n` hosts, the same in every job.
host_names <- function(n) sprintf("algo-%d", seq_len(n))
