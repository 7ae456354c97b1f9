# Is a local job that ends ever read as failed? Runs many short local jobs of
# 1 and 2 hosts and reads each one's status in a tight loop while it ends
# (the race that once turned a completed host into a lost one), counting
# every status that is neither InProgress nor Completed and every job that
# does not end Completed.
#
#   Rscript bench/status-race.R [jobs, default 2000]
#
# Run from an installed sagesim (make install). Prints one line per 250 jobs
# and a summary; exits 1 if any job was misreported.

library(sagesim)
args <- commandArgs(trailingOnly = TRUE)
jobs <- if (length(args) > 0) as.integer(args[[1]]) else 2000L
folder <- tempfile("sagesim-status-race-")
dir.create(folder)
options(sagesim.job_dir = folder)
# Hosts that end within a few milliseconds of one another, at random times.
script <- file.path(folder, "short.sh")
writeLines(c("i=0", "while [ $i -lt $(( $$ % 40 )) ]; do i=$((i + 1)); done", "exit 0"), script)

reads <- 0
misread <- list()
started <- Sys.time()
for (k in seq_len(jobs)) {
  hosts <- if (k %% 2 == 0) 2L else 1L
  job <- submit_processing(code = script, command = "sh", instance_type = "local",
                           instance_count = hosts, wait = FALSE, logs = FALSE, retries = 0)
  repeat {
    status <- job_status(job)$status
    reads <- reads + 1
    if (!status %in% c("InProgress", "Completed")) {
      misread[[length(misread) + 1]] <- list(job = job$name, hosts = hosts, status = status,
                                             reason = job_status(job)$failure_reason)
    }
    if (status %in% c("Completed", "Failed", "Stopped")) break
  }
  job_remove(job)
  if (k %% 250 == 0) {
    cat(sprintf("%5d jobs, %7d status reads, %d misread, %.0f s\n", k, reads, length(misread),
                as.numeric(difftime(Sys.time(), started, units = "secs"))))
  }
}
unlink(folder, recursive = TRUE)
cat(sprintf("status-race: %d jobs (%d of 1 host, %d of 2 hosts), %d status reads, %d misreported, %.0f s\n",
            jobs, sum(seq_len(jobs) %% 2 == 1), sum(seq_len(jobs) %% 2 == 0), reads, length(misread),
            as.numeric(difftime(Sys.time(), started, units = "secs"))))
for (m in utils::head(misread, 5)) {
  cat(sprintf("  %s (%d hosts): %s, %s\n", m$job, m$hosts, m$status, paste(m$reason, collapse = "")))
}
if (length(misread) > 0) quit(status = 1)
