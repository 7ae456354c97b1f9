# What AWS's IAM checks for each request sagesim sends, written from AWS's
# Service Authorization Reference (not from sagesim's own table,
# R/aws-actions.R), and whether a policy allows it: for test-permissions.R,
# and for the check of every request of the whole test run at its end
# (setup-permissions.R).

moto_account <- "123456789012"

# The IAM checks AWS makes for one request (fixtures/moto_launcher.py,
# POST /requests): a list of list(action, resource, context). `roles`: the
# ARNs of the roles IAM has (a role is asked for by name, and its ARN holds
# its path).
permissions_of <- function(r, roles = role) {
  service <- sub(":.*$", "", r$Operation)
  call <- sub("^[^:]+:", "", r$Operation)
  arn <- function(svc, resource) sprintf("arn:aws:%s:us-east-1:%s:%s", svc, moto_account, resource)
  need <- function(action, resource, context = list()) {
    list(list(action = action, resource = resource, context = context))
  }
  body <- r$Body
  switch(service,
    sts = need(r$Operation, "*"),
    iam = switch(call,
      GetRole = need(r$Operation, grep(sprintf(":role/(.+/)?%s$", body$RoleName), roles, value = TRUE)),
      stop("no permission known for ", r$Operation)),
    s3 = {
      parts <- strsplit(sub("^/", "", r$Path), "/", fixed = TRUE)[[1]]
      bucket <- sprintf("arn:aws:s3:::%s", parts[[1]])
      object <- sprintf("%s/%s", bucket, paste(parts[-1], collapse = "/"))
      switch(call,
        HeadBucket = , CreateBucket = need(if (call == "HeadBucket") "s3:ListBucket" else "s3:CreateBucket", bucket),
        ListObjectsV2 = need("s3:ListBucket", bucket, list(`s3:prefix` = r$Query$prefix)),
        PutObject = , CreateMultipartUpload = , UploadPart = , CompleteMultipartUpload =
          need("s3:PutObject", object),
        AbortMultipartUpload = need("s3:AbortMultipartUpload", object),
        GetObject = need("s3:GetObject", object),
        DeleteObjects = unlist(lapply(body$Keys, function(key) {
          need("s3:DeleteObject", sprintf("%s/%s", bucket, key))
        }), recursive = FALSE),
        stop("no permission known for ", r$Operation))
    },
    sagemaker = {
      job <- if (!is.null(body$ProcessingJobName)) {
        arn("sagemaker", paste0("processing-job/", tolower(body$ProcessingJobName)))
      } else if (!is.null(body$TrainingJobName)) {
        arn("sagemaker", paste0("training-job/", tolower(body$TrainingJobName)))
      } else "*"
      creates <- call %in% c("CreateProcessingJob", "CreateTrainingJob")
      c(need(r$Operation, job),
        if (creates) {
          need("iam:PassRole", body$RoleArn, list(`iam:PassedToService` = "sagemaker.amazonaws.com"))
        },
        if (creates && length(body$Tags) > 0) need("sagemaker:AddTags", job))
    },
    logs = {
      group <- arn("logs", paste0("log-group:", body$logGroupName))
      need(r$Operation, if (call == "GetLogEvents") {
        paste0(group, ":log-stream:", body$logStreamName)
      } else group)
    },
    ecr = need(r$Operation, if (call == "GetAuthorizationToken") "*" else
      arn("ecr", paste0("repository/", body$repositoryName %||% body$repositoryNames[[1]]))),
    stop("no permission known for ", r$Operation))
}

# IAM's wildcards (* and ?) as a regular expression.
iam_regex <- function(pattern) {
  escaped <- gsub("([.+^$(){}|\\[\\]\\\\])", "\\\\\\1", pattern)
  paste0("^", gsub("?", ".", gsub("*", ".*", escaped, fixed = TRUE), fixed = TRUE), "$")
}
iam_match <- function(patterns, value, ignore.case = FALSE) {
  any(vapply(unlist(patterns), function(p) grepl(iam_regex(p), value, ignore.case = ignore.case),
             logical(1)))
}

conditions_hold <- function(condition, context) {
  for (operator in names(condition)) {
    for (key in names(condition[[operator]])) {
      wanted <- unlist(condition[[operator]][[key]])
      have <- context[[key]]
      if (is.null(have)) {
        if (endsWith(operator, "IfExists")) next
        return(FALSE)
      }
      ok <- switch(sub("IfExists$", "", operator),
        StringEquals = have %in% wanted,
        StringLike = iam_match(wanted, have),
        Bool = tolower(have) %in% tolower(wanted),
        stop("no evaluation for the condition operator ", operator))
      if (!ok) return(FALSE)
    }
  }
  TRUE
}

allows <- function(policy, need) {
  any(vapply(policy$Statement, function(s) {
    identical(s$Effect, "Allow") && iam_match(s$Action, need$action, ignore.case = TRUE) &&
      iam_match(s$Resource, need$resource) && conditions_hold(s$Condition, need$context)
  }, logical(1)))
}

# The needs of `requests` that `policy` does not allow, as text.
refused <- function(policy, requests, roles = role) {
  needs <- unlist(lapply(requests, permissions_of, roles = roles), recursive = FALSE)
  out <- Filter(function(n) !allows(policy, n), needs)
  unique(vapply(out, function(n) paste(n$action, "on", n$resource), ""))
}

granted_actions <- function(policy) unique(unlist(lapply(policy$Statement, `[[`, "Action")))

# At the end of a test run: every request sagesim sent to moto during the
# whole run (the launcher's --request-log; the tests' own set-up, made with
# boto3, and the credential chain's STS calls left out) needs only actions
# sagesim_iam_policy() grants, the user's or, for what the played hosts
# sent, the execution role's. (That the policy grants nothing unused is
# test-permissions.R's: one file's run uses only some of it.)
check_run_permissions <- function() {
  log <- moto$request_log
  if (is.null(log) || !file.exists(log)) return(invisible(character()))
  requests <- lapply(readLines(log, warn = FALSE), jsonlite::fromJSON, simplifyVector = FALSE)
  requests <- Filter(function(r) identical(r$Sdk, "rust"), requests)
  # What the credential chain asks for itself (a profile's role_arn, web
  # identity) is the caller's own set-up, allowed by the role's trust
  # policy, not by sagesim's.
  chain <- c("sts:AssumeRole", "sts:AssumeRoleWithWebIdentity", "sts:AssumeRoleWithSAML",
             "sts:GetSessionToken")
  requests <- Filter(function(r) !r$Operation %in% chain, requests)
  hosts <- vapply(requests, function(r) identical(r$AccessKeyId, "EXECUTIONROLEKEY"), logical(1))
  # (The played hosts' runtime stand-in asks STS who it is; SageMaker does not.)
  requests <- requests[!(hosts & vapply(requests, `[[`, "", "Operation") == "sts:GetCallerIdentity")]
  hosts <- vapply(requests, function(r) identical(r$AccessKeyId, "EXECUTIONROLEKEY"), logical(1))
  needed <- function(these) {
    unique(vapply(unlist(lapply(these, permissions_of), recursive = FALSE), `[[`, "", "action"))
  }
  policy <- sagesim_iam_policy(bucket = "bucket", role = "Runner", kms_key = "1234abcd-12ab-34cd-56ef-1234567890ab",
                               vpc = TRUE, region = "us-east-1", account = moto_account)
  missing <- c(setdiff(needed(requests[!hosts]), granted_actions(policy$user)),
               setdiff(needed(requests[hosts]), granted_actions(policy$role)))
  if (length(missing) > 0) {
    stop(sprintf("This test run's requests to moto (%d) needed IAM actions sagesim_iam_policy() does not grant: %s (R/aws-actions.R).",
                 length(requests), paste(missing, collapse = ", ")), call. = FALSE)
  }
  invisible(missing)
}
