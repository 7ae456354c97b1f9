# What a run of a job cost: its hosts' billed seconds and their price, and
# the costs of several runs (a job's attempts) added up.

test_prices <- function(env = parent.frame()) {
  withr::local_options(sagesim.prices = data.frame(
    instance_type = c("ml.m5.xlarge", "ml.m5.xlarge"), region = c("us-east-1", "eu-west-1"),
    usd_per_hour = c(0.5, 0.75), vcpu = 4, memory_gib = 16, source = "test prices",
    date = "2026-01-01"), .local_envir = env)
}

test_that("a run is billed per host from its processing start to its end, at the table's price", {
  test_prices()
  cost <- sagesim:::run_cost("job-a", "Completed", "ml.m5.xlarge", 3, "eu-west-1",
                             start_time = as.POSIXct("2026-01-01 10:00:00", tz = "UTC"),
                             end_time = as.POSIXct("2026-01-01 10:20:00", tz = "UTC"))
  expect_s3_class(cost, "sagesim_job_cost")
  expect_identical(cost$seconds, 1200)
  expect_equal(cost$instance_hours, 3 * 1200 / 3600)
  expect_equal(cost$usd, 3 * 1200 / 3600 * 0.75)
  expect_identical(cost$price_source, "test prices")
  expect_output(print(cost), "3 hosts x 20.0 min = 1 instance-hours x \\$0.750/h \\(ml.m5.xlarge, eu-west-1\\) = \\$0.750")

  # Unknown type or region: the instance-hours, and "price unknown", never a guess.
  unknown <- sagesim:::run_cost("job-b", "Completed", "ml.c7i.xlarge", 2, "eu-west-1", 0, 900)
  expect_identical(unknown$usd, NA_real_)
  expect_equal(unknown$instance_hours, 0.5)
  expect_output(print(unknown), "2 hosts x 15.0 min = 0.5 instance-hours; price unknown for ml.c7i.xlarge in eu-west-1")
  elsewhere <- sagesim:::run_cost("job-c", "Completed", "ml.m5.xlarge", 1, "ap-south-1", 0, 60)
  expect_identical(elsewhere$usd, NA_real_)

  # A run that never started is billed nothing; one still going, up to now.
  never <- sagesim:::run_cost("job-d", "Failed", "ml.m5.xlarge", 2, "us-east-1", NULL, 100)
  expect_identical(never$seconds, 0)
  expect_identical(never$usd, 0)
  now <- as.POSIXct("2026-01-01 12:00:00", tz = "UTC")
  running <- sagesim:::run_cost("job-e", "InProgress", "ml.m5.xlarge", 2, "us-east-1",
                                now - 360, NULL, now = now)
  expect_identical(running$seconds, 360)
  expect_true(running$running)
  expect_output(print(running), "so far \\(still running\\)")
})

test_that("the costs of several runs add up", {
  test_prices()
  a <- sagesim:::run_cost("try-1", "Failed", "ml.m5.xlarge", 2, "us-east-1", 0, 1800)
  b <- sagesim:::run_cost("try-2", "Completed", "ml.m5.xlarge", 1, "us-east-1", 0, 3600)
  both <- rbind(a, b)
  expect_s3_class(both, "sagesim_job_cost")
  expect_identical(both$job_name, c("try-1", "try-2"))
  expect_equal(sum(both$usd), (2 * 0.5 + 1 * 1) * 0.5)
  expect_output(print(both), "total: 2 instance-hours, \\$1.00")
  unknown <- sagesim:::run_cost("try-3", "Completed", "ml.c7i.xlarge", 1, "us-east-1", 0, 3600)
  expect_output(print(rbind(both, unknown)), "total: 3 instance-hours, price unknown for some runs")
})
