#' sagesim: fast Monte Carlo simulation, locally and on SageMaker Processing
#'
#' Run the social-distancing simulation natively with [simulate_local()],
#' compare it with its exact expectation [expected_violations()], and send it
#' (or any R script) to Amazon SageMaker Processing with [submit_processing()].
#'
#' @section Options:
#' * `sagesim.poll_interval`: seconds between status polls while waiting on
#'   a job (default 5 for SageMaker, 0.5 for local jobs).
#' * `sagesim.job_dir`: where local-mode jobs keep their files, each in
#'   `local-jobs/<name>` under it (default `tools::R_user_dir("sagesim", "data")`).
#' * `sagesim.wait_timeout`: seconds after which [job_wait()] (and so
#'   `submit_processing(wait = TRUE)`) gives up waiting (default: never).
#' * `sagesim.final_log_delay`: seconds [job_wait()] waits after a job ends
#'   before reading its logs a last time (default 5 for SageMaker, 0 for
#'   local jobs).
#' * `sagesim.rstudio_jobs`: show jobs in RStudio's Jobs pane (default
#'   `TRUE`; only inside RStudio).
#'
#' @keywords internal
#' @useDynLib sagesim, .registration = TRUE
"_PACKAGE"
