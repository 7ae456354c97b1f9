# A moto server (AWS stand-in) on 127.0.0.1, started once per test run by
# fixtures/moto_launcher.py and reset before each test that uses it.

moto <- new.env(parent = emptyenv())

# What cloud tests submit with: moto's account, a role, an image.
role <- "arn:aws:iam::123456789012:role/SageMakerRole"
image <- "123456789012.dkr.ecr.us-east-1.amazonaws.com/sagesim:latest"

# The Python with moto: SAGESIM_PYTHON (tools/test.sh sets it when
# tools/setup.sh made a virtual environment), else python3. R puts its own
# library folders on LD_LIBRARY_PATH; a python3 built with a shared libpython
# (pyenv) would then load the system's libpython and lose its site-packages.
# Python runs without R's additions.
python3_command <- function() c("env", "-u", "LD_LIBRARY_PATH", Sys.getenv("SAGESIM_PYTHON", "python3"))

python3 <- function(args, ...) {
  command <- python3_command()
  system2(command[[1]], c(command[-1], args), ...)
}

moto_installed <- function() {
  ok <- suppressWarnings(python3(c("-c", shQuote(
    "import moto, sys; sys.exit(tuple(int(x) for x in moto.__version__.split('.')[:3]) < (5, 2, 3))")),
    stdout = FALSE, stderr = FALSE))
  identical(as.integer(ok), 0L)
}

skip_without_moto <- function() {
  if (is.null(moto$installed)) moto$installed <- moto_installed()
  if (!moto$installed) {
    if (identical(Sys.getenv("SAGESIM_REQUIRE_MOTO"), "1")) {
      stop("moto[server] >= 5.2.3 is required (SAGESIM_REQUIRE_MOTO=1): run tools/setup.sh")
    }
    skip("moto[server] >= 5.2.3 is not installed")
  }
}

moto_start <- function() {
  port_file <- tempfile("moto-port-")
  log_file <- tempfile("moto-log-")
  # Every request of the run, for check_run_permissions() at its end.
  moto$request_log <- tempfile("moto-requests-", fileext = ".jsonl")
  launcher <- normalizePath(test_path("fixtures", "moto_launcher.py"))
  # Our pipe is the launcher's stdin: when this R process ends, it ends too.
  # It runs the runtime stand-in with this R's Rscript: R CMD check
  # --as-cran puts a folder first on PATH whose R and Rscript only refuse to
  # run (_R_CHECK_R_ON_PATH_).
  command <- paste(shQuote(c("env", paste0("SAGESIM_RSCRIPT=", file.path(R.home("bin"), "Rscript")),
                             python3_command(), launcher)), collapse = " ")
  moto$stdin <- pipe(sprintf("exec %s --port-file %s --watch-stdin --request-log %s > %s 2>&1",
                             command, shQuote(port_file), shQuote(moto$request_log),
                             shQuote(log_file)), open = "w")
  deadline <- Sys.time() + 60
  while (!file.exists(port_file)) {
    if (Sys.time() > deadline) {
      stop("moto did not start: ", paste(readLines(log_file, warn = FALSE), collapse = "\n"))
    }
    Sys.sleep(0.1)
  }
  ports <- jsonlite::fromJSON(port_file)
  moto$port <- ports$port
  moto$control_port <- ports$control_port
  moto$url <- sprintf("http://127.0.0.1:%d", ports$port)
  reg.finalizer(moto, function(e) try(close(e$stdin), silent = TRUE), onexit = TRUE)
}

# A minimal HTTP/1.0 client (no chunking) for moto's and the launcher's
# control APIs, so the tests need no HTTP package.
http_request <- function(port, method, path, body = NULL, headers = character()) {
  body <- if (is.null(body)) "" else if (is.character(body)) body else
    as.character(jsonlite::toJSON(body, auto_unbox = TRUE, null = "null"))
  connection <- socketConnection("127.0.0.1", port, blocking = TRUE, open = "r+b", timeout = 30)
  on.exit(close(connection))
  extra <- paste0(names(headers), ": ", headers, "\r\n", collapse = "")
  request <- sprintf(paste0("%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n",
                            "%sContent-Length: %d\r\n\r\n%s"), method, path,
                     if (length(headers) > 0) extra else "", nchar(body, "bytes"), body)
  writeBin(charToRaw(request), connection)
  response <- rawToChar(readBin(connection, "raw", 1e8))
  head_end <- regexpr("\r\n\r\n", response, fixed = TRUE)
  status <- as.integer(sub("^HTTP/[0-9.]+ ([0-9]+).*", "\\1", substr(response, 1, 40)))
  head <- strsplit(substr(response, 1, head_end - 1), "\r\n", fixed = TRUE)[[1]][-1]
  headers <- stats::setNames(sub("^[^:]*:[ ]*", "", head), tolower(sub(":.*$", "", head)))
  list(status = status, body = substring(response, head_end + 4), headers = as.list(headers))
}

control <- function(path, body) {
  response <- http_request(moto$control_port, "POST", path, body)
  if (response$status != 200) stop("moto control ", path, " failed: ", response$body)
  jsonlite::fromJSON(response$body, simplifyVector = FALSE)
}

# Call at the top of every test that talks to AWS: a fresh moto, and the
# AWS environment pointing at it with dummy credentials.
local_moto <- function(env = parent.frame()) {
  skip_without_moto()
  if (is.null(moto$port)) moto_start()
  control("/reset", "{}")
  http_request(moto$port, "POST", "/moto-api/recorder/reset-recording")
  http_request(moto$port, "POST", "/moto-api/recorder/start-recording")
  empty <- tempfile("aws-config-")
  file.create(empty)
  withr::local_envvar(c(
    AWS_ENDPOINT_URL = moto$url, AWS_ACCESS_KEY_ID = "testing",
    AWS_SECRET_ACCESS_KEY = "testing-secret-key", AWS_SESSION_TOKEN = NA, AWS_REGION = "us-east-1",
    AWS_DEFAULT_REGION = NA, AWS_PROFILE = NA, AWS_CONFIG_FILE = empty,
    AWS_SHARED_CREDENTIALS_FILE = empty, AWS_EC2_METADATA_DISABLED = "true"
  ), .local_envir = env)
  # Local jobs (listed beside SageMaker's) in a folder of the test's own,
  # and SageMaker the default instance type, as a user who works in the cloud
  # sets it (the default default is "local": test-processing.R checks it).
  use_temp_job_dir(env)
  withr::local_options(sagesim.instance_type = "ml.m5.xlarge", .local_envir = env)
  # Quick polls, and a short look for late log lines after a job ends.
  withr::local_options(sagesim.poll_interval = 0.2, sagesim.final_log_delay = 0.5,
                       .local_envir = env)
  # Each test gets its own default session.
  cache <- sagesim:::session_cache
  cache$default <- NULL
  withr::defer(cache$default <- NULL, envir = env)
  invisible(moto$url)
}

# Every request moto received since the test began, parsed. (Downloaded
# with libcurl: a recording with a large upload's body is too much for the
# small client above.)
recorded_requests <- function() {
  file <- withr::local_tempfile()
  utils::download.file(sprintf("%s/moto-api/recorder/download-recording", moto$url), file,
                       method = "libcurl", quiet = TRUE)
  lines <- readLines(file, warn = FALSE)
  # moto writes an entry and its newline separately: requests recorded at
  # once (the parts of a multipart upload) can share a line.
  lines <- unlist(strsplit(gsub('}{"headers"', '}\n{"headers"', lines, fixed = TRUE), "\n", fixed = TRUE))
  lapply(lines[nzchar(lines)], function(line) {
    entry <- jsonlite::fromJSON(line, simplifyVector = FALSE)
    if (isTRUE(entry$body_encoded) && is.character(entry$body)) {
      body <- jsonlite::base64_dec(entry$body)
      # (The parts of a binary upload stay bytes.)
      entry$body <- if (any(body == as.raw(0))) body else rawToChar(body)
    }
    entry
  })
}

# The JSON bodies of recorded SageMaker calls of one operation.
recorded_sagemaker <- function(operation) {
  calls <- Filter(function(r) identical(r$headers[["X-Amz-Target"]], paste0("SageMaker.", operation)),
                  recorded_requests())
  lapply(calls, function(r) jsonlite::fromJSON(r$body, simplifyVector = FALSE))
}

# `start` and `end` (seconds since 1970): the job's processing start and
# end, as one that ran for that long.
set_job_status <- function(name, status, reason = NULL, exit_message = NULL, start = NULL,
                           end = NULL) {
  control("/processing-job", Filter(Negate(is.null), list(
    ProcessingJobName = name, Status = status, FailureReason = reason, ExitMessage = exit_message,
    ProcessingStartTime = start, ProcessingEndTime = end)))
}

put_job_logs <- function(job_name, host, messages) {
  control("/log-events", list(LogGroupName = "/aws/sagemaker/ProcessingJobs",
                              LogStreamName = sprintf("%s/%s-1700000000", job_name, host),
                              Messages = as.list(messages)))
}

# From now on (until the next local_moto()), every processing job created in
# moto really runs, in the background, on this machine: the launcher stands
# in for the Processing runtime (config files, inputs, the job's entrypoint
# and arguments, logs, output upload, final status; see
# fixtures/moto_launcher.py, POST /play-jobs). `late_lines` are logged by
# every host just after the job's status changed.
play_jobs <- function(late_lines = NULL) {
  # The hosts find sagesim where this session does (the runtime stand-in
  # gives them this R's Rscript: see moto_start()).
  control("/play-jobs", list(Environment = list(R_LIBS = paste(.libPaths(), collapse = ":")),
                             LateLines = as.list(late_lines)))
}

# Every request that writes an object (a PUT of a whole object, or the
# start of a multipart upload) under `prefix`, and whether it asked for
# SSE-KMS with `key`. (The parts of a multipart upload carry no encryption
# headers: the upload's start does.)
object_writes <- function(prefix, key) {
  writes <- Filter(function(r) {
    grepl(prefix, r$url, fixed = TRUE) &&
      ((identical(r$method, "PUT") && !grepl("partNumber=", r$url)) ||
         (identical(r$method, "POST") && grepl("[?&]uploads", r$url)))
  }, recorded_requests())
  stats::setNames(vapply(writes, function(r) {
    headers <- stats::setNames(r$headers, tolower(names(r$headers)))
    identical(headers[["x-amz-server-side-encryption"]], "aws:kms") &&
      identical(headers[["x-amz-server-side-encryption-aws-kms-key-id"]], key)
  }, logical(1)), vapply(writes, function(r) sub("[?].*$", "", basename(r$url)), ""))
}

# The KMS key moto keeps `key` of `bucket` encrypted with (SSE-KMS), as a
# HEAD of the object tells it; NA when it is stored otherwise.
stored_kms_key <- function(bucket, key) {
  # moto answers a request with no credentials as anonymous (403); it does
  # not check the signature.
  signed <- c(Authorization = paste("AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request,",
                                    "SignedHeaders=host, Signature=0"))
  response <- http_request(moto$port, "HEAD", sprintf("/%s/%s", bucket, key), headers = signed)
  if (response$status != 200) stop("no object s3://", bucket, "/", key)
  headers <- response$headers
  if (!identical(headers[["x-amz-server-side-encryption"]], "aws:kms")) return(NA_character_)
  if (is.null(headers[["x-amz-server-side-encryption-aws-kms-key-id"]])) return(NA_character_)
  headers[["x-amz-server-side-encryption-aws-kms-key-id"]]
}

# The keys under a prefix of a bucket.
bucket_keys <- function(session, prefix = "", bucket = session$bucket) {
  reply <- sagesim:::aws_request(session, "s3:ListObjects", list(Bucket = bucket, Prefix = prefix))
  vapply(reply$Objects, `[[`, character(1), "Key")
}

# Faults of the service, from now on (until the next local_moto()): see
# fixtures/moto_launcher.py, POST /faults.
inject_faults <- function(...) control("/faults", stats::setNames(list(...), names(list(...)) %||% character()))

# Faults of single requests, from now on (until the next local_moto()):
# each a list(Operation = "sagemaker:CreateProcessingJob" (or an
# X-Amz-Target) or "s3:PutObject", Fault = "Throttle", "InternalError",
# "ServiceUnavailable", "Reset", "ResetAfter", "Slow" or "AccessDenied",
# Count, Seconds, Message); see fixtures/moto_launcher.py, POST /faults.
inject_request_faults <- function(...) control("/faults", list(Requests = list(...)))

# Every AWS request sent to moto since the test began, as the launcher saw
# it: Operation ("service:Operation"), AccessKeyId (the played hosts sign
# with "EXECUTIONROLEKEY"), Sdk ("rust": sagesim's; "other": the tests' own
# set-up), Method, Path, Query and Body (JSON and query protocols; the Keys
# of an S3 DeleteObjects).
sent_requests <- function() control("/requests", "{}")$Requests

# The calls of one operation among sent_requests().
sent <- function(operation) {
  Filter(function(r) identical(r$Operation, operation), sent_requests())
}

# A certificate authority of the test's own and a certificate for localhost
# it signed: list(ca, cert, key), files in a temporary folder.
local_test_ca <- function(env = parent.frame()) {
  if (!nzchar(Sys.which("openssl"))) skip("no openssl to make a test certificate authority")
  dir <- withr::local_tempdir("tls-", .local_envir = env)
  path <- function(name) file.path(dir, name)
  openssl <- function(args) {
    status <- system2("openssl", args, stdout = FALSE, stderr = FALSE)
    if (status != 0) stop("openssl ", args[[1]], " failed")
  }
  openssl(c("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            shQuote("/CN=sagesim test CA"), "-keyout", path("ca.key"), "-out", path("ca.pem")))
  openssl(c("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
            "-keyout", path("leaf.key"), "-out", path("leaf.csr")))
  writeLines(c("subjectAltName=DNS:localhost,IP:127.0.0.1", "basicConstraints=CA:FALSE",
               "extendedKeyUsage=serverAuth"), path("leaf.ext"))
  openssl(c("x509", "-req", "-in", path("leaf.csr"), "-CA", path("ca.pem"), "-CAkey",
            path("ca.key"), "-CAcreateserial", "-days", "2", "-extfile", path("leaf.ext"),
            "-out", path("leaf.pem")))
  list(ca = path("ca.pem"), cert = path("leaf.pem"), key = path("leaf.key"))
}

# moto behind TLS (fixtures/tls_proxy.py) with the certificate of
# local_test_ca(); its https:// URL.
local_tls_moto <- function(tls, env = parent.frame()) {
  ready <- withr::local_tempfile(.local_envir = env)
  proxy <- test_path("fixtures", "tls_proxy.py")
  system(paste(c(python3_command(), shQuote(c(proxy, tls$cert, tls$key, moto$port, ready)),
                 ">", shQuote(paste0(ready, ".log")), "2>&1", "&"), collapse = " "))
  deadline <- Sys.time() + 20
  while (!file.exists(ready) && Sys.time() < deadline) Sys.sleep(0.05)
  if (!file.exists(ready)) stop("the TLS proxy did not start: ", paste(readLines(paste0(ready, ".log")), collapse = "\n"))
  started <- strsplit(readLines(ready), " ")[[1]]
  withr::defer(tools::pskill(as.integer(started[[2]])), envir = env)
  sprintf("https://localhost:%s", started[[1]])
}
