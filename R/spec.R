#' Simulation parameters
#'
#' Describes one social-distancing experiment: a `x_length` by `y_length`
#' room, `num_people` placed uniformly at random, every pair closer than
#' `distance` counting as two violations, repeated `max_iterations` times.
#' The same object runs locally (`simulate_local(spec)`) or as a SageMaker
#' job (`submit_processing(simulation = spec)`).
#'
#' @param x_length,y_length Room sides, positive numbers (between 1e-150 and
#'   1e150).
#' @param num_people People per iteration, a whole number (0 allowed).
#' @param max_iterations Number of iterations, a whole number >= 1.
#' @param distance Distance below which two people violate, positive.
#' @param seed A whole number in `[0, 2^53]`, or `NULL` to draw one from R's
#'   random number generator (so `set.seed()` makes the draw repeatable). The
#'   seed is recorded in the spec and in every result, so any run can be
#'   repeated exactly.
#' @return An object of class `sagesim_spec`: a list of the six parameters.
#' @examples
#' spec <- simulation_spec(1000, 1000, 1000, 10000, seed = 42)
#' spec
#' simulate_local(simulation_spec(100, 100, 50, 20, seed = 1))
#' @param ... Not used: an argument these do not take is refused
#'   (`sagesim_unknown_argument`), naming the one meant.
#' @export
simulation_spec <- function(x_length, y_length, num_people, max_iterations, distance = 6,
                            seed = NULL, ...) {
  check_unknown_arguments("simulation_spec", ...)
  new_spec(x_length, y_length, num_people, max_iterations, distance, seed)
}

# The one constructor of specs: R checks the shapes of the arguments, the
# Rust core their ranges.
new_spec <- function(x_length, y_length, num_people, max_iterations, distance, seed) {
  spec <- list(
    x_length = check_number(x_length, "x_length", finite = FALSE),
    y_length = check_number(y_length, "y_length", finite = FALSE),
    num_people = check_number(num_people, "num_people", finite = FALSE),
    max_iterations = check_number(max_iterations, "max_iterations", finite = FALSE),
    distance = check_number(distance, "distance", finite = FALSE),
    seed = if (is.null(seed)) draw_seed() else check_number(seed, "seed", finite = FALSE)
  )
  unwrap(spec_check(spec))
  structure(spec, class = "sagesim_spec")
}

# A seed from R's generator: set.seed() makes it repeatable.
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
