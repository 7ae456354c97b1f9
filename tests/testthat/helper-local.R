# Local-mode jobs keep their files in a per-test temporary folder.
use_temp_job_dir <- function(env = parent.frame()) {
  dir <- withr::local_tempdir("sagesim-jobs-", .local_envir = env)
  withr::local_options(sagesim.job_dir = dir, sagesim.poll_interval = 0.2, .local_envir = env)
  dir
}

# A stand-in /opt/ml for one host of a job, as SageMaker lays it out.
fake_opt_ml <- function(root, host, hosts, env = parent.frame()) {
  dir.create(file.path(root, "config"), recursive = TRUE, showWarnings = FALSE)
  jsonlite::write_json(list(current_host = host, hosts = hosts),
                       file.path(root, "config", "resourceconfig.json"), auto_unbox = TRUE)
  jsonlite::write_json(list(ProcessingJobName = "test-job"),
                       file.path(root, "config", "processingjobconfig.json"), auto_unbox = TRUE)
  withr::local_envvar(SAGESIM_OPT_ML = root, .local_envir = env)
  root
}

# Processes (not zombies) whose process group is one of `groups`, from /proc.
live_processes_in_groups <- function(groups) {
  stats <- Sys.glob("/proc/[0-9]*/stat")
  fields <- lapply(stats, function(f) {
    # A process may end between the listing and the reading.
    line <- tryCatch(suppressWarnings(readLines(f, warn = FALSE))[[1]], error = function(e) NA_character_)
    if (is.na(line)) return(NULL)
    rest <- strsplit(trimws(sub("^.*\\)", "", line)), " ")[[1]]
    c(pid = sub("/proc/([0-9]+)/stat", "\\1", f), state = rest[[1]], group = rest[[3]])
  })
  fields <- do.call(rbind, Filter(Negate(is.null), fields))
  live <- fields[fields[, "group"] %in% as.character(groups) & !fields[, "state"] %in% c("Z", "X"), , drop = FALSE]
  unname(live[, "pid"])
}

# An R script for a job to run (by default one that does nothing much),
# removed when the calling test ends.
local_script <- function(lines = "1", env = parent.frame()) {
  script <- withr::local_tempfile(fileext = ".R", .local_envir = env)
  writeLines(lines, script)
  script
}
