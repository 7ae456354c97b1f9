# What people read, kept as snapshots (_snaps/snapshots.md): every print
# method and the common argument errors, so that a change of wording shows as
# a diff to review (testthat::snapshot_review()) rather than passing unseen.
# One small snapshot per method. What varies from run to run (job names'
# timestamps, folders, seconds measured, ports) is replaced by placeholders
# in `transform`, never written here. (expect_snapshot() skips on CRAN,
# i.e. unless NOT_CRAN is "true": tools/test.sh sets it for R CMD check.)

# The print methods the snapshots below cover: a print method added to the
# package without a snapshot fails here.
snapshot_print_methods <- c(
  "SageMakerFuture", "sagesim_dopar", "sagesim_estimate", "sagesim_grid", "sagesim_job",
  "sagesim_iam_policy", "sagesim_job_cost", "sagesim_job_files", "sagesim_job_status", "sagesim_logs",
  "sagesim_network_config", "sagesim_processing_input", "sagesim_processing_output",
  "sagesim_session", "sagesim_simulation", "sagesim_spec", "sagesim_sweep",
  "summary.sagesim_simulation", "summary.sagesim_sweep")

test_that("every print method of the package has a snapshot here", {
  methods <- getNamespaceInfo("sagesim", "S3methods")
  printed <- methods[methods[, 1] == "print", 2]
  expect_setequal(printed, snapshot_print_methods)
})

# Folders, job names and clock times, which every run makes anew.
stable <- function(lines) {
  job_dir <- getOption("sagesim.job_dir")
  if (!is.null(job_dir)) lines <- gsub(job_dir, "<job_dir>", lines, fixed = TRUE)
  for (folder in unique(c(tempdir(), normalizePath(tempdir())))) {
    lines <- gsub(folder, "<tempdir>", lines, fixed = TRUE)
  }
  # A job's default name ends with its submission time (job_name_from_base()).
  lines <- gsub("-[0-9]{4}(-[0-9]{2}){5}-[0-9]{3}\\b", "-<timestamp>", lines, perl = TRUE)
  # A moto server's port.
  lines <- gsub("http://127\\.0\\.0\\.1:[0-9]+", "http://127.0.0.1:<port>", lines)
  lines
}

# Besides, what was measured here: durations, the instance-hours made of
# them, and this machine's cores.
timed <- function(lines) {
  lines <- stable(lines)
  number <- "\\b[0-9][0-9.]*(e[-+]?[0-9]+)?"
  lines <- gsub(paste0(number, " (ns|s|min|h)\\b"), "<duration>", lines, perl = TRUE)
  lines <- gsub("\\b[0-9]+m [0-9]{2}s\\b", "<duration>", lines, perl = TRUE)
  lines <- gsub(paste0(number, " instance-hours"), "<n> instance-hours", lines, perl = TRUE)
  lines <- gsub(paste0("instance-hours: ", number), "instance-hours: <n>", lines, perl = TRUE)
  lines <- gsub("\\b[0-9]+ cores\\b", "<n> cores", lines, perl = TRUE)
  lines
}

# A price table of the test's own: the snapshots do not change when the
# package's table is brought up to date.
snapshot_prices <- function(env = parent.frame()) {
  withr::local_options(sagesim.prices = data.frame(
    instance_type = "ml.m5.xlarge", region = c("us-east-1", "eu-west-1"),
    usd_per_hour = c(0.5, 0.75), vcpu = 4, memory_gib = 16, source = "test prices",
    date = "2026-01-01"), .local_envir = env)
}

# --- simulations and sweeps ------------------------------------------------------

test_that("a spec and a grid print", {
  expect_snapshot(print(simulation_spec(1000, 800, 250, 5000, distance = 2.5, seed = 42)))
  expect_snapshot(print(simulation_grid(x_length = c(100, 200), y_length = 100,
                                        num_people = c(10, 50), max_iterations = 20, seed = 1)))
  expect_snapshot(print(simulation_grid(100, 100, 10, 20, seed = 1)))
})

test_that("a simulation and its summary print", {
  sim <- simulate_local(100, 100, 50, 20, seed = 3, threads = 1)
  expect_snapshot(print(sim), transform = timed)
  expect_snapshot(print(summary(sim)), transform = timed)
  # One iteration: no confidence interval.
  expect_snapshot(print(simulate_local(100, 100, 50, 20, seed = 3, iterations = 4)),
                  transform = timed)
})

test_that("a sweep and its summary print", {
  sweep <- simulate_local(simulation_grid(x_length = c(100, 200), y_length = 100,
                                          num_people = 50, max_iterations = 20, seed = 1))
  expect_snapshot(print(sweep))
  expect_snapshot(print(summary(sweep)), transform = timed)
})

# --- local jobs -------------------------------------------------------------------

test_that("a local job, its status and its cost print", {
  use_temp_job_dir()
  job <- submit_processing(simulation = simulation_spec(100, 100, 50, 20, seed = 3),
                           instance_type = "local", instance_count = 2, logs = FALSE)
  expect_snapshot(print(job), transform = timed)
  expect_snapshot(print(job_status(job)), transform = timed)
  expect_snapshot(print(job_cost(job)), transform = timed)
})

test_that("a job's logs and outputs print", {
  use_temp_job_dir()
  script <- local_script(c(
    "host <- sagesim::processing_config()$current_host",
    "cat(sprintf('hello from %s\\n', host))",
    "sagesim:::report_progress(host, 'elements', 3, 4, 1)",
    "out <- '/opt/ml/processing/output/result'",
    "dir.create(out, recursive = TRUE, showWarnings = FALSE)",
    "writeLines('0.25', file.path(out, 'output_result_mean.txt'))",
    "for (i in 1:11) writeLines('x', file.path(out, sprintf('part-%02d.txt', i)))"))
  job <- submit_processing(code = script, instance_type = "local", logs = FALSE,
                           outputs = c(result = "/opt/ml/processing/output/result"))
  expect_snapshot(print(job_logs(job)), transform = stable)
  expect_snapshot(print(job_collect(job)), transform = stable)
  quiet <- submit_processing(code = local_script("invisible()"), instance_type = "local",
                             logs = FALSE)
  expect_snapshot(print(job_logs(quiet)), transform = stable)
})

test_that("a map job whose elements failed says which when collected", {
  use_temp_job_dir()
  job <- submit_map(1:4, function(i) if (i %% 2 == 0) stop("no even numbers: ", i) else i,
                    seed = 1, logs = FALSE)
  expect_snapshot(job_collect(job), error = TRUE, transform = stable)
})

# --- costs and estimates ------------------------------------------------------------

test_that("a run's cost and several runs' costs print", {
  snapshot_prices()
  start <- as.POSIXct("2026-01-01 10:00:00", tz = "UTC")
  one <- sagesim:::run_cost("job-a", "Completed", "ml.m5.xlarge", 3, "eu-west-1",
                            start, start + 1200)
  expect_snapshot(print(one))
  running <- sagesim:::run_cost("job-b", "InProgress", "ml.m5.xlarge", 2, "us-east-1",
                                start, NULL, now = start + 360)
  unknown <- sagesim:::run_cost("job-c", "Completed", "ml.c7i.xlarge", 1, "us-east-1",
                                start, start + 3600)
  expect_snapshot(print(rbind(one, running, unknown)))
})

test_that("a local estimate prints", {
  use_temp_job_dir()
  expect_snapshot(print(submit_processing(simulation = simulation_spec(100, 100, 50, 20, seed = 3),
                                          instance_count = 2, estimate = TRUE)),
                  transform = timed)
  expect_snapshot(print(submit_map(1:10, function(i) i, seed = 1, estimate = TRUE)),
                  transform = timed)
})

# --- channels -----------------------------------------------------------------------

test_that("inputs, outputs and network settings print", {
  expect_snapshot({
    print(processing_input("s3://my-bucket/data/", name = "data"))
    print(processing_input("s3://my-bucket/data.gz", destination = "/opt/ml/processing/input/gz",
                           s3_input_mode = "Pipe", s3_data_distribution_type = "ShardedByS3Key",
                           s3_compression_type = "Gzip"))
  })
  expect_snapshot({
    print(processing_output("/opt/ml/processing/output/result", name = "result",
                            destination = "s3://my-bucket/results", s3_upload_mode = "Continuous"))
    print(processing_output("/opt/ml/processing/output/result"))
  })
  expect_snapshot({
    print(network_config())
    print(network_config(subnets = c("subnet-1", "subnet-2"), security_group_ids = "sg-1",
                         enable_network_isolation = TRUE, encrypt_inter_container_traffic = TRUE))
  })
})

# --- the foreach backend and futures ---------------------------------------------------

test_that("the foreach backend prints", {
  withr::defer(foreach::registerDoSEQ())
  expect_snapshot(print(registerDoSageMaker(instance_count = 2, instance_type = "local", seed = 5)))
  expect_snapshot(print(registerDoSageMaker(instance_type = "ml.m5.xlarge", image_uri = image)))
})

test_that("a future of plan(sagemaker) prints its job", {
  use_temp_job_dir()
  old <- future::plan(sagesim::sagemaker, instance_type = "local", workers = 1)
  withr::defer(future::plan(old))
  f <- future::future(1 + 1)
  future::value(f)
  # Only the lines of sagesim's method: the header is the future package's
  # print.Future() (NextMethod()), and the rest of it its own wording.
  ours <- function(lines) stable(grep("^(SageMakerFuture:|SageMaker job:)", lines, value = TRUE))
  expect_snapshot(print(f), transform = ours)
})

test_that("the IAM policies print", {
  expect_snapshot(print(sagesim_iam_policy(bucket = "my-bucket", role = "service-role/Runner",
                                           repository = NULL, region = "eu-west-1",
                                           account = "123456789012")))
})

# --- SageMaker (moto) ---------------------------------------------------------------

test_that("a session prints", {
  local_moto()
  session <- aws_session(role = role)
  expect_snapshot(print(session), transform = stable)
  expect_snapshot(format(session))
  expect_snapshot(print(aws_session()), transform = stable)
})

test_that("a call refused for want of a permission says what to add", {
  local_moto()
  session <- aws_session(role = role)
  inject_request_faults(list(Operation = "sagemaker:CreateProcessingJob", Fault = "AccessDenied",
                             Message = paste("User: arn:aws:iam::123456789012:user/analyst is not",
                                             "authorized to perform: iam:PassRole on resource:", role)))
  expect_snapshot(submit_processing(code = local_script(), image_uri = image, wait = FALSE,
                                    session = session), error = TRUE, transform = stable)
})

test_that("a SageMaker job that failed, and its status, print", {
  local_moto()
  snapshot_prices()
  job <- submit_processing(simulation = simulation_spec(100, 100, 50, 20, seed = 3),
                           image_uri = image, role = role, instance_count = 2, wait = FALSE)
  start <- as.numeric(as.POSIXct("2026-01-01 10:00:00", tz = "UTC"))
  set_job_status(job$name, "Failed", "AlgorithmError: the model diverged",
                 exit_message = "Error in run(): diverged", start = start, end = start + 1200)
  expect_snapshot(print(job), transform = stable)
  expect_snapshot(print(job_status(job)), transform = stable)
})

test_that("a SageMaker estimate prints, with its budget", {
  local_moto()
  snapshot_prices()
  expect_snapshot(print(submit_processing(code = local_script(), image_uri = image, role = role,
                                          instance_count = 3, instance_type = "ml.m5.xlarge",
                                          max_runtime = 7200, estimate = TRUE, budget = 10)))
  expect_snapshot(print(submit_processing(code = local_script(), image_uri = image, role = role,
                                          instance_type = "ml.c7i.xlarge", max_runtime = 3600,
                                          estimate = TRUE)))
})

# --- argument errors ----------------------------------------------------------------------

test_that("an argument of the wrong type is refused, naming it", {
  expect_snapshot(error = TRUE, {
    simulation_spec("1000", 1000, 100, 10)
    simulate_local(100, 100, 50, 20, seed = 1, keep_values = "yes")
    simulation_grid(x_length = c(100, NA), y_length = 100, num_people = 10, max_iterations = 5)
    submit_map(1:3, "sqrt")
    job_status("my-job")
  })
})

test_that("an argument out of its range is refused, with the range", {
  expect_snapshot(error = TRUE, {
    simulation_spec(1000, 1000, -1, 10)
    simulation_spec(1000, 1000, 100, 2.5)
    simulate_local(simulation_spec(100, 100, 50, 20, seed = 1), iterations = 15:30)
    submit_processing(simulation = simulation_spec(100, 100, 50, 20, seed = 1),
                      instance_type = "local", instance_count = 0)
  })
})

test_that("a value that is not one of the choices is refused, listing them", {
  expect_snapshot(error = TRUE, {
    processing_input("s3://my-bucket/data", s3_input_mode = "Stream")
    processing_output("/opt/ml/processing/output/x", s3_upload_mode = "AtOnce")
  })
})

test_that("a misspelt setting is refused, with what was meant", {
  use_temp_job_dir()
  expect_snapshot(error = TRUE, {
    submit_map(1:3, function(i) i, instance_cout = 2)
    registerDoSageMaker(imag_uri = "my-image")
    future::plan(sagesim::sagemaker, instance_count = 2)
  })
  job <- submit_processing(simulation = simulation_spec(100, 100, 50, 20, seed = 3),
                           instance_type = "local", logs = FALSE)
  expect_snapshot(job_resubmit(job, instanse_type = "local"), error = TRUE)
})

test_that("a missing argument is asked for", {
  expect_snapshot(error = TRUE, {
    submit_processing()
    simulation_spec(1000, 1000, 100)
    simulate_local(simulation_spec(100, 100, 50, 20, seed = 1), seed = 2)
  })
})
