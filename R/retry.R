# When the cloud fails a job, not its code: job_wait() runs it again, as a
# new job with the same settings whose name says which attempt it is, up to
# the job's `retries`. A job SageMaker could not start (no capacity) runs
# again whole; a simulation, sweep or map job that lost a host runs only
# what is missing (the results the lost attempt left are kept), so the
# result is exactly one clean run's. The user's handle follows the latest
# attempt; each attempt's record lists the ones before it. A job that
# failed because of its own code (a script's non-zero exit, a host that
# could not load a package) is never run again.

# What failed a job, told from its status: "capacity" (SageMaker could not
# start it), "internal" (an error of the service, a host lost), or NULL (the
# job's own code).
infrastructure_failure <- function(status) {
  reason <- status$failure_reason %||% ""
  if (grepl("^(CapacityError|InsufficientInstanceCapacity)", reason)) return("capacity")
  if (grepl("^(InternalServerError|InternalFailure|ServiceUnavailable)", reason)) return("internal")
  NULL
}

# Called when `job` ended with `status`: TRUE when the handle now follows a
# new attempt (started here), FALSE when the job's end stands.
retry_failed_job <- function(job, status) {
  record <- job$record
  if (is.null(record) || !identical(status$status, "Failed")) return(FALSE)
  cause <- infrastructure_failure(status)
  if (is.null(cause)) return(FALSE)
  # (Attempts a resubmission continued, stopped or failed by their code, use no retry.)
  attempt <- sum(vapply(record$attempts, function(a) !is.null(infrastructure_failure(a)),
                        logical(1))) + 1
  if (attempt > record$retries) {
    message(sprintf("Job %s failed for the infrastructure (%s), and its %d retr%s are used up.",
                    job$name, status$failure_reason, record$retries,
                    if (record$retries == 1) "y" else "ies"))
    return(FALSE)
  }
  rerun <- if (identical(cause, "capacity") || identical(job$kind, "script")) "all" else "missing"
  attempts <- attempts_after(job, status, rerun)
  base <- sprintf("%s-retry%d", sub("-retry[0-9]+$", "", job_base_name(job$name)), attempt)
  # (A map's elements run again from its payload: all of them when nothing ran.)
  next_job <- if (identical(job$kind, "map")) {
    rerun_missing_elements(job, attempts, base)
  } else if (identical(rerun, "all")) {
    rerun_whole(job, attempts, base)
  } else {
    rerun_unfinished_iterations(job, attempts, base)
  }
  message(sprintf("Job %s failed (%s): %s as %s (retry %d of %d).", job$name,
                  status$failure_reason,
                  if (identical(rerun, "all")) "running it again" else "running what is missing",
                  next_job$name, attempt, record$retries))
  follow_attempt(job, next_job)
  TRUE
}

# The handle `job` becomes the handle of `next_job`, its next attempt.
follow_attempt <- function(job, next_job) {
  for (field in setdiff(ls(job, all.names = TRUE), ls(next_job, all.names = TRUE))) {
    rm(list = field, envir = job)
  }
  for (field in ls(next_job, all.names = TRUE)) assign(field, get(field, next_job), envir = job)
  invisible(job)
}

rerun_whole <- function(job, attempts, base) {
  plan <- plan_job(record_work(job$record), record_settings(job$record), base_job_name = base)
  plan$attempts <- attempts
  start_job(plan, wait = FALSE, logs = FALSE, session = job$session)
}

# A map job's follow-up: the elements no host finished, with everything the
# lost attempt left (values, failed elements, conditions) kept.
# A resubmission (`rerun_failed`) also runs the elements that failed, with
# `f` when given; a retry keeps their failures, as a clean run would have them.
rerun_missing_elements <- function(job, attempts, base, settings = record_settings(job$record),
                                   resubmission_of = NULL, wait = FALSE, logs = FALSE,
                                   session = job$session, f = NULL, rerun_failed = FALSE) {
  parts <- attempt_results(job, read_map_parts)
  payload <- map_payload_of(job)
  kept <- payload$kept %||% list(indices = integer(), values = list())
  if (!is.null(parts)) {
    new <- !parts$indices %in% kept$indices
    kept$indices <- c(kept$indices, parts$indices[new])
    kept$values <- c(kept$values, parts$values[new])
    kept$failures <- c(kept$failures, parts$failures)
    kept$conditions[names(parts$conditions)] <- parts$conditions
  }
  if (rerun_failed) {
    # (A failure kept from an earlier attempt has no element here to run.)
    again <- vapply(kept$failures, function(f) as.integer(f$index) %in% payload$indices, logical(1))
    kept$conditions[as.character(vapply(kept$failures[again], function(f) as.integer(f$index),
                                        integer(1)))] <- NULL
    kept$failures <- kept$failures[!again]
  }
  if (!is.null(f)) {
    replacement <- new_map_payload(payload$x, f, payload$dots, payload$packages, payload$seed)
    payload[c("f", "globals", "packages")] <- replacement[c("f", "globals", "packages")]
  }
  done <- c(kept$indices, vapply(kept$failures, function(f) as.integer(f$index), integer(1)))
  missing <- setdiff(payload$indices, done)
  if (length(missing) == 0) {
    abort(sprintf("Every element of job %s was finished: there is nothing to run again.", job$name),
          class = "sagesim_invalid_argument", argument = "job")
  }
  payload$kept <- kept
  payload$x <- payload$x[match(missing, payload$indices)]
  payload$indices <- missing
  start_map_job(payload, settings, base_job_name = base, wait = wait, logs = logs,
                session = session, attempts = attempts, resubmission_of = resubmission_of)
}

# A simulation or sweep job's follow-up: the iterations no attempt
# finished (R/worker.R, --todo), shared by its hosts, the results the
# earlier attempts left kept and merged with its own when collected.
rerun_unfinished_iterations <- function(job, attempts, base, settings = record_settings(job$record),
                                        resubmission_of = NULL, wait = FALSE, logs = FALSE,
                                        session = job$session) {
  todo <- attempt_results(job, function(path) {
    fetch_earlier_results(job, path)
    files <- list.files(path, pattern = result_file_pattern, recursive = TRUE, full.names = TRUE)
    # Nothing written at all: the whole job runs again.
    if (length(files) > 0) unwrap(results_collect(files, TRUE))$missing
  })
  if (!is.null(todo) && length(todo$spec) == 0) {
    abort(sprintf("Every iteration of job %s was finished: there is nothing to run again.", job$name),
          class = "sagesim_invalid_argument", argument = "job")
  }
  work <- record_work(job$record)
  flags <- seq(1, length(work$arguments), by = 2)
  earlier <- flags[work$arguments[flags] == worker_flags[["todo"]]]
  if (length(earlier) > 0) work$arguments <- work$arguments[-c(earlier, earlier + 1)]
  if (!is.null(todo)) {
    work$arguments <- c(work$arguments, todo_arguments(todo))
    settings$instance_count <- min(settings$instance_count, sum(todo$iterations))
  }
  plan <- plan_job(work, settings, base_job_name = base)
  plan$attempts <- attempts
  plan$resubmission_of <- resubmission_of
  start_job(plan, wait = wait, logs = logs, session = session)
}
