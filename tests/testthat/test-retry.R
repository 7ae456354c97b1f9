# When the cloud fails a job, not its code: retries, quotas, lost hosts.

draw <- function(i) mean(stats::rnorm(5, mean = i))

# draw(), except that element `at` holds its host (two minutes) before it
# draws, so that a host to be lost cannot finish its share, however fast,
# before it is killed: the first time the element runs (it creates the file
# `marker`; hosts share this machine's /tmp), or in the job whose name
# matches `in_job`.
holding_draw <- function(at, marker = NULL, in_job = NULL) {
  force(at)
  force(marker)
  force(in_job)
  function(i) {
    if (i == at) {
      hold <- if (is.null(in_job)) !file.exists(marker) else
        isTRUE(grepl(in_job, sagesim::processing_config()$job$ProcessingJobName))
      if (hold) {
        if (!is.null(marker)) file.create(marker)
        Sys.sleep(120)
      }
    }
    draw(i)
  }
}

# Kills a local map job's `host` (its whole process group), as a host that
# dies half way, once it is held by holding_draw() (`marker` exists).
lose_map_host <- function(job, host, marker) {
  deadline <- Sys.time() + 60
  while (!file.exists(marker) && Sys.time() < deadline) Sys.sleep(0.05)
  if (!file.exists(marker)) stop("host ", host, " of job ", job$name, " was never held")
  pid <- as.integer(readLines(file.path(job$dir, "hosts", host, "pid")))
  system2("kill", c("-KILL", paste0("-", pid)))
}

# Messages signalled while evaluating `expr` (muffled), and its value.
with_messages <- function(expr) {
  said <- character()
  value <- withCallingHandlers(expr, message = function(m) {
    said <<- c(said, conditionMessage(m))
    invokeRestart("muffleMessage")
  })
  list(value = value, said = said)
}

test_that("throttled AWS calls are tried again by the SDK, with backoff", {
  local_moto()
  session <- aws_session(role = role)
  job <- submit_processing(code = local_script(), image_uri = image, wait = FALSE, session = session)
  inject_faults(Throttle = list(Target = "SageMaker.DescribeProcessingJob", Count = 3))
  expect_identical(job_status(job)$status, "Completed")
  expect_identical(inject_faults()$throttled, 3L)
  # More than the SDK's attempts: the throttling reaches R, classed.
  withr::local_options(sagesim.aws_max_attempts = 2)
  cache <- sagesim:::session_cache
  cache$default <- NULL
  again <- aws_session(role = role)
  inject_faults(Throttle = list(Target = "SageMaker.DescribeProcessingJob", Count = 5))
  expect_error(job_status(job_attach(job$name, session = again)), class = "sagesim_aws_ThrottlingException")
})

test_that("a 4-host map that meets no capacity, a lost host and a 2-instance quota gives a clean run's values", {
  local_moto()
  session <- aws_session(role = role)
  play_jobs()
  clean <- job_collect(submit_map(1:200, draw, seed = 7, instance_type = "local", logs = FALSE))
  inject_faults(InstanceLimit = 2, CapacityFailures = 1,
                LoseHost = list(Host = "algo-2", AfterReports = 30))
  # On 2 hosts, algo-2 runs elements 101 to 200 and is lost once it has
  # logged 30 reports (its first, then one per element): in that attempt
  # (the first to run hosts) it is held at element 130, after its 30th.
  f <- holding_draw(130, in_job = "-retry1-")
  expect_warning(
    job <- submit_map(1:200, f, seed = 7, instance_count = 4, instance_type = "ml.m5.large",
                      image_uri = image, env = c(SAGESIM_PROGRESS_EVERY = "0"), wait = FALSE,
                      session = session),
    "quota 'ml.m5.large for processing job usage' is 2 instances", class = "sagesim_quota_reduced")
  first <- job$name
  waited <- with_messages(job_wait(job, logs = FALSE, timeout = 300))
  # Nothing was asked of the user: the handle followed two retries.
  expect_identical(job_collect(job), clean)
  attempts <- job$record$attempts
  expect_length(attempts, 2)
  expect_identical(attempts[[1]]$name, first)
  expect_match(attempts[[1]]$failure_reason, "^CapacityError")
  expect_identical(attempts[[1]]$rerun, "all")
  expect_match(attempts[[2]]$failure_reason, "^InternalServerError")
  expect_identical(attempts[[2]]$rerun, "missing")
  expect_match(job$name, "-retry2-")
  expect_true(any(grepl("running what is missing", waited$said)))
  # The follow-up ran only what the lost host left undone.
  expect_gt(job$elements, 0)
  expect_lt(job$elements, 100)
  created <- recorded_sagemaker("CreateProcessingJob")
  expect_identical(vapply(created, function(r) r$ProcessingResources$ClusterConfig$InstanceCount, 1L),
                   c(2L, 2L, 2L))
  shown <- capture.output(print(job))
  expect_true(any(grepl("attempts:  3 (2 before this one)", shown, fixed = TRUE)))
  expect_true(any(grepl(paste0(first, ": Failed, CapacityError"), shown, fixed = TRUE)))
  expect_true(any(grepl("its missing share run again", shown, fixed = TRUE)))
})

test_that("a script job that exits 1 is never retried; a script job over the quota stops", {
  local_moto()
  session <- aws_session(role = role)
  play_jobs()
  job <- submit_processing(code = local_script("quit(status = 1)"), image_uri = image,
                           wait = FALSE, session = session)
  error <- tryCatch(job_wait(job, logs = FALSE, timeout = 120), error = identity)
  expect_s3_class(error, "sagesim_job_failed")
  expect_match(error$failure_reason, "^AlgorithmError")
  expect_length(recorded_sagemaker("CreateProcessingJob"), 1)
  expect_length(job$record$attempts, 0)
  inject_faults(InstanceLimit = 1)
  error <- tryCatch(submit_processing(code = local_script(), image_uri = image, instance_count = 3,
                                      wait = FALSE, session = session), error = identity)
  expect_s3_class(error, "sagesim_quota_exceeded")
  expect_match(conditionMessage(error), "request-service-quota-increase", fixed = TRUE)
  expect_length(recorded_sagemaker("CreateProcessingJob"), 1)
  expect_length(bucket_keys(session, paste0(error$job_name, "/")), 0)
})

test_that("a capacity failure is retried with the same settings, up to `retries`", {
  local_moto()
  session <- aws_session(role = role)
  play_jobs()
  inject_faults(CapacityFailures = 5)
  spec <- simulation_spec(200, 200, 50, 30, seed = 4)
  job <- submit_processing(simulation = spec, image_uri = image, instance_count = 2, retries = 1,
                           env = c(K = "v"), max_runtime = 999, wait = FALSE, session = session)
  error <- tryCatch(with_messages(job_wait(job, logs = FALSE, timeout = 120)), error = identity)
  expect_s3_class(error, "sagesim_job_failed")
  expect_match(error$failure_reason, "^CapacityError")
  created <- recorded_sagemaker("CreateProcessingJob")
  expect_length(created, 2)
  expect_match(created[[2]]$ProcessingJobName, "^sagesim-simulation-retry1-")
  expect_identical(created[[2]]$Environment, created[[1]]$Environment)
  expect_identical(created[[2]]$StoppingCondition, created[[1]]$StoppingCondition)
  expect_identical(created[[2]]$AppSpecification, created[[1]]$AppSpecification)
})

test_that("a local map job that loses a host keeps what its hosts finished and runs the rest", {
  use_temp_job_dir()
  clean <- job_collect(submit_map(1:60, draw, seed = 3, instance_type = "local", logs = FALSE))
  held <- withr::local_tempfile()
  job <- submit_map(1:60, holding_draw(45, held), seed = 3, instance_count = 2,
                    instance_type = "local", wait = FALSE, env = c(SAGESIM_PROGRESS_EVERY = "0"))
  # Host algo-2 (elements 31 to 60) is lost (killed) half way, at element 45.
  lose_map_host(job, "algo-2", held)
  first <- job$name
  waited <- with_messages(job_wait(job, logs = FALSE, timeout = 120))
  expect_identical(job_collect(job), clean)
  expect_identical(job$record$attempts[[1]]$name, first)
  expect_match(job$record$attempts[[1]]$failure_reason, "algo-2 was lost")
  expect_lt(job$elements, 30)
  expect_gt(job$elements, 0)
})

test_that("a map that loses a host after an element failed keeps the failure and does not run it again", {
  use_temp_job_dir()
  clean <- job_collect(submit_map(1:40, draw, seed = 5, instance_type = "local", logs = FALSE))
  # Each call of f leaves a line in a file of its element's.
  calls <- withr::local_tempdir()
  held <- withr::local_tempfile()
  holding <- holding_draw(30, held)
  f <- function(i) {
    cat("called\n", file = file.path(calls, i), append = TRUE)
    if (i == 22) stop("no 22")
    holding(i)
  }
  job <- submit_map(1:40, f, seed = 5, instance_count = 2, instance_type = "local",
                    wait = FALSE, env = c(SAGESIM_PROGRESS_EVERY = "0"))
  # Host algo-2 (elements 21 to 40) fails element 22, then is lost at element 30.
  lose_map_host(job, "algo-2", held)
  first <- job$name
  suppressMessages(job_wait(job, logs = FALSE, timeout = 120))
  expect_identical(job$record$attempts[[1]]$name, first)
  expect_identical(job$elements, 11L)
  # Element 22 ran once, element 30 twice (it was lost), every other once.
  count <- function(i) length(readLines(file.path(calls, i)))
  expect_identical(vapply(1:40, count, 1L), ifelse(1:40 == 30, 2L, 1L))
  # Its failure is kept, as the element's condition.
  results <- job_collect(job, errors = "return")
  expect_s3_class(results[[22]], "simpleError")
  expect_identical(conditionMessage(results[[22]]), "no 22")
  expect_identical(results[-22], clean[-22])
  error <- tryCatch(job_collect(job), error = identity)
  expect_s3_class(error, "sagesim_map_failed")
  expect_identical(error$failed, 22L)
})

test_that("a local simulation job that loses a host reruns only its share, under its name", {
  use_temp_job_dir()
  # Each host's share (100 iterations of a million people) takes seconds:
  # algo-2 cannot finish it before it is killed.
  spec <- simulation_spec(20000, 20000, 1e6, 300, seed = 11)
  job <- submit_processing(simulation = spec, instance_type = "local", instance_count = 3,
                           wait = FALSE)
  pid_file <- file.path(job$dir, "hosts", "algo-2", "pid")
  deadline <- Sys.time() + 30
  while (!file.exists(pid_file) && Sys.time() < deadline) Sys.sleep(0.02)
  Sys.sleep(0.3)
  system2("kill", c("-KILL", paste0("-", as.integer(readLines(pid_file)))))
  waited <- with_messages(job_wait(job, logs = FALSE, timeout = 120))
  expect_length(job$record$attempts, 1)
  # The follow-up runs what algo-2 left (of its 100 iterations), nothing more.
  todo <- job$record$plan$arguments[[match("--todo", job$record$plan$arguments) + 1]]
  pieces <- do.call(rbind, lapply(strsplit(strsplit(todo, ",")[[1]], ":"), as.numeric))
  expect_lte(sum(pieces[, 3]), 100)
  expect_true(all(pieces[, 2] >= 101 & pieces[, 2] + pieces[, 3] - 1 <= 200))
  result <- job_collect(job)
  expect_identical(result$values, simulate_local(spec)$values)
})

test_that("with no retries left, a map that lost a host returns what it finished, and a resubmission the rest", {
  use_temp_job_dir()
  clean <- job_collect(submit_map(1:40, draw, seed = 9, instance_type = "local", logs = FALSE))
  held <- withr::local_tempfile()
  job <- submit_map(1:40, holding_draw(10, held), seed = 9, instance_count = 2,
                    instance_type = "local", retries = 0, wait = FALSE,
                    env = c(SAGESIM_PROGRESS_EVERY = "0"))
  lose_map_host(job, "algo-1", held)
  error <- tryCatch(suppressMessages(job_wait(job, logs = FALSE, timeout = 60)), error = identity)
  expect_s3_class(error, "sagesim_job_failed")
  expect_length(job$record$attempts, 0)
  expect_warning(partial <- job_collect(job, errors = "return"), class = "sagesim_partial_results")
  unfinished <- vapply(partial, inherits, NA, "sagesim_element_unfinished")
  expect_true(any(unfinished))
  # Every finished element has the value a clean run gives it; host algo-2's all finished.
  expect_identical(partial[!unfinished], clean[!unfinished])
  expect_false(any(unfinished[21:40]))
  expect_error(job_collect(job), class = "sagesim_job_failed")
  rest <- job_resubmit(job, logs = FALSE)
  expect_identical(rest$elements, sum(unfinished))
  expect_identical(job_collect(rest), clean)
})
