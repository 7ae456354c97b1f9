# The processes of a local job's hosts: started in sessions of their own,
# watched through /proc (a host runs until every process of its group has
# ended) and signalled as groups, so that stopping a host reaches its
# namespace, its container client and a doParallel cluster's workers.

# Each host runs in its own session (setsid), so job_stop() can signal the
# host's whole process group and the job outlives this R session.
launch_host <- function(dir, host) {
  script <- file.path(normalizePath(host_dir(dir, host)), "run.sh")
  setsid <- Sys.which("setsid")
  if (nzchar(setsid)) {
    system2(setsid, c("sh", shQuote(script)), wait = FALSE, stdout = FALSE, stderr = FALSE)
  } else {
    system2("sh", shQuote(script), wait = FALSE, stdout = FALSE, stderr = FALSE)
  }
}

# A host runs until every process of its group (setsid made the host's
# script the leader) has ended: its command may outlive the script by a
# moment after job_stop().
host_process_alive <- function(dir, host) {
  pid <- suppressWarnings(as.integer(read_small_file(file.path(host_dir(dir, host), "pid"))))
  if (length(pid) != 1 || is.na(pid)) {
    # Launched moments ago, the script has not recorded its pid yet; long
    # after, it never started (getOption("sagesim.host_start_timeout"), 60 s).
    return(!host_never_started(dir, host))
  }
  process_alive(pid) || process_group_alive(pid)
}

# The process groups among `groups` that still have a live process.
groups_with_live_processes <- function(groups) {
  groups[vapply(groups, process_group_alive, logical(1))]
}

# A zombie (exited, not yet reaped: this sandbox's init may never reap it)
# is not alive, although kill(pid, 0) still succeeds on it.
process_alive <- function(pid) {
  stat <- file.path("/proc", pid, "stat")
  if (file.exists(stat)) {
    state <- process_stat(stat)[["state"]]
    return(!is.na(state) && !state %in% c("Z", "X"))
  }
  isTRUE(tools::pskill(pid, 0L))
}

# Whether a live (not zombie) process belongs to process group `group`.
process_group_alive <- function(group) {
  if (!dir.exists("/proc")) return(FALSE)
  for (stat in Sys.glob("/proc/[0-9]*/stat")) {
    fields <- process_stat(stat)
    if (identical(fields[["group"]], as.character(group)) && !fields[["state"]] %in% c("Z", "X")) {
      return(TRUE)
    }
  }
  FALSE
}

host_never_started <- function(dir, host) {
  here <- host_dir(dir, host)
  if (file.exists(file.path(here, "pid"))) return(FALSE)
  launched <- file.mtime(file.path(here, "run.sh"))
  !is.na(launched) && as.numeric(difftime(Sys.time(), launched, units = "secs")) >
    getOption("sagesim.host_start_timeout", 60)
}

# State and process group from /proc/<pid>/stat (a process may end while
# it is read).
process_stat <- function(path) {
  line <- tryCatch(suppressWarnings(readLines(path, warn = FALSE))[[1]],
                   error = function(e) NA_character_)
  if (is.na(line)) return(c(state = NA_character_, group = NA_character_))
  rest <- strsplit(trimws(sub("^.*\\)", "", line)), " ", fixed = TRUE)[[1]]
  c(state = rest[[1]], group = rest[[3]])
}

# `kill -SIG -pid` signals a host's whole process group (setsid), its
# namespace and a doParallel cluster's workers included; tools::pskill()
# ignores negative pids. TERM first, then KILL whatever has not ended within
# `grace` seconds.
stop_process_groups <- function(groups, grace) {
  signal_groups <- function(signal, groups) {
    for (group in groups) {
      system2("kill", c(paste0("-", signal), paste0("-", group)), stdout = FALSE, stderr = FALSE)
    }
  }
  wait_until_gone <- function(seconds) {
    deadline <- Sys.time() + seconds
    while (length(groups_with_live_processes(groups)) > 0 && Sys.time() < deadline) {
      Sys.sleep(0.05)
    }
  }
  signal_groups("TERM", groups)
  wait_until_gone(grace)
  signal_groups("KILL", groups_with_live_processes(groups))
  # A killed process is gone a moment later: the job has stopped when this returns.
  wait_until_gone(5)
  invisible()
}

# The process group of each host that has recorded one.
host_process_groups <- function(dir, hosts) {
  unlist(lapply(hosts, function(host) {
    pid <- suppressWarnings(as.integer(read_small_file(file.path(host_dir(dir, host), "pid"))))
    if (length(pid) == 1 && !is.na(pid)) pid
  }))
}
