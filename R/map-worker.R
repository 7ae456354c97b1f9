# The host side of a submit_map() job: run_worker() hands a host its options
# and the contract's config; the host runs its share of the elements, each
# with its own random stream, reports its progress (R/contract.R) and writes
# its results file.

map_worker_main <- function(options, config) {
  host <- config$current_host
  hosts <- config$hosts
  index <- match(host, hosts)
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
  # Results are written as they come, a file per report: a host that dies
  # keeps what it finished (the job's map output is uploaded continuously).
  done <- list(indices = integer(), values = list(), failures = list(), conditions = list())
  chunk <- 0L
  failed <- 0L
  write_chunk <- function(final) {
    first <- index == 1 && chunk == 0L
    result <- c(list(format = map_format, host = host, hosts = hosts, n = payload$n,
                     chunk = chunk, final = final), done,
                list(names = if (first) payload$names, kept = if (first) payload$kept))
    path <- file.path(options$output_dir, map_results_file(host, chunk))
    # Written whole, then renamed: never a partial file under the final name.
    partial <- paste0(path, ".partial")
    saveRDS(result, partial)
    file.rename(partial, path)
    done <<- list(indices = integer(), values = list(), failures = list(), conditions = list())
    chunk <<- chunk + 1L
    path
  }
  started <- Sys.time()
  last_report <- started
  last_save <- started
  report_progress(host, "elements", 0, total, 0)
  for (k in seq_len(total)) {
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
    if (k == total) next
    report <- as.numeric(difftime(Sys.time(), last_report, units = "secs")) >= progress_every()
    if (report || checkpoint_due(last_save, started)) {
      last_save <- Sys.time()
      write_chunk(final = FALSE)
    }
    if (report) {
      last_report <- Sys.time()
      report_progress(host, "elements", k, total, failed)
    }
  }
  path <- write_chunk(final = TRUE)
  report_progress(host, "elements", total, total, failed)
  log_line(sprintf("%s: wrote %s", host, dirname(path)))
  invisible(path)
}
