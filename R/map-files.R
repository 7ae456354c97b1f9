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

# Writes the payload: uncompressed, as serializing runs at disk speed (a
# 600 MB numeric object in about a second; gzip took 18 s), refused beyond
# getOption("sagesim.max_payload_size") bytes (500 MiB by default, future's
# limit for globals) naming what is largest, and said when large.
write_map_payload <- function(payload, path) {
  limit <- getOption("sagesim.max_payload_size", 500 * 1024^2)
  check_number(limit, "sagesim.max_payload_size", min = 0)
  sizes <- payload_sizes(payload)
  if (sum(sizes) > limit) abort_payload_too_large(sizes, limit)
  if (sum(sizes) > 50 * 1024^2) {
    message(sprintf("The job ships %s to its hosts (%s).", format_bytes(sum(sizes)),
                    describe_largest(sizes)))
  }
  saveRDS(payload, path, compress = FALSE)
  bytes <- file.size(path)
  if (bytes > limit) {
    unlink(path)
    abort_payload_too_large(sizes, limit, bytes)
  }
  invisible(bytes)
}

# What a payload holds, by object, in bytes (as object.size() counts them).
payload_sizes <- function(payload) {
  size <- function(x) as.numeric(utils::object.size(x))
  in_f <- if (is.function(payload$f) && !is.null(environment(payload$f)) &&
              !identical(environment(payload$f), globalenv()) &&
              !isNamespace(environment(payload$f))) {
    as.list(environment(payload$f), all.names = TRUE)
  }
  globals <- c(payload$globals, in_f)
  c(stats::setNames(vapply(globals, size, 0), sprintf("global `%s`", names(globals))),
    stats::setNames(vapply(payload$dots, size, 0),
                    sprintf("argument `%s`", names(payload$dots) %||% rep("", length(payload$dots)))),
    `the elements of \`x\`` = size(payload$x))
}

describe_largest <- function(sizes) {
  top <- utils::head(sort(sizes, decreasing = TRUE), 3)
  paste(sprintf("%s %s", names(top), vapply(top, format_bytes, "")), collapse = ", ")
}


abort_payload_too_large <- function(sizes, limit, bytes = sum(sizes)) {
  abort(sprintf(
    "The job would ship %s to its hosts, over the limit of %s: %s. Make them inside `f` where you can (read data on the hosts), or raise the limit with options(sagesim.max_payload_size = ) (bytes).",
    format_bytes(bytes), format_bytes(limit), describe_largest(sizes)),
    class = c("sagesim_payload_too_large", "sagesim_invalid_argument"), sizes = sizes,
    limit = limit)
}
