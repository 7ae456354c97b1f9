# SageMaker jobs: submission (uploads, the record, the request, cleanup when
# it fails), attaching, listing, status, logs, stopping and outputs. The
# request itself is rendered by the Rust core from the job's record.

cloud_backend <- function() {
  new_backend("SageMaker", start = function(plan, session) start_cloud_job(plan, default_session(session)),
              attach = function(name, session) attach_cloud_job(name, cloud_session(session)),
              list = function(n, name_contains, status, details, session) {
                list_cloud_jobs(cloud_session(session), n, name_contains, status, details)
              },
              where = function(session) "no SageMaker job of that name")
}

# The session for asking SageMaker about jobs; when no AWS account is
# configured at all, the backend is unavailable rather than an error.
cloud_session <- function(session) {
  tryCatch(default_session(session), sagesim_aws_error = function(e) {
    if (identical(e$error_kind, "config") || inherits(e, "sagesim_no_credentials")) {
      backend_unavailable(sprintf("SageMaker cannot be asked (%s)",
                                  sub("\\.$", "", conditionMessage(e)[[1]])))
    }
    stop(e)
  })
}

start_cloud_job <- function(plan, session) {
  settings <- plan$settings
  role <- role_needed(settings$role, session)
  kms_key <- settings$kms_key %||% session$kms_key
  settings$kms_key <- kms_key
  plan$settings <- settings
  # (SageMaker keeps a name per kind of job: only this kind is asked.)
  kind <- if (training_settings(settings)) "training" else "processing"
  if (job_exists(session, kind, plan$name)) {
    abort(sprintf("A SageMaker %s named %s already exists in %s; choose another `job_name`.",
                  sagemaker_kinds[[kind]]$noun, plan$name, session$region),
          class = c("sagesim_job_exists", "sagesim_invalid_argument"), argument = "job_name",
          job_name = plan$name)
  }
  bucket <- ensure_bucket(session)
  job_prefix <- sprintf("s3://%s/%s", bucket, plan$name)
  plan$training <- training_plan(settings, job_prefix) # R/job-kinds.R
  uploading <- FALSE
  created <- FALSE
  record <- NULL
  # Whatever stops this submission before the job exists (an error, Ctrl-C)
  # removes what it uploaded (the record too), even part of a folder; a job
  # whose creation was interrupted is stopped.
  on.exit(if (!isTRUE(created)) {
    abandon_submission(session, plan$name, bucket, uploading,
                       maybe_created = if (is.na(created)) {
                         jsonlite::fromJSON(record_job_config(record), simplifyVector = FALSE)
                       })
  }, add = TRUE)

  inputs <- lapply(plan$inputs, function(input) {
    if (!is_s3_uri(input$source)) {
      prefix <- sprintf("%s/input/%s", plan$name, input$name)
      uploading <<- TRUE
      upload_local(session, bucket, prefix, input$source, kms_key, what = input$name)
      input$source <- if (input$name == "code" || !dir.exists(input$source)) {
        sprintf("s3://%s/%s/%s", bucket, prefix, basename(input$source))
      } else {
        sprintf("s3://%s/%s", bucket, prefix)
      }
    }
    input
  })
  defaulted <- vapply(Filter(function(o) is.null(o$destination), plan$outputs), `[[`, "", "name")
  outputs <- lapply(plan$outputs, function(output) {
    output$destination <- output$destination %||% if (!is.null(plan$training)) {
      training_output_destination(plan$training, output$name)
    } else {
      sprintf("%s/output/%s", job_prefix, output$name)
    }
    output
  })
  record <- new_job_record(plan, role, inputs, outputs, defaulted)
  key <- plan_results_key(plan)
  # The record goes beside the inputs, encrypted as they are, before the job
  # exists: a job sagesim created always has one.
  uploading <- TRUE
  upload_record(session, bucket, record, kms_key)
  repeat {
    created <- NA # from here the job may exist even if the call does not return
    refused <- tryCatch({
      aws_request(session, sagemaker_kinds[[kind]]$create, with_results_key(record$json, key),
                  json = TRUE)
      NULL
    },
    sagesim_aws_ResourceLimitExceeded = function(e) {
      if (!is.null(plan$training$keep_alive) && grepl("warm pool", e$aws_message %||% "")) {
        created <<- FALSE
        abort_warm_pool_quota(plan, e)
      }
      e
    },
    sagesim_aws_error = function(e) {
      # The service refused the request (4xx): no job to clean up. But "name
      # in use" can answer a retry whose first attempt created the job (its
      # reply lost), and after a server fault or a lost connection the job
      # may exist too: abandon_submission() looks, and stops it if it is ours.
      refused <- identical(e$error_kind, "service") && isTRUE(e$http_status < 500) &&
        !identical(e$code, "ResourceInUse")
      if (refused) {
        created <<- FALSE
      } else if (created_by_request(session, plan$name, record, kind)) {
        # The job exists and is this very request's: the reply was lost, not
        # the job. It is this submission's; a second is never made.
        message(sprintf("The reply to the creation of %s was lost; the job it created is used.",
                        plan$name))
        return(NULL)
      }
      stop(e)
    })
    if (is.null(refused)) break
    # The account's instance limit is smaller than the job: nothing was created.
    created <- FALSE
    plan <- fewer_hosts(plan, refused)
    record <- new_job_record(plan, role, inputs, outputs, defaulted)
    upload_record(session, bucket, record, kms_key)
  }
  created <- TRUE
  job <- new_job(plan$name, "cloud", record, session = session, results_key = key,
                 request_arguments = record$plan$arguments, sagemaker_kind = kind)
  # What SageMaker reports for a job just created, so the handle prints it.
  job$last_status <- new_job_status(plan$name, "InProgress", creation_time = as.numeric(Sys.time()))
  job
}

# A simulation, sweep or map job refused for the account's instance limit
# runs on as many hosts as the limit leaves (its results do not depend on
# their number), saying so; a script job, whose hosts may each matter, stops.
fewer_hosts <- function(plan, refusal) {
  numbers <- regmatches(refusal$aws_message, regexec(
    "'([^']*)' is ([0-9]+) Instances?, with current utilization of ([0-9]+) Instances?",
    refusal$aws_message))[[1]]
  quota <- if (length(numbers) == 4) sprintf("'%s'", numbers[[2]]) else "of instances"
  limit <- if (length(numbers) == 4) as.integer(numbers[[3]]) else NA_integer_
  available <- if (length(numbers) == 4) limit - as.integer(numbers[[4]]) else NA_integer_
  wanted <- plan$settings$instance_count
  raise <- sprintf("Ask for more in the Service Quotas console (Amazon SageMaker, %s), or with `aws service-quotas request-service-quota-increase --service-code sagemaker`.", quota)
  if (identical(plan$work$kind, "script") || is.na(available) || available < 1) {
    abort(c(sprintf("The account's quota %s is too small for job %s's %d instance%s: %s",
                    quota, plan$name, wanted, if (wanted == 1) "" else "s", refusal$aws_message),
            if (identical(plan$work$kind, "script")) "A script job runs on the hosts it was given: give it fewer (`instance_count`), or raise the quota.",
            raise),
          class = "sagesim_quota_exceeded", job_name = plan$name, quota = quota, limit = limit)
  }
  hosts <- min(available, wanted)
  warning(structure(class = c("sagesim_quota_reduced", "warning", "condition"), list(
    message = sprintf("The account's quota %s is %d instance%s (%d free): job %s runs on %d host%s instead of %d; its results are the same. %s",
                      quota, limit, if (limit == 1) "" else "s", available, plan$name,
                      hosts, if (hosts == 1) "" else "s", wanted, raise),
    call = NULL, job_name = plan$name, quota = quota, limit = limit, instance_count = hosts)))
  plan$settings$instance_count <- hosts
  plan
}

upload_record <- function(session, bucket, record, kms_key) {
  file <- tempfile("sagesim-job-", fileext = ".json")
  on.exit(unlink(file), add = TRUE)
  write_record_file(record, file)
  key <- job_record_key(record$plan$name)
  aws_request(session, "s3:PutObjectFromFile", list(Bucket = bucket, Key = key, Path = file,
                                                      KmsKeyId = kms_key))
  invisible(sprintf("s3://%s/%s", bucket, key))
}

# The record of job `name`: in the session's bucket, else in the bucket of
# one of its inputs or outputs; NULL for a job sagesim did not make.
find_cloud_record <- function(session, name, description) {
  uris <- c(vapply(description$ProcessingInputs, function(i) i$S3Input$S3Uri %||% "", ""),
            vapply(description$ProcessingOutputConfig$Outputs, function(o) o$S3Output$S3Uri %||% "", ""),
            vapply(description$InputDataConfig, function(i) i$DataSource$S3DataSource$S3Uri %||% "", ""),
            description$CheckpointConfig$S3Uri %||% character())
  buckets <- unique(c(session$bucket, vapply(uris[is_s3_uri(uris)], function(u) parse_s3_uri(u)$bucket, "")))
  key <- job_record_key(name)
  for (bucket in buckets) {
    target <- tempfile("sagesim-record-")
    on.exit(unlink(target, recursive = TRUE), add = TRUE)
    found <- tryCatch(
      aws_request(session, "s3:DownloadPrefix",
                  list(Bucket = bucket, Prefix = key, Directory = target))$Files,
      sagesim_aws_error = function(e) list())
    paths <- vapply(found, `[[`, "", "Path")
    paths <- paths[basename(paths) == basename(key)]
    if (length(paths) > 0) return(read_record_file(paths[[1]]))
  }
  NULL
}

# An upload that takes more than a couple of seconds (a large map payload,
# a folder of data) shows a progress bar of the bytes sent.
upload_local <- function(session, bucket, prefix, path, kms_key = NULL, what = basename(path)) {
  files <- if (dir.exists(path)) list.files(path, recursive = TRUE, all.files = TRUE, full.names = TRUE) else path
  total <- sum(file.size(files), na.rm = TRUE)
  # (Not ended by cli when it reaches the total: it is ended here, full.)
  bar <- cli::cli_progress_bar(
    sprintf("Uploading %s", what), total = total, auto_terminate = FALSE,
    format = "{cli::pb_name} {cli::pb_current_bytes} of {cli::pb_total_bytes} {cli::pb_bar} {cli::pb_eta}")
  sent <- function(bytes) cli::cli_progress_update(id = bar, set = bytes)
  if (dir.exists(path)) {
    aws_request(session, "s3:UploadDirectory",
                list(Bucket = bucket, Prefix = prefix, Path = path, KmsKeyId = kms_key),
                on_progress = sent)
  } else {
    aws_request(session, "s3:PutObjectFromFile",
                list(Bucket = bucket, Key = paste0(prefix, "/", basename(path)), Path = path,
                     KmsKeyId = kms_key), on_progress = sent)
  }
  cli::cli_progress_update(id = bar, set = total) # all of it, however the last poll fell
  cli::cli_progress_done(id = bar)
  invisible()
}

job_exists <- function(session, kind, name) {
  tryCatch({
    aws_request(session, sagemaker_kinds[[kind]]$describe, job_name_parameter(kind, name))
    TRUE
  }, sagesim_aws_ValidationException = function(e) FALSE,
  sagesim_aws_ResourceNotFound = function(e) FALSE)
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
    kind <- if (!is.null(maybe_created$TrainingJobName)) "training" else "processing"
    found <- tryCatch(
      aws_request(session, sagemaker_kinds[[kind]]$describe, job_name_parameter(kind, name)),
      sagesim_aws_error = function(e) NULL)
    if (!is.null(found) && is_job_of_request(found, maybe_created, kind)) {
      aws_request(session, sagemaker_kinds[[kind]]$stop, job_name_parameter(kind, name))
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

# Whether job `name` exists and is the one the request of `record` makes.
created_by_request <- function(session, name, record, kind) {
  found <- tryCatch(
    aws_request(session, sagemaker_kinds[[kind]]$describe, job_name_parameter(kind, name)),
    sagesim_aws_error = function(e) NULL)
  !is.null(found) &&
    is_job_of_request(found, jsonlite::fromJSON(record_job_config(record), simplifyVector = FALSE),
                      kind)
}

# Whether a described job is the one a request made: same role, image,
# entrypoint and arguments (with a name unique to the millisecond, a job
# that matches is ours; one that does not must never be stopped). Both are
# rendered by the same Rust code, so they compare field for field.
is_job_of_request <- function(described, config, kind) {
  same <- function(a, b) identical(as.character(unlist(a)), as.character(unlist(b)))
  app <- sagemaker_kinds[[kind]]$app
  fields <- c(sagemaker_kinds[[kind]]$image, "ContainerEntrypoint", "ContainerArguments")
  same(described$RoleArn, config$RoleArn) &&
    all(vapply(fields, function(f) same(described[[app]][[f]], config[[app]][[f]]), logical(1)))
}

# A SageMaker job's handle, or NULL when SageMaker has no job of that name.
attach_cloud_job <- function(name, session) {
  found <- tryCatch(describe_any_job(session, name),
    sagesim_no_credentials = function(e) backend_unavailable(sprintf(
      "SageMaker cannot be asked (%s)", conditionMessage(e)[[1]])))
  if (is.null(found)) return(NULL)
  description <- found$description
  kind <- found$kind
  record <- find_cloud_record(session, name, description)
  job <- if (!is.null(record)) {
    # What the hosts were given comes from SageMaker's description of the
    # request, not from the record, which is in S3.
    new_job(name, "cloud", record, session = session,
            results_key = secret_or_null(description$Environment[[results_key_variable]]),
            request_arguments = description[[sagemaker_kinds[[kind]]$app]]$ContainerArguments,
            sagemaker_kind = kind)
  } else {
    # Not made by sagesim: a script job, as far as its description tells.
    outputs <- lapply(description$ProcessingOutputConfig$Outputs, function(output) {
      list(name = output$OutputName, destination = output$S3Output$S3Uri,
           source = output$S3Output$LocalPath)
    })
    new_job(name, "cloud", NULL, session = session, outputs = outputs, sagemaker_kind = kind)
  }
  update_cloud_status(job, description)
  job
}

# The `n` latest jobs of both kinds.
list_cloud_jobs <- function(session, n, name_contains, status, details = FALSE) {
  statuses <- list()
  for (kind in names(sagemaker_kinds)) {
    reply <- tryCatch(
      aws_request(session, sagemaker_kinds[[kind]]$list, list(
        MaxResults = n, SortBy = "CreationTime", SortOrder = "Descending",
        NameContains = name_contains, StatusEquals = status)),
      sagesim_no_credentials = function(e) backend_unavailable(sprintf(
        "SageMaker cannot be asked (%s)", conditionMessage(e)[[1]])))
    statuses <- c(statuses, lapply(reply[[sagemaker_kinds[[kind]]$summaries]], function(s) {
      described_status(kind, s[[sagemaker_kinds[[kind]]$name]], s)
    }))
  }
  created <- vapply(statuses, function(s) as.numeric(s$creation_time %||% 0), numeric(1))
  statuses <- utils::head(statuses[order(created, decreasing = TRUE)], n)
  records <- if (details) lapply(statuses, function(s) attach_cloud_job(s$name, session)$record)
  job_list_frame(statuses, "SageMaker", records)
}

update_cloud_status <- function(job, d) {
  # A job sagesim made knows its hosts from its record; another, from its
  # description (when the service gives them).
  kind <- cloud_job_kind(job)
  cluster <- described_cluster(kind, d)
  job$instance_count <- job$instance_count %||% cluster$InstanceCount
  job$instance_type <- job$instance_type %||% cluster$InstanceType
  job$last_status <- described_status(kind, job$name, d) # R/job-kinds.R
  job$last_status
}

# A handle made before Training jobs existed has no kind: a Processing job.
cloud_job_kind <- function(job) job$sagemaker_kind %||% "processing"

#' @export
job_status.sagesim_cloud_job <- function(job, ...) {
  kind <- cloud_job_kind(job)
  description <- aws_request(job$session, sagemaker_kinds[[kind]]$describe,
                             job_name_parameter(kind, job$name))
  update_cloud_status(job, description)
}

stop_job.sagesim_cloud_job <- function(job) {
  kind <- cloud_job_kind(job)
  aws_request(job$session, sagemaker_kinds[[kind]]$stop, job_name_parameter(kind, job$name))
  message(sprintf("Asked SageMaker to stop %s.", job$name))
  invisible(job)
}

#' @export
default_poll_interval.sagesim_cloud_job <- function(job) 5

# Back off while nothing happens; stay responsive while logs flow.
#' @export
next_poll_delay.sagesim_cloud_job <- function(job, delay, new_lines) {
  if (new_lines > 0) delay else min(delay * 1.5, max(delay, 30))
}

#' @export
final_log_delay.sagesim_cloud_job <- function(job) 5

# Streams are named {job}/{host}-{epoch}; the host is what users recognise.
host_of_stream <- function(stream, job_name) {
  sub("-[0-9]+$", "", substring(stream, nchar(job_name) + 2))
}

cloud_log_lines <- function(job, cursors) {
  # (A log group not there yet is an empty list.)
  log_group <- sagemaker_kinds[[cloud_job_kind(job)]]$log_group
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
new_log_lines.sagesim_cloud_job <- function(job, cursors = "log_cursors") {
  result <- cloud_log_lines(job, job[[cursors]] %||% list())
  job[[cursors]] <- result$cursors
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

# SageMaker says when the job ran, not each host: a host's span is that of
# its log stream (its first and last lines).
#' @export
host_spans.sagesim_cloud_job <- function(job, lines) {
  hosts <- job_hosts(job) %||% sort(unique(lines$host))
  span <- function(host, f) {
    times <- lines$time[lines$host == host]
    if (length(times) == 0) NA_real_ else f(times)
  }
  data.frame(host = hosts, started = vapply(hosts, span, 0, min, USE.NAMES = FALSE),
             ended = vapply(hosts, span, 0, max, USE.NAMES = FALSE), stringsAsFactors = FALSE)
}
