# Collecting a submit_map() job: every host's results file, checked to cover
# each element once, merged into the list lapply() would return.

map_results_file <- function(host) sprintf("map-results-%s.rds", host)

read_map_results <- function(job, path, errors) {
  location <- results_location(job, "map")
  files <- list.files(path, pattern = "^map-results-.*\\.rds$", recursive = TRUE,
                      full.names = TRUE)
  if (length(files) == 0) abort_missing_results(job_hosts(job), job_hosts(job), location)
  parts <- lapply(files, readRDS)
  hosts <- parts[[1]]$hosts
  missing <- setdiff(hosts, vapply(parts, `[[`, "", "host"))
  if (length(missing) > 0) abort_missing_results(missing, hosts, location)
  n <- parts[[1]]$n
  values <- vector("list", n)
  covered <- integer(n)
  failures <- list()
  conditions <- list()
  element_names <- NULL
  for (part in parts) {
    conditions[names(part$conditions)] <- part$conditions
    for (taken in list(part[c("indices", "values")], part$kept)) {
      if (length(taken$indices) == 0) next
      values[taken$indices] <- taken$values
      covered[taken$indices] <- covered[taken$indices] + 1L
    }
    for (failure in part$failures) covered[failure$index] <- covered[failure$index] + 1L
    failures <- c(failures, part$failures)
    element_names <- element_names %||% part$names
  }
  if (any(covered != 1L)) {
    abort(sprintf("The results in %s do not cover every element once (elements %s).", location,
                  paste(utils::head(which(covered != 1L), 10), collapse = ", ")),
          class = "sagesim_results_error")
  }
  relay_conditions(conditions)
  label <- function(i) {
    if (!is.null(element_names) && nzchar(element_names[[i]])) {
      sprintf("%d (\"%s\")", i, element_names[[i]])
    } else {
      as.character(i)
    }
  }
  conditions <- lapply(failures, function(failure) {
    structure(class = failure$class,
              list(message = failure$message, call = failure$call, traceback = failure$traceback,
                   element = failure$index))
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
