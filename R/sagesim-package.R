#' sagesim: fast Monte Carlo simulation, locally and on SageMaker Processing
#'
#' Run the social-distancing simulation natively with [simulate_local()],
#' compare it with its exact expectation [expected_violations()], and send it
#' (or any R script) to Amazon SageMaker Processing with [submit_processing()].
#' Your own R code goes the same way: [submit_map()], futures
#' (`plan(sagesim::sagemaker)`, see [sagemaker()]) and foreach
#' ([registerDoSageMaker()]).
#'
#' The user guide is in the vignettes (`vignette(package = "sagesim")`):
#' * `vignette("from-the-workshop", package = "sagesim")`: the workshop's
#'   script and `ScriptProcessor` call beside their sagesim equivalents;
#' * `vignette("own-code", package = "sagesim")`: your own R code at scale,
#'   failures, resubmission and what survives which ending;
#' * `vignette("costs", package = "sagesim")`: estimates, prices and budgets;
#' * `vignette("real-account", package = "sagesim")`: installing,
#'   credentials, region, role, permissions and the image.
#'
#' @section Options:
#' Every option sagesim reads, with its default (also given on the help page
#' of what it affects):
#' * `sagesim.instance_type`: where jobs run when `instance_type` is not
#'   given (default `"local"`: nothing runs, or costs, in the cloud unless
#'   asked).
#' * `sagesim.retries`: how often a job the cloud failed (not its code) is
#'   run again (default 2).
#' * `sagesim.spot_interruptions`: hosts of a local Spot job to interrupt
#'   and restart from their checkpoints, with how many elements (or result
#'   files) each saves first, e.g. `c("algo-2" = 3)` (default none; see
#'   [spot_and_warm_pools]).
#' * `sagesim.budget`: refuse a job whose cost bound exceeds this many US
#'   dollars (default none; see [submit_processing()], "Costs").
#'   `sagesim.unknown_price`: what a budget does with a job whose price is not
#'   known: `"refuse"` it (default) or `"allow"` it, saying so.
#' * `sagesim.prices`: your own price table, a data frame or a CSV file
#'   (default the shipped one; see [sagemaker_prices()]);
#'   `sagesim.price_list_url`: where [update_sagemaker_prices()] reads AWS's
#'   price list (default AWS's public index).
#' * `sagesim.startup_seconds`, `sagesim.local_startup_seconds`: the start-up
#'   time estimates count per job (defaults 180 on SageMaker, 0.3 per local
#'   host); `sagesim.pilot_elements`: elements a map's estimate runs
#'   (default 3); `sagesim.transfer_rate`: bytes per second a map's payload
#'   is counted to travel at (default 1e8).
#' * `sagesim.max_payload_size`: the most bytes a map, future or foreach
#'   loop ships to its hosts (default 500 MiB, as future's limit for globals).
#' * `sagesim.job_dir`: where local jobs keep their files, each in
#'   `local-jobs/<name>` under it (default `tools::R_user_dir("sagesim", "data")`).
#' * `sagesim.poll_interval`: seconds between status reads while waiting on
#'   a job (default 5 for SageMaker, 0.2 for local jobs).
#' * `sagesim.wait_timeout`: seconds after which [job_wait()] (and so
#'   `submit_processing(wait = TRUE)`) gives up waiting (default: never).
#' * `sagesim.final_log_delay`: seconds [job_wait()] waits after a job ends
#'   before reading its logs a last time (default 5 for SageMaker, 0 for
#'   local jobs).
#' * `sagesim.stop_grace`: seconds [job_stop()] gives a local host after
#'   TERM before KILL (default 10).
#' * `sagesim.host_start_timeout`: seconds after which a local job's host
#'   that has not started is taken as lost, as an instance that never came
#'   up (default 60).
#' * `sagesim.mount_namespace`: how local hosts get their own /opt/ml:
#'   `"auto"` (default: bwrap or unshare when one works), `"bwrap"`,
#'   `"unshare"` or `"none"`.
#' * `sagesim.container_engine`: the engine for images and local hosts in an
#'   image (default the first of docker, podman, buildah that works);
#'   `sagesim.ecr_registry`: another registry host for [publish_image()]
#'   (default the account's ECR).
#' * `sagesim.aws_max_attempts`: attempts of each AWS call, with backoff
#'   (default 5); `sagesim.aws_read_timeout`: seconds an attempt waits for a
#'   reply to begin before it is tried again (default 60).
#' * `sagesim.rstudio_jobs`: show jobs in RStudio's Jobs pane (default
#'   `TRUE`; only inside RStudio).
#'
#' @keywords internal
#' @useDynLib sagesim, .registration = TRUE
"_PACKAGE"

# A binary package built for another R (major.minor) may not load or may
# misbehave: say so once, with what to do, rather than fail obscurely.
.onLoad <- function(libname, pkgname) {
  built <- utils::packageDescription(pkgname, lib.loc = libname, fields = "Built")
  advice <- built_for_other_r(built, getRversion())
  if (!is.null(advice)) {
    warning(structure(class = c("sagesim_built_for_other_r", "warning", "condition"),
                      list(message = advice, call = NULL)))
  }
}

# NULL when `built` (DESCRIPTION's Built field, "R 4.2.2; x86_64-...; ...")
# names this R's major.minor version, else what to do.
built_for_other_r <- function(built, running) {
  version <- regmatches(built, regexpr("(?<=^R )[0-9]+[.][0-9]+", built, perl = TRUE))
  if (length(version) == 0 || is.na(built)) return(NULL)
  here <- paste(unlist(running)[1:2], collapse = ".")
  if (identical(version, here)) return(NULL)
  sprintf(paste(
    "This sagesim was built for R %s, and this is R %s: R packages with compiled code are",
    "built for one R version. If anything fails, install sagesim's source package",
    "(sagesim_<version>.tar.gz; it needs Rust: see",
    "vignette(\"real-account\", package = \"sagesim\")), or build a binary for R %s",
    "with `make dist` on a machine that has it."), version, here, here)
}
