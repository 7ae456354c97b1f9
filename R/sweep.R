#' A sweep of the simulation over its parameters
#'
#' Every combination of the values given: any argument may be a vector. Each
#' combination (a *cell*) is a [simulation_spec()] whose random streams
#' depend only on the sweep's `seed` and the cell's own room (`x_length`,
#' `y_length`, `num_people`, `distance`), so adding cells, or iterations,
#' never changes the others' results. A sweep runs locally with
#' [simulate_local()] or as a job with `submit_processing(simulation = )`,
#' where its cells and iterations are balanced across the hosts by their
#' cost (people x iterations); both return the same values.
#'
#' @inheritParams simulation_spec
#' @param seed The sweep's seed: a whole number in `[0, 2^53]`, or `NULL` to
#'   draw one from R's random number generator (so `set.seed()` makes the
#'   draw repeatable).
#' @return A `sagesim_grid`: `cells`, a data.frame with one row per cell
#'   (its parameters and its own `seed`), in the order of [expand.grid()]
#'   (`x_length` varying fastest), and `seed`.
#' @examples
#' grid <- simulation_grid(x_length = c(500, 1000), y_length = 1000,
#'                         num_people = c(100, 500, 1000), max_iterations = 200, seed = 1)
#' grid
#' sweep <- simulate_local(grid)
#' sweep
#' plot(sweep)
#' @param ... For `simulation_grid()`, not used: an argument it does not
#'   take is refused (`sagesim_unknown_argument`), naming the one meant. For
#'   `plot()`, passed on to [graphics::plot()].
#' @export
simulation_grid <- function(x_length, y_length, num_people, max_iterations, distance = 6,
                            seed = NULL, ...) {
  check_unknown_arguments("simulation_grid", ...)
  axes <- list(x_length = x_length, y_length = y_length, num_people = num_people,
               max_iterations = max_iterations, distance = distance)
  for (arg in names(axes)) {
    values <- axes[[arg]]
    if (!is.numeric(values) || is.object(values) || length(values) == 0 || anyNA(values)) {
      what <- if (is.numeric(values) && length(values) > 1 && anyNA(values)) {
        sprintf("a vector with a missing value (NA) at position %s",
                paste(which(is.na(values)), collapse = ", "))
      } else {
        describe_type(values)
      }
      abort_argument(arg, sprintf("`%s` must be a numeric vector of one or more values, not %s.",
                                  arg, what))
    }
    if (anyDuplicated(values)) {
      abort_argument(arg, sprintf("`%s` has repeated values: %s.", arg,
                                  paste(unique(values[duplicated(values)]), collapse = ", ")))
    }
  }
  seed <- if (is.null(seed)) draw_seed() else check_number(seed, "seed", finite = FALSE)
  # Integers (100L) are numbers too; the core takes doubles.
  new_grid(lapply(axes, as.numeric), seed)
}

# The one expansion of axes into cells, for simulation_grid() and for the
# worker that receives the axes on its command line.
new_grid <- function(axes, seed) {
  cells <- expand.grid(axes, KEEP.OUT.ATTRS = FALSE, stringsAsFactors = FALSE)
  cells$seed <- unwrap(sweep_seeds(seed, as.numeric(cells$x_length), as.numeric(cells$y_length),
                                   as.numeric(cells$num_people), as.numeric(cells$distance)))
  # Every cell is a valid spec (the Rust core checks the ranges).
  for (k in seq_len(nrow(cells))) unwrap(spec_check(as.list(cells[k, ])))
  structure(list(cells = cells, axes = axes, seed = seed), class = "sagesim_grid")
}

# The specs of a grid's cells, in order: the plan of a sweep job.
grid_specs <- function(grid) {
  lapply(seq_len(nrow(grid$cells)), function(k) {
    cell <- grid$cells[k, ]
    structure(list(x_length = cell$x_length, y_length = cell$y_length,
                   num_people = cell$num_people, max_iterations = cell$max_iterations,
                   distance = cell$distance, seed = cell$seed), class = "sagesim_spec")
  })
}

#' @export
print.sagesim_grid <- function(x, ...) {
  varying <- names(x$axes)[lengths(x$axes) > 1]
  cat(sprintf("<sagesim simulation grid> %d cell%s, seed %s\n", nrow(x$cells),
              if (nrow(x$cells) == 1) "" else "s", format_count(x$seed)))
  for (arg in names(x$axes)) {
    cat(sprintf("  %-15s %s\n", paste0(arg, ":"), paste(format(x$axes[[arg]]), collapse = ", ")))
  }
  if (length(varying) == 0) cat("  (a single cell)\n")
  invisible(x)
}

# A sweep's result from its grid and each cell's simulation, in cell order.
new_sweep <- function(grid, results) {
  stat <- function(field) vapply(results, function(r) as.numeric(r[[field]]), numeric(1))
  cells <- grid$cells
  table <- data.frame(
    cells[c("x_length", "y_length", "num_people", "max_iterations", "distance", "seed")],
    iterations = vapply(results, function(r) r$counts$iterations, numeric(1)),
    mean = stat("mean"), sd = stat("sd"), se = stat("se"),
    ci_lower = vapply(results, function(r) r$conf_int[["lower"]], numeric(1)),
    ci_upper = vapply(results, function(r) r$conf_int[["upper"]], numeric(1)),
    expected = stat("expected"), elapsed = stat("elapsed"),
    check.names = FALSE
  )
  structure(list(cells = table, grid = grid, seed = grid$seed, simulations = results),
            class = "sagesim_sweep")
}

#' @export
as.data.frame.sagesim_sweep <- function(x, row.names = NULL, optional = FALSE, ...) {
  table <- x$cells
  if (!is.null(row.names)) rownames(table) <- row.names
  table
}

#' @export
print.sagesim_sweep <- function(x, ...) {
  cat(sprintf("<sagesim sweep> %d cell%s, seed %s, %s iterations in all\n", nrow(x$cells),
              if (nrow(x$cells) == 1) "" else "s", format_count(x$seed),
              format_count(sum(x$cells$iterations))))
  shown <- x$cells[c(sweep_varying(x), "mean", "se", "ci_lower", "ci_upper", "expected")]
  shown[] <- lapply(shown, function(column) signif(column, 6))
  print(shown, row.names = FALSE)
  invisible(x)
}

#' @export
summary.sagesim_sweep <- function(object, ...) {
  table <- object$cells
  # How far each mean lies from the exact expectation, in standard errors.
  table$z <- (table$mean - table$expected) / table$se
  structure(list(cells = table, seed = object$seed,
                 varying = sweep_varying(object),
                 elapsed = sum(table$elapsed)),
            class = "summary.sagesim_sweep")
}

#' @export
print.summary.sagesim_sweep <- function(x, ...) {
  cat(sprintf("sagesim sweep: %d cells over %s, seed %s\n", nrow(x$cells),
              if (length(x$varying) == 0) "no varying parameter" else paste(x$varying, collapse = ", "),
              format_count(x$seed)))
  shown <- x$cells[c(x$varying, "iterations", "mean", "se", "expected", "z")]
  shown[] <- lapply(shown, function(column) signif(column, 4))
  print(shown, row.names = FALSE)
  cat(sprintf("\nlargest |z| (mean - exact) / se: %.2f; %s s of computation\n",
              max(abs(x$cells$z), na.rm = TRUE), signif(x$elapsed, 3)))
  invisible(x)
}

# The parameters that take more than one value, in argument order.
sweep_varying <- function(x) {
  axes <- x$grid$axes
  names(axes)[lengths(axes) > 1]
}

#' @param x A `sagesim_sweep` (from `simulate_local(grid)` or a sweep job).
#' @param along For `plot()`: the parameter on the horizontal axis, by
#'   default the varying one with the most values. One line is drawn per
#'   value of the other varying parameters.
#' @param xlab,ylab,main Passed on to [graphics::plot()].
#' @rdname simulation_grid
#' @export
plot.sagesim_sweep <- function(x, along = NULL, ..., xlab = NULL, ylab = "violations per person",
                               main = "Mean violations per person (95% CI) beside the exact expectation") {
  table <- x$cells
  varying <- sweep_varying(x)
  counts <- lengths(x$grid$axes[varying])
  along <- along %||% if (length(varying) > 0) varying[[which.max(counts)]] else "num_people"
  check_choice(along, c("x_length", "y_length", "num_people", "max_iterations", "distance"), "along")
  # One line per value of the other varying parameters.
  others <- setdiff(varying, along)
  groups <- if (length(others) > 0) {
    interaction(table[others], sep = ", ", lex.order = TRUE, drop = TRUE)
  } else {
    factor(rep("", nrow(table)))
  }
  colours <- grDevices::hcl.colors(max(nlevels(groups), 1), "Dark 3")
  graphics::plot(range(table[[along]]),
                 range(c(table$ci_lower, table$ci_upper, table$expected), na.rm = TRUE),
                 type = "n", xlab = xlab %||% along, ylab = ylab, main = main, ...)
  rising <- 0
  for (k in seq_len(nlevels(groups))) {
    rows <- table[groups == levels(groups)[k], , drop = FALSE]
    rows <- rows[order(rows[[along]]), , drop = FALSE]
    graphics::lines(rows[[along]], rows$mean, col = colours[k], lwd = 2)
    graphics::points(rows[[along]], rows$mean, col = colours[k], pch = 19)
    graphics::arrows(rows[[along]], rows$ci_lower, rows[[along]], rows$ci_upper,
                     col = colours[k], angle = 90, code = 3, length = 0.03)
    graphics::lines(rows[[along]], rows$expected, col = colours[k], lty = 2)
    graphics::points(rows[[along]], rows$expected, col = colours[k], pch = 1, cex = 1.6)
    rising <- rising + sign(rows$mean[[nrow(rows)]] - rows$mean[[1]])
  }
  series <- if (length(others) > 0) paste(paste(others, collapse = ", "), "=", levels(groups))
  graphics::legend(if (rising >= 0) "topleft" else "topright", bty = "n",
                   legend = c(series, "mean and 95% CI", "exact expectation"),
                   col = c(colours[seq_along(series)], "grey30", "grey30"),
                   lty = c(rep(1, length(series)), 1, 2), pch = c(rep(NA, length(series)), 19, 1),
                   lwd = c(rep(2, length(series)), 2, 1))
  invisible(x)
}
