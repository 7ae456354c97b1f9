# SageMaker jobs: submission (uploads, the request, cleanup when it fails),
# status, logs, stopping and outputs. The request itself is built by the
# Rust core from the plan (request_plan_json() in R/processing.R).

start_cloud_job <- function(plan, session) {
  role <- expand_role(plan$role, session) %||% session$role
  if (is.null(role)) {
    abort_argument("role", c(
      sprintf("No execution role: the caller %s is not an IAM role.", session$caller_arn),
      "Pass `role = \"arn:aws:iam::<account>:role/<name>\"` (or a role name) to submit_processing() or aws_session()."))
  }
  kms_key <- plan$kms_key %||% session$kms_key
  if (job_exists(session, plan$name)) {
    abort(sprintf("A processing job named %s already exists in %s; choose another `job_name`.",
                  plan$name, session$region),
          class = c("sagesim_job_exists", "sagesim_invalid_argument"), argument = "job_name",
          job_name = plan$name)
  }
  bucket <- ensure_bucket(session)
  job_prefix <- sprintf("s3://%s/%s", bucket, plan$name)
  uploading <- FALSE
  created <- FALSE
  config <- NULL
  # Whatever stops this submission before the job exists (an error, Ctrl-C)
  # removes what it uploaded, even part of a folder; a job whose creation
  # was interrupted is stopped.
  on.exit(if (!isTRUE(created)) {
    abandon_submission(session, plan$name, bucket, uploading,
                       maybe_created = if (is.na(created)) config)
  }, add = TRUE)

  inputs <- lapply(plan$inputs, function(input) {
    if (!is_s3_uri(input$source)) {
      prefix <- sprintf("%s/input/%s", plan$name, input$name)
      uploading <<- TRUE
      upload_local(session, bucket, prefix, input$source, kms_key)
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
  request <- request_plan_json(plan, role, inputs, outputs)
  config <- jsonlite::fromJSON(unwrap(job_config(request)), simplifyVector = FALSE)
  created <- NA # from here the job may exist even if the call does not return
  tryCatch(
    aws_request(session, "sagemaker:CreateProcessingJob", request, json = TRUE),
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
  job <- new_job(plan$name, "cloud", kind = plan$kind, outputs = outputs,
                 instance_count = plan$instance_count, instance_type = plan$instance_type,
                 arguments = plan$arguments, image_uri = plan$image_uri, role = role,
                 map_input = map_input_of(inputs), session = session)
  # What SageMaker reports for a job just created, so the handle prints it.
  job$last_status <- new_job_status(plan$name, "InProgress", creation_time = as.numeric(Sys.time()))
  job
}

# Where a map job's payload went (the source of its "map" input).
map_input_of <- function(inputs) {
  found <- Filter(function(input) identical(input$name, "map"), inputs)
  if (length(found) > 0) found[[1]]$source
}

# A role name becomes the ARN of that role in the session's account and
# partition, as the Python SDK expands `role = "MyRole"`.
expand_role <- function(role, session) {
  if (is.null(role) || grepl(role_pattern, role)) return(role)
  partition <- sub("^arn:([^:]+):.*$", "\\1", session$caller_arn %||% "arn:aws:")
  sprintf("arn:%s:iam::%s:role/%s", partition, session$account, role)
}

job_exists <- function(session, name) {
  tryCatch({
    aws_request(session, "sagemaker:DescribeProcessingJob", list(ProcessingJobName = name))
    TRUE
  }, sagesim_aws_ValidationException = function(e) FALSE,
  sagesim_aws_ResourceNotFound = function(e) FALSE)
}

upload_local <- function(session, bucket, prefix, path, kms_key = NULL) {
  if (dir.exists(path)) {
    aws_request(session, "s3:UploadDirectory",
                list(Bucket = bucket, Prefix = prefix, Path = path, KmsKeyId = kms_key))
  } else {
    aws_request(session, "s3:PutObjectFromFile",
                list(Bucket = bucket, Key = paste0(prefix, "/", basename(path)), Path = path,
                     KmsKeyId = kms_key))
  }
  invisible()
}

# Uploads go under `{job}/input/`, a prefix no one else writes to (the job
# name carries the time to the millisecond), so everything there is ours.
# `maybe_created`: NULL, or the job configuration (as described) of the
# request that may have created the job.
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

# Whether a described job is the one a request made: same role, image,
# entrypoint and arguments (with a name unique to the millisecond, a job
# that matches is ours; one that does not must never be stopped). Both are
# rendered by the same Rust code, so they compare field for field.
is_job_of_request <- function(described, config) {
  same <- function(a, b) identical(as.character(unlist(a)), as.character(unlist(b)))
  fields <- c("ImageUri", "ContainerEntrypoint", "ContainerArguments")
  same(described$RoleArn, config$RoleArn) &&
    all(vapply(fields, function(f) {
      same(described$AppSpecification[[f]], config$AppSpecification[[f]])
    }, logical(1)))
}

attach_cloud_job <- function(name, session) {
  description <- tryCatch(
    aws_request(session, "sagemaker:DescribeProcessingJob", list(ProcessingJobName = name)),
    sagesim_aws_ValidationException = function(e) {
      abort(sprintf("No processing job named %s in %s (%s).", name, session$region, e$aws_message),
            class = "sagesim_job_not_found", job_name = name)
    }
  )
  outputs <- lapply(description$ProcessingOutputConfig$Outputs, function(output) {
    list(name = output$OutputName, destination = output$S3Output$S3Uri,
         source = output$S3Output$LocalPath)
  })
  arguments <- as.character(unlist(description$AppSpecification$ContainerArguments))
  kind <- job_kind(unlist(description$AppSpecification$ContainerEntrypoint), arguments)
  inputs <- lapply(description$ProcessingInputs, function(input) {
    list(name = input$InputName, source = input$S3Input$S3Uri)
  })
  job <- new_job(name, "cloud", kind = kind, outputs = outputs, arguments = arguments,
                 image_uri = description$AppSpecification$ImageUri, role = description$RoleArn,
                 map_input = map_input_of(inputs), session = session)
  update_cloud_status(job, description)
  job
}

list_cloud_jobs <- function(session, n, name_contains, status) {
  reply <- aws_request(session, "sagemaker:ListProcessingJobs", list(
    MaxResults = n, SortBy = "CreationTime", SortOrder = "Descending",
    NameContains = name_contains, StatusEquals = status))
  lapply(reply$ProcessingJobSummaries, function(s) new_job_status(
    s$ProcessingJobName, s$ProcessingJobStatus, s$FailureReason, s$ExitMessage,
    creation_time = s$CreationTime, end_time = s$ProcessingEndTime))
}

update_cloud_status <- function(job, d) {
  cluster <- d$ProcessingResources$ClusterConfig
  if (!is.null(cluster)) {
    job$instance_count <- cluster$InstanceCount
    job$instance_type <- cluster$InstanceType
  }
  job$last_status <- new_job_status(
    job$name, d$ProcessingJobStatus, d$FailureReason, d$ExitMessage,
    creation_time = d$CreationTime, start_time = d$ProcessingStartTime,
    end_time = d$ProcessingEndTime)
  job$last_status
}

#' @export
job_status.sagesim_cloud_job <- function(job) {
  description <- aws_request(job$session, "sagemaker:DescribeProcessingJob",
                             list(ProcessingJobName = job$name))
  update_cloud_status(job, description)
}

#' @export
job_stop.sagesim_cloud_job <- function(job) {
  aws_request(job$session, "sagemaker:StopProcessingJob", list(ProcessingJobName = job$name))
  message(sprintf("Asked SageMaker to stop %s.", job$name))
  invisible(job)
}

#' @export
default_poll_interval.sagesim_cloud_job <- function(job) 5

#' @export
final_log_delay.sagesim_cloud_job <- function(job) 5

log_group <- "/aws/sagemaker/ProcessingJobs"

# Streams are named {job}/{host}-{epoch}; the host is what users recognise.
host_of_stream <- function(stream, job_name) {
  sub("-[0-9]+$", "", substring(stream, nchar(job_name) + 2))
}

cloud_log_lines <- function(job, cursors) {
  # (A log group not there yet is an empty list.)
  streams <- aws_request(job$session, "logs:DescribeLogStreams",
                         list(LogGroupName = log_group, LogStreamNamePrefix = paste0(job$name, "/")))
  lines <- list()
  for (stream in streams$LogStreams) {
    name <- stream$LogStreamName
    reply <- aws_request(job$session, "logs:GetLogEvents", list(
      LogGroupName = log_group, LogStreamName = name, NextToken = cursors[[name]],
      StartFromHead = TRUE))
    cursors[[name]] <- reply$NextForwardToken
    if (length(reply$Events) > 0) {
      lines[[length(lines) + 1]] <- log_lines(
        host = host_of_stream(name, job$name),
        time = vapply(reply$Events, function(e) e$Timestamp, numeric(1)),
        message = vapply(reply$Events, function(e) sub("\n$", "", e$Message), character(1)))
    }
  }
  list(lines = if (length(lines) > 0) do.call(rbind, lines) else log_lines(), cursors = cursors)
}

#' @export
poll_log_lines.sagesim_cloud_job <- function(job) {
  result <- cloud_log_lines(job, job$log_cursors)
  job$log_cursors <- result$cursors
  result$lines
}

#' @export
all_log_lines.sagesim_cloud_job <- function(job) {
  cloud_log_lines(job, list())$lines
}

#' @export
fetch_outputs.sagesim_cloud_job <- function(job, path) {
  for (output in job$outputs) {
    location <- parse_s3_uri(output$destination)
    aws_request(job$session, "s3:DownloadPrefix",
                list(Bucket = location$bucket, Prefix = paste0(sub("/+$", "", location$key), "/"),
                     Directory = file.path(path, output$name)))
  }
}
