# Reading a job's results: the hosts' result files, merged by the Rust core
# (src/rust/core/src/result_file.rs) into what simulate_local() returns.

#' Read a simulation job's results
#'
#' Finds every host's `sagesim-result-<host>.json` under `path` (recursively),
#' checks that they come from one job, that every host of the job wrote one
#' and that together they cover every iteration exactly once, and merges
#' them into the object [simulate_local()] returns: with the same seed, its
#' values are identical to a local run's. Anything missing is an error
#' (`sagesim_results_missing` names the hosts), never a partial result.
#'
#' @param path A folder holding the result files (e.g. a job's downloaded
#'   output).
#' @return A `sagesim_simulation`.
#' @examples
#' # See run_worker() for a complete example.
#' @export
read_simulation_results <- function(path) {
  check_string(path, "path")
  read_job_results(path, hosts = NULL, location = path)
}

result_file_pattern <- "^sagesim-result-.*\\.json$"

# `hosts`: the job's hosts when known (named when no host wrote anything);
# `location`: where the results were looked for, for the message; `grid`:
# the simulation_grid() of a sweep job.
read_job_results <- function(path, hosts, location, grid = NULL) {
  files <- list.files(path, pattern = result_file_pattern, recursive = TRUE, full.names = TRUE)
  if (length(files) == 0) {
    abort_missing_results(hosts, hosts, location)
  }
  parts <- tryCatch(unwrap(results_collect(files)), sagesim_results_missing = function(e) {
    abort_missing_results(e$missing_hosts, e$hosts, location)
  })
  if (!is.null(grid)) {
    return(new_sweep(grid, lapply(parts, new_simulation)))
  }
  new_simulation(parts[[1]])
}

abort_missing_results <- function(missing, hosts, location) {
  which <- if (length(missing) == 0) "any host" else
    sprintf("host%s %s", if (length(missing) == 1) "" else "s", paste(missing, collapse = ", "))
  of <- if (length(hosts) > 0 && !identical(missing, hosts)) sprintf(" (of %s)", paste(hosts, collapse = ", ")) else ""
  abort(c(sprintf("No results from %s%s: no sagesim-result-<host>.json found in %s.", which, of, location),
          "A partial result is not returned; see the job's logs (job_logs()) for what the hosts did."),
        class = c("sagesim_results_missing", "sagesim_results_error"),
        missing_hosts = missing, hosts = hosts, location = location)
}
