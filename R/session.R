#' Connect to AWS
#'
#' Resolves credentials and region through the standard AWS chain
#' (environment variables, `~/.aws/config` and `~/.aws/credentials` with
#' `AWS_PROFILE`, SSO, web identity, container and instance metadata), asks STS
#' who the caller is, and works out the SageMaker defaults: the bucket
#' `sagemaker-{region}-{account}` (created on first use if missing) and the
#' execution role. `AWS_ENDPOINT_URL` (or `endpoint_url`) points every service
#' at a private endpoint; S3 then uses path-style addressing.
#'
#' Printing a session never shows credentials.
#'
#' @param region AWS region; default from the chain (`AWS_REGION`, profile).
#' @param profile Named profile from the shared config files.
#' @param role Execution role for jobs: an IAM role ARN, or a role name with
#'   its path, if any (`"service-role/MyRole"`), completed with the caller's
#'   account as [submit_processing()] does. Default: the caller's own role
#'   when the caller is one (an assumed-role session, as on SageMaker or an
#'   EC2 instance profile), its ARN, path included, read from IAM (`GetRole`)
#'   as the Python SDK's `get_execution_role()` reads it. When IAM refuses
#'   (or the caller is a user), submitting a job without `role` is an error
#'   that says to pass one; the session itself is made.
#' @param bucket Default bucket for code, inputs and outputs.
#' @param kms_key Default KMS key id or ARN for everything sagesim uploads
#'   (SSE-KMS), for accounts whose policy requires encryption; see
#'   [submit_processing()]'s `kms_key`.
#' @param endpoint_url Endpoint for every service (overrides `AWS_ENDPOINT_URL`).
#' @param credentials `NULL`, or a list with `access_key_id`,
#'   `secret_access_key` and optionally `session_token`.
#' @return A `sagesim_session`.
#' @examples
#' \dontrun{
#' session <- aws_session(region = "eu-west-1")
#' session
#' }
#' @param ... Not used: an argument these do not take is refused
#'   (`sagesim_unknown_argument`), naming the one meant.
#' @export
aws_session <- function(region = NULL, profile = NULL, role = NULL, bucket = NULL,
                        endpoint_url = NULL, credentials = NULL, kms_key = NULL, ...) {
  check_unknown_arguments("aws_session", ...)
  # (Conditions show the call with `credentials` hidden: see user_call().)
  check_string(region, "region", null_ok = TRUE, pattern = "^[a-z0-9-]+$",
               expected = "an AWS region such as \"us-east-1\"")
  check_string(profile, "profile", null_ok = TRUE)
  check_role(role)
  check_string(bucket, "bucket", null_ok = TRUE, pattern = "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
               expected = "an S3 bucket name: 3 to 63 lower-case letters, digits, dots and hyphens, e.g. \"my-bucket\"")
  check_string(endpoint_url, "endpoint_url", null_ok = TRUE, pattern = "^https?://",
               expected = "an http:// or https:// URL")
  job_settings$kms_key$check(kms_key, FALSE) # R/settings.R
  # Each AWS call is tried up to this many times (throttling, a server
  # error, a lost connection), with the SDK's backoff.
  attempts <- getOption("sagesim.aws_max_attempts")
  if (!is.null(attempts)) attempts <- check_count(attempts, "sagesim.aws_max_attempts", min = 1, max = 20)
  # Seconds an attempt waits for a reply to begin before it is tried again:
  # a server gone silent never holds a call (or job_wait()) for ever.
  read_timeout <- getOption("sagesim.aws_read_timeout")
  if (!is.null(read_timeout)) {
    read_timeout <- check_number(read_timeout, "sagesim.aws_read_timeout", min = 0, above = TRUE)
  }
  config <- list(region = region, profile = profile, endpoint_url = endpoint_url,
                 max_attempts = attempts, read_timeout = read_timeout)
  if (!is.null(credentials)) {
    if (!is.list(credentials) || is.null(credentials$access_key_id) ||
        is.null(credentials$secret_access_key)) {
      abort_argument("credentials",
        "`credentials` must be NULL or a list with `access_key_id` and `secret_access_key` (and optionally `session_token`).")
    }
    config$access_key_id <- credentials$access_key_id
    config$secret_access_key <- credentials$secret_access_key
    config$session_token <- credentials$session_token
  }
  session <- new.env(parent = emptyenv())
  # What reconnecting needs after the pointer is lost (saveRDS, a new R
  # session). Explicit credentials live only in the Rust session, never in
  # an R object that could be printed or saved.
  session$.config <- config[c("region", "profile", "endpoint_url", "max_attempts", "read_timeout")]
  session$.config <- session$.config[!vapply(session$.config, is.null, logical(1))]
  session$explicit_credentials <- !is.null(credentials)
  connect(session, config = config[!vapply(config, is.null, logical(1))])
  identity <- aws_request(session, "sts:GetCallerIdentity", list())
  session$account <- identity$Account
  session$caller_arn <- identity$Arn
  # The caller's own role is looked up only when no role is given: a user
  # who names one needs no IAM permission.
  session$role <- expand_role(role, session) %||% caller_role(session, identity$Arn)
  session$bucket <- bucket %||% sprintf("sagemaker-%s-%s", session$region, session$account)
  session$bucket_ready <- FALSE
  session$kms_key <- kms_key
  class(session) <- "sagesim_session"
  session
}

connect <- function(session, config = session$.config) {
  json <- if (length(config) == 0) "{}" else jsonlite::toJSON(config, auto_unbox = TRUE)
  session$.pointer <- await_task(aws_session_start(json))
  info <- aws_session_info(session$.pointer)
  session$region <- info$region
  session$endpoint_url <- info$endpoint_url
  invisible(session)
}

# The caller's role, if it is one, as IAM names it. STS names an assumed-role
# session by its role's name only, and the role's path (SageMaker's execution
# roles live under /service-role/) only IAM can say: GetRole, as the Python
# SDK's get_execution_role() asks. When that fails (IAM denied, or out of
# reach, as in a VPC without internet), the role stays unknown and the reason
# is kept for the submission that needs it (role_needed()).
caller_role <- function(session, arn) {
  if (grepl(":role/", arn, fixed = TRUE)) {
    return(arn)
  }
  name <- assumed_role_name(arn)
  if (is.null(name)) {
    return(NULL)
  }
  tryCatch(aws_request(session, "iam:GetRole", list(RoleName = name))$Arn,
           sagesim_aws_error = function(e) {
             session$role_lookup <- list(name = name, code = e$code, message = conditionMessage(e))
             NULL
           })
}

#' @export
print.sagesim_session <- function(x, ...) {
  cat("<sagesim AWS session>\n")
  cat(sprintf("  region:   %s\n", x$region))
  cat(sprintf("  account:  %s\n", x$account))
  cat(sprintf("  caller:   %s\n", x$caller_arn))
  none <- if (is.null(x$role_lookup)) "(none: pass `role` to submit jobs)" else
    sprintf("(unknown: IAM GetRole of %s failed; pass `role` to submit jobs)", x$role_lookup$name)
  cat(sprintf("  role:     %s\n", x$role %||% none))
  cat(sprintf("  bucket:   %s\n", x$bucket))
  if (!is.null(x$kms_key)) cat(sprintf("  kms key:  %s\n", x$kms_key))
  if (!is.null(x$endpoint_url)) cat(sprintf("  endpoint: %s\n", x$endpoint_url))
  invisible(x)
}

#' @export
format.sagesim_session <- function(x, ...) {
  sprintf("<sagesim AWS session %s/%s>", x$region, x$account)
}

session_cache <- new.env(parent = emptyenv())

# The session used when a function's `session` argument is NULL: made once
# per R session from the default chain.
default_session <- function(session = NULL) {
  if (!is.null(session)) {
    return(check_class(session, "sagesim_session", "session", "aws_session()"))
  }
  if (is.null(session_cache$default)) {
    session_cache$default <- aws_session()
  }
  session_cache$default
}

# One AWS operation: params in the API's own shape (or, with `json = TRUE`,
# already JSON text), parsed JSON back.
aws_request <- function(session, operation, params, json = FALSE, on_progress = NULL) {
  check_known_operation(operation)
  if (is.null(session$.pointer) || identical(session$.pointer, methods::new("externalptr"))) {
    if (isTRUE(session$explicit_credentials)) {
      abort(c("This session was made with explicit credentials, which are not saved with it.",
              "Make a new one with aws_session(credentials = ...)."),
            class = "sagesim_session_expired")
    }
    connect(session)
  }
  asked <- params
  if (!json) {
    params <- if (length(params) == 0) "{}" else
      jsonlite::toJSON(params, auto_unbox = TRUE, null = "null", digits = NA)
  }
  # (`on_progress` is called with the bytes the operation has uploaded so far.)
  reply <- tryCatch(await_task(aws_call_start(session$.pointer, operation, params),
                               on_poll = on_progress),
    sagesim_aws_error = function(e) {
      if (is_access_denied(e)) abort_access_denied(e, operation, asked, session)
      stop(e)
    })
  jsonlite::fromJSON(reply, simplifyVector = FALSE)
}

# The default bucket exists before anything is written to it.
ensure_bucket <- function(session) {
  if (!isTRUE(session$bucket_ready)) {
    aws_request(session, "s3:EnsureBucket", list(Bucket = session$bucket))
    session$bucket_ready <- TRUE
  }
  session$bucket
}
