# Planning a job: the work (what it runs, from submit_processing(),
# submit_map() or a resubmission) and its settings, checked, named, with
# inputs and outputs named and placed, before anything is created. A backend
# (R/backends.R) then starts it and writes its record (R/record.R).

# `work`: list(kind, entrypoint, arguments, base_default, inputs, outputs,
# and code / simulation / elements + seed). `settings`: the job settings
# (job_setting_names), as given.
plan_job <- function(work, settings, base_job_name = NULL, job_name = NULL) {
  check_setting_names(settings, "settings")
  check_instance_type(settings$instance_type)
  local <- identical(settings$instance_type, "local")
  checked <- check_job_settings(settings, local) # R/settings.R
  if (!is.null(job_name) && !is.null(base_job_name)) {
    abort_argument("job_name", "Give `job_name` or `base_job_name`, not both.")
  }
  check_name(job_name, "job_name", job_name_pattern, null_ok = TRUE)
  inputs <- c(work$inputs, checked$inputs)
  outputs <- c(work$outputs, checked$outputs)
  check_unique_names(inputs, "inputs")
  check_unique_names(outputs, "outputs")
  if (!local) {
    for (output in outputs) {
      if (!is.null(output$destination) && !is_s3_uri(output$destination)) {
        abort_argument("outputs", sprintf("Output \"%s\": a SageMaker job writes to S3; \"%s\" is not an s3:// URI.",
                                          output$name, output$destination))
      }
    }
  }
  if (local) check_local_emulation(inputs, outputs)
  if (training_settings(checked)) check_training_outputs(outputs) # R/job-kinds.R
  list(
    name = job_name %||% job_name_from_base(base_job_name %||% work$base_default),
    work = work, settings = checked, local = local, inputs = inputs, outputs = outputs
  )
}

# Settings given to a resubmission (or a plan argument): every name must be
# a job setting, so a typo is an error rather than silently ignored.
check_setting_names <- function(settings, arg = "...") {
  given <- names(settings)
  if (length(settings) > 0 && (is.null(given) || any(!nzchar(given)))) {
    abort_argument(arg, sprintf("Every job setting in `%s` must be named.", arg))
  }
  unknown <- setdiff(given, job_setting_names)
  if (length(unknown) > 0) {
    suggestion <- vapply(unknown, did_you_mean, "", job_setting_names)
    abort_argument(arg, sprintf("Unknown job setting%s: %s. Known: %s.",
                                if (length(unknown) > 1) "s" else "",
                                paste0("`", unknown, "`", suggestion, collapse = ", "),
                                paste(job_setting_names, collapse = ", ")),
                   class = "sagesim_unknown_setting")
  }
  invisible(settings)
}

# Starts a planned job here or on SageMaker, and follows it when asked. With
# `estimate`, returns the job's estimate instead; a `budget` the estimate
# exceeds stops it first (R/estimate.R): either way nothing is created.
start_job <- function(plan, wait, logs, session, estimate = FALSE,
                      budget = getOption("sagesim.budget"), payload = NULL) {
  check_flag(wait, "wait")
  check_flag(logs, "logs")
  if (!is.null(session)) check_class(session, "sagesim_session", "session", "aws_session()")
  estimated <- cost_guard(plan, session, estimate, budget, payload)
  if (!is.null(estimated)) return(estimated)
  job <- backend_of_plan(plan)$start(plan, session)
  if (wait) job_wait(job, logs = logs) else pane_follow(job) # R/rstudio.R
  job
}

# The Python SDK names jobs after the image's repository by default.
image_base_name <- function(image_uri) {
  if (is.null(image_uri)) return(NULL)
  repository <- sub(":.*$", "", sub("@.*$", "", basename(image_uri)))
  repository <- gsub("[^a-zA-Z0-9-]+", "-", repository)
  repository <- gsub("^-+|-+$", "", repository)
  if (nzchar(repository)) repository
}

#' Job names as SageMaker's Python SDK makes them
#'
#' `{base}-{YYYY-MM-DD-HH-MM-SS-mmm}` in UTC, the base cut to 39 characters so
#' the name stays within SageMaker's 63.
#'
#' @param base A name prefix: letters, digits and hyphens.
#' @param time The time stamp to use: a `POSIXct` (or a `Date`).
#' @return A job name.
#' @examples
#' job_name_from_base("sagesim")
#' job_name_from_base("sagesim", time = as.POSIXct("2026-01-02 03:04:05", tz = "UTC"))
#' @param ... Not used: an argument these do not take is refused
#'   (`sagesim_unknown_argument`), naming the one meant.
#' @export
job_name_from_base <- function(base, time = Sys.time(), ...) {
  check_unknown_arguments("job_name_from_base", ...)
  check_name(base, "base_job_name", base_name_pattern)
  if (inherits(time, "Date")) time <- as.POSIXct(time)
  if (!inherits(time, "POSIXct") || length(time) != 1 || is.na(time)) {
    abort_argument("time", sprintf("`time` must be a single date-time (POSIXct), not %s.",
                                   describe_type(time)))
  }
  seconds <- as.numeric(time)
  stamp <- sprintf("%s-%03d", format(as.POSIXct(floor(seconds), origin = "1970-01-01", tz = "UTC"),
                                     "%Y-%m-%d-%H-%M-%S", tz = "UTC"),
                   as.integer(floor((seconds - floor(seconds)) * 1000)))
  base <- sub("-+$", "", substr(base, 1, 63 - nchar(stamp) - 1))
  paste0(base, "-", stamp)
}




# What local mode does not emulate is refused, saying what SageMaker would
# do, rather than quietly treated as something else. (FastFile streams the
# same files File mode copies, so it runs as File; Continuous outputs are
# delivered at the end, also when the job fails, which is what they leave.)
check_local_emulation <- function(inputs, outputs) {
  refuse <- function(arg, name, what, cloud) {
    abort_argument(arg, sprintf(
      "%s \"%s\": local mode cannot emulate %s. On SageMaker %s. Use a SageMaker instance type, or File mode with S3Prefix inputs and EndOfJob outputs locally.",
      if (arg == "inputs") "Input" else "Output", name, what, cloud))
  }
  for (input in inputs) {
    if (identical(input$s3_input_mode, "Pipe")) {
      refuse("inputs", input$name, "Pipe mode",
             "the input would be streamed through a named pipe (/opt/ml/processing/input/<name>_<epoch>), not copied as files")
    }
    if (identical(input$s3_compression_type, "Gzip")) {
      refuse("inputs", input$name, "Gzip compression",
             "each object would be decompressed on its way through the pipe")
    }
    if (identical(input$s3_data_type, "ManifestFile")) {
      refuse("inputs", input$name, "a ManifestFile input",
             "the objects listed in the manifest would be downloaded, not the manifest's prefix")
    }
  }
  invisible()
}
