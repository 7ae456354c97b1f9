#' The worker that runs inside a processing job
#'
#' `run_worker()` is what a simulation job's container runs:
#' `Rscript -e "sagesim::run_worker()" --x-length 1000 --y-length 1000
#' --num-people 1000 --max-iterations 10000 --seed 42`. Following the
#' SageMaker Processing container contract it reads
#' `/opt/ml/config/resourceconfig.json` (`current_host`, `hosts`) and
#' `/opt/ml/config/processingjobconfig.json`, computes this host's share of
#' the iterations on all cores, prints progress lines to stdout (they become
#' the job's CloudWatch logs) and writes to `--output-dir` (default
#' `/opt/ml/processing/output/simulation`):
#' * `sagesim-result-<host>-<k>.json`: per-iteration values and metadata,
#'   exact (read back with [read_simulation_results()]): what the host
#'   finished since its previous file, written as it goes (at least
#'   `SAGESIM_CHECKPOINT_EVERY` seconds apart, default 2, and less often as a
#'   long run goes on), the last one marked complete; every host writes one,
#'   also one with no iterations to run. A job that is stopped or loses a
#'   host keeps what its hosts wrote. A host that finds its own files in
#'   `--output-dir` when it starts (a Training job's checkpoints, restored
#'   after a Spot interruption: see [training_host()]) runs only what their
#'   verified files lack, and numbers its files after theirs;
#' * `output_result_mean-<host>.txt`, and `output_result_mean.txt` when the
#'   job has a single host, as the original workflow wrote.
#'
#' On failure it writes the error message to `/opt/ml/output/message`
#' (SageMaker shows it as the job's exit message) and exits with status 1.
#'
#' Arguments: `--x-length`, `--y-length`, `--num-people`, `--max-iterations`
#' (required), `--distance` (default 6), `--seed` (required with several
#' hosts), `--threads` (default 0: all cores), `--output-dir`. A sweep
#' ([simulation_grid()]) gives each parameter's values separated by commas
#' (a flag may repeat; its values add up) and `--sweep true`; the hosts share
#' its cells and iterations by cost. A [submit_map()] job gives `--map` (its
#' payload file), `--map-sha256` (the payload's SHA-256: a payload without
#' it, or changed since, is refused with a `sagesim_integrity_error`),
#' `--seed` and `--output-dir`, and each host writes
#' `map-results-<host>-<k>.rds`.
#'
#' With `SAGESIM_RESULTS_KEY` in the environment (the job's results key,
#' which sagesim gives the hosts of the jobs it submits), each results file
#' is signed beside it (`<file>.hmac`, HMAC-SHA256), as [job_collect()]
#' expects; the variable is removed before anything else runs.
#'
#' @param args Command-line arguments, by default those after `--args`.
#' @param exit_on_error Exit R with status 1 on failure (the default outside
#'   interactive sessions) rather than re-raising the error.
#' @return The path of the result file, invisibly.
#' @examples
#' root <- file.path(tempdir(), "opt-ml")
#' Sys.setenv(SAGESIM_OPT_ML = root)
#' run_worker(c("--x-length", "100", "--y-length", "100", "--num-people", "50",
#'              "--max-iterations", "20", "--seed", "1",
#'              "--output-dir", file.path(root, "processing", "output")),
#'            exit_on_error = FALSE)
#' read_simulation_results(file.path(root, "processing", "output"))
#' Sys.unsetenv("SAGESIM_OPT_ML")
#' @export
run_worker <- function(args = commandArgs(trailingOnly = TRUE), exit_on_error = !interactive()) {
  tryCatch(
    worker_main(args),
    error = function(e) {
      message <- conditionMessage(e)
      write_failure_message(message)
      cat(sprintf("sagesim worker failed: %s\n", message), file = stderr())
      if (exit_on_error) quit(save = "no", status = 1)
      stop(e)
    }
  )
}

worker_main <- function(args) {
  options <- parse_worker_args(args)
  # The job's results key signs what this host writes; taken out of the
  # environment so that nothing the host runs sees or logs it.
  options$results_key <- Sys.getenv(results_key_variable)
  Sys.unsetenv(results_key_variable)
  config <- processing_config()
  if (!is.null(options$map)) return(map_worker_main(options, config))
  host <- config$current_host
  hosts <- config$hosts
  if (is.null(options$seed) && length(hosts) > 1) {
    abort_argument("seed", "--seed is required when a job has several hosts: they must share one random stream.")
  }
  simulation <- simulation_of_options(options)
  output_dir <- options$output_dir
  dir.create(output_dir, recursive = TRUE, showWarnings = FALSE)
  invisible(run_host_share(simulation, host, hosts, options$todo, options$threads, output_dir,
                           options$results_key))
}

# Runs this host's share of the job (of `todo`, the pieces an earlier
# attempt left, when given) and writes its result file as it goes: every
# progress_every() seconds what it has finished, and at the end all of it
# (and output_result_mean, as the original workflow did), each file signed
# with the job's results `key` (hex; "" for none).
run_host_share <- function(simulation, host, hosts, todo, threads, output_dir, key = "") {
  sweep <- inherits(simulation, "sagesim_grid")
  specs <- if (sweep) grid_specs(simulation) else list(simulation)
  plan <- lapply(specs, unclass)
  index <- match(host, hosts)
  share <- unwrap(host_share(plan, todo, length(hosts), index - 1))
  log_line(sprintf("%s (host %d of %d): %s, seed %s%s", host, index, length(hosts),
                   if (sweep) sprintf("a sweep of %d cells", length(specs)) else
                     sprintf("%s; %s iterations", describe_spec(simulation),
                             format_count(simulation$max_iterations)),
                   format_count(simulation$seed),
                   if (!is.null(todo)) "; what an earlier attempt left unfinished" else ""))
  total <- sum(share$iterations)
  if (total == 0) {
    log_line(sprintf("%s: no iterations to run (more hosts than iterations)", host))
  }
  for (k in seq_along(share$spec)) {
    log_line(sprintf("%s: %siterations %s to %s", host,
                     if (sweep) sprintf("cell %d, ", share$spec[[k]]) else "",
                     format_count(share$first_iteration[[k]]),
                     format_count(share$first_iteration[[k]] + share$iterations[[k]] - 1)))
  }
  # A host started again on its restored checkpoints (a Training job's
  # Spot interruption) finishes only what its own verified files lack.
  found <- unwrap(host_resume(plan, todo, host, hosts, output_dir, key))
  left <- sum(found$remaining$iterations)
  if (found$files > 0 || length(found$unverified) > 0) {
    log_line(sprintf("%s: restarted on %d result file%s of its own: %s of %s iterations done%s",
                     host, found$files, if (found$files == 1) "" else "s",
                     format_count(total - left), format_count(total),
                     if (length(found$unverified) > 0) {
                       sprintf("; %d unverified file%s removed", length(found$unverified),
                               if (length(found$unverified) == 1) "" else "s")
                     } else ""))
  }
  stop_after <- interrupt_threshold()
  # Rust runs the share and writes the host's result file from the run's
  # own numbers (every host writes one, an empty share too).
  written <- tryCatch(
    await_task(host_start(plan, todo, host, hosts, threads, output_dir,
                          as.character(utils::packageVersion("sagesim")),
                          if (progress_every() == 0) 0 else checkpoint_every(), key,
                          resume = TRUE, interrupt_after = stop_after),
               on_poll = progress_logger(host, total, total - left)),
    # The core stops once it has saved `stop_after` files (the rehearsal).
    sagesim_cancelled = function(e) {
      if (stop_after > 0) interrupt_host(stop_after, "result files") else stop(e)
    })
  report_progress(host, "iterations", total, total)
  if (length(written$parts) > 0) {
    results <- lapply(written$parts, new_simulation)
    log_line(sprintf("%s: done in %.2f s on %d threads", host,
                     sum(vapply(results, `[[`, 1, "elapsed")),
                     as.integer(max(vapply(results, `[[`, 1, "threads")))))
    if (!sweep && is.null(todo)) {
      result <- results[[1]]
      log_line(sprintf("%s: mean %s (exact expectation %s)", host, format(result$mean, digits = 10),
                       format(result$expected, digits = 10)))
      mean_text <- sprintf("%.17g\n", result$mean)
      writeLines(mean_text, file.path(output_dir, sprintf("output_result_mean-%s.txt", host)), sep = "")
      if (length(hosts) == 1) writeLines(mean_text, file.path(output_dir, "output_result_mean.txt"), sep = "")
    }
  }
  log_line(sprintf("%s: wrote %s", host, written$path))
  written$path
}

# Progress for the logs: at the start, then every progress_every() seconds
# (not every poll), and at the end; `before`: iterations done before a restart.
progress_logger <- function(host, total, before = 0) {
  last <- Sys.time()
  report_progress(host, "iterations", before, total)
  function(done) {
    if (as.numeric(difftime(Sys.time(), last, units = "secs")) >= progress_every()) {
      last <<- Sys.time()
      report_progress(host, "iterations", before + done, total)
    }
  }
}

# The simulation_spec() or simulation_grid() a worker's options describe
# (a drawn seed when none was given).
simulation_of_options <- function(options) {
  if (isTRUE(options$sweep)) {
    return(new_grid(options[axis_fields], options$seed %||% draw_seed()))
  }
  multiple <- axis_fields[lengths(options[axis_fields]) > 1]
  if (length(multiple) > 0) {
    abort_argument("args", sprintf("Worker argument %s takes one value unless --sweep is true.",
                                   worker_flags[[multiple[[1]]]]))
  }
  new_spec(options$x_length, options$y_length, options$num_people, options$max_iterations,
           options$distance, options$seed)
}
