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

# Local hosts see their folder at /opt/ml only in a mount namespace.
skip_without_mount_namespace <- function(tool = "auto") {
  withr::local_options(sagesim.mount_namespace = tool)
  found <- tryCatch(sagesim:::find_mount_namespace(), sagesim_local_job_error = function(e) NULL)
  if (is.null(found$tool)) skip(sprintf("no mount namespace (%s) can be made here", tool))
  invisible(found$tool)
}

# What the workshop script (fixtures/workshop.R) needs from the host's R.
skip_without_workshop_packages <- function() {
  skip_if_not_installed("foreach")
  skip_if_not_installed("doParallel")
}

# /opt as it is, to check that a job left it alone.
opt_listing <- function() sort(list.files("/opt", all.files = TRUE, no.. = TRUE))

# A stand-in container engine, first on PATH: each call's arguments are
# kept, one per line, in a file of `calls_dir` (and its environment beside
# it, in `<file>.env`); `docker version` answers as a running daemon would,
# and `run` lasts `run_seconds`.
local_recording_engine <- function(name, run_seconds = 0, env = parent.frame()) {
  bin <- withr::local_tempdir("engine-", .local_envir = env)
  calls <- file.path(bin, "calls")
  dir.create(calls)
  writeLines(c(
    "#!/bin/sh",
    # Named by the clock, so that the calls sort in the order they came.
    sprintf("call=\"$(mktemp %s/call-$(date +%%s%%N)-XXXXXX)\"", shQuote(calls)),
    "printf '%s\\n' \"$@\" > \"$call\"",
    "env > \"$call.env\"",
    sprintf("if [ \"$1\" = run ]; then sleep %s; fi", run_seconds),
    "exit 0"
  ), file.path(bin, name))
  Sys.chmod(file.path(bin, name), "755")
  withr::local_envvar(PATH = paste(bin, Sys.getenv("PATH"), sep = ":"), .local_envir = env)
  calls
}

# The recorded calls of a local_recording_engine(), each a character vector
# (with `env = TRUE`, the environment each call had).
engine_calls <- function(calls, env = FALSE) {
  files <- sort(list.files(calls, full.names = TRUE, pattern = "^call-[^.]*$"))
  lapply(if (env) paste0(files, ".env") else files, readLines)
}

# An unprivileged user (created as root, removed when the test ends) and a
# way to run an R script as that user, with sagesim from a library it can
# read.
local_unprivileged_user <- function(env = parent.frame()) {
  if (!sagesim:::is_root()) skip("creating an unprivileged user needs root")
  if (!nzchar(Sys.which("setpriv"))) skip("no setpriv (util-linux)")
  user <- sprintf("sagesim-test-%d", Sys.getpid())
  status <- system2("useradd", c("--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user),
                    stdout = FALSE, stderr = FALSE)
  if (status != 0) skip("could not create an unprivileged user")
  withr::defer(system2("userdel", user, stdout = FALSE, stderr = FALSE), envir = env)
  # R's temporary folder (and R CMD check's) may be private to root; this
  # one, in the machine's /tmp, is the user's.
  home <- tempfile("sagesim-user-", tmpdir = "/tmp")
  dir.create(file.path(home, "lib"), recursive = TRUE)
  withr::defer(unlink(home, recursive = TRUE), envir = env)
  file.copy(find.package("sagesim"), file.path(home, "lib"), recursive = TRUE)
  system2("chown", c("-R", paste0(user, ":"), shQuote(home)))
  Sys.chmod(home, "755")
  list(name = user, home = home, lib = file.path(home, "lib"))
}

# Runs `lines` of R as `user`, for at most `timeout` seconds; returns the
# exit status (output in `log`).
run_r_as <- function(user, lines, log, timeout = 300) {
  script <- file.path(user$home, "script.R")
  writeLines(lines, script)
  # A fresh environment, as a user's login has: the session's is root's, and
  # under R CMD check --as-cran it names no site library (R_LIBS_SITE=NULL)
  # and a library in the check's private temporary folder.
  system2("timeout", c(timeout, "setpriv", "--reuid", user$name, "--regid", user$name,
                       "--clear-groups", "--", "env", "-i",
                       "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                       "LANG=C.UTF-8", paste0("HOME=", user$home), paste0("R_LIBS=", user$lib),
                       file.path(R.home("bin"), "Rscript"), shQuote(script)),
          stdout = log, stderr = log)
}

# job_stop() stops a running local job, and the wait ends with the warning
# a stopped job gives.
expect_stops <- function(job, timeout = 20) {
  expect_message(job_stop(job), "Stopped")
  expect_warning(capture.output(job_wait(job, logs = FALSE, timeout = timeout)),
                 class = "sagesim_job_stopped")
}

# No process of any of the job's hosts (their process groups) is left.
expect_no_host_left <- function(job) {
  pids <- vapply(job$hosts, function(h) as.integer(readLines(file.path(job$dir, "hosts", h, "pid"))),
                 integer(1))
  expect_identical(live_processes_in_groups(pids), character())
}

# Runs an R script in a new R session for at most `timeout` seconds;
# returns its exit status (124 when it ran out of time).
run_rscript <- function(script, args = character(), timeout = 300, stdout = FALSE,
                        stderr = FALSE) {
  system2("timeout", c(timeout, file.path(R.home("bin"), "Rscript"), shQuote(script), args),
          stdout = stdout, stderr = stderr)
}

# The folder holding this test's local jobs.
local_job_root_for_test <- function() file.path(getOption("sagesim.job_dir"), "local-jobs")
