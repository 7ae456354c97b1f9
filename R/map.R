#' Run an R function over many elements as a processing job
#'
#' `f(x[[i]], ...)` for every element of `x`, spread over `instance_count`
#' hosts (this machine by default, or SageMaker Processing), as
#' `lapply(x, f, ...)` would compute it. [job_collect()] returns the results
#' as a list in the order of `x`, names kept.
#'
#' * **What travels.** The globals `f` uses are found (with the
#'   \pkg{globals} package, as \pkg{future} finds them) and shipped with `f`
#'   and `...`; the packages they come from, and those in `packages`, are
#'   loaded on the hosts (which must have them: see the worker image). `x`,
#'   `f`, `...` and the globals go to the job once, as one file, however
#'   many elements and hosts there are. Something that cannot travel to
#'   another process (an external pointer, such as a database connection) is
#'   refused at submission, naming it.
#' * **Random numbers.** Element `i` draws from its own L'Ecuyer-CMRG
#'   stream: the streams `future.apply::future_lapply(x, f, future.seed =
#'   seed)` gives, so the results are identical for any `instance_count`,
#'   locally and in the cloud, and equal to `future_lapply()`'s on your own
#'   machine. With `seed = NULL` a seed is drawn from R's generator
#'   (`set.seed()` first makes it repeatable); the job records it (`job$seed`).
#' * **Failures.** An error in one element does not lose the others: each
#'   failed element keeps its condition (class, message, call) and a
#'   traceback. [job_collect()] then stops with a `sagesim_map_failed`
#'   error listing them, unless `errors = "return"`; [job_resubmit()] runs
#'   only the failed elements again.
#' * **Progress.** Hosts log how many elements they have done; the job
#'   prints it (`print(job)`) and [job_wait()] follows it.
#'
#' @param x A vector or list of elements (at least one).
#' @param f A function, called as `f(x[[i]], ...)`.
#' @param ... Further arguments to `f`, the same for every element.
#' @param packages Packages to attach on the hosts, besides those the
#'   globals of `f` come from.
#' @param seed A whole number (an R integer), or `NULL` to draw one.
#' @param instance_count Number of hosts.
#' @param instance_type `"local"` (the default: processes on this machine),
#'   or an `ml.*` instance type for SageMaker.
#' @inheritParams submit_processing
#' @return A job handle (`sagesim_job`); see [job_status()] and
#'   [job_collect()].
#' @examples
#' options(sagesim.job_dir = tempdir())
#' scale <- 10
#' job <- submit_map(1:20, function(i, shift) mean(rnorm(100, i * scale + shift)),
#'                   shift = 1, seed = 42, instance_count = 2, logs = FALSE)
#' job
#' head(job_collect(job))
#' @export
submit_map <- function(x, f, ..., packages = NULL, seed = NULL, instance_count = 1,
                       instance_type = "local", image_uri = NULL, role = NULL, env = NULL,
                       network = NULL, volume_kms_key = NULL, output_kms_key = NULL,
                       kms_key = NULL, volume_size_gb = 30, max_runtime = 86400,
                       base_job_name = NULL, job_name = NULL, tags = NULL, wait = TRUE,
                       logs = TRUE, session = NULL) {
  if (!is.function(f)) {
    abort_argument("f", sprintf("`f` must be a function, not %s.", describe_type(f)))
  }
  if (is.null(x) || length(x) == 0 || is.function(x) || is.environment(x)) {
    abort_argument("x", sprintf("`x` must be a vector or list of one or more elements, not %s.",
                                describe_type(x)))
  }
  check_strings(packages, "packages")
  seed <- if (is.null(seed)) draw_seed() else {
    check_number(seed, "seed", min = -.Machine$integer.max, max = .Machine$integer.max,
                 whole = TRUE)
  }
  payload <- new_map_payload(as.list(x), f, list(...), packages, seed)
  settings <- list(instance_count = instance_count, instance_type = instance_type,
                   image_uri = image_uri, role = role, env = env, network = network,
                   volume_kms_key = volume_kms_key, output_kms_key = output_kms_key,
                   kms_key = kms_key, volume_size_gb = volume_size_gb, max_runtime = max_runtime,
                   base_job_name = base_job_name, job_name = job_name, tags = tags)
  start_map_job(payload, settings, wait = wait, logs = logs, session = session)
}

map_input_dir <- "/opt/ml/processing/input/map"
map_output_dir <- "/opt/ml/processing/output/map"
map_format <- "sagesim-map/1"

# Plans and starts a map job from its payload (also for job_resubmit()).
start_map_job <- function(payload, settings, wait, logs, session) {
  check_flag(wait, "wait")
  staging <- tempfile("sagesim-map-")
  dir.create(staging)
  on.exit(unlink(staging, recursive = TRUE), add = TRUE)
  saveRDS(payload, file.path(staging, "payload.rds"))
  work <- list(
    kind = "map",
    entrypoint = worker_entrypoint,
    arguments = c(flag_arguments("map", file.path(map_input_dir, "payload.rds")),
                  flag_arguments("seed", format_number(payload$seed)),
                  flag_arguments("output_dir", map_output_dir)),
    base_default = "sagesim-map",
    inputs = list(processing_input(staging, destination = map_input_dir, name = "map")),
    outputs = list(processing_output(map_output_dir, name = "map"))
  )
  # Settings not given take submit_map()'s defaults.
  defaults <- formals(submit_map)[names(formals(plan_processing_job))[-1]]
  defaults <- defaults[!names(defaults) %in% c("inputs", "outputs") & !is.na(names(defaults))]
  settings <- utils::modifyList(lapply(defaults, eval), settings, keep.null = TRUE)
  plan <- do.call(plan_processing_job, c(list(work), settings, inputs = list(NULL),
                                         outputs = list(NULL)))
  job <- start_job(plan, wait = FALSE, logs = logs, session = session)
  job$seed <- payload$seed
  job$elements <- length(payload$x)
  unlink(staging, recursive = TRUE)
  if (wait) job_wait(job, logs = logs)
  job
}

# Everything a host needs to run its elements: one file, sent once.
new_map_payload <- function(x, f, dots, packages, seed) {
  found <- map_globals(f)
  for (what in list(list(found$values, "global"), list(dots, "argument"), list(x, "element"))) {
    pointer <- find_external_pointer(what[[1]], what[[2]])
    if (!is.null(pointer)) {
      abort_argument(if (what[[2]] == "element") "x" else if (what[[2]] == "argument") "..." else "f",
                     sprintf("The %s cannot travel to the job's hosts: it holds an external pointer (a database connection, a file or a handle into this R session), which only means something here. Create it inside `f` instead.",
                             pointer))
    }
  }
  pointer <- find_external_pointer(list(f = f), "function")
  if (!is.null(pointer)) {
    abort_argument("f", sprintf("The %s cannot travel to the job's hosts: it holds an external pointer. Create what it points to inside `f` instead.",
                                pointer))
  }
  list(format = map_format, f = f, dots = dots, globals = found$values,
       packages = unique(c(packages, found$packages)), seed = seed, x = unname(x),
       indices = seq_along(x), n = length(x), names = names(x), kept = NULL)
}

# Packages every R session has attached: nothing to load for them.
default_packages <- c("base", "methods", "datasets", "utils", "grDevices", "graphics", "stats")

# The globals `f` uses (found as future finds them) and the packages they
# come from.
map_globals <- function(f) {
  found <- globals::globalsOf(f, envir = environment(f) %||% globalenv(), mustExist = FALSE,
                              recursive = TRUE)
  found <- globals::cleanup(found)
  packages <- setdiff(globals::packagesOf(found), default_packages)
  # Globals that live in a package come with the package, not with `f`.
  where <- attr(found, "where")
  from_package <- vapply(names(found), function(name) {
    env <- where[[name]]
    isNamespace(env) || startsWith(environmentName(env), "package:")
  }, logical(1))
  values <- unclass(found)[!from_package]
  attributes(values) <- list(names = names(found)[!from_package])
  list(values = as.list(values), packages = packages)
}

# The name of the first external pointer inside `x` (a list of named
# things), looking through lists, attributes, closures' and other
# environments (not global or package ones), or NULL.
find_external_pointer <- function(x, what) {
  seen <- new.env(parent = emptyenv())
  visit <- function(value, depth = 0) {
    if (depth > 50) return(FALSE)
    if (typeof(value) == "externalptr") return(TRUE)
    if (is.environment(value)) {
      if (identical(value, globalenv()) || identical(value, emptyenv()) ||
          isNamespace(value) || environmentName(value) %in% c("base", search())) {
        return(FALSE)
      }
      key <- format(value)
      if (!is.null(seen[[key]])) return(FALSE)
      seen[[key]] <- TRUE
      for (name in ls(value, all.names = TRUE)) {
        # `...` of a function's frame, or a missing argument, has no value.
        item <- tryCatch(get(name, envir = value), error = function(e) NULL)
        if (visit(item, depth + 1)) return(TRUE)
      }
      return(visit(parent.env(value), depth + 1))
    }
    if (is.function(value)) return(!is.primitive(value) && visit(environment(value), depth + 1))
    for (attribute in attributes(value)) if (visit(attribute, depth + 1)) return(TRUE)
    if (is.list(value)) for (item in value) if (visit(item, depth + 1)) return(TRUE)
    FALSE
  }
  labels <- names(x) %||% rep("", length(x))
  for (k in seq_along(x)) {
    if (visit(x[[k]])) {
      return(if (nzchar(labels[[k]])) sprintf("%s `%s`", what, labels[[k]]) else sprintf("%s %d", what, k))
    }
  }
  NULL
}

# The L'Ecuyer-CMRG seed of each element `indices` of a map with `seed`:
# those future.apply gives for `future.seed = seed` (set.seed(seed) under
# L'Ecuyer-CMRG; element i takes nextRNGSubStream() of the i-th stream,
# streams following one another by nextRNGStream()). R's own generator
# state is left as it was.
map_seeds <- function(seed, indices) {
  seeds <- vector("list", length(indices))
  if (length(indices) == 0) return(seeds)
  had_seed <- exists(".Random.seed", envir = globalenv(), inherits = FALSE)
  old_seed <- if (had_seed) get(".Random.seed", envir = globalenv())
  old_kind <- RNGkind()
  on.exit({
    RNGkind(old_kind[[1]], old_kind[[2]], old_kind[[3]])
    if (had_seed) assign(".Random.seed", old_seed, envir = globalenv())
    else rm(".Random.seed", envir = globalenv())
  }, add = TRUE)
  RNGkind("L'Ecuyer-CMRG")
  set.seed(as.integer(seed))
  stream <- get(".Random.seed", envir = globalenv())
  wanted <- split(seq_along(indices), indices)
  for (i in seq_len(max(indices))) {
    at <- wanted[[as.character(i)]]
    if (!is.null(at)) seeds[at] <- list(parallel::nextRNGSubStream(stream))
    stream <- parallel::nextRNGStream(stream)
  }
  seeds
}

# --- the hosts -------------------------------------------------------------------

map_worker_main <- function(options, config) {
  host <- config$current_host
  hosts <- config$hosts
  index <- match(host, hosts)
  payload <- readRDS(options$map)
  if (!identical(payload$format, map_format)) {
    abort(sprintf("%s is not a sagesim map payload (%s).", options$map, map_format),
          class = "sagesim_results_error")
  }
  for (package in payload$packages) {
    loaded <- suppressPackageStartupMessages(requireNamespace(package, quietly = TRUE))
    if (!loaded) {
      abort(sprintf("Package %s is not installed on host %s; add it to the worker image (build_image(packages = \"%s\")).",
                    package, host, package), class = "sagesim_map_error")
    }
    suppressPackageStartupMessages(library(package, character.only = TRUE))
  }
  list2env(payload$globals, envir = globalenv())
  share <- unwrap(split_range(length(payload$x), length(hosts), index - 1))
  positions <- if (share[[2]] > 0) seq(share[[1]], length.out = share[[2]]) else integer()
  indices <- payload$indices[positions]
  total <- length(positions)
  log_line(sprintf("%s (host %d of %d): %s of %s elements, seed %s", host, index, length(hosts),
                   format_count(total), format_count(payload$n), format(payload$seed)))
  seeds <- map_seeds(payload$seed, indices)
  values <- vector("list", total)
  failures <- list()
  runner <- local({
    f <- payload$f
    dots <- payload$dots
    function(element) do.call(function(element, ...) f(element, ...), c(list(element), dots),
                              quote = TRUE)
  })
  last_report <- Sys.time()
  for (k in seq_len(total)) {
    outcome <- run_element(runner, payload$x[[positions[[k]]]], seeds[[k]])
    if (is.null(outcome$failure)) {
      values[k] <- list(outcome$value)
    } else {
      failures[[length(failures) + 1]] <- c(list(index = indices[[k]]), outcome$failure)
    }
    if (k == total || as.numeric(difftime(Sys.time(), last_report, units = "secs")) >= 10) {
      last_report <- Sys.time()
      log_line(sprintf("%s: %d of %d elements done%s", host, k, total,
                       if (length(failures) > 0) sprintf(" (%d failed)", length(failures)) else ""))
    }
  }
  succeeded <- !indices %in% vapply(failures, function(f) f$index, integer(1))
  result <- list(format = map_format, host = host, hosts = hosts, n = payload$n,
                 indices = indices[succeeded], values = values[succeeded], failures = failures,
                 names = if (index == 1) payload$names, kept = if (index == 1) payload$kept)
  dir.create(options$output_dir, recursive = TRUE, showWarnings = FALSE)
  path <- file.path(options$output_dir, sprintf("map-results-%s.rds", host))
  # Written whole, then renamed: never a partial file under the final name.
  partial <- paste0(path, ".partial")
  saveRDS(result, partial)
  file.rename(partial, path)
  log_line(sprintf("%s: wrote %s", host, path))
  invisible(path)
}

# One element, with its own random stream; an error is kept with its class,
# message, call and traceback, and does not stop the others.
run_element <- function(runner, element, seed) {
  assign(".Random.seed", seed, envir = globalenv())
  calls <- NULL
  value <- tryCatch(
    withCallingHandlers(runner(element), error = function(e) calls <<- sys.calls()),
    error = function(e) structure(list(condition = e), class = "sagesim_failed_element")
  )
  if (!inherits(value, "sagesim_failed_element")) return(list(value = value))
  e <- value$condition
  list(failure = list(class = class(e), message = conditionMessage(e), call = conditionCall(e),
                      traceback = element_traceback(calls)))
}

# The calls from `f` down to where the error was raised, one line each.
element_traceback <- function(calls) {
  if (is.null(calls)) return(character())
  text <- vapply(calls, function(call) paste(deparse(call, nlines = 1L), collapse = ""), "")
  start <- match("f(element, ...)", text)
  end <- match(TRUE, startsWith(text, ".handleSimpleError(") | startsWith(text, "h(simpleError"))
  if (is.na(start)) start <- 1
  if (is.na(end)) end <- length(text) + 1
  text[seq.int(start, length.out = max(0, end - start))]
}

# --- collecting -------------------------------------------------------------------

read_map_results <- function(job, path, errors) {
  location <- results_location(job, "map")
  files <- list.files(path, pattern = "^map-results-.*\\.rds$", recursive = TRUE,
                      full.names = TRUE)
  if (length(files) == 0) abort_missing_results(job_hosts(job), job_hosts(job), location)
  parts <- lapply(files, readRDS)
  hosts <- parts[[1]]$hosts
  missing <- setdiff(hosts, vapply(parts, `[[`, "", "host"))
  if (length(missing) > 0) abort_missing_results(missing, hosts, location)
  n <- parts[[1]]$n
  values <- vector("list", n)
  covered <- integer(n)
  failures <- list()
  element_names <- NULL
  for (part in parts) {
    for (taken in list(part[c("indices", "values")], part$kept)) {
      if (length(taken$indices) == 0) next
      values[taken$indices] <- taken$values
      covered[taken$indices] <- covered[taken$indices] + 1L
    }
    for (failure in part$failures) covered[failure$index] <- covered[failure$index] + 1L
    failures <- c(failures, part$failures)
    element_names <- element_names %||% part$names
  }
  if (any(covered != 1L)) {
    abort(sprintf("The results in %s do not cover every element once (elements %s).", location,
                  paste(utils::head(which(covered != 1L), 10), collapse = ", ")),
          class = "sagesim_results_error")
  }
  label <- function(i) {
    if (!is.null(element_names) && nzchar(element_names[[i]])) {
      sprintf("%d (\"%s\")", i, element_names[[i]])
    } else {
      as.character(i)
    }
  }
  conditions <- lapply(failures, function(failure) {
    structure(class = failure$class,
              list(message = failure$message, call = failure$call, traceback = failure$traceback,
                   element = failure$index))
  })
  failed <- vapply(failures, function(failure) as.integer(failure$index), integer(1))
  order <- order(failed)
  failed <- failed[order]
  conditions <- conditions[order]
  names(conditions) <- as.character(failed)
  if (length(failed) > 0 && identical(errors, "stop")) {
    shown <- utils::head(seq_along(failed), 5)
    abort(c(sprintf("%d of %d elements of job %s failed:", length(failed), n, job$name),
            sprintf("  element %s: %s", vapply(failed[shown], label, ""),
                    vapply(conditions[shown], conditionMessage, "")),
            if (length(failed) > 5) sprintf("  ... and %d more", length(failed) - 5),
            "Collect them as conditions with job_collect(job, errors = \"return\"), or run them again with job_resubmit(job)."),
          class = "sagesim_map_failed", job_name = job$name, failed = failed,
          conditions = conditions)
  }
  values[failed] <- conditions
  names(values) <- element_names
  values
}

#' Run a map job's failed elements again
#'
#' Submits the elements of a [submit_map()] job that failed as a new job:
#' with the same function and globals, or a corrected `f`, the same seed
#' (each element keeps its random stream) and the same settings unless
#' given. [job_collect()] of the new job returns the whole result, the
#' earlier job's successes filled in.
#'
#' @param job A finished [submit_map()] job with failed elements.
#' @param f `NULL` to run the same function again, or a corrected one (its
#'   globals are found anew).
#' @param ... Settings of [submit_map()] to change (`instance_count`,
#'   `instance_type`, `image_uri`, ...).
#' @param wait,logs As in [submit_map()].
#' @return The new job.
#' @examples
#' options(sagesim.job_dir = tempdir())
#' job <- submit_map(1:6, function(i) if (i == 4) stop("no four") else i, logs = FALSE)
#' fixed <- job_resubmit(job, f = function(i) i, logs = FALSE)
#' unlist(job_collect(fixed))
#' @export
job_resubmit <- function(job, f = NULL, ..., wait = TRUE, logs = TRUE) {
  check_job(job)
  if (!identical(job$kind, "map")) {
    abort_argument("job", sprintf("Only submit_map() jobs can be resubmitted; %s is a %s job.",
                                  job$name, job$kind))
  }
  if (!is.null(f) && !is.function(f)) {
    abort_argument("f", sprintf("`f` must be NULL or a function, not %s.", describe_type(f)))
  }
  results <- job_collect(job, errors = "return")
  failed <- which(vapply(results, function(r) inherits(r, "condition"), logical(1)))
  if (length(failed) == 0) {
    abort(sprintf("No element of job %s failed: there is nothing to run again.", job$name),
          class = "sagesim_invalid_argument", argument = "job")
  }
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
  settings <- utils::modifyList(map_settings_of(job), list(...))
  start_map_job(payload, settings, wait = wait, logs = logs, session = job$session)
}

# The payload a map job was given (its "map" input).
map_payload_of <- function(job) {
  target <- tempfile("sagesim-payload-")
  on.exit(unlink(target, recursive = TRUE), add = TRUE)
  if (inherits(job, "sagesim_local_job")) {
    file <- local_container_path(host_opt_ml(job$dir, job$hosts[[1]]),
                                 file.path(map_input_dir, "payload.rds"))
  } else {
    location <- parse_s3_uri(job$map_input)
    aws_request(job$session, "s3:DownloadPrefix", list(
      Bucket = location$bucket, Prefix = paste0(sub("/+$", "", location$key), "/"),
      Directory = target))
    file <- file.path(target, "payload.rds")
  }
  readRDS(file)
}

# The settings a map job ran with, as far as its handle knows them.
map_settings_of <- function(job) {
  settings <- list(instance_count = job$instance_count %||% 1,
                   instance_type = job$instance_type %||% "local")
  if (inherits(job, "sagesim_cloud_job")) {
    settings$image_uri <- job$image_uri
    settings$role <- job$role
  } else if (identical(job$runner$mode, "container")) {
    settings$image_uri <- job$runner$image
  }
  settings[!vapply(settings, is.null, logical(1))]
}
