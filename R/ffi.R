# Calling into Rust: the entry points registered by extendr_module! in
# src/rust/src/lib.rs (written by hand, one line each), raising the error
# values they return, and waiting on their background tasks while keeping R
# responsive to Ctrl-C. Every entry point returns its value or a
# `sagesim_rust_error`.

sim_start <- function(spec, first_iteration, iterations, threads, keep_values) {
  .Call(wrap__sim_start, spec, first_iteration, iterations, threads, keep_values)
}
spec_check <- function(spec) .Call(wrap__spec_check, spec)
sweep_seeds <- function(seed, x_length, y_length, num_people, distance) {
  .Call(wrap__sweep_seeds, seed, x_length, y_length, num_people, distance)
}
split_range <- function(n, instance_count, index) .Call(wrap__split_range, n, instance_count, index)
host_share <- function(plan, todo, instance_count, index) {
  .Call(wrap__host_share, plan, todo, instance_count, index)
}
host_start <- function(plan, todo, host, hosts, threads, dir, version, every, key = "",
                       resume = FALSE, interrupt_after = 0) {
  .Call(wrap__host_start, plan, todo, host, hosts, threads, dir, version, every, key, resume,
        interrupt_after)
}
host_resume <- function(plan, todo, host, hosts, dir, key = "") {
  .Call(wrap__host_resume, plan, todo, host, hosts, dir, key)
}
results_collect <- function(paths, partial, keys = NULL) {
  .Call(wrap__results_collect, paths, partial, keys)
}
parts_merge <- function(parts) .Call(wrap__parts_merge, parts)
sim_expected_violations <- function(x_length, y_length, num_people, distance) {
  .Call(wrap__sim_expected_violations, x_length, y_length, num_people, distance)
}
integrity_key <- function() .Call(wrap__integrity_key)
integrity_sha256 <- function(path) .Call(wrap__integrity_sha256, path)
integrity_check_sha256 <- function(path, expected) .Call(wrap__integrity_check_sha256, path, expected)
integrity_sign <- function(source, path, key) .Call(wrap__integrity_sign, source, path, key)
integrity_verify <- function(path, key) .Call(wrap__integrity_verify, path, key)
task_wait <- function(task, timeout_ms) .Call(wrap__task_wait, task, timeout_ms)
task_progress <- function(task) .Call(wrap__task_progress, task)
task_cancel <- function(task) invisible(.Call(wrap__task_cancel, task))
task_result <- function(task) .Call(wrap__task_result, task)
aws_session_start <- function(config_json) .Call(wrap__aws_session_start, config_json)
aws_session_info <- function(session) .Call(wrap__aws_session_info, session)
aws_call_start <- function(session, operation, params_json) {
  .Call(wrap__aws_call_start, session, operation, params_json)
}
aws_operations <- function() .Call(wrap__aws_operations)
job_config <- function(record_json) .Call(wrap__job_config, record_json)
job_record_check <- function(record_json) .Call(wrap__job_record_check, record_json)
job_record_read <- function(path) .Call(wrap__job_record_read, path)
job_record_write <- function(path, record_json) .Call(wrap__job_record_write, path, record_json)
job_record_key <- function(job_name) .Call(wrap__job_record_key, job_name)
progress_line <- function(host, unit, done, total, failed) {
  .Call(wrap__progress_line, host, unit, done, total, failed)
}
progress_parse <- function(lines) .Call(wrap__progress_parse, lines)

is_rust_error <- function(x) inherits(x, "sagesim_rust_error")

# Returns `x`, or raises the classed R condition a Rust error value describes.
unwrap <- function(x) {
  if (!is_rust_error(x)) {
    return(x)
  }
  switch(x$kind,
    invalid_argument = abort_argument(x$argument, x$message),
    too_large = abort_argument(x$argument, x$message, class = "sagesim_too_large"),
    aws = abort_aws(x),
    missing_hosts = abort(x$message, class = c("sagesim_results_missing", "sagesim_results_error"),
                          missing_hosts = x$details$missing, hosts = x$details$hosts),
    io = ,
    format = abort(x$message, class = "sagesim_results_error"),
    record = abort(x$message, class = "sagesim_record_error"),
    cancelled = abort(x$message, class = "sagesim_cancelled"),
    integrity = abort(x$message, class = "sagesim_integrity_error", file = x$details$file,
                      reason = x$details$reason),
    abort(x$message, class = "sagesim_internal_error")
  )
}

abort_aws <- function(x) {
  details <- jsonlite::fromJSON(x$details, simplifyVector = TRUE)
  code <- details$code %||% NA_character_
  message <- sprintf(
    "AWS %s %s failed%s: %s%s",
    details$service, details$operation,
    if (is.na(code)) "" else sprintf(" (%s)", code),
    details$message,
    if (is.null(details$request_id)) "" else sprintf(" [request id %s]", details$request_id)
  )
  class <- c(if (!is.na(code)) paste0("sagesim_aws_", code), "sagesim_aws_error")
  if (identical(details$kind, "credentials")) {
    message <- c(no_credentials_message, paste("The AWS SDK said:", message))
    class <- c("sagesim_no_credentials", class)
  }
  abort(message, class = class,
    service = details$service, operation = details$operation, code = code,
    aws_message = details$message, request_id = details$request_id,
    http_status = details$http_status, error_kind = details$kind
  )
}

no_credentials_message <- c(
  "No AWS credentials were found.",
  "sagesim looked where the AWS SDKs look, in this order: the environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), the shared config and credentials files (~/.aws/config, ~/.aws/credentials) for the profile in AWS_PROFILE or `profile`, SSO sessions, web identity (AWS_WEB_IDENTITY_TOKEN_FILE), container credentials (ECS, EKS) and the instance metadata service (EC2, SageMaker notebooks).",
  "Usual fixes: run `aws configure` (or `aws sso login`) in a terminal, set AWS_PROFILE to a profile that has credentials, or pass `profile` or `credentials` to aws_session()."
)

# Waits for a Rust task, polling every `interval` seconds so that R handles
# interrupts between polls. Any exit other than completion (Ctrl-C, an error
# in `on_poll`) cancels the task, so no work is left running behind R's back.
await_task <- function(task, on_poll = NULL, interval = 0.1) {
  task <- unwrap(task)
  finished <- FALSE
  on.exit(if (!finished) task_cancel(task), add = TRUE)
  while (!task_wait(task, interval * 1000)) {
    # R acts on a pending Ctrl-C only at its own check points; a zero sleep
    # is one (the .Call that waits is not).
    Sys.sleep(0)
    if (!is.null(on_poll)) on_poll(task_progress(task))
  }
  finished <- TRUE
  unwrap(task_result(task))
}
