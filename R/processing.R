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
#' @param s3_compression_type `"None"` or `"Gzip"` (SageMaker takes `"Gzip"`
#'   only with `s3_input_mode = "Pipe"`).
#' @return A `sagesim_processing_input`.
#' @examples
#' processing_input("s3://my-bucket/data/", name = "data")
#' @export
processing_input <- function(source, destination = NULL, name = NULL, s3_data_type = "S3Prefix",
                             s3_input_mode = "File",
                             s3_data_distribution_type = "FullyReplicated",
                             s3_compression_type = "None") {
  check_string(source, "source")
  check_container_path(destination, "destination", null_ok = TRUE)
  check_string(name, "name", null_ok = TRUE, pattern = "^[a-zA-Z0-9_-]{1,64}$")
  check_choice(s3_data_type, c("S3Prefix", "ManifestFile"), "s3_data_type")
  check_choice(s3_input_mode, c("File", "Pipe", "FastFile"), "s3_input_mode")
  check_choice(s3_data_distribution_type, c("FullyReplicated", "ShardedByS3Key"),
               "s3_data_distribution_type")
  check_choice(s3_compression_type, c("None", "Gzip"), "s3_compression_type")
  if (s3_compression_type == "Gzip" && s3_input_mode != "Pipe") {
    abort_argument("s3_compression_type", sprintf(
      "SageMaker decompresses Gzip inputs only in Pipe mode; with `s3_input_mode = \"%s\"` use `s3_compression_type = \"None\"` (or Pipe mode).",
      s3_input_mode))
  }
  if (is_s3_uri(source)) check_s3_uri(source, "source")
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
  check_container_path(source, "source")
  check_string(destination, "destination", null_ok = TRUE)
  check_string(name, "name", null_ok = TRUE, pattern = "^[a-zA-Z0-9_-]{1,64}$")
  check_choice(s3_upload_mode, c("EndOfJob", "Continuous"), "s3_upload_mode")
  if (!is.null(destination) && is_s3_uri(destination)) check_s3_uri(destination, "destination")
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
  check_strings(subnets, "subnets")
  check_strings(security_group_ids, "security_group_ids")
  if (xor(length(subnets) > 0, length(security_group_ids) > 0)) {
    abort_argument(if (length(subnets) > 0) "security_group_ids" else "subnets",
                   "A VPC needs both `subnets` and `security_group_ids`.")
  }
  check_flag(enable_network_isolation, "enable_network_isolation")
  check_flag(encrypt_inter_container_traffic, "encrypt_inter_container_traffic")
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
#' * `code`: a local R script, uploaded to `s3://{bucket}/{job}/input/code/`,
#'   or an `s3://` URI of one (used as it is), run as
#'   `command /opt/ml/processing/input/code/<script> arguments...`.
#' * `simulation`: a [simulation_spec()]; the job runs the installed package's
#'   worker ([run_worker()]), splits the iterations across the
#'   `instance_count` hosts, and [job_collect()] merges the hosts' results
#'   into the object [simulate_local()] returns, with identical values. A
#'   [simulation_grid()] is a sweep: its cells and iterations are balanced
#'   across the hosts by their cost (people x iterations), and
#'   [job_collect()] returns what `simulate_local(grid)` returns.
#'
#' With `instance_type = "local"` the same job runs on this machine, with no
#' AWS account or role, its hosts side by side, each seeing its
#' own folder as `/opt/ml`:
#'
#' * without `image_uri`, each host is a process in a private mount namespace
#'   (made with bubblewrap's `bwrap`, else util-linux `unshare`), so scripts
#'   with hard-coded `/opt/ml/...` paths run unchanged and the machine's own
#'   `/opt/ml` is never touched. Where no namespace can be made the
#'   submission warns (`sagesim_no_mount_namespace`) and the hosts run as
#'   plain processes: `/opt/ml` in `arguments` is rewritten and scripts that
#'   use [processing_path()] still work. `options(sagesim.mount_namespace =)`
#'   picks `"bwrap"`, `"unshare"` or `"none"` instead of `"auto"`.
#' * with `image_uri` (e.g. a tag from [build_image()]), each host runs in
#'   that image with a container engine, as SageMaker would run it: its folder
#'   bound at `/opt/ml`, the job's entrypoint, arguments and environment.
#'   The engine is `getOption("sagesim.container_engine")` (`"docker"`,
#'   `"podman"` or `"buildah"`), else the first found of docker (when its
#'   daemon answers), podman and buildah.
#'
#' What local mode cannot emulate (Pipe and Gzip inputs, manifest files,
#' Continuous uploads) is refused rather than run differently.
#'
#' How the arguments map onto the Python SDK's: `ScriptProcessor(role,
#' image_uri, command, instance_count, instance_type, volume_size_in_gb,
#' volume_kms_key, output_kms_key, max_runtime_in_seconds, base_job_name, env,
#' tags, network_config)` and `.run(code, inputs, outputs, arguments,
#' wait, logs, job_name, kms_key)`.
#'
#' @param code Path to a local R script, an `s3://` URI of one, or `NULL`.
#' @param simulation A [simulation_spec()], a [simulation_grid()], or `NULL`.
#' @param image_uri The container image (see [publish_image()]). For local
#'   jobs optional: a local image (see [build_image()]) to run the hosts in.
#' @param role Execution role: an IAM role ARN, or a role name (completed
#'   with the session's account); default the session's role.
#' @param command The command that runs `code` (default `"Rscript"`).
#' @param arguments Character vector passed to the script (at most 256, each
#'   at most 256 characters).
#' @param instance_count Number of hosts (1 to 100).
#' @param instance_type An `ml.*` instance type, or `"local"`.
#' @param volume_size_gb Storage volume per host, GB.
#' @param max_runtime Seconds before SageMaker (or local mode) stops the job.
#' @param base_job_name Prefix of the job name; the name is
#'   `{base}-{YYYY-MM-DD-HH-MM-SS-mmm}` (UTC, at most 63 characters).
#' @param job_name The job's whole name instead (refused if a job of that
#'   name exists).
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
#' @param kms_key KMS key id or ARN with which every file sagesim uploads
#'   (code, inputs) is encrypted (SSE-KMS); default the session's `kms_key`.
#' @param wait Wait for the job to finish (`FALSE` returns at once; pick the
#'   job up later with [attach_job()], even from a new R session).
#' @param logs Stream the job's logs while waiting.
#' @param session An [aws_session()]; default one from the standard chain.
#' @return A job handle (`sagesim_job`), see [job_status()].
#' @examples
#' \dontrun{
#' # A script, as ScriptProcessor did:
#' job <- submit_processing(code = "analysis.R", image_uri = uri, role = "SageMakerRole",
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
                              max_runtime = 86400, base_job_name = NULL, job_name = NULL,
                              inputs = NULL, outputs = NULL, env = NULL, tags = NULL,
                              network = NULL, volume_kms_key = NULL, output_kms_key = NULL,
                              kms_key = NULL, wait = TRUE, logs = TRUE, session = NULL) {
  work <- processing_work(code, simulation, image_uri, command, arguments)
  plan <- plan_processing_job(
    work, image_uri = image_uri, role = role, instance_count = instance_count,
    instance_type = instance_type, volume_size_gb = volume_size_gb, max_runtime = max_runtime,
    base_job_name = base_job_name, job_name = job_name, inputs = inputs, outputs = outputs,
    env = env, tags = tags, network = network, volume_kms_key = volume_kms_key,
    output_kms_key = output_kms_key, kms_key = kms_key
  )
  start_job(plan, wait = wait, logs = logs, session = session)
}

# Starts a planned job here or on SageMaker, and follows it when asked.
start_job <- function(plan, wait, logs, session) {
  check_flag(wait, "wait")
  check_flag(logs, "logs")
  if (!is.null(session)) check_class(session, "sagesim_session", "session", "aws_session()")
  job <- if (plan$local) start_local_job(plan, session) else start_cloud_job(plan, default_session(session))
  if (wait) job_wait(job, logs = logs) else pane_follow(job) # R/rstudio.R
  job
}

# What a job runs: its kind, entrypoint and arguments, the inputs and
# outputs that come with it, and its default name. A script (`code`), a
# simulation or sweep (`simulation`); submit_map() makes its own.
processing_work <- function(code, simulation, image_uri, command, arguments) {
  if (is.null(code) == is.null(simulation)) {
    abort_argument("code", "Give exactly one of `code` (an R script) and `simulation` (a simulation_spec() or simulation_grid()).")
  }
  arguments <- check_arguments(arguments)
  if (!is.null(simulation)) {
    if (!inherits(simulation, c("sagesim_spec", "sagesim_grid"))) {
      abort_argument("simulation", sprintf("`simulation` must be made by simulation_spec() or simulation_grid(), not %s.",
                                           describe_type(simulation)))
    }
    if (length(arguments) > 0) {
      abort_argument("arguments", "`arguments` are for `code` jobs; a simulation job takes its parameters from `simulation`.")
    }
    sweep <- inherits(simulation, "sagesim_grid")
    return(list(
      kind = if (sweep) "sweep" else "simulation",
      entrypoint = worker_entrypoint,
      arguments = worker_arguments(simulation, simulation_output_dir),
      base_default = if (sweep) "sagesim-sweep" else "sagesim-simulation",
      inputs = list(),
      outputs = list(processing_output(simulation_output_dir, name = "simulation")),
      simulation = simulation
    ))
  }
  check_string(code, "code")
  if (is_s3_uri(code)) {
    check_s3_uri(code, "code")
    if (grepl("/$", code)) {
      abort_argument("code", sprintf("`code` must name an R script, not an S3 prefix: \"%s\".", code))
    }
  } else if (!file.exists(code) || dir.exists(code)) {
    abort_argument("code", sprintf("`code` must be an existing R script file; \"%s\" %s.", code,
                                   if (dir.exists(code)) "is a directory" else "does not exist"))
  }
  check_strings(command, "command", null_ok = FALSE)
  if (length(command) == 0) abort_argument("command", "`command` must not be empty.")
  source <- if (is_s3_uri(code)) code else normalizePath(code)
  list(
    kind = "script",
    entrypoint = c(command, file.path(code_dir, basename(code))),
    arguments = arguments,
    base_default = image_base_name(image_uri) %||% "sagesim-script",
    inputs = list(processing_input(source, destination = code_dir, name = "code")),
    outputs = list()
  )
}

# Everything about a job that can be known without AWS: the work, validated
# settings, the job name, and inputs and outputs with their names and
# container paths. S3 locations that depend on the bucket, and the role, are
# filled in by the cloud or local runner.
plan_processing_job <- function(work, image_uri, role, instance_count, instance_type,
                                volume_size_gb, max_runtime, base_job_name, job_name, inputs,
                                outputs, env, tags, network, volume_kms_key, output_kms_key,
                                kms_key) {
  check_string(instance_type, "instance_type", pattern = "^(local|ml\\.[a-z0-9-]+\\.[a-z0-9]+)$")
  local <- identical(instance_type, "local")
  instance_count <- check_count(instance_count, "instance_count", min = 1, max = 100)
  check_string(image_uri, "image_uri", null_ok = local, max_chars = 255)
  check_role(role)
  volume_size_gb <- check_count(volume_size_gb, "volume_size_gb", min = 1, max = 16384)
  max_runtime <- check_count(max_runtime, "max_runtime", min = 1, max = 777600)
  for (key in c("volume_kms_key", "output_kms_key", "kms_key")) {
    check_string(get(key), key, null_ok = TRUE, max_chars = 2048)
  }
  if (!is.null(network)) check_class(network, "sagesim_network_config", "network", "network_config()")
  if (!is.null(job_name) && !is.null(base_job_name)) {
    abort_argument("job_name", "Give `job_name` or `base_job_name`, not both.")
  }
  check_string(job_name, "job_name", null_ok = TRUE, pattern = job_name_pattern)
  env <- check_environment(env)
  tags <- check_tags(tags)
  inputs <- c(work$inputs, normalise_inputs(inputs))
  outputs <- c(work$outputs, normalise_outputs(outputs))
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

  list(
    name = job_name %||% job_name_from_base(base_job_name %||% work$base_default),
    kind = work$kind, local = local, simulation = work$simulation,
    image_uri = image_uri, role = role, entrypoint = work$entrypoint, arguments = work$arguments,
    instance_count = instance_count, instance_type = instance_type,
    volume_size_gb = volume_size_gb, max_runtime = max_runtime, inputs = inputs,
    outputs = outputs, env = env, tags = tags, network = network,
    volume_kms_key = volume_kms_key, output_kms_key = output_kms_key, kms_key = kms_key
  )
}

code_dir <- "/opt/ml/processing/input/code"
simulation_output_dir <- "/opt/ml/processing/output/simulation"

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
#' @param time The time stamp to use.
#' @return A job name.
#' @examples
#' job_name_from_base("sagesim")
#' @export
job_name_from_base <- function(base, time = Sys.time()) {
  check_string(base, "base_job_name", pattern = "^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")
  seconds <- as.numeric(time)
  stamp <- sprintf("%s-%03d", format(as.POSIXct(floor(seconds), origin = "1970-01-01", tz = "UTC"),
                                     "%Y-%m-%d-%H-%M-%S", tz = "UTC"),
                   as.integer(floor((seconds - floor(seconds)) * 1000)))
  base <- sub("-+$", "", substr(base, 1, 63 - nchar(stamp) - 1))
  paste0(base, "-", stamp)
}

# `inputs` or `outputs` as a list of channel objects: a named character
# vector becomes one channel per element (the names naming them), a single
# channel a list of one.
as_channels <- function(channels, make, class, arg, what) {
  if (is.null(channels)) return(list())
  if (is.character(channels)) {
    names <- names(channels) %||% rep("", length(channels))
    channels <- unname(Map(function(path, name) make(path, name = if (nzchar(name)) name),
                           unname(channels), names))
  }
  if (inherits(channels, class)) channels <- list(channels)
  if (!is.list(channels) || !all(vapply(channels, inherits, logical(1), class))) {
    abort_argument(arg, sprintf("`%s` must be a list of %s() or a named character vector of %s.",
                                arg, sub("^sagesim_", "", class), what))
  }
  channels
}

normalise_inputs <- function(inputs) {
  inputs <- as_channels(inputs, processing_input, "sagesim_processing_input", "inputs", "sources")
  for (i in seq_along(inputs)) {
    input <- inputs[[i]]
    input$name <- input$name %||% sprintf("input-%d", i)
    input$destination <- input$destination %||% file.path("/opt/ml/processing/input", input$name)
    if (!is_s3_uri(input$source)) {
      if (!file.exists(input$source)) {
        abort_argument("inputs", sprintf("Input \"%s\": the local path \"%s\" does not exist.",
                                         input$name, input$source))
      }
      input$source <- normalizePath(input$source)
    }
    inputs[[i]] <- input
  }
  inputs
}

normalise_outputs <- function(outputs) {
  outputs <- as_channels(outputs, processing_output, "sagesim_processing_output", "outputs",
                         "container folders")
  for (i in seq_along(outputs)) {
    outputs[[i]]$name <- outputs[[i]]$name %||% sprintf("output-%d", i)
  }
  outputs
}

# The request's part of a plan, in sagesim's terms: the Rust core builds the
# SageMaker request from it (src/rust/aws/src/sagemaker.rs), and renders the
# processingjobconfig.json that local hosts read. Inputs and outputs must
# have their final S3 (or local) locations.
request_plan_json <- function(plan, role, inputs, outputs) {
  network <- plan$network
  request <- list(
    name = plan$name, role = role, image_uri = plan$image_uri %||% "local",
    entrypoint = as.list(plan$entrypoint), arguments = as.list(plan$arguments),
    instance_count = plan$instance_count, instance_type = plan$instance_type,
    volume_size_gb = plan$volume_size_gb, volume_kms_key = plan$volume_kms_key,
    max_runtime = plan$max_runtime,
    inputs = lapply(unname(inputs), function(input) input[c(
      "name", "source", "destination", "s3_data_type", "s3_input_mode",
      "s3_data_distribution_type", "s3_compression_type")]),
    outputs = lapply(unname(outputs), function(output) output[c(
      "name", "source", "destination", "s3_upload_mode")]),
    output_kms_key = plan$output_kms_key,
    env = as.list(plan$env),
    tags = unname(Map(function(key, value) list(key = key, value = value),
                      names(plan$tags), unname(plan$tags))),
    network = if (!is.null(network)) list(
      subnets = as.list(network$subnets), security_group_ids = as.list(network$security_group_ids),
      enable_network_isolation = network$enable_network_isolation,
      encrypt_inter_container_traffic = network$encrypt_inter_container_traffic)
  )
  request <- request[!vapply(request, is.null, logical(1))]
  # `{}`, not `[]`, for an empty environment.
  if (length(request$env) == 0) request$env <- NULL
  as.character(jsonlite::toJSON(request, auto_unbox = TRUE, digits = NA, null = "null"))
}
