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
#' * `sagesim.poll_interval`: seconds between status polls while waiting on
#'   a job (default 5 for SageMaker, 0.5 for local jobs).
#' * `sagesim.job_dir`: where local-mode jobs keep their files, each in
#'   `local-jobs/<name>` under it (default `tools::R_user_dir("sagesim", "data")`).
#' * `sagesim.wait_timeout`: seconds after which [job_wait()] (and so
#'   `submit_processing(wait = TRUE)`) gives up waiting (default: never).
#' * `sagesim.final_log_delay`: seconds [job_wait()] waits after a job ends
#'   before reading its logs a last time (default 5 for SageMaker, 0 for
#'   local jobs).
#' * `sagesim.rstudio_jobs`: show jobs in RStudio's Jobs pane (default
#'   `TRUE`; only inside RStudio).
#' * `sagesim.host_start_timeout`: seconds after which a local job's host
#'   that has not started is taken as lost, as an instance that never came
#'   up (default 60).
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
