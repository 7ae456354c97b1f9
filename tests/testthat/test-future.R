# plan(sagesim::sagemaker): every future a processing job of one host.

skip_if_not_installed("future")

# plan(sagesim::sagemaker, ...) for the rest of the calling test, then back.
local_sagemaker_plan <- function(..., env = parent.frame()) {
  old <- future::plan(sagesim::sagemaker, ...)
  withr::defer(future::plan(old), envir = env)
}

# The local jobs the futures of a test ran as.
future_jobs <- function() {
  jobs <- list_jobs(instance_type = "local")
  jobs[startsWith(jobs$name, "sagesim-future"), , drop = FALSE]
}

# Messages and warnings signalled (and muffled) while evaluating `expr`,
# with its standard output.
relayed <- function(expr) {
  conditions <- character()
  output <- utils::capture.output(value <- withCallingHandlers(expr,
    message = function(m) {
      conditions <<- c(conditions, paste("message:", conditionMessage(m)))
      invokeRestart("muffleMessage")
    },
    warning = function(w) {
      conditions <<- c(conditions, paste("warning:", conditionMessage(w)))
      invokeRestart("muffleWarning")
    }))
  list(value = value, output = output, conditions = conditions)
}

test_that("future_lapply() under plan(sagemaker, local) is identical to plan(sequential): values, seeds, output, conditions", {
  skip_if_not_installed("future.apply")
  use_temp_job_dir()
  withr::local_package("jsonlite")
  shift <- 100
  f <- function(i) {
    cat("element", i, "\n")
    message("drawing for ", i)
    if (i == 5) warning("five is odd")
    list(i = i, draws = rnorm(3, mean = shift), json = toJSON(list(i = i), auto_unbox = TRUE),
         pid = Sys.getpid())
  }
  x <- stats::setNames(1:7, letters[1:7])
  old <- future::plan(future::sequential)
  withr::defer(future::plan(old))
  expected <- relayed(future.apply::future_lapply(x, f, future.seed = 42))
  future::plan(sagesim::sagemaker, instance_type = "local", workers = 3)
  expect_identical(future::nbrOfWorkers(), 3L)
  actual <- relayed(future.apply::future_lapply(x, f, future.seed = 42))
  # Evaluated elsewhere: the values are the same but for the process.
  pids <- vapply(actual$value, `[[`, 1, "pid")
  expect_false(any(pids == Sys.getpid()))
  drop_pid <- function(v) lapply(v, function(e) e[names(e) != "pid"])
  expect_identical(drop_pid(actual$value), drop_pid(expected$value))
  expect_identical(actual$output, expected$output)
  expect_true(any(grepl("^element 7 $", actual$output)))
  expect_identical(actual$conditions, expected$conditions)
  expect_true("warning: five is odd" %in% actual$conditions)
  # One future per worker (future.apply's chunks): three jobs.
  jobs <- future_jobs()
  expect_identical(nrow(jobs), 3L)
  expect_true(all(jobs$status == "Completed"))
})

test_that("a future's error is re-signalled with its class and message; its seed is sequential's", {
  use_temp_job_dir()
  local_sagemaker_plan(instance_type = "local", workers = 2)
  f <- future::future(stop(structure(class = c("no_twos", "error", "condition"),
                                     list(message = "no twos here", call = NULL))))
  error <- tryCatch(future::value(f), error = identity)
  expect_s3_class(error, "no_twos")
  expect_identical(conditionMessage(error), "no twos here")
  expect_false(inherits(error, "FutureError"))
  if (requireNamespace("future.apply", quietly = TRUE)) {
    error <- tryCatch(future.apply::future_lapply(1:3, function(i) if (i == 2) stop("bad element ", i) else i),
                      error = identity)
    expect_s3_class(error, "simpleError")
    expect_identical(conditionMessage(error), "bad element 2")
  }
  # The seed of future(seed = ) travels in the expression, and creating the
  # future leaves this session's generator alone.
  set.seed(7)
  before <- .Random.seed
  f <- future::future(sample.int(1e6, 3), seed = 123L)
  expect_identical(.Random.seed, before)
  drawn <- future::value(f)
  expect_identical(.Random.seed, before)
  with_sequential <- local({
    old <- future::plan(future::sequential)
    on.exit(future::plan(old))
    future::value(future::future(sample.int(1e6, 3), seed = 123L))
  })
  expect_identical(drawn, with_sequential)
})

test_that("resolved() does not wait; a stopped or killed job is a FutureError naming it", {
  use_temp_job_dir()
  local_sagemaker_plan(instance_type = "local", workers = 2)
  f <- future::future({
    Sys.sleep(120)
    1
  })
  took <- system.time(done <- future::resolved(f))[["elapsed"]]
  expect_false(done)
  expect_lt(took, 1)
  expect_identical(f$state, "running")
  expect_s3_class(f$job, "sagesim_job")
  expect_output(print(f), f$job$name, fixed = TRUE)
  expect_message(job_stop(f$job), "Stopped")
  error <- tryCatch(future::value(f), error = identity)
  expect_s3_class(error, "FutureError")
  expect_s3_class(error, "sagesim_future_error")
  expect_identical(error$job_name, f$job$name)
  expect_match(conditionMessage(error), sprintf("Local job %s, .* was stopped", f$job$name))
  # It stays failed.
  expect_true(future::resolved(f))
  expect_error(future::value(f), class = "sagesim_future_error")

  # A host killed outright: its job fails, and so does the future.
  g <- future::future({
    Sys.sleep(120)
    2
  })
  pid_file <- file.path(g$job$dir, "hosts", "algo-1", "pid")
  deadline <- Sys.time() + 30
  while (!file.exists(pid_file) && Sys.time() < deadline) Sys.sleep(0.1)
  system2("kill", c("-KILL", paste0("-", readLines(pid_file))))
  error <- tryCatch(future::value(g), error = identity)
  expect_s3_class(error, "sagesim_future_error")
  expect_match(conditionMessage(error),
               sprintf("Local job %s, .* failed: InternalServerError: algo-1 was lost", g$job$name))
  expect_match(conditionMessage(error), sprintf(
    "Its value was not finished; job_resubmit(job_attach(\"%s\")) runs it again.", g$job$name),
    fixed = TRUE)

  # A host that cannot even start evaluating the future: a package this
  # session has and the job's hosts lack (their R_LIBS leaves it out).
  lib <- withr::local_tempdir()
  source <- file.path(withr::local_tempdir(), "sagesimhostless")
  dir.create(source)
  writeLines(c("Package: sagesimhostless", "Version: 0.0.1", "Title: Only Here",
               "Description: Installed here only.", "License: MIT",
               "Authors@R: person('A', 'B', role = c('aut', 'cre'), email = 'a@b.org')"),
             file.path(source, "DESCRIPTION"))
  writeLines("", file.path(source, "NAMESPACE"))
  status <- system2("timeout", c("120", file.path(R.home("bin"), "R"), "CMD", "INSTALL", "-l",
                                 shQuote(lib), shQuote(source)), stdout = FALSE, stderr = FALSE)
  expect_identical(status, 0L)
  hosts_libs <- paste(.libPaths(), collapse = ":")
  withr::local_libpaths(lib, action = "prefix")
  future::plan(sagesim::sagemaker, instance_type = "local", workers = 2,
               env = c(R_LIBS = hosts_libs))
  h <- future::future(1, packages = "sagesimhostless")
  error <- tryCatch(future::value(h), error = identity)
  expect_s3_class(error, "sagesim_future_error")
  expect_match(conditionMessage(error),
               sprintf("Local job %s could not evaluate future .*sagesimhostless", h$job$name))
})

test_that("nbrOfWorkers() jobs run at once: one more future waits for one to finish", {
  use_temp_job_dir()
  local_sagemaker_plan(instance_type = "local", workers = 2)
  expect_identical(future::nbrOfWorkers(), 2L)
  # Long enough that neither ends before the check, on a busy machine too.
  fs <- lapply(1:2, function(k) future::future({
    Sys.sleep(6)
    k
  }))
  expect_identical(future::nbrOfFreeWorkers(), 0L)
  third <- future::future(3)
  ended <- vapply(fs, function(f) job_status(f$job)$end_time %||% Inf, 1)
  started <- job_status(third$job)$creation_time
  # The third job was created only once one of the first two had ended.
  expect_true(any(ended <= started))
  expect_identical(future::value(c(fs, list(third))), list(1L, 2L, 3))
  expect_identical(future::nbrOfFreeWorkers(), 2L)
})

test_that("wrong plan arguments and globals that cannot travel are refused, creating nothing", {
  dir <- use_temp_job_dir()
  old <- future::plan(future::sequential)
  withr::defer(future::plan(old))
  for (bad in list(list(workers = 0), list(workers = NA_integer_), list(workers = TRUE),
                   list(instance_type = 5), list(instance_type = "m5.large"),
                   list(instance_type = "ml.m5.large"), list(role = 3), list(env = c("x")),
                   list(instance_count = 2), list(max_runtime = -1))) {
    error <- tryCatch(do.call(future::plan, c(list(sagesim::sagemaker), bad)), error = identity)
    expect_s3_class(error, "sagesim_invalid_argument")
    expect_identical(eval(error$call[[1]]), future::plan)
    # The plan is the one before.
    expect_true(inherits(future::plan(), "sequential"))
  }
  error <- tryCatch(future::plan(sagesim::sagemaker, instance_count = 2), error = identity)
  expect_match(conditionMessage(error), "`workers` says how many run at once")
  # A workers function is called, and checked.
  future::plan(sagesim::sagemaker, instance_type = "local", workers = function() 4)
  expect_identical(future::nbrOfWorkers(), 4L)
  expect_error(future::plan(sagesim::sagemaker, instance_type = "local", workers = function() 0),
               class = "sagesim_invalid_argument")
  future::plan(sagesim::sagemaker, instance_type = "local", workers = 2)
  connection <- file(withr::local_tempfile(), "w")
  withr::defer(close(connection))
  error <- tryCatch(future::future(writeLines("x", connection)), error = identity)
  expect_s3_class(error, "sagesim_invalid_argument")
  expect_match(conditionMessage(error), "global `connection` cannot travel")
  expect_length(list.files(file.path(dir, "local-jobs")), 0)
})

test_that("a future runs as a SageMaker job (hosts played on this machine)", {
  local_moto()
  play_jobs()
  session <- aws_session(role = role)
  local_sagemaker_plan(instance_type = "ml.m5.large", image_uri = image, session = session,
                       workers = 2, base_job_name = "cloudy")
  offset <- 10
  f <- future::future({
    cat("on a played host\n")
    rnorm(2) + offset
  }, seed = 5L, label = "first try")
  expect_match(f$job$name, "^cloudy-first-try-")
  out <- utils::capture.output(value <- future::value(f))
  expect_identical(out, "on a played host")
  expected <- local({
    old <- future::plan(future::sequential)
    on.exit(future::plan(old))
    future::value(future::future(rnorm(2) + offset, seed = 5L))
  })
  expect_identical(value, expected)
  # A SageMaker job of one host.
  job <- job_attach(f$job$name, session = session)
  expect_s3_class(job, "sagesim_cloud_job")
  expect_identical(job$kind, "map")
  expect_equal(f$job$instance_count, 1)
})
