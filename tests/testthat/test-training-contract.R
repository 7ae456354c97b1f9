# training_host() and the Training runtime stand-in: a job run as a
# SageMaker Training job (channels, hyperparameters, checkpoints) runs the
# Processing job's command unchanged, and a host interrupted as a Spot
# instance is (SAGESIM_INTERRUPT_AFTER) finishes from its checkpoints with
# the results of an uninterrupted run.

training_entrypoint <- list("Rscript", "-e", "sagesim::training_host()")

# A CreateTrainingJob request running `command` (the Processing job's
# entrypoint and arguments) on `count` hosts; `inputs`: channel name = local
# folder, `destinations`: channel name = its Processing destination,
# `outputs`: output name = its Processing source. Local folders stand for
# S3 URIs.
training_request <- function(command, checkpoints, inputs = list(), destinations = list(),
                             outputs = list(), count = 2, env = list()) {
  list(
    TrainingJobName = "training-test",
    AlgorithmSpecification = list(TrainingImage = "sagesim:test", TrainingInputMode = "File",
                                  ContainerEntrypoint = training_entrypoint,
                                  ContainerArguments = as.list(command)),
    HyperParameters = c(prefixed(destinations, "sagesim-input-"),
                        prefixed(outputs, "sagesim-output-")),
    InputDataConfig = unname(lapply(names(inputs), function(name) {
      list(ChannelName = name, InputMode = "File", CompressionType = "None",
           DataSource = list(S3DataSource = list(S3DataType = "S3Prefix", S3Uri = inputs[[name]],
                                                 S3DataDistributionType = "FullyReplicated")))
    })),
    CheckpointConfig = list(S3Uri = checkpoints, LocalPath = "/opt/ml/checkpoints"),
    OutputDataConfig = list(S3OutputPath = file.path(checkpoints, "..", "output")),
    ResourceConfig = list(InstanceType = "ml.m5.large", InstanceCount = count,
                          VolumeSizeInGB = 10),
    StoppingCondition = list(MaxRuntimeInSeconds = 600, MaxWaitTimeInSeconds = 1200),
    EnableManagedSpotTraining = TRUE,
    Environment = env)
}

prefixed <- function(x, prefix) {
  if (length(x) > 0) stats::setNames(x, paste0(prefix, names(x))) else list()
}

# The Processing request of the same job (processingjobconfig.json form).
processing_request <- function(command, inputs = list(), destinations = list(),
                               outputs = list(), output_dir, count = 2, env = list()) {
  list(
    ProcessingJobName = "processing-test",
    AppSpecification = list(ImageUri = "sagesim:test", ContainerEntrypoint = as.list(command[1:3]),
                            ContainerArguments = as.list(command[-(1:3)])),
    ProcessingInputs = unname(lapply(names(inputs), function(name) {
      list(InputName = name, S3Input = list(S3Uri = inputs[[name]], LocalPath = destinations[[name]],
                                            S3DataType = "S3Prefix", S3InputMode = "File",
                                            S3DataDistributionType = "FullyReplicated"))
    })),
    ProcessingOutputConfig = list(Outputs = unname(lapply(names(outputs), function(name) {
      list(OutputName = name, S3Output = list(S3Uri = file.path(output_dir, name),
                                              LocalPath = outputs[[name]], S3UploadMode = "EndOfJob"))
    }))),
    ProcessingResources = list(ClusterConfig = list(InstanceCount = count,
                                                    InstanceType = "ml.m5.large",
                                                    VolumeSizeInGB = 10)),
    StoppingCondition = list(MaxRuntimeInSeconds = 600),
    Environment = env)
}

# Stages `request` in `dir` through the runtime's command line, hosts as
# plain processes; `interrupt`: host = SAGESIM_INTERRUPT_AFTER for it.
stage_job <- function(request, dir, interrupt = list(), runner = list(mode = "process")) {
  config <- file.path(dirname(dir), paste0(basename(dir), ".json"))
  writeLines(jsonlite::toJSON(request, auto_unbox = TRUE, null = "null", digits = NA), config)
  processing_runtime(c("stage", config, dir, jsonlite::toJSON(runner, auto_unbox = TRUE)))
  for (host in names(interrupt)) {
    sagesim:::write_host_script(jsonlite::fromJSON(config, simplifyVector = FALSE), dir, host,
                                runner,
                                extra_env = c(SAGESIM_INTERRUPT_AFTER = interrupt[[host]]))
  }
  config
}

# Runs every host's run.sh, then the runtime's `deliver`; the hosts' exit codes.
run_job <- function(config, dir, deliver = TRUE) {
  hosts <- sort(list.files(file.path(dir, "hosts")))
  for (host in hosts) system2("sh", file.path(dir, "hosts", host, "run.sh"))
  if (deliver) processing_runtime(c("deliver", config, dir))
  stats::setNames(vapply(hosts, function(h) {
    as.integer(readLines(file.path(dir, "hosts", h, "exit_code")))
  }, 1L), hosts)
}

host_log <- function(dir, host) readLines(file.path(dir, "hosts", host, "log"))

# Two runs of a simulation differ only in seconds of computation.
without_timing <- function(result) {
  result$elapsed <- NULL
  result$threads <- NULL
  result
}

test_that("a 2-host map run as a Training job, one host interrupted, gives the uninterrupted results", {
  root <- withr::local_tempdir("sagesim-training-")
  key <- sagesim:::unwrap(sagesim:::integrity_key())
  input <- file.path(root, "map-input")
  dir.create(input)
  # Each element run leaves a line: a restarted host runs only what it lacks.
  runs <- file.path(root, "runs")
  payload <- sagesim:::new_map_payload(as.list(1:10), function(i) {
    cat(i, "\n", file = runs, append = TRUE)
    Sys.sleep(0.05)
    stats::rnorm(1) + i
  }, list(), character(), 42L)
  sagesim:::write_map_payload(payload, file.path(input, "payload.rds"))
  command <- c("Rscript", "-e", "sagesim::run_worker()",
               "--map", "/opt/ml/processing/input/map/payload.rds",
               "--map-sha256", sagesim:::payload_sha256(file.path(input, "payload.rds")),
               "--seed", "42", "--output-dir", "/opt/ml/processing/output/map")
  env <- list(SAGESIM_RESULTS_KEY = key, SAGESIM_CHECKPOINT_EVERY = "0")
  inputs <- list(map = input)
  destinations <- list(map = "/opt/ml/processing/input/map")
  outputs <- list(map = "/opt/ml/processing/output/map")

  checkpoints <- file.path(root, "checkpoints")
  training <- file.path(root, "training")
  config <- stage_job(training_request(command, checkpoints, inputs, destinations, outputs,
                                       env = env),
                      training, interrupt = list(`algo-1` = "2"))
  expect_true(file.exists(file.path(training, "hosts", "algo-2", "opt", "ml", "input", "data",
                                    "map", "payload.rds")))
  resources <- jsonlite::fromJSON(file.path(training, "hosts", "algo-2", "opt", "ml", "input",
                                            "config", "resourceconfig.json"))
  expect_identical(resources, list(current_host = "algo-2", hosts = c("algo-1", "algo-2"),
                                   network_interface_name = "eth0"))
  expect_identical(run_job(config, training), c(`algo-1` = 0L, `algo-2` = 0L))
  log <- host_log(training, "algo-1")
  expect_match(log, "interrupted after saving [0-9]+ elements", all = FALSE)
  expect_match(log, "host algo-1 was interrupted \\(Spot\\); restarted from its checkpoints",
               all = FALSE)
  expect_match(log, "restarted on [0-9]+ results files? of its own", all = FALSE)
  expect_false(any(grepl("interrupted", host_log(training, "algo-2"))))
  expect_false(file.exists(file.path(training, "hosts", "algo-1", "opt", "ml", "interrupted")))
  # An interruption is no failure.
  expect_false(file.exists(file.path(training, "hosts", "algo-1", "opt", "ml", "output", "failure")))
  expect_identical(sort(as.integer(readLines(runs))), 1:10)
  unlink(runs)

  plain <- file.path(root, "processing")
  delivered <- file.path(root, "delivered")
  config <- stage_job(processing_request(command, inputs, destinations, outputs,
                                         output_dir = delivered, env = env), plain)
  expect_identical(run_job(config, plain), c(`algo-1` = 0L, `algo-2` = 0L))

  job <- list(name = "training-test", results_key = sagesim:::new_secret(key), outputs = list())
  interrupted <- sagesim:::read_map_results(job, file.path(checkpoints, "map"), errors = "stop")
  expect_identical(interrupted, sagesim:::read_map_results(job, file.path(delivered, "map"),
                                                           errors = "stop"))
  expect_length(interrupted, 10)
})

test_that("a 2-host simulation run as a Training job, one host interrupted, gives the uninterrupted results", {
  root <- withr::local_tempdir("sagesim-training-")
  key <- sagesim:::unwrap(sagesim:::integrity_key())
  command <- c("Rscript", "-e", "sagesim::run_worker()", "--x-length", "100", "--y-length", "100",
               "--num-people", "40", "--max-iterations", "6000", "--seed", "11",
               "--output-dir", "/opt/ml/processing/output/simulation")
  env <- list(SAGESIM_RESULTS_KEY = key, SAGESIM_CHECKPOINT_EVERY = "0")
  outputs <- list(simulation = "/opt/ml/processing/output/simulation")

  checkpoints <- file.path(root, "checkpoints")
  training <- file.path(root, "training")
  config <- stage_job(training_request(command, checkpoints, outputs = outputs, env = env),
                      training, interrupt = list(`algo-2` = "2"))
  expect_identical(run_job(config, training, deliver = FALSE), c(`algo-1` = 0L, `algo-2` = 0L))
  # The files saved before the interruption were kept, not written again:
  # only the later ones are new to the checkpoints.
  request <- jsonlite::fromJSON(config, simplifyVector = FALSE)
  copied <- sagesim:::save_checkpoints(request, training, "algo-2")
  expect_true("simulation/sagesim-result-algo-2-00003.json" %in% copied)
  expect_false(any(c("simulation/sagesim-result-algo-2-00001.json",
                     "simulation/sagesim-result-algo-2-00002.json") %in% copied))
  processing_runtime(c("deliver", config, training))
  log <- host_log(training, "algo-2")
  expect_match(log, "interrupted after saving 2 result files", all = FALSE)
  expect_match(log, "restarted on 2 result files of its own", all = FALSE)
  expect_match(log, "host algo-2 was interrupted \\(Spot\\); restarted from its checkpoints",
               all = FALSE)
  files <- list.files(file.path(checkpoints, "simulation"), "^sagesim-result-algo-2-.*json$")
  expect_gt(length(files), 2)

  plain <- file.path(root, "processing")
  delivered <- file.path(root, "delivered")
  config <- stage_job(processing_request(command, outputs = outputs, output_dir = delivered,
                                         env = env), plain)
  expect_identical(run_job(config, plain), c(`algo-1` = 0L, `algo-2` = 0L))
  resumed <- read_simulation_results(file.path(checkpoints, "simulation"))
  expect_identical(without_timing(resumed),
                   without_timing(read_simulation_results(file.path(delivered, "simulation"))))
  expect_identical(resumed$iterations, c(first = 1, last = 6000))
})

test_that("a worker started again skips its verified files and redoes one restored without its signature", {
  root <- withr::local_tempdir("sagesim-resume-")
  key <- sagesim:::unwrap(sagesim:::integrity_key())
  output <- file.path(root, "out")
  args <- c("--x-length", "80", "--y-length", "80", "--num-people", "30",
            "--max-iterations", "3000", "--seed", "5", "--output-dir", output)
  fake_opt_ml(file.path(root, "opt-ml"), "algo-1", "algo-1")
  withr::local_envvar(SAGESIM_CHECKPOINT_EVERY = "0")
  run <- function() {
    withr::local_envvar(SAGESIM_RESULTS_KEY = key)
    capture.output(run_worker(args, exit_on_error = FALSE))
  }
  run()
  whole <- read_simulation_results(output)
  files <- sort(list.files(output, "^sagesim-result-algo-1-.*[.]json$", full.names = TRUE))
  expect_gt(length(files), 3)
  # As restored from checkpoints after an interruption: the last files
  # gone, one left without its signature.
  unlink(utils::tail(files, 2))
  unlink(paste0(files[[length(files) - 2]], ".hmac"))
  others <- file.path(output, "sagesim-result-algo-10-00001.json")
  writeLines("another host's file, never touched", others)
  log <- run()
  expect_match(log, "restarted on [0-9]+ result files of its own: .*; 1 unverified file removed",
               all = FALSE)
  expect_identical(readLines(others), "another host's file, never touched")
  unlink(others)
  expect_identical(without_timing(read_simulation_results(output)), without_timing(whole))
  # Started once more on its complete files, it runs nothing and keeps them.
  before <- tools::md5sum(list.files(output, full.names = TRUE))
  run()
  expect_identical(tools::md5sum(list.files(output, full.names = TRUE)), before)
})

test_that("a user's script runs under training_host() with the Processing paths", {
  root <- withr::local_tempdir("sagesim-training-")
  data <- file.path(root, "data")
  dir.create(data)
  writeLines(c("x", "1", "2", "3"), file.path(data, "numbers.csv"))
  script_folder <- file.path(root, "code")
  dir.create(script_folder)
  writeLines(c(
    "library(sagesim)",
    "config <- processing_config()",
    "numbers <- read.csv(processing_path('input', 'data', 'numbers.csv'))",
    "out <- processing_path('output', 'result')",
    "dir.create(out, recursive = TRUE, showWarnings = FALSE)",
    "writeLines(c(config$current_host, paste(config$hosts, collapse = ','),",
    "             is.null(config$job), sum(numbers$x), commandArgs(TRUE)),",
    "           file.path(out, paste0(config$current_host, '.txt')))"
  ), file.path(script_folder, "script.R"))
  command <- c("Rscript", "/opt/ml/processing/input/code/script.R", "a b", "c")
  checkpoints <- file.path(root, "checkpoints")
  training <- file.path(root, "training")
  config <- stage_job(training_request(
    command, checkpoints, inputs = list(data = data, code = script_folder),
    destinations = list(data = "/opt/ml/processing/input/data",
                        code = "/opt/ml/processing/input/code"),
    outputs = list(result = "/opt/ml/processing/output/result")), training)
  expect_identical(run_job(config, training), c(`algo-1` = 0L, `algo-2` = 0L))
  expect_identical(readLines(file.path(checkpoints, "result", "algo-2.txt")),
                   c("algo-2", "algo-1,algo-2", "TRUE", "6", "a b", "c"))
  expect_true(file.exists(file.path(checkpoints, "result", "algo-1.txt")))
  # Checkpointing again copies nothing that did not change.
  request <- jsonlite::fromJSON(config, simplifyVector = FALSE)
  expect_length(sagesim:::save_checkpoints(request, training, "algo-1"), 0)
})

test_that("a failing command writes output/failure and training_host() exits non-zero", {
  root <- withr::local_tempdir("sagesim-training-")
  code <- file.path(root, "code")
  dir.create(code)
  writeLines("stop('the script broke')", file.path(code, "script.R"))
  checkpoints <- file.path(root, "checkpoints")
  training <- file.path(root, "training")
  config <- stage_job(training_request(
    c("Rscript", "/opt/ml/processing/input/code/script.R"), checkpoints,
    inputs = list(code = code), destinations = list(code = "/opt/ml/processing/input/code"),
    count = 1), training)
  expect_identical(run_job(config, training), c(`algo-1` = 1L))
  failure <- file.path(training, "hosts", "algo-1", "opt", "ml", "output", "failure")
  expect_match(readLines(failure), "exited with status 1", all = FALSE)
  expect_match(host_log(training, "algo-1"), "the script broke", all = FALSE)

  # A sagesim worker's own message is the failure.
  worker <- file.path(root, "worker")
  config <- stage_job(training_request(
    c("Rscript", "-e", "sagesim::run_worker()", "--x-length", "-1", "--y-length", "1",
      "--num-people", "2", "--max-iterations", "1", "--seed", "1"), checkpoints, count = 1),
    worker)
  expect_identical(run_job(config, worker), c(`algo-1` = 1L))
  failure <- file.path(worker, "hosts", "algo-1", "opt", "ml", "output", "failure")
  expect_match(readLines(failure), "x_length", all = FALSE)
  expect_false(any(grepl("exited with status", readLines(failure))))

  # Outside a Training container, training_host() refuses, classed.
  withr::local_envvar(SAGESIM_OPT_ML = file.path(root, "nowhere"))
  expect_error(capture.output(training_host(c("true"), exit = FALSE), type = "message"),
               class = "sagesim_training_error")
})

test_that("checkpoints go to S3 as they change and come back on restore", {
  local_moto()
  session <- sagesim:::default_session()
  bucket <- sagesim:::ensure_bucket(session)
  root <- withr::local_tempdir("sagesim-training-")
  code <- file.path(root, "code")
  dir.create(code)
  writeLines(c(
    "out <- sagesim::processing_path('output', 'result')",
    "writeLines(sagesim::processing_config()$current_host,",
    "           file.path(out, paste0(sagesim::processing_config()$current_host, '.txt')))"
  ), file.path(code, "script.R"))
  training <- file.path(root, "training")
  config <- stage_job(training_request(
    c("Rscript", "/opt/ml/processing/input/code/script.R"),
    sprintf("s3://%s/training-test/checkpoints", bucket),
    inputs = list(code = code), destinations = list(code = "/opt/ml/processing/input/code"),
    outputs = list(result = "/opt/ml/processing/output/result")), training)
  expect_identical(run_job(config, training), c(`algo-1` = 0L, `algo-2` = 0L))
  listed <- sagesim:::aws_request(session, "s3:ListObjects",
                                  list(Bucket = bucket, Prefix = "training-test/checkpoints/"))
  expect_identical(sort(vapply(listed$Objects, `[[`, "", "Key")),
                   c("training-test/checkpoints/result/algo-1.txt",
                     "training-test/checkpoints/result/algo-2.txt"))
  request <- jsonlite::fromJSON(config, simplifyVector = FALSE)
  expect_length(sagesim:::save_checkpoints(request, training, "algo-1"), 0)
  folder <- file.path(training, "hosts", "algo-1", "opt", "ml", "checkpoints")
  writeLines("changed", file.path(folder, "result", "algo-1.txt"))
  expect_identical(sagesim:::save_checkpoints(request, training, "algo-1"), "result/algo-1.txt")
  # Restored: the host's folder emptied and filled with every host's files.
  writeLines("not in S3", file.path(folder, "stale.txt"))
  processing_runtime(c("restore", config, training, "algo-1"))
  expect_identical(sort(list.files(folder, recursive = TRUE)),
                   c("result/algo-1.txt", "result/algo-2.txt"))
  expect_identical(readLines(file.path(folder, "result", "algo-1.txt")), "changed")
  expect_error(processing_runtime(c("restore", config, training)),
               class = "sagesim_invalid_argument")
})

test_that("a map worker started again redoes a results file restored without its signature", {
  root <- withr::local_tempdir("sagesim-resume-")
  key <- sagesim:::unwrap(sagesim:::integrity_key())
  input <- file.path(root, "input")
  dir.create(input)
  payload <- sagesim:::new_map_payload(as.list(1:6), function(i) stats::runif(1) + i,
                                       list(), character(), 3L)
  sagesim:::write_map_payload(payload, file.path(input, "payload.rds"))
  output <- file.path(root, "out")
  args <- c("--map", file.path(input, "payload.rds"),
            "--map-sha256", sagesim:::payload_sha256(file.path(input, "payload.rds")),
            "--seed", "3", "--output-dir", output)
  fake_opt_ml(file.path(root, "opt-ml"), "algo-1", "algo-1")
  withr::local_envvar(SAGESIM_CHECKPOINT_EVERY = "0")
  run <- function() {
    withr::local_envvar(SAGESIM_RESULTS_KEY = key)
    capture.output(run_worker(args, exit_on_error = FALSE))
  }
  job <- list(name = "resume-test", results_key = sagesim:::new_secret(key), outputs = list())
  run()
  whole <- sagesim:::read_map_results(job, output, errors = "stop")
  files <- sort(list.files(output, "^map-results-algo-1-.*[.]rds$", full.names = TRUE))
  expect_gt(length(files), 2)
  unlink(utils::tail(files, 1))
  unlink(paste0(files[[length(files) - 1]], ".hmac"))
  log <- run()
  expect_match(log, "restarted on [0-9]+ results files? of its own: .*; 1 unverified file removed",
               all = FALSE)
  expect_identical(sagesim:::read_map_results(job, output, errors = "stop"), whole)
})

test_that("a sweep's host started again finishes each cell as one run would", {
  root <- withr::local_tempdir("sagesim-resume-")
  output <- file.path(root, "out")
  args <- c("--x-length", "60,90", "--y-length", "60", "--num-people", "20,30",
            "--max-iterations", "1500", "--seed", "9", "--sweep", "true", "--output-dir", output)
  fake_opt_ml(file.path(root, "opt-ml"), "algo-2", c("algo-1", "algo-2"))
  withr::local_envvar(SAGESIM_CHECKPOINT_EVERY = "0")
  parts <- function() {
    files <- list.files(output, "^sagesim-result-.*[.]json$", full.names = TRUE)
    collected <- sagesim:::unwrap(sagesim:::results_collect(files, TRUE))
    lapply(collected$parts, function(p) {
      p[setdiff(names(p), c("elapsed_seconds", "threads"))]
    })
  }
  capture.output(run_worker(args, exit_on_error = FALSE))
  whole <- parts()
  files <- sort(list.files(output, "^sagesim-result-algo-2-.*[.]json$", full.names = TRUE))
  expect_gt(length(files), 3)
  unlink(utils::tail(files, ceiling(length(files) / 2)))
  log <- capture.output(run_worker(args, exit_on_error = FALSE))
  expect_match(log, "restarted on [0-9]+ result files? of its own", all = FALSE)
  expect_identical(parts(), whole)
})

test_that("an interrupted Training host restarts in a mount namespace, where it sees /opt/ml", {
  tool <- skip_without_mount_namespace()
  runner <- sagesim:::local_runner()
  root <- withr::local_tempdir("sagesim-training-")
  command <- c("Rscript", "-e", "sagesim::run_worker()", "--x-length", "100", "--y-length", "100",
               "--num-people", "40", "--max-iterations", "3000", "--seed", "12",
               "--output-dir", "/opt/ml/processing/output/simulation")
  env <- list(SAGESIM_CHECKPOINT_EVERY = "0")
  outputs <- list(simulation = "/opt/ml/processing/output/simulation")
  checkpoints <- file.path(root, "checkpoints")
  training <- file.path(root, "training")
  config <- stage_job(training_request(command, checkpoints, outputs = outputs, env = env),
                      training, interrupt = list(`algo-1` = "2"), runner = runner)
  expect_identical(run_job(config, training), c(`algo-1` = 0L, `algo-2` = 0L))
  expect_match(host_log(training, "algo-1"), "host algo-1 was interrupted", all = FALSE)
  plain <- file.path(root, "processing")
  delivered <- file.path(root, "delivered")
  config <- stage_job(processing_request(command, outputs = outputs, output_dir = delivered,
                                         env = env), plain, runner = runner)
  expect_identical(run_job(config, plain), c(`algo-1` = 0L, `algo-2` = 0L))
  expect_identical(without_timing(read_simulation_results(file.path(checkpoints, "simulation"))),
                   without_timing(read_simulation_results(file.path(delivered, "simulation"))))
})
