#' An input of a processing job
#'
#' @param source A local file or directory (uploaded to
#'   `s3://{bucket}/{job}/input/{name}/`), or an `s3://` URI.
#' @param destination Where the job sees it: a path under
#'   `/opt/ml/processing/`; default `/opt/ml/processing/input/{name}`.
#' @param name Input name; default `input-1`, `input-2`, ...
#' @param s3_data_type `"S3Prefix"` or `"ManifestFile"`.
#' @param s3_input_mode `"File"`, `"Pipe"` or `"FastFile"`.
#' @param s3_data_distribution_type `"FullyReplicated"` (every host gets all)
#'   or `"ShardedByS3Key"` (the objects are divided between hosts).
#' @param s3_compression_type `"None"` or `"Gzip"`.
#' @return A `sagesim_processing_input`.
#' @examples
#' processing_input("s3://my-bucket/data/", name = "data")
#' @export
processing_input <- function(source, destination = NULL, name = NULL, s3_data_type = "S3Prefix",
                             s3_input_mode = "File",
                             s3_data_distribution_type = "FullyReplicated",
                             s3_compression_type = "None") {
  call <- sys.call()
  check_string(source, "source", call = call)
  check_container_path(destination, "destination", null_ok = TRUE, call = call)
  check_string(name, "name", null_ok = TRUE, pattern = "^[a-zA-Z0-9_-]{1,64}$", call = call)
  check_choice(s3_data_type, c("S3Prefix", "ManifestFile"), "s3_data_type", call = call)
  check_choice(s3_input_mode, c("File", "Pipe", "FastFile"), "s3_input_mode", call = call)
  check_choice(s3_data_distribution_type, c("FullyReplicated", "ShardedByS3Key"),
               "s3_data_distribution_type", call = call)
  check_choice(s3_compression_type, c("None", "Gzip"), "s3_compression_type", call = call)
  if (is_s3_uri(source)) check_s3_uri(source, "source", call = call)
  structure(list(source = source, destination = destination, name = name,
                 s3_data_type = s3_data_type, s3_input_mode = s3_input_mode,
                 s3_data_distribution_type = s3_data_distribution_type,
                 s3_compression_type = s3_compression_type),
            class = "sagesim_processing_input")
}

#' An output of a processing job
#'
#' @param source The folder in the job whose files are saved: a path under
#'   `/opt/ml/processing/`.
#' @param destination An `s3://` URI; default
#'   `s3://{bucket}/{job}/output/{name}`. Local-mode jobs also accept a local
#'   folder (their default is a folder beside the job's files).
#' @param name Output name; default `output-1`, `output-2`, ...
#' @param s3_upload_mode `"EndOfJob"` or `"Continuous"`.
#' @return A `sagesim_processing_output`.
#' @examples
#' processing_output("/opt/ml/processing/output/results", name = "results")
#' @export
processing_output <- function(source, destination = NULL, name = NULL,
                              s3_upload_mode = "EndOfJob") {
  call <- sys.call()
  check_container_path(source, "source", call = call)
  check_string(destination, "destination", null_ok = TRUE, call = call)
  check_string(name, "name", null_ok = TRUE, pattern = "^[a-zA-Z0-9_-]{1,64}$", call = call)
  check_choice(s3_upload_mode, c("EndOfJob", "Continuous"), "s3_upload_mode", call = call)
  if (!is.null(destination) && is_s3_uri(destination)) check_s3_uri(destination, "destination", call = call)
  structure(list(source = source, destination = destination, name = name,
                 s3_upload_mode = s3_upload_mode),
            class = "sagesim_processing_output")
}

#' Network settings of a processing job
#'
#' @param subnets,security_group_ids VPC subnet and security group ids (both
#'   or neither).
#' @param enable_network_isolation No network access from the container.
#' @param encrypt_inter_container_traffic Encrypt traffic between hosts.
#' @return A `sagesim_network_config`.
#' @examples
#' network_config(subnets = "subnet-0abc", security_group_ids = "sg-0abc")
#' @export
network_config <- function(subnets = NULL, security_group_ids = NULL,
                           enable_network_isolation = FALSE,
                           encrypt_inter_container_traffic = FALSE) {
  call <- sys.call()
  check_strings(subnets, "subnets", call = call)
  check_strings(security_group_ids, "security_group_ids", call = call)
  if (xor(length(subnets) > 0, length(security_group_ids) > 0)) {
    abort_argument(if (length(subnets) > 0) "security_group_ids" else "subnets",
                   "A VPC needs both `subnets` and `security_group_ids`.", call = call)
  }
  check_flag(enable_network_isolation, "enable_network_isolation", call = call)
  check_flag(encrypt_inter_container_traffic, "encrypt_inter_container_traffic", call = call)
  structure(list(subnets = subnets, security_group_ids = security_group_ids,
                 enable_network_isolation = enable_network_isolation,
                 encrypt_inter_container_traffic = encrypt_inter_container_traffic),
            class = "sagesim_network_config")
}

#' Run an R script or the built-in simulation on SageMaker Processing
#'
#' Submits a processing job the way the SageMaker Python SDK's
#' `ScriptProcessor` does (same names and S3 layout, so existing habits and
#' scripts keep working), without Python. Everything is validated before any
#' AWS call; a submission that fails part-way deletes what it uploaded and
#' leaves no job behind.
#'
#' * `code`: a local R script, uploaded to `s3://{bucket}/{job}/input/code/`
#'   and run as `command /opt/ml/processing/input/code/<script> arguments...`.
#' * `simulation`: a [simulation_spec()]; the job runs the installed package's
#'   worker ([run_worker()]), splits the iterations across the
#'   `instance_count` hosts, and [job_collect()] merges the hosts' results
#'   into the object [simulate_local()] returns, with identical values.
#'
#' With `instance_type = "local"` the same job runs on this machine, with no
#' AWS account, role or container engine: see [run_worker()] and the README.
#'
#' @param code Path to a local R script, or `NULL`.
#' @param simulation A `sagesim_spec` from [simulation_spec()], or `NULL`.
#' @param image_uri The container image (see [publish_image()]). Not used by
#'   local jobs.
#' @param role Execution role ARN; default the session's role.
#' @param command The command that runs `code` (default `"Rscript"`).
#' @param arguments Character vector passed to the script.
#' @param instance_count Number of hosts (1 to 100).
#' @param instance_type An `ml.*` instance type, or `"local"`.
#' @param volume_size_gb Storage volume per host, GB.
#' @param max_runtime Seconds before SageMaker (or local mode) stops the job.
#' @param base_job_name Prefix of the job name; the name is
#'   `{base}-{YYYY-MM-DD-HH-MM-SS-mmm}` (UTC, at most 63 characters).
#' @param inputs A list of [processing_input()]s, or a named character vector
#'   of sources (names become input names).
#' @param outputs A list of [processing_output()]s, or a named character
#'   vector of container folders.
#' @param env Named character vector of environment variables (at most 100;
#'   keys `[a-zA-Z_][a-zA-Z0-9_]*`, keys and values at most 256 characters).
#' @param tags Named character vector of tags.
#' @param network A [network_config()].
#' @param volume_kms_key,output_kms_key KMS key ids or ARNs for the storage
#'   volume and the outputs.
#' @param wait Wait for the job to finish (`FALSE` returns at once; pick the
#'   job up later with [attach_job()], even from a new R session).
#' @param logs Stream the job's logs while waiting.
#' @param session An [aws_session()]; default one from the standard chain.
#' @return A job handle (`sagesim_job`), see [job_status()].
#' @examples
#' \dontrun{
#' # A script, as ScriptProcessor did:
#' job <- submit_processing(code = "analysis.R", image_uri = uri,
#'                          instance_type = "ml.m5.xlarge", arguments = c("--n", "10"))
#' # The built-in simulation on two hosts, merged on collection:
#' job <- submit_processing(simulation = simulation_spec(1000, 1000, 1000, 1e6, seed = 42),
#'                          image_uri = uri, instance_count = 2)
#' job_collect(job)
#' }
#' # Locally, as two hosts, with no AWS at all:
#' options(sagesim.job_dir = tempdir())
#' job <- submit_processing(simulation = simulation_spec(1000, 1000, 1000, 200, seed = 1),
#'                          instance_type = "local", instance_count = 2, logs = FALSE)
#' job_collect(job)
#' @export
submit_processing <- function(code = NULL, simulation = NULL, image_uri = NULL, role = NULL,
                              command = "Rscript", arguments = NULL, instance_count = 1,
                              instance_type = "ml.m5.xlarge", volume_size_gb = 30,
                              max_runtime = 86400, base_job_name = NULL, inputs = NULL,
                              outputs = NULL, env = NULL, tags = NULL, network = NULL,
                              volume_kms_key = NULL, output_kms_key = NULL, wait = TRUE,
                              logs = TRUE, session = NULL) {
  call <- sys.call()
  plan <- plan_processing_job(
    code = code, simulation = simulation, image_uri = image_uri, role = role,
    command = command, arguments = arguments, instance_count = instance_count,
    instance_type = instance_type, volume_size_gb = volume_size_gb, max_runtime = max_runtime,
    base_job_name = base_job_name, inputs = inputs, outputs = outputs, env = env, tags = tags,
    network = network, volume_kms_key = volume_kms_key, output_kms_key = output_kms_key,
    call = call
  )
  check_flag(wait, "wait", call = call)
  check_flag(logs, "logs", call = call)
  if (!is.null(session) && !inherits(session, "sagesim_session")) {
    abort_argument("session", sprintf("`session` must be made by aws_session(), not %s.",
                                      describe_type(session)), call = call)
  }
  job <- if (plan$local) {
    start_local_job(plan, session = session, call = call)
  } else {
    start_cloud_job(plan, default_session(session, call = call), call = call)
  }
  if (wait) job_wait(job, logs = logs)
  job
}

# Everything about a job that can be known without AWS: validated arguments,
# the job name, entrypoint and arguments, and inputs and outputs with their
# names and container paths. S3 locations that depend on the bucket are
# filled in later by the cloud or local runner.
plan_processing_job <- function(code, simulation, image_uri, role, command, arguments,
                                instance_count, instance_type, volume_size_gb, max_runtime,
                                base_job_name, inputs, outputs, env, tags, network,
                                volume_kms_key, output_kms_key, call) {
  if (is.null(code) == is.null(simulation)) {
    abort_argument("code", "Give exactly one of `code` (an R script) and `simulation` (a simulation_spec()).",
                   call = call)
  }
  check_string(instance_type, "instance_type",
               pattern = "^(local|ml\\.[a-z0-9-]+\\.[a-z0-9]+)$", call = call)
  local <- identical(instance_type, "local")
  instance_count <- check_count(instance_count, "instance_count", min = 1, max = 100, call = call)
  if (!local) check_string(image_uri, "image_uri", max_chars = 255, call = call)
  check_string(role, "role", null_ok = TRUE, pattern = "^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$",
               call = call)
  volume_size_gb <- check_count(volume_size_gb, "volume_size_gb", min = 1, max = 16384, call = call)
  max_runtime <- check_count(max_runtime, "max_runtime", min = 1, max = 777600, call = call)
  check_string(volume_kms_key, "volume_kms_key", null_ok = TRUE, max_chars = 2048, call = call)
  check_string(output_kms_key, "output_kms_key", null_ok = TRUE, max_chars = 2048, call = call)
  if (!is.null(network) && !inherits(network, "sagesim_network_config")) {
    abort_argument("network", "`network` must be made by network_config().", call = call)
  }
  env <- check_environment(env, call = call)
  tags <- check_tags(tags, call = call)
  arguments <- check_arguments(arguments, call = call)

  if (!is.null(simulation)) {
    if (!inherits(simulation, "sagesim_spec")) {
      abort_argument("simulation", sprintf("`simulation` must be made by simulation_spec(), not %s.",
                                           describe_type(simulation)), call = call)
    }
    if (length(arguments) > 0) {
      abort_argument("arguments", "`arguments` are for `code` jobs; a simulation job takes its parameters from `simulation`.",
                     call = call)
    }
    entrypoint <- worker_entrypoint
    arguments <- worker_arguments(simulation, simulation_output_dir)
    base_default <- "sagesim-simulation"
    outputs <- c(list(processing_output(simulation_output_dir, name = "simulation")),
                 normalise_outputs(outputs, call = call))
  } else {
    check_string(code, "code", call = call)
    if (!file.exists(code) || dir.exists(code)) {
      abort_argument("code", sprintf("`code` must be an existing R script file; \"%s\" %s.", code,
                                     if (dir.exists(code)) "is a directory" else "does not exist"),
                     call = call)
    }
    check_strings(command, "command", null_ok = FALSE, call = call)
    if (length(command) == 0) abort_argument("command", "`command` must not be empty.", call = call)
    entrypoint <- c(command, file.path(code_dir, basename(code)))
    base_default <- image_base_name(image_uri) %||% "sagesim-script"
    outputs <- normalise_outputs(outputs, call = call)
  }
  inputs <- normalise_inputs(inputs, call = call)
  if (!is.null(code)) {
    inputs <- c(list(processing_input(normalizePath(code), destination = code_dir, name = "code")),
                inputs)
  }
  check_unique_names(inputs, "inputs", call = call)
  check_unique_names(outputs, "outputs", call = call)
  if (!local) {
    for (output in outputs) {
      if (!is.null(output$destination) && !is_s3_uri(output$destination)) {
        abort_argument("outputs", sprintf("Output \"%s\": a SageMaker job writes to S3; \"%s\" is not an s3:// URI.",
                                          output$name, output$destination), call = call)
      }
    }
  }

  list(
    name = job_name_from_base(base_job_name %||% base_default),
    kind = if (is.null(simulation)) "script" else "simulation",
    local = local, simulation = simulation, code = code,
    image_uri = image_uri, role = role, entrypoint = entrypoint, arguments = arguments,
    instance_count = instance_count, instance_type = instance_type,
    volume_size_gb = volume_size_gb, max_runtime = max_runtime, inputs = inputs,
    outputs = outputs, env = env, tags = tags, network = network,
    volume_kms_key = volume_kms_key, output_kms_key = output_kms_key
  )
}

code_dir <- "/opt/ml/processing/input/code"
simulation_output_dir <- "/opt/ml/processing/output/simulation"
worker_entrypoint <- c("Rscript", "-e", "sagesim::run_worker()")

worker_arguments <- function(spec, output_dir) {
  number <- function(x) format(x, digits = 17, scientific = FALSE, trim = TRUE)
  c("--x-length", number(spec$x_length), "--y-length", number(spec$y_length),
    "--num-people", number(spec$num_people), "--max-iterations", number(spec$max_iterations),
    "--distance", number(spec$distance), "--seed", number(spec$seed),
    "--output-dir", output_dir)
}

# The Python SDK names jobs after the image's repository by default.
image_base_name <- function(image_uri) {
  if (is.null(image_uri)) return(NULL)
  repository <- sub(":.*$", "", sub("@.*$", "", basename(image_uri)))
  repository <- gsub("[^a-zA-Z0-9-]+", "-", repository)
  repository <- gsub("^-+|-+$", "", repository)
  if (nzchar(repository)) repository
}

job_name_pattern <- "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"

#' Job names as SageMaker's Python SDK makes them
#'
#' `{base}-{YYYY-MM-DD-HH-MM-SS-mmm}` in UTC, the base cut to 39 characters so
#' the name stays within SageMaker's 63.
#'
#' @param base A name prefix: letters, digits and hyphens.
#' @param time The time stamp to use.
#' @return A job name.
#' @examples
#' job_name_from_base("sagesim")
#' @export
job_name_from_base <- function(base, time = Sys.time()) {
  call <- sys.call()
  check_string(base, "base_job_name", pattern = "^[a-zA-Z0-9](-*[a-zA-Z0-9])*$", call = call)
  seconds <- as.numeric(time)
  stamp <- sprintf("%s-%03d", format(as.POSIXct(floor(seconds), origin = "1970-01-01", tz = "UTC"),
                                     "%Y-%m-%d-%H-%M-%S", tz = "UTC"),
                   as.integer(floor((seconds - floor(seconds)) * 1000)))
  base <- sub("-+$", "", substr(base, 1, 63 - nchar(stamp) - 1))
  paste0(base, "-", stamp)
}

check_choice <- function(x, choices, arg, call = sys.call(-1)) {
  if (!is.character(x) || length(x) != 1 || is.na(x) || !x %in% choices) {
    abort_argument(arg, sprintf("`%s` must be one of %s.", arg,
                                paste0("\"", choices, "\"", collapse = ", ")), call = call)
  }
  invisible(x)
}

is_s3_uri <- function(x) startsWith(x, "s3://")

check_s3_uri <- function(x, arg, call = sys.call(-1)) {
  if (!grepl("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$", x)) {
    abort_argument(arg, sprintf("`%s` is not a valid S3 URI (s3://bucket/key): \"%s\".", arg, x),
                   call = call)
  }
  invisible(x)
}

parse_s3_uri <- function(uri) {
  rest <- sub("^s3://", "", uri)
  bucket <- sub("/.*$", "", rest)
  key <- if (grepl("/", rest, fixed = TRUE)) sub("^[^/]*/", "", rest) else ""
  list(bucket = bucket, key = key)
}

check_container_path <- function(x, arg, null_ok = FALSE, call = sys.call(-1)) {
  if (null_ok && is.null(x)) return(invisible(x))
  check_string(x, arg, call = call)
  if (!startsWith(x, "/opt/ml/processing/") || grepl("(^|/)\\.\\.(/|$)", x)) {
    abort_argument(arg, sprintf("`%s` must be a path under /opt/ml/processing/, not \"%s\".", arg, x),
                   call = call)
  }
  invisible(x)
}

check_environment <- function(env, call) {
  if (is.null(env) || length(env) == 0) return(NULL)
  if (is.list(env)) env <- unlist(env)
  check_strings(env, "env", named = TRUE, call = call)
  if (length(env) > 100) {
    abort_argument("env", sprintf("`env` may have at most 100 entries, not %d.", length(env)),
                   call = call)
  }
  keys <- names(env)
  bad <- keys[!grepl("^[a-zA-Z_][a-zA-Z0-9_]*$", keys) | nchar(keys) > 256]
  if (length(bad) > 0) {
    abort_argument("env", sprintf("`env` names must match [a-zA-Z_][a-zA-Z0-9_]* and have at most 256 characters; bad: %s.",
                                  paste0("\"", bad, "\"", collapse = ", ")), call = call)
  }
  long <- keys[nchar(env) > 256]
  if (length(long) > 0) {
    abort_argument("env", sprintf("`env` values must have at most 256 characters; too long: %s.",
                                  paste(long, collapse = ", ")), call = call)
  }
  if (anyDuplicated(keys)) {
    abort_argument("env", sprintf("`env` names must be unique; repeated: %s.",
                                  paste(unique(keys[duplicated(keys)]), collapse = ", ")), call = call)
  }
  env
}

check_tags <- function(tags, call) {
  if (is.null(tags) || length(tags) == 0) return(NULL)
  if (is.list(tags)) tags <- unlist(tags)
  check_strings(tags, "tags", named = TRUE, call = call)
  if (length(tags) > 50) {
    abort_argument("tags", sprintf("`tags` may have at most 50 entries, not %d.", length(tags)),
                   call = call)
  }
  if (any(nchar(names(tags)) > 128) || any(nchar(tags) > 256) || anyDuplicated(names(tags))) {
    abort_argument("tags", "`tags` need unique names of at most 128 characters and values of at most 256.",
                   call = call)
  }
  tags
}

check_arguments <- function(arguments, call) {
  if (is.null(arguments)) return(character())
  if (!is.atomic(arguments) || anyNA(arguments)) {
    abort_argument("arguments", sprintf("`arguments` must be a character vector without NA, not %s.",
                                        describe_type(arguments)), call = call)
  }
  if (is.numeric(arguments)) arguments <- format(arguments, digits = 17, trim = TRUE)
  as.character(arguments)
}

# `inputs` or `outputs` as a list of channel objects: a named character
# vector becomes one channel per element (the names naming them), a single
# channel a list of one.
as_channels <- function(channels, make, class, arg, what, call) {
  if (is.null(channels)) return(list())
  if (is.character(channels)) {
    names <- names(channels) %||% rep("", length(channels))
    channels <- unname(Map(function(path, name) make(path, name = if (nzchar(name)) name),
                           unname(channels), names))
  }
  if (inherits(channels, class)) channels <- list(channels)
  if (!is.list(channels) || !all(vapply(channels, inherits, logical(1), class))) {
    abort_argument(arg, sprintf("`%s` must be a list of %s() or a named character vector of %s.",
                                arg, sub("^sagesim_", "", class), what), call = call)
  }
  channels
}

normalise_inputs <- function(inputs, call) {
  inputs <- as_channels(inputs, processing_input, "sagesim_processing_input", "inputs",
                        "sources", call)
  for (i in seq_along(inputs)) {
    input <- inputs[[i]]
    input$name <- input$name %||% sprintf("input-%d", i)
    input$destination <- input$destination %||% file.path("/opt/ml/processing/input", input$name)
    if (!is_s3_uri(input$source)) {
      if (!file.exists(input$source)) {
        abort_argument("inputs", sprintf("Input \"%s\": the local path \"%s\" does not exist.",
                                         input$name, input$source), call = call)
      }
      input$source <- normalizePath(input$source)
    }
    inputs[[i]] <- input
  }
  inputs
}

normalise_outputs <- function(outputs, call) {
  outputs <- as_channels(outputs, processing_output, "sagesim_processing_output", "outputs",
                         "container folders", call)
  for (i in seq_along(outputs)) {
    outputs[[i]]$name <- outputs[[i]]$name %||% sprintf("output-%d", i)
  }
  outputs
}

check_unique_names <- function(items, arg, call) {
  names <- vapply(items, `[[`, character(1), "name")
  if (anyDuplicated(names)) {
    abort_argument(arg, sprintf("`%s` names must be unique; repeated: %s.", arg,
                                paste(unique(names[duplicated(names)]), collapse = ", ")), call = call)
  }
}

# --- SageMaker ---------------------------------------------------------------

start_cloud_job <- function(plan, session, call) {
  role <- plan$role %||% session$role
  if (is.null(role)) {
    abort_argument("role", c(
      sprintf("No execution role: the caller %s is not an IAM role.", session$caller_arn),
      "Pass `role = \"arn:aws:iam::<account>:role/<name>\"` to submit_processing() or aws_session()."),
      call = call)
  }
  bucket <- ensure_bucket(session, call = call)
  job_prefix <- sprintf("s3://%s/%s", bucket, plan$name)
  uploading <- FALSE
  created <- FALSE
  request <- NULL
  # Whatever stops this submission before the job exists (an error, Ctrl-C)
  # removes what it uploaded, even part of a folder; a job whose creation
  # was interrupted is stopped.
  on.exit(if (!isTRUE(created)) {
    abandon_submission(session, plan$name, bucket, uploading,
                       maybe_created = if (is.na(created)) request)
  }, add = TRUE)

  inputs <- lapply(plan$inputs, function(input) {
    if (!is_s3_uri(input$source)) {
      prefix <- if (input$name == "code") paste0(plan$name, "/input/code") else
        sprintf("%s/input/%s", plan$name, input$name)
      uploading <<- TRUE
      upload_local(session, bucket, prefix, input$source, call = call)
      input$source <- if (input$name == "code" || !dir.exists(input$source)) {
        sprintf("s3://%s/%s/%s", bucket, prefix, basename(input$source))
      } else {
        sprintf("s3://%s/%s", bucket, prefix)
      }
    }
    input
  })
  outputs <- lapply(plan$outputs, function(output) {
    output$destination <- output$destination %||% sprintf("%s/output/%s", job_prefix, output$name)
    output
  })
  request <- create_job_request(plan, role, inputs, outputs)
  created <- NA # from here the job may exist even if the call does not return
  tryCatch(
    aws_request(session, "sagemaker:CreateProcessingJob", request, call = call),
    sagesim_aws_error = function(e) {
      # The service refused the request (4xx): no job to clean up. But "name
      # in use" can answer a retry whose first attempt created the job (its
      # reply lost), and after a server fault or a lost connection the job
      # may exist too: abandon_submission() looks, and stops it if it is ours.
      refused <- identical(e$error_kind, "service") && isTRUE(e$http_status < 500) &&
        !identical(e$code, "ResourceInUse")
      if (refused) created <<- FALSE
      stop(e)
    }
  )
  created <- TRUE
  job <- new_cloud_job(plan$name, session, kind = plan$kind, outputs = outputs,
                       instance_count = plan$instance_count, instance_type = plan$instance_type)
  # What SageMaker reports for a job just created, so the handle prints it.
  job$last_status <- new_job_status(plan$name, "InProgress", creation_time = as.numeric(Sys.time()))
  job
}

upload_local <- function(session, bucket, prefix, path, call) {
  if (dir.exists(path)) {
    aws_request(session, "s3:UploadDirectory", list(Bucket = bucket, Prefix = prefix, Path = path),
                call = call)
  } else {
    aws_request(session, "s3:PutObjectFromFile",
                list(Bucket = bucket, Key = paste0(prefix, "/", basename(path)), Path = path),
                call = call)
  }
  invisible()
}

# Uploads go under `{job}/input/`, a prefix no one else writes to (the job
# name carries the time to the millisecond), so everything there is ours.
# `maybe_created`: NULL, or the CreateProcessingJob request that may have
# created the job.
abandon_submission <- function(session, name, bucket, uploading, maybe_created = NULL) {
  cleanup <- function(expr) tryCatch(expr, error = function(e) {
    warning(sprintf("sagesim could not clean up after a failed submission of %s: %s", name,
                    conditionMessage(e)), call. = FALSE)
  })
  if (!is.null(maybe_created)) cleanup({
    found <- tryCatch(
      aws_request(session, "sagemaker:DescribeProcessingJob", list(ProcessingJobName = name)),
      sagesim_aws_error = function(e) NULL)
    if (!is.null(found) && is_job_of_request(found, maybe_created)) {
      aws_request(session, "sagemaker:StopProcessingJob", list(ProcessingJobName = name))
      message(sprintf("Submission of %s failed after the job was created; the job was stopped.", name))
    } else if (!is.null(found)) {
      message(sprintf("A job named %s exists but is not this submission's; it was left alone.", name))
    }
  })
  if (uploading) cleanup({
    listed <- aws_request(session, "s3:ListObjects", list(Bucket = bucket, Prefix = paste0(name, "/input/")))
    keys <- vapply(listed$Objects, `[[`, character(1), "Key")
    if (length(keys) > 0) {
      aws_request(session, "s3:DeleteObjects", list(Bucket = bucket, Keys = as.list(keys)))
    }
  })
}

# Whether a described job is the one `request` asked for: same role, image,
# entrypoint and arguments (with a name unique to the millisecond, a job
# that matches is ours; one that does not must never be stopped).
is_job_of_request <- function(described, request) {
  same <- function(a, b) identical(as.character(unlist(a)), as.character(unlist(b)))
  fields <- c("ImageUri", "ContainerEntrypoint", "ContainerArguments")
  same(described$RoleArn, request$RoleArn) &&
    all(vapply(fields, function(f) {
      same(described$AppSpecification[[f]], request$AppSpecification[[f]])
    }, logical(1)))
}

create_job_request <- function(plan, role, inputs, outputs) {
  drop_null <- function(x) x[!vapply(x, is.null, logical(1))]
  network <- plan$network
  drop_null(list(
    ProcessingJobName = plan$name,
    RoleArn = role,
    AppSpecification = drop_null(list(
      ImageUri = plan$image_uri,
      ContainerEntrypoint = as.list(plan$entrypoint),
      ContainerArguments = if (length(plan$arguments) > 0) as.list(plan$arguments)
    )),
    ProcessingResources = list(ClusterConfig = drop_null(list(
      InstanceCount = plan$instance_count,
      InstanceType = plan$instance_type,
      VolumeSizeInGB = plan$volume_size_gb,
      VolumeKmsKeyId = plan$volume_kms_key
    ))),
    StoppingCondition = list(MaxRuntimeInSeconds = plan$max_runtime),
    ProcessingInputs = if (length(inputs) > 0) lapply(unname(inputs), function(input) list(
      InputName = input$name,
      S3Input = list(
        S3Uri = input$source,
        LocalPath = input$destination,
        S3DataType = input$s3_data_type,
        S3InputMode = input$s3_input_mode,
        S3DataDistributionType = input$s3_data_distribution_type,
        S3CompressionType = input$s3_compression_type
      )
    )),
    ProcessingOutputConfig = if (length(outputs) > 0) drop_null(list(
      Outputs = lapply(unname(outputs), function(output) list(
        OutputName = output$name,
        S3Output = list(S3Uri = output$destination, LocalPath = output$source,
                        S3UploadMode = output$s3_upload_mode)
      )),
      KmsKeyId = plan$output_kms_key
    )),
    Environment = if (length(plan$env) > 0) as.list(plan$env),
    NetworkConfig = if (!is.null(network)) drop_null(list(
      EnableInterContainerTrafficEncryption = network$encrypt_inter_container_traffic,
      EnableNetworkIsolation = network$enable_network_isolation,
      VpcConfig = if (length(network$subnets) > 0) list(
        SecurityGroupIds = as.list(network$security_group_ids),
        Subnets = as.list(network$subnets))
    )),
    Tags = if (length(plan$tags) > 0) unname(Map(function(k, v) list(Key = k, Value = v),
                                               names(plan$tags), unname(plan$tags)))
  ))
}
