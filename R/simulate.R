#' Simulation parameters
#'
#' Describes one social-distancing experiment: a `x_length` by `y_length`
#' room, `num_people` placed uniformly at random, every pair closer than
#' `distance` counting as two violations, repeated `max_iterations` times.
#' The same object runs locally ([simulate_local()]) or as a SageMaker job
#' (`submit_processing(simulation = ...)`).
#'
#' @param x_length,y_length Room sides, positive numbers.
#' @param num_people People per iteration, a whole number (0 allowed).
#' @param max_iterations Number of iterations, a whole number >= 1.
#' @param distance Distance below which two people violate, positive.
#' @param seed A whole number in `[0, 2^53]`, or `NULL` to draw one from R's
#'   random number generator (so `set.seed()` makes the draw repeatable). The
#'   seed is recorded in the result so any run can be repeated exactly.
#' @return An object of class `sagesim_spec`.
#' @examples
#' spec <- simulation_spec(1000, 1000, 1000, 10000, seed = 42)
#' spec
#' @export
simulation_spec <- function(x_length, y_length, num_people, max_iterations, distance = 6,
                            seed = NULL) {
  call <- sys.call()
  structure(list(
    x_length = check_number(x_length, "x_length", min = 0, above = TRUE, call = call),
    y_length = check_number(y_length, "y_length", min = 0, above = TRUE, call = call),
    num_people = check_count(num_people, "num_people", call = call),
    max_iterations = check_count(max_iterations, "max_iterations", min = 1, call = call),
    distance = check_number(distance, "distance", min = 0, above = TRUE, call = call),
    seed = if (is.null(seed)) draw_seed() else check_count(seed, "seed", call = call)
  ), class = "sagesim_spec")
}

draw_seed <- function() as.numeric(sample.int(.Machine$integer.max, 1L))

#' @export
print.sagesim_spec <- function(x, ...) {
  cat(sprintf("<sagesim simulation spec> %s\n", describe_spec(x)))
  cat(sprintf("%s iterations, seed %s\n", format_count(x$max_iterations), format_count(x$seed)))
  invisible(x)
}

describe_spec <- function(spec) {
  sprintf("%s x %s room, %s people, distance %s", format(spec$x_length), format(spec$y_length),
          format_count(spec$num_people), format(spec$distance))
}

format_count <- function(x) format(x, big.mark = ",", scientific = FALSE, trim = TRUE)

#' Run the simulation on this machine
#'
#' Places `num_people` uniformly at random in the room and counts pairs closer
#' than `distance` with a spatial grid (cost linear in `num_people`), in Rust,
#' off R's main thread: Ctrl-C stops it within half a second and leaves R
#' usable. Iteration `i` draws from a random stream that depends only on
#' `(seed, i)`, so results are bit-identical for any `threads` and any split of
#' the iterations (see `iterations` and [combine_simulations()]).
#'
#' @inheritParams simulation_spec
#' @param threads Worker threads: 1 (the default, polite on a shared RStudio
#'   server), or 0 for all cores.
#' @param keep_values Keep every iteration's value (`TRUE`), or only the
#'   summary statistics (`FALSE`: constant memory, for very long runs).
#' @param iterations `NULL` for all of `1:max_iterations`, or a contiguous
#'   range of them such as `501:1000`: the same values a full run computes for
#'   those iterations. This is how multi-host jobs split the work.
#' @param progress Show a progress bar (interactive sessions only).
#' @return A `sagesim_simulation`: a list with `values` (per-iteration
#'   violations per person, or `NULL`), `mean`, `sd`, `se`, `conf_int` (95%),
#'   `expected` (the exact expectation, [expected_violations()]), `iterations`
#'   (first and last computed), `max_iterations`, `params`, `seed`, `elapsed`
#'   (seconds of computation), `threads` and `counts` (exact sums used to
#'   combine results). It has `print()`, `summary()`, `as.data.frame()` and
#'   `plot()` methods.
#' @examples
#' sim <- simulate_local(1000, 1000, 1000, max_iterations = 1000, seed = 42)
#' sim
#' summary(sim)
#' head(as.data.frame(sim))
#' plot(sim)
#'
#' # Any split of the iterations gives exactly the same values:
#' a <- simulate_local(1000, 1000, 1000, 1000, seed = 42, iterations = 1:400)
#' b <- simulate_local(1000, 1000, 1000, 1000, seed = 42, iterations = 401:1000)
#' identical(combine_simulations(a, b)$values, sim$values)
#' @export
simulate_local <- function(x_length, y_length, num_people, max_iterations, distance = 6,
                           seed = NULL, threads = 1, keep_values = TRUE, iterations = NULL,
                           progress = interactive()) {
  call <- sys.call()
  spec <- simulation_spec(x_length, y_length, num_people, max_iterations, distance, seed)
  threads <- check_count(threads, "threads", max = 1024, call = call)
  check_flag(keep_values, "keep_values", call = call)
  check_flag(progress, "progress", call = call)
  range <- iteration_range(iterations, spec$max_iterations, call = call)
  run_simulation(spec, range, threads, keep_values, progress = progress, call = call)
}

# c(first, last) from NULL or a contiguous, increasing run of iteration numbers.
iteration_range <- function(iterations, max_iterations, call = sys.call(-1)) {
  if (is.null(iterations)) {
    return(c(1, max_iterations))
  }
  bad <- function(why) {
    abort_argument("iterations", sprintf(
      "`iterations` must be NULL or a contiguous range within 1:%s such as 1:100; %s.",
      format_count(max_iterations), why), call = call)
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

# The one place a simulation is started and turned into a result object:
# simulate_local() and the SageMaker worker both come through here.
# `on_poll(done)` sees the number of finished iterations about every 0.1 s.
run_simulation <- function(spec, range, threads, keep_values, progress = FALSE, on_poll = NULL,
                           call = sys.call(-1)) {
  count <- range[[2]] - range[[1]] + 1
  if (progress) {
    # The bar belongs to this frame: cli closes it however we leave.
    bar <- cli::cli_progress_bar("Simulating", total = count)
    on_poll <- function(done) cli::cli_progress_update(id = bar, set = done)
  }
  task <- sim_start(spec$x_length, spec$y_length, spec$num_people, spec$distance, spec$seed,
                    range[[1]], count, threads, keep_values)
  raw <- await_task(task, on_poll = on_poll, call = call)
  new_simulation(spec, range, raw$values, raw$counts, raw$elapsed_seconds, raw$threads)
}

new_simulation <- function(spec, range, values, counts, elapsed, threads) {
  structure(list(
    values = values,
    mean = counts$mean,
    sd = counts$sd,
    se = counts$se,
    conf_int = c(lower = counts$ci_low, upper = counts$ci_high),
    expected = expected_violations(spec$x_length, spec$y_length, spec$num_people, spec$distance),
    iterations = c(first = range[[1]], last = range[[2]]),
    max_iterations = spec$max_iterations,
    params = unclass(spec)[c("x_length", "y_length", "num_people", "distance")],
    seed = spec$seed,
    elapsed = elapsed,
    threads = threads,
    counts = counts[c("iterations", "sum_pairs", "sum_pairs_squared")]
  ), class = "sagesim_simulation")
}

simulation_spec_of <- function(x) {
  structure(c(x$params, list(max_iterations = x$max_iterations, seed = x$seed)),
            class = "sagesim_spec")
}

#' Combine simulation results over consecutive iteration ranges
#'
#' Results of the same experiment (same parameters and seed) computed over
#' adjacent iteration ranges, in any order, combine into exactly the result a
#' single run over the whole range gives: same values, same statistics.
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
  first <- parts[[1]]
  same <- vapply(parts, function(p) {
    identical(p$params, first$params) && identical(p$seed, first$seed) &&
      identical(p$max_iterations, first$max_iterations)
  }, logical(1))
  if (!all(same)) {
    abort("Only results of the same experiment (parameters, seed, max_iterations) can be combined.",
          class = "sagesim_results_error")
  }
  parts <- parts[order(vapply(parts, function(p) p$iterations[["first"]], numeric(1)))]
  starts <- vapply(parts, function(p) p$iterations[["first"]], numeric(1))
  ends <- vapply(parts, function(p) p$iterations[["last"]], numeric(1))
  gaps <- which(starts[-1] != ends[-length(ends)] + 1)
  if (length(gaps) > 0) {
    i <- gaps[[1]]
    what <- if (starts[i + 1] <= ends[i]) "overlap" else "leave a gap"
    abort(sprintf("Iterations %s-%s and %s-%s %s; results must cover consecutive ranges.",
                  starts[i], ends[i], starts[i + 1], ends[i + 1], what),
          class = "sagesim_results_error")
  }
  counts <- unwrap(sim_combine_counts(
    first$params$num_people,
    vapply(parts, function(p) p$counts$iterations, numeric(1)),
    vapply(parts, function(p) p$counts$sum_pairs, character(1)),
    vapply(parts, function(p) p$counts$sum_pairs_squared, character(1))
  ))
  values <- if (all(vapply(parts, function(p) !is.null(p$values), logical(1)))) {
    unlist(lapply(parts, `[[`, "values"), use.names = FALSE)
  }
  new_simulation(simulation_spec_of(first), c(starts[[1]], ends[[length(ends)]]), values, counts,
                 sum(vapply(parts, `[[`, numeric(1), "elapsed")),
                 max(vapply(parts, `[[`, numeric(1), "threads")))
}

#' @export
print.sagesim_simulation <- function(x, ...) {
  params <- x$params
  cat(sprintf("<sagesim simulation> %s\n", describe_spec(params)))
  n <- x$iterations[["last"]] - x$iterations[["first"]] + 1
  range <- if (n == x$max_iterations) format_count(n) else
    sprintf("%s-%s of %s", format_count(x$iterations[["first"]]),
            format_count(x$iterations[["last"]]), format_count(x$max_iterations))
  cat(sprintf("iterations: %s, seed %s\n", range, format_count(x$seed)))
  cat(sprintf("mean violations per person: %s  (95%% CI %s to %s)\n", signif(x$mean, 6),
              signif(x$conf_int[["lower"]], 6), signif(x$conf_int[["upper"]], 6)))
  cat(sprintf("sd %s, standard error %s\n", signif(x$sd, 4), signif(x$se, 4)))
  cat(sprintf("exact expectation: %s%s\n", signif(x$expected, 6),
              if (is.finite(x$se) && x$se > 0)
                sprintf("  (mean differs by %.2f standard errors)", (x$mean - x$expected) / x$se)
              else ""))
  cat(sprintf("computed in %s s on %s thread%s%s\n", signif(x$elapsed, 3), x$threads,
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
  print(signif(x$statistics, 6))
  if (!is.null(x$quantiles)) {
    cat("\nper-iteration values:\n")
    print(signif(x$quantiles, 6))
  }
  cat(sprintf("\n%s s of computation on %s thread(s)\n", signif(x$elapsed, 3), x$threads))
  invisible(x)
}

#' @export
as.data.frame.sagesim_simulation <- function(x, row.names = NULL, optional = FALSE, ...) {
  require_values(x, "as.data.frame")
  data.frame(
    iteration = seq(x$iterations[["first"]], x$iterations[["last"]]),
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
          class = "sagesim_results_error", call = sys.call(-1))
  }
}
