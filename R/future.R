#' SageMaker Processing as a future backend
#'
#' `plan(sagesim::sagemaker, ...)` makes every future (from [future::future()],
#' `future.apply::future_lapply()`, furrr, `%<-%`, ...) run as a processing
#' job of one host, on SageMaker or, with `instance_type = "local"`, on this
#' machine with no AWS at all.
#'
#' * **What a future is.** One job (one host) whose single [submit_map()]
#'   element evaluates the future's own expression
#'   ([future::getExpression()]). That expression returns a
#'   [future::FutureResult] (the value or the error, the conditions, the
#'   standard output, whether random numbers were drawn), so [future::value()]
#'   relays output, messages and warnings, and re-signals errors, exactly as
#'   future's own backends do. Globals and packages are those
#'   [future::future()] found; they go to the job once, in its payload.
#' * **How many at once.** `workers` jobs run at a time ([future::nbrOfWorkers()]);
#'   creating one more future waits until one of them finishes, as
#'   `multisession` waits for a free R session. [future::resolved()] never
#'   waits: it asks for the job's status once.
#' * **Random numbers** follow `seed` / `future.seed` exactly as under
#'   `plan(sequential)`: the stream travels inside the expression.
#' * **Failures.** An error in the expression is the future's error, re-signalled
#'   by `value()` with its class and message. A failure of the job itself (its
#'   host died, it was stopped with [job_stop()], it failed before the
#'   expression ran, e.g. a package missing from the image) is a
#'   [future::FutureError] of class `sagesim_future_error` naming the job
#'   (field `job_name`). The future's job is `f$job` ([job_status()],
#'   [job_logs()], [job_stop()] take it).
#' * **What it costs.** A job per future: on SageMaker each starts in a few
#'   minutes (an instance is provisioned and the image pulled), so give a
#'   future minutes of work, not milliseconds. `future_lapply()` and furrr make
#'   one future per worker by default (`future.scheduling = 1`), so
#'   `workers = 8` means eight jobs, each taking a chunk of the elements. For
#'   many elements under one job, spread over several hosts, see
#'   [submit_map()] or [registerDoSageMaker()].
#'
#' Arguments that are wrong (a `workers` of 0, an `instance_type` that is not
#' one, a setting this backend does not take) are refused by `plan()` itself,
#' and a global that cannot travel to another process by `future()`, as
#' classed errors (`sagesim_invalid_argument`) that create no job.
#'
#' @param expr,envir,substitute,lazy,seed,globals,packages,stdout,conditions,label,...
#'   As for [future::future()]; set by future itself, not by `plan()`.
#' @param workers How many futures (jobs) run at once: a whole number, or a
#'   function returning one.
#' @param instance_type An `ml.*` instance type, or `"local"` to run each job
#'   on this machine; default `getOption("sagesim.instance_type", "local")`.
#' @param image_uri The worker image (see [publish_image()]); it must have the
#'   packages the futures use, and \pkg{future}. Optional for local jobs.
#' @inheritParams submit_processing
#' @return A future (`SageMakerFuture`); with `plan()` you never call this
#'   yourself.
#' @seealso `vignette("future-1-overview", package = "future")`;
#'   [registerDoSageMaker()] for foreach.
#' @examplesIf requireNamespace("future", quietly = TRUE)
#' opts <- options(sagesim.job_dir = tempfile("sagesim-example-"))  # where local jobs keep their files
#' library(future)
#' old <- plan(sagesim::sagemaker, instance_type = "local", workers = 2)
#' centre <- 10
#' f <- future({
#'   cat("drawing on", Sys.getpid(), "\n")
#'   mean(rnorm(100, mean = centre))
#' }, seed = 42)
#' value(f)
#' f$job$name
#' plan(old)
#' unlink(getOption("sagesim.job_dir"), recursive = TRUE)
#' options(opts)
#' @export
sagemaker <- function(expr, envir = parent.frame(), substitute = TRUE, lazy = FALSE,
                      seed = FALSE, globals = TRUE, packages = NULL, stdout = TRUE,
                      conditions = "condition", label = NULL, workers = 2L,
                      image_uri = NULL, role = NULL,
                      instance_type = getOption("sagesim.instance_type", "local"),
                      volume_size_gb = 30, max_runtime = 86400, base_job_name = NULL,
                      env = NULL, tags = NULL, network = NULL, volume_kms_key = NULL,
                      output_kms_key = NULL, kms_key = NULL, spot = FALSE, max_wait = NULL,
                      keep_alive = NULL, session = NULL, ...) {
  if (substitute) expr <- substitute(expr)
  settings <- list(instance_type = instance_type, image_uri = image_uri, role = role,
                   volume_size_gb = volume_size_gb, max_runtime = max_runtime,
                   base_job_name = base_job_name, env = env, tags = tags, network = network,
                   volume_kms_key = volume_kms_key, output_kms_key = output_kms_key,
                   kms_key = kms_key, spot = spot, max_wait = max_wait, keep_alive = keep_alive,
                   session = session)
  check_future_settings(c(settings, list(workers = workers)))
  workers <- future_workers(workers)
  found <- future::getGlobalsAndPackages(expr, envir = envir, globals = globals)
  future <- future::MultiprocessFuture(
    expr = found$expr, envir = envir, substitute = FALSE, lazy = lazy, seed = seed,
    globals = found$globals, packages = unique(c(packages, found$packages)), stdout = stdout,
    conditions = conditions, label = label, ...
  )
  future$workers <- workers
  future$settings <- settings
  future$state <- "created"
  class(future) <- c("SageMakerFuture", class(future))
  if (!future$lazy) future <- future::run(future)
  invisible(future)
}
class(sagemaker) <- c("sagemaker", "multiprocess", "future", "function")

# Settings of a job that plan(sagesim::sagemaker, ...) takes, besides `workers`.
future_setting_names <- c("instance_type", "image_uri", "role", "volume_size_gb", "max_runtime",
                          "base_job_name", "env", "tags", "network", "volume_kms_key",
                          "output_kms_key", "kms_key", "spot", "max_wait", "keep_alive",
                          "session")

# plan(sagesim::sagemaker, ...) checks what it is given before it becomes
# the plan: a wrong setting is refused there, not by the first future.
#' @exportS3Method future::tweak
tweak.sagemaker <- function(strategy, ..., penvir = parent.frame()) {
  args <- list(...)
  future_args <- c(names(formals(future::future)),
                   eval(attr(future::future, "tweakable", exact = TRUE)))
  unknown <- setdiff(names(args), c("workers", future_setting_names, future_args))
  in_plan <- function(expr) {
    tryCatch(expr, sagesim_invalid_argument = function(e) {
      e$call <- plan_call()
      stop(e)
    })
  }
  if (length(unknown) > 0) {
    in_plan(abort_argument(unknown[[1]], c(
      sprintf("plan(sagesim::sagemaker) does not take %s.",
              paste0("`", unknown, "`", collapse = ", ")),
      if ("instance_count" %in% unknown) "Each future is a job of one host; `workers` says how many run at once.",
      sprintf("It takes `workers` and the job settings %s.",
              paste0("`", future_setting_names, "`", collapse = ", ")))))
  }
  ours <- args[intersect(names(args), c("workers", future_setting_names))]
  # Settings given before (a plan tweaked again) are checked with the new ones.
  current <- formals(strategy)[c("instance_type", "image_uri")]
  current <- lapply(current, eval, envir = baseenv())
  in_plan(check_future_settings(utils::modifyList(current, ours, keep.null = TRUE)))
  if (!is.null(args$workers)) in_plan(future_workers(args$workers))
  NextMethod()
}

# The plan() call the user made, for conditions raised while checking it.
plan_call <- function() {
  for (frame in seq_len(sys.nframe())) {
    if (identical(sys.function(frame), future::plan)) return(sys.call(frame))
  }
  NULL
}

check_future_settings <- function(settings) {
  has <- function(name) name %in% names(settings)
  if (has("workers") && !is.function(settings$workers)) {
    check_count(settings$workers, "workers", min = 1)
  }
  if (has("instance_type")) check_instance_type(settings$instance_type)
  local <- identical(settings$instance_type, "local")
  if (has("image_uri")) {
    if (!local && is.null(settings$image_uri) && has("instance_type")) {
      abort_argument("image_uri", sprintf(
        "A SageMaker job (instance_type = \"%s\") needs `image_uri`: the worker image, with future and the packages the futures use (see publish_image()).",
        settings$instance_type))
    }
  }
  # The job settings among them, by the table's checks (R/settings.R).
  for (name in setdiff(intersect(names(settings), job_setting_names), "instance_type")) {
    job_settings[[name]]$check(settings[[name]], local || name == "image_uri")
  }
  # (Spot and warm pools exclude each other: refused here, not by a future.)
  capacity <- names(settings)[names(settings) %in% c("spot", "max_wait", "keep_alive", "max_runtime")]
  check_capacity_settings(utils::modifyList(job_setting_defaults()[c("spot", "max_runtime")],
                                            Filter(Negate(is.null), settings[capacity])))
  if (has("base_job_name")) check_name(settings$base_job_name, "base_job_name", base_name_pattern, null_ok = TRUE)
  if (!is.null(settings$session)) {
    check_class(settings$session, "sagesim_session", "session", "aws_session()")
  }
  invisible(settings)
}

# `workers` as a count (a function is called, as future's backends do).
future_workers <- function(workers) {
  if (is.function(workers)) workers <- workers()
  as.integer(check_count(workers, "workers", min = 1))
}

#' @exportS3Method future::nbrOfWorkers
nbrOfWorkers.sagemaker <- function(evaluator) {
  future_workers(eval(formals(evaluator)$workers, envir = baseenv()))
}

#' @exportS3Method future::nbrOfFreeWorkers
nbrOfFreeWorkers.sagemaker <- function(evaluator, background = FALSE, ...) {
  workers <- nbrOfWorkers.sagemaker(evaluator)
  running <- Filter(function(f) identical(f$state, "running") && !job_finished(f),
                    running_futures())
  max(0L, workers - length(running))
}

# --- launching --------------------------------------------------------------

#' @exportS3Method future::run
run.SageMakerFuture <- function(future, ...) {
  if (!identical(future$state, "created")) {
    stop(future::FutureError(sprintf("A future (%s) can only be launched once.",
                                     future_label(future)), future = future))
  }
  globals <- plain_globals(future$globals)
  # What travels is future's decision, as for its own backends (its option,
  # with its default, "ignore", for pointers), but a connection, which
  # cannot travel at all, is refused unless that option says otherwise.
  check_travel(list(list(globals, "global", "globals")), inside = "the future",
               pointers = "ignore")
  wait_for_worker(future)
  expression <- future::getExpression(future)
  bundle <- list(expr = bquote(local(.(expression))),
                 # future >= 1.40 puts the globals in the expression itself.
                 globals = if (!expression_has_globals()) globals)
  settings <- future$settings
  name <- future_job_name(settings$base_job_name, future$label)
  # (Checked above, by future's rule: not again by submit_map()'s.)
  old <- options(future.globals.onReference = "ignore")
  on.exit(options(old), add = TRUE)
  job <- do.call(submit_map, c(
    # A future whose job the cloud fails is a FutureError (future decides
    # what happens next), not a job sagesim runs again.
    list(x = list(1L), f = evaluate_future, bundle = bundle, seed = stealth_seed(),
         instance_count = 1, job_name = name, wait = FALSE, logs = FALSE, retries = 0),
    settings[setdiff(names(settings), "base_job_name")]
  ))
  future$job <- job
  future$state <- "running"
  running_futures_add(future)
  invisible(future)
}

# future >= 1.40 evaluates a future through `evalFuture(data)`, whose data
# carries the globals; before, the backend put them in the worker's global
# environment.
expression_has_globals <- function() {
  utils::packageVersion("future") >= "1.40.0"
}

# Runs on the job's host: the globals into the global environment (as
# future's cluster workers put them), then future's own expression, which
# returns a FutureResult (value or error, conditions, output, RNG use)
# whatever the expression does.
evaluate_future <- function(element, bundle) {
  for (name in names(bundle$globals)) {
    assign(name, bundle$globals[[name]], envir = globalenv())
  }
  # future's expression keeps the conditions it sees in the FutureResult,
  # which relays them; muffled here, the map does not relay them again.
  suppressWarnings(suppressMessages(eval(bundle$expr, envir = globalenv())))
}

# The globals' values, without the FutureGlobals attributes (which hold the
# environments they were found in: those stay here).
plain_globals <- function(globals) {
  values <- as.list(unclass(globals))
  attributes(values) <- list(names = names(globals))
  values
}

# A seed for the job's own generator that does not touch this session's
# (future checks that creating a future leaves .Random.seed alone). Random
# numbers a future draws come from its own `seed`, in its expression.
stealth_seed <- function() {
  (floor(as.numeric(Sys.time()) * 1000) + Sys.getpid()) %% .Machine$integer.max
}

future_state <- new.env(parent = emptyenv())

# A job name per future: the base, the future's label, and the time to the
# millisecond (two futures never get the same one in this session).
future_job_name <- function(base, label) {
  base <- base %||% "sagesim-future"
  if (!is.null(label)) {
    tag <- gsub("^-+|-+$", "", gsub("[^a-zA-Z0-9]+", "-", paste(label, collapse = "-")))
    if (nzchar(tag)) base <- paste(base, tag, sep = "-")
  }
  repeat {
    name <- job_name_from_base(base, Sys.time())
    if (!identical(name, future_state$last_name)) break
    Sys.sleep(0.001)
  }
  future_state$last_name <- name
  name
}

future_label <- function(future) {
  if (is.null(future$label)) "<none>" else sQuote(future$label, q = FALSE)
}

# --- workers ----------------------------------------------------------------

# The futures whose jobs may still run, by job name.
running_futures <- function() {
  if (is.null(future_state$running)) future_state$running <- list()
  future_state$running
}

running_futures_add <- function(future) {
  running <- running_futures()
  running[[future$job$name]] <- future
  future_state$running <- running
}

running_futures_remove <- function(future) {
  running <- running_futures()
  if (!is.null(future$job)) running[[future$job$name]] <- NULL
  future_state$running <- running
}

# Waits while `workers` futures' jobs run, as multisession waits for a free
# R session.
wait_for_worker <- function(future) {
  timeout <- getOption("sagesim.wait_timeout", Inf)
  started <- Sys.time()
  delay <- poll_interval(future)
  repeat {
    for (other in running_futures()) {
      if (!identical(other$state, "running") || job_finished(other)) running_futures_remove(other)
    }
    if (length(running_futures()) < future$workers) return(invisible())
    waited <- as.numeric(difftime(Sys.time(), started, units = "secs"))
    if (waited > timeout) {
      stop(future::FutureError(sprintf(
        "All %d workers (SageMaker jobs %s) are still running after %s s of waiting for one to finish.",
        future$workers, paste(names(running_futures()), collapse = ", "), format(round(waited))),
        future = future))
    }
    Sys.sleep(delay)
    delay <- min(delay * 1.2, max(delay, 10))
  }
}

poll_interval <- function(future) {
  getOption("sagesim.poll_interval") %||%
    if (identical(future$settings$instance_type, "local")) 0.1 else 5
}

# Whether the future's job has ended: one status request, at most one per
# two seconds for a SageMaker job.
job_finished <- function(future) {
  if (!is.null(future$job_status) && future$job_status %in% terminal_statuses) return(TRUE)
  local <- identical(future$settings$instance_type, "local")
  last <- future$job_polled
  if (!local && !is.null(last) && as.numeric(difftime(Sys.time(), last, units = "secs")) < 2) {
    return(FALSE)
  }
  future$job_polled <- Sys.time()
  future$job_status <- job_status(future$job)$status
  future$job_status %in% terminal_statuses
}

# --- resolving ----------------------------------------------------------------

#' @exportS3Method future::resolved
resolved.SageMakerFuture <- function(x, ...) {
  if (!is.null(x$result) || identical(x$state, "created")) return(NextMethod())
  if (!identical(x$state, "running")) return(TRUE)
  if (!job_finished(x)) return(FALSE)
  # Ended: its result is collected now (nothing to wait for), so that an
  # early signal, or the job's failure, is there for value().
  tryCatch(future::result(x), FutureError = function(e) NULL)
  NextMethod()
}

#' @exportS3Method future::result
result.SageMakerFuture <- function(future, ...) {
  # Returned as it is (as future's cluster backend does): result.Future()
  # would ask result() again.
  outcome <- future$result
  if (is.null(outcome)) {
    if (identical(future$state, "created")) future <- future::run(future)
    outcome <- tryCatch(collect_future(future), FutureError = identity)
    running_futures_remove(future)
    future$result <- outcome
    future$state <- if (inherits(outcome, "FutureError")) "failed" else "finished"
  }
  if (inherits(outcome, "FutureError")) stop(outcome)
  outcome
}

# Waits for the future's job and reads the FutureResult its host wrote; a
# job that failed, was stopped, or could not run the expression is a
# FutureError naming it.
# "SageMaker job <name>", or "local job <name>" for a rehearsal.
job_title <- function(job, start = TRUE) {
  where <- if (!identical(job$instance_type, "local")) "SageMaker" else if (start) "Local" else "local"
  sprintf("%s job %s", where, job$name)
}

collect_future <- function(future) {
  job <- future$job
  ended <- tryCatch({
    job_wait(job, logs = FALSE)
    NULL
  }, sagesim_job_failed = identity, sagesim_job_stopped = identity)
  # A future is one element of its job: it finished or it did not.
  again <- sprintf("Its value was not finished; job_resubmit(job_attach(\"%s\")) runs it again.",
                   job$name)
  if (inherits(ended, "sagesim_job_stopped")) {
    future_error(future, sprintf("%s, which evaluated future %s, was stopped before the future was resolved. %s",
                                 job_title(job), future_label(future), again))
  }
  if (inherits(ended, "sagesim_job_failed")) {
    future_error(future, sprintf("%s, which evaluated future %s, failed: %s. %s",
                                 job_title(job), future_label(future),
                                 ended$failure_reason %||% "no reason given", again))
  }
  path <- tempfile("sagesim-future-")
  on.exit(unlink(path, recursive = TRUE), add = TRUE)
  values <- tryCatch(job_collect(job, path = path, errors = "return"),
                     sagesim_error = identity)
  if (inherits(values, "sagesim_error")) {
    future_error(future, sprintf("The result of %s (future %s) could not be read: %s",
                                 job_title(job, start = FALSE), future_label(future), conditionMessage(values)))
  }
  value <- values[[1]]
  if (inherits(value, "condition")) {
    future_error(future, sprintf("%s could not evaluate future %s on its host: %s",
                                 job_title(job), future_label(future), conditionMessage(value)))
  }
  if (!inherits(value, "FutureResult")) {
    future_error(future, sprintf("%s returned a %s, not the FutureResult of future %s.",
                                 job_title(job), class(value)[[1]], future_label(future)))
  }
  value
}

future_error <- function(future, message) {
  error <- future::FutureError(message, future = future)
  error$job_name <- future$job$name
  class(error) <- c("sagesim_future_error", "sagesim_error", class(error))
  stop(error)
}

#' @export
print.SageMakerFuture <- function(x, ...) {
  NextMethod()
  if (!is.null(x$job)) {
    cat(sprintf("SageMaker job: %s (%s)\n", x$job$name,
                x$job_status %||% "status not asked yet"))
  }
  invisible(x)
}
