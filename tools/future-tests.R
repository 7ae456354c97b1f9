# The futureverse's conformance suite for future backends (the future.tests
# package) against plan(sagesim::sagemaker) in local mode, every future a
# local job:
#
#   Rscript tools/future-tests.R
#
# future.tests is not a dependency of sagesim and this script installs
# nothing: without it, it says so and stops. check() prints each test and a
# summary, and ends R with a non-zero status when a test fails.
if (!requireNamespace("future.tests", quietly = TRUE)) {
  message("future.tests is not installed: the conformance suite is not run.")
  quit(status = 0)
}
# The suite's jobs keep their files in a folder of their own, removed after.
jobs <- tempfile("sagesim-future-tests-")
options(sagesim.job_dir = jobs)
reg.finalizer(environment(), function(e) unlink(jobs, recursive = TRUE), onexit = TRUE)
future.tests::check(
  plan = "future::plan(sagesim::sagemaker, instance_type = 'local', workers = 2)",
  timeout = 600
)
