# The two kinds of SageMaker job sagesim runs the same work as: a Processing
# job (the default), or a Training job when the job asks for Spot capacity
# (`spot = TRUE`) or a warm pool (`keep_alive`). A Training job runs the
# same command: its hosts' `training_host()` (R/training-contract.R) lays
# out the Processing paths, and the outputs are written into the job's
# checkpoints, which SageMaker keeps in S3 as they are written and restores
# on every host when an interrupted Spot job restarts. What differs for the
# cloud backend (R/job-cloud.R) is written here, once per kind.

#' Spot capacity and warm pools
#'
#' Every job sagesim runs in the cloud is, by default, a SageMaker
#' Processing job: on-demand instances, a few minutes to start. Two settings
#' of [submit_processing()], [submit_map()], `plan(sagesim::sagemaker, ...)`
#' and [registerDoSageMaker()] run the same work as a SageMaker *Training*
#' job instead:
#'
#' * `spot = TRUE` (with `max_wait`): managed Spot capacity, spare instances
#'   AWS sells for less ("up to 90%" off; what a job saved is in
#'   [job_cost()]). A job may wait for capacity, and a host may be
#'   interrupted and restarted. Monte Carlo work suits it: every host saves
#'   what it has finished (each map element, each piece of iterations) in the
#'   job's checkpoints as it goes, an interrupted host starts again from
#'   them and skips what is done, and since every element and iteration has
#'   its own random stream, the results are `identical()` to a run without
#'   interruption. A job that gets no capacity within `max_wait` failed for
#'   the cloud, and is run again (`retries`).
#' * `keep_alive = <seconds>`: on-demand instances kept as a warm pool after
#'   the job ends. The next job with the same role, instance type and count,
#'   volume size, KMS keys and network settings reuses them and starts in
#'   seconds: futures and foreach loops, many short jobs in a row, gain most.
#'   The idle time is billed. `print(job)` says whether a job reused a pool.
#'
#' Use neither for a single long job you need on time at a known price; Spot
#' for long or many jobs that can wait; a warm pool for a run of short jobs.
#' They cannot be combined (AWS's rule: `spot = TRUE` with `keep_alive` is
#' refused before anything is created).
#'
#' @section Quotas:
#' Each has its own quota per instance type in Service Quotas (Amazon
#' SageMaker): "<type> for spot training job usage" and "<type> for training
#' warm pool usage". New accounts often have 0 of both; the warm-pool quota
#' is 0 until raised. A job refused for the warm-pool quota raises a
#' `sagesim_warm_pool_quota` error naming the quota. The role needs the
#' Training actions [sagesim_iam_policy()] lists.
#'
#' @section What differs inside the job:
#' The hosts run the same command, started by `training_host()`, which lays
#' out the Processing paths: inputs at their usual places
#' (`processing_path("input", ...)`), outputs written to their usual folders,
#' [processing_config()] with the job's hosts (its `job` is `NULL`). The
#' outputs are kept with the job's checkpoints
#' (`s3://{bucket}/{job}/checkpoints/{output}`), which SageMaker saves as they
#' are written and restores on every host after an interruption: an output
#' cannot be given another `destination`, and each host must name its files
#' apart (as with several Processing hosts). [job_collect()] fetches them as
#' usual. A failure's message is in the job's failure reason. Logs are in
#' `/aws/sagemaker/TrainingJobs`; [job_status()] also gives the secondary
#' status (Starting, Training, Interrupted, ...).
#'
#' @section Rehearsing here:
#' `instance_type = "local"` with `spot = TRUE` lays out the Training
#' contract on this machine. `options(sagesim.spot_interruptions =
#' c("algo-2" = 3))` interrupts host algo-2 once it has saved 3 elements (a
#' map) or 3 result files (a simulation or sweep) and restarts it from its
#' checkpoints, so you see before paying that your job survives it.
#'
#' @examples
#' old <- options(sagesim.job_dir = tempfile("sagesim-example-"),
#'                sagesim.spot_interruptions = c("algo-2" = 2))
#' job <- submit_map(1:12, function(i) i^2, instance_count = 2, seed = 1,
#'                   instance_type = "local", spot = TRUE, logs = FALSE)
#' identical(unlist(job_collect(job)), (1:12)^2)
#' unlink(getOption("sagesim.job_dir"), recursive = TRUE)
#' options(old)
#' @name spot_and_warm_pools
NULL

sagemaker_kinds <- list(
  processing = list(
    noun = "processing job", name = "ProcessingJobName",
    create = "sagemaker:CreateProcessingJob", describe = "sagemaker:DescribeProcessingJob",
    stop = "sagemaker:StopProcessingJob", list = "sagemaker:ListProcessingJobs",
    summaries = "ProcessingJobSummaries", log_group = "/aws/sagemaker/ProcessingJobs",
    app = "AppSpecification", image = "ImageUri"),
  training = list(
    noun = "training job", name = "TrainingJobName",
    create = "sagemaker:CreateTrainingJob", describe = "sagemaker:DescribeTrainingJob",
    stop = "sagemaker:StopTrainingJob", list = "sagemaker:ListTrainingJobs",
    summaries = "TrainingJobSummaries", log_group = "/aws/sagemaker/TrainingJobs",
    app = "AlgorithmSpecification", image = "TrainingImage")
)

# The kind of job a record's plan makes.
record_sagemaker_kind <- function(record) {
  if (!is.null(record$plan$training)) "training" else "processing"
}

# A request naming job `name` to SageMaker, in its kind's member.
job_name_parameter <- function(kind, name) stats::setNames(list(name), sagemaker_kinds[[kind]]$name)

# `job_name`'s description and kind, trying each kind in turn; NULL when
# SageMaker has no job of that name.
describe_any_job <- function(session, name) {
  for (kind in names(sagemaker_kinds)) {
    found <- tryCatch(
      aws_request(session, sagemaker_kinds[[kind]]$describe, job_name_parameter(kind, name)),
      sagesim_aws_ValidationException = function(e) NULL,
      sagesim_aws_ResourceNotFound = function(e) NULL)
    if (!is.null(found)) return(list(kind = kind, description = found))
  }
  NULL
}

# A described job's status, as sagesim reads either kind. A Training job
# also tells its secondary status (Starting, Training, Interrupted, ...),
# what it billed, and its warm pool. A Spot job SageMaker ended for want of
# capacity (MaxWaitTimeExceeded) failed for the infrastructure, as a
# Processing job without capacity does, and is retried as one.
described_status <- function(kind, name, d) {
  if (identical(kind, "processing")) {
    return(new_job_status(name, d$ProcessingJobStatus, d$FailureReason, d$ExitMessage,
                          creation_time = d$CreationTime, start_time = d$ProcessingStartTime,
                          end_time = d$ProcessingEndTime))
  }
  status <- d$TrainingJobStatus
  reason <- d$FailureReason
  if (identical(status, "Stopped") && identical(d$SecondaryStatus, "MaxWaitTimeExceeded")) {
    status <- "Failed"
    reason <- "CapacityError: no Spot capacity came within the job's max_wait (MaxWaitTimeExceeded)"
  }
  new_job_status(name, status, reason, NULL, creation_time = d$CreationTime,
                 start_time = d$TrainingStartTime, end_time = d$TrainingEndTime,
                 secondary_status = d$SecondaryStatus, spot = isTRUE(d$EnableManagedSpotTraining),
                 billable_seconds = d$BillableTimeInSeconds,
                 training_seconds = d$TrainingTimeInSeconds, warm_pool = d$WarmPoolStatus)
}

# The cluster a described job ran on.
described_cluster <- function(kind, d) {
  if (identical(kind, "processing")) d$ProcessingResources$ClusterConfig else d$ResourceConfig
}

# The Training part of a job's plan: its capacity settings, and where its
# checkpoints (its outputs) and SageMaker's own output go, under `prefix`
# (`s3://{bucket}/{job}`, or a local job's folder). NULL for a Processing job.
training_plan <- function(settings, prefix) {
  if (!training_settings(settings)) return(NULL)
  list(spot = isTRUE(settings$spot), max_wait = settings$max_wait,
       keep_alive = settings$keep_alive,
       checkpoint_uri = paste0(prefix, "/checkpoints"),
       output_uri = paste0(prefix, "/training-output"))
}

# Where a Training job's output `name` is: its folder of the checkpoints.
training_output_destination <- function(training, name) {
  paste0(training$checkpoint_uri, "/", name)
}

# A Training job's outputs are its checkpoints' folders: an output cannot
# be sent elsewhere.
check_training_outputs <- function(outputs) {
  for (output in outputs) {
    if (!is.null(output$destination)) {
      abort_argument("outputs", sprintf(
        "Output \"%s\": a Spot or warm-pool job (`spot`, `keep_alive`) keeps its outputs with its checkpoints, under the job's own prefix; leave `destination` unset (job_collect() fetches them) or run it without `spot`/`keep_alive`.",
        output$name))
    }
  }
  invisible(outputs)
}

# The refusal of a warm pool by the account's quota (0 per instance type
# until raised), in the user's words: which quota, and how to raise it.
abort_warm_pool_quota <- function(plan, refusal) {
  quota <- regmatches(refusal$aws_message, regexpr("'[^']*warm pool[^']*'", refusal$aws_message))
  quota <- if (length(quota) == 1) quota else sprintf("'%s for training warm pool usage'",
                                                      plan$settings$instance_type)
  abort(c(sprintf("SageMaker refused job %s's warm pool (`keep_alive`): the account's quota %s is too small. %s",
                  plan$name, quota, refusal$aws_message),
          sprintf("Ask for more in the Service Quotas console (Amazon SageMaker, %s), or with `aws service-quotas request-service-quota-increase --service-code sagemaker`; or run the job without `keep_alive`.", quota)),
        class = c("sagesim_warm_pool_quota", "sagesim_quota_exceeded"), job_name = plan$name,
        quota = quota)
}

# The job a finished warm-pool job's pool went to, or the one whose pool
# `job` reused: SageMaker names the job that reused a pool in the earlier
# job's WarmPoolStatus. NULL when there is none (or it cannot be asked).
warm_pool_source <- function(job) {
  reply <- tryCatch(aws_request(job$session, sagemaker_kinds$training$list, list(
    MaxResults = 100, SortBy = "CreationTime", SortOrder = "Descending")),
    sagesim_aws_error = function(e) NULL)
  for (summary in reply$TrainingJobSummaries) {
    if (identical(summary$WarmPoolStatus$ReusedByJob, job$name)) return(summary$TrainingJobName)
  }
  NULL
}

# How a Training job got its instances, for print(job): Spot (and what it
# billed, once known) or a warm pool (and whether it reused one); NULL for a
# Processing job.
capacity_line <- function(job) {
  training <- job$record$plan$training
  if (is.null(training)) return(NULL)
  status <- job$last_status
  stage <- if (!is.null(status$secondary_status) && !identical(status$secondary_status, status$status)) {
    sprintf("; %s", status$secondary_status)
  } else ""
  if (isTRUE(training$spot)) {
    billed <- ""
    if (!is.null(status$billable_seconds) && isTRUE(status$training_seconds > 0)) {
      billed <- sprintf("; billed %s of %s s (Spot saved %.0f%%)", format_count(status$billable_seconds),
                        format_count(status$training_seconds),
                        100 * (1 - status$billable_seconds / status$training_seconds))
    }
    return(sprintf("Spot, waiting and running at most %s s%s%s", format_count(training$max_wait),
                   billed, stage))
  }
  pool <- if (inherits(job, "sagesim_cloud_job")) {
    source <- warm_pool_source(job)
    paste0(if (!is.null(source)) sprintf("; reused the warm pool of %s", source) else "; started new instances",
           if (!is.null(status$warm_pool$Status)) sprintf("; its pool: %s", status$warm_pool$Status) else "")
  } else "; no warm pool here (a local job starts at once)"
  sprintf("on demand, warm pool kept %s s after the job%s%s", format_count(training$keep_alive), pool, stage)
}

# A local Spot job rehearses an interruption of the hosts
# `options(sagesim.spot_interruptions = c("algo-2" = 3))` names: the host is
# killed once it has saved that many elements (a map) or result files (a
# simulation or sweep), and restarts from its checkpoints, as a host
# SageMaker reclaims does (R/training-contract.R). The host's variables.
rehearsed_interruption <- function(training, host) {
  after <- getOption("sagesim.spot_interruptions")[host]
  if (!isTRUE(training$spot) || length(after) != 1 || is.na(after)) return(character())
  c(SAGESIM_INTERRUPT_AFTER = format_number(check_count(after, "sagesim.spot_interruptions", min = 1)))
}
