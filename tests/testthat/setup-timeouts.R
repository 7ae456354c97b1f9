# No wait in these tests can hang the run: a job that does not finish fails
# its test after five minutes (job_wait()'s default timeout).
withr::local_options(sagesim.wait_timeout = 300, .local_envir = testthat::teardown_env())
