# submit_map(): R functions over many elements, locally and in the cloud.

draws <- function(i, n = 5) mean(rnorm(n, mean = i)) + runif(1)

test_that("random draws are the same for any number of hosts, locally, in the cloud and in future_lapply()", {
  local_moto()
  use_temp_job_dir()
  skip_if_not_installed("future.apply")
  x <- stats::setNames(1:50, paste0("e", 1:50))
  future::plan(future::sequential)
  expected <- future.apply::future_lapply(x, draws, n = 3, future.seed = 2024)
  for (hosts in c(1, 2, 5)) {
    job <- submit_map(x, draws, n = 3, seed = 2024, instance_count = hosts, instance_type = "local",
                      logs = FALSE)
    expect_identical(job_collect(job), expected, info = paste(hosts, "hosts"))
  }
  expect_identical(job$seed, 2024)
  expect_output(print(job), "progress:  50 of 50 elements done")
  session <- aws_session(role = role)
  play_jobs()
  cloud <- submit_map(x, draws, n = 3, seed = 2024, instance_count = 2, instance_type = "ml.m5.large",
                      image_uri = image, wait = FALSE, session = session)
  job_wait(cloud, logs = FALSE, timeout = 120)
  expect_identical(job_collect(cloud), expected)
  # The whole payload went to S3 once, beside the job's record.
  expect_setequal(bucket_keys(session, paste0(cloud$name, "/input/")),
                  sprintf(c("%s/input/map/payload.rds", "%s/input/sagesim-job.json"), cloud$name))
  # A drawn seed is recorded, and set.seed() makes it repeatable.
  set.seed(99)
  first <- submit_map(1:4, draws, instance_type = "local", logs = FALSE)
  set.seed(99)
  second <- submit_map(1:4, draws, instance_type = "local", logs = FALSE)
  expect_identical(first$seed, second$seed)
  expect_identical(job_collect(first), job_collect(second))
  expect_identical(job_attach(first$name)$seed, first$seed)
})

test_that("the globals, packages and arguments a function uses travel with it", {
  use_temp_job_dir()
  withr::local_package("jsonlite")
  offset <- 100
  helper <- function(v) v * 2 + offset
  f <- function(i, suffix) paste0(toJSON(helper(i), auto_unbox = TRUE), suffix)
  job <- submit_map(list(a = 1, b = 2, c = 3), f, suffix = "!", instance_count = 2, logs = FALSE)
  expect_identical(job_collect(job), list(a = "102!", b = "104!", c = "106!"))
  payload <- sagesim:::map_payload_of(job)
  expect_true("jsonlite" %in% payload$packages)
  # Made inside a function (here the test's), `f` travels with an environment
  # of the globals it uses, and nothing else of the one it was made in.
  expect_setequal(ls(environment(payload$f)), c("helper", "offset"))
  expect_length(payload$globals, 0)
})

test_that("a failing element keeps its condition; a resubmission completes the whole result", {
  use_temp_job_dir()
  f <- function(i) if (i %% 7 == 0) stop("no multiples of seven: ", i) else i * 10
  job <- submit_map(1:20, f, instance_count = 2, logs = FALSE)
  expect_identical(job_status(job)$status, "Completed")
  error <- tryCatch(job_collect(job), error = identity)
  expect_s3_class(error, "sagesim_map_failed")
  expect_identical(error$failed, c(7L, 14L))
  expect_match(conditionMessage(error), "2 of 20 elements of job .* failed")
  expect_match(conditionMessage(error), "element 7: no multiples of seven: 7", fixed = TRUE)
  results <- job_collect(job, errors = "return")
  expect_length(results, 20)
  expect_identical(results[[1]], 10)
  failure <- results[[14]]
  expect_s3_class(failure, "simpleError")
  expect_identical(conditionMessage(failure), "no multiples of seven: 14")
  expect_identical(failure$call[[1]], quote(f))
  expect_identical(failure$element, 14L)
  expect_true(any(startsWith(failure$traceback, "f(element, ...)")))
  # Run only the failures again, with a corrected function.
  fixed <- job_resubmit(job, f = function(i) i * 10, logs = FALSE)
  expect_identical(fixed$seed, job$seed)
  expect_identical(job_collect(fixed), as.list(1:20 * 10))
  expect_identical(fixed$elements, 2L)
  # The same function again fails the same way, and keeps the successes.
  again <- job_resubmit(job, logs = FALSE)
  expect_identical(tryCatch(job_collect(again), error = identity)$failed, c(7L, 14L))
  expect_error(job_resubmit(fixed), class = "sagesim_invalid_argument")
})

test_that("what cannot travel, or is not a map, is refused before anything is created", {
  local_moto()
  dir <- use_temp_job_dir()
  session <- aws_session(role = role)
  http_request(moto$port, "POST", "/moto-api/recorder/reset-recording")
  connection <- file(withr::local_tempfile(), "w")
  on.exit(close(connection), add = TRUE)
  uses_connection <- function(i) writeLines(as.character(i), connection)
  error <- tryCatch(submit_map(1:3, uses_connection, instance_type = "ml.m5.large",
                               image_uri = image, session = session), error = identity)
  expect_s3_class(error, "sagesim_invalid_argument")
  expect_match(conditionMessage(error), "global `connection` cannot travel")
  expect_error(submit_map(1:3, function(i, con) i, con = connection), "argument `con` cannot travel")
  expect_error(submit_map(1:3, "mean"), class = "sagesim_invalid_argument")
  expect_error(submit_map(list(), identity), class = "sagesim_invalid_argument")
  expect_error(submit_map(NULL, identity), class = "sagesim_invalid_argument")
  expect_error(submit_map(1:3, identity, seed = 2^40), class = "sagesim_invalid_argument")
  # `...` goes to `f`: a name `f` cannot take is a misspelt setting.
  expect_error(submit_map(1:3, function(i) i, instnace_count = 2),
               "`f` takes no argument `instnace_count` \\(did you mean `instance_count`\\?\\)",
               class = "sagesim_invalid_argument")
  expect_error(submit_map(1:3, function(i, scale) i * scale, scal = 2, sede = 1),
               "`sede` \\(did you mean `seed`\\?\\)", class = "sagesim_invalid_argument")
  expect_length(recorded_requests(), 0)
  expect_length(list.files(file.path(dir, "local-jobs")), 0)
})

test_that("print() of a map job started with wait = FALSE shows its hosts' progress as it runs", {
  use_temp_job_dir()
  f <- function(i) {
    if (i == 2) stop("not two")
    if (i == 6) Sys.sleep(60)
    i
  }
  job <- submit_map(1:6, f, instance_count = 2, wait = FALSE,
                    env = c(SAGESIM_PROGRESS_EVERY = "0"))
  expected <- "progress:  5 of 6 elements done, 1 failed"
  deadline <- Sys.time() + 60
  repeat {
    shown <- capture.output(print(job))
    if (any(grepl(expected, shown, fixed = TRUE)) || Sys.time() > deadline) break
    Sys.sleep(0.2)
  }
  expect_true(any(grepl(expected, shown, fixed = TRUE)), info = paste(shown, collapse = "\n"))
  expect_true(any(grepl("status:    InProgress", shown, fixed = TRUE)))
  # Reading progress takes no log line from job_wait(), which still shows them all.
  expect_message(job_stop(job), "Stopped")
  output <- capture.output(suppressWarnings(job_wait(job)))
  expect_true(any(grepl("[algo-1] 3 of 3 elements done (1 failed)", output, fixed = TRUE)))
})

test_that("a data.table travels, as a global, an argument and an element, as under future", {
  skip_if_not_installed("data.table")
  skip_if_not_installed("future.apply")
  dir <- use_temp_job_dir()
  # A script as a user writes it at the console (data.table's `[` works in
  # code whose top environment is the global one), run in an R session of its own.
  script <- local_script(c(
    "suppressPackageStartupMessages({library(sagesim); library(data.table); library(future)})",
    sprintf("options(sagesim.job_dir = %s)", deparse(dir)),
    "dt <- as.data.table(mtcars)",
    "by_cylinders <- function(column, table) {",
    "  list(global = dt[, mean(mpg), by = cyl],",
    "       argument = table[, list(value = mean(.SD[[1]])), by = cyl, .SDcols = column])",
    "}",
    "plan(sequential)",
    "expected <- future.apply::future_lapply(c('mpg', 'hp'), by_cylinders, table = dt, future.seed = 1)",
    "job <- submit_map(c('mpg', 'hp'), by_cylinders, table = dt, seed = 1, instance_count = 2, logs = FALSE)",
    "collected <- job_collect(job)",
    "parts <- submit_map(split(dt, by = 'cyl'), function(part) part[, mean(mpg)], logs = FALSE)",
    "saveRDS(list(expected = expected, collected = collected, parts = job_collect(parts),",
    "             parts_expected = lapply(split(dt, by = 'cyl'), function(part) part[, mean(mpg)])),",
    "        'result.rds')"))
  withr::local_dir(withr::local_tempdir())
  expect_identical(run_rscript(script, stdout = "log", stderr = "log"), 0L,
                   info = paste(readLines("log"), collapse = "\n"))
  got <- readRDS("result.rds")
  expect_equal(got$collected, got$expected, ignore_attr = ".internal.selfref")
  expect_s3_class(got$collected[[2]]$global, "data.table")
  expect_identical(got$collected[[2]]$argument$value[got$collected[[2]]$argument$cyl == 6],
                   mean(mtcars$hp[mtcars$cyl == 6]))
  expect_identical(got$parts, got$parts_expected)
})

test_that("what really cannot travel is refused, and future's option relaxes the check", {
  use_temp_job_dir()
  connection <- file(withr::local_tempfile(), "w")
  on.exit(close(connection), add = TRUE)
  writes <- function(i) writeLines(as.character(i), connection)
  expect_error(submit_map(1:2, writes), class = "sagesim_cannot_travel")
  expect_error(submit_map(list(connection), identity), "element 1 cannot travel")
  withr::local_options(future.globals.onReference = "warning")
  uses_nothing <- function(i) {
    if (i < 0) writeLines("never", connection)   # a global that is never used on the hosts
    i
  }
  expect_warning(job <- submit_map(1:2, uses_nothing, logs = FALSE), class = "sagesim_cannot_travel")
  expect_identical(job_collect(job), list(1L, 2L))
  withr::local_options(future.globals.onReference = "ignore")
  expect_no_warning(submit_map(1:2, uses_nothing, logs = FALSE))
})

test_that("messages and warnings raised by f reach the session, in element order, as under future", {
  use_temp_job_dir()
  noisy <- function(i) {
    message("element ", i, " starts")
    if (i %% 2 == 0) warning("even element ", i)
    i
  }
  job <- submit_map(1:4, noisy, instance_count = 2, logs = FALSE)
  messages <- character()
  warnings <- character()
  values <- withCallingHandlers(job_collect(job),
    message = function(m) {
      messages <<- c(messages, conditionMessage(m))
      invokeRestart("muffleMessage")
    },
    warning = function(w) {
      warnings <<- c(warnings, conditionMessage(w))
      invokeRestart("muffleWarning")
    })
  expect_identical(values, as.list(1:4))
  expect_identical(messages, sprintf("element %d starts\n", 1:4))
  expect_identical(warnings, c("even element 2", "even element 4"))
  # Not in the hosts' logs instead.
  expect_false(any(grepl("element 1 starts", job_logs(job)$message)))
})

test_that("a function made inside a function with `...` travels", {
  use_temp_job_dir()
  outer <- function(...) {
    k <- 2
    f <- function(i) i * k
    job_collect(submit_map(1:3, f, logs = FALSE))
  }
  expect_identical(outer(), list(2, 4, 6))
})
