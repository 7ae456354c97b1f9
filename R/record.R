# The job record: what a job is, written once when it is submitted and read
# back by everything that follows it (attach, list, print, collect,
# resubmit), for local and SageMaker jobs alike. Its format is defined,
# checked, written and read by the Rust core (src/rust/aws/src/record.rs);
# R makes it from a plan and reads its fields. A local job keeps it in its
# folder (`job.json`), a SageMaker job beside its inputs in S3.

# The record of a planned job whose inputs and outputs are where they really
# are (`inputs`, `outputs`: channel lists with final sources and
# destinations), as canonical JSON text checked by the core.
new_job_record <- function(plan, role, inputs, outputs, default_destinations, runner = NULL,
                           created = Sys.time()) {
  settings <- plan$settings
  network <- settings$network
  work <- plan$work
  if (identical(work$kind, "map")) {
    payload <- Filter(function(i) identical(i$name, "map"), inputs)[[1]]$source
    work$payload <- paste0(sub("/+$", "", payload), "/", map_payload_file)
  }
  compact <- function(x) x[!vapply(x, is.null, logical(1))]
  request <- compact(list(
    name = plan$name, role = role, image_uri = settings$image_uri %||% "local",
    entrypoint = as.list(work$entrypoint), arguments = as.list(work$arguments),
    instance_count = settings$instance_count, instance_type = settings$instance_type,
    volume_size_gb = settings$volume_size_gb, volume_kms_key = settings$volume_kms_key,
    max_runtime = settings$max_runtime,
    inputs = lapply(unname(inputs), function(input) input[c(
      "name", "source", "destination", "s3_data_type", "s3_input_mode",
      "s3_data_distribution_type", "s3_compression_type")]),
    outputs = lapply(unname(outputs), function(output) output[c(
      "name", "source", "destination", "s3_upload_mode")]),
    output_kms_key = settings$output_kms_key,
    env = if (length(settings$env) > 0) as.list(settings$env),
    tags = unname(Map(function(key, value) list(key = key, value = value),
                      names(settings$tags), unname(settings$tags))),
    network = if (!is.null(network)) list(
      subnets = as.list(network$subnets), security_group_ids = as.list(network$security_group_ids),
      enable_network_isolation = network$enable_network_isolation,
      encrypt_inter_container_traffic = network$encrypt_inter_container_traffic),
    training = plan$training
  ))
  record <- compact(list(
    format = "sagesim-job/1",
    sagesim_version = as.character(utils::packageVersion("sagesim")),
    created = as.numeric(created),
    work = work_json(work),
    plan = request,
    upload_kms_key = settings$kms_key,
    default_destinations = as.list(default_destinations),
    hosts = if (!is.null(runner)) lapply(runner, function(x) if (length(x) > 1) as.list(x) else x),
    resubmission_of = plan$resubmission_of,
    retries = settings$retries,
    attempts = lapply(plan$attempts, function(a) a[!vapply(a, is.null, logical(1))])
  ))
  if (!is.null(record$hosts$tried)) record$hosts$tried <- as.list(unname(record$hosts$tried))
  json <- jsonlite::toJSON(record, auto_unbox = TRUE, digits = NA, null = "null")
  read_job_record(unwrap(job_record_check(as.character(json))))
}

# What a job computes, in the record's terms.
work_json <- function(work) {
  switch(work$kind,
    script = list(kind = "script", code = work$code),
    simulation = list(kind = "simulation", spec = c(
      unclass(work$simulation)[c("x_length", "y_length", "num_people", "distance")],
      list(seed = format_number(work$simulation$seed),
           max_iterations = work$simulation$max_iterations))),
    sweep = list(kind = "sweep", grid = c(
      lapply(work$simulation$axes, function(values) as.list(values)),
      list(seed = format_number(work$simulation$seed)))),
    map = list(kind = "map", elements = work$elements, seed = work$seed, payload = work$payload)
  )
}

# A record as R reads it: the fields (a list), with its canonical JSON kept
# (`json`), which is what goes back to the core (requests, files).
read_job_record <- function(json) {
  record <- jsonlite::fromJSON(json, simplifyVector = FALSE)
  structure(c(record, list(json = json)), class = "sagesim_job_record")
}

# Local jobs keep their record in their folder; the core writes and reads it.
write_record_file <- function(record, path) invisible(unwrap(job_record_write(path, record$json)))
read_record_file <- function(path) read_job_record(unwrap(job_record_read(path)))

# The request the record's plan makes, as its hosts see it in
# /opt/ml/config/processingjobconfig.json (JSON text).
record_job_config <- function(record) unwrap(job_config(record$json))

record_kind <- function(record) record$work$kind

record_hosts <- function(record) host_names(record$plan$instance_count)

# The outputs as handles show them: name, container folder, destination.
record_outputs <- function(record) {
  lapply(record$plan$outputs, function(o) list(name = o$name, source = o$source,
                                               destination = o$destination))
}

# A simulation or sweep job's simulation_spec() or simulation_grid().
record_simulation <- function(record) {
  work <- record$work
  number <- function(x) as.numeric(unlist(x))
  if (identical(work$kind, "simulation")) {
    spec <- work$spec
    return(new_spec(number(spec$x_length), number(spec$y_length), number(spec$num_people),
                    number(spec$max_iterations), number(spec$distance), number(spec$seed)))
  }
  if (identical(work$kind, "sweep")) {
    axes <- lapply(work$grid[axis_fields], number)
    return(new_grid(axes, number(work$grid$seed)))
  }
  NULL
}

# The channels that come with a job's work (its code, its payload, the
# results it writes), as opposed to those the user gave.
work_channel_names <- list(
  script = list(inputs = "code", outputs = character()),
  simulation = list(inputs = character(), outputs = "simulation"),
  sweep = list(inputs = character(), outputs = "simulation"),
  map = list(inputs = "map", outputs = "map")
)

# The settings a job ran with, as plan_job() takes them: every setting the
# record holds, the user's own inputs where they are now (uploaded ones in
# S3) and outputs whose destination sagesim chose left to be chosen again.
record_settings <- function(record) {
  plan <- record$plan
  own <- work_channel_names[[record_kind(record)]]
  local <- identical(plan$instance_type, "local")
  strings <- function(x) if (length(x) > 0) as.character(unlist(x))
  named <- function(x) if (length(x) > 0) unlist(x)
  inputs <- Filter(function(i) !i$name %in% own$inputs, plan$inputs)
  outputs <- Filter(function(o) !o$name %in% own$outputs, plan$outputs)
  defaulted <- unlist(record$default_destinations)
  network <- plan$network
  list(
    image_uri = if (!(local && identical(plan$image_uri, "local"))) plan$image_uri,
    role = if (!(local && identical(plan$role, "local"))) plan$role,
    instance_count = plan$instance_count,
    instance_type = plan$instance_type,
    volume_size_gb = plan$volume_size_gb,
    max_runtime = plan$max_runtime,
    inputs = lapply(inputs, function(i) do.call(processing_input, i)),
    outputs = lapply(outputs, function(o) {
      processing_output(o$source, destination = if (!o$name %in% defaulted) o$destination,
                        name = o$name, s3_upload_mode = o$s3_upload_mode)
    }),
    env = named(plan$env),
    tags = if (length(plan$tags) > 0) {
      stats::setNames(vapply(plan$tags, `[[`, "", "value"), vapply(plan$tags, `[[`, "", "key"))
    },
    network = if (!is.null(network)) {
      network_config(subnets = strings(network$subnets),
                     security_group_ids = strings(network$security_group_ids),
                     enable_network_isolation = network$enable_network_isolation,
                     encrypt_inter_container_traffic = network$encrypt_inter_container_traffic)
    },
    volume_kms_key = plan$volume_kms_key,
    output_kms_key = plan$output_kms_key,
    kms_key = record$upload_kms_key,
    retries = record$retries,
    spot = isTRUE(plan$training$spot),
    max_wait = plan$training$max_wait,
    keep_alive = plan$training$keep_alive
  )
}

# The work a record describes, ready to be planned again (a whole rerun).
record_work <- function(record) {
  plan <- record$plan
  kind <- record_kind(record)
  own <- work_channel_names[[kind]]
  inputs <- Filter(function(i) i$name %in% own$inputs, plan$inputs)
  outputs <- Filter(function(o) o$name %in% own$outputs, plan$outputs)
  list(
    kind = kind,
    entrypoint = as.character(unlist(plan$entrypoint)),
    arguments = as.character(unlist(plan$arguments)),
    base_default = job_base_name(plan$name),
    inputs = lapply(inputs, function(i) do.call(processing_input, i)),
    outputs = lapply(outputs, function(o) {
      processing_output(o$source, name = o$name, s3_upload_mode = o$s3_upload_mode)
    }),
    code = record$work$code,
    simulation = record_simulation(record)
  )
}

# The base a job's name was made from (`{base}-{YYYY-MM-DD-HH-MM-SS-mmm}`).
job_base_name <- function(name) {
  sub("-[0-9]{4}(-[0-9]{2}){5}-[0-9]{3}$", "", name)
}
