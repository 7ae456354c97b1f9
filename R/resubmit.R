#' Run a job again, with the same settings
#'
#' Submits a new job that keeps every setting of `job` (image, role,
#' instance type and count, volume size, KMS keys, network, environment,
#' tags, maximum runtime, inputs and outputs), as its record holds them,
#' except those given in `...`. Outputs whose destination sagesim chose get
#' the new job's; inputs sagesim uploaded are used where they are.
#'
#' * A [submit_map()] job with failed elements runs only those again: with
#'   the same function and globals, or a corrected `f`, the same seed (each
#'   element keeps its random stream). [job_collect()] of the new job returns
#'   the whole result, the earlier job's successes filled in.
#' * A map job that failed or was stopped (whatever ended it: see
#'   [job_collect()], "What survives which ending") runs the elements its
#'   hosts did not finish, and those that failed, with `f` when given (the
#'   fix for the element that ended its host); what they finished is kept.
#'   The same for a `%dopar%` loop's job.
#' * A simulation or sweep job that failed or was stopped runs only the
#'   iterations (of each cell) its hosts did not finish; [job_collect()] of
#'   the new job merges them with those the earlier job left, `identical()`
#'   to one clean run with the same seed.
#' * Any other job (a script, a completed simulation or sweep) runs again
#'   whole.
#'
#' A job without a record (made by the Python SDK or an older sagesim)
#' cannot be resubmitted: its settings are not known.
#'
#' @param job A finished job.
#' @param f For a map job with failed or unfinished elements: `NULL` to run
#'   the same function again, or a corrected one (its globals are found anew).
#' @param ... Settings to change, named as in [submit_processing()]
#'   (`instance_count`, `instance_type`, `image_uri`, `max_runtime`, ...),
#'   and for a script job its `arguments` (e.g. `arguments = c("--max_iterations", "20000")`).
#' @param wait,logs As in [submit_processing()].
#' @param session An [aws_session()] for SageMaker; default the job's.
#' @return The new job.
#' @examples
#' old <- options(sagesim.job_dir = tempfile("sagesim-example-"))  # where local jobs keep their files
#' job <- submit_map(1:6, function(i) if (i == 4) stop("no four") else i, logs = FALSE)
#' fixed <- job_resubmit(job, f = function(i) i, logs = FALSE)
#' unlist(job_collect(fixed))
#' unlink(getOption("sagesim.job_dir"), recursive = TRUE)
#' options(old)
#' @export
job_resubmit <- function(job, f = NULL, ..., wait = TRUE, logs = TRUE, session = NULL) {
  check_job(job)
  if (!is.null(f) && !is.function(f)) {
    abort_argument("f", sprintf("`f` must be NULL or a function, not %s.", describe_type(f)))
  }
  changes <- list(...)
  # A script's command-line arguments are its work, not a setting; they may
  # change too.
  arguments <- if ("arguments" %in% names(changes)) check_arguments(changes$arguments)
  changes$arguments <- NULL
  changes <- check_setting_names(changes)
  if (!is.null(arguments) && !identical(job$kind, "script")) {
    abort_argument("arguments", sprintf(
      "`arguments` are a script job's; job %s is a %s job, whose work its record fixes.",
      job$name, job$kind))
  }
  # A second run beside one still going would do (and, on SageMaker, bill)
  # the work twice.
  status <- job_status(job)
  if (!status$status %in% terminal_statuses) {
    abort(sprintf("Job %s is %s; wait for it (job_wait()) or stop it (job_stop()) before resubmitting it.",
                  job$name, status$status),
          class = "sagesim_job_not_finished", job_name = job$name, job = job)
  }
  record <- job$record
  if (is.null(record)) {
    abort_argument("job", sprintf(
      "Job %s has no sagesim record (it was not submitted by this version of sagesim), so its settings are not known; submit it anew with submit_processing().",
      job$name))
  }
  settings <- utils::modifyList(record_settings(record), changes, keep.null = TRUE)
  session <- session %||% job$session
  base <- job_base_name(job$name)
  if (identical(job$kind, "map")) {
    failed <- failed_elements(job, status)
    if (!is.null(failed)) {
      payload <- retry_payload(job, failed$indices, failed$results, f)
      return(start_map_job(payload, settings, base_job_name = base, wait = wait, logs = logs,
                           session = session, resubmission_of = job$name))
    }
  }
  if (identical(job$kind, "map")) {
    # A map that did not complete: what its hosts did not finish or failed
    # (with `f` when given), what they finished kept.
    return(rerun_missing_elements(job, NULL, base, settings = settings,
                                  resubmission_of = job$name, wait = wait, logs = logs,
                                  session = session, f = f, rerun_failed = TRUE))
  }
  if (!is.null(f)) {
    abort_argument("f", sprintf("`f` replaces the function of a map job; job %s is a %s job.",
                                job$name, job$kind))
  }
  if (job$kind %in% c("simulation", "sweep") && !identical(status$status, "Completed")) {
    # What its hosts did not finish, with the results they left kept.
    return(rerun_unfinished_iterations(job, attempts_after(job, status, "missing"), base,
                                       settings = settings, resubmission_of = job$name,
                                       wait = wait, logs = logs, session = session))
  }
  work <- record_work(record)
  if (!is.null(arguments)) work$arguments <- arguments
  plan <- plan_job(work, settings, base_job_name = base)
  plan$resubmission_of <- job$name
  start_job(plan, wait = wait, logs = logs, session = session)
}

# The failed elements of a finished map job (its `status` already read) and
# its results (NULL when the job has no results to collect, e.g. it failed or
# was stopped).
failed_elements <- function(job, status) {
  if (!identical(status$status, "Completed")) return(NULL)
  # (Its messages and warnings were shown when it was collected.)
  results <- suppressMessages(suppressWarnings(job_collect(job, errors = "return")))
  failed <- which(vapply(results, function(r) inherits(r, "condition"), logical(1)))
  if (length(failed) == 0) {
    abort(sprintf("No element of job %s failed: there is nothing to run again.", job$name),
          class = "sagesim_invalid_argument", argument = "job")
  }
  list(indices = failed, results = results)
}

# The payload that runs `failed` again, the other results kept.
retry_payload <- function(job, failed, results, f) {
  payload <- map_payload_of(job)
  if (!is.null(f)) {
    replacement <- new_map_payload(payload$x, f, payload$dots, payload$packages, payload$seed)
    payload[c("f", "globals", "packages")] <- replacement[c("f", "globals", "packages")]
  }
  kept <- setdiff(seq_len(payload$n), failed)
  payload$kept <- list(indices = kept, values = unname(results[kept]))
  position <- match(failed, payload$indices)
  payload$x <- payload$x[position]
  payload$indices <- failed
  payload
}
