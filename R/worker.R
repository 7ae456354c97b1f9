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
#' * `sagesim-result-<host>.json`: per-iteration values and metadata, exact
#'   (read back with [read_simulation_results()]);
#' * `output_result_mean-<host>.txt`, and `output_result_mean.txt` when the
#'   job has a single host, as the original workflow wrote.
#'
#' On failure it writes the error message to `/opt/ml/output/message`
#' (SageMaker shows it as the job's exit message) and exits with status 1.
#'
#' Arguments: `--x-length`, `--y-length`, `--num-people`, `--max-iterations`
#' (required), `--distance` (default 6), `--seed` (required with several
#' hosts), `--threads` (default 0: all cores), `--output-dir`.
#'
#' @param args Command-line arguments, by default those after `--args`.
#' @param exit_on_error Exit R with status 1 on failure (the default outside
#'   interactive sessions) rather than re-raising the error.
#' @return The path of the result file, invisibly (`NULL` when this host's
#'   share is empty).
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
  config <- processing_config()
  host <- config$current_host
  hosts <- config$hosts
  spec <- simulation_spec(options$x_length, options$y_length, options$num_people,
                          options$max_iterations, options$distance, options$seed)
  if (is.null(options$seed) && length(hosts) > 1) {
    abort_argument("seed", "--seed is required when a job has several hosts: they must share one random stream.")
  }
  share <- sim_split_iterations(spec$max_iterations, length(hosts), match(host, hosts) - 1)
  log_line(sprintf("%s (host %d of %d): %s; %s iterations, seed %s", host, match(host, hosts),
                   length(hosts), describe_spec(spec), format_count(spec$max_iterations),
                   format_count(spec$seed)))
  output_dir <- options$output_dir
  dir.create(output_dir, recursive = TRUE, showWarnings = FALSE)
  if (share[["count"]] == 0) {
    log_line(sprintf("%s: no iterations to run (more hosts than iterations)", host))
    return(invisible(NULL))
  }
  range <- c(share[["first"]], share[["first"]] + share[["count"]] - 1)
  log_line(sprintf("%s: iterations %s to %s", host, format_count(range[[1]]), format_count(range[[2]])))
  result <- run_simulation(spec, range, threads = options$threads, keep_values = TRUE,
                           on_poll = progress_logger(host, share[["count"]]))
  log_line(sprintf("%s: done in %.2f s on %d threads; mean %s (exact expectation %s)", host,
                   result$elapsed, as.integer(result$threads), format(result$mean, digits = 10),
                   format(result$expected, digits = 10)))
  path <- write_shard(result, host, output_dir)
  mean_text <- sprintf("%.17g\n", result$mean)
  writeLines(mean_text, file.path(output_dir, sprintf("output_result_mean-%s.txt", host)), sep = "")
  if (length(hosts) == 1) writeLines(mean_text, file.path(output_dir, "output_result_mean.txt"), sep = "")
  log_line(sprintf("%s: wrote %s", host, path))
  invisible(path)
}

log_line <- function(text) {
  cat(sprintf("%s %s\n", format(Sys.time(), "%Y-%m-%dT%H:%M:%S", tz = "UTC"), text))
  flush(stdout())
}

# Progress for the logs: a line every 10 seconds, not every poll.
progress_logger <- function(host, total, every = 10) {
  last <- Sys.time()
  function(done) {
    if (as.numeric(difftime(Sys.time(), last, units = "secs")) >= every) {
      last <<- Sys.time()
      log_line(sprintf("%s: %.0f%% (%s of %s iterations)", host, 100 * done / total,
                       format_count(done), format_count(total)))
    }
  }
}

parse_worker_args <- function(args) {
  args <- split_equals(args)
  known <- c("--x-length", "--y-length", "--num-people", "--max-iterations", "--distance",
             "--seed", "--threads", "--output-dir")
  values <- list()
  i <- 1
  while (i <= length(args)) {
    key <- args[[i]]
    if (!key %in% known) {
      abort_argument("args", sprintf("Unknown worker argument \"%s\"; known: %s.", key,
                                     paste(known, collapse = ", ")))
    }
    if (i == length(args)) abort_argument("args", sprintf("Worker argument %s needs a value.", key))
    values[[key]] <- args[[i + 1]]
    i <- i + 2
  }
  number <- function(key, default = NULL) {
    if (is.null(values[[key]])) {
      if (is.null(default)) abort_argument("args", sprintf("Worker argument %s is required.", key))
      return(default)
    }
    value <- suppressWarnings(as.numeric(values[[key]]))
    if (is.na(value)) {
      abort_argument("args", sprintf("Worker argument %s must be a number, not \"%s\".", key,
                                     values[[key]]))
    }
    value
  }
  list(
    x_length = number("--x-length"),
    y_length = number("--y-length"),
    num_people = number("--num-people"),
    max_iterations = number("--max-iterations"),
    distance = number("--distance", 6),
    seed = if (!is.null(values[["--seed"]])) number("--seed"),
    threads = check_count(number("--threads", 0), "threads", max = 1024),
    output_dir = values[["--output-dir"]] %||% processing_path("output", "simulation")
  )
}

# Accepts both "--key value" and "--key=value".
split_equals <- function(args) {
  unlist(lapply(args, function(arg) {
    if (startsWith(arg, "--") && grepl("=", arg, fixed = TRUE)) {
      c(sub("=.*$", "", arg), sub("^[^=]*=", "", arg))
    } else {
      arg
    }
  }), use.names = FALSE)
}

write_failure_message <- function(message) {
  path <- file.path(opt_ml_root(), "output", "message")
  try({
    dir.create(dirname(path), recursive = TRUE, showWarnings = FALSE)
    # SageMaker shows the first 1 KB as the job's ExitMessage.
    writeLines(substr(message, 1, 1024), path)
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
#'   (`job`, the job's own description, or `NULL`).
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

opt_ml_root <- function() {
  root <- Sys.getenv("SAGESIM_OPT_ML")
  if (nzchar(root)) root else "/opt/ml"
}

shard_file_pattern <- "^sagesim-result-.*\\.json$"

write_shard <- function(result, host, output_dir) {
  meta <- list(
    format = "sagesim-shard/1",
    x_length = result$params$x_length,
    y_length = result$params$y_length,
    num_people = result$params$num_people,
    distance = result$params$distance,
    seed = format_count(result$seed),
    max_iterations = result$max_iterations,
    first_iteration = result$iterations[["first"]],
    iterations = result$counts$iterations,
    counts = result$counts,
    values = NULL,
    elapsed_seconds = result$elapsed,
    threads = result$threads,
    host = host,
    sagesim_version = as.character(utils::packageVersion("sagesim"))
  )
  json <- jsonlite::toJSON(meta, auto_unbox = TRUE, digits = NA, null = "null")
  path <- file.path(output_dir, sprintf("sagesim-result-%s.json", host))
  unwrap(shard_write(path, json, result$values))
}

#' Read a simulation job's results
#'
#' Finds every host's `sagesim-result-<host>.json` under `path` (recursively),
#' checks that together they cover every iteration exactly once, and merges
#' them into the object [simulate_local()] returns: with the same seed, its
#' values are identical to a local run's.
#'
#' @param path A folder holding the result files (e.g. a job's downloaded
#'   output).
#' @return A `sagesim_simulation`.
#' @examples
#' # See run_worker() for a complete example.
#' @export
read_simulation_results <- function(path) {
  call <- sys.call()
  check_string(path, "path", call = call)
  files <- list.files(path, pattern = shard_file_pattern, recursive = TRUE, full.names = TRUE)
  if (length(files) == 0) {
    abort(sprintf("No sagesim result files (sagesim-result-<host>.json) under %s.", path),
          class = "sagesim_results_error", call = call)
  }
  merged <- unwrap(shard_read_merged(files), call = call)
  meta <- jsonlite::fromJSON(merged$meta_json, simplifyVector = TRUE)
  spec <- structure(list(x_length = meta$x_length, y_length = meta$y_length,
                         num_people = as.numeric(meta$num_people), distance = meta$distance,
                         max_iterations = as.numeric(meta$max_iterations),
                         seed = as.numeric(meta$seed)),
                    class = "sagesim_spec")
  range <- c(as.numeric(meta$first_iteration), as.numeric(meta$first_iteration) +
               as.numeric(meta$iterations) - 1)
  new_simulation(spec, range, merged$values, merged$counts, meta$elapsed_seconds, meta$threads)
}
