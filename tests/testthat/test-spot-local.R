# Spot jobs rehearsed on this machine: the Training contract laid out per
# host, an interruption (options(sagesim.spot_interruptions = )), and the
# results of a run that was never interrupted.

draw <- function(i) mean(stats::rnorm(5, mean = i))

host_log_text <- function(job, host) {
  paste(readLines(file.path(job$dir, "hosts", host, "log"), warn = FALSE), collapse = "\n")
}

test_that("a local 4-host Spot map of 200 elements interrupted on two hosts returns an on-demand run's values", {
  use_temp_job_dir()
  clean <- job_collect(submit_map(1:200, draw, seed = 3, instance_count = 4, instance_type = "local",
                                  logs = FALSE))
  withr::local_options(sagesim.spot_interruptions = c("algo-2" = 10, "algo-4" = 30))
  job <- submit_map(1:200, draw, seed = 3, instance_count = 4, instance_type = "local", spot = TRUE,
                    env = c(SAGESIM_PROGRESS_EVERY = "0"), logs = FALSE)
  expect_identical(job_collect(job), clean)
  # It ran as a Training job: its outputs are its checkpoints.
  expect_true(job$record$plan$training$spot)
  map_output <- Filter(function(o) o$name == "map", job$outputs)[[1]]
  expect_identical(map_output$destination, file.path(normalizePath(job$dir), "checkpoints", "map"))
  expect_true(file.exists(file.path(job$dir, "hosts", "algo-1", "opt", "ml", "input", "config",
                                    "resourceconfig.json")))
  # The two hosts were interrupted and went on from their checkpoints; the
  # others were not.
  for (host in c("algo-2", "algo-4")) expect_match(host_log_text(job, host), "interrupted")
  for (host in c("algo-1", "algo-3")) expect_no_match(host_log_text(job, host), "interrupted")
  expect_output(print(job), "capacity:  Spot")
  # Its picture marks where the two hosts were interrupted.
  png(withr::local_tempfile(fileext = ".png"))
  timeline <- plot(job)
  grDevices::dev.off()
  expect_identical(timeline$interruptions, c(0L, 1L, 0L, 1L))
  interrupted <- timeline[timeline$interruptions > 0, ]
  expect_true(all(interrupted$restarted >= floor(interrupted$started) - 1 &
                    interrupted$restarted <= interrupted$ended + 1))
})

test_that("a local Spot simulation and sweep interrupted on a host give an on-demand run's values", {
  use_temp_job_dir()
  spec <- simulation_spec(200, 200, 40, 400, seed = 5)
  on_demand <- job_collect(submit_processing(simulation = spec, instance_count = 2, logs = FALSE))
  withr::local_options(sagesim.spot_interruptions = c("algo-1" = 1))
  spot <- submit_processing(simulation = spec, instance_count = 2, spot = TRUE, logs = FALSE,
                            env = c(SAGESIM_CHECKPOINT_EVERY = "0", SAGESIM_PROGRESS_EVERY = "0"))
  expect_match(host_log_text(spot, "algo-1"), "interrupted")
  expect_identical(job_collect(spot)$values, on_demand$values)
  grid <- simulation_grid(x_length = c(100, 200), y_length = 200, num_people = 30,
                          max_iterations = 150, seed = 9)
  on_demand <- job_collect(submit_processing(simulation = grid, instance_count = 2, logs = FALSE))
  swept <- job_collect(submit_processing(simulation = grid, instance_count = 2, spot = TRUE,
                                         logs = FALSE,
                                         env = c(SAGESIM_CHECKPOINT_EVERY = "0",
                                                 SAGESIM_PROGRESS_EVERY = "0")))
  expect_identical(lapply(swept$simulations, `[[`, "values"),
                   lapply(on_demand$simulations, `[[`, "values"))
})

test_that("the workshop's script runs unchanged as a local Spot job", {
  skip_without_workshop_packages()
  use_temp_job_dir()
  script <- test_path("fixtures", "workshop.R")
  job <- submit_processing(code = script, arguments = c("100", "100", "100", "300"),
                           instance_type = "local", spot = TRUE, logs = FALSE,
                           outputs = c(result = "/opt/ml/processing/output"))
  expect_identical(job$last_status$status, "Completed")
  files <- job_collect(job, path = file.path(withr::local_tempdir(), "out"))
  expect_true("result/output_result_mean.txt" %in% files$files$file)
  expected <- expected_violations(100, 100, 100)
  expect_lt(abs(files$result_mean - expected), 5 * simulate_local(100, 100, 100, 300, seed = 1)$se)
})

test_that("futures and foreach loops run as Spot jobs when their plan or backend says so", {
  skip_if_not_installed("future")
  skip_if_not_installed("foreach")
  use_temp_job_dir()
  old <- future::plan(sagesim::sagemaker, instance_type = "local", spot = TRUE, max_runtime = 600)
  on.exit(future::plan(old), add = TRUE)
  f <- future::future(sum(1:10), seed = TRUE)
  expect_identical(future::value(f), 55L)
  expect_true(f$job$record$plan$training$spot)
  expect_identical(f$job$record$plan$training$max_wait, 1200L)
  library(foreach)
  registerDoSageMaker(instance_count = 2, instance_type = "local", keep_alive = 60, seed = 1)
  on.exit(foreach::registerDoSEQ(), add = TRUE)
  x <- foreach(i = 1:4, .combine = c) %dopar% (i * 2)
  expect_identical(x, c(2, 4, 6, 8))
  expect_identical(last_dopar_job()$record$plan$training$keep_alive, 60L)
  expect_output(print(last_dopar_job()), "warm pool kept 60 s")
})
