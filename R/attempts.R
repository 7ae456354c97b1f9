# A job's attempts: what each one left and where, for the follow-up that
# runs the rest and for the collection that merges them.

# The attempts a follow-up of `job` carries: `job`'s, then `job` itself,
# ended as `status` says, the next attempt running what was `rerun`.
attempts_after <- function(job, status, rerun) {
  c(job$record$attempts, list(list(
    name = job$name, status = status$status, failure_reason = status$failure_reason,
    instance_count = job$instance_count, rerun = rerun,
    results = results_location(job, if (identical(job$kind, "map")) "map" else "simulation"))))
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
