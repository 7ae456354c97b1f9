# The job settings, one row each: a setting's default and its check, the
# bounds written here once. Every submit function, the future plan, the
# foreach backend, plan_job() and job_resubmit() read this table; the record
# (R/record.R) keeps every setting, and a resubmission keeps each one unless
# it is given anew. A new setting is one row here plus its use.
#
# `default`: the value a submit function's argument defaults to (an
# expression when it reads an option); `check(x, local)`: the value as the
# job takes it, or a classed argument error. `local`: the job runs here.

kms_key_check <- function(name) {
  function(x, local) check_string(x, name, null_ok = TRUE, max_chars = 2048)
}

job_settings <- list(
  image_uri = list(default = NULL, check = function(x, local) {
    check_string(x, "image_uri", null_ok = local, max_chars = 255)
  }),
  role = list(default = NULL, check = function(x, local) check_role(x)),
  instance_count = list(default = 1, check = function(x, local) {
    check_count(x, "instance_count", min = 1, max = 100)
  }),
  instance_type = list(default = quote(getOption("sagesim.instance_type", "local")),
                       check = function(x, local) check_instance_type(x)),
  volume_size_gb = list(default = 30, check = function(x, local) {
    check_count(x, "volume_size_gb", min = 1, max = 16384)
  }),
  # SageMaker's limit: 5 days.
  max_runtime = list(default = 86400, check = function(x, local) {
    check_count(x, "max_runtime", min = 1, max = 777600)
  }),
  inputs = list(default = NULL, check = function(x, local) normalise_inputs(x)),
  outputs = list(default = NULL, check = function(x, local) normalise_outputs(x)),
  env = list(default = NULL, check = function(x, local) check_environment(x)),
  tags = list(default = NULL, check = function(x, local) check_tags(x)),
  network = list(default = NULL, check = function(x, local) {
    if (!is.null(x)) check_class(x, "sagesim_network_config", "network", "network_config()")
    x
  }),
  volume_kms_key = list(default = NULL, check = kms_key_check("volume_kms_key")),
  output_kms_key = list(default = NULL, check = kms_key_check("output_kms_key")),
  kms_key = list(default = NULL, check = kms_key_check("kms_key")),
  # How often a job the cloud failed (not its code) is run again.
  retries = list(default = quote(getOption("sagesim.retries", 2)), check = function(x, local) {
    check_count(x %||% getOption("sagesim.retries", 2), "retries", min = 0, max = 10)
  }),
  # Spot capacity and warm pools: the job runs as a SageMaker Training job
  # (R/training.R). `max_wait` counts waiting for capacity and running.
  spot = list(default = FALSE, check = function(x, local) check_flag(x %||% FALSE, "spot")),
  max_wait = list(default = NULL, check = function(x, local) {
    if (!is.null(x)) check_count(x, "max_wait", min = 1, max = 2419200) else x
  }),
  # Seconds a warm pool is kept after the job (AWS's older, lower limit: 1 hour).
  keep_alive = list(default = NULL, check = function(x, local) {
    if (!is.null(x)) check_count(x, "keep_alive", min = 1, max = 3600) else x
  })
)

job_setting_names <- names(job_settings)

# Every setting of the table, as the job takes it, from `settings` (named, a
# subset of the table; one not given is checked as NULL, i.e. unset).
check_job_settings <- function(settings, local) {
  checked <- lapply(stats::setNames(nm = job_setting_names), function(name) {
    job_settings[[name]]$check(settings[[name]], local)
  })
  check_capacity_settings(checked)
}

# The settings that only hold together: Spot and warm pools exclude each
# other (AWS's rule), `max_wait` is Spot's and covers `max_runtime`; a Spot
# job waits at most twice its runtime unless told.
check_capacity_settings <- function(checked) {
  if (checked$spot && !is.null(checked$keep_alive)) {
    abort_argument("keep_alive", "SageMaker keeps no warm pool of Spot instances: give `spot = TRUE` or `keep_alive`, not both.")
  }
  if (!checked$spot && !is.null(checked$max_wait)) {
    abort_argument("max_wait", "`max_wait` is how long a Spot job may wait for capacity and run: give it with `spot = TRUE`.")
  }
  if (checked$spot) {
    checked$max_wait <- checked$max_wait %||% (2 * checked$max_runtime)
    if (checked$max_wait < checked$max_runtime) {
      abort_argument("max_wait", sprintf(
        "`max_wait` (%s s) must be at least `max_runtime` (%s s): it counts the wait for Spot capacity and the run.",
        format_count(checked$max_wait), format_count(checked$max_runtime)))
    }
  }
  checked
}

# Whether a job's settings make it a SageMaker Training job (Spot capacity
# or a warm pool) rather than a Processing job.
training_settings <- function(settings) isTRUE(settings$spot) || !is.null(settings$keep_alive)

# The default of each setting, as a submit function's argument has it.
job_setting_defaults <- function() {
  lapply(job_settings, function(row) eval(row$default, baseenv()))
}

check_instance_type <- function(x) {
  check_string(x, "instance_type")
  if (!identical(x, "local") && !grepl("^ml\\.[a-z0-9-]+\\.[a-z0-9]+$", x)) {
    hint <- if (grepl("^[a-z0-9-]+\\.[a-z0-9]+$", x)) sprintf(" Did you mean \"ml.%s\"?", x) else ""
    abort_argument("instance_type", sprintf(
      "`instance_type` must be \"local\" (this machine) or a SageMaker instance type such as \"ml.m5.xlarge\", not \"%s\".%s",
      x, hint))
  }
  invisible(x)
}

# A job's name, and the base one is made from: letters, digits and hyphens
# (SageMaker's rule), a name at most 63 characters.
job_name_pattern <- "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"
base_name_pattern <- "^[a-zA-Z0-9](-*[a-zA-Z0-9])*$"

check_name <- function(x, arg, pattern, null_ok = FALSE) {
  check_string(x, arg, null_ok = null_ok)
  if (!is.null(x) && !grepl(pattern, x)) {
    fixed <- gsub("^-+|-+$", "", gsub("[^a-zA-Z0-9-]+", "-", x))
    abort_argument(arg, sprintf(
      "`%s` may hold only letters, digits and hyphens, starting and ending with a letter or digit%s, not \"%s\"%s.",
      arg, if (identical(pattern, job_name_pattern)) ", at most 63 characters" else "", x,
      if (nzchar(fixed) && !identical(fixed, x)) sprintf(" (e.g. \"%s\")", fixed) else ""))
  }
  invisible(x)
}
