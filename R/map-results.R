# Collecting a submit_map() job: the hosts' results files, checked to cover
# each element once, merged into the list lapply() would return. A host
# writes its results as they come, a file per report
# (map-results-<host>-<k>.rds), the last one marked final: a host that dies
# leaves what it finished, which a follow-up job keeps (R/retry.R).

# What the results files under `path` hold, finished or not: every element
# covered (values, failures, conditions), what earlier attempts kept, the
# hosts and which of them finished.
read_map_parts <- function(path) {
  files <- sort(list.files(path, pattern = map_results_pattern, recursive = TRUE,
                           full.names = TRUE))
  parts <- lapply(files, readRDS)
  if (length(parts) == 0) return(NULL)
  merged <- list(hosts = parts[[1]]$hosts, n = parts[[1]]$n, finished = character(),
                 indices = integer(), values = list(), failures = list(), conditions = list(),
                 names = NULL)
  for (part in parts) {
    taken <- list(part[c("indices", "values", "failures", "conditions")], part$kept)
    for (t in Filter(Negate(is.null), taken)) {
      merged$indices <- c(merged$indices, t$indices)
      merged$values <- c(merged$values, t$values)
      merged$failures <- c(merged$failures, t$failures)
      merged$conditions[names(t$conditions)] <- t$conditions
    }
    if (isTRUE(part$final)) merged$finished <- c(merged$finished, part$host)
    merged$names <- merged$names %||% part$names
  }
  merged
}

# The indices the merged parts cover, each once: values and failures.
covered_indices <- function(parts) {
  c(parts$indices, vapply(parts$failures, function(f) as.integer(f$index), integer(1)))
}

# `partial`: a job whose hosts did not all finish (errors = "return"): the
# elements no host finished are sagesim_element_unfinished conditions.
read_map_results <- function(job, path, errors, partial = FALSE) {
  location <- results_location(job, "map")
  parts <- read_map_parts(path)
  payload <- if (partial) map_payload_of(job)
  if (is.null(parts) && partial) {
    parts <- list(hosts = job_hosts(job), n = payload$n, finished = character(),
                  indices = payload$kept$indices, values = payload$kept$values,
                  failures = payload$kept$failures, conditions = payload$kept$conditions,
                  names = payload$names)
  }
  if (is.null(parts)) abort_missing_results(job_hosts(job), job_hosts(job), location)
  hosts <- parts$hosts
  missing <- setdiff(hosts, parts$finished)
  if (length(missing) > 0 && !partial) abort_missing_results(missing, hosts, location)
  n <- parts$n
  if (partial) {
    unfinished <- setdiff(seq_len(n), covered_indices(parts))
    parts$failures <- c(parts$failures, unfinished_elements(job, payload, unfinished))
  }
  covered <- tabulate(covered_indices(parts), nbins = n)
  if (any(covered != 1L)) {
    abort(sprintf("The results in %s do not cover every element once (elements %s).", location,
                  paste(utils::head(which(covered != 1L), 10), collapse = ", ")),
          class = "sagesim_results_error")
  }
  values <- vector("list", n)
  values[parts$indices] <- parts$values
  relay_conditions(parts$conditions)
  element_names <- parts$names
  label <- function(i) {
    if (!is.null(element_names) && nzchar(element_names[[i]])) {
      sprintf("%d (\"%s\")", i, element_names[[i]])
    } else {
      as.character(i)
    }
  }
  failures <- parts$failures
  conditions <- lapply(failures, function(failure) {
    structure(class = failure$class,
              c(list(message = failure$message, call = failure$call, traceback = failure$traceback,
                     element = failure$index), failure[intersect(c("host", "ending"), names(failure))]))
  })
  failed <- vapply(failures, function(failure) as.integer(failure$index), integer(1))
  order <- order(failed)
  failed <- failed[order]
  conditions <- conditions[order]
  names(conditions) <- as.character(failed)
  if (length(failed) > 0 && identical(errors, "stop")) {
    shown <- utils::head(seq_along(failed), 5)
    abort(c(sprintf("%d of %d elements of job %s failed:", length(failed), n, job$name),
            sprintf("  element %s: %s", vapply(failed[shown], label, ""),
                    vapply(conditions[shown], conditionMessage, "")),
            if (length(failed) > 5) sprintf("  ... and %d more", length(failed) - 5),
            "Collect them as conditions with job_collect(job, errors = \"return\"), or run them again with job_resubmit(job)."),
          class = "sagesim_map_failed", job_name = job$name, failed = failed,
          conditions = conditions)
  }
  values[failed] <- conditions
  names(values) <- element_names
  values
}

# The elements no host finished, each a sagesim_element_unfinished failure
# saying why: the job was stopped, or the host it fell to failed or was lost.
unfinished_elements <- function(job, payload, unfinished) {
  status <- job$last_status
  hosts <- job_hosts(job)
  # Which host each element of this attempt's payload fell to.
  host_of <- rep(NA_character_, payload$n)
  for (k in seq_along(hosts)) {
    share <- unwrap(split_range(length(payload$indices), length(hosts), k - 1))
    if (share[[2]] > 0) host_of[payload$indices[seq(share[[1]], length.out = share[[2]])]] <- hosts[[k]]
  }
  lapply(unfinished, function(i) {
    host <- host_of[[i]]
    ending <- if (!is.na(host)) status$hosts$ending[[host]] else NULL
    reason <- if (!is.na(host)) status$hosts$reason[[host]] else NULL
    why <- if (identical(status$status, "Stopped") || identical(ending, "stopped")) {
      sprintf("job %s was stopped before host %s finished it", job$name, host)
    } else if (identical(ending, "lost")) {
      sprintf("host %s was lost (%s)", host, reason)
    } else if (identical(ending, "failed")) {
      sprintf("host %s failed (%s)", host, reason)
    } else {
      sprintf("job %s ended (%s%s) before host %s finished it", job$name, status$status,
              if (!is.null(status$failure_reason)) paste0(": ", status$failure_reason) else "",
              host)
    }
    list(index = i, class = c("sagesim_element_unfinished", "error", "condition"),
         message = sprintf("Element %d was not finished: %s.", i, why),
         call = NULL, traceback = character(), host = host, ending = ending %||% status$status)
  })
}

# The messages and warnings elements raised, signalled again here in element
# order, as future relays them when a value is collected.
relay_conditions <- function(conditions) {
  for (index in sort(as.integer(names(conditions)))) {
    for (condition in conditions[[as.character(index)]]) {
      if (inherits(condition, "message")) {
        message(condition)
      } else if (inherits(condition, "warning")) {
        warning(condition)
      }
    }
  }
  invisible()
}
