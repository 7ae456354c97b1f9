# The execution role: the caller's real role (its path from IAM), a role name
# given with its path, and a plain error when IAM cannot say.

sagemaker_role_name <- "AmazonSageMaker-ExecutionRole-20240101T000000"

test_that("an assumed-role caller's default role is its real ARN, path included, and jobs name it", {
  local_moto()
  arn <- create_role(sagemaker_role_name, "/service-role/")
  expect_identical(arn, sprintf("arn:aws:iam::123456789012:role/service-role/%s", sagemaker_role_name))
  credentials <- assume_role(arn)
  withr::local_envvar(AWS_ACCESS_KEY_ID = NA, AWS_SECRET_ACCESS_KEY = NA)
  session <- aws_session(credentials = credentials)
  expect_match(session$caller_arn, sprintf(":assumed-role/%s/", sagemaker_role_name), fixed = TRUE)
  expect_identical(session$role, arn)
  shown <- c(capture.output(print(session)), format(session))
  expect_true(any(grepl(arn, shown, fixed = TRUE)))
  expect_no_secrets(shown, credentials[c("secret_access_key", "session_token")])
  job <- submit_processing(code = local_script(), image_uri = image, wait = FALSE, session = session)
  requests <- recorded_sagemaker("CreateProcessingJob")
  expect_length(requests, 1)
  expect_identical(requests[[1]]$RoleArn, arn)
  expect_no_secrets(capture.output(print(job)), credentials[c("secret_access_key", "session_token")])
})

test_that("a role name with a path expands to the ARN with that path, asking IAM nothing", {
  local_moto()
  session <- aws_session(role = "service-role/MyRole")
  expect_identical(session$role, "arn:aws:iam::123456789012:role/service-role/MyRole")
  expect_identical(aws_session(role = "/service-role/MyRole")$role, session$role)
  submit_processing(code = local_script(), image_uri = image, role = "analysts/team-a/Runner",
                    wait = FALSE, session = session)
  expect_identical(recorded_sagemaker("CreateProcessingJob")[[1]]$RoleArn,
                   "arn:aws:iam::123456789012:role/analysts/team-a/Runner")
  iam <- Filter(function(r) grepl("Action=GetRole", r$body %||% "", fixed = TRUE), recorded_requests())
  expect_length(iam, 0)
  for (bad in c("service-role/", "a//b", "has space/Role")) {
    expect_error(aws_session(role = bad), class = "sagesim_invalid_argument")
  }
})

test_that("when IAM refuses GetRole, the session is made and submitting without a role says to pass one", {
  local_moto()
  arn <- create_role(sagemaker_role_name, "/service-role/")
  credentials <- assume_role(arn)
  secrets <- credentials[c("secret_access_key", "session_token")]
  withr::local_envvar(AWS_ACCESS_KEY_ID = NA, AWS_SECRET_ACCESS_KEY = NA)
  # IAM, and only IAM, answers AccessDenied.
  iam <- local_credential_endpoint("deny")
  withr::local_envvar(AWS_ENDPOINT_URL_IAM = iam$url)
  session <- aws_session(credentials = credentials)
  expect_null(session$role)
  expect_length(endpoint_requests(iam), 1)
  printed <- capture.output(print(session))
  expect_true(any(grepl(sprintf("unknown: IAM GetRole of %s failed; pass `role`", sagemaker_role_name),
                        printed, fixed = TRUE)))
  error <- tryCatch(submit_processing(code = local_script(), image_uri = image, wait = FALSE,
                                      session = session), error = identity)
  expect_s3_class(error, "sagesim_role_unknown")
  expect_s3_class(error, "sagesim_invalid_argument")
  expect_identical(error$argument, "role")
  expect_identical(error$role_name, sagemaker_role_name)
  expect_identical(error$aws_code, "AccessDenied")
  expect_match(conditionMessage(error), "AccessDenied", fixed = TRUE)
  expect_match(conditionMessage(error), "Pass `role = ", fixed = TRUE)
  expect_identical(conditionCall(error)[[1]], quote(submit_processing))
  expect_length(recorded_sagemaker("CreateProcessingJob"), 0)
  expect_no_secrets(c(printed, conditionMessage(error), capture.output(print(error))), secrets)
  # A user who names the role needs no IAM: IAM is not asked, the job is made.
  named <- aws_session(credentials = credentials, role = sprintf("service-role/%s", sagemaker_role_name))
  expect_identical(named$role, arn)
  submit_processing(code = local_script(), image_uri = image, wait = FALSE, session = named)
  expect_identical(recorded_sagemaker("CreateProcessingJob")[[1]]$RoleArn, arn)
  expect_length(endpoint_requests(iam), 1)
})
