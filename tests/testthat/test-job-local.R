# submit_processing(instance_type = "local"): the whole job on this machine.

test_that("a two-host local simulation job merges to exactly the local result", {
  use_temp_job_dir()
  spec <- simulation_spec(400, 300, 200, 150, seed = 8)
  output <- capture.output(
    job <- submit_processing(simulation = spec, instance_type = "local", instance_count = 2)
  )
  expect_s3_class(job, "sagesim_local_job")
  expect_match(job$name, "^sagesim-simulation-[0-9]{4}(-[0-9]{2}){5}-[0-9]{3}$")
  # Both hosts' logs reached the console, labelled by host.
  expect_true(any(grepl("^\\[algo-1\\] .*algo-1 \\(host 1 of 2\\)", output)))
  expect_true(any(grepl("^\\[algo-2\\] .*algo-2 \\(host 2 of 2\\)", output)))
  expect_identical(job_status(job)$status, "Completed")
  result <- job_collect(job, path = file.path(withr::local_tempdir(), "results"))
  local <- simulate_local(400, 300, 200, 150, seed = 8)
  expect_identical(result$values, local$values)
  expect_identical(result$mean, local$mean)
  expect_identical(result$counts, local$counts)
  expect_output(print(job), "Completed")
  expect_output(print(job), "2 x local")
})

test_that("a local script job gets its inputs, arguments and environment, and returns its files", {
  use_temp_job_dir()
  data <- withr::local_tempfile(fileext = ".csv")
  writeLines(c("x", "1", "2", "3.5"), data)
  script <- withr::local_tempfile(fileext = ".R")
  writeLines(c(
    "library(sagesim)",
    "args <- commandArgs(trailingOnly = TRUE)",
    "x <- read.csv(file.path(processing_path('input', 'data'), basename(args[[2]])))$x",
    "out <- args[[1]]",
    "dir.create(out, recursive = TRUE, showWarnings = FALSE)",
    "cat('host', processing_config()$current_host, 'greeting', Sys.getenv('GREETING'), '\\n')",
    "writeLines(sprintf('%.17g', mean(x) * as.numeric(Sys.getenv('FACTOR'))), file.path(out, 'output_result_mean.txt'))",
    "writeLines(Sys.getenv('GREETING'), file.path(out, 'greeting.txt'))"
  ), script)
  output <- capture.output(job <- submit_processing(
    code = script, instance_type = "local",
    arguments = c("/opt/ml/processing/output/result", basename(data)),
    inputs = c(data = data), outputs = c(result = "/opt/ml/processing/output/result"),
    env = c(GREETING = "hello there", FACTOR = "2")
  ))
  expect_true(any(grepl("[algo-1] host algo-1 greeting hello there", output, fixed = TRUE)))
  files <- job_collect(job, path = file.path(withr::local_tempdir(), "out"))
  expect_s3_class(files, "sagesim_job_files")
  expect_identical(files$result_mean, mean(c(1, 2, 3.5)) * 2)
  expect_setequal(files$files$file, c("result/output_result_mean.txt", "result/greeting.txt"))
  expect_identical(readLines(file.path(files$path, "result", "greeting.txt")), "hello there")
  expect_output(print(files), "output_result_mean.txt")
})

test_that("a failing local job fails with its message, and collecting refuses", {
  use_temp_job_dir()
  script <- withr::local_tempfile(fileext = ".R")
  writeLines(c("cat('about to fail\\n')",
               "root <- sagesim::processing_config()$root",
               "writeLines('the model diverged', file.path(root, 'output', 'message'))",
               "quit(status = 3)"), script)
  job <- submit_processing(code = script, instance_type = "local", wait = FALSE)
  output <- capture.output(error <- tryCatch(job_wait(job), error = identity))
  expect_true(any(grepl("[algo-1] about to fail", output, fixed = TRUE)))
  expect_s3_class(error, "sagesim_job_failed")
  expect_match(error$failure_reason, "algo-1 exited with status 3: the model diverged", fixed = TRUE)
  expect_identical(error$exit_message, "the model diverged")
  expect_identical(job_status(job)$status, "Failed")
  expect_error(job_collect(job), class = "sagesim_job_failed")
})

test_that("a local job that outlives max_runtime is ended and fails saying so", {
  skip_if(!nzchar(Sys.which("timeout")), "no timeout command")
  use_temp_job_dir()
  script <- local_script(c("cat('sleeping\\n')", "Sys.sleep(60)"))
  started <- Sys.time()
  error <- tryCatch(submit_processing(code = script, instance_type = "local", max_runtime = 1,
                                      logs = FALSE),
                    error = identity)
  expect_s3_class(error, "sagesim_job_failed")
  expect_match(error$failure_reason, "MaxRuntimeExceeded: algo-1 ran longer than max_runtime")
  expect_lt(as.numeric(difftime(Sys.time(), started, units = "secs")), 30)
})

test_that("the simulation worker's error message becomes the failure reason", {
  use_temp_job_dir()
  spec <- simulation_spec(100, 100, 10, 10, seed = 1)
  spec$x_length <- -5   # past validation, as a hand-edited spec would be
  job <- submit_processing(simulation = spec, instance_type = "local", wait = FALSE)
  error <- tryCatch(capture.output(job_wait(job, logs = FALSE)), error = identity)
  expect_s3_class(error, "sagesim_job_failed")
  expect_match(error$failure_reason, "x_length")
  expect_match(error$exit_message, "x_length")
  expect_match(conditionMessage(error), "x_length")
})

test_that("wait = FALSE returns at once; stop ends the job and the wait", {
  use_temp_job_dir()
  spec <- simulation_spec(1e5, 1e5, 1e6, 1e6, seed = 1)
  started <- Sys.time()
  job <- submit_processing(simulation = spec, instance_type = "local", instance_count = 2,
                           wait = FALSE)
  expect_lt(as.numeric(difftime(Sys.time(), started, units = "secs")), 5)
  Sys.sleep(1)
  expect_identical(job_status(job)$status, "InProgress")
  expect_stops(job)
  expect_identical(job_status(job)$status, "Stopped")
  # No host process is left behind.
  expect_no_host_left(job)
})

test_that("jobs can be re-attached by name and listed", {
  use_temp_job_dir()
  job <- submit_processing(simulation = simulation_spec(50, 50, 10, 20, seed = 2),
                           instance_type = "local", logs = FALSE)
  again <- job_attach(job$name)
  expect_s3_class(again, "sagesim_local_job")
  expect_identical(job_status(again)$status, "Completed")
  expect_identical(job_collect(again)$values, simulate_local(50, 50, 10, 20, seed = 2)$values)
  logs <- job_logs(again)
  expect_s3_class(logs, "sagesim_logs")
  expect_true(any(grepl("done in", logs$message)))
  # The hosts' progress reports are left out (they were logged).
  expect_gt(length(sagesim:::progress_parse(sagesim:::all_log_lines(again)$message)$line), 0)
  expect_length(sagesim:::progress_parse(logs$message)$line, 0)
  jobs <- list_jobs(instance_type = "local")
  expect_identical(jobs$name, job$name)
  expect_identical(jobs$status, "Completed")
})

test_that("a job left running is picked up, waited on and collected from a new R session", {
  dir <- use_temp_job_dir()
  job <- submit_processing(simulation = simulation_spec(200, 200, 100, 400, seed = 5),
                           instance_type = "local", instance_count = 2, wait = FALSE)
  script <- withr::local_tempfile(fileext = ".R")
  values <- withr::local_tempfile(fileext = ".rds")
  writeLines(c(
    "suppressPackageStartupMessages(library(sagesim))",
    sprintf("options(sagesim.job_dir = %s, sagesim.poll_interval = 0.2)", deparse(dir)),
    sprintf("job <- job_attach(%s)", deparse(job$name)),
    "job_wait(job, logs = FALSE)",
    sprintf("saveRDS(job_collect(job)$values, %s)", deparse(values))
  ), script)
  status <- run_rscript(script)
  expect_identical(status, 0L)
  expect_identical(readRDS(values), simulate_local(200, 200, 100, 400, seed = 5)$values)
})

test_that("bad local submissions are refused before anything is created", {
  dir <- use_temp_job_dir()
  spec <- simulation_spec(50, 50, 10, 20, seed = 2)
  expect_error(submit_processing(simulation = spec, instance_type = "local",
                                 inputs = c(data = "/no/such/file.csv")),
               "/no/such/file.csv", class = "sagesim_invalid_argument")
  expect_error(submit_processing(code = "/no/such/script.R", instance_type = "local"),
               class = "sagesim_invalid_argument")
  expect_error(submit_processing(instance_type = "local"), class = "sagesim_invalid_argument")
  expect_error(submit_processing(simulation = spec, code = "x.R", instance_type = "local"),
               class = "sagesim_invalid_argument")
  expect_error(submit_processing(simulation = spec, instance_type = "local",
                                 outputs = c(out = "/tmp/elsewhere")),
               class = "sagesim_invalid_argument")
  expect_error(submit_processing(simulation = spec, instance_type = "local", instance_count = 0),
               class = "sagesim_invalid_argument")
  expect_length(list.files(file.path(dir, "local-jobs")), 0)
})

test_that("a local job stages S3 inputs (sharded or not) and can deliver outputs to S3", {
  local_moto()
  use_temp_job_dir()
  session <- aws_session(bucket = "local-mode-bucket")
  sagesim:::ensure_bucket(session)
  for (i in 1:4) {
    file <- withr::local_tempfile()
    writeLines(as.character(i), file)
    sagesim:::aws_request(session, "s3:PutObjectFromFile", list(
      Bucket = "local-mode-bucket", Key = sprintf("data/part-%d.txt", i), Path = file))
  }
  script <- withr::local_tempfile(fileext = ".R")
  writeLines(c(
    "library(sagesim)",
    "host <- processing_config()$current_host",
    "all <- list.files(processing_path('input', 'all'))",
    "mine <- list.files(processing_path('input', 'shard'))",
    "out <- processing_path('output', 'files')",
    "dir.create(out, recursive = TRUE, showWarnings = FALSE)",
    "writeLines(c(paste(all, collapse = ','), paste(mine, collapse = ',')), file.path(out, paste0(host, '.txt')))"
  ), script)
  job <- submit_processing(
    code = script, instance_type = "local", instance_count = 2, logs = FALSE, session = session,
    inputs = list(processing_input("s3://local-mode-bucket/data/", name = "all"),
                  processing_input("s3://local-mode-bucket/data/", name = "shard",
                                   s3_data_distribution_type = "ShardedByS3Key")),
    outputs = list(processing_output("/opt/ml/processing/output/files", name = "files",
                                     destination = "s3://local-mode-bucket/results/files")))
  expect_identical(job_status(job)$status, "Completed")
  keys <- vapply(sagesim:::aws_request(session, "s3:ListObjects", list(
    Bucket = "local-mode-bucket", Prefix = "results/"))$Objects, `[[`, "", "Key")
  expect_setequal(keys, c("results/files/algo-1.txt", "results/files/algo-2.txt"))
  files <- job_collect(job)
  seen <- lapply(c("algo-1", "algo-2"), function(h) readLines(file.path(files$path, "files", paste0(h, ".txt"))))
  everything <- "part-1.txt,part-2.txt,part-3.txt,part-4.txt"
  # Fully replicated: every host has all four; sharded: each has two, none shared.
  expect_identical(seen[[1]][[1]], everything)
  expect_identical(seen[[2]][[1]], everything)
  shards <- strsplit(c(seen[[1]][[2]], seen[[2]][[2]]), ",")
  expect_identical(lengths(shards), c(2L, 2L))
  expect_setequal(unlist(shards), paste0("part-", 1:4, ".txt"))
})

test_that("unusual but valid jobs give simulate_local()'s result", {
  use_temp_job_dir()
  cases <- list(
    list(spec = simulation_spec(50, 40, 30, 3, seed = 1), hosts = 5),         # more hosts than iterations
    list(spec = simulation_spec(123.4, 56.7, 80, 30, distance = 2.5, seed = 2), hosts = 2),
    list(spec = simulation_spec(0.75, 1e4, 60, 20, distance = 0.01, seed = 3), hosts = 3),
    list(spec = simulation_spec(1000, 1000, 1000, 10000, seed = 4), hosts = 2) # a long job
  )
  for (case in cases) {
    job <- submit_processing(simulation = case$spec, instance_type = "local",
                             instance_count = case$hosts, logs = FALSE)
    result <- job_collect(job)
    expected <- simulate_local(case$spec)
    expect_identical(result$values, expected$values, info = sagesim:::describe_spec(case$spec))
    expect_identical(result$counts, expected$counts)
    expect_identical(result$params, expected$params)
  }
})

test_that("a merged job's elapsed adds its hosts' seconds, threads is the largest", {
  use_temp_job_dir()
  job <- submit_processing(simulation = simulation_spec(1000, 1000, 1000, 400, seed = 9),
                           instance_type = "local", instance_count = 2, logs = FALSE)
  result <- job_collect(job, path = file.path(withr::local_tempdir(), "out"))
  files <- list.files(file.path(job$dir, "output", "simulation"), "^sagesim-result-.*json$",
                      full.names = TRUE)
  parts <- lapply(files, function(f) jsonlite::fromJSON(f, simplifyVector = FALSE)$parts[[1]])
  expect_equal(result$elapsed, sum(vapply(parts, `[[`, 1, "elapsed_seconds")), tolerance = 1e-12)
  expect_identical(result$threads, max(vapply(parts, function(p) as.numeric(p$threads), 1)))
  a <- simulate_local(1000, 1000, 1000, 400, seed = 9, iterations = 1:100, threads = 1)
  b <- simulate_local(1000, 1000, 1000, 400, seed = 9, iterations = 101:400, threads = 2)
  combined <- combine_simulations(a, b)
  expect_identical(combined$elapsed, a$elapsed + b$elapsed)
  expect_identical(combined$threads, 2)
})

test_that("a host's last log line is shown even without a final newline", {
  use_temp_job_dir()
  output <- capture.output(job <- submit_processing(
    code = local_script(c("cat('first line\\n')", "cat('no newline at the end')")),
    instance_type = "local"))
  expect_identical(tail(output, 2), c("[algo-1] first line", "[algo-1] no newline at the end"))
})

test_that("collecting a local simulation job with a host's results missing names it and the folder", {
  use_temp_job_dir()
  job <- submit_processing(simulation = simulation_spec(100, 100, 50, 30, seed = 5),
                           instance_type = "local", instance_count = 3, logs = FALSE)
  folder <- file.path(job$dir, "output", "simulation")
  expect_true(file.remove(file.path(folder, "sagesim-result-algo-3-00001.json")))
  error <- tryCatch(job_collect(job), error = identity)
  expect_s3_class(error, "sagesim_results_missing")
  expect_identical(error$missing_hosts, "algo-3")
  expect_identical(error$location, normalizePath(folder))
  expect_match(conditionMessage(error), normalizePath(folder), fixed = TRUE)
  file.remove(list.files(folder, full.names = TRUE))
  error <- tryCatch(job_collect(job), error = identity)
  expect_s3_class(error, "sagesim_results_missing")
  expect_identical(error$missing_hosts, c("algo-1", "algo-2", "algo-3"))
})

# --- /opt/ml at its real path: each host in a mount namespace of its own ----

# A script as users write them: /opt/ml hard-coded, no sagesim at all.
hard_coded_script <- function(env = parent.frame()) {
  local_script(c(
    "args <- commandArgs(trailingOnly = TRUE)",
    "host <- jsonlite::fromJSON('/opt/ml/config/resourceconfig.json')$current_host",
    "data <- readLines('/opt/ml/processing/input/data/value.txt')",
    "dir.create('/opt/ml/processing/output/result', recursive = TRUE, showWarnings = FALSE)",
    "writeLines(c(host, args, data, Sys.getenv('SAGESIM_OPT_ML')), file.path('/opt/ml/processing/output/result', paste0(host, '.txt')))",
    "writeLines(data, '/opt/ml/processing/output/result/output_result_mean.txt')"
  ), env = env)
}

run_hard_coded_job <- function(hosts = 2) {
  data <- file.path(withr::local_tempdir(), "value.txt")
  writeLines("2.5", data)
  overwritten <- NULL
  # Every host writes output_result_mean.txt, as the workshop's script does:
  # one copy is kept, as on SageMaker, and a warning says so.
  withCallingHandlers(
    job <- submit_processing(code = hard_coded_script(), instance_type = "local", instance_count = hosts,
                             arguments = c("/opt/ml/processing/input/data/value.txt", "b"),
                             inputs = list(processing_input(data, name = "data",
                                                            destination = "/opt/ml/processing/input/data")),
                             outputs = c(result = "/opt/ml/processing/output/result"), logs = FALSE),
    sagesim_output_overwritten = function(w) {
      overwritten <<- w$files
      invokeRestart("muffleWarning")
    })
  expect_identical(overwritten, if (hosts > 1) "output_result_mean.txt")
  files <- job_collect(job, path = file.path(withr::local_tempdir(), "out"))
  expect_identical(files$result_mean, 2.5)
  for (host in sprintf("algo-%d", seq_len(hosts))) {
    # Arguments reach the script as they were given, the environment has no
    # stand-in, and the host read its own input.
    expect_identical(readLines(file.path(files$path, "result", paste0(host, ".txt"))),
                     c(host, "/opt/ml/processing/input/data/value.txt", "b", "2.5", ""))
  }
  invisible(job)
}

for (tool in c("bwrap", "unshare")) {
  test_that(sprintf("with %s, scripts with /opt/ml hard-coded run unchanged, and /opt is left alone", tool), {
    skip_without_mount_namespace(tool)
    use_temp_job_dir()
    withr::local_options(sagesim.mount_namespace = tool)
    before <- opt_listing()
    expect_no_warning(job <- run_hard_coded_job())
    expect_identical(job$runner$mode, "namespace")
    expect_identical(job$runner$tool, tool)
    expect_identical(opt_listing(), before)
    # Stopping a host in a namespace leaves no process behind.
    job <- submit_processing(code = local_script("Sys.sleep(60)"), instance_type = "local",
                             instance_count = 2, wait = FALSE)
    Sys.sleep(1)
    expect_identical(job_status(job)$status, "InProgress")
    expect_stops(job)
    expect_no_host_left(job)
  })
}

for (tool in c("bwrap", "unshare")) {
  test_that(sprintf("an unprivileged user's hosts see /opt/ml with %s, though they cannot write /opt", tool), {
    user <- local_unprivileged_user()
    before <- opt_listing()
    script <- file.path(user$home, "job.R")
    file.copy(hard_coded_script(), script)
    writeLines("7.5", file.path(user$home, "value.txt"))
    result <- file.path(user$home, "result.rds")
    log <- file.path(user$home, "log")
    status <- run_r_as(user, c(
      "suppressPackageStartupMessages(library(sagesim))",
      sprintf("options(sagesim.job_dir = %s, sagesim.poll_interval = 0.2, sagesim.mount_namespace = %s)",
              deparse(file.path(user$home, "jobs")), deparse(tool)),
      "job <- tryCatch(submit_processing(",
      sprintf("  code = %s, instance_type = 'local', instance_count = 2, logs = FALSE,", deparse(script)),
      "  arguments = c('/opt/ml/processing/input/data/value.txt', 'b'),",
      sprintf("  inputs = list(processing_input(%s, name = 'data', destination = '/opt/ml/processing/input/data')),",
              deparse(file.path(user$home, "value.txt"))),
      "  outputs = c(result = '/opt/ml/processing/output/result')),",
      "  sagesim_local_job_error = function(e) { saveRDS(list(refused = conditionMessage(e)), RESULT); quit(status = 0) })",
      "files <- job_collect(job, path = file.path(tempdir(), 'out'))",
      "saveRDS(list(mean = files$result_mean, runner = job$runner$tool, user = Sys.info()[['effective_user']],",
      "             host = readLines(file.path(files$path, 'result', 'algo-2.txt'))), RESULT)"
    ) |> gsub(pattern = "RESULT", replacement = deparse(result), fixed = TRUE), log)
    expect_identical(status, 0L, info = paste(readLines(log), collapse = "\n"))
    got <- readRDS(result)
    # unshare needs user namespaces, which some kernels refuse to users; bwrap
    # (setuid or not) must work wherever the tests run.
    if (!is.null(got$refused) && tool == "unshare") skip(paste("unshare refused:", got$refused))
    expect_null(got$refused)
    expect_identical(got$runner, tool)
    expect_identical(got$user, user$name)
    expect_identical(got$mean, 7.5)
    expect_identical(got$host, c("algo-2", "/opt/ml/processing/input/data/value.txt", "b", "7.5", ""))
    expect_identical(opt_listing(), before)
  })
}

test_that("without a namespace the submission says so, what it tried and how to enable it", {
  use_temp_job_dir()
  # bwrap and unshare that cannot make namespaces, as on a locked-down machine.
  bin <- withr::local_tempdir()
  for (tool in c("bwrap", "unshare")) {
    writeLines(c("#!/bin/sh", "echo \"$0: setting up uid map: Operation not permitted\" >&2", "exit 1"),
               file.path(bin, tool))
    Sys.chmod(file.path(bin, tool), "755")
  }
  withr::local_envvar(PATH = paste(bin, Sys.getenv("PATH"), sep = ":"))
  script <- local_script(c(
    "library(sagesim)",
    "out <- processing_path('output', 'result')",
    "dir.create(out, recursive = TRUE, showWarnings = FALSE)",
    "writeLines('1.5', file.path(out, 'output_result_mean.txt'))"))
  warning <- NULL
  job <- withCallingHandlers(
    submit_processing(code = script, instance_type = "local", logs = FALSE,
                      outputs = c(result = "/opt/ml/processing/output/result")),
    sagesim_no_mount_namespace = function(w) {
      warning <<- w
      invokeRestart("muffleWarning")
    })
  expect_s3_class(warning, "sagesim_no_mount_namespace")
  expect_identical(names(warning$tried), c("bwrap", "unshare"))
  expect_match(conditionMessage(warning), "Operation not permitted")
  expect_match(conditionMessage(warning), "apt-get install bubblewrap", fixed = TRUE)
  expect_match(conditionMessage(warning), "processing_path()", fixed = TRUE)
  expect_identical(deparse(conditionCall(warning)[[1]]), "submit_processing")
  # Scripts that use processing_path() still run.
  expect_identical(job$runner$mode, "process")
  expect_identical(job_collect(job)$result_mean, 1.5)
  # Asking for a tool that cannot work is an error, before anything is made.
  withr::local_options(sagesim.mount_namespace = "bwrap")
  jobs <- list.files(file.path(getOption("sagesim.job_dir"), "local-jobs"))
  expect_error(submit_processing(code = script, instance_type = "local"),
               "bwrap cannot make one here", class = "sagesim_local_job_error")
  expect_identical(list.files(file.path(getOption("sagesim.job_dir"), "local-jobs")), jobs)
  # "none" runs plain processes, quietly.
  withr::local_options(sagesim.mount_namespace = "none")
  expect_no_warning(job <- submit_processing(code = script, instance_type = "local", logs = FALSE))
  expect_identical(job$runner$mode, "process")
  expect_error(submit_processing(code = script, instance_type = "local",
                                 network = network_config(enable_network_isolation = TRUE)),
               "Network isolation", class = "sagesim_local_job_error")
})

test_that("network isolation leaves a namespaced host only its own loopback, as on SageMaker", {
  use_temp_job_dir()
  # /proc/net/dev lists the interfaces of the reader's network namespace.
  script <- local_script(c(
    "out <- '/opt/ml/processing/output/net'",
    "dir.create(out, recursive = TRUE, showWarnings = FALSE)",
    "writeLines(sort(sub(':.*', '', trimws(readLines('/proc/net/dev')[-(1:2)]))), file.path(out, 'interfaces.txt'))"))
  for (tool in c("bwrap", "unshare")) {
    if (is.null(tryCatch(skip_without_mount_namespace(tool), skip = function(e) NULL))) next
    withr::local_options(sagesim.mount_namespace = tool)
    interfaces <- function(isolated) {
      job <- submit_processing(code = script, instance_type = "local", logs = FALSE,
                               outputs = c(net = "/opt/ml/processing/output/net"),
                               network = network_config(enable_network_isolation = isolated))
      readLines(file.path(job_collect(job)$path, "net", "interfaces.txt"))
    }
    expect_identical(interfaces(TRUE), "lo", info = tool)
    expect_gt(length(interfaces(FALSE)), 1)
  }
})

test_that("a host that ignores TERM is killed after sagesim.stop_grace", {
  use_temp_job_dir()
  withr::local_options(sagesim.stop_grace = 1)
  script <- withr::local_tempfile(fileext = ".sh")
  writeLines(c("trap '' TERM", "while true; do sleep 0.2; done"), script)
  job <- submit_processing(code = script, command = "sh", instance_type = "local", wait = FALSE)
  Sys.sleep(1)
  started <- Sys.time()
  expect_message(job_stop(job), "Stopped")
  expect_gte(as.numeric(difftime(Sys.time(), started, units = "secs")), 1)
  expect_no_host_left(job)
  expect_warning(job_wait(job, logs = FALSE, timeout = 10), class = "sagesim_job_stopped")
})

test_that("a job stopped before its hosts have started ends as they start", {
  use_temp_job_dir()
  # A slow start (a busy machine): each host's session begins 2 s after it
  # was launched, so job_stop() finds no host to signal yet.
  bin <- withr::local_tempdir()
  writeLines(c("#!/bin/sh", "sleep 2", sprintf("exec %s \"$@\"", Sys.which("setsid"))),
             file.path(bin, "setsid"))
  Sys.chmod(file.path(bin, "setsid"), "755")
  withr::local_envvar(PATH = paste(bin, Sys.getenv("PATH"), sep = ":"))
  job <- submit_processing(code = local_script("Sys.sleep(120)"), instance_type = "local",
                           instance_count = 2, wait = FALSE, logs = FALSE)
  expect_false(any(file.exists(file.path(job$dir, "hosts", job$hosts, "pid"))))
  expect_message(job_stop(job), "Stopped")
  expect_warning(job_wait(job, logs = FALSE, timeout = 15), class = "sagesim_job_stopped")
  expect_identical(job_status(job)$status, "Stopped")
  expect_no_host_left(job)
})

test_that("a local folder given as a sharded input is divided between the hosts, as in the cloud", {
  use_temp_job_dir()
  folder <- withr::local_tempdir()
  for (name in c("b.csv", "a.csv", "B.csv", "sub/c.csv")) {
    dir.create(dirname(file.path(folder, name)), showWarnings = FALSE)
    writeLines(name, file.path(folder, name))
  }
  job <- submit_processing(code = local_script(), instance_type = "local", instance_count = 2,
                           logs = FALSE,
                           inputs = list(processing_input(folder, name = "shard",
                                                          s3_data_distribution_type = "ShardedByS3Key"),
                                         processing_input(folder, name = "all")))
  seen <- function(host, input) {
    sort(list.files(file.path(job$dir, "hosts", host, "opt", "ml", "processing", "input", input),
                    recursive = TRUE), method = "radix")
  }
  # In key order (B.csv, a.csv, b.csv, sub/c.csv), taken in turn.
  expect_identical(seen("algo-1", "shard"), c("B.csv", "b.csv"))
  expect_identical(seen("algo-2", "shard"), c("a.csv", "sub/c.csv"))
  expect_identical(seen("algo-1", "all"), c("B.csv", "a.csv", "b.csv", "sub/c.csv"))
  expect_identical(seen("algo-2", "all"), seen("algo-1", "all"))
})

# --- local mode as a new user meets it ------------------------------------------

test_that("job_wait() notices a local job's end within a second, however long it ran", {
  use_temp_job_dir()
  withr::local_options(sagesim.poll_interval = NULL)   # the default
  job <- submit_processing(code = local_script("Sys.sleep(4)"), instance_type = "local",
                           instance_count = 2, wait = FALSE)
  job_wait(job, logs = FALSE, timeout = 60)
  returned <- Sys.time()
  ended <- max(file.mtime(file.path(job$dir, "hosts", job$hosts, "exit_code")))
  expect_lt(as.numeric(difftime(returned, ended, units = "secs")), 1)
})

test_that("with no AWS configured, local jobs are listed and a typo is a job not found", {
  use_temp_job_dir()
  empty <- withr::local_tempfile()
  file.create(empty)
  withr::local_envvar(AWS_REGION = NA, AWS_DEFAULT_REGION = NA, AWS_PROFILE = NA,
                      AWS_ACCESS_KEY_ID = NA, AWS_SECRET_ACCESS_KEY = NA,
                      AWS_CONFIG_FILE = empty, AWS_SHARED_CREDENTIALS_FILE = empty,
                      AWS_EC2_METADATA_DISABLED = "true", AWS_ENDPOINT_URL = NA)
  cache <- sagesim:::session_cache
  cache$default <- NULL
  job <- submit_processing(simulation = simulation_spec(50, 50, 10, 5, seed = 1),
                           instance_type = "local", logs = FALSE)
  expect_message(jobs <- list_jobs(), "SageMaker jobs are not listed: SageMaker cannot be asked")
  expect_identical(jobs$name, job$name)
  expect_identical(jobs$where, "local")
  error <- tryCatch(job_attach("typo"), error = identity)
  expect_s3_class(error, "sagesim_job_not_found")
  expect_match(conditionMessage(error), "No job named typo")
  expect_match(conditionMessage(error), "no local job of that name", fixed = TRUE)
  expect_match(conditionMessage(error), "SageMaker cannot be asked", fixed = TRUE)
  expect_identical(job_attach(job$name)$name, job$name)
})

test_that("a stopped local job prints as Stopped, with the time it ran, and has nothing to collect", {
  use_temp_job_dir()
  job <- submit_processing(code = local_script("Sys.sleep(60)"), instance_type = "local",
                           wait = FALSE)
  Sys.sleep(2.5)
  expect_message(job_stop(job), "Stopped")
  expect_output(print(job), "status:    Stopped")
  expect_identical(job_status(job)$status, "Stopped")
  ran <- job_status(job)$end_time - job_status(job)$start_time
  expect_gt(ran, 2)
  expect_lt(ran, 20)
  expect_output(print(job_status(job)), sprintf("elapsed:        %.1f s", ran), fixed = TRUE)
  error <- tryCatch(job_collect(job), error = identity)
  expect_s3_class(error, "sagesim_job_not_finished")
  expect_match(conditionMessage(error), "was stopped before it completed")
  expect_no_match(conditionMessage(error), "wait for it")
})

test_that("hosts writing the same output file: the last host's is kept, with a warning naming them", {
  use_temp_job_dir()
  script <- local_script(c(
    "config <- sagesim::processing_config()",
    "host <- config$current_host",
    "out <- sagesim::processing_path('output')",
    "writeLines(as.character(match(host, config$hosts)), file.path(out, 'output_result_mean.txt'))",
    "writeLines(host, file.path(out, paste0(host, '.txt')))"))
  job <- submit_processing(code = script, instance_type = "local", instance_count = 3,
                           wait = FALSE, outputs = c(result = "/opt/ml/processing/output"))
  warning <- NULL
  withCallingHandlers(job_wait(job, logs = FALSE),
                      sagesim_output_overwritten = function(w) {
                        warning <<- w
                        invokeRestart("muffleWarning")
                      })
  expect_s3_class(warning, "sagesim_output_overwritten")
  expect_identical(warning$files, "output_result_mean.txt")
  expect_identical(warning$hosts, list(output_result_mean.txt = c("algo-1", "algo-2", "algo-3")))
  expect_match(conditionMessage(warning), "algo-3's copy kept", fixed = TRUE)
  files <- job_collect(job)
  expect_identical(files$result_mean, 3)
  expect_setequal(files$files$file, c("result/output_result_mean.txt",
                                      sprintf("result/algo-%d.txt", 1:3)))
})

test_that("a failed script's exit message is the R error that stopped it", {
  use_temp_job_dir()
  script <- local_script(c("x <- 1", "f <- function(n) stop('the model diverged at n = ', n)",
                           "f(42)"))
  error <- tryCatch(submit_processing(code = script, instance_type = "local", logs = FALSE),
                    error = identity)
  expect_s3_class(error, "sagesim_job_failed")
  expect_identical(error$exit_message, "Error in f(42) : the model diverged at n = 42")
  expect_match(error$failure_reason, "exited with status 1: Error in f(42) : the model diverged",
               fixed = TRUE)
  # One failure, one message: the reason holds the R error, said once.
  expect_identical(lengths(regmatches(conditionMessage(error),
                                      gregexpr("the model diverged", conditionMessage(error)))), 1L)
  expect_no_match(conditionMessage(error), "Exit message")
  printed <- capture.output(print(job_status(job_attach(error$job_name))))
  expect_identical(sum(grepl("the model diverged", printed)), 1L)
  expect_match(job_status(job_attach(error$job_name))$exit_message, "the model diverged at n = 42")
})

test_that("a map job's payload is kept once per job; local jobs' folders can be removed", {
  dir <- use_temp_job_dir()
  big <- runif(2e5)
  f <- function(i) big[[i]]
  job <- submit_map(1:4, f, instance_count = 3, logs = FALSE)
  expect_identical(unlist(job_collect(job)), big[1:4])
  kept <- file.path(job$dir, "map", "payload.rds")
  expect_identical(job$record$work$payload, normalizePath(kept))
  hosts <- file.path(job$dir, "hosts", job$hosts, "opt", "ml", "processing", "input", "map",
                     "payload.rds")
  # Every host sees the payload, which is one file on disk (linked, not copied).
  expect_true(all(file.exists(hosts)))
  inode <- function(path) system2("stat", c("-c", "%i", shQuote(path)), stdout = TRUE)
  expect_identical(unique(vapply(c(kept, hosts), inode, "")), inode(kept))
  # Removing: a running job is refused; finished ones go, by job or by age.
  running <- submit_processing(code = local_script("Sys.sleep(60)"), instance_type = "local",
                               wait = FALSE)
  expect_error(job_remove(running), class = "sagesim_job_not_finished")
  expect_message(job_stop(running), "Stopped")
  expect_identical(job_remove(running$name), running$name)
  expect_false(dir.exists(running$dir))
  # A removed job's handle says so, whatever is asked of it.
  for (verb in list(job_status, job_collect, job_wait, job_stop, job_remove)) {
    expect_error(verb(running), "was removed", class = "sagesim_job_not_found")
  }
  expect_identical(nrow(clean_local_jobs(older_than = 1)), 0L)
  listed <- clean_local_jobs(older_than = 0, dry_run = TRUE)
  expect_identical(listed$name, job$name)
  expect_true(dir.exists(job$dir))
  clean_local_jobs(older_than = 0)
  expect_false(dir.exists(job$dir))
  expect_error(job_remove("no-such-job"), class = "sagesim_job_not_found")
})

test_that("stopping a job that has ended changes nothing: its results stay collectable", {
  use_temp_job_dir()
  job <- submit_processing(simulation = simulation_spec(100, 100, 10, 10, seed = 1),
                           instance_type = "local", instance_count = 2, logs = FALSE)
  expect_message(job_stop(job), "has already ended \\(Completed\\); nothing to stop")
  expect_identical(job_status(job)$status, "Completed")
  expect_identical(job_collect(job)$values, simulate_local(100, 100, 10, 10, seed = 1)$values)
  expect_identical(job_status(job_attach(job$name))$status, "Completed")
  # A stop that races the end: every host had finished its work.
  file.create(file.path(job$dir, "stopped"))
  expect_identical(job_status(job)$status, "Completed")
})

test_that("a host that quits without an R error has no exit message, never a log line", {
  use_temp_job_dir()
  error <- tryCatch(submit_map(1:3, function(i) quit(status = 3), logs = FALSE), error = identity)
  expect_s3_class(error, "sagesim_job_failed")
  expect_match(error$failure_reason, "exited with status 3", fixed = TRUE)
  expect_null(error$exit_message)
  expect_no_match(conditionMessage(error), "Exit message")
  expect_no_match(conditionMessage(error), "elements, seed")
})
