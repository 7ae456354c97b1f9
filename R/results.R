# Reading a job's results: the hosts' result files, merged by the Rust core
# (src/rust/core/src/result_file.rs) into what simulate_local() returns.

#' Read a simulation job's results
#'
#' Finds every host's result files (`sagesim-result-<host>-<k>.json`) under
#' `path` (recursively), checks that they come from one job and that together
#' they cover every iteration exactly once, and merges them into the object
#' [simulate_local()] returns: with the same seed, its values are identical
#' to a local run's. Anything missing is an error (`sagesim_results_missing`
#' names the hosts that did not finish), never a partial result; a job's
#' partial result is [job_collect()]'s, with `errors = "return"`.
#'
#' The files are read as they are: [job_collect()] reads a job's only once
#' the signature its host wrote beside each (`<file>.hmac`) says that they
#' are what the host wrote.
#'
#' @param path A folder holding the result files (e.g. a job's downloaded
#'   output).
#' @return A `sagesim_simulation`.
#' @examples
#' # See run_worker() for a complete example.
#' @param ... Not used: an argument these do not take is refused
#'   (`sagesim_unknown_argument`), naming the one meant.
#' @export
read_simulation_results <- function(path, ...) {
  check_unknown_arguments("read_simulation_results", ...)
  check_string(path, "path")
  read_job_results(path, hosts = NULL, location = path)
}

result_file_pattern <- "^sagesim-result-.*\\.json$"

# `hosts`: the job's hosts when known (named when no host wrote anything);
# `location`: where the results were looked for, for the message; `grid`:
# the simulation_grid() of a sweep job. `partial`: a job that ended before
# its hosts finished gives the iterations they did (see partial_simulation()).
# `job`: the job whose hosts signed the files, each read only once its
# signature matches (NULL: files of the user's own, read as they are).
read_job_results <- function(path, hosts, location, grid = NULL, partial = FALSE, job = NULL) {
  files <- list.files(path, pattern = result_file_pattern, recursive = TRUE, full.names = TRUE)
  if (length(files) == 0 && !partial) {
    abort_missing_results(hosts, hosts, location)
  }
  collected <- if (length(files) > 0) {
    keys <- if (!is.null(job)) results_file_keys(files, job$results_key, path, location)
    tryCatch(refused_results(unwrap(results_collect(files, partial, keys)), path, location),
             sagesim_results_missing = function(e) {
               abort_missing_results(e$missing_hosts, e$hosts, location)
             })
  }
  results <- if (is.null(collected)) {
    # Nothing written at all: every cell empty.
    specs <- if (!is.null(grid)) grid_specs(grid) else NULL
    lapply(specs, function(spec) partial_simulation(list(spec = unclass(spec)), numeric()))
  } else if (isTRUE(collected$complete)) {
    lapply(collected$parts, new_simulation)
  } else {
    lapply(collected$parts, function(part) partial_simulation(part, attr(part, "ranges")))
  }
  if (!is.null(grid)) {
    sweep <- new_sweep(grid, results)
    if (!isTRUE(collected$complete)) sweep$partial <- TRUE
    return(sweep)
  }
  results[[1]]
}

# A simulation result of the iterations a job finished before it ended:
# `ranges` the first and last iteration of each run of them. Its values are
# a clean run's at those iterations, its statistics theirs.
partial_simulation <- function(part, ranges) {
  ranges <- matrix(as.numeric(ranges), ncol = 2, byrow = TRUE,
                   dimnames = list(NULL, c("first", "last")))
  if (is.null(part$counts)) {
    spec <- structure(part$spec, class = "sagesim_spec")
    result <- structure(list(
      values = numeric(), mean = NaN, sd = NaN, se = NaN, conf_int = c(lower = NaN, upper = NaN),
      expected = expected_violations(spec$x_length, spec$y_length, spec$num_people, spec$distance),
      iterations = c(first = NA_real_, last = NA_real_), max_iterations = spec$max_iterations,
      params = unclass(spec)[c("x_length", "y_length", "num_people", "distance")],
      seed = spec$seed, elapsed = 0, threads = 0,
      counts = list(iterations = 0, sum_pairs = "0", sum_pairs_squared = "0")
    ), class = "sagesim_simulation")
  } else {
    result <- new_simulation(part)
  }
  if (nrow(ranges) > 0) {
    result$iterations <- c(first = ranges[[1, "first"]], last = ranges[[nrow(ranges), "last"]])
  }
  result$partial <- TRUE
  result$ranges <- ranges
  result
}

abort_missing_results <- function(missing, hosts, location) {
  which <- if (length(missing) == 0) "any host" else
    sprintf("host%s %s", if (length(missing) == 1) "" else "s", paste(missing, collapse = ", "))
  of <- if (length(hosts) > 0 && !identical(missing, hosts)) sprintf(" (of %s)", paste(hosts, collapse = ", ")) else ""
  abort(c(sprintf("No results from %s%s: no complete sagesim-result-<host>-<k>.json found in %s.", which, of, location),
          "A partial result is not returned; see the job's logs (job_logs()) for what the hosts did."),
        class = c("sagesim_results_missing", "sagesim_results_error"),
        missing_hosts = missing, hosts = hosts, location = location)
}
