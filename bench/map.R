# sagesim benchmark: the overhead of submit_map()'s machinery per element
# (find globals, serialise, ship, run with its own random stream, collect),
# on a local job with trivial elements.
#
#   Rscript bench/map.R            # medians of 5
#   Rscript bench/map.R --quick    # medians of 3
#
# Prints a table and writes bench/map-results.csv.
suppressPackageStartupMessages(library(sagesim))

quick <- "--quick" %in% commandArgs(trailingOnly = TRUE)
repeats <- if (quick) 3 else 5
options(sagesim.job_dir = tempfile("sagesim-bench-"), sagesim.poll_interval = 0.05)

run <- function(n, hosts) {
  elapsed <- system.time({
    job <- submit_map(seq_len(n), function(i) i + runif(1), seed = 1, instance_count = hosts,
                      logs = FALSE)
    values <- job_collect(job)
  })[["elapsed"]]
  stopifnot(length(values) == n)
  elapsed
}

median_of <- function(n, hosts) median(vapply(seq_len(repeats), function(i) run(n, hosts), 1))

cat(sprintf("sagesim %s, %s, %d cores\n", packageVersion("sagesim"), R.version.string,
            parallel::detectCores()))
invisible(run(10, 1))   # warm up
one_host_1000 <- median_of(1000, 1)
one_host_10 <- median_of(10, 1)
# At 1,000 elements the job is almost all start-up: the marginal cost shows
# on many more.
one_host_20000 <- median_of(20000, 1)
two_hosts_1000 <- median_of(1000, 2)
results <- data.frame(
  measure = c("1,000 elements, 1 host: whole job (s)",
              "10 elements, 1 host: whole job (s)",
              "per element, 1 host: whole job / 1,000 (ms)",
              "20,000 elements, 1 host: whole job (s)",
              "per element, 1 host: marginal, (20,000 - 10 elements) / 19,990 (ms)",
              "1,000 elements, 2 hosts: whole job (s)",
              "per element, 2 hosts: whole job / 1,000 (ms)"),
  # (Seconds for 1,000 elements are milliseconds per element.)
  value = c(one_host_1000, one_host_10, one_host_1000, one_host_20000,
            (one_host_20000 - one_host_10) / 19990 * 1000, two_hosts_1000, two_hosts_1000),
  target = c("", "", "well under 10", "", "well under 10", "", "")
)
results$value <- signif(results$value, 3)
print(results, right = FALSE, row.names = FALSE)
out <- file.path(if (dir.exists("bench")) "bench" else ".", "map-results.csv")
utils::write.csv(results, out, row.names = FALSE)
cat(sprintf("written to %s\n", out))
