# The host side of a submit_map() job: run_worker() hands a host its options
# and the contract's config; the host runs its share of the elements, each
# with its own random stream, reports its progress (R/contract.R) and writes
# its results file.

map_worker_main <- function(options, config) {
  host <- config$current_host
  hosts <- config$hosts
  index <- match(host, hosts)
  # The payload is code this host runs: read only if it is what the session
  # wrote (its SHA-256 came in the job's request, not through S3).
  check_payload(options$map, options$map_sha256)
  payload <- readRDS(options$map)
  if (!identical(payload$format, map_format)) {
    abort(sprintf("%s is not a sagesim map payload (%s).", options$map, map_format),
          class = "sagesim_results_error")
  }
  for (package in payload$packages) {
    loaded <- suppressPackageStartupMessages(requireNamespace(package, quietly = TRUE))
    if (!loaded) {
      # (A local host without an image uses this machine's library.)
      fix <- if (identical(Sys.getenv("SAGESIM_LOCAL_HOST"), "true")) {
        sprintf("install it on this machine (install.packages(\"%s\"))", package)
      } else {
        sprintf("add it to the worker image (build_image(packages = \"%s\"))", package)
      }
      abort(sprintf("Package %s is not installed on host %s; %s.", package, host, fix),
            class = "sagesim_map_error")
    }
    suppressPackageStartupMessages(library(package, character.only = TRUE))
  }
  list2env(payload$globals, envir = globalenv())
  share <- unwrap(split_range(length(payload$x), length(hosts), index - 1))
  positions <- if (share[[2]] > 0) seq(share[[1]], length.out = share[[2]]) else integer()
  indices <- payload$indices[positions]
  total <- length(positions)
  log_line(sprintf("%s (host %d of %d): %s of %s elements, seed %s", host, index, length(hosts),
                   format_count(total), format_count(payload$n), format(payload$seed)))
  seeds <- map_seeds(payload$seed, indices)
  runner <- local({
    f <- payload$f
    dots <- payload$dots
    function(element) do.call(function(element, ...) f(element, ...), c(list(element), dots),
                              quote = TRUE)
  })
  dir.create(options$output_dir, recursive = TRUE, showWarnings = FALSE)
  # A host started again on its restored checkpoints (a Training job's Spot
  # interruption) runs only the elements its own verified files lack.
  restored <- restored_map_chunks(options$output_dir, host, hosts, payload$n,
                                  options$results_key %||% "")
  if (restored$files > 0 || length(restored$unverified) > 0) {
    log_line(sprintf("%s: restarted on %d results file%s of its own: %s of %s elements done%s",
                     host, restored$files, if (restored$files == 1) "" else "s",
                     format_count(sum(indices %in% restored$done)), format_count(total),
                     if (length(restored$unverified) > 0) {
                       sprintf("; %d unverified file%s removed", length(restored$unverified),
                               if (length(restored$unverified) == 1) "" else "s")
                     } else ""))
  }
  if (restored$final) {
    report_progress(host, "elements", total, total, 0)
    log_line(sprintf("%s: had finished; wrote %s", host, options$output_dir))
    return(invisible(options$output_dir))
  }
  before <- sum(indices %in% restored$done)
  todo <- !indices %in% restored$done
  positions <- positions[todo]
  indices <- indices[todo]
  seeds <- seeds[todo]
  remaining <- length(positions)
  # Results are written as they come, a file per report: a host that dies
  # keeps what it finished (the job's map output is uploaded continuously).
  done <- list(indices = integer(), values = list(), failures = list(), conditions = list())
  chunk <- restored$next_chunk
  failed <- 0L
  saved <- 0L
  stop_after <- interrupt_threshold()
  write_chunk <- function(final) {
    first <- index == 1 && chunk == 0L
    result <- c(list(format = map_format, host = host, hosts = hosts, n = payload$n,
                     chunk = chunk, final = final), done,
                list(names = if (first) payload$names, kept = if (first) payload$kept))
    path <- file.path(options$output_dir, map_results_file(host, chunk))
    # Written whole, signed, then renamed: never a partial file under the
    # final name, nor one without its signature.
    partial <- paste0(path, ".partial")
    saveRDS(result, partial)
    sign_results_file(partial, path, options$results_key %||% "")
    file.rename(partial, path)
    done <<- list(indices = integer(), values = list(), failures = list(), conditions = list())
    chunk <<- chunk + 1L
    path
  }
  started <- Sys.time()
  last_report <- started
  last_save <- started
  report_progress(host, "elements", before, total, 0)
  for (k in seq_len(remaining)) {
    outcome <- run_element(runner, payload$x[[positions[[k]]]], seeds[[k]])
    if (length(outcome$conditions) > 0) {
      done$conditions[[as.character(indices[[k]])]] <- outcome$conditions
    }
    if (is.null(outcome$failure)) {
      done$indices <- c(done$indices, indices[[k]])
      done$values[length(done$indices)] <- list(outcome$value)
    } else {
      failed <- failed + 1L
      done$failures[[length(done$failures) + 1]] <- c(list(index = indices[[k]]), outcome$failure)
    }
    if (k == remaining) next
    report <- as.numeric(difftime(Sys.time(), last_report, units = "secs")) >= progress_every()
    if (report || checkpoint_due(last_save, started)) {
      last_save <- Sys.time()
      saved <- saved + length(done$indices) + length(done$failures)
      write_chunk(final = FALSE)
      if (stop_after > 0 && saved >= stop_after) interrupt_host(saved, "elements")
    }
    if (report) {
      last_report <- Sys.time()
      report_progress(host, "elements", before + k, total, failed)
    }
  }
  path <- write_chunk(final = TRUE)
  report_progress(host, "elements", total, total, failed)
  log_line(sprintf("%s: wrote %s", host, dirname(path)))
  invisible(path)
}

# What this host's own results files in `dir` hold (restored checkpoints;
# other hosts' files are never read or touched): the elements done, whether
# one is final, and the number its next file takes. Only a file whose
# signature matches `key` (any file, without a key) counts; one that does
# not (restored without its signature) is removed, its number taken again.
restored_map_chunks <- function(dir, host, hosts, n, key) {
  prefix <- sprintf("map-results-%s-", host)
  names <- list.files(dir, pattern = map_results_pattern)
  # algo-1's files, not algo-10's: the rest of the name is the number.
  rest <- substring(names, nchar(prefix) + 1)
  names <- names[startsWith(names, prefix) & grepl("^[0-9]+[.]rds$", rest)]
  files <- file.path(dir, names)
  numbers <- as.integer(sub("[.]rds$", "", substring(names, nchar(prefix) + 1)))
  found <- list(files = 0L, done = integer(), final = FALSE, next_chunk = 0L,
                unverified = character())
  for (k in order(numbers)) {
    file <- files[[k]]
    part <- tryCatch({
      if (nzchar(key)) unwrap(integrity_verify(file, key))
      readRDS(file)
    }, error = function(e) NULL)
    if (is.null(part)) {
      unlink(c(file, paste0(file, ".hmac")))
      found$unverified <- c(found$unverified, file)
      next
    }
    if (!identical(part$format, map_format) || !identical(part$host, host) ||
        !identical(part$hosts, hosts) || !identical(part$n, n)) {
      abort(sprintf("%s holds results of another job (its hosts or elements differ from this one's).",
                    file), class = "sagesim_results_error")
    }
    found$files <- found$files + 1L
    found$done <- c(found$done, part$indices,
                    vapply(part$failures, function(f) as.integer(f$index), integer(1)))
    found$final <- found$final || isTRUE(part$final)
    found$next_chunk <- max(found$next_chunk, numbers[[k]] + 1L)
  }
  found
}
