# The stand-in for SageMaker's Processing runtime, written once: it lays out
# each host's /opt/ml as SageMaker does (config files, staged inputs, empty
# output folders) from the job's request, and delivers the outputs at the
# end. Local jobs use it (R/job-local.R); so do the tests' played cloud
# hosts (tests/testthat/fixtures/moto_launcher.py) and the container check
# (tools/container/check.sh), through processing_runtime() (R/runtime-command.R).
# A Training job's hosts: R/runtime-training.R.
#
# A job's folder:
#   {dir}/job.json                the job record (local jobs)
#   {dir}/hosts/{host}/opt/ml/    the host's /opt/ml
#   {dir}/hosts/{host}/run.sh     how it runs (R/runners.R), its pid, log, exit_code
#
# The sharding rule (ShardedByS3Key), as SageMaker divides objects: the
# input's objects (or a local folder's files), in key order by bytes, are
# dealt to the hosts in turn: object k (from 1) goes to host ((k - 1) mod n) + 1.
# A FullyReplicated input goes whole to every host.

# Lays out every host's /opt/ml from `config` (the request as
# processingjobconfig.json holds it, JSON text). Inputs that the job's own
# folder already holds (a map's payload) are linked, not copied, into each
# host.
stage_hosts <- function(config, dir, hosts, session = NULL) {
  request <- jsonlite::fromJSON(config, simplifyVector = FALSE)
  for (host in hosts) {
    root <- host_opt_ml(dir, host)
    dir.create(file.path(root, "config"), recursive = TRUE, showWarnings = FALSE)
    dir.create(file.path(root, "output"), recursive = TRUE, showWarnings = FALSE)
    write_json_file(list(current_host = host, hosts = as.list(hosts)),
                    file.path(root, "config", "resourceconfig.json"))
    writeLines(config, file.path(root, "config", "processingjobconfig.json"))
    for (output in request$ProcessingOutputConfig$Outputs) {
      dir.create(local_container_path(root, output$S3Output$LocalPath), recursive = TRUE,
                 showWarnings = FALSE)
    }
  }
  for (input in request$ProcessingInputs) stage_input(input, dir, hosts, session)
  invisible(request)
}

write_json_file <- function(x, path) {
  writeLines(jsonlite::toJSON(x, auto_unbox = TRUE, pretty = TRUE, digits = NA, null = "null"),
             path)
}

stage_input <- function(input, dir, hosts, session) {
  s3 <- input$S3Input
  targets <- vapply(hosts, function(h) local_container_path(host_opt_ml(dir, h), s3$LocalPath),
                    character(1))
  for (target in targets) dir.create(target, recursive = TRUE, showWarnings = FALSE)
  sharded <- identical(s3$S3DataDistributionType, "ShardedByS3Key")
  source <- s3$S3Uri
  download <- NULL
  if (is_s3_uri(source)) {
    location <- parse_s3_uri(source)
    download <- file.path(dir, "s3-inputs", input$InputName)
    on.exit(unlink(download, recursive = TRUE), add = TRUE)
    reply <- aws_request(default_session(session), "s3:DownloadPrefix",
                         list(Bucket = location$bucket, Prefix = location$key, Directory = download))
    if (length(reply$Files) == 0) {
      abort_argument("inputs", sprintf("Input \"%s\": nothing found at %s.", input$InputName, source))
    }
    files <- normalizePath(vapply(reply$Files, `[[`, character(1), "Path"))
    relative <- substring(files, nchar(normalizePath(download)) + 2)
  } else if (dir.exists(source)) {
    relative <- list.files(source, recursive = TRUE, all.files = TRUE)
    files <- file.path(source, relative)
  } else {
    relative <- basename(source)
    files <- source
  }
  order <- order(relative, method = "radix")
  link <- is.null(download) && startsWith(normalizePath(source), normalizePath(dir))
  distribute_files(files[order], relative[order], targets, sharded, link)
}

# Each file to every host, or (ShardedByS3Key) file k to host ((k - 1) mod n) + 1.
distribute_files <- function(files, relative, targets, sharded, link = FALSE) {
  for (k in seq_along(files)) {
    chosen <- if (sharded) targets[[(k - 1) %% length(targets) + 1]] else targets
    for (target in chosen) {
      destination <- file.path(target, relative[[k]])
      dir.create(dirname(destination), recursive = TRUE, showWarnings = FALSE)
      placed <- (link && suppressWarnings(file.link(files[[k]], destination))) ||
        file.copy(files[[k]], destination, overwrite = TRUE)
      if (!placed) {
        abort(sprintf("Could not copy %s into the job's folder %s.", files[[k]], target),
              class = "sagesim_local_job_error")
      }
    }
  }
}

# Once every host succeeded, each output's files from every host go to its
# destination (a folder, or S3 encrypted with `kms_key`). Where hosts wrote
# files of the same name, the last host's copy is kept, as SageMaker keeps
# the last object written to a key, with a warning naming them. When the job
# failed (`failed`), only Continuous outputs go: SageMaker uploads those as
# they are written, so what the hosts wrote before the end is there; here it
# is delivered at the end, which is when the stand-in differs.
deliver_outputs <- function(config, dir, hosts, session = NULL, kms_key = NULL, failed = FALSE) {
  request <- jsonlite::fromJSON(config, simplifyVector = FALSE)
  for (output in request$ProcessingOutputConfig$Outputs) {
    s3 <- output$S3Output
    if (failed && !identical(s3$S3UploadMode, "Continuous")) next
    sources <- vapply(hosts, function(h) local_container_path(host_opt_ml(dir, h), s3$LocalPath),
                      character(1))
    sources <- sources[dir.exists(sources)]
    warn_overwritten_outputs(output$OutputName, sources)
    destination <- s3$S3Uri
    if (is_s3_uri(destination)) {
      location <- parse_s3_uri(destination)
      session <- default_session(session)
      for (source in sources) {
        aws_request(session, "s3:UploadDirectory",
                    list(Bucket = location$bucket, Prefix = sub("/+$", "", location$key),
                         Path = source,
                         KmsKeyId = request$ProcessingOutputConfig$KmsKeyId %||% kms_key %||%
                           session$kms_key))
      }
    } else {
      dir.create(destination, recursive = TRUE, showWarnings = FALSE)
      for (source in sources) copy_into(source, destination)
    }
  }
  invisible()
}

warn_overwritten_outputs <- function(output, sources) {
  files <- lapply(sources, function(s) list.files(s, recursive = TRUE, all.files = TRUE))
  owners <- split(rep(names(sources), lengths(files)), unlist(files))
  shared <- owners[lengths(owners) > 1]
  if (length(shared) == 0) return(invisible())
  text <- vapply(names(shared), function(file) {
    sprintf("%s (written by %s; %s's copy kept)", file, paste(shared[[file]], collapse = ", "),
            utils::tail(shared[[file]], 1))
  }, character(1))
  warning(structure(class = c("sagesim_output_overwritten", "warning", "condition"), list(
    message = sprintf(paste0("Output \"%s\": several hosts wrote the same file, and only one copy ",
                             "is kept, as SageMaker keeps the last object written to a key: %s. ",
                             "Give each host's file its own name (e.g. with its host name)."),
                      output, paste(text, collapse = "; ")),
    call = NULL, output = output, files = names(shared), hosts = shared)))
}
