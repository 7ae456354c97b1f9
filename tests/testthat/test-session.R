# aws_session(): the standard chain, STS, defaults, and no secrets in output.

test_that("a session finds account, region, default bucket and endpoint", {
  url <- local_moto()
  session <- aws_session()
  expect_s3_class(session, "sagesim_session")
  expect_identical(session$region, "us-east-1")
  expect_identical(session$account, "123456789012")
  expect_identical(session$bucket, "sagemaker-us-east-1-123456789012")
  expect_identical(session$endpoint_url, url)
  printed <- paste(capture.output(print(session)), collapse = "\n")
  expect_match(printed, "123456789012")
  expect_match(printed, "sagemaker-us-east-1-123456789012")
  expect_false(grepl("testing-secret-key", printed, fixed = TRUE))
  expect_false(grepl("testing-secret-key", format(session), fixed = TRUE))
})

test_that("explicit arguments override the chain, and credentials never print", {
  local_moto()
  withr::local_envvar(AWS_ACCESS_KEY_ID = NA, AWS_SECRET_ACCESS_KEY = NA)
  session <- aws_session(region = "eu-west-1", bucket = "my-bucket",
                         credentials = list(access_key_id = "AKIAEXPLICIT",
                                            secret_access_key = "explicit-secret-value"))
  expect_identical(session$region, "eu-west-1")
  expect_identical(session$bucket, "my-bucket")
  printed <- paste(capture.output(print(session), str(session)), collapse = "\n")
  expect_false(grepl("explicit-secret-value", printed, fixed = TRUE))
  expect_false(grepl("AKIAEXPLICIT", printed, fixed = TRUE))
  # Saved and restored, the session cannot silently lose (or leak) them.
  saved <- serialize(session, NULL)
  expect_length(grepRaw("explicit-secret-value", saved, fixed = TRUE), 0)
  expect_length(grepRaw("AKIAEXPLICIT", saved, fixed = TRUE), 0)
  expect_error(list_jobs(session = unserialize(saved)), class = "sagesim_session_expired")
  expect_error(aws_session(credentials = list(access_key_id = "x")), class = "sagesim_invalid_argument")
  # Nor does an error, however it is shown.
  failed <- tryCatch(aws_session(region = "Bad Region",
                                 credentials = list(access_key_id = "AKIAEXPLICIT",
                                                    secret_access_key = "explicit-secret-value")),
                     error = identity)
  expect_s3_class(failed, "sagesim_invalid_argument")
  shown <- paste(c(conditionMessage(failed), deparse(conditionCall(failed)),
                   capture.output(print(failed))), collapse = "\n")
  expect_false(grepl("explicit-secret-value", shown, fixed = TRUE))
  expect_false(grepl("AKIAEXPLICIT", shown, fixed = TRUE))
  expect_error(aws_session(region = "Not A Region"), class = "sagesim_invalid_argument")
  expect_error(aws_session(role = "not a role!"), class = "sagesim_invalid_argument")
})

test_that("a saved session reconnects through the chain", {
  local_moto()
  session <- aws_session(bucket = "kept-bucket")
  restored <- unserialize(serialize(session, NULL))
  expect_identical(restored$bucket, "kept-bucket")
  expect_s3_class(list_jobs(session = restored), "data.frame")
})

test_that("the execution role comes from the argument or a role caller", {
  local_moto()
  session <- aws_session()
  # moto's caller is an IAM user, so there is no role to default to.
  expect_match(session$caller_arn, ":user/")
  expect_null(session$role)
  expect_output(print(session), "none: pass `role`")
  role <- "arn:aws:iam::123456789012:role/SageMakerRole"
  expect_identical(aws_session(role = role)$role, role)
  expect_identical(
    sagesim:::assumed_role_name("arn:aws:sts::123456789012:assumed-role/Analyst/alice"), "Analyst")
  expect_null(sagesim:::assumed_role_name("arn:aws:iam::123456789012:user/bob"))
})

test_that("AWS errors become classed conditions with code, message and request id", {
  local_moto()
  session <- aws_session()
  error <- tryCatch(job_attach("no-such-job", session = session), error = identity)
  expect_s3_class(error, "sagesim_job_not_found")
  error <- tryCatch(
    sagesim:::aws_request(session, "s3:ListObjects", list(Bucket = "no-such-bucket", Prefix = "")),
    error = identity)
  expect_s3_class(error, "sagesim_aws_error")
  expect_s3_class(error, "sagesim_aws_NoSuchBucket")
  expect_identical(error$code, "NoSuchBucket")
  expect_identical(error$service, "s3")
  expect_true(is.character(error$request_id) && nzchar(error$request_id))
  expect_match(conditionMessage(error), "NoSuchBucket")
})

test_that("no credentials anywhere: said in plain words, with where sagesim looked", {
  local_moto()
  withr::local_envvar(AWS_ACCESS_KEY_ID = NA, AWS_SECRET_ACCESS_KEY = NA, AWS_SESSION_TOKEN = NA,
                      AWS_WEB_IDENTITY_TOKEN_FILE = NA, AWS_CONTAINER_CREDENTIALS_RELATIVE_URI = NA,
                      AWS_CONTAINER_CREDENTIALS_FULL_URI = NA)
  error <- tryCatch(aws_session(), error = identity)
  expect_s3_class(error, "sagesim_no_credentials")
  expect_s3_class(error, "sagesim_aws_error")
  message <- conditionMessage(error)
  expect_match(message, "^No AWS credentials were found\\.")
  for (place in c("AWS_ACCESS_KEY_ID", "~/.aws/credentials", "SSO", "web identity",
                  "container credentials", "instance metadata", "aws configure")) {
    expect_match(message, place, fixed = TRUE)
  }
  # The SDK's own account stays below.
  expect_match(message, "The AWS SDK said: AWS sts GetCallerIdentity failed")
  expect_identical(conditionCall(error)[[1]], quote(aws_session))
})

test_that("AWS is reached over HTTPS, trusting the system's certificates or SSL_CERT_FILE's", {
  local_moto()
  tls <- local_test_ca()
  url <- local_tls_moto(tls)
  http_request(moto$port, "POST", "/moto-api/recorder/reset-recording")
  # Each in an R session of its own: the certificates trusted are read once
  # per process, when the first HTTPS connection is made.
  script <- withr::local_tempfile(fileext = ".R")
  writeLines(c(
    "session <- tryCatch(sagesim::aws_session(), error = identity)",
    "if (inherits(session, 'error')) cat(class(session)[[1]], conditionMessage(session), sep = '\\n') else",
    "  cat('ok', session$account, session$endpoint_url, nrow(sagesim::list_jobs(session = session)) >= 0, sep = '\\n')"
  ), script)
  withr::local_envvar(AWS_ENDPOINT_URL = url, SSL_CERT_DIR = NA, R_LIBS = paste(.libPaths(), collapse = ":"))
  # A certificate signed by an authority the client does not trust: refused.
  withr::with_envvar(c(SSL_CERT_FILE = NA), {
    refused <- run_rscript(script, stdout = TRUE, timeout = 120)
  })
  expect_identical(refused[[1]], "sagesim_aws_error")
  expect_match(paste(refused, collapse = "\n"), "invalid peer certificate: UnknownIssuer", fixed = TRUE)
  # Trusted through SSL_CERT_FILE: the session's calls go through TLS to moto.
  withr::with_envvar(c(SSL_CERT_FILE = tls$ca), {
    trusted <- run_rscript(script, stdout = TRUE, timeout = 120)
  })
  expect_identical(trusted, c("ok", "123456789012", url, "TRUE"))
  targets <- vapply(recorded_requests(), function(r) r$headers[["X-Amz-Target"]] %||% "", "")
  expect_true(any(grepl("ListProcessingJobs$", targets)))
})
