# A call AWS refused for want of a permission: a `sagesim_access_denied`
# error naming the IAM action, the resource, and the statement that would
# allow it, so that whoever reads it knows what to ask an administrator for.
# What AWS said is taken first (most services name the action and the
# resource); S3 often says only "Access Denied", and then sagesim's own
# tables (R/aws-actions.R) and the call's parameters say it.

# The codes of a missing permission. S3 answers a HEAD with a bare 403.
access_denied_codes <- c("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "Forbidden")

is_access_denied <- function(e) {
  code <- e$code
  if (is.null(code) || is.na(code)) return(isTRUE(e$http_status == 403))
  code %in% access_denied_codes
}

# `e`: the sagesim_aws_error of `operation` (a dispatch operation) with
# `params` (a list, or JSON text: a job record) in `session`.
abort_access_denied <- function(e, operation, params, session) {
  said <- e$aws_message %||% ""
  found <- function(pattern) {
    match <- regmatches(said, regexec(pattern, said, perl = TRUE))[[1]]
    if (length(match) == 2) match[[2]] else NA_character_
  }
  rows <- user_actions[user_actions$operation == operation & !is.na(user_actions$action), , drop = FALSE]
  action <- found("perform: ([A-Za-z0-9-]+:[A-Za-z0-9*]+)")
  if (is.na(action)) {
    # The call that failed, as the Rust core names it, else the operation's first.
    sent <- rows[rows$by == "sagesim", , drop = FALSE]
    row <- if (any(sent$call %in% e$operation)) sent[sent$call %in% e$operation, , drop = FALSE] else sent
    action <- row$action[1]
  } else {
    row <- rows[rows$action == action, , drop = FALSE]
  }
  where <- call_resources(params, session)
  kind <- row$resource[1]
  resource <- found("on resource: \"?([^\" ]+[^\" .,])")
  if (is.na(resource)) {
    resource <- if (is.na(kind)) "*" else policy_resources(kind, where)
  }
  # The statement covers every job, object and stream sagesim makes, not
  # only this call's: the next job has another name.
  pattern <- utils::modifyList(where, list(objects = "*", jobs = "*", streams = "*"))
  condition <- row$condition[1]
  statement <- policy_statement(action, if (is.na(kind)) resource else policy_resources(kind, pattern),
                                if (!is.na(condition)) policy_condition(condition, where))
  caller <- found("^User: (\\S+) is not authorized") %|NA|% (session$caller_arn %||% "the caller")
  explicit <- grepl("explicit deny", said, ignore.case = TRUE)
  message <- c(
    sprintf("AWS denied %s %s: %s may not %s on %s.", e$service, e$operation, caller, action,
            paste(resource, collapse = ", ")),
    if (explicit) {
      "An explicit Deny refuses it (an IAM policy, a permissions boundary or an organization's SCP): an Allow cannot help; ask your administrator."
    } else {
      sprintf("Add this statement to the caller's IAM policy (or ask your administrator to): %s",
              jsonlite::toJSON(statement, auto_unbox = TRUE))
    },
    "sagesim_iam_policy() writes every permission sagesim needs (?sagesim_iam_policy).",
    if (is.na(e$code %||% NA)) {
      "(S3 answered 403 without a reason: the permission is missing, or the bucket belongs to another account.)"
    },
    sprintf("AWS said%s: %s", if (is.na(e$code %||% NA)) "" else sprintf(" (%s)", e$code),
            if (nzchar(said)) said else "nothing")
  )
  class <- setdiff(class(e), c("sagesim_error", "error", "condition"))
  abort(message, class = c("sagesim_access_denied", class), action = action, resource = resource,
        caller = caller, permission = statement, service = e$service, operation = e$operation, code = e$code,
        aws_message = e$aws_message, request_id = e$request_id, http_status = e$http_status,
        error_kind = e$error_kind)
}

`%|NA|%` <- function(x, y) if (is.na(x)) y else x

# The resources one call names, as policy_resources() reads them.
call_resources <- function(params, session) {
  if (is.character(params)) {
    params <- jsonlite::fromJSON(params, simplifyVector = FALSE)$plan
    params <- list(JobName = params$name, RoleArn = params$role)
  }
  region <- session$region %||% "*"
  objects <- if (!is.null(params$Key)) params$Key else if (!is.null(params$Keys)) {
    sub("/.*$", "/*", params$Keys[[1]])
  } else paste0(params$Prefix %||% "", "*")
  list(partition = aws_partition(region), region = region, account = session$account %||% "*",
       buckets = params$Bucket %||% session$bucket, objects = objects,
       jobs = params$ProcessingJobName %||% params$TrainingJobName %||% params$JobName %||% "*",
       roles = params$RoleArn %||% expand_role(params$RoleName, session) %||% session$role %||% "*",
       streams = params$LogStreamName %||% paste0(params$LogStreamNamePrefix %||% "", "*"),
       repository = params$RepositoryName %||% "*", image_repositories = "*",
       kms_keys = params$KmsKeyId %||% session$kms_key %||% "*", prefix = "")
}
