# What a map ships to its hosts (R/map-files.R, closure_to_ship() in R/map.R):
# only what `f` uses, measured, refused over the limit, said when large.

test_that("objects in f's environment that f never uses stay home", {
  withr::local_options(sagesim.job_dir = withr::local_tempdir())
  make_f <- function() {
    unused <- runif(2e6)          # 16 MB that f never touches
    scale <- 10
    helper <- function(i) i * scale
    function(i) helper(i) + 1
  }
  f <- make_f()
  job <- submit_map(1:4, f, instance_count = 2, logs = FALSE)
  expect_identical(job_collect(job), as.list((1:4) * 10 + 1))
  payload <- file.path(job$dir, "map", "payload.rds")
  expect_lt(file.size(payload), 1e5)
  shipped <- readRDS(payload)
  expect_setequal(ls(environment(shipped$f)), c("helper", "scale"))
  # The helper shares f's new environment, not the old one with `unused`.
  expect_identical(environment(get("helper", environment(shipped$f))), environment(shipped$f))
  # A function of the global environment ships as it is, its globals apart.
  g <- local(function(i) i + offset, envir = globalenv())
  assign("offset", 5, envir = globalenv())
  withr::defer(rm("offset", envir = globalenv()))
  job <- submit_map(1:2, g, logs = FALSE)
  expect_identical(job_collect(job), list(6, 7))
  expect_identical(readRDS(file.path(job$dir, "map", "payload.rds"))$globals, list(offset = 5))
})

test_that("by default a payload over 500 MiB is refused, before anything is written", {
  dir <- withr::local_tempdir()
  withr::local_options(sagesim.job_dir = dir, sagesim.max_payload_size = NULL)
  huge <- numeric(66e6)   # 528 MB: counted, never written
  f <- function(i) huge[[i]]
  error <- expect_error(submit_map(1:2, f, logs = FALSE), class = "sagesim_payload_too_large")
  expect_identical(error$limit, 500 * 1024^2)
  expect_match(conditionMessage(error), "global `huge`", fixed = TRUE)
  expect_length(list.files(dir, recursive = TRUE), 0)
})

test_that("a payload over the limit is refused before anything is made, naming the largest", {
  dir <- withr::local_tempdir()
  withr::local_options(sagesim.job_dir = dir, sagesim.max_payload_size = 1e6)
  big <- runif(3e5)   # 2.4 MB
  small <- 1:10
  f <- function(i) big[[i]] + small[[i]]
  error <- expect_error(submit_map(1:3, f, logs = FALSE), class = "sagesim_payload_too_large")
  expect_match(conditionMessage(error), "global `big` 2.4 MB", fixed = TRUE)
  expect_match(conditionMessage(error), "sagesim.max_payload_size", fixed = TRUE)
  expect_identical(names(error$sizes)[which.max(error$sizes)], "global `big`")
  expect_length(list.files(dir, recursive = TRUE), 0)
  # Arguments in `...` count too.
  error <- expect_error(submit_map(1:3, function(i, data) data[[i]], data = big, logs = FALSE),
                        class = "sagesim_payload_too_large")
  expect_match(conditionMessage(error), "argument `data`", fixed = TRUE)
})

test_that("a large payload is said before it is written", {
  withr::local_options(sagesim.job_dir = withr::local_tempdir())
  big <- runif(7e6)   # 56 MB
  f <- function(i) big[[i]]
  expect_message(job <- submit_map(1:2, f, logs = FALSE, wait = FALSE),
                 "The job ships 56 MB to its hosts (global `big` 56 MB", fixed = TRUE)
  job_wait(job, logs = FALSE)
  expect_identical(job_collect(job), as.list(big[1:2]))
})

test_that("a large upload reports the bytes S3 has taken as it goes, shown as a progress bar", {
  local_moto()
  session <- aws_session(role = role)
  # One part of the upload is slow: the others are counted meanwhile.
  inject_request_faults(list(Operation = "s3:UploadPart", Fault = "Slow", Seconds = 2, Count = 1))
  file <- withr::local_tempfile()
  writeBin(as.raw(rep(1:255, length.out = 72e6)), file)
  seen <- numeric()
  sagesim:::aws_request(session, "s3:EnsureBucket", list(Bucket = session$bucket))
  sagesim:::aws_request(session, "s3:PutObjectFromFile",
                        list(Bucket = session$bucket, Key = "big.bin", Path = file),
                        on_progress = function(bytes) seen <<- c(seen, bytes))
  expect_false(is.unsorted(seen))
  expect_true(any(seen > 0 & seen < 72e6))
  expect_lte(max(seen), 72e6)

  # A map's payload so uploaded shows a bar (from the start here; by
  # default after two seconds), ending with the whole of it.
  withr::local_options(cli.progress_show_after = 0)
  big <- runif(9e6)   # 72 MB
  f <- function(i) big[[i]]
  said <- character()
  withCallingHandlers(
    submit_map(1:2, f, instance_type = "ml.m5.large", image_uri = image, wait = FALSE,
               session = session),
    message = function(m) {
      said <<- c(said, conditionMessage(m))
      invokeRestart("muffleMessage")
    })
  bars <- grep("^Uploading map ", said, value = TRUE)
  expect_gt(length(bars), 0)
  expect_match(utils::tail(bars, 1), "Uploading map +72 MB of +72 MB")
})

test_that("an upload whose last poll saw every byte ends its bar without error", {
  file <- withr::local_tempfile()
  writeBin(as.raw(1:100), file)
  original <- sagesim:::aws_request
  utils::assignInNamespace("aws_request", function(session, operation, params, json = FALSE,
                                                   on_progress = NULL) {
    on_progress(100)
    list()
  }, "sagesim")
  withr::defer(utils::assignInNamespace("aws_request", original, "sagesim"))
  withr::local_options(cli.progress_show_after = 0)
  expect_no_error(suppressMessages(sagesim:::upload_local(NULL, "bucket", "prefix", file)))
})
