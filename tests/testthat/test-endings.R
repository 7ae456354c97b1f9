# Nothing a host finished is lost, locally: whatever ends a job (a stop, a
# host's code failing, a host killed, a host that never starts), what its
# hosts finished comes back identical to a clean run's, the rest as
# unfinished, and a resubmission runs only the rest. (The jobs, their clean
# runs and the checks are in helper-endings.R.)

# Each host saves what it finished every 0.2 s (at least).
often <- c(SAGESIM_CHECKPOINT_EVERY = "0.2")

# Starts a 2-host local job of `kind` ("map", "simulation", "sweep").
start_kind <- function(kind, retries = 0, max_runtime = 3600, f = slow_times_ten) {
  switch(kind,
    map = submit_map(1:40, f, seed = 4, instance_count = 2, instance_type = "local",
                     retries = retries, wait = FALSE, env = often, max_runtime = max_runtime),
    simulation = submit_processing(simulation = sim_spec(), instance_type = "local",
                                   instance_count = 2, retries = retries, wait = FALSE,
                                   env = often, max_runtime = max_runtime),
    sweep = submit_processing(simulation = sweep_grid(), instance_type = "local",
                              instance_count = 2, retries = retries, wait = FALSE, env = often,
                              max_runtime = max_runtime))
}

# Waits until `host` of `job` has saved something.
await_saved <- function(job, host) {
  folder <- file.path(job$dir, "hosts", host, "opt", "ml", "processing", "output")
  deadline <- Sys.time() + 60
  while (length(list.files(folder, pattern = "^(map-results|sagesim-result)-.*[.](rds|json)$",
                           recursive = TRUE)) == 0 && Sys.time() < deadline) {
    Sys.sleep(0.05)
  }
}

test_that("a host that ends between the status's two reads is never taken for lost", {
  use_temp_job_dir()
  job <- submit_processing(code = local_script("Sys.sleep(1)"), instance_type = "local",
                           wait = FALSE, logs = FALSE)
  # The worst moment: the host ends just as its liveness is read.
  real <- sagesim:::host_process_alive
  ending <- function(dir, host) {
    deadline <- Sys.time() + 30
    while (real(dir, host) && Sys.time() < deadline) Sys.sleep(0.02)
    real(dir, host)
  }
  utils::assignInNamespace("host_process_alive", ending, "sagesim")
  on.exit(utils::assignInNamespace("host_process_alive", real, "sagesim"), add = TRUE)
  # Never Failed: the host ended, it was not lost. (Until its supervisor has
  # delivered the outputs, the job is still running.)
  expect_true(job_status(job)$status %in% c("InProgress", "Completed"))
  sagesim:::await_delivery(job)
  expect_identical(job_status(job)$status, "Completed")
  expect_identical(job_status(job)$status, "Completed")
})

for (kind in c("map", "simulation", "sweep")) {
  test_that(sprintf("a %s job stopped mid-way keeps what its hosts finished; a resubmission runs the rest", kind), {
    use_temp_job_dir()
    clean <- clean_result(kind)
    job <- start_kind(kind)
    await_saved(job, "algo-1")
    await_saved(job, "algo-2")
    expect_message(job_stop(job), "Stopped")
    expect_identical(job_status(job)$status, "Stopped")
    expect_identical(job_status(job)$status, "Stopped")
    expect_error(job_collect(job), class = "sagesim_job_not_finished")
    expect_kept_and_completed(kind, job, clean, "was stopped before host algo-[12] finished it")
  })

  test_that(sprintf("a %s job whose host is killed keeps what its hosts finished", kind), {
    use_temp_job_dir()
    clean <- clean_result(kind)
    job <- start_kind(kind)
    await_saved(job, "algo-2")
    system2("kill", c("-KILL", paste0("-", readLines(file.path(job$dir, "hosts", "algo-2", "pid")))))
    expect_s3_class(wait_quietly(job), "sagesim_job_failed")
    expect_match(job_status(job)$failure_reason, "algo-2 was lost")
    expect_kept_and_completed(kind, job, clean, "host algo-2 was lost|algo-[12]")
  })

  test_that(sprintf("a %s job with a host that never starts keeps the other's work", kind), {
    use_temp_job_dir()
    withr::local_options(sagesim.host_start_timeout = 2)
    # algo-2's session is never started, as an instance that never came up.
    bin <- withr::local_tempdir()
    writeLines(c("#!/bin/sh", "case \"$*\" in *hosts/algo-2/run.sh*) exit 0 ;; esac",
                 sprintf("exec %s \"$@\"", Sys.which("setsid"))), file.path(bin, "setsid"))
    Sys.chmod(file.path(bin, "setsid"), "755")
    withr::local_envvar(PATH = paste(bin, Sys.getenv("PATH"), sep = ":"))
    clean <- clean_result(kind)
    job <- start_kind(kind)
    expect_s3_class(wait_quietly(job), "sagesim_job_failed")
    expect_match(job_status(job)$failure_reason, "algo-2 was lost: it never started")
    withr::local_envvar(PATH = sub("^[^:]*:", "", Sys.getenv("PATH")))
    kept <- expect_kept_and_completed(kind, job, clean, "host algo-2 was lost")
    expect_gt(kept$done, 0)
  })
}

test_that("a map job whose host's code quits keeps the other host's elements; a fixed f finishes it", {
  use_temp_job_dir()
  job <- submit_map(1:4, function(i) if (i == 3) quit(status = 3) else i, instance_count = 2,
                    instance_type = "local", wait = FALSE)
  expect_s3_class(wait_quietly(job), "sagesim_job_failed")
  expect_match(job_status(job)$failure_reason, "AlgorithmError: algo-2 exited with status 3")
  expect_warning(partial <- job_collect(job, errors = "return"), class = "sagesim_partial_results")
  expect_identical(partial[1:2], list(1L, 2L))
  expect_s3_class(partial[[3]], "sagesim_element_unfinished")
  expect_match(conditionMessage(partial[[4]]), "host algo-2 failed \\(AlgorithmError")
  expect_identical(partial[[4]]$host, "algo-2")
  fixed <- job_resubmit(job, f = function(i) i, logs = FALSE)
  expect_identical(fixed$elements, 2L)
  expect_identical(job_collect(fixed), as.list(1:4))
})

test_that("simulation and sweep jobs past max_runtime keep what they finished", {
  use_temp_job_dir()
  for (kind in c("simulation", "sweep")) {
    clean <- clean_result(kind)
    job <- start_kind(kind, max_runtime = 1)
    expect_s3_class(wait_quietly(job), "sagesim_job_failed")
    expect_match(job_status(job)$failure_reason, "MaxRuntimeExceeded")
    # (The resubmission's own runtime is long enough.)
    expect_kept_and_completed(kind, job, clean, "", max_runtime = 3600)
  }
})

test_that("a partial simulation prints as partial and refuses to be combined", {
  use_temp_job_dir()
  job <- start_kind("simulation")
  await_saved(job, "algo-1")
  suppressMessages(job_stop(job))
  partial <- suppressWarnings(job_collect(job, errors = "return"))
  shown <- capture.output(print(partial))
  expect_match(shown[[2]], "iterations: [0-9,]+ of 12,000 \\(partial: 1-")
  expect_error(combine_simulations(partial, partial), class = "sagesim_invalid_argument")
  frame <- as.data.frame(partial)
  expect_identical(frame$iteration, sagesim:::simulation_iterations(partial))
})

test_that("a %dopar% loop whose job fails says which iterations finished; a resubmission runs only the others", {
  skip_if_not_installed("foreach")
  use_temp_job_dir()
  withr::defer(foreach::registerDoSEQ())
  registerDoSageMaker(instance_count = 2, instance_type = "local")
  marks <- withr::local_tempdir()
  flag <- file.path(marks, "fixed")
  `%dopar%` <- foreach::`%dopar%`
  # Iteration 3 ends its host until the flag exists; every run leaves a mark.
  error <- tryCatch(foreach::foreach(i = 1:4) %dopar% {
    file.create(file.path(marks, sprintf("ran-%d-%s", i, basename(tempfile()))))
    if (i == 3 && !file.exists(flag)) quit(status = 3)
    i * 2
  }, error = identity)
  expect_s3_class(error, "sagesim_loop_unfinished")
  expect_identical(error$finished, 1:2)
  expect_identical(error$unfinished, 3:4)
  expect_match(conditionMessage(error), "2 of 4 iterations finished \\(1-2\\)")
  file.create(flag)
  rest <- job_resubmit(error$job, logs = FALSE)
  expect_identical(rest$elements, 2L)
  expect_identical(job_collect(rest), list(2, 4, 6, 8))
  ran <- sub("^ran-([0-9])-.*", "\\1", list.files(marks, pattern = "^ran-"))
  # 1 and 2 ran once; 3 twice (it quit once); 4 once (its host had quit first).
  expect_identical(as.vector(table(ran)[c("1", "2", "3", "4")]), c(1L, 1L, 2L, 1L))
})
