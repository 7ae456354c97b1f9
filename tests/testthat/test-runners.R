# How a local host runs: what it sees of the R session (only what a cloud
# host would), for every way a host can run.

# A script that saves the environment its host sees to the output "env".
env_script <- function(env = parent.frame()) {
  local_script(c(
    "out <- sagesim::processing_path('output', 'env')",
    "dir.create(out, recursive = TRUE, showWarnings = FALSE)",
    "saveRDS(as.list(Sys.getenv()), file.path(out, 'env.rds'))"), env = env)
}

host_environment <- function(job) {
  readRDS(file.path(job_collect(job)$path, "env", "env.rds"))
}

for (mode in c("namespace", "process")) {
  test_that(sprintf("a local host run as a %s sees the job's env, not the R session's", mode), {
    use_temp_job_dir()
    if (mode == "namespace") skip_without_mount_namespace() else
      withr::local_options(sagesim.mount_namespace = "none")
    withr::local_envvar(SESSION_ONLY = "from the session", GIVEN = "session value",
                        R_LIBS_USER = "/nowhere", AWS_PROFILE = "someone")
    job <- submit_processing(code = env_script(), instance_type = "local", logs = FALSE,
                             env = c(GIVEN = "job value", EXTRA = "x y"),
                             outputs = c(env = "/opt/ml/processing/output/env"))
    expect_identical(job$runner$mode, mode)
    env <- host_environment(job)
    # What the session set is not seen, unless the job gives it.
    expect_null(env$SESSION_ONLY)
    expect_null(env$AWS_PROFILE)
    expect_identical(env$GIVEN, "job value")
    expect_identical(env$EXTRA, "x y")
    # What R needs: this session's libraries (sagesim was found: the script
    # ran), a home of the host's own, the worker image's locale.
    expect_identical(env$R_LIBS, paste(.libPaths(), collapse = ":"))
    expect_false(identical(env$HOME, Sys.getenv("HOME")))
    expect_match(env$HOME, job$name, fixed = TRUE)
    expect_identical(env$LANG, "C.UTF-8")
    expect_identical(env$SAGESIM_LOCAL_HOST, "true")
    expect_identical(if (is.null(env$SAGESIM_OPT_ML)) "" else env$SAGESIM_OPT_ML,
                     if (mode == "process") normalizePath(file.path(job$dir, "hosts", "algo-1", "opt", "ml")) else "")
    # No AWS session: no credentials.
    expect_null(env$AWS_ACCESS_KEY_ID)
  })
}

test_that("with an AWS session a local host gets its credentials and region, as the job's role", {
  local_moto()
  session <- aws_session(role = role)
  withr::local_envvar(SESSION_ONLY = "from the session")
  job <- submit_processing(code = env_script(), instance_type = "local", logs = FALSE,
                           session = session, outputs = c(env = "/opt/ml/processing/output/env"))
  env <- host_environment(job)
  expect_identical(env$AWS_ACCESS_KEY_ID, "testing")
  expect_identical(env$AWS_SECRET_ACCESS_KEY, "testing-secret-key")
  expect_identical(env$AWS_REGION, "us-east-1")
  expect_identical(env$AWS_ENDPOINT_URL, moto$url)
  expect_null(env$SESSION_ONLY)
  # The file that carried them is gone, and was never in the job's record.
  expect_false(file.exists(file.path(job$dir, "hosts", "algo-1", "credentials")))
  # So is the supervisor's (which delivers outputs to S3 with them).
  expect_false(file.exists(file.path(job$dir, "supervisor", "credentials")))
  expect_false(any(grepl("testing-secret-key", readLines(file.path(job$dir, "job.json"), warn = FALSE),
                         fixed = TRUE)))
  expect_false(any(grepl("testing-secret-key", readLines(file.path(job$dir, "hosts", "algo-1", "run.sh")),
                         fixed = TRUE)))
})
