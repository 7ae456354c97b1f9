# A map job's files, written and read in one place: the payload the session
# writes once and every host reads (where it lies in the host and in the
# job's record), and the results files hosts write and the session reads.

map_input_dir <- "/opt/ml/processing/input/map"

map_output_dir <- "/opt/ml/processing/output/map"

map_format <- "sagesim-map/1"

map_payload_file <- "payload.rds"

# The payload a map job was given, from where its record says it is.
map_payload_of <- function(job) {
  source <- job$record$work$payload
  if (!is_s3_uri(source)) return(readRDS(source))
  target <- tempfile("sagesim-payload-")
  on.exit(unlink(target, recursive = TRUE), add = TRUE)
  location <- parse_s3_uri(source)
  reply <- aws_request(default_session(job$session), "s3:DownloadPrefix", list(
    Bucket = location$bucket, Prefix = location$key, Directory = target))
  paths <- vapply(reply$Files, `[[`, "", "Path")
  readRDS(paths[basename(paths) == basename(source)][[1]])
}

map_results_file <- function(host, chunk) sprintf("map-results-%s-%05d.rds", host, chunk)

map_results_pattern <- "^map-results-.*[.]rds$"
