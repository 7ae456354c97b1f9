# The channels and network settings of a processing job, as the SageMaker
# Python SDK's ProcessingInput, ProcessingOutput and NetworkConfig.

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
#' @param ... Not used: an argument these do not take is refused
#'   (`sagesim_unknown_argument`), naming the one meant.
#' @export
processing_input <- function(source, destination = NULL, name = NULL, s3_data_type = "S3Prefix",
                             s3_input_mode = "File",
                             s3_data_distribution_type = "FullyReplicated",
                             s3_compression_type = "None", ...) {
  check_unknown_arguments("processing_input", ...)
  check_string(source, "source")
  check_container_path(destination, "destination", null_ok = TRUE)
  check_string(name, "name", null_ok = TRUE, pattern = "^[a-zA-Z0-9_-]{1,64}$",
               expected = "letters, digits, underscores and hyphens, at most 64 (e.g. \"data-1\")")
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
#' @param ... Not used: an argument these do not take is refused
#'   (`sagesim_unknown_argument`), naming the one meant.
#' @export
processing_output <- function(source, destination = NULL, name = NULL,
                              s3_upload_mode = "EndOfJob", ...) {
  check_unknown_arguments("processing_output", ...)
  check_container_path(source, "source")
  check_string(destination, "destination", null_ok = TRUE)
  check_string(name, "name", null_ok = TRUE, pattern = "^[a-zA-Z0-9_-]{1,64}$",
               expected = "letters, digits, underscores and hyphens, at most 64 (e.g. \"data-1\")")
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
#' @param ... Not used: an argument these do not take is refused
#'   (`sagesim_unknown_argument`), naming the one meant.
#' @export
network_config <- function(subnets = NULL, security_group_ids = NULL,
                           enable_network_isolation = FALSE,
                           encrypt_inter_container_traffic = FALSE, ...) {
  check_unknown_arguments("network_config", ...)
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

#' @export
print.sagesim_processing_input <- function(x, ...) {
  cat(sprintf("<processing input> %s\n", x$name %||% "(named at submission)"))
  cat(sprintf("  source:       %s\n", x$source))
  cat(sprintf("  destination:  %s\n", x$destination %||% "/opt/ml/processing/input/<name>"))
  cat(sprintf("  mode:         %s, %s, %s%s\n", x$s3_data_type, x$s3_input_mode,
              x$s3_data_distribution_type,
              if (!identical(x$s3_compression_type, "None")) paste0(", ", x$s3_compression_type) else ""))
  invisible(x)
}

#' @export
print.sagesim_processing_output <- function(x, ...) {
  cat(sprintf("<processing output> %s\n", x$name %||% "(named at submission)"))
  cat(sprintf("  source:       %s\n", x$source))
  cat(sprintf("  destination:  %s\n", x$destination %||% "s3://{bucket}/{job}/output/<name> (or a local folder for local jobs)"))
  cat(sprintf("  upload:       %s\n", x$s3_upload_mode))
  invisible(x)
}

#' @export
print.sagesim_network_config <- function(x, ...) {
  cat("<network config>\n")
  if (length(x$subnets) > 0) {
    cat(sprintf("  subnets:          %s\n", paste(x$subnets, collapse = ", ")))
    cat(sprintf("  security groups:  %s\n", paste(x$security_group_ids, collapse = ", ")))
  } else {
    cat("  VPC:              none\n")
  }
  cat(sprintf("  network isolation: %s\n", if (x$enable_network_isolation) "on" else "off"))
  cat(sprintf("  inter-container encryption: %s\n", if (x$encrypt_inter_container_traffic) "on" else "off"))
  invisible(x)
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
