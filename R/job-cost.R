#' What a job cost
#'
#' The instance-hours a job was billed and what they cost at the on-demand
#' price of its instance type in its region ([sagemaker_prices()]), as data.
#'
#' SageMaker bills each instance of a Processing job by the second, from the
#' job's processing start (`ProcessingStartTime`) to its end
#' (`ProcessingEndTime`), so a job of `n` hosts is billed `n` times its
#' processing time; a job that failed before it started (no start time) is
#' billed nothing. The dollars are that many instance-hours at the table's
#' price; where the table has no price for the type or region, the
#' instance-hours are given and the dollars are `NA` ("price unknown"). The
#' storage volume (`volume_size_gb`, billed per GB-month) and S3 are not
#' included. A job still running is costed up to now. A local job costs
#' nothing on AWS; its row gives the hosts' seconds on this machine.
#'
#' A job the cloud failed and [job_wait()] ran again (see `retries` in
#' [submit_processing()]) has one row per attempt, the earlier ones first:
#' each was billed for its own hosts, and the total is what the job cost.
#'
#' @param job A job handle (see [submit_processing()], [job_attach()]).
#' @return A `sagesim_job_cost` data.frame, one row per run (attempt): `job_name`,
#'   `status`, `instance_type`, `region`, `hosts`, `seconds` (billed per
#'   host), `instance_hours`, `usd_per_hour`, `usd` (`NA`: price unknown),
#'   `price_source`, `price_date`, `running`. It prints in words; `sum(x$usd)`
#'   is the total.
#' @examples
#' old <- options(sagesim.job_dir = tempfile("sagesim-example-"))  # where local jobs keep their files
#' job <- submit_processing(simulation = simulation_spec(100, 100, 50, 20, seed = 3),
#'                          instance_type = "local", logs = FALSE)
#' job_cost(job)
#' unlink(getOption("sagesim.job_dir"), recursive = TRUE)
#' options(old)
#' @param ... Not used: an argument these do not take is refused
#'   (`sagesim_unknown_argument`), naming the one meant.
#' @export
job_cost <- function(job, ...) {
  check_unknown_arguments("job_cost", ...)
  check_job(job)
  status <- job$last_status
  if (is.null(status) || !status$status %in% terminal_statuses) job_status(job)
  job_runs_cost(job)
}
