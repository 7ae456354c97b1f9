# Roles and credential sources in front of moto (fixtures/credential_endpoints.py).

credential_endpoints <- function(args, ...) {
  python3(c(shQuote(normalizePath(test_path("fixtures", "credential_endpoints.py"))), args), ...)
}

# An IAM role in moto, under `path`; its ARN.
create_role <- function(name, path = "/") {
  out <- credential_endpoints(c("create-role", "--moto", moto$url, "--name", shQuote(name),
                                "--path", shQuote(path)), stdout = TRUE)
  out[[length(out)]]
}

# moto's STS credentials for `role_arn`, as aws_session(credentials = ) takes them.
assume_role <- function(role_arn) {
  out <- credential_endpoints(c("assume-role", "--moto", moto$url, "--role-arn", shQuote(role_arn)),
                              stdout = TRUE)
  reply <- jsonlite::fromJSON(out[[length(out)]])
  list(access_key_id = reply$AccessKeyId, secret_access_key = reply$SecretAccessKey,
       session_token = reply$SessionToken)
}

# A stand-in of `kind` ("imds", "container", "sso", "deny") on 127.0.0.1 for
# the rest of the test: list(url, log). It ends when the test does (its stdin
# closes), or after `max_seconds`.
local_credential_endpoint <- function(kind, role_arn = "", token = "", lifetime = 3600,
                                      region = "", max_seconds = 300, env = parent.frame()) {
  ready <- withr::local_tempfile(.local_envir = env)
  log <- withr::local_tempfile(.local_envir = env)
  script <- normalizePath(test_path("fixtures", "credential_endpoints.py"))
  args <- c(script, "serve", kind, "--moto", moto$url, "--role-arn", role_arn, "--ready", ready,
            "--log", log, "--token", token, "--lifetime", lifetime, "--region", region,
            "--max-seconds", max_seconds)
  stdin <- pipe(sprintf("exec %s > %s 2>&1", paste(shQuote(c(python3_command(), args)), collapse = " "),
                        shQuote(paste0(ready, ".log"))), open = "w")
  withr::defer(close(stdin), envir = env)
  deadline <- Sys.time() + 30
  while (!file.exists(ready) && Sys.time() < deadline) Sys.sleep(0.05)
  if (!file.exists(ready)) {
    stop("the ", kind, " stand-in did not start: ", paste(readLines(paste0(ready, ".log")), collapse = "\n"))
  }
  port <- strsplit(readLines(ready), " ")[[1]][[1]]
  list(url = sprintf("http://127.0.0.1:%s", port), log = log)
}

# Every request a stand-in answered, parsed.
endpoint_requests <- function(endpoint) {
  if (!file.exists(endpoint$log)) return(list())
  lapply(readLines(endpoint$log, warn = FALSE), jsonlite::fromJSON, simplifyVector = FALSE)
}

# The credential sets a stand-in handed out.
served_credentials <- function(endpoint) {
  Filter(Negate(is.null), lapply(endpoint_requests(endpoint), `[[`, "served"))
}

# No sagesim credentials of the environment: the chain must find the stand-in's.
local_no_static_credentials <- function(env = parent.frame()) {
  withr::local_envvar(AWS_ACCESS_KEY_ID = NA, AWS_SECRET_ACCESS_KEY = NA, AWS_SESSION_TOKEN = NA,
                      AWS_WEB_IDENTITY_TOKEN_FILE = NA, AWS_CONTAINER_CREDENTIALS_RELATIVE_URI = NA,
                      AWS_CONTAINER_CREDENTIALS_FULL_URI = NA, AWS_CONTAINER_AUTHORIZATION_TOKEN = NA,
                      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE = NA, .local_envir = env)
}

# What a user might see of a session or an error: none of `secrets` is in it.
expect_no_secrets <- function(shown, secrets) {
  shown <- paste(shown, collapse = "\n")
  for (secret in unlist(secrets)) {
    if (nzchar(secret)) expect_false(grepl(secret, shown, fixed = TRUE))
  }
}

# The access key each recorded moto request was signed with, and when
# (X-Amz-Date, epoch seconds).
recorded_signatures <- function() {
  rows <- lapply(recorded_requests(), function(r) {
    auth <- r$headers[["Authorization"]] %||% ""
    key <- regmatches(auth, regexec("Credential=([^/]+)/", auth))[[1]]
    date <- r$headers[["X-Amz-Date"]] %||% r$headers[["x-amz-date"]]
    if (length(key) < 2 || is.null(date)) return(NULL)
    data.frame(key = key[[2]], time = as.numeric(as.POSIXct(date, format = "%Y%m%dT%H%M%SZ", tz = "UTC")),
               target = r$headers[["X-Amz-Target"]] %||% paste(r$method %||% "", r$url %||% ""))
  })
  do.call(rbind, rows)
}
