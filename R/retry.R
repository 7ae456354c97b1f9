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
  attempt <- length(record$attempts) + 1
  if (attempt > record$retries) {
    message(sprintf("Job %s failed for the infrastructure (%s), and its %d retr%s are used up.",
                    job$name, status$failure_reason, record$retries,
                    if (record$retries == 1) "y" else "ies"))
    return(FALSE)
  }
  rerun <- if (identical(cause, "capacity") || identical(job$kind, "script")) "all" else "missing"
  ended <- list(name = job$name, status = "Failed", failure_reason = status$failure_reason,
                instance_count = job$instance_count, rerun = rerun,
                results = results_location(job, if (identical(job$kind, "map")) "map" else "simulation"))
  attempts <- c(record$attempts, list(ended))
  base <- sprintf("%s-retry%d", sub("-retry[0-9]+$", "", job_base_name(job$name)), attempt)
  # (A map's elements run again from its payload: all of them when nothing ran.)
  next_job <- if (identical(job$kind, "map")) {
    rerun_missing_elements(job, attempts, base)
  } else if (identical(rerun, "all")) {
    rerun_whole(job, attempts, base)
  } else {
    rerun_lost_shares(job, attempts, base)
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
rerun_missing_elements <- function(job, attempts, base, settings = record_settings(job$record),
                                   resubmission_of = NULL, wait = FALSE, logs = FALSE,
                                   session = job$session) {
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
  done <- c(kept$indices, vapply(kept$failures, function(f) as.integer(f$index), integer(1)))
  missing <- setdiff(payload$indices, done)
  payload$kept <- kept
  payload$x <- payload$x[match(missing, payload$indices)]
  payload$indices <- missing
  start_map_job(payload, settings, base_job_name = base, wait = wait, logs = logs,
                session = session, attempts = attempts, resubmission_of = resubmission_of)
}

# A simulation or sweep job's follow-up: the shares of the hosts whose
# results are missing, run under their names (R/worker.R, --lost-hosts).
rerun_lost_shares <- function(job, attempts, base) {
  written <- attempt_results(job, function(path) {
    files <- list.files(path, pattern = result_file_pattern, recursive = TRUE)
    sub("^sagesim-result-(.*)[.]json$", "\\1", basename(files))
  })
  lost <- setdiff(job_hosts(job), written)
  work <- record_work(job$record)
  work$arguments <- c(work$arguments, flag_arguments("lost_hosts", lost),
                      flag_arguments("lost_of", job$instance_count))
  settings <- record_settings(job$record)
  settings$instance_count <- min(settings$instance_count, length(lost))
  plan <- plan_job(work, settings, base_job_name = base)
  plan$attempts <- attempts
  start_job(plan, wait = FALSE, logs = FALSE, session = job$session)
}

# What `read` makes of the results the job's attempt left (downloaded to a
# temporary folder, removed after).
attempt_results <- function(job, read) {
  path <- tempfile("sagesim-attempt-")
  dir.create(path)
  on.exit(unlink(path, recursive = TRUE), add = TRUE)
  fetch_outputs(job, path)
  read(path)
}

# The results earlier attempts of a simulation or sweep job left, which
# its last attempt's results complete: fetched beside them for the merge.
fetch_earlier_results <- function(job, path) {
  for (attempt in rev(job$record$attempts)) {
    if (!identical(attempt$rerun, "missing")) break
    target <- file.path(path, "earlier", attempt$name)
    dir.create(target, recursive = TRUE, showWarnings = FALSE)
    fetch_location(attempt$results, target, job$session)
  }
  invisible()
}

# The files at `location` (an `s3://` prefix or a folder), into `target`.
fetch_location <- function(location, target, session) {
  if (is.null(location)) return(invisible())
  if (is_s3_uri(location)) {
    where <- parse_s3_uri(location)
    aws_request(default_session(session), "s3:DownloadPrefix",
                list(Bucket = where$bucket, Prefix = paste0(sub("/+$", "", where$key), "/"),
                     Directory = target))
  } else if (dir.exists(location)) {
    copy_into(location, target)
  }
  invisible()
}
