# The Training container contract, adopted into the Processing one: a job
# run as a SageMaker Training job (managed Spot with checkpoints, warm
# pools) runs the same command as its Processing job would, under
# training_host(), which lays the Training layout out as the Processing
# layout the workers and users' scripts read (R/contract.R). Also the
# rehearsal of a Spot interruption (SAGESIM_INTERRUPT_AFTER).
#
#   Training                                   Processing (what the command sees)
#   /opt/ml/input/config/resourceconfig.json   /opt/ml/config/resourceconfig.json (written)
#   /opt/ml/input/data/<name>                  the input's destination (a link)
#   /opt/ml/checkpoints/<name>                 the output's source (a link)
#
# Outputs live in the checkpoints: SageMaker copies them to S3 during the
# job and back onto every host when an interrupted job starts again, where
# the workers find what they had finished (R/worker.R, R/map-worker.R).

# Hyperparameters naming the Processing path of each input and output.
training_input_prefix <- "sagesim-input-"
training_output_prefix <- "sagesim-output-"

#' The command a Training job's hosts run
#'
#' A job sent to SageMaker as a Training job (managed Spot, warm pools)
#' runs `Rscript -e "sagesim::training_host()" <command...>`, where the
#' command is what its Processing job would run (e.g. `Rscript -e
#' "sagesim::run_worker()" ...` or `Rscript /opt/ml/processing/input/code/script.R`).
#' `training_host()` lays out the Processing contract inside the Training
#' container, runs the command, and exits with its status:
#'
#' * `/opt/ml/config/resourceconfig.json` (`current_host`, `hosts`) from
#'   the Training job's `/opt/ml/input/config/resourceconfig.json`;
#' * each hyperparameter `sagesim-input-<name>` (a Processing path such as
#'   `/opt/ml/processing/input/data`) becomes a link to the channel
#'   `/opt/ml/input/data/<name>`;
#' * each hyperparameter `sagesim-output-<name>` becomes a link to
#'   `/opt/ml/checkpoints/<name>`: what the command writes there is
#'   checkpointed to S3 as it goes, and restored on every host when an
#'   interrupted Spot job starts again (sagesim's workers then finish only
#'   what is left).
#'
#' So a script finds its inputs and writes its outputs with
#' [processing_path()] as in a Processing job; [processing_config()] gives
#' the hosts, and its `job` is `NULL` (a Training job has no
#' `processingjobconfig.json`). A failure is written to
#' `/opt/ml/output/failure`, which SageMaker shows as the job's
#' `FailureReason`. Outside a container, `SAGESIM_OPT_ML` names the folder
#' that stands for `/opt/ml`.
#'
#' @param args The command to run, by default the arguments after `--args`.
#' @param exit Exit R with the command's status (the default outside
#'   interactive sessions) rather than return it.
#' @return The command's exit status, invisibly (when `exit` is `FALSE`).
#' @keywords internal
#' @export
training_host <- function(args = commandArgs(trailingOnly = TRUE), exit = !interactive()) {
  status <- tryCatch({
    adopt_training_layout(opt_ml_root())
    run_training_command(args)
  }, error = function(e) {
    message <- conditionMessage(e)
    write_failure_message(message)
    cat(sprintf("sagesim training host failed: %s\n", message), file = stderr())
    if (!exit) stop(e)
    1L
  })
  # A rehearsed Spot interruption is no failure: the job starts again.
  interrupted <- file.exists(file.path(opt_ml_root(), interrupted_marker))
  if (status != 0 && !interrupted) {
    # The command's own message (a sagesim worker writes one) is kept.
    failure <- file.path(opt_ml_root(), "output", "failure")
    if (!file.exists(failure)) {
      write_failure_message(sprintf("The command `%s` exited with status %d.",
                                    paste(args, collapse = " "), status))
    }
  }
  if (exit) quit(save = "no", status = status)
  invisible(status)
}

# Whether `root` is a Training container's /opt/ml.
is_training_layout <- function(root) {
  file.exists(file.path(root, "input", "config", "resourceconfig.json"))
}

adopt_training_layout <- function(root) {
  if (!is_training_layout(root)) {
    abort(sprintf("%s is not a Training job's /opt/ml: it has no input/config/resourceconfig.json.",
                  root), class = "sagesim_training_error")
  }
  config <- file.path(root, "input", "config")
  resources <- jsonlite::fromJSON(file.path(config, "resourceconfig.json"), simplifyVector = FALSE)
  dir.create(file.path(root, "config"), recursive = TRUE, showWarnings = FALSE)
  writeLines(jsonlite::toJSON(list(current_host = resources$current_host,
                                   hosts = as.list(unlist(resources$hosts))),
                              auto_unbox = TRUE, pretty = TRUE),
             file.path(root, "config", "resourceconfig.json"))
  parameters_file <- file.path(config, "hyperparameters.json")
  parameters <- if (file.exists(parameters_file)) {
    jsonlite::fromJSON(parameters_file, simplifyVector = FALSE)
  }
  for (name in names(parameters)) {
    path <- as.character(parameters[[name]])
    if (startsWith(name, training_input_prefix)) {
      channel <- substring(name, nchar(training_input_prefix) + 1)
      target <- file.path(root, "input", "data", channel)
      # A channel with no files has no folder; the script still finds one.
      dir.create(target, recursive = TRUE, showWarnings = FALSE)
      link_processing_path(local_container_path(root, path), target)
    } else if (startsWith(name, training_output_prefix)) {
      output <- substring(name, nchar(training_output_prefix) + 1)
      target <- file.path(root, "checkpoints", output)
      dir.create(target, recursive = TRUE, showWarnings = FALSE)
      link_processing_path(local_container_path(root, path), target)
    }
  }
  invisible(root)
}

# `path` becomes a link to `target`; an earlier link (the command run
# again on the same host) or an empty folder is replaced, anything else is
# left and refused.
link_processing_path <- function(path, target) {
  if (nzchar(Sys.readlink(path))) {
    unlink(path)
  } else if (dir.exists(path) && length(list.files(path, all.files = TRUE, no.. = TRUE)) == 0) {
    unlink(path, recursive = TRUE)
  } else if (file.exists(path)) {
    abort(sprintf("Cannot link %s to %s: it exists and is not empty.", path, target),
          class = "sagesim_training_error")
  }
  dir.create(dirname(path), recursive = TRUE, showWarnings = FALSE)
  if (!file.symlink(normalizePath(target), path)) {
    abort(sprintf("Could not link %s to %s.", path, target), class = "sagesim_training_error")
  }
  invisible(path)
}

# Runs the command as a child, its output passed through (it is the job's
# log), and returns its exit status.
run_training_command <- function(args) {
  if (length(args) == 0) {
    abort("training_host() was given no command to run.", class = "sagesim_training_error")
  }
  status <- system2(args[[1]], shQuote(args[-1]), stdout = "", stderr = "")
  as.integer(status)
}

# The rehearsal's threshold from the environment: 0 (never) unless
# SAGESIM_INTERRUPT_AFTER is a whole number above 0.
interrupt_threshold <- function() {
  value <- suppressWarnings(as.numeric(Sys.getenv(interrupt_variable, "0")))
  if (is.na(value) || value < 1) 0 else floor(value)
}

# Ends this host as a reclaimed Spot instance ends (SIGKILL: nothing after
# it runs), the marker written first for the rehearsal to see.
interrupt_host <- function(saved, unit) {
  root <- opt_ml_root()
  log_line(sprintf("%s: interrupted after saving %s %s (%s)", processing_config()$current_host,
                   format_count(saved), unit, interrupt_variable))
  writeLines(format(Sys.time(), "%Y-%m-%dT%H:%M:%SZ", tz = "UTC"),
             file.path(root, interrupted_marker))
  tools::pskill(Sys.getpid(), tools::SIGKILL)
  Sys.sleep(60)
}
