# run_worker(): the Processing container contract, host by host.

worker_args <- function(output_dir, ...) {
  c("--x-length", "300", "--y-length", "200", "--num-people", "120",
    "--max-iterations", "101", "--seed", "17", "--output-dir", output_dir, ...)
}

test_that("hosts run disjoint shares that merge into exactly the local result", {
  root <- withr::local_tempdir()
  outputs <- file.path(root, "merged")
  for (host in c("algo-1", "algo-2", "algo-3")) {
    local({
      fake_opt_ml(file.path(root, host), host, c("algo-1", "algo-2", "algo-3"))
      expect_output(run_worker(worker_args(outputs), exit_on_error = FALSE), host)
    })
  }
  files <- sort(list.files(outputs))
  expect_identical(files, c("output_result_mean-algo-1.txt", "output_result_mean-algo-2.txt",
                            "output_result_mean-algo-3.txt", "sagesim-result-algo-1-00001.json",
                            "sagesim-result-algo-2-00001.json", "sagesim-result-algo-3-00001.json"))
  merged <- read_simulation_results(outputs)
  local <- simulate_local(300, 200, 120, 101, seed = 17)
  expect_s3_class(merged, "sagesim_simulation")
  expect_identical(merged$values, local$values)
  expect_identical(merged$mean, local$mean)
  expect_identical(merged$sd, local$sd)
  expect_identical(merged$counts, local$counts)
  expect_identical(merged$params, local$params)
  expect_identical(merged$seed, local$seed)
  # Each host's mean file holds its own share's mean, exactly.
  share <- simulate_local(300, 200, 120, 101, seed = 17, iterations = 35:68)
  expect_identical(as.numeric(readLines(file.path(outputs, "output_result_mean-algo-2.txt"))),
                   share$mean)
})

test_that("a single host also writes output_result_mean.txt", {
  root <- fake_opt_ml(withr::local_tempdir(), "algo-1", "algo-1")
  out <- file.path(root, "processing", "output", "simulation")
  expect_output(run_worker(worker_args(out, "--threads", "2"), exit_on_error = FALSE), "done")
  expect_identical(as.numeric(readLines(file.path(out, "output_result_mean.txt"))),
                   simulate_local(300, 200, 120, 101, seed = 17)$mean)
})

test_that("missing results are detected, never silently merged", {
  root <- withr::local_tempdir()
  outputs <- file.path(root, "out")
  local({
    fake_opt_ml(file.path(root, "a"), "algo-2", c("algo-1", "algo-2"))
    expect_output(run_worker(worker_args(outputs), exit_on_error = FALSE))
  })
  expect_error(read_simulation_results(outputs), class = "sagesim_results_error")
  expect_error(read_simulation_results(withr::local_tempdir()), class = "sagesim_results_error")
})

test_that("a failing worker writes its message for SageMaker's ExitMessage", {
  root <- fake_opt_ml(withr::local_tempdir(), "algo-1", "algo-1")
  args <- c("--x-length", "300", "--y-length", "200", "--num-people", "-5", "--max-iterations", "10",
            "--seed", "1")
  expect_error(suppressMessages(run_worker(args, exit_on_error = FALSE)),
               class = "sagesim_invalid_argument")
  message <- readLines(file.path(root, "output", "message"))
  expect_match(paste(message, collapse = " "), "num_people")
  expect_error(run_worker(c("--bogus", "1"), exit_on_error = FALSE), "Unknown worker argument")
  expect_error(run_worker(c("--x-length", "1"), exit_on_error = FALSE), "--y-length")
})

test_that("several hosts need a shared seed", {
  root <- fake_opt_ml(withr::local_tempdir(), "algo-1", c("algo-1", "algo-2"))
  args <- c("--x-length", "30", "--y-length", "20", "--num-people", "5", "--max-iterations", "10")
  expect_error(run_worker(args, exit_on_error = FALSE), class = "sagesim_invalid_argument")
})

test_that("processing paths follow SAGESIM_OPT_ML, defaulting to /opt/ml", {
  withr::local_envvar(SAGESIM_OPT_ML = NA)
  expect_identical(processing_path("input", "data"), "/opt/ml/processing/input/data")
  root <- fake_opt_ml(withr::local_tempdir(), "algo-2", c("algo-1", "algo-2"))
  expect_identical(processing_path("output"), file.path(root, "processing", "output"))
  config <- processing_config()
  expect_identical(config$current_host, "algo-2")
  expect_identical(config$hosts, c("algo-1", "algo-2"))
  expect_identical(config$job$ProcessingJobName, "test-job")
})

test_that("run_worker() outside a job writes nothing outside the folders it is given", {
  root <- withr::local_tempdir()
  withr::local_envvar(SAGESIM_OPT_ML = root)
  out <- file.path(withr::local_tempdir(), "out")
  expect_error(run_worker(c("--x-length", "-1", "--y-length", "1", "--num-people", "2",
                            "--max-iterations", "1", "--output-dir", out), exit_on_error = FALSE),
               class = "sagesim_invalid_argument")
  # No /opt/ml/output/message (here: under SAGESIM_OPT_ML): this is not a job.
  expect_identical(list.files(root, recursive = TRUE, all.files = TRUE), character())
  # Inside a job (its config laid out) the message is written, for SageMaker.
  fake_opt_ml(root, "algo-1", "algo-1")
  expect_error(run_worker(c("--x-length", "-1", "--y-length", "1", "--num-people", "2",
                            "--max-iterations", "1", "--output-dir", out), exit_on_error = FALSE))
  expect_match(readLines(file.path(root, "output", "message")), "x_length")
})
