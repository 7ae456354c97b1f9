# The execution role of a job: an ARN or a role name (with its path) given by
# the user, expanded in the session's account, or else the session's own.

# An IAM role ARN, or a role name completed with the session's account (as
# the Python SDK's `role = "MyRole"` is), with its path if it has one
# ("service-role/MyRole": IAM's path segments, then the name).
role_pattern <- "^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$"
role_name_pattern <- "^/?([A-Za-z0-9+=,.@_-]+/)*[A-Za-z0-9+=,.@_-]{1,64}$"

check_role <- function(role) {
  check_string(role, "role", null_ok = TRUE)
  if (!is.null(role) && !grepl(role_pattern, role) && !grepl(role_name_pattern, role)) {
    abort_argument("role", sprintf(
      "`role` must be an IAM role ARN (arn:aws:iam::<account>:role/<path/><name>) or a role name (with its path, if any: \"service-role/MyRole\"), not \"%s\".",
      role))
  }
  invisible(role)
}

# A role name becomes the ARN of that role in the session's account and
# partition, as the Python SDK expands `role = "MyRole"`; a name with a path
# ("service-role/MyRole") keeps it, since IAM's ARN includes the path.
expand_role <- function(role, session) {
  if (is.null(role) || grepl(role_pattern, role)) return(role)
  partition <- sub("^arn:([^:]+):.*$", "\\1", session$caller_arn %||% "arn:aws:")
  sprintf("arn:%s:iam::%s:role/%s", partition, session$account, sub("^/", "", role))
}

# The role's name in an STS assumed-role ARN
# (arn:aws:sts::<account>:assumed-role/<name>/<session>), else NULL.
assumed_role_name <- function(arn) {
  parts <- regmatches(arn, regexec("^arn:aws[a-z-]*:sts::[0-9]{12}:assumed-role/([^/]+)/", arn))[[1]]
  if (length(parts) == 2) parts[[2]] else NULL
}

# The execution role of a submission: the one given, else the session's;
# without either, an error saying why there is none and what to pass.
role_needed <- function(role, session) {
  role <- expand_role(role, session) %||% session$role
  if (!is.null(role)) {
    return(role)
  }
  pass <- "Pass `role = \"arn:aws:iam::<account>:role/<path/><name>\"` (or a role name, with its path if it has one) to submit_processing() or aws_session()."
  lookup <- session$role_lookup
  if (!is.null(lookup)) {
    abort_argument("role", c(
      sprintf("No execution role: the caller's role %s could not be looked up in IAM (GetRole), so its ARN (which may have a path) is unknown.",
              lookup$name),
      lookup$message, pass),
      class = "sagesim_role_unknown", role_name = lookup$name, aws_code = lookup$code)
  }
  abort_argument("role", c(
    sprintf("No execution role: the caller %s is not an IAM role.", session$caller_arn), pass))
}
