#' Exact expected violations per person
#'
#' `(num_people - 1) * P`, where `P` is the probability that two points placed
#' uniformly in the room are closer than `distance`. For `distance` no larger
#' than either side,
#' `P = (pi d^2 L W - 4/3 d^3 (L + W) + d^4 / 2) / (L W)^2`; beyond that `P` is
#' integrated numerically (to about 1e-13 relative). Zero or one person gives 0.
#'
#' @inheritParams simulation_spec
#' @return A single number: the expectation of one iteration's value.
#' @examples
#' expected_violations(1000, 1000, 1000)   # the reference room: about 0.113
#' expected_violations(5, 3, 10)            # distance larger than the room
#' @param ... Not used: an argument these do not take is refused
#'   (`sagesim_unknown_argument`), naming the one meant.
#' @export
expected_violations <- function(x_length, y_length, num_people, distance = 6, ...) {
  check_unknown_arguments("expected_violations", ...)
  unwrap(sim_expected_violations(check_number(x_length, "x_length", finite = FALSE),
                                 check_number(y_length, "y_length", finite = FALSE),
                                 check_number(num_people, "num_people", finite = FALSE),
                                 check_number(distance, "distance", finite = FALSE)))
}
