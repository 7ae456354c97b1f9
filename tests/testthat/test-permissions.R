# Least privilege, checked: sagesim_iam_policy() allows exactly what
# sagesim sends. Its tables (R/aws-actions.R) are checked against the Rust
# dispatch, and a run of sagesim (submit, wait with logs, stop, collect,
# list, attach, resubmit, a map job, a failed upload, an image published, a
# session of a caller working as a role) against moto: every request sent
# must be allowed by the policy, and the policy must allow nothing the run
# did not need. What a request needs is written in helper-permissions.R from
# AWS's Service Authorization Reference, not from sagesim's tables; every
# request of a whole test run is checked there too, at its end.

account <- moto_account

test_that("the IAM actions table names every operation of the Rust dispatch, and no other", {
  actions <- sagesim:::user_actions
  expect_setequal(unique(actions$operation), sagesim:::aws_operations())
  # Every listed call of sagesim's own needs an action, "service:Name".
  named <- actions[!is.na(actions$call), ]
  expect_true(all(grepl("^[a-z0-9]+:[A-Za-z0-9]+$", named$action)))
  expect_true(all(named$resource %in% c("any", "bucket", "objects", "jobs", "training_jobs", "role", "log_group",
                                        "log_streams", "repository", "kms_key")))
  expect_true(all(grepl("^[a-z0-9]+:[A-Za-z0-9]+$", sagesim:::role_actions$action)))
  # An operation missing from the table is refused before anything is sent.
  expect_error(sagesim:::aws_request(new.env(), "s3:GetBucketAcl", list()),
               class = "sagesim_internal_error")
})

test_that("sagesim_iam_policy() scopes each action to its resources", {
  policy <- sagesim_iam_policy(bucket = "my-bucket", role = "service-role/Runner",
                               region = "eu-west-1", account = account)
  expect_s3_class(policy, "sagesim_iam_policy")
  expect_identical(jsonlite::fromJSON(policy$user_json, simplifyVector = FALSE), policy$user)
  expect_identical(jsonlite::fromJSON(policy$role_json, simplifyVector = FALSE), policy$role)
  statement <- function(doc, action) Filter(function(s) action %in% unlist(s$Action), doc$Statement)[[1]]
  pass <- statement(policy$user, "iam:PassRole")
  expect_identical(unlist(pass$Resource), "arn:aws:iam::123456789012:role/service-role/Runner")
  expect_identical(pass$Condition, list(StringEquals = list(`iam:PassedToService` = "sagemaker.amazonaws.com")))
  read <- statement(policy$user, "iam:GetRole")
  expect_identical(unlist(read$Action), "iam:GetRole")
  expect_identical(unlist(read$Resource), "arn:aws:iam::123456789012:role/service-role/Runner")
  expect_null(read$Condition)
  sids <- vapply(policy$user$Statement, `[[`, "", "Sid")
  expect_identical(anyDuplicated(sids), 0L)
  expect_identical(unlist(statement(policy$user, "s3:GetObject")$Resource), "arn:aws:s3:::my-bucket/*")
  expect_identical(unlist(statement(policy$user, "s3:ListBucket")$Resource), "arn:aws:s3:::my-bucket")
  # Each kind of job its own: Processing, and Training (Spot, warm pools).
  expect_identical(unlist(statement(policy$user, "sagemaker:CreateProcessingJob")$Resource),
                   "arn:aws:sagemaker:eu-west-1:123456789012:processing-job/*")
  expect_identical(unlist(statement(policy$user, "sagemaker:CreateTrainingJob")$Resource),
                   "arn:aws:sagemaker:eu-west-1:123456789012:training-job/*")
  expect_identical(unlist(statement(policy$user, "logs:GetLogEvents")$Resource),
                   sprintf("arn:aws:logs:eu-west-1:123456789012:log-group:/aws/sagemaker/%s:log-stream:*",
                           c("ProcessingJobs", "TrainingJobs")))
  expect_identical(unlist(statement(policy$user, "ecr:PutImage")$Resource),
                   "arn:aws:ecr:eu-west-1:123456789012:repository/sagesim")
  # "*" only where the action has no resource to scope it to.
  for (s in policy$user$Statement) {
    if ("*" %in% unlist(s$Resource)) {
      expect_setequal(unlist(s$Action), c("sts:GetCallerIdentity", "sagemaker:ListProcessingJobs",
                                          "sagemaker:ListTrainingJobs", "ecr:GetAuthorizationToken"))
    }
  }
  expect_false(any(grepl("^kms:|^ec2:", c(granted_actions(policy$user), granted_actions(policy$role)))))
  expect_identical(policy$trust$Statement[[1]]$Principal$Service, "sagemaker.amazonaws.com")
  expect_output(print(policy), "execution role's policy")

  # A key, a prefix, no image publishing, a VPC.
  key <- "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  tight <- sagesim_iam_policy(bucket = c("my-bucket", "data-bucket"), role = "Runner", kms_key = key,
                              prefix = "sagesim-", repository = NULL, vpc = TRUE,
                              region = "eu-west-1", account = account)
  expect_setequal(unlist(statement(tight$user, "kms:Decrypt")$Resource), key)
  expect_setequal(unlist(statement(tight$user, "s3:PutObject")$Resource),
                  c("arn:aws:s3:::my-bucket/sagesim-*", "arn:aws:s3:::data-bucket/sagesim-*"))
  expect_identical(statement(tight$user, "s3:ListBucket")$Condition,
                   list(StringLikeIfExists = list(`s3:prefix` = "sagesim-*")))
  expect_false(any(grepl("^ecr:", granted_actions(tight$user))))
  expect_identical(unlist(statement(tight$role, "ecr:BatchGetImage")$Resource), "*")
  expect_true("ec2:CreateNetworkInterface" %in% granted_actions(tight$role))
  expect_identical(statement(tight$role, "kms:CreateGrant")$Condition,
                   list(Bool = list(`kms:GrantIsForAWSResource` = "true")))

  # Bad arguments are refused in words, never as a regular expression.
  for (bad in list(list(kms_key = "alias/mine"), list(bucket = "Bad_Bucket"), list(role = "not a role"),
                   list(region = "EU West"), list(account = "12345"), list(prefix = "a_b"),
                   list(repository = "Team/Sagesim"))) {
    error <- tryCatch(do.call(sagesim_iam_policy, bad), error = identity)
    expect_s3_class(error, "sagesim_invalid_argument")
    expect_identical(error$argument, names(bad))
    expect_false(grepl("[\\^$]|\\[[a-zA-Z]-|\\{[0-9]", conditionMessage(error)), info = conditionMessage(error))
    expect_match(conditionMessage(error), "such as|give the key", info = conditionMessage(error))
  }
  expect_error(sagesim_iam_policy(session = list()), class = "sagesim_invalid_argument")
})

test_that("every call a run of sagesim sends is allowed by its policy, which allows nothing unused", {
  local_moto()
  session <- aws_session(role = role)
  script <- local_script()
  # Multipart uploads (files over 64 MiB): one completes, one is refused
  # part-way and aborted, and its submission removes what it uploaded.
  big <- withr::local_tempdir()
  connection <- file(file.path(big, "big.bin"), "wb")
  seek(connection, 65 * 2^20 - 1)
  writeBin(as.raw(1), connection)
  close(connection)
  first <- submit_processing(code = script, image_uri = image, inputs = c(data = big), wait = FALSE,
                             session = session)
  inject_request_faults(list(Operation = "s3:UploadPart", Fault = "AccessDenied"))
  expect_error(submit_processing(code = script, image_uri = image, inputs = c(data = big),
                                 wait = FALSE, session = session), class = "sagesim_access_denied")
  expect_length(sent("s3:AbortMultipartUpload"), 1)
  expect_true(all(startsWith(bucket_keys(session), paste0(first$name, "/"))))

  # Played jobs: a tagged simulation waited on with its logs and collected,
  # a map job stopped and resubmitted, jobs listed and attached.
  play_jobs()
  spec <- simulation_spec(300, 200, 120, 41, seed = 3)
  job <- submit_processing(simulation = spec, image_uri = image, instance_count = 2,
                           tags = c(project = "permissions"), wait = FALSE, session = session)
  capture.output(job_wait(job, logs = TRUE, timeout = 120))
  expect_identical(job_collect(job)$values, simulate_local(300, 200, 120, 41, seed = 3)$values)
  slow <- function(i) {
    Sys.sleep(1)
    i^2
  }
  # (A played job is InProgress once created: the stop reaches SageMaker.)
  mapped <- submit_map(1:6, slow, seed = 1, instance_count = 2, instance_type = "ml.m5.large",
                       image_uri = image, wait = FALSE, session = session)
  suppressMessages(job_stop(mapped))
  suppressWarnings(job_wait(mapped, logs = FALSE, timeout = 60))
  rest <- job_resubmit(mapped, logs = FALSE)
  expect_identical(job_collect(rest), as.list((1:6)^2))
  # The same as a Spot job (a Training job), its checkpoints written by the hosts.
  spot <- submit_map(1:6, slow, seed = 1, instance_count = 2, instance_type = "ml.m5.large",
                     image_uri = image, spot = TRUE, wait = FALSE, session = session)
  suppressMessages(job_stop(spot))
  suppressWarnings(job_wait(spot, logs = TRUE, timeout = 60))
  expect_identical(job_collect(job_resubmit(spot, logs = FALSE)), as.list((1:6)^2))
  expect_true(job$name %in% list_jobs(session = session)$name)
  expect_identical(job_attach(job$name, session = session)$record$plan$name, job$name)

  # An image published (the engine is a stand-in: its push is not sent here).
  bin <- withr::local_tempdir()
  writeLines(c("#!/bin/sh", "cat > /dev/null", "exit 0"), file.path(bin, "docker"))
  Sys.chmod(file.path(bin, "docker"), "755")
  withr::local_envvar(PATH = paste(bin, Sys.getenv("PATH"), sep = ":"))
  suppressMessages(publish_image(repository = "sagesim", tag = "v1", engine = "docker", build = FALSE,
                                 session = session))

  # A caller working as a role, given none, reads its own (IAM GetRole):
  # its default execution role.
  caller <- create_role("AmazonSageMaker-ExecutionRole-Permissions", "/service-role/")
  expect_identical(aws_session(credentials = assume_role(caller))$role, caller)

  # (What the test sends to make the role and assume it, with boto3, is not
  # sagesim's.)
  requests <- Filter(function(r) identical(r$Sdk, "rust"), sent_requests())
  expect_true(any(vapply(sent_requests(), function(r) identical(r$Sdk, "other"), logical(1))))
  by_user <- Filter(function(r) !identical(r$AccessKeyId, "EXECUTIONROLEKEY"), requests)
  # (The played hosts' runtime stand-in also asks STS who it is, which
  # SageMaker does not and which needs no permission.)
  by_hosts <- Filter(function(r) identical(r$AccessKeyId, "EXECUTIONROLEKEY") &&
                       !identical(r$Operation, "sts:GetCallerIdentity"), requests)
  expect_gt(length(by_hosts), 0)
  policy <- sagesim_iam_policy(bucket = session$bucket, role = c(role, caller), session = session)
  expect_identical(refused(policy$user, by_user, roles = c(role, caller)), character())
  # What the played hosts send, SageMaker sends as the execution role.
  expect_identical(refused(policy$role, by_hosts), character())

  # Every call the tables say sagesim sends was sent...
  table <- sagesim:::user_actions
  sends <- table$by %in% "sagesim" & !is.na(table$call)
  own <- unique(paste0(sub(":.*$", "", table$operation), ":", table$call)[sends])
  expect_identical(setdiff(own, vapply(by_user, `[[`, "", "Operation")), character())
  # ...and the policy allows nothing the run did not need, but what S3 (KMS,
  # with a key) or the engine's push (ECR) ask on the user's behalf.
  used <- unique(vapply(unlist(lapply(by_user, permissions_of, roles = c(role, caller)), recursive = FALSE),
                        `[[`, "", "action"))
  on_behalf <- setdiff(table$action[table$by %in% c("s3", "engine")], table$action[table$by == "sagesim"])
  everything <- sagesim_iam_policy(bucket = session$bucket, role = c(role, caller), session = session,
                                   kms_key = "1234abcd-12ab-34cd-56ef-1234567890ab")
  expect_setequal(setdiff(granted_actions(everything$user), used), on_behalf)
  expect_setequal(setdiff(used, granted_actions(everything$user)), character())
})
