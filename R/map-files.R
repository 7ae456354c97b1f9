# A map job's files, written and read in one place: the payload the session
# writes once and every host reads (where it lies in the host and in the
# job's record), and the results files hosts write and the session reads.

map_input_dir <- "/opt/ml/processing/input/map"

map_output_dir <- "/opt/ml/processing/output/map"

map_format <- "sagesim-map/1"

map_payload_file <- "payload.rds"

# The payload a map job was given, from where its record says it is, read
# only once it has the SHA-256 the job's request gave its hosts (as
# SageMaker describes the request: the record in S3 could be rewritten
# along with the payload).
map_payload_of <- function(job) {
  source <- job$record$work$payload
  expected <- map_payload_hash(request_arguments(job))
  checked <- function(path) {
    tryCatch(check_payload(path, expected), sagesim_integrity_error = function(e) {
      abort(sprintf("The payload of job %s (%s) is refused: %s.", job$name, source,
                    e$reason %||% conditionMessage(e)),
            class = "sagesim_integrity_error", file = source, reason = e$reason)
    })
    readRDS(path)
  }
  if (!is_s3_uri(source)) return(checked(source))
  target <- tempfile("sagesim-payload-")
  on.exit(unlink(target, recursive = TRUE), add = TRUE)
  location <- parse_s3_uri(source)
  reply <- aws_request(default_session(job$session), "s3:DownloadPrefix", list(
    Bucket = location$bucket, Prefix = location$key, Directory = target))
  paths <- vapply(reply$Files, `[[`, "", "Path")
  checked(paths[basename(paths) == basename(source)][[1]])
}

# The payload's SHA-256 among a map job's arguments (`--map-sha256`), or NULL.
map_payload_hash <- function(arguments) {
  arguments <- as.character(unlist(arguments))
  at <- match(worker_flags[["map_sha256"]], arguments)
  if (!is.na(at) && at < length(arguments)) arguments[[at + 1]]
}

map_results_file <- function(host, chunk) sprintf("map-results-%s-%05d.rds", host, chunk)

map_results_pattern <- "^map-results-.*[.]rds$"
