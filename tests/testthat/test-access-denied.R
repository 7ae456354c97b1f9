# A call AWS refuses for want of a permission is a `sagesim_access_denied`
# error naming the action, the resource and the statement to add: refused
# by the fault injector in each service's words (fixtures/moto_launcher.py,
# POST /faults "Requests"), and by moto enforcing a user's IAM policy.

account <- "123456789012"

test_that("a refused call names the action, the resource and the statement that allows it", {
  local_moto()
  session <- aws_session(role = role)
  # SageMaker refusing to pass the role, in AWS's words: the action and the
  # resource are AWS's, the refused submission leaves nothing behind.
  said <- sprintf(paste("User: arn:aws:sts::%s:assumed-role/Analyst/me is not authorized to perform:",
                        "iam:PassRole on resource: %s because no identity-based policy allows the",
                        "iam:PassRole action"), account, role)
  inject_request_faults(list(Operation = "sagemaker:CreateProcessingJob", Fault = "AccessDenied",
                             Message = said))
  error <- tryCatch(submit_processing(code = local_script(), image_uri = image, wait = FALSE,
                                      session = session), error = identity)
  expect_s3_class(error, "sagesim_access_denied")
  expect_s3_class(error, "sagesim_aws_AccessDeniedException")
  expect_identical(error$action, "iam:PassRole")
  expect_identical(error$resource, role)
  expect_identical(error$caller, sprintf("arn:aws:sts::%s:assumed-role/Analyst/me", account))
  expect_identical(error$permission, list(
    Effect = "Allow", Action = list("iam:PassRole"), Resource = list(role),
    Condition = list(StringEquals = list(`iam:PassedToService` = "sagemaker.amazonaws.com"))))
  message <- conditionMessage(error)
  expect_match(message, sprintf("arn:aws:sts::%s:assumed-role/Analyst/me may not iam:PassRole on %s",
                                account, role), fixed = TRUE)
  expect_match(message, '"Action":["iam:PassRole"]', fixed = TRUE)
  expect_match(message, "sagesim_iam_policy()", fixed = TRUE)
  expect_length(bucket_keys(session), 0)
  expect_length(sagesim:::aws_request(session, "sagemaker:ListProcessingJobs", list())$ProcessingJobSummaries, 0)

  # A refusal that names the action only: sagesim names the job.
  job <- submit_processing(code = local_script(), image_uri = image, wait = FALSE, session = session)
  inject_request_faults(list(Operation = "sagemaker:DescribeProcessingJob", Fault = "AccessDenied"))
  error <- tryCatch(job_status(job), error = identity)
  expect_s3_class(error, "sagesim_access_denied")
  expect_identical(error$action, "sagemaker:DescribeProcessingJob")
  expect_identical(error$resource, sprintf("arn:aws:sagemaker:us-east-1:%s:processing-job/%s",
                                           account, tolower(job$name)))

  # S3's bare "Access Denied": the action of the call that failed, the
  # objects it reads.
  inject_request_faults(list(Operation = "s3:GetObject", Fault = "AccessDenied"))
  error <- tryCatch(sagesim:::aws_request(session, "s3:DownloadPrefix", list(
    Bucket = session$bucket, Prefix = paste0(job$name, "/input/"), Directory = withr::local_tempdir())),
    error = identity)
  expect_s3_class(error, "sagesim_access_denied")
  expect_identical(error$action, "s3:GetObject")
  expect_identical(error$resource, sprintf("arn:aws:s3:::%s/%s/input/*", session$bucket, job$name))

  # A HEAD refused with a bare 403 (no code, no message).
  elsewhere <- aws_session(role = role, bucket = "someone-elses-bucket")
  inject_request_faults(list(Operation = "s3:HeadBucket", Fault = "AccessDenied"))
  error <- tryCatch(submit_processing(code = local_script(), image_uri = image, wait = FALSE,
                                      session = elsewhere), error = identity)
  expect_s3_class(error, "sagesim_access_denied")
  expect_identical(error$action, "s3:ListBucket")
  expect_identical(error$resource, "arn:aws:s3:::someone-elses-bucket")
  expect_match(conditionMessage(error), "another account", fixed = TRUE)

  # An explicit Deny: an Allow cannot help.
  set_job_status(job$name, "InProgress")
  inject_request_faults(list(Operation = "sagemaker:StopProcessingJob", Fault = "AccessDenied",
                             Message = paste("User: arn:aws:iam::123456789012:user/me is not authorized",
                                             "to perform: sagemaker:StopProcessingJob with an explicit",
                                             "deny in a service control policy")))
  error <- tryCatch(job_stop(job), error = identity)
  expect_s3_class(error, "sagesim_access_denied")
  expect_match(conditionMessage(error), "explicit Deny", fixed = TRUE)
  expect_no_match(conditionMessage(error), "Add this statement", fixed = TRUE)

  # Other refusals keep their own classes.
  inject_request_faults(list(Operation = "sagemaker:DescribeProcessingJob", Fault = "Throttle",
                             Count = 10))
  withr::local_options(sagesim.aws_max_attempts = 1)
  error <- tryCatch(job_status(job_attach(job$name, session = aws_session(role = role))),
                    error = identity)
  expect_s3_class(error, "sagesim_aws_ThrottlingException")
  expect_false(inherits(error, "sagesim_access_denied"))
})

test_that("moto enforcing a user's IAM policy refuses what it lacks, and sagesim says what to add", {
  local_moto()
  allowed <- list(Version = "2012-10-17", Statement = list(list(
    Effect = "Allow", Action = list("s3:*", "sagemaker:DescribeProcessingJob"), Resource = "*")))
  user <- control("/iam-user", list(UserName = "analyst", Policy = allowed))
  control("/enforce-iam", "{}")
  session <- aws_session(role = role, credentials = list(access_key_id = user$AccessKeyId,
                                                         secret_access_key = user$SecretAccessKey))
  expect_identical(session$caller_arn, user$Arn)
  error <- tryCatch(submit_processing(code = local_script(), image_uri = image, wait = FALSE,
                                      session = session), error = identity)
  expect_s3_class(error, "sagesim_access_denied")
  expect_identical(error$action, "sagemaker:CreateProcessingJob")
  expect_match(error$resource, sprintf("^arn:aws:sagemaker:us-east-1:%s:processing-job/sagesim-",
                                       account))
  expect_match(conditionMessage(error), sprintf("%s may not sagemaker:CreateProcessingJob", user$Arn),
               fixed = TRUE)
  # What the submission uploaded (S3 is allowed) was removed.
  expect_length(bucket_keys(session), 0)
})
