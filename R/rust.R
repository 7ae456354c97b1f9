# Calling into Rust: raising the error values it returns, and waiting on its
# background tasks while keeping R responsive to Ctrl-C.

is_rust_error <- function(x) inherits(x, "sagesim_rust_error")

# Returns `x`, or raises the classed R condition a Rust error value describes.
unwrap <- function(x, call = sys.call(-1)) {
  if (!is_rust_error(x)) {
    return(x)
  }
  switch(x$kind,
    invalid_argument = abort_argument(x$argument, x$message, call = call),
    too_large = abort_argument(x$argument, x$message, class = "sagesim_too_large", call = call),
    aws = abort_aws(x, call = call),
    io = ,
    format = abort(x$message, class = "sagesim_results_error", call = call),
    abort(x$message, class = "sagesim_internal_error", call = call)
  )
}

abort_aws <- function(x, call) {
  details <- jsonlite::fromJSON(x$details, simplifyVector = TRUE)
  code <- details$code %||% NA_character_
  message <- sprintf(
    "AWS %s %s failed%s: %s%s",
    details$service, details$operation,
    if (is.na(code)) "" else sprintf(" (%s)", code),
    details$message,
    if (is.null(details$request_id)) "" else sprintf(" [request id %s]", details$request_id)
  )
  abort(message,
    class = c(if (!is.na(code)) paste0("sagesim_aws_", code), "sagesim_aws_error"),
    service = details$service, operation = details$operation, code = code,
    aws_message = details$message, request_id = details$request_id,
    http_status = details$http_status, error_kind = details$kind, call = call
  )
}

# Waits for a Rust task, polling every `interval` seconds so that R handles
# interrupts between polls. Any exit other than completion (Ctrl-C, an error
# in `on_poll`) cancels the task, so no work is left running behind R's back.
await_task <- function(task, on_poll = NULL, interval = 0.1, call = sys.call(-1)) {
  task <- unwrap(task, call = call)
  finished <- FALSE
  on.exit(if (!finished) task_cancel(task), add = TRUE)
  while (!task_wait(task, interval * 1000)) {
    # R acts on a pending Ctrl-C only at its own check points; a zero sleep
    # is one (the .Call that waits is not).
    Sys.sleep(0)
    if (!is.null(on_poll)) on_poll(task_progress(task))
  }
  finished <- TRUE
  unwrap(task_result(task), call = call)
}

`%||%` <- function(x, y) if (is.null(x)) y else x
