#' sagesim: fast Monte Carlo simulation, locally and on SageMaker Processing
#'
#' Run the social-distancing simulation natively with [simulate_local()],
#' compare it with its exact expectation [expected_violations()], and send it
#' (or any R script) to Amazon SageMaker Processing with [submit_processing()].
#'
#' @section Options:
#' * `sagesim.poll_interval`: seconds between status polls while waiting on
#'   a job (default 5 for SageMaker, 0.5 for local jobs).
#' * `sagesim.job_dir`: where local-mode jobs keep their files (default
#'   `tools::R_user_dir("sagesim", "data")`).
#'
#' @keywords internal
#' @useDynLib sagesim, .registration = TRUE
"_PACKAGE"
