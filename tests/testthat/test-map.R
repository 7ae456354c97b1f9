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
    job <- submit_map(x, draws, n = 3, seed = 2024, instance_count = hosts, logs = FALSE)
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
  # The whole payload went to S3 once.
  expect_identical(bucket_keys(session, paste0(cloud$name, "/input/")),
                   sprintf("%s/input/map/payload.rds", cloud$name))
  # A drawn seed is recorded, and set.seed() makes it repeatable.
  set.seed(99)
  first <- submit_map(1:4, draws, logs = FALSE)
  set.seed(99)
  second <- submit_map(1:4, draws, logs = FALSE)
  expect_identical(first$seed, second$seed)
  expect_identical(job_collect(first), job_collect(second))
  expect_identical(attach_job(first$name)$seed, first$seed)
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
  expect_setequal(names(payload$globals), c("helper", "offset"))
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
  expect_length(recorded_requests(), 0)
  expect_length(list.files(file.path(dir, "local-jobs")), 0)
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
