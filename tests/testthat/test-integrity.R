# What travels between the session and the hosts (a map's payload, the
# hosts' results files) is checked before it is unserialized: altered after
# it was written, it is refused with a sagesim_integrity_error, on the host
# and in the session, for local jobs and cloud (moto) jobs alike.

# A payload that runs other code than the one submitted: what someone who
# can write to the job's folder or prefix would put there.
evil_payload <- function(file, x) {
  payload <- sagesim:::new_map_payload(x, function(i) "not the submitted function", list(),
                                       character(), 1)
  saveRDS(payload, file)
}

# Rewrites a results file (map .rds or simulation .json) in place: its
# contents changed, still readable, its signature left as it was.
alter_results_file <- function(file) {
  if (grepl("[.]rds$", file)) {
    results <- readRDS(file)
    results$values <- lapply(results$values, function(v) "altered")
    saveRDS(results, file)
  } else {
    text <- readLines(file, warn = FALSE)
    changed <- sub("\"iterations\":([0-9]+)", "\"iterations\":1\\1", text)
    if (identical(changed, text)) changed <- sub("\\}$", ",\"x\":1}", text)
    writeLines(changed, file)
  }
}

# Calls `hook()` each time sagesim's internal `name` is called, before it.
local_hook <- function(name, hook, env = parent.frame()) {
  real <- get(name, envir = asNamespace("sagesim"))
  utils::assignInNamespace(name, function(...) {
    hook(...)
    real(...)
  }, "sagesim")
  withr::defer(utils::assignInNamespace(name, real, "sagesim"), envir = env)
}

# Alters the object `key` of the session's bucket in S3 as alter_results_file() does.
alter_results_object <- function(session, key) {
  target <- withr::local_tempdir()
  reply <- sagesim:::aws_request(session, "s3:DownloadPrefix", list(
    Bucket = session$bucket, Prefix = key, Directory = target))
  paths <- vapply(reply$Files, `[[`, "", "Path")
  file <- paths[basename(paths) == basename(key)][[1]]
  alter_results_file(file)
  sagesim:::aws_request(session, "s3:PutObjectFromFile", list(
    Bucket = session$bucket, Key = key, Path = file))
}

expect_refused <- function(expr, pattern) {
  error <- tryCatch(expr, error = identity)
  expect_s3_class(error, "sagesim_integrity_error")
  expect_match(conditionMessage(error), pattern)
  invisible(error)
}

test_that("the core checks a file's SHA-256 and a results file's signature", {
  path <- withr::local_tempfile(fileext = ".rds")
  saveRDS(1:3, path)
  hash <- sagesim:::payload_sha256(path)
  expect_match(hash, "^[0-9a-f]{64}$")
  expect_silent(sagesim:::check_payload(path, hash))
  expect_refused(sagesim:::check_payload(path, NULL), "no SHA-256")
  saveRDS(1:4, path)
  expect_refused(sagesim:::check_payload(path, hash), "changed after it was submitted")
  key <- sagesim:::new_results_key()
  # A key never shows itself.
  expect_output(print(key), "<sagesim secret>")
  expect_identical(format(key), "<sagesim secret>")
  expect_false(grepl(sagesim:::secret_value(key), paste(capture.output(str(key)), collapse = ""),
                     fixed = TRUE))
  dir <- withr::local_tempdir()
  file <- file.path(dir, "map-results-algo-1-00000.rds")
  saveRDS(list(values = list(1)), paste0(file, ".partial"))
  sagesim:::sign_results_file(paste0(file, ".partial"), file, sagesim:::secret_value(key))
  file.rename(paste0(file, ".partial"), file)
  expect_silent(sagesim:::verify_results_file(file, key, dir, "here"))
  expect_refused(sagesim:::verify_results_file(file, sagesim:::new_results_key(), dir, "here"),
                 "signature does not match")
  expect_refused(sagesim:::verify_results_file(file, NULL, dir, "here"), "results key is not known")
  unlink(paste0(file, ".hmac"))
  expect_refused(sagesim:::verify_results_file(file, key, dir, "here"), "no signature")
})

test_that("local map job: a payload altered before its hosts read it is refused on the hosts", {
  use_temp_job_dir()
  # Between the session writing the payload into the job's folder and the
  # hosts starting, the payload is replaced.
  local_hook("launch_host", function(dir, host) {
    if (identical(host, "algo-1")) evil_payload(file.path(dir, "map", "payload.rds"), 1:4)
  })
  job <- submit_map(1:4, function(i) i * 10, instance_count = 2, wait = FALSE)
  error <- tryCatch(job_wait(job, logs = FALSE, timeout = 120), error = identity)
  expect_s3_class(error, "sagesim_job_failed")
  expect_match(error$failure_reason, "SHA-256")
  expect_match(error$failure_reason, "changed after it was submitted")
  expect_length(list.files(file.path(job$dir, "output", "map"), pattern = "rds$"), 0)
})

test_that("local map job: an altered results file is refused in the session, also in a new R session", {
  dir <- use_temp_job_dir()
  job <- submit_map(1:6, function(i) i * 10, instance_count = 2, logs = FALSE)
  expect_identical(unlist(job_collect(job)), seq(10, 60, by = 10))
  # The key is in the job's folder, for this user only, and nowhere in its record.
  key_file <- file.path(job$dir, "results-key")
  expect_identical(as.character(file.info(key_file)$mode), "600")
  key <- readLines(key_file)
  expect_false(any(grepl(key, readLines(file.path(job$dir, "job.json"), warn = FALSE), fixed = TRUE)))
  expect_false(any(grepl(key, capture.output(print(job)), fixed = TRUE)))
  for (host in job$hosts) {
    expect_identical(as.character(file.info(file.path(job$dir, "hosts", host, "run.sh"))$mode), "600")
  }
  files <- list.files(file.path(job$dir, "output", "map"), pattern = "rds$", full.names = TRUE)
  alter_results_file(files[[1]])
  error <- expect_refused(job_collect(job),
                          "map-results-algo-1-00000.rds .*is refused: its signature does not match")
  expect_identical(error$file, "map/map-results-algo-1-00000.rds")
  expect_identical(error$location, file.path(job$dir, "output", "map"))
  # job_attach() in another R session finds the key in the job's folder: it
  # checks the files too.
  script <- local_script(c(
    "library(sagesim)",
    sprintf("options(sagesim.job_dir = %s)", deparse(dir)),
    sprintf("job <- job_attach(%s)", deparse(job$name)),
    "e <- tryCatch(job_collect(job), error = identity)",
    "writeLines(class(e)[[1]], 'class.txt')"))
  withr::local_dir(withr::local_tempdir())
  expect_identical(run_rscript(script, stdout = "log", stderr = "log"), 0L)
  expect_identical(readLines("class.txt"), "sagesim_integrity_error")
  # A results file without its signature is refused as well.
  unlink(paste0(files[[2]], ".hmac"))
  file.copy(file.path(job$dir, "hosts", "algo-1", "opt", "ml", "processing", "output", "map",
                      basename(files[[1]])), files[[1]], overwrite = TRUE)
  expect_refused(job_collect(job), "has no signature")
})

test_that("local map job: a payload altered in the job's folder is refused when the session reads it", {
  use_temp_job_dir()
  job <- submit_map(1:6, function(i) if (i == 3) stop("three") else i, instance_count = 2,
                    logs = FALSE)
  evil_payload(file.path(job$dir, "map", "payload.rds"), 1:6)
  # job_resubmit() reads the payload to run the failed element again.
  expect_refused(job_resubmit(job, f = function(i) i, logs = FALSE),
                 "payload of job .* is refused: its SHA-256 is")
  # Without anything altered, the resubmission (in a new handle) works.
  job <- submit_map(1:6, function(i) if (i == 3) stop("three") else i, instance_count = 2,
                    logs = FALSE)
  again <- job_resubmit(job_attach(job$name), f = function(i) i, logs = FALSE)
  expect_identical(unlist(job_collect(again)), 1:6)
})

test_that("local simulation and sweep jobs: an altered result file is refused", {
  use_temp_job_dir()
  spec <- simulation_spec(100, 100, 50, 40, seed = 3)
  job <- submit_processing(simulation = spec, instance_type = "local", instance_count = 2,
                           logs = FALSE)
  expected <- job_collect(job)
  expect_identical(job_collect(job_attach(job$name))$values, expected$values)
  files <- list.files(file.path(job$dir, "output", "simulation"), pattern = "json$",
                      full.names = TRUE)
  expect_true(all(file.exists(paste0(files, ".hmac"))))
  alter_results_file(files[[2]])
  expect_refused(job_collect(job), "sagesim-result-algo-2-[0-9]+[.]json .*is refused")
  grid <- simulation_grid(100, 100, c(20, 40), 10, seed = 4)
  sweep <- submit_processing(simulation = grid, instance_type = "local", logs = FALSE)
  files <- list.files(file.path(sweep$dir, "output", "simulation"), pattern = "json$",
                      full.names = TRUE)
  alter_results_file(files[[1]])
  expect_refused(job_collect(sweep), "is refused: its signature does not match")
})

test_that("cloud map job: a payload altered in S3 before its hosts read it is refused on the hosts", {
  local_moto()
  session <- aws_session(role = role)
  play_jobs()
  # Between the payload's upload and the job's creation (the record is
  # uploaded in between), the payload in S3 is replaced.
  evil <- withr::local_tempfile(fileext = ".rds")
  evil_payload(evil, 1:4)
  local_hook("upload_record", function(session, bucket, record, kms_key) {
    sagesim:::aws_request(session, "s3:PutObjectFromFile", list(
      Bucket = bucket, Key = sprintf("%s/input/map/payload.rds", record$plan$name), Path = evil))
  })
  job <- submit_map(1:4, function(i) i * 10, instance_count = 2, instance_type = "ml.m5.large",
                    image_uri = image, wait = FALSE, session = session)
  error <- tryCatch(job_wait(job, logs = FALSE, timeout = 120), error = identity)
  expect_s3_class(error, "sagesim_job_failed")
  expect_match(paste(error$failure_reason, error$exit_message), "SHA-256")
  # The key went to the hosts in the request's environment, never to S3.
  created <- recorded_sagemaker("CreateProcessingJob")
  key <- created[[length(created)]]$Environment$SAGESIM_RESULTS_KEY
  expect_match(key, "^[0-9a-f]{64}$")
  record <- withr::local_tempdir()
  sagesim:::aws_request(session, "s3:DownloadPrefix", list(
    Bucket = session$bucket, Prefix = paste0(job$name, "/input/"), Directory = record))
  stored <- list.files(record, recursive = TRUE, full.names = TRUE)
  expect_true(any(grepl("sagesim-job[.]json$", stored)))
  expect_false(any(vapply(stored, function(f) {
    length(grepRaw(key, readBin(f, "raw", file.size(f)), fixed = TRUE)) > 0
  }, logical(1))))
})

test_that("cloud map job: a results file altered in S3 is refused in the session, also by a new handle", {
  local_moto()
  session <- aws_session(role = role)
  play_jobs()
  job <- submit_map(1:6, function(i) i * 10, instance_count = 2, instance_type = "ml.m5.large",
                    image_uri = image, wait = FALSE, session = session)
  job_wait(job, logs = FALSE, timeout = 120)
  expect_identical(unlist(job_collect(job)), seq(10, 60, by = 10))
  # A new handle (as in another R session) has the key from SageMaker's
  # description of the job.
  attached <- job_attach(job$name, session = session)
  expect_identical(unlist(job_collect(attached)), seq(10, 60, by = 10))
  keys <- bucket_keys(session, paste0(job$name, "/output/map/"))
  results <- keys[grepl("[.]rds$", keys)]
  expect_true(all(paste0(results, ".hmac") %in% keys))
  alter_results_object(session, results[[1]])
  expect_refused(job_collect(attached), "is refused: its signature does not match")
})

test_that("cloud map job: a payload altered in S3 is refused when the session reads it", {
  local_moto()
  session <- aws_session(role = role)
  play_jobs()
  job <- submit_map(1:4, function(i) if (i == 2) stop("two") else i, instance_count = 2,
                    instance_type = "ml.m5.large", image_uri = image, wait = FALSE,
                    session = session)
  job_wait(job, logs = FALSE, timeout = 120)
  evil <- withr::local_tempfile(fileext = ".rds")
  evil_payload(evil, 1:4)
  sagesim:::aws_request(session, "s3:PutObjectFromFile", list(
    Bucket = session$bucket, Key = sprintf("%s/input/map/payload.rds", job$name), Path = evil))
  expect_refused(job_resubmit(job, f = function(i) i, wait = FALSE),
                 "payload of job .* is refused: its SHA-256 is")
  # The record in S3 rewritten with the altered payload's SHA-256 changes
  # nothing: the SHA-256 is SageMaker's description of the request's.
  expect_refused(job_resubmit(job_attach(job$name, session = session), f = function(i) i,
                              wait = FALSE),
                 "payload of job .* is refused")
})

test_that("cloud simulation job: a result file altered in S3 is refused", {
  local_moto()
  session <- aws_session(role = role)
  play_jobs()
  job <- submit_processing(simulation = simulation_spec(100, 100, 50, 40, seed = 3),
                           instance_type = "ml.m5.large", instance_count = 2, image_uri = image,
                           wait = FALSE, session = session)
  job_wait(job, logs = FALSE, timeout = 120)
  expected <- job_collect(job)
  expect_identical(job_collect(job_attach(job$name, session = session))$values, expected$values)
  keys <- bucket_keys(session, paste0(job$name, "/output/simulation/"))
  results <- keys[grepl("[.]json$", keys)]
  expect_true(all(paste0(results, ".hmac") %in% keys))
  alter_results_object(session, results[[1]])
  expect_refused(job_collect(job), "sagesim-result-algo-[12]-[0-9]+[.]json .*is refused")
})
