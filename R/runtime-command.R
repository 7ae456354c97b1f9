# The runtime stand-in's command line, one entry for both kinds of job: a
# request with a TrainingJobName is a CreateTrainingJob request
# (R/runtime-training.R), any other a Processing job's (R/runtime.R).

#' The SageMaker runtime stand-in, for tests and the container check
#'
#' Local mode lays out each host's `/opt/ml` and delivers its outputs with
#' this code; the played cloud hosts of sagesim's tests and its container
#' check run the same code through this command line, so the runtime is
#' emulated once.
#'
#' * `stage <config.json> <dir> [<runner.json>] [<env.json>]`: lays out
#'   `<dir>/hosts/algo-N/opt/ml` from a request in the form of
#'   `processingjobconfig.json`, or from a CreateTrainingJob request (one
#'   with `TrainingJobName`: channels in `input/data/<channel>`,
#'   `input/config/*.json`, `checkpoints/` restored from
#'   `CheckpointConfig.S3Uri`), and writes each host's `run.sh` (runner:
#'   `{"mode": "namespace"}` by default, or a container runner; `env.json`:
#'   variables added to the request's Environment).
#' * `deliver <config.json> <dir> [failed]`: delivers every output of the
#'   hosts (of a failed job, its Continuous outputs only); for a Training
#'   job, checkpoints every host.
#' * `checkpoint <config.json> <dir> [<host>]` (Training): copies the host's
#'   (or every host's) new or changed checkpoint files to
#'   `CheckpointConfig.S3Uri`.
#' * `restore <config.json> <dir> <host>` (Training): empties the host's
#'   checkpoint folder and fills it from `CheckpointConfig.S3Uri`.
#'
#' `CheckpointConfig.S3Uri` and the channels' `S3Uri` may be local folders.
#'
#' @param args The command line.
#' @return `NULL`, invisibly.
#' @keywords internal
#' @export
processing_runtime <- function(args = commandArgs(trailingOnly = TRUE)) {
  command <- args[[1]]
  config <- paste(readLines(args[[2]], warn = FALSE), collapse = "\n")
  dir <- args[[3]]
  request <- jsonlite::fromJSON(config, simplifyVector = FALSE)
  training <- !is.null(request$TrainingJobName)
  count <- if (training) request$ResourceConfig$InstanceCount else
    request$ProcessingResources$ClusterConfig$InstanceCount
  hosts <- host_names(count)
  read_json <- function(k) if (length(args) >= k) jsonlite::fromJSON(args[[k]], simplifyVector = FALSE)
  # The hosts a command names (`checkpoint`'s is optional), checked.
  named_hosts <- function(required) {
    if (length(args) < 4) {
      if (required) abort_argument("args", sprintf("Runtime command \"%s\" needs a host.", command))
      return(hosts)
    }
    if (!args[[4]] %in% hosts) {
      abort_argument("args", sprintf("Host \"%s\" is not one of the job's hosts (%s).", args[[4]],
                                     paste(hosts, collapse = ", ")))
    }
    args[[4]]
  }
  training_only <- function() {
    if (!training) {
      abort_argument("args", sprintf("Runtime command \"%s\" is for Training jobs (a request with TrainingJobName).",
                                     command))
    }
  }
  if (identical(command, "stage")) {
    dir.create(dir, recursive = TRUE, showWarnings = FALSE)
    stage_job_hosts(config, dir, hosts)
    runner <- read_json(4) %||% list(mode = "auto")
    if (identical(runner$mode, "auto")) runner <- local_runner(no_network = FALSE)
    extra <- unlist(read_json(5))
    for (host in hosts) {
      write_host_script(request, dir, host, runner, extra_env = extra)
    }
  } else if (identical(command, "deliver")) {
    deliver_job_outputs(config, dir, hosts, failed = identical(args[4], "failed"))
  } else if (identical(command, "checkpoint")) {
    training_only()
    for (host in named_hosts(required = FALSE)) save_checkpoints(request, dir, host)
  } else if (identical(command, "restore")) {
    training_only()
    restore_checkpoints(request, dir, named_hosts(required = TRUE))
  } else {
    abort_argument("args", sprintf(
      "Unknown runtime command \"%s\"; known: stage, deliver, checkpoint, restore.", command))
  }
  invisible()
}

# Lays out every host of a job from its request (`config`, JSON text), of
# either kind; returns the request.
stage_job_hosts <- function(config, dir, hosts, session = NULL) {
  request <- jsonlite::fromJSON(config, simplifyVector = FALSE)
  if (!is.null(request$TrainingJobName)) {
    stage_training_hosts(config, dir, hosts, session)
  } else {
    stage_hosts(config, dir, hosts, session)
  }
}

# What the runtime does when a job's hosts end: a Processing job's outputs
# go to their destinations (of a failed job, its Continuous ones), a
# Training job's checkpoints (every host's, its outputs) to their place.
deliver_job_outputs <- function(config, dir, hosts, session = NULL, kms_key = NULL, failed = FALSE) {
  request <- jsonlite::fromJSON(config, simplifyVector = FALSE)
  if (!is.null(request$TrainingJobName)) {
    for (host in hosts) save_checkpoints(request, dir, host, session)
  } else {
    deliver_outputs(config, dir, hosts, session, kms_key = kms_key, failed = failed)
  }
  invisible()
}
