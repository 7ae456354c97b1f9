# The job handle's generics, whatever the job.

test_that("something that is not a job gets a classed error from every job function", {
  not_jobs <- list(1, "sagesim-simulation-2026-01-01-00-00-00-000", list(name = "x"), NULL)
  for (x in not_jobs) {
    for (f in list(job_status, job_stop, job_wait, job_collect, job_logs)) {
      error <- tryCatch(f(x), error = identity)
      expect_s3_class(error, "sagesim_invalid_argument")
      expect_identical(error$argument, "job")
      expect_match(conditionMessage(error), "job handle")
    }
  }
})
