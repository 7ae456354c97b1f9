# Every error sagesim raises is a condition of class `sagesim_error` plus a
# specific class, so callers can catch exactly what they mean to handle.
# The classes are documented in ?sagesim_conditions.

#' Conditions raised by sagesim
#'
#' All errors inherit from `sagesim_error`, and show the call of the sagesim
#' function you called (never an internal one). The more specific classes:
#' * `sagesim_invalid_argument`: bad input; the field `argument` names it.
#'   `sagesim_too_large` (a subclass) when the request cannot fit in memory.
#'   `sagesim_role_unknown` (a subclass) when a job is submitted without
#'   `role` and the caller's own role could not be read from IAM (`GetRole`
#'   denied or unreachable); fields `role_name` and `aws_code`.
#' * `sagesim_aws_error`: an AWS call failed; fields `service`, `operation`,
#'   `code`, `aws_message`, `request_id`, `http_status`. Also carries the class
#'   `sagesim_aws_<code>`, e.g. `sagesim_aws_ValidationException`.
#'   `sagesim_no_credentials` (a subclass) when no AWS credentials were found.
#'   `sagesim_access_denied` (a subclass) when AWS refused a call for want of
#'   a permission; fields `action` (the IAM action, e.g. `"iam:PassRole"`),
#'   `resource` (its ARN), `permission` (the policy statement that would
#'   allow it, as a list) and `caller`; its message says what to add
#'   ([sagesim_iam_policy()] writes them all).
#' * `sagesim_job_failed`: a job ended Failed; fields `job_name`, `job` (the
#'   handle), `failure_reason`, `exit_message`. `sagesim_job_stopped` (a
#'   warning) when it was stopped.
#' * `sagesim_job_not_found`, `sagesim_job_not_finished`, `sagesim_wait_timeout`:
#'   no such job; collecting before completion; `job_wait(timeout = )` ran out.
#' * `sagesim_job_exists`: `submit_processing(job_name = )` names a job that
#'   already exists.
#' * `sagesim_session_expired`: a saved session made with explicit
#'   credentials cannot reconnect.
#' * `sagesim_results_error`: results are missing, incomplete or malformed.
#'   `sagesim_results_missing` (a subclass) when hosts of a job wrote no
#'   results; fields `missing_hosts` and `location` (where sagesim looked).
#' * `sagesim_integrity_error`: a file that travelled through S3 (or a local
#'   job's folder) is not what was written, so nothing of it was read: a
#'   map's payload whose SHA-256 is not the one the job's request gives (on a
#'   host, or in the session when it reads the payload again), or a host's
#'   results file whose signature (`<file>.hmac`) is missing or does not
#'   match; fields `file`, `reason` and, for a results file, `location`
#'   (where it was downloaded from).
#' * `sagesim_map_failed`: elements of a [submit_map()] job failed; fields
#'   `job_name`, `failed` (their positions) and `conditions` (each one's
#'   condition, with `traceback` and `element`). `sagesim_map_error` when a
#'   map job's host cannot run at all (a package is missing).
#' * `sagesim_future_error`: the job of a future (`plan(sagesim::sagemaker)`)
#'   failed, was stopped, or could not evaluate the future; also a
#'   [future::FutureError]; field `job_name`.
#' * `sagesim_over_budget`: a SageMaker job's estimated cost exceeds its
#'   `budget` (or `getOption("sagesim.budget")`); fields `estimate` and
#'   `budget`. Nothing was created. `sagesim_budget_unknown` (a subclass)
#'   when a budget is set but the job's price is unknown.
#' * `sagesim_prices_unavailable`: AWS's price list could not be read
#'   ([update_sagemaker_prices()]); field `url`.
#' * `sagesim_local_job_error`: a local-mode job could not be run.
#' * `sagesim_no_mount_namespace` (a warning): a local job's hosts run
#'   without `/opt/ml` at its real path; field `tried` says what was tried.
#' * `sagesim_engine_error`: no container engine, or docker, podman or
#'   buildah failed while building, pushing or starting a local job's
#'   container; a failed build names the package it could not install.
#' * `sagesim_training_error`: [training_host()] was run outside a
#'   Training job's `/opt/ml`, given no command, or could not link a
#'   Processing path to its channel or checkpoint folder.
#' * `sagesim_cancelled`: a run in the Rust core was cancelled (a
#'   rehearsed Spot interruption, `SAGESIM_INTERRUPT_AFTER`).
#' * `sagesim_internal_error`: a bug in sagesim; please report it.
#'
#' @examples
#' tryCatch(
#'   simulate_local(1000, 1000, -1, 10),
#'   sagesim_invalid_argument = function(e) conditionMessage(e)
#' )
#' @name sagesim_conditions
NULL

abort <- function(message, class = character(), ..., call = user_call()) {
  condition <- structure(
    class = c(class, "sagesim_error", "error", "condition"),
    list(message = paste(message, collapse = "\n"), call = call, ...)
  )
  stop(condition)
}

abort_argument <- function(argument, message, ..., class = character(), call = user_call()) {
  abort(message, class = c(class, "sagesim_invalid_argument"), argument = argument, ...,
        call = call)
}

# The call the user made: the outermost frame running sagesim's code (an
# exported function, or a method of one), so that a condition raised deep
# inside shows `simulate_local(...)`, not the helper that noticed. Arguments
# named `credentials` are never shown.
user_call <- function() {
  namespace <- topenv(environment(user_call))
  for (frame in seq_len(sys.nframe() - 1)) {
    fn <- sys.function(frame)
    env <- environment(fn)
    if (!is.null(env) && identical(topenv(env), namespace)) {
      call <- sys.call(frame)
      if ("credentials" %in% names(formals(fn))) {
        call <- match.call(fn, call, expand.dots = FALSE, envir = sys.frame(frame))
        if (!is.null(call$credentials)) call$credentials <- quote(`<credentials>`)
      }
      return(call)
    }
  }
  NULL
}

# A former name still works, saying what replaced it (a message of class
# `sagesim_deprecated`, each time, so scripts can find every use).
deprecated_name <- function(old, new) {
  message(structure(class = c("sagesim_deprecated", "message", "condition"), list(
    message = sprintf("%s is deprecated; use %s instead.\n", old, new), call = NULL)))
}

# A backend that cannot be asked (SageMaker with no AWS configured).
backend_unavailable <- function(message) {
  stop(structure(class = c("sagesim_backend_unavailable", "error", "condition"),
                 list(message = message, call = NULL)))
}
