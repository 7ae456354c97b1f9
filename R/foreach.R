#' Run foreach loops as SageMaker Processing jobs
#'
#' After `registerDoSageMaker()`, each `foreach(...) %dopar% { ... }` loop
#' runs as one processing job: its iterations are the elements of a
#' [submit_map()], spread over the job's `instance_count` hosts (this machine's
#' processes with `instance_type = "local"`, or SageMaker instances), and the
#' loop returns what `%do%` would.
#'
#' * **What travels.** The loop body; the variables it uses, found as
#'   \pkg{future} finds globals (with the \pkg{globals} package), plus
#'   `.export`, minus `.noexport` and the iteration variables; the packages
#'   they come from and `.packages`, attached on the hosts. All of it goes to
#'   the job once, in its payload. A variable that cannot travel to another
#'   process (an external pointer, such as a database connection) is refused
#'   before any job is created.
#' * **Results.** `.combine`, `.init`, `.final`, `.inorder`, `.multicombine`,
#'   `.maxcombine` and `.errorhandling` (`"stop"`, `"remove"`, `"pass"`) are
#'   honoured by foreach's own accumulator, as for `%do%`; with `"stop"` the
#'   loop fails with `%do%`'s message (`task 2 failed - "..."`), with `"pass"`
#'   a failed iteration's result is its error condition.
#' * **Random numbers.** Iteration `i` draws from its own L'Ecuyer-CMRG stream,
#'   the one [submit_map()] gives element `i`, so a loop's values are identical
#'   for any `instance_count`. `seed = NULL` draws each loop's seed from R's
#'   generator (so `set.seed()` before the loop makes it repeatable); a number
#'   gives every loop that seed. `.options.sagesim = list(seed = )` sets one
#'   loop's seed. [last_dopar_job()] returns the last loop's job, with its
#'   seed.
#' * **What it costs.** One job per loop: on SageMaker the job starts in a few
#'   minutes, then runs the iterations; a loop of many short iterations is
#'   cheap, many loops of few iterations are not.
#'
#' The returned handle stands in for the cluster of `makeCluster()`, so a
#' script's `stopCluster(cl)` keeps working: it does nothing, as there is
#' nothing to stop (each loop's job ends with the loop).
#'
#' @param instance_count Number of hosts each loop's job runs on.
#' @param instance_type `"local"` (processes on this machine) or an `ml.*`
#'   instance type; default `getOption("sagesim.instance_type", "local")`.
#' @param ... Settings of each loop's job, named, as [submit_map()] takes them:
#'   `image_uri`, `role`, `env`, `network`, `volume_kms_key`,
#'   `output_kms_key`, `kms_key`, `volume_size_gb`, `max_runtime`,
#'   `spot`, `max_wait`, `keep_alive` (see [spot_and_warm_pools]),
#'   `base_job_name`, `tags`, `logs` (stream the hosts' logs; default
#'   `FALSE`) and `session`.
#' @param seed `NULL` (draw each loop's seed from R's generator) or a whole
#'   number.
#' @return A `sagesim_dopar` handle, invisibly (accepted by
#'   `parallel::stopCluster()`).
#' @seealso [sagemaker] for the future backend.
#' @examplesIf requireNamespace("foreach", quietly = TRUE) && requireNamespace("iterators", quietly = TRUE)
#' old <- options(sagesim.job_dir = tempfile("sagesim-example-"))  # where local jobs keep their files
#' library(foreach)
#' cl <- registerDoSageMaker(instance_count = 2, instance_type = "local", seed = 42)
#' side <- 100
#' x <- foreach(i = 1:6, .combine = c) %dopar% {
#'   mean(runif(10, 0, side)) + i
#' }
#' x
#' last_dopar_job()$seed
#' parallel::stopCluster(cl)
#' unlink(getOption("sagesim.job_dir"), recursive = TRUE)
#' options(old)
#' @export
registerDoSageMaker <- function(instance_count = 1,
                                instance_type = getOption("sagesim.instance_type", "local"), ...,
                                seed = NULL) {
  if (!requireNamespace("foreach", quietly = TRUE) || !requireNamespace("iterators", quietly = TRUE)) {
    abort("registerDoSageMaker() needs the foreach and iterators packages: install them first.",
          class = "sagesim_invalid_argument", argument = "foreach")
  }
  settings <- list(...)
  names <- names(settings) %||% rep("", length(settings))
  if (any(!nzchar(names))) {
    abort_argument("...", "The job settings in `...` must be named (e.g. `image_uri = `).")
  }
  unknown <- setdiff(names, dopar_setting_names)
  if (length(unknown) > 0) {
    abort_argument(unknown[[1]], sprintf(
      "registerDoSageMaker() does not take %s; its job settings are %s.",
      paste0("`", unknown, "`", collapse = ", "),
      paste0("`", dopar_setting_names, "`", collapse = ", ")))
  }
  instance_count <- job_settings$instance_count$check(instance_count, FALSE)
  check_future_settings(c(list(instance_type = instance_type, image_uri = settings$image_uri),
                          settings[setdiff(names, c("logs", "image_uri"))]))
  if (!is.null(settings$logs)) check_flag(settings$logs, "logs")
  if (!is.null(seed)) {
    seed <- check_number(seed, "seed", min = -.Machine$integer.max, max = .Machine$integer.max,
                         whole = TRUE)
  }
  backend <- structure(list(instance_count = instance_count, instance_type = instance_type,
                            settings = settings, seed = seed),
                       class = c("sagesim_dopar", "cluster"))
  foreach::setDoPar(do_sagemaker, data = backend, info = dopar_info)
  invisible(backend)
}

dopar_setting_names <- c("image_uri", "role", "env", "network", "volume_kms_key", "output_kms_key",
                         "kms_key", "volume_size_gb", "max_runtime", "base_job_name", "tags",
                         "spot", "max_wait", "keep_alive", "logs", "session")

dopar_info <- function(data, item) {
  switch(item,
         name = "doSageMaker",
         version = as.character(utils::packageVersion("sagesim")),
         workers = as.integer(data$instance_count),
         NULL)
}

dopar_state <- new.env(parent = emptyenv())

#' The job of the last foreach loop run with registerDoSageMaker()
#'
#' @return The job handle of the last `%dopar%` loop run in this session
#'   (its `seed`, `name`, [job_logs()]), or `NULL`.
#' @examples
#' last_dopar_job()
#' @param ... Not used: an argument these do not take is refused
#'   (`sagesim_unknown_argument`), naming the one meant.
#' @export
last_dopar_job <- function(...) {
  check_unknown_arguments("last_dopar_job", ...)
  dopar_state$job
}

#' @export
print.sagesim_dopar <- function(x, ...) {
  cat(sprintf("<sagesim foreach backend> %s x %s per loop%s\n", x$instance_count, x$instance_type,
              if (is.null(x$seed)) "" else sprintf(", seed %s", format(x$seed))))
  invisible(x)
}

# stopCluster(cl) of a script written for doParallel: nothing to stop.
#' @exportS3Method parallel::stopCluster
stopCluster.sagesim_dopar <- function(cl = NULL) invisible(NULL)

# foreach's %dopar% with this backend: the iterations as a map's elements.
do_sagemaker <- function(obj, expr, envir, data) {
  if (!inherits(obj, "foreach")) {
    abort_argument("obj", "`obj` must be a foreach object.")
  }
  it <- iterators::iter(obj)
  accumulator <- foreach::makeAccum(it)
  iterations <- as.list(it)
  loop <- dopar_loop(obj, expr, envir)
  if (obj$verbose) {
    cat(sprintf("sagesim: %d iterations; variables %s; packages %s\n", length(iterations),
                paste(names(loop$globals), collapse = ", "), paste(loop$packages, collapse = ", ")))
  }
  results <- list()
  if (length(iterations) > 0) {
    options <- obj$options$sagesim
    seed <- if ("seed" %in% names(options)) options$seed else data$seed
    settings <- data$settings
    settings$logs <- settings$logs %||% FALSE
    job <- do.call(submit_map, c(
      list(x = iterations, f = run_iteration, loop = loop[c("expr", "globals")],
           packages = loop$packages, seed = seed, instance_count = data$instance_count,
           instance_type = data$instance_type, wait = FALSE),
      settings))
    dopar_state$job <- job
    tryCatch(job_wait(job, logs = isTRUE(settings$logs)),
             sagesim_job_failed = function(e) NULL, sagesim_job_stopped = function(w) NULL)
    if (!identical(job$last_status$status, "Completed")) abort_loop_unfinished(job)
    results <- job_collect(job, errors = "return")
    names(results) <- NULL
  }
  tryCatch(accumulator(results, seq_along(results)), error = function(e) {
    cat("error calling combine function:\n")
    print(e)
    NULL
  })
  error_value <- foreach::getErrorValue(it)
  if (identical(obj$errorHandling, "stop") && !is.null(error_value)) {
    message <- sprintf("task %d failed - \"%s\"", foreach::getErrorIndex(it),
                       conditionMessage(error_value))
    stop(simpleError(message, call = expr))
  }
  foreach::getResult(it)
}

# A loop whose job failed or was stopped: which iterations finished, and
# how to get them and run the rest (job_resubmit() runs only those).
abort_loop_unfinished <- function(job) {
  status <- job$last_status
  results <- suppressWarnings(suppressMessages(job_collect(job, errors = "return")))
  unfinished <- which(vapply(results, inherits, NA, "sagesim_element_unfinished"))
  finished <- setdiff(seq_along(results), unfinished)
  abort(c(sprintf("The %%dopar%% loop's %s %s%s: %d of %d iterations finished (%s).",
                  job_title(job, start = FALSE), if (identical(status$status, "Stopped")) "was stopped" else "failed",
                  if (!is.null(status$failure_reason)) sprintf(" (%s)", status$failure_reason) else "",
                  length(finished), length(results), describe_indices(finished)),
          sprintf("job_collect(job_attach(\"%s\"), errors = \"return\") returns them; job_resubmit() runs only the %d others.",
                  job$name, length(unfinished))),
        class = "sagesim_loop_unfinished", job_name = job$name, job = job, finished = finished,
        unfinished = unfinished, call = NULL)
}

# "1-12, 21-32" for a set of indices ("none" when empty).
describe_indices <- function(indices) {
  if (length(indices) == 0) return("none")
  runs <- split(indices, cumsum(c(1, diff(indices) != 1)))
  paste(vapply(runs, function(r) if (length(r) == 1) format(r[[1]]) else
    sprintf("%d-%d", r[[1]], r[[length(r)]]), ""), collapse = ", ")
}

# What a loop's hosts need: its body, the variables it uses (found as future
# finds globals, with `.export`, without `.noexport` and the iteration
# variables) and the packages to attach.
dopar_loop <- function(obj, expr, envir) {
  local <- union(obj$noexport, obj$argnames)
  found <- globals::globalsOf(expr, envir = envir, substitute = FALSE, mustExist = FALSE,
                              recursive = TRUE)
  found <- globals::cleanup(found[setdiff(names(found), local)])
  where <- attr(found, "where")
  in_package <- vapply(names(found), function(name) {
    env <- where[[name]]
    isNamespace(env) || startsWith(environmentName(env), "package:")
  }, logical(1))
  packages <- setdiff(globals::packagesOf(found), default_packages)
  values <- plain_globals(found)[!in_package]
  for (name in setdiff(unique(obj$export), names(values))) {
    if (!exists(name, envir = envir, inherits = TRUE)) {
      abort_argument(".export", sprintf("`.export` names \"%s\", which does not exist here.", name))
    }
    values[[name]] <- get(name, envir = envir, inherits = TRUE)
  }
  check_travel(list(list(values, "variable", ".export")), inside = "the loop")
  list(expr = expr, globals = values, packages = unique(c(packages, obj$packages)))
}

# One iteration, on a host: the loop's variables in the global environment
# (where the functions among them look for theirs), the iteration's own in
# a frame of its own.
run_iteration <- function(arguments, loop) {
  for (name in names(loop$globals)) assign(name, loop$globals[[name]], envir = globalenv())
  frame <- list2env(arguments, envir = new.env(parent = globalenv()))
  eval(loop$expr, envir = frame)
}
