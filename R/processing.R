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
#' @param role Execution role: an IAM role ARN, or a role name with its
#'   path, if any (`"service-role/MyRole"`), completed with the session's
#'   account; default the session's role ([aws_session()]).
#' @param command The command that runs `code` (default `"Rscript"`).
#' @param arguments Character vector passed to the script (at most 256, each
#'   at most 256 characters).
#' @param instance_count Number of hosts (1 to 100).
#' @param instance_type An `ml.*` instance type for SageMaker, or `"local"`
#'   to run the job on this machine; default
#'   `getOption("sagesim.instance_type", "local")`, so nothing runs (or costs)
#'   in the cloud unless asked: set the option to, say, `"ml.m5.xlarge"` to
#'   make SageMaker the default.
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
#' @param retries How many times [job_wait()] runs the job again when the
#'   cloud fails it, not its code: no capacity, an internal error, a host
#'   lost (see `vignette("own-code", package = "sagesim")`); default
#'   `getOption("sagesim.retries", 2)`.
#' @param spot `TRUE` runs the job on Spot capacity (a SageMaker Training
#'   job with managed Spot: often far cheaper, but it may wait for capacity
#'   and be interrupted). What each host finishes is kept in the job's
#'   checkpoints as it goes, so an interrupted host goes on where it was and
#'   the results are the same. See [spot_and_warm_pools].
#' @param max_wait With `spot`, the seconds the job may take in all,
#'   waiting for capacity and running (at least `max_runtime`; default twice
#'   `max_runtime`). A job that gets no capacity in that time is retried
#'   (`retries`).
#' @param keep_alive Seconds (1 to 3600) to keep the job's instances after
#'   it ends as a warm pool, which the next job with the same settings
#'   reuses, starting in seconds instead of minutes; on demand only (not
#'   with `spot`), and the account's warm-pool quota must allow it. See
#'   [spot_and_warm_pools].
#' @param wait Wait for the job to finish (`FALSE` returns at once; pick the
#'   job up later with [job_attach()], even from a new R session).
#' @param logs Stream the job's logs while waiting.
#' @param session An [aws_session()]; default one from the standard chain.
#' @param estimate `TRUE` returns what the job would cost instead of
#'   submitting it (a `sagesim_estimate`: instance-hours, dollars, and how
#'   they were estimated), creating nothing: no local folder, no AWS request.
#'   A simulation or sweep is estimated from its work (people x iterations of
#'   each cell, each room timed on a few iterations here, once per R
#'   session), the instance type's vCPUs and a start-up allowance per host
#'   (`getOption("sagesim.startup_seconds", 180)` on SageMaker,
#'   `getOption("sagesim.local_startup_seconds", 0.3)` per host locally); a script as
#'   the hourly price times `max_runtime` on every host, an upper bound,
#'   with beside it the likely cost if it runs as long as its latest
#'   completed local run did here. Prices come from [sagemaker_prices()].
#' @param budget A limit in US dollars: a SageMaker job whose estimate
#'   exceeds it (or whose price is unknown) is refused with a
#'   `sagesim_over_budget` error before anything is uploaded or created.
#'   Default `getOption("sagesim.budget")` (`NULL`: no limit).
#' @return A job handle (`sagesim_job`), see [job_status()]; with `estimate =
#'   TRUE`, a `sagesim_estimate`.
#' @examples
#' \dontrun{
#' # A script, as ScriptProcessor did:
#' job <- submit_processing(code = "analysis.R", image_uri = uri, role = "SageMakerRole",
#'                          instance_type = "ml.m5.xlarge", arguments = c("--n", "10"))
#' # The built-in simulation on two hosts, merged on collection:
#' job <- submit_processing(simulation = simulation_spec(1000, 1000, 1000, 1e6, seed = 42),
#'                          image_uri = uri, instance_count = 2, instance_type = "ml.c5.xlarge")
#' job_collect(job)
#' }
#' # Locally, as two hosts, with no AWS at all:
#' old <- options(sagesim.job_dir = tempfile("sagesim-example-"))  # where local jobs keep their files
#' job <- submit_processing(simulation = simulation_spec(1000, 1000, 1000, 200, seed = 1),
#'                          instance_type = "local", instance_count = 2, logs = FALSE)
#' job_collect(job)
#' # How long a bigger run would take here, without running it (nothing is created):
#' submit_processing(simulation = simulation_spec(1000, 1000, 1000, 1e6, seed = 1),
#'                   instance_type = "local", instance_count = 2, estimate = TRUE)
#' \dontrun{
#' # What it would cost on four ml.m5.xlarge instances; refused if over $1:
#' submit_processing(simulation = simulation_spec(1000, 1000, 1000, 1e8, seed = 1),
#'                   image_uri = uri, instance_count = 4, instance_type = "ml.m5.xlarge",
#'                   estimate = TRUE)
#' job <- submit_processing(simulation = simulation_spec(1000, 1000, 1000, 1e8, seed = 1),
#'                          image_uri = uri, instance_count = 4,
#'                          instance_type = "ml.m5.xlarge", budget = 1)
#' job_cost(job)
#' }
#' unlink(getOption("sagesim.job_dir"), recursive = TRUE)
#' options(old)
#' @param ... Not used: an argument these do not take is refused
#'   (`sagesim_unknown_argument`), naming the one meant.
#' @export
submit_processing <- function(code = NULL, simulation = NULL, image_uri = NULL, role = NULL,
                              command = "Rscript", arguments = NULL, instance_count = 1,
                              instance_type = getOption("sagesim.instance_type", "local"),
                              volume_size_gb = 30,
                              max_runtime = 86400, base_job_name = NULL, job_name = NULL,
                              inputs = NULL, outputs = NULL, env = NULL, tags = NULL,
                              network = NULL, volume_kms_key = NULL, output_kms_key = NULL,
                              kms_key = NULL, retries = getOption("sagesim.retries", 2),
                              spot = FALSE, max_wait = NULL, keep_alive = NULL, wait = TRUE, logs = TRUE, session = NULL, estimate = FALSE,
                              budget = getOption("sagesim.budget"), ...) {
  check_unknown_arguments("submit_processing", ...)
  work <- processing_work(code, simulation, image_uri, command, arguments)
  settings <- list(image_uri = image_uri, role = role, instance_count = instance_count,
                   instance_type = instance_type, volume_size_gb = volume_size_gb,
                   max_runtime = max_runtime, inputs = inputs, outputs = outputs, env = env,
                   tags = tags, network = network, volume_kms_key = volume_kms_key,
                   output_kms_key = output_kms_key, kms_key = kms_key, retries = retries,
                   spot = spot, max_wait = max_wait, keep_alive = keep_alive)
  if (identical(instance_type, "local") && is.null(image_uri) && !is.null(code) &&
      !is_s3_uri(code) && file.exists(code)) {
    check_local_packages(script_packages(code), sprintf("The script %s", basename(code)))
  }
  plan <- plan_job(work, settings, base_job_name = base_job_name, job_name = job_name)
  start_job(plan, wait = wait, logs = logs, session = session, estimate = estimate, budget = budget)
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
      # Uploaded as written: a host that is lost leaves the other hosts' results.
      outputs = list(processing_output(simulation_output_dir, name = "simulation",
                                       s3_upload_mode = "Continuous")),
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
    outputs = list(),
    code = source
  )
}

code_dir <- "/opt/ml/processing/input/code"
simulation_output_dir <- "/opt/ml/processing/output/simulation"
