# job_cost() and the cost line of print(job): local jobs, and SageMaker jobs
# (played on this machine by the moto launcher, or left as moto makes them).

job_cost_prices <- function(env = parent.frame()) {
  withr::local_options(sagesim.prices = data.frame(
    instance_type = "ml.m5.xlarge", region = "us-east-1", usd_per_hour = 0.5, vcpu = 4,
    memory_gib = 16, source = "test prices", date = "2026-01-01"), .local_envir = env)
}

test_that("a local job costs nothing on AWS, and says so with its hosts' seconds", {
  use_temp_job_dir()
  job <- submit_processing(simulation = simulation_spec(100, 100, 50, 20, seed = 1),
                           instance_type = "local", instance_count = 2, logs = FALSE)
  cost <- job_cost(job)
  status <- job_status(job)
  expect_identical(cost$usd, 0)
  expect_identical(cost$hosts, 2)
  expect_equal(cost$seconds, status$end_time - status$start_time)
  expect_gt(cost$seconds, 0)
  expect_output(print(cost), "nothing on AWS: a local job \\(2 hosts x")
  expect_output(print(job), "cost:      nothing on AWS: a local job")
})

test_that("a played SageMaker job knows its start and end, and what it cost", {
  local_moto()
  job_cost_prices()
  play_jobs()
  job <- submit_processing(simulation = simulation_spec(300, 200, 120, 501, seed = 3),
                           image_uri = image, role = role, instance_count = 2, logs = FALSE)
  session <- job$session
  described <- sagesim:::aws_request(session, "sagemaker:DescribeProcessingJob",
                                     list(ProcessingJobName = job$name))
  expect_true(is.numeric(described$ProcessingStartTime))
  expect_gte(described$ProcessingEndTime, described$ProcessingStartTime)
  cost <- job_cost(job)
  seconds <- described$ProcessingEndTime - described$ProcessingStartTime
  expect_equal(cost$seconds, seconds, tolerance = 1e-6)
  expect_gt(cost$seconds, 0)
  expect_identical(cost$hosts, 2)
  expect_identical(cost$region, "us-east-1")
  expect_equal(cost$usd, 2 * seconds / 3600 * 0.5, tolerance = 1e-6)
  expect_output(print(job), "cost:      2 hosts x [0-9.]+ s = [0-9.e-]+ instance-hours x \\$0.500/h \\(ml.m5.xlarge, us-east-1\\) = \\$0.0[0-9]+")
  # Attached anew, from its name alone: the same cost.
  again <- job_cost(job_attach(job$name, session = session))
  expect_equal(again$usd, cost$usd)
  # The same from its description (how a job's attempts are costed one by one).
  from_description <- sagesim:::described_cost(described, "us-east-1", "ml.m5.xlarge", 2)
  expect_equal(from_description$usd, cost$usd)
  expect_identical(from_description$job_name, job$name)
  # SageMaker's own description says the cluster (moto's leaves it out).
  described$ProcessingResources <- list(ClusterConfig = list(InstanceCount = 3,
                                                             InstanceType = "ml.m5.xlarge"))
  expect_equal(sagesim:::described_cost(described, "us-east-1", "ml.m5.xlarge", 2)$usd,
               cost$usd * 3 / 2)
})

test_that("moto's jobs report a start as SageMaker does; one that never started is billed nothing", {
  local_moto()
  job_cost_prices()
  session <- aws_session(role = role)
  # moto completes a job the moment it is created (no hosts run): the
  # launcher reports it started then, so it ran for no time.
  done <- submit_processing(simulation = simulation_spec(100, 100, 50, 20, seed = 1),
                            image_uri = image, wait = FALSE, session = session)
  described <- sagesim:::aws_request(session, "sagemaker:DescribeProcessingJob",
                                     list(ProcessingJobName = done$name))
  expect_identical(described$ProcessingStartTime, described$CreationTime)
  expect_identical(job_cost(done)$seconds, 0)
  # Failed before it started (no capacity, say): no start, nothing billed.
  failed <- submit_processing(simulation = simulation_spec(100, 100, 50, 20, seed = 1),
                              image_uri = image, wait = FALSE, session = session)
  set_job_status(failed$name, "Failed", "CapacityError: no ml.m5.xlarge capacity")
  described <- sagesim:::aws_request(session, "sagemaker:DescribeProcessingJob",
                                     list(ProcessingJobName = failed$name))
  expect_null(described$ProcessingStartTime)
  expect_identical(job_cost(failed)$usd, 0)
  expect_output(print(failed), "cost:      nothing billed \\(the job never started\\)")
  # Running: costed up to now.
  running <- submit_processing(simulation = simulation_spec(100, 100, 50, 20, seed = 1),
                               image_uri = image, wait = FALSE, session = session)
  set_job_status(running$name, "InProgress")
  Sys.sleep(0.3)
  cost <- job_cost(running)
  expect_true(cost$running)
  expect_gt(cost$seconds, 0.2)
  expect_output(print(running), "so far \\(still running\\)")
})

test_that("a job the cloud failed and ran again costs its attempts together", {
  local_moto()
  job_cost_prices()
  session <- aws_session(role = role)
  play_jobs()
  inject_faults(CapacityFailures = 1)
  job <- submit_processing(simulation = simulation_spec(300, 200, 120, 501, seed = 3),
                           image_uri = image, instance_count = 2, wait = FALSE, session = session)
  first <- job$name
  suppressMessages(job_wait(job, logs = FALSE, timeout = 120))
  expect_length(job$record$attempts, 1)
  cost <- job_cost(job)
  expect_identical(cost$job_name, c(first, job$name))
  expect_identical(cost$status, c("Failed", "Completed"))
  # Each attempt as SageMaker describes it: hosts x (end - start).
  for (k in 1:2) {
    described <- sagesim:::aws_request(session, "sagemaker:DescribeProcessingJob",
                                       list(ProcessingJobName = cost$job_name[[k]]))
    seconds <- described$ProcessingEndTime - described$ProcessingStartTime
    expect_equal(cost$seconds[[k]], seconds, tolerance = 1e-6)
    expect_equal(cost$usd[[k]], 2 * seconds / 3600 * 0.5, tolerance = 1e-6)
  }
  expect_gt(cost$seconds[[2]], 0)
  shown <- capture.output(print(job))
  expect_true(any(grepl(sprintf("cost:      %s instance-hours, %s, over its 2 attempts",
                                sagesim:::format_hours(sum(cost$instance_hours)),
                                sagesim:::format_usd(sum(cost$usd))), shown, fixed = TRUE)))
  expect_output(print(cost), sprintf("total: %s instance-hours", sagesim:::format_hours(sum(cost$instance_hours))),
                fixed = TRUE)
})

test_that("print(job) totals every attempt's cost, the first one's too", {
  local_moto()
  job_cost_prices()
  session <- aws_session(role = role)
  job <- submit_processing(simulation = simulation_spec(100, 100, 50, 20, seed = 1),
                           image_uri = image, instance_count = 2, wait = FALSE, session = session)
  first <- job$name
  # The first attempt ran an hour before the cloud lost a host; the second
  # (moto's, ended as soon as created) is given half an hour.
  started <- 1.7e9
  set_job_status(first, "Failed", "InternalServerError: We encountered an internal error.",
                 start = started, end = started + 3600)
  suppressMessages(job_wait(job, logs = FALSE, timeout = 60))
  expect_length(job$record$attempts, 1)
  set_job_status(job$name, "Completed", start = started + 3700, end = started + 3700 + 1800)
  job_status(job)
  cost <- job_cost(job)
  expect_identical(cost$job_name, c(first, job$name))
  expect_equal(cost$instance_hours, c(2, 1))
  expect_equal(cost$usd, c(1, 0.5))
  expect_output(print(job), "cost:      3 instance-hours, $1.50, over its 2 attempts", fixed = TRUE)
})
