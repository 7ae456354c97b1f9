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
#' @param role Execution role ARN for jobs. Default: the caller's own identity
#'   when it is a role (an assumed-role session maps to its role); otherwise
#'   submitting a job asks for one.
#' @param bucket Default bucket for code, inputs and outputs.
#' @param endpoint_url Endpoint for every service (overrides `AWS_ENDPOINT_URL`).
#' @param credentials `NULL`, or a list with `access_key_id`,
#'   `secret_access_key` and optionally `session_token`.
#' @return A `sagesim_session`.
#' @examples
#' \dontrun{
#' session <- aws_session(region = "eu-west-1")
#' session
#' }
#' @export
aws_session <- function(region = NULL, profile = NULL, role = NULL, bucket = NULL,
                        endpoint_url = NULL, credentials = NULL) {
  # Errors show their call: keep explicit credentials out of it.
  call <- match.call()
  if (!is.null(call$credentials)) call$credentials <- quote(`<credentials>`)
  check_string(region, "region", null_ok = TRUE, pattern = "^[a-z0-9-]+$", call = call)
  check_string(profile, "profile", null_ok = TRUE, call = call)
  check_string(role, "role", null_ok = TRUE, pattern = "^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$",
               call = call)
  check_string(bucket, "bucket", null_ok = TRUE, pattern = "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
               call = call)
  check_string(endpoint_url, "endpoint_url", null_ok = TRUE, pattern = "^https?://", call = call)
  config <- list(region = region, profile = profile, endpoint_url = endpoint_url)
  if (!is.null(credentials)) {
    if (!is.list(credentials) || is.null(credentials$access_key_id) ||
        is.null(credentials$secret_access_key)) {
      abort_argument("credentials",
        "`credentials` must be NULL or a list with `access_key_id` and `secret_access_key` (and optionally `session_token`).",
        call = call)
    }
    config$access_key_id <- credentials$access_key_id
    config$secret_access_key <- credentials$secret_access_key
    config$session_token <- credentials$session_token
  }
  session <- new.env(parent = emptyenv())
  # What reconnecting needs after the pointer is lost (saveRDS, a new R
  # session). Explicit credentials live only in the Rust session, never in
  # an R object that could be printed or saved.
  session$.config <- config[c("region", "profile", "endpoint_url")]
  session$.config <- session$.config[!vapply(session$.config, is.null, logical(1))]
  session$explicit_credentials <- !is.null(credentials)
  connect(session, config = config[!vapply(config, is.null, logical(1))], call = call)
  identity <- aws_request(session, "sts:GetCallerIdentity", list(), call = call)
  session$account <- identity$Account
  session$caller_arn <- identity$Arn
  session$role <- role %||% role_from_caller(identity$Arn)
  session$bucket <- bucket %||% sprintf("sagemaker-%s-%s", session$region, session$account)
  session$bucket_ready <- FALSE
  class(session) <- "sagesim_session"
  session
}

connect <- function(session, config = session$.config, call = sys.call(-1)) {
  json <- if (length(config) == 0) "{}" else jsonlite::toJSON(config, auto_unbox = TRUE)
  session$.pointer <- await_task(aws_session_start(json), call = call)
  info <- aws_session_info(session$.pointer)
  session$region <- info$region
  session$endpoint_url <- info$endpoint_url
  invisible(session)
}

# The caller's role, if it is one: IAM role ARNs as is, STS assumed-role
# sessions mapped back to their role (a role path, if any, is not recoverable).
role_from_caller <- function(arn) {
  if (grepl(":role/", arn, fixed = TRUE)) {
    return(arn)
  }
  parts <- regmatches(arn, regexec("^arn:(aws[a-z-]*):sts::([0-9]{12}):assumed-role/([^/]+)/", arn))[[1]]
  if (length(parts) == 4) {
    return(sprintf("arn:%s:iam::%s:role/%s", parts[[2]], parts[[3]], parts[[4]]))
  }
  NULL
}

#' @export
print.sagesim_session <- function(x, ...) {
  cat("<sagesim AWS session>\n")
  cat(sprintf("  region:   %s\n", x$region))
  cat(sprintf("  account:  %s\n", x$account))
  cat(sprintf("  caller:   %s\n", x$caller_arn))
  cat(sprintf("  role:     %s\n", x$role %||% "(none: pass `role` to submit jobs)"))
  cat(sprintf("  bucket:   %s\n", x$bucket))
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
default_session <- function(session = NULL, call = sys.call(-1)) {
  if (!is.null(session)) {
    if (!inherits(session, "sagesim_session")) {
      abort_argument("session", sprintf("`session` must be made by aws_session(), not %s.",
                                        describe_type(session)), call = call)
    }
    return(session)
  }
  if (is.null(session_cache$default)) {
    session_cache$default <- aws_session()
  }
  session_cache$default
}

# One AWS operation: JSON in the AWS API's own shape, parsed JSON back.
aws_request <- function(session, operation, params, call = sys.call(-1)) {
  if (is.null(session$.pointer) || identical(session$.pointer, methods::new("externalptr"))) {
    if (isTRUE(session$explicit_credentials)) {
      abort(c("This session was made with explicit credentials, which are not saved with it.",
              "Make a new one with aws_session(credentials = ...)."),
            class = "sagesim_session_expired", call = call)
    }
    connect(session, call = call)
  }
  json <- jsonlite::toJSON(params, auto_unbox = TRUE, null = "null", digits = NA)
  if (identical(params, list()) || length(params) == 0) json <- "{}"
  reply <- await_task(aws_call_start(session$.pointer, operation, json), call = call)
  jsonlite::fromJSON(reply, simplifyVector = FALSE)
}

# The default bucket exists before anything is written to it.
ensure_bucket <- function(session, call = sys.call(-1)) {
  if (!isTRUE(session$bucket_ready)) {
    aws_request(session, "s3:EnsureBucket", list(Bucket = session$bucket), call = call)
    session$bucket_ready <- TRUE
  }
  session$bucket
}
