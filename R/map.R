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
#'   another process (an object holding an external pointer, such as a
#'   connection) is refused at submission, naming it
#'   (`sagesim_cannot_travel`), as future refuses it with
#'   `options(future.globals.onReference = "error")`; that option's
#'   `"warning"` or `"ignore"` relaxes the check here too. A data.table
#'   travels (its internal pointer is restored where it arrives).
#' * **Conditions.** Messages and warnings raised by `f` are kept with each
#'   element and signalled again, in element order, when [job_collect()]
#'   returns the values, as `future_lapply()` relays them.
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
#' @param estimate `TRUE` returns what the job would cost instead of
#'   submitting it (a `sagesim_estimate`), creating nothing: `f` is timed on a
#'   few elements of `x` (`getOption("sagesim.pilot_elements", 3)`, spread
#'   over `x`, for at most about 10 seconds) in this R session, each with the
#'   random stream it would have on a host, R's own generator left as it
#'   was; the hosts' shares of the elements at that speed, plus a start-up
#'   allowance per host, give the instance-hours. See [submit_processing()].
#' @inheritParams submit_processing
#' @return A job handle (`sagesim_job`); see [job_status()] and
#'   [job_collect()]. With `estimate = TRUE`, a `sagesim_estimate`.
#' @examples
#' old <- options(sagesim.job_dir = tempfile("sagesim-example-"))  # where local jobs keep their files
#' scale <- 10
#' job <- submit_map(1:20, function(i, shift) mean(rnorm(100, i * scale + shift)),
#'                   shift = 1, seed = 42, instance_count = 2, logs = FALSE)
#' job
#' head(job_collect(job))
#' # What 1,000 elements would take on 4 local hosts, without running them:
#' submit_map(1:1000, function(i) sum(sort(runif(1e4))), seed = 1, instance_count = 4,
#'            estimate = TRUE)
#' unlink(getOption("sagesim.job_dir"), recursive = TRUE)
#' options(old)
#' @export
submit_map <- function(x, f, ..., packages = NULL, seed = NULL, image_uri = NULL, role = NULL,
                       instance_count = 1,
                       instance_type = getOption("sagesim.instance_type", "local"),
                       volume_size_gb = 30, max_runtime = 86400, base_job_name = NULL,
                       job_name = NULL, env = NULL, tags = NULL, network = NULL,
                       volume_kms_key = NULL, output_kms_key = NULL, kms_key = NULL,
                       retries = getOption("sagesim.retries", 2), spot = FALSE,
                       max_wait = NULL, keep_alive = NULL, wait = TRUE, logs = TRUE,
                       session = NULL, estimate = FALSE, budget = getOption("sagesim.budget")) {
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
  check_f_arguments(f, list(...))
  payload <- new_map_payload(as.list(x), f, list(...), packages, seed)
  settings <- list(instance_count = instance_count, instance_type = instance_type,
                   image_uri = image_uri, role = role, env = env, network = network,
                   volume_kms_key = volume_kms_key, output_kms_key = output_kms_key,
                   kms_key = kms_key, volume_size_gb = volume_size_gb, max_runtime = max_runtime,
                   tags = tags, retries = retries, spot = spot, max_wait = max_wait,
                   keep_alive = keep_alive)
  if (identical(instance_type, "local") && is.null(image_uri)) {
    check_local_packages(unique(c(payload$packages, code_packages(f))), "`f`") # R/packages.R
  }
  start_map_job(payload, settings, base_job_name = base_job_name, job_name = job_name,
                wait = wait, logs = logs, session = session, estimate = estimate, budget = budget)
}

# `...` goes to `f`. A name `f` cannot take would fail every element on the
# hosts: far more likely a misspelt setting of submit_map(), refused here.
check_f_arguments <- function(f, args) {
  given <- names(args)
  takes <- names(formals(f))
  if (is.null(given) || is.primitive(f)) return(invisible())
  given <- given[nzchar(given)]
  settings <- setdiff(names(formals(submit_map)), c("x", "f", "..."))
  if ("..." %in% takes) {
    # `f` takes anything; a name close to a setting is still most likely
    # one, misspelt: said, not refused.
    hints <- vapply(setdiff(given, takes), did_you_mean, "", settings)
    hints <- hints[nzchar(hints)]
    if (length(hints) > 0) {
      warning(structure(class = c("sagesim_misspelt_setting", "warning", "condition"), list(
        message = sprintf("`%s` goes to `f` (it takes `...`), not to submit_map()%s.",
                          names(hints)[[1]], hints[[1]]),
        call = sys.call(-1))))
    }
    return(invisible())
  }
  unknown <- given[vapply(given, function(name) is.na(pmatch(name, takes)), logical(1))]
  if (length(unknown) == 0) return(invisible())
  described <- paste0("`", unknown, "`", vapply(unknown, did_you_mean, "", settings))
  abort_argument("...", sprintf(
    "`f` takes no argument %s; the arguments in `...` go to `f`, whose arguments are %s.",
    paste(described, collapse = ", "),
    if (length(takes) > 0) paste0("`", takes, "`", collapse = ", ") else "none"))
}

# Plans and starts a map job from its payload (also for job_resubmit()):
# the payload is written once, to a folder that becomes the job's "map"
# input.
start_map_job <- function(payload, settings, base_job_name = NULL, job_name = NULL, wait = TRUE,
                          logs = TRUE, session = NULL, resubmission_of = NULL,
                          attempts = NULL, estimate = FALSE,
                          budget = getOption("sagesim.budget")) {
  check_flag(wait, "wait")
  staging <- tempfile("sagesim-map-")
  dir.create(staging)
  on.exit(unlink(staging, recursive = TRUE), add = TRUE)
  write_map_payload(payload, file.path(staging, map_payload_file)) # R/map-files.R
  work <- list(
    kind = "map",
    entrypoint = worker_entrypoint,
    # The payload's SHA-256 goes in the request, which S3 cannot change: the
    # hosts read the payload only if it is the one written here.
    arguments = c(flag_arguments("map", file.path(map_input_dir, map_payload_file)),
                  flag_arguments("map_sha256", payload_sha256(file.path(staging, map_payload_file))),
                  flag_arguments("seed", format_number(payload$seed)),
                  flag_arguments("output_dir", map_output_dir)),
    base_default = "sagesim-map",
    inputs = list(processing_input(staging, destination = map_input_dir, name = "map")),
    # Uploaded as written: a host that dies leaves what it finished.
    outputs = list(processing_output(map_output_dir, name = "map", s3_upload_mode = "Continuous")),
    elements = length(payload$x), seed = payload$seed
  )
  plan <- plan_job(work, settings, base_job_name = base_job_name, job_name = job_name)
  plan$resubmission_of <- resubmission_of
  plan$attempts <- attempts
  job <- start_job(plan, wait = FALSE, logs = logs, session = session, estimate = estimate,
                   budget = budget, payload = payload)
  if (inherits(job, "sagesim_estimate")) return(job)
  unlink(staging, recursive = TRUE)
  if (wait) job_wait(job, logs = logs)
  job
}

# Everything a host needs to run its elements: one file, sent once.
new_map_payload <- function(x, f, dots, packages, seed) {
  found <- map_globals(f)
  check_travel(list(list(found$values, "global", "f"), list(dots, "argument", "..."),
                    list(x, "element", "x")))
  classes <- class_packages(c(found$values, dots, utils::head(x, 100)))
  shipped <- closure_to_ship(f, found$values)
  list(format = map_format, f = shipped$f, dots = dots, globals = shipped$globals,
       packages = unique(c(packages, found$packages, classes)), seed = seed, x = unname(x),
       indices = seq_along(x), n = length(x), names = names(x), kept = NULL)
}

# `f` as it travels. A closure made inside a function keeps that function's
# whole environment, and serializing `f` would ship every object in it: it
# travels instead with an environment of only the globals it uses (functions
# among them that shared its environment share the new one), which then
# need not travel apart. A function of the global environment or a package
# travels as it is, its globals apart.
closure_to_ship <- function(f, globals) {
  home <- environment(f)
  if (is.primitive(f) || is.null(home) || identical(home, globalenv()) || isNamespace(home) ||
      identical(home, baseenv())) {
    return(list(f = f, globals = globals))
  }
  env <- new.env(parent = globalenv())
  for (name in names(globals)) {
    value <- globals[[name]]
    if (is.function(value) && identical(environment(value), home)) environment(value) <- env
    assign(name, value, envir = env)
  }
  environment(f) <- env
  list(f = f, globals = list())
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

# The packages whose methods the classes of `values` need on the hosts (a
# data.table needs data.table loaded for `[` to be its own): the loaded
# namespaces that define S3 methods for, or the S4 class of, each class.
class_packages <- function(values) {
  basic <- c("list", "numeric", "integer", "character", "logical", "complex", "function",
             "data.frame", "factor", "matrix", "array", "environment", "NULL", "raw", "formula")
  classes <- setdiff(unique(unlist(lapply(values, class))), basic)
  s4 <- unlist(lapply(values, function(v) attr(class(v), "package")))
  s3 <- unlist(lapply(classes, function(cl) {
    info <- attr(utils::.S3methods(class = cl, envir = baseenv()), "info")
    unique(info$from)
  }))
  packages <- intersect(unique(c(s4, s3)), loadedNamespaces())
  setdiff(packages, default_packages)
}

# What cannot travel to another process is refused, as future refuses it
# with `options(future.globals.onReference = "error")`: an object holding an
# external pointer (a connection, a database handle, a pointer into this R
# session), which would arrive pointing at nothing. A data.table's
# `.internal.selfref` is not one: data.table restores it where the table
# arrives. `future.globals.onReference` relaxes this as it does for future:
# "warning" warns instead, "ignore" does not look. Without the option,
# `pointers` is what happens to pointers other than connections ("ignore" is
# future's own default, which the future backend keeps); a connection is
# refused unless the option says otherwise. `what`: list(values, kind,
# argument) triples.
check_travel <- function(what, inside = "`f`", pointers = "error") {
  option <- getOption("future.globals.onReference")
  if (!is.null(option)) check_choice(option, c("error", "warning", "ignore"), "future.globals.onReference")
  action <- option %||% "error"
  only_connections <- is.null(option) && identical(pointers, "ignore")
  if (identical(action, "ignore")) return(invisible())
  for (item in what) {
    pointer <- find_external_pointer(item[[1]], item[[2]], only_connections)
    if (is.null(pointer)) next
    message <- sprintf("The %s cannot travel to the job's hosts: it holds an external pointer (a connection, a database handle or a pointer into this R session), which only means something here. Create it inside %s instead, or set options(future.globals.onReference = \"ignore\") if it is not used on the hosts.",
                       pointer, inside)
    if (identical(action, "warning")) {
      warning(structure(class = c("sagesim_cannot_travel", "warning", "condition"),
                        list(message = message, call = user_call())))
    } else {
      abort_argument(item[[3]], message, class = "sagesim_cannot_travel")
    }
  }
  invisible()
}

# The name of the first external pointer inside `x` (a list of named
# things), looking through lists, attributes, closures' and other
# environments (not global or package ones), or NULL. With
# `only_connections`, only connections count.
find_external_pointer <- function(x, what, only_connections = FALSE) {
  seen <- new.env(parent = emptyenv())
  visit <- function(value, depth = 0) {
    if (depth > 50) return(FALSE)
    if (inherits(value, "connection")) return(TRUE)
    if (typeof(value) == "externalptr") return(!only_connections)
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
    attrs <- attributes(value)
    if (inherits(value, "data.table")) attrs[[".internal.selfref"]] <- NULL
    for (attribute in attrs) if (visit(attribute, depth + 1)) return(TRUE)
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
