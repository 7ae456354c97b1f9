# Small helpers every part of the package uses: defaults for missing values,
# numbers for machines and for people, and files copied or read whole.

`%||%` <- function(x, y) if (is.null(x)) y else x

`%|%` <- function(x, y) if (length(x) == 0 || !nzchar(x)) y else x

# Numbers for machines: every digit, no separators, never scientific.
format_number <- function(x) format(x, digits = 17, scientific = FALSE, trim = TRUE)

# For people: thousands separators. Never for machines (see worker_flags).
format_count <- function(x) format(x, big.mark = ",", scientific = FALSE, trim = TRUE)

copy_into <- function(source, target) {
  ok <- if (dir.exists(source)) {
    all(file.copy(list.files(source, full.names = TRUE, all.files = TRUE, no.. = TRUE), target,
                  recursive = TRUE))
  } else {
    file.copy(source, target)
  }
  if (!ok) {
    abort(sprintf("Could not copy %s into the job's folder %s.", source, target),
          class = "sagesim_local_job_error")
  }
}

read_small_file <- function(path) {
  if (!file.exists(path)) return(NULL)
  text <- readLines(path, warn = FALSE)
  if (length(text) == 0) "" else paste(text, collapse = "\n")
}

format_bytes <- function(bytes) {
  units <- c("bytes", "kB", "MB", "GB", "TB")
  k <- max(1, min(length(units), floor(log(max(bytes, 1), 1000)) + 1))
  if (k == 1) sprintf("%d bytes", as.integer(bytes)) else sprintf("%.3g %s", bytes / 1000^(k - 1), units[[k]])
}
