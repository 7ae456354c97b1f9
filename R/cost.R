# What a run of a job cost: its billed instance-seconds (each host from the
# job's processing start to its end, as SageMaker bills Processing) and their
# price from the price table (R/prices.R); a job's runs (its attempts, when
# the cloud failed it) added up; how a job's cost reads in print(job).
# job_cost() (R/job-cost.R) is the user's verb.

#' The cost of one run of a processing job
#'
#' One row of a [job_cost()] table: a job (or one attempt of it) that ran
#' `instance_count` hosts of `instance_type` in `region` from `start_time`
#' to `end_time`. SageMaker bills each instance of a Processing job for the
#' seconds from the job's processing start to its end; a run that never
#' started (no start time) is billed nothing. Rows for several runs
#' `rbind()` into one table whose print shows their total.
#'
#' @param name The job's name.
#' @param status Its status (`"Completed"`, `"InProgress"`, ...).
#' @param instance_type,instance_count,region What it ran on: an `ml.*`
#'   type (or `"local"`), the number of hosts, the region (`NULL` if unknown).
#' @param start_time,end_time Processing start and end, as `POSIXct` or
#'   seconds since 1970 (`NULL` when not (yet) known; a run still going is
#'   costed to `now`).
#' @param prices A price table (see [sagemaker_prices()]).
#' @param now The time a run still going is costed to.
#' @param billable_seconds What SageMaker billed each instance of a Training
#'   job (`BillableTimeInSeconds`: less than its run with Spot), once known.
#' @return A `sagesim_job_cost` data.frame of one row: `job_name`, `status`,
#'   `instance_type`, `region`, `hosts`, `seconds` (billed per host),
#'   `instance_hours`, `usd_per_hour`, `usd` (`NA` when the price is unknown;
#'   0 for a local run), `run_seconds` (how long it ran per host),
#'   `on_demand_usd` (what the run costs at the on-demand price: more than
#'   `usd` when Spot billed less), `price_source`, `price_date`, `running`.
#' @keywords internal
#' @noRd
run_cost <- function(name, status, instance_type, instance_count, region, start_time,
                     end_time, prices = sagemaker_prices(), now = Sys.time(),
                     billable_seconds = NULL) {
  local <- identical(instance_type, "local")
  hosts <- as.numeric(instance_count %||% NA_real_)
  start <- as.numeric(start_time %||% NA_real_)
  running <- !is.na(start) && is.null(end_time)
  end <- if (running) as.numeric(now) else as.numeric(end_time %||% NA_real_)
  run_seconds <- if (is.na(start)) 0 else max(0, end - start)
  seconds <- if (!running && !is.null(billable_seconds)) as.numeric(billable_seconds) else run_seconds
  price <- if (local) NULL else price_of(instance_type %||% NA_character_, region, prices)
  usd_per_hour <- if (local) 0 else price$usd_per_hour
  hours <- hosts * seconds / 3600
  structure(data.frame(
    job_name = name, status = status %||% NA_character_,
    instance_type = instance_type %||% NA_character_, region = region %||% NA_character_,
    hosts = hosts, seconds = seconds, instance_hours = hours, usd_per_hour = usd_per_hour,
    usd = hours * usd_per_hour, run_seconds = run_seconds,
    on_demand_usd = hosts * run_seconds / 3600 * usd_per_hour,
    price_source = if (local) "local: this machine, no AWS charge" else price$source,
    price_date = if (local) NA_character_ else price$date,
    running = running, stringsAsFactors = FALSE),
    class = c("sagesim_job_cost", "data.frame"))
}

# The cost of a run from SageMaker's description of it (the reply of
# DescribeProcessingJob, as aws_request() returns it), e.g. one attempt of a
# job. What the description lacks (moto leaves out ProcessingResources) comes
# from `instance_type` and `instance_count`.
described_cost <- function(description, region, instance_type = NULL, instance_count = NULL,
                           prices = sagemaker_prices(), now = Sys.time(), kind = "processing") {
  cluster <- described_cluster(kind, description) # R/job-kinds.R
  status <- described_status(kind, description[[sagemaker_kinds[[kind]]$name]], description)
  ended <- isTRUE(status$status %in% c("Completed", "Failed", "Stopped"))
  run_cost(status$name, status$status, cluster$InstanceType %||% instance_type,
           cluster$InstanceCount %||% instance_count, region,
           start_time = status$start_time,
           end_time = if (ended) status$end_time %||% status$start_time,
           prices = prices, now = now, billable_seconds = status$billable_seconds)
}

# The cost of the run a job handle describes, from its last status.
handle_cost <- function(job, prices = sagemaker_prices()) {
  status <- job$last_status
  run_cost(job$name, status$status, job$instance_type, job$instance_count,
           region = if (!inherits(job, "sagesim_local_job")) job$session$region,
           start_time = status$start_time,
           end_time = if (!is.null(status$status) && status$status %in% c("Completed", "Failed", "Stopped"))
             status$end_time %||% status$start_time,
           prices = prices, billable_seconds = status$billable_seconds)
}

# What a job has cost over all its runs: each earlier attempt its record
# lists (when the cloud failed it and it ran again) and the run the handle
# follows now, one row each.
job_runs_cost <- function(job, prices = sagemaker_prices()) {
  earlier <- lapply(job$record$attempts, attempt_cost, job = job, prices = prices)
  do.call(rbind, c(earlier, list(handle_cost(job, prices))))
}

# An earlier attempt's cost: from SageMaker's description of it, or a local
# job's folder. One that is gone (a removed local job) has its hosts and
# status, and unknown seconds.
attempt_cost <- function(attempt, job, prices) {
  local <- inherits(job, "sagesim_local_job")
  if (local) {
    handle <- attach_local_job(attempt$name)
    if (!is.null(handle)) return(handle_cost(handle, prices))
  } else {
    kind <- cloud_job_kind(job)
    description <- tryCatch(
      aws_request(job$session, sagemaker_kinds[[kind]]$describe,
                  job_name_parameter(kind, attempt$name)),
      sagesim_aws_error = function(e) NULL)
    if (!is.null(description)) {
      return(described_cost(description, job$session$region, job$instance_type,
                            attempt$instance_count, prices, kind = kind))
    }
  }
  row <- run_cost(attempt$name, attempt$status, job$instance_type, attempt$instance_count,
                  if (!local) job$session$region, NULL, NULL, prices)
  row[c("seconds", "instance_hours", "usd", "run_seconds", "on_demand_usd")] <- NA_real_
  row
}

#' @export
rbind.sagesim_job_cost <- function(..., deparse.level = 1) {
  parts <- lapply(list(...), function(part) {
    if (is.null(part)) return(NULL)
    class(part) <- "data.frame"
    part
  })
  combined <- do.call(rbind, Filter(Negate(is.null), parts))
  rownames(combined) <- NULL
  structure(combined, class = c("sagesim_job_cost", "data.frame"))
}

#' @export
print.sagesim_job_cost <- function(x, ...) {
  n <- nrow(x)
  cat(sprintf("<sagesim job cost> %s\n", if (n == 1) x$job_name else sprintf("%d runs", n)))
  for (k in seq_len(n)) {
    row <- x[k, , drop = FALSE]
    if (n > 1) cat(sprintf("  %s (%s)\n", row$job_name, row$status))
    cat(sprintf("  %s\n", describe_run_cost(row)))
    if (!identical(row$instance_type, "local") && !is.na(row$usd)) {
      cat(sprintf("  prices:  %s (%s)\n", row$price_source, row$price_date))
    }
  }
  if (n > 1) {
    total_usd <- sum(x$usd)
    cat(sprintf("  total: %s instance-hours, %s\n", format_hours(sum(x$instance_hours)),
                if (is.na(total_usd)) "price unknown for some runs" else format_usd(total_usd)))
  }
  invisible(x)
}

# One run's cost in words: hosts, seconds, instance-hours, dollars.
describe_run_cost <- function(row) {
  when <- if (isTRUE(row$running)) " so far (still running)" else ""
  usage <- sprintf("%s x %s = %s instance-hours%s", format_hosts(row$hosts),
                   format_seconds(row$seconds), format_hours(row$instance_hours), when)
  if (identical(row$instance_type, "local")) {
    return(sprintf("nothing on AWS: a local job (%s of this machine)", usage))
  }
  if (is.na(row$usd_per_hour)) {
    price <- list(instance_type = row$instance_type, region = row$region)
    return(sprintf("%s; %s", usage, price_unknown_reason(price)))
  }
  spot <- if (isTRUE(row$seconds < row$run_seconds)) {
    sprintf("; Spot billed %s of the %s it ran, saving %.0f%% of the on-demand %s",
            format_seconds(row$seconds), format_seconds(row$run_seconds),
            100 * (1 - row$seconds / row$run_seconds), format_usd(row$on_demand_usd))
  } else ""
  sprintf("%s x %s/h (%s, %s) = %s%s", usage, format_usd(row$usd_per_hour), row$instance_type,
          row$region, format_usd(row$usd), spot)
}

# The line print(job) shows: what the job has cost so far, or NULL before
# anything is known of it.
cost_line <- function(job) {
  if (is.null(job$last_status)) return(NULL)
  row <- tryCatch(handle_cost(job), sagesim_invalid_argument = function(e) {
    structure(list(message = conditionMessage(e)), class = "price_table_error")
  })
  if (inherits(row, "price_table_error")) return(sprintf("unknown (%s)", row$message))
  attempts <- length(job$record$attempts)
  if (attempts > 0) {
    runs <- job_runs_cost(job)
    usd <- sum(runs$usd)
    return(sprintf("%s instance-hours, %s, over its %d attempts (job_cost() lists them)",
                   format_hours(sum(runs$instance_hours)),
                   if (is.na(usd)) "price unknown" else format_usd(usd), attempts + 1))
  }
  if (is.na(row$hosts) || is.null(job$last_status$start_time)) {
    return(if (identical(job$last_status$status, "InProgress")) "nothing yet (not started)" else
      "nothing billed (the job never started)")
  }
  describe_run_cost(row)
}

format_hosts <- function(hosts) {
  if (is.na(hosts)) "? hosts" else sprintf("%s host%s", format_count(hosts), if (hosts == 1) "" else "s")
}

format_seconds <- function(seconds) {
  if (seconds < 1) return(sprintf("%s s", format(signif(seconds, 2), scientific = FALSE)))
  if (seconds < 60) return(sprintf("%.1f s", seconds))
  if (seconds < 3600) return(sprintf("%.1f min", seconds / 60))
  sprintf("%.2f h", seconds / 3600)
}

format_hours <- function(hours) {
  if (is.na(hours)) return("?")
  format(signif(hours, 3), scientific = FALSE, drop0trailing = TRUE, trim = TRUE)
}

format_usd <- function(usd) {
  if (is.na(usd)) return("price unknown")
  if (usd == 0) return("$0")
  if (usd < 0.01) return(sprintf("$%s", format(signif(usd, 2), scientific = FALSE)))
  if (usd < 1) return(sprintf("$%.3f", usd))
  sprintf("$%s", formatC(usd, format = "f", digits = 2, big.mark = ","))
}
