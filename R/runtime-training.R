# The stand-in for SageMaker's Training runtime, beside the Processing one
# (R/runtime.R), from a CreateTrainingJob request: each host's /opt/ml as a
# Training container has it, and its checkpoints, which SageMaker copies to
# CheckpointConfig.S3Uri during the job and back onto every host when an
# interrupted Spot job starts again. S3 URIs may be local folders (local
# jobs, tests). The commands are processing_runtime()'s (R/runtime-command.R).
#
# A host's /opt/ml:
#   input/data/<channel>/         the channel's files (sharded as Processing inputs are)
#   input/config/resourceconfig.json, hyperparameters.json, inputdataconfig.json
#   checkpoints/                  restored from CheckpointConfig.S3Uri
#   model/, output/data/          what SageMaker would tar and upload (empty here)
# and beside it, in the host's folder, checkpoint-sums.json: the files its
# last checkpoint or restore left in S3, so only new or changed ones go.

# Lays out every host's /opt/ml from `config` (the CreateTrainingJob
# request, JSON text); the request is kept in the job's folder (its
# Environment may hold the results key: readable by this user alone) for
# the hosts' run.sh to checkpoint and restore with.
stage_training_hosts <- function(config, dir, hosts, session = NULL) {
  request <- jsonlite::fromJSON(config, simplifyVector = FALSE)
  write_private_lines(config, training_request_file(dir))
  for (host in hosts) {
    root <- host_opt_ml(dir, host)
    input_config <- file.path(root, "input", "config")
    for (folder in c(input_config, file.path(root, "input", "data"), file.path(root, "model"),
                     file.path(root, "output", "data"))) {
      dir.create(folder, recursive = TRUE, showWarnings = FALSE)
    }
    write_json_file(list(current_host = host, hosts = as.list(hosts),
                         network_interface_name = "eth0"),
                    file.path(input_config, "resourceconfig.json"))
    write_json_file(lapply(request$HyperParameters %||% structure(list(), names = character()),
                           as.character),
                    file.path(input_config, "hyperparameters.json"))
    write_json_file(input_data_config(request), file.path(input_config, "inputdataconfig.json"))
    restore_checkpoints(request, dir, host, session)
  }
  for (channel in request$InputDataConfig) {
    stage_input(channel_as_input(channel), dir, hosts, session)
  }
  invisible(request)
}

# inputdataconfig.json as SageMaker writes it: each channel's mode and
# distribution by its name.
input_data_config <- function(request) {
  channels <- request$InputDataConfig
  config <- lapply(channels, function(channel) {
    list(TrainingInputMode = channel$InputMode %||% request$AlgorithmSpecification$TrainingInputMode %||%
           "File",
         S3DistributionType = channel$DataSource$S3DataSource$S3DataDistributionType %||%
           "FullyReplicated",
         RecordWrapperType = channel$RecordWrapperType %||% "None")
  })
  names(config) <- vapply(channels, `[[`, "", "ChannelName")
  if (length(config) == 0) structure(list(), names = character()) else config
}

# A channel in the form of a Processing input, staged the same way (its
# sharding rule is the same).
channel_as_input <- function(channel) {
  s3 <- channel$DataSource$S3DataSource
  list(InputName = channel$ChannelName,
       S3Input = list(S3Uri = s3$S3Uri,
                      LocalPath = paste0("/opt/ml/input/data/", channel$ChannelName),
                      S3DataDistributionType = s3$S3DataDistributionType %||% "FullyReplicated"))
}

# The host's checkpoint folder (CheckpointConfig.LocalPath, by default
# /opt/ml/checkpoints) on this machine.
checkpoint_folder <- function(request, dir, host) {
  local_container_path(host_opt_ml(dir, host),
                       request$CheckpointConfig$LocalPath %||% "/opt/ml/checkpoints")
}

checkpoint_sums_file <- function(dir, host) file.path(host_dir(dir, host), "checkpoint-sums.json")

# The files under `folder`, by relative path, and their MD5 sums.
folder_sums <- function(folder) {
  relative <- list.files(folder, recursive = TRUE, all.files = TRUE)
  sums <- if (length(relative) > 0) unname(tools::md5sum(file.path(folder, relative))) else character()
  stats::setNames(as.list(sums), relative)
}

# Copies the host's new or changed checkpoint files to
# CheckpointConfig.S3Uri (all hosts share it: their files' names differ).
# Returns the relative paths copied.
save_checkpoints <- function(request, dir, host, session = NULL) {
  destination <- request$CheckpointConfig$S3Uri
  folder <- checkpoint_folder(request, dir, host)
  if (is.null(destination) || !dir.exists(folder)) return(invisible(character()))
  sums <- folder_sums(folder)
  if (is_s3_uri(destination)) {
    known <- if (file.exists(checkpoint_sums_file(dir, host))) {
      jsonlite::fromJSON(checkpoint_sums_file(dir, host), simplifyVector = FALSE)
    }
    changed <- names(sums)[!vapply(names(sums), function(f) identical(known[[f]], sums[[f]]), TRUE)]
    location <- parse_s3_uri(destination)
    session <- default_session(session)
    for (file in changed) {
      aws_request(session, "s3:PutObjectFromFile",
                  list(Bucket = location$bucket, Key = paste0(s3_folder_key(location$key), file),
                       Path = file.path(folder, file)))
    }
    write_json_file(utils::modifyList(known %||% list(), sums), checkpoint_sums_file(dir, host))
  } else {
    changed <- names(sums)[vapply(names(sums), function(f) {
      target <- file.path(destination, f)
      !file.exists(target) || !identical(unname(tools::md5sum(target)), sums[[f]])
    }, TRUE)]
    for (file in changed) {
      target <- file.path(destination, file)
      dir.create(dirname(target), recursive = TRUE, showWarnings = FALSE)
      if (!file.copy(file.path(folder, file), target, overwrite = TRUE)) {
        abort(sprintf("Could not copy checkpoint %s to %s.", file, destination),
              class = "sagesim_local_job_error")
      }
    }
  }
  invisible(changed)
}

# Empties the host's checkpoint folder and fills it from
# CheckpointConfig.S3Uri (every host's files), as SageMaker does when a job
# starts or an interrupted one starts again.
restore_checkpoints <- function(request, dir, host, session = NULL) {
  folder <- checkpoint_folder(request, dir, host)
  unlink(folder, recursive = TRUE)
  dir.create(folder, recursive = TRUE, showWarnings = FALSE)
  source <- request$CheckpointConfig$S3Uri
  if (is.null(source)) return(invisible(folder))
  if (is_s3_uri(source)) {
    location <- parse_s3_uri(source)
    aws_request(default_session(session), "s3:DownloadPrefix",
                list(Bucket = location$bucket, Prefix = s3_folder_key(location$key),
                     Directory = folder))
    write_json_file(folder_sums(folder), checkpoint_sums_file(dir, host))
  } else if (dir.exists(source)) {
    copy_into(source, folder)
  }
  invisible(folder)
}

# A key prefix as a folder: "a/b" is "a/b/" (never "a/bc"), "" stays "".
s3_folder_key <- function(key) if (nzchar(key)) sub("/*$", "/", key) else ""
