# Every credential source users have, each a stand-in in front of moto
# (fixtures/credential_endpoints.py): EC2's instance metadata (IMDSv2),
# container credentials (SageMaker Studio, ECS), a profile that assumes a
# role, an SSO profile, and credentials that expire while a job is waited on.
# Each source hands out moto's credentials of an assumed role, so the session
# is that role's, as on AWS; none of it is ever shown.

# What the session shows, and an error it raises.
shown_by <- function(session) {
  error <- tryCatch(job_attach("no-such-job", session = session), error = identity)
  c(capture.output(print(session)), format(session), conditionMessage(error),
    capture.output(print(error)))
}

served_secrets <- function(endpoint) {
  unlist(lapply(served_credentials(endpoint), `[`, c("SecretAccessKey", "SessionToken")))
}

test_that("an EC2 instance profile (IMDSv2): a token first, then the role's credentials and the region", {
  local_moto()
  arn <- create_role("RStudioServer", "/service-role/")
  imds <- local_credential_endpoint("imds", arn, region = "eu-west-1")
  local_no_static_credentials()
  withr::local_envvar(AWS_EC2_METADATA_DISABLED = NA, AWS_EC2_METADATA_SERVICE_ENDPOINT = imds$url,
                      AWS_REGION = NA)
  session <- aws_session()
  expect_identical(session$region, "eu-west-1")
  expect_match(session$caller_arn, ":assumed-role/RStudioServer/", fixed = TRUE)
  expect_identical(session$role, arn)
  expect_s3_class(list_jobs(session = session), "data.frame")
  requests <- endpoint_requests(imds)
  expect_identical(c(requests[[1]]$method, requests[[1]]$path), c("PUT", "/latest/api/token"))
  # Version 2 only: every request carried the token.
  expect_true(all(vapply(requests, `[[`, logical(1), "authorized")))
  paths <- vapply(requests, `[[`, "", "path")
  expect_true("/latest/meta-data/iam/security-credentials/RStudioServer" %in% paths)
  served <- served_credentials(imds)
  expect_true(served[[1]]$AccessKeyId %in% recorded_signatures()$key)
  expect_no_secrets(shown_by(session), served_secrets(imds))
})

test_that("container credentials (SageMaker Studio, ECS): the full URI and its authorization token", {
  local_moto()
  arn <- create_role("AmazonSageMaker-ExecutionRole-20240101T000000", "/service-role/")
  token <- "container-authorization-token-3f9a"
  endpoint <- local_credential_endpoint("container", arn, token = token)
  local_no_static_credentials()
  withr::local_envvar(AWS_CONTAINER_CREDENTIALS_FULL_URI = paste0(endpoint$url, "/v2/credentials/a1b2"),
                      AWS_CONTAINER_AUTHORIZATION_TOKEN = token)
  session <- aws_session()
  expect_match(session$caller_arn, ":assumed-role/AmazonSageMaker-ExecutionRole-20240101T000000/",
               fixed = TRUE)
  expect_identical(session$role, arn)
  expect_s3_class(list_jobs(session = session), "data.frame")
  expect_true(all(vapply(endpoint_requests(endpoint), `[[`, logical(1), "authorized")))
  expect_no_secrets(shown_by(session), c(token, served_secrets(endpoint)))
  # The token from a file, as EKS Pod Identity gives it.
  file <- withr::local_tempfile()
  cat(token, file = file)
  withr::with_envvar(c(AWS_CONTAINER_AUTHORIZATION_TOKEN = NA, AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE = file), {
    expect_identical(aws_session()$role, arn)
  })
  # A wrong token: refused, said as a credentials problem, no token shown.
  withr::local_envvar(AWS_CONTAINER_AUTHORIZATION_TOKEN = "wrong-token-0000")
  error <- tryCatch(aws_session(), error = identity)
  expect_s3_class(error, "sagesim_no_credentials")
  expect_false(all(vapply(endpoint_requests(endpoint), `[[`, logical(1), "authorized")))
  expect_no_secrets(c(conditionMessage(error), capture.output(print(error))),
                    c(token, "wrong-token-0000", served_secrets(endpoint)))
})

test_that("a profile that assumes a role (role_arn + source_profile) gives its role and its region", {
  local_moto()
  arn <- create_role("Analyst", "/teams/modelling/")
  config <- withr::local_tempfile()
  writeLines(c("[profile base]", "aws_access_key_id = AKIABASEPROFILE0001",
               "aws_secret_access_key = base-profile-secret-value", "region = us-east-1", "",
               "[profile analyst]", paste("role_arn =", arn), "source_profile = base",
               "role_session_name = alice", "region = eu-west-1"), config)
  local_no_static_credentials()
  withr::local_envvar(AWS_CONFIG_FILE = config, AWS_PROFILE = "analyst", AWS_REGION = NA)
  session <- aws_session()
  expect_identical(session$region, "eu-west-1")
  expect_identical(session$bucket, "sagemaker-eu-west-1-123456789012")
  expect_identical(session$caller_arn, "arn:aws:sts::123456789012:assumed-role/Analyst/alice")
  expect_identical(session$role, arn)
  # moto's STS was asked for the role, with the source profile's keys.
  assumed <- Filter(function(r) grepl("Action=AssumeRole", r$body %||% "", fixed = TRUE), recorded_requests())
  expect_length(assumed, 1)
  expect_match(assumed[[1]]$body, utils::URLencode(arn, reserved = TRUE), fixed = TRUE)
  expect_match(assumed[[1]]$headers[["Authorization"]], "Credential=AKIABASEPROFILE0001/", fixed = TRUE)
  # A job goes to the profile's region.
  submit_processing(code = local_script(), image_uri = image, wait = FALSE, session = session)
  create <- Filter(function(r) identical(r$headers[["X-Amz-Target"]], "SageMaker.CreateProcessingJob"),
                   recorded_requests())
  expect_match(create[[1]]$headers[["Authorization"]], "/eu-west-1/sagemaker/aws4_request", fixed = TRUE)
  expect_no_secrets(shown_by(session), "base-profile-secret-value")
  # Named by `profile =` instead of AWS_PROFILE: the same.
  withr::local_envvar(AWS_PROFILE = NA)
  by_name <- aws_session(profile = "analyst")
  expect_identical(c(by_name$region, by_name$role), c("eu-west-1", arn))
})

test_that("an SSO profile with a cached token (aws sso login) gives the permission set's role and the profile's region", {
  local_moto()
  name <- "AWSReservedSSO_DataScientist_0123456789abcdef"
  arn <- create_role(name, "/aws-reserved/sso.amazonaws.com/eu-central-1/")
  token <- "sso-portal-access-token-7c1e"
  portal <- local_credential_endpoint("sso", arn, token = token)
  home <- withr::local_tempdir()
  start_url <- "https://sagesim-test.awsapps.com/start"
  credential_endpoints(c("sso-cache", "--home", shQuote(home), "--start-url", start_url,
                         "--region", "eu-central-1", "--token", token))
  config <- withr::local_tempfile()
  writeLines(c("[profile science]", paste("sso_start_url =", start_url), "sso_region = eu-central-1",
               "sso_account_id = 123456789012", "sso_role_name = DataScientist",
               "region = eu-central-1"), config)
  local_no_static_credentials()
  # The SDK's endpoint override for the SSO portal (as for every service).
  withr::local_envvar(HOME = home, AWS_CONFIG_FILE = config, AWS_PROFILE = "science", AWS_REGION = NA,
                      AWS_ENDPOINT_URL_SSO = portal$url)
  session <- aws_session()
  expect_identical(session$region, "eu-central-1")
  expect_match(session$caller_arn, sprintf(":assumed-role/%s/", name), fixed = TRUE)
  expect_identical(session$role, arn)
  expect_s3_class(list_jobs(session = session), "data.frame")
  requests <- endpoint_requests(portal)
  expect_true(all(vapply(requests, `[[`, logical(1), "authorized")))
  expect_match(requests[[1]]$path, "role_name=DataScientist", fixed = TRUE)
  expect_match(requests[[1]]$path, "account_id=123456789012", fixed = TRUE)
  expect_no_secrets(shown_by(session), c(token, served_secrets(portal)))
})

test_that("credentials that expire every 30 s are refreshed while a job is waited on, its logs streamed, for longer", {
  local_moto()
  arn <- create_role("AmazonSageMaker-ExecutionRole-20240101T000000", "/service-role/")
  token <- "container-authorization-token-3f9a"
  endpoint <- local_credential_endpoint("container", arn, token = token, lifetime = 30)
  local_no_static_credentials()
  withr::local_envvar(AWS_CONTAINER_CREDENTIALS_FULL_URI = paste0(endpoint$url, "/v2/credentials/a1b2"),
                      AWS_CONTAINER_AUTHORIZATION_TOKEN = token)
  session <- aws_session()
  play_jobs()
  script <- local_script("for (i in 1:10) { cat(sprintf('tick %d\\n', i)); flush(stdout()); Sys.sleep(6) }")
  job <- submit_processing(code = script, image_uri = image, wait = FALSE, session = session)
  started <- Sys.time()
  output <- capture.output(job_wait(job, logs = TRUE, timeout = 240))
  expect_gt(as.numeric(difftime(Sys.time(), started, units = "secs")), 50)
  expect_true(all(sprintf("[algo-1] tick %d", 1:10) %in% output))
  expect_identical(job_status(job)$status, "Completed")
  served <- served_credentials(endpoint)
  expiry <- stats::setNames(vapply(served, function(s) as.numeric(s$Expiration), 0),
                            vapply(served, `[[`, "", "AccessKeyId"))
  expect_gte(length(expiry), 3)
  # Every request made with them was signed before they expired, and the
  # wait went on with the later sets.
  signed <- recorded_signatures()
  signed <- signed[signed$key %in% names(expiry), ]
  expect_gt(nrow(signed), 20)
  expect_true(all(signed$time < expiry[signed$key]))
  expect_gte(length(unique(signed$key)), 3)
  expect_no_secrets(c(output, shown_by(session)), c(token, served_secrets(endpoint)))
})
