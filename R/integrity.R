# What travels through S3 between this session and a job's hosts is checked
# before it is read (the Rust core's integrity module): anyone who can write
# to the job's prefix could otherwise run code on the hosts (a map's payload
# is an R closure) or in this session (results are unserialized here).
#
# * A map's payload travels with its SHA-256 in the job's request
#   (`--map-sha256`), which SageMaker keeps and S3 does not.
# * The hosts of a map, simulation or sweep job sign each results file
#   (`<file>.hmac`, HMAC-SHA256 of its name and bytes) with a key of the
#   job's own, 32 random bytes that reach them in the request's environment
#   (a cloud job) or their run.sh (a local one), never through S3; the
#   session checks each file with it before reading anything of it.

# The variable that gives a job's hosts its results key.
results_key_variable <- "SAGESIM_RESULTS_KEY"

# The kinds of job whose results sagesim reads, and so whose hosts sign them.
signs_results <- function(kind) kind %in% c("map", "simulation", "sweep")

# A key kept out of sight: printed, formatted or str()'d, it shows nothing
# of itself (handles are printed, and users paste what they print).
new_secret <- function(value) {
  force(value)
  structure(function() value, class = "sagesim_secret")
}

# The key's hex digits ("" for none), for the core and the hosts only.
secret_value <- function(secret) if (is.null(secret)) "" else secret()

#' @export
print.sagesim_secret <- function(x, ...) {
  cat("<sagesim secret>\n")
  invisible(x)
}

#' @export
format.sagesim_secret <- function(x, ...) "<sagesim secret>"

# A new job's results key, from the operating system's random generator.
new_results_key <- function() new_secret(unwrap(integrity_key()))

# A key as the request's environment gives it, or NULL.
secret_or_null <- function(value) {
  if (is.character(value) && length(value) == 1 && nzchar(value)) new_secret(value)
}

# Lines written where only this user can read them (a key, a run.sh that
# exports one): created under umask 077, so never readable by others, even
# for a moment.
write_private_lines <- function(lines, path) {
  old <- Sys.umask("077")
  on.exit(Sys.umask(old), add = TRUE)
  unlink(path)
  writeLines(lines, path)
  Sys.chmod(path, "0600", use_umask = FALSE)
  invisible(path)
}

# The SHA-256 (hex) of a payload file, computed before it is uploaded.
payload_sha256 <- function(path) unwrap(integrity_sha256(path))

# A payload is read only when it has the SHA-256 its job's request gives.
check_payload <- function(path, expected) {
  if (is.null(expected) || !nzchar(expected)) {
    abort(sprintf("The map payload %s comes with no SHA-256 (--map-sha256) to check it against: it is not read.",
                  path),
          class = "sagesim_integrity_error", file = path)
  }
  unwrap(integrity_check_sha256(path, expected))
  invisible(path)
}

# Signs the results file at `source` (written whole) as `path`, which it
# becomes once renamed: the signature is in place first. No key (a worker
# run by hand), no signature.
sign_results_file <- function(source, path, key) {
  if (nzchar(key)) unwrap(integrity_sign(source, path, key))
  invisible(path)
}

# The results key a new job's hosts sign with: a retry, or a follow-up of a
# simulation or sweep job that runs what it left, keeps the key of the job
# it continues, whose results files are merged with its own; any other job
# draws its own. NULL for a job whose results sagesim does not read.
plan_results_key <- function(plan) {
  if (!signs_results(plan$work$kind)) return(NULL)
  plan$results_key %||% new_results_key()
}

# A local job keeps its key in its folder, readable by this user alone
# (never beside the record in S3): any R session of the user's can check
# the job's results, none of anyone else's.
results_key_file <- "results-key"

write_results_key <- function(key, dir) {
  if (!is.null(key)) write_private_lines(secret_value(key), file.path(dir, results_key_file))
  invisible(key)
}

read_results_key <- function(dir) {
  path <- file.path(dir, results_key_file)
  if (file.exists(path)) secret_or_null(readLines(path, n = 1, warn = FALSE))
}

# The variables that give a job's hosts its key (none without one).
results_key_environment <- function(key) {
  if (!is.null(key)) stats::setNames(secret_value(key), results_key_variable)
}

# A record's JSON with the key given beside it (`ExtraEnvironment`): the
# core puts it in the request's Environment, which SageMaker keeps and
# shows to those who may describe the job (the Python SDK's remote
# functions keep theirs there too), and never in the record itself.
with_results_key <- function(json, key) {
  if (is.null(key)) return(json)
  extra <- jsonlite::toJSON(as.list(results_key_environment(key)), auto_unbox = TRUE)
  sub("\\}\\s*$", paste0(",\"ExtraEnvironment\":", extra, "}"), json)
}

# The worker arguments the job's request gave its hosts: SageMaker's own
# description of a cloud job (the record in S3 could be rewritten), the
# record in its folder for a local one.
request_arguments <- function(job) job$request_arguments

# The key of each of `files` (hex, as the core takes them): the job's,
# which its earlier attempts share. A job without one (submitted by an
# older sagesim, or a local job whose folder lost its key) cannot be
# checked, so nothing of it is read.
results_file_keys <- function(files, key, root, location) {
  if (length(files) > 0 && is.null(key)) abort_no_results_key(files[[1]], root, location)
  rep(secret_value(key), length(files))
}

# Checks a results file against its signature with `key` (a secret),
# raising the classed error that names it; `root`: the folder the file was
# downloaded to, `location`: where it came from.
verify_results_file <- function(file, key, root, location) {
  results_file_keys(file, key, root, location)
  refused_results(unwrap(integrity_verify(file, secret_value(key))), root, location)
  invisible(file)
}

# `expr`, with a results file that failed its check named as the job's
# outputs name it.
refused_results <- function(expr, root, location) {
  tryCatch(expr, sagesim_integrity_error = function(e) abort_refused_results(e, root, location))
}

# A file under `root`, as the job's outputs name it.
relative_file <- function(file, root) {
  if (startsWith(file, paste0(root, "/"))) substring(file, nchar(root) + 2) else file
}

# The error of a results file that failed its check: where it came from
# and why, never its contents (nothing of it was read). Its `file` is as
# the job's outputs name it (the download is removed).
abort_refused_results <- function(error, root, location) {
  file <- relative_file(error$file %||% "", root)
  abort(c(sprintf("The results file %s (from %s) is refused: %s.", file, location,
                  error$reason %||% conditionMessage(error)),
          "Nothing of it was read: a results file changed after its host wrote it could run code in this session."),
        class = "sagesim_integrity_error", file = file, location = location, reason = error$reason)
}

abort_no_results_key <- function(file, root, location) {
  file <- relative_file(file, root)
  abort(c(sprintf("The results file %s (from %s) cannot be checked: its job's results key is not known (a job submitted by an older sagesim, or a local job whose folder lost its key).",
                  file, location),
          "Nothing of it was read."),
        class = "sagesim_integrity_error", file = file, location = location)
}
