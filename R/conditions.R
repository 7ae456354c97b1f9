# Every error sagesim raises is a condition of class `sagesim_error` plus a
# specific class, so callers can catch exactly what they mean to handle.
# The classes are documented in ?sagesim_conditions.

#' Conditions raised by sagesim
#'
#' All errors inherit from `sagesim_error`. The more specific classes:
#' * `sagesim_invalid_argument`: bad input; the field `argument` names it.
#'   `sagesim_too_large` (a subclass) when the request cannot fit in memory.
#' * `sagesim_aws_error`: an AWS call failed; fields `service`, `operation`,
#'   `code`, `aws_message`, `request_id`, `http_status`. Also carries the class
#'   `sagesim_aws_<code>`, e.g. `sagesim_aws_ValidationException`.
#' * `sagesim_job_failed`: a job ended Failed; fields `job_name`, `job` (the
#'   handle), `failure_reason`, `exit_message`. `sagesim_job_stopped` (a
#'   warning) when it was stopped.
#' * `sagesim_job_not_found`, `sagesim_job_not_finished`, `sagesim_wait_timeout`:
#'   no such job; collecting before completion; `job_wait(timeout = )` ran out.
#' * `sagesim_session_expired`: a saved session made with explicit
#'   credentials cannot reconnect.
#' * `sagesim_results_error`: results are missing, incomplete or malformed.
#' * `sagesim_local_job_error`: a local-mode job could not be run.
#' * `sagesim_engine_error`: docker/podman failed while building or pushing.
#' * `sagesim_internal_error`: a bug in sagesim; please report it.
#'
#' @examples
#' tryCatch(
#'   simulate_local(1000, 1000, -1, 10),
#'   sagesim_invalid_argument = function(e) conditionMessage(e)
#' )
#' @name sagesim_conditions
NULL

abort <- function(message, class = character(), ..., call = sys.call(-1)) {
  condition <- structure(
    class = c(class, "sagesim_error", "error", "condition"),
    list(message = paste(message, collapse = "\n"), call = call, ...)
  )
  stop(condition)
}

abort_argument <- function(argument, message, ..., class = character(), call = sys.call(-1)) {
  abort(message, class = c(class, "sagesim_invalid_argument"), argument = argument, ...,
        call = call)
}
