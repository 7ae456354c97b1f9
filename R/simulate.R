#' Run the simulation on this machine
#'
#' Places `num_people` uniformly at random in the room and counts pairs closer
#' than `distance` with a spatial grid (cost linear in `num_people`), in Rust,
#' off R's main thread: Ctrl-C stops it within half a second and leaves R
#' usable. Iteration `i` draws from a random stream that depends only on
#' `(seed, i)`, so results are bit-identical for any `threads` and any split of
#' the iterations (see `iterations` and [combine_simulations()]).
#'
#' @param x_length A room side, or a whole [simulation_spec()] (then the
#'   other parameters are taken from it), or a [simulation_grid()] (a sweep:
#'   every cell is run, and the result is a `sagesim_sweep`).
#' @param y_length The other room side.
#' @inheritParams simulation_spec
#' @param threads Worker threads: 1 (the default, polite on a shared RStudio
#'   server), or 0 for all cores. Threads take whole iterations, and when
#'   there are fewer than four iterations per thread, they share out the
#'   regions of each iteration of two million people or more.
#' @param keep_values Keep every iteration's value (`TRUE`), or only the
#'   summary statistics (`FALSE`: constant memory, for very long runs).
#' @param iterations `NULL` for all of `1:max_iterations`, or a contiguous
#'   range of them such as `501:1000`: the same values a full run computes for
#'   those iterations. This is how multi-host jobs split the work.
#' @param progress Show a progress bar (interactive sessions only).
#' @return A `sagesim_simulation`: a list with `values` (per-iteration
#'   violations per person, or `NULL`), `mean`, `sd`, `se`, `conf_int` (95%),
#'   `expected` (the exact expectation, [expected_violations()]), `iterations`
#'   (first and last computed), `max_iterations`, `params`, `seed`, `elapsed`,
#'   `threads` and `counts` (exact sums used to combine results). `elapsed` is
#'   seconds of computation and `threads` the threads a run used; a result
#'   combined from parts ([combine_simulations()], or the hosts of a job) adds
#'   the parts' seconds and keeps the largest thread count. It has `print()`,
#'   `summary()`, `as.data.frame()` and `plot()` methods. For a grid, a
#'   `sagesim_sweep`: `cells`, a data.frame with one row per cell (its
#'   parameters and `seed`, `iterations`, `mean`, `sd`, `se`, `ci_lower`,
#'   `ci_upper`, `expected`, `elapsed`), `seed`, `grid` and each cell's
#'   `simulations`; with `print()`, `summary()`, `as.data.frame()` and
#'   `plot()` methods.
#' @examples
#' sim <- simulate_local(1000, 1000, 1000, max_iterations = 1000, seed = 42)
#' sim
#' summary(sim)
#' head(as.data.frame(sim))
#' plot(sim)
#'
#' # A spec runs as it is:
#' spec <- simulation_spec(1000, 1000, 1000, 1000, seed = 42)
#' identical(simulate_local(spec)$values, sim$values)
#'
#' # Any split of the iterations gives exactly the same values:
#' a <- simulate_local(spec, iterations = 1:400)
#' b <- simulate_local(spec, iterations = 401:1000)
#' identical(combine_simulations(a, b)$values, sim$values)
#' @param ... Not used: an argument these do not take is refused
#'   (`sagesim_unknown_argument`), naming the one meant.
#' @export
simulate_local <- function(x_length, y_length, num_people, max_iterations, distance = 6,
                           seed = NULL, threads = 1, keep_values = TRUE, iterations = NULL,
                           progress = interactive(), ...) {
  check_unknown_arguments("simulate_local", ...)
  given <- inherits(x_length, c("sagesim_spec", "sagesim_grid"))
  if (given) {
    also <- c(y_length = !missing(y_length), num_people = !missing(num_people),
              max_iterations = !missing(max_iterations), distance = !missing(distance),
              seed = !missing(seed))
    if (any(also)) {
      abort_argument(names(also)[also][[1]], sprintf(
        "Give either a simulation_spec() (or simulation_grid()) or the parameters, not both; `%s` is also given.",
        names(also)[also][[1]]))
    }
  }
  check_number(threads, "threads")
  check_flag(keep_values, "keep_values")
  check_flag(progress, "progress")
  if (inherits(x_length, "sagesim_grid")) {
    if (!is.null(iterations)) {
      abort_argument("iterations", "`iterations` is for a single simulation; a sweep runs every iteration of every cell.")
    }
    return(simulate_sweep(x_length, threads, keep_values, progress))
  }
  spec <- if (given) x_length else new_spec(x_length, y_length, num_people, max_iterations, distance, seed)
  range <- iteration_range(iterations, spec$max_iterations)
  run_simulation(spec, range, threads, keep_values, progress = progress)
}

# c(first, last) from NULL or a contiguous, increasing run of iteration numbers.
iteration_range <- function(iterations, max_iterations) {
  if (is.null(iterations)) {
    return(c(1, max_iterations))
  }
  bad <- function(why) {
    abort_argument("iterations", sprintf(
      "`iterations` must be NULL or a contiguous range within 1:%s such as 1:100; %s.",
      format_count(max_iterations), why))
  }
  if (!is.numeric(iterations) || length(iterations) == 0 || anyNA(iterations)) {
    bad(sprintf("got %s", describe_type(iterations)))
  }
  first <- iterations[[1]]
  last <- iterations[[length(iterations)]]
  if (any(c(first, last) != trunc(c(first, last)))) bad("the iterations are not whole numbers")
  if (first < 1 || last > max_iterations) bad(sprintf("got %s to %s", first, last))
  if (last - first + 1 != length(iterations) || is.unsorted(iterations, strictly = TRUE)) {
    bad("the iterations are not consecutive")
  }
  as.numeric(c(first, last))
}

# The one place a local simulation is started and turned into a result.
# `on_poll(done)` sees the number of finished iterations about every 0.1 s.
run_simulation <- function(spec, range, threads, keep_values, progress = FALSE, on_poll = NULL) {
  count <- range[[2]] - range[[1]] + 1
  if (progress) {
    # The bar belongs to this frame: cli closes it however we leave.
    bar <- cli::cli_progress_bar("Simulating", total = count)
    on_poll <- function(done) cli::cli_progress_update(id = bar, set = done)
  }
  task <- sim_start(unclass(spec), range[[1]], count, threads, keep_values)
  new_simulation(await_task(task, on_poll = on_poll))
}

# A result from a part the Rust core computed, merged or read: the spec, the
# iterations it covers, the exact counts with their statistics, and the
# values when kept.
new_simulation <- function(part) {
  spec <- structure(part$spec, class = "sagesim_spec")
  counts <- part$counts
  structure(list(
    values = part$values,
    mean = counts$mean,
    sd = counts$sd,
    se = counts$se,
    conf_int = c(lower = counts$ci_low, upper = counts$ci_high),
    expected = expected_violations(spec$x_length, spec$y_length, spec$num_people, spec$distance),
    iterations = c(first = part$first_iteration,
                   last = part$first_iteration + part$iterations - 1),
    max_iterations = spec$max_iterations,
    params = unclass(spec)[c("x_length", "y_length", "num_people", "distance")],
    seed = spec$seed,
    elapsed = part$elapsed_seconds,
    threads = part$threads,
    counts = counts[c("iterations", "sum_pairs", "sum_pairs_squared")]
  ), class = "sagesim_simulation")
}

simulation_spec_of <- function(x) {
  structure(c(x$params, list(max_iterations = x$max_iterations, seed = x$seed)),
            class = "sagesim_spec")
}

# The inverse of new_simulation(): what the Rust core merges.
as_part <- function(x) {
  list(spec = unclass(simulation_spec_of(x)), first_iteration = x$iterations[["first"]],
       iterations = x$iterations[["last"]] - x$iterations[["first"]] + 1, counts = x$counts,
       values = x$values, elapsed_seconds = x$elapsed, threads = x$threads)
}

#' Combine simulation results over consecutive iteration ranges
#'
#' Results of the same experiment (same parameters and seed) computed over
#' adjacent iteration ranges, in any order, combine into exactly the result a
#' single run over the whole range gives: same values, same statistics. This
#' is the same merge that puts the hosts of a job together; `elapsed` adds up
#' and `threads` is the largest part's.
#'
#' @param ... `sagesim_simulation` objects, or one list of them.
#' @return A `sagesim_simulation`.
#' @examples
#' a <- simulate_local(100, 100, 50, 200, seed = 1, iterations = 1:100)
#' b <- simulate_local(100, 100, 50, 200, seed = 1, iterations = 101:200)
#' combine_simulations(b, a)
#' @export
combine_simulations <- function(...) {
  parts <- list(...)
  if (length(parts) == 1 && !inherits(parts[[1]], "sagesim_simulation") && is.list(parts[[1]])) {
    parts <- parts[[1]]
  }
  if (length(parts) == 0 || !all(vapply(parts, inherits, logical(1), "sagesim_simulation"))) {
    abort_argument("...", "`...` must be one or more `sagesim_simulation` objects.")
  }
  if (any(vapply(parts, function(p) isTRUE(p$partial), logical(1)))) {
    abort_argument("...", "A partial result (a job that ended before its hosts finished) has gaps: finish it with job_resubmit() and collect that job.")
  }
  labels <- sprintf("result %d (iterations %s-%s)", seq_along(parts),
                    vapply(parts, function(p) format_count(p$iterations[["first"]]), ""),
                    vapply(parts, function(p) format_count(p$iterations[["last"]]), ""))
  new_simulation(unwrap(parts_merge(stats::setNames(lapply(parts, as_part), labels))))
}

#' @export
print.sagesim_simulation <- function(x, ...) {
  params <- x$params
  cat(sprintf("<sagesim simulation> %s\n", describe_spec(params)))
  n <- x$iterations[["last"]] - x$iterations[["first"]] + 1
  range <- if (isTRUE(x$partial)) {
    sprintf("%s of %s (partial: %s)", format_count(x$counts$iterations),
            format_count(x$max_iterations), describe_ranges(x$ranges))
  } else if (n == x$max_iterations) {
    format_count(n)
  } else {
    sprintf("%s-%s of %s", format_count(x$iterations[["first"]]),
            format_count(x$iterations[["last"]]), format_count(x$max_iterations))
  }
  cat(sprintf("iterations: %s, seed %s\n", range, format_count(x$seed)))
  interval <- if (all(is.finite(x$conf_int))) {
    sprintf("95%% CI %s to %s", signif(x$conf_int[["lower"]], 6), signif(x$conf_int[["upper"]], 6))
  } else {
    "a confidence interval needs 2 or more iterations"
  }
  cat(sprintf("mean violations per person: %s  (%s)\n", signif(x$mean, 6), interval))
  cat(sprintf("sd %s, standard error %s\n", signif(x$sd, 4), signif(x$se, 4)))
  cat(sprintf("exact expectation: %s%s\n", signif(x$expected, 6),
              if (is.finite(x$se) && x$se > 0)
                sprintf("  (mean differs by %.2f standard errors)", (x$mean - x$expected) / x$se)
              else ""))
  cat(sprintf("%s s of computation on %s thread%s%s\n", signif(x$elapsed, 3), x$threads,
              if (x$threads == 1) "" else "s",
              if (is.null(x$values)) "; per-iteration values not kept" else ""))
  invisible(x)
}

#' @export
summary.sagesim_simulation <- function(object, ...) {
  stats <- c(mean = object$mean, sd = object$sd, se = object$se,
             ci_lower = object$conf_int[["lower"]], ci_upper = object$conf_int[["upper"]],
             expected = object$expected)
  structure(list(
    spec = simulation_spec_of(object),
    iterations = object$iterations,
    statistics = stats,
    quantiles = if (!is.null(object$values)) stats::quantile(object$values),
    elapsed = object$elapsed,
    threads = object$threads
  ), class = "summary.sagesim_simulation")
}

#' @export
print.summary.sagesim_simulation <- function(x, ...) {
  cat(sprintf("sagesim simulation: %s\n", describe_spec(x$spec)))
  cat(sprintf("iterations %s to %s of %s, seed %s\n\n", format_count(x$iterations[["first"]]),
              format_count(x$iterations[["last"]]), format_count(x$spec$max_iterations),
              format_count(x$spec$seed)))
  # Each number to its own six significant digits, not padded to the others'.
  show <- function(values) {
    text <- vapply(values, function(v) format(signif(v, 6), drop0trailing = TRUE), "")
    cat(sprintf("  %-9s %s\n", names(values), text), sep = "")
  }
  show(x$statistics)
  if (!is.null(x$quantiles)) {
    cat("\nper-iteration values:\n")
    show(x$quantiles)
  }
  cat(sprintf("\n%s s of computation on %s\n", format(signif(x$elapsed, 3)),
              if (x$threads == 1) "1 thread" else sprintf("%d threads", as.integer(x$threads))))
  invisible(x)
}

# The iterations a result's values are of, in order.
simulation_iterations <- function(x) {
  if (!isTRUE(x$partial)) return(seq(x$iterations[["first"]], x$iterations[["last"]]))
  unlist(lapply(seq_len(nrow(x$ranges)), function(k) seq(x$ranges[[k, 1]], x$ranges[[k, 2]])))
}

# "1-300, 501-840" (or "none" for no iterations at all).
describe_ranges <- function(ranges) {
  if (nrow(ranges) == 0) return("no iteration finished")
  paste(sprintf("%s-%s", format_count(ranges[, 1]), format_count(ranges[, 2])), collapse = ", ")
}

#' @export
as.data.frame.sagesim_simulation <- function(x, row.names = NULL, optional = FALSE, ...) {
  require_values(x, "as.data.frame")
  data.frame(
    iteration = simulation_iterations(x),
    violations_per_person = x$values,
    row.names = row.names
  )
}

#' @export
plot.sagesim_simulation <- function(x, ..., breaks = "Sturges",
                                    main = "Violations per person, by iteration",
                                    xlab = "violations per person") {
  require_values(x, "plot")
  graphics::hist(x$values, breaks = breaks, main = main, xlab = xlab,
                 col = "grey85", border = "white", ...)
  graphics::abline(v = x$mean, col = "firebrick", lwd = 2)
  graphics::abline(v = x$expected, col = "steelblue", lwd = 2, lty = 2)
  graphics::legend("topright", bty = "n", lwd = 2, lty = c(1, 2),
                   col = c("firebrick", "steelblue"),
                   legend = c(sprintf("mean %s", signif(x$mean, 4)),
                              sprintf("exact %s", signif(x$expected, 4))))
  invisible(x)
}

require_values <- function(x, what) {
  if (is.null(x$values)) {
    abort(sprintf("%s() needs per-iteration values; this result kept only summary statistics (keep_values = FALSE).", what),
          class = "sagesim_results_error")
  }
}

# simulate_local() of a grid: each cell in turn, one progress bar for all.
simulate_sweep <- function(grid, threads, keep_values, progress) {
  specs <- grid_specs(grid)
  total <- sum(grid$cells$max_iterations)
  done <- 0
  on_poll <- NULL
  if (progress) {
    bar <- cli::cli_progress_bar("Sweeping", total = total)
    on_poll <- function(n) cli::cli_progress_update(id = bar, set = done + n)
  }
  results <- lapply(specs, function(spec) {
    result <- run_simulation(spec, c(1, spec$max_iterations), threads, keep_values,
                             on_poll = on_poll)
    done <<- done + spec$max_iterations
    result
  })
  new_sweep(grid, results)
}
