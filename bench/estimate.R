# How close are sagesim's estimates (`estimate = TRUE`) to what the jobs
# take? Estimates simulations, sweeps and maps of different sizes as local
# jobs, runs each, and compares the estimated elapsed time with the job's
# own (its hosts' start to its end, as job_status() reports it). Local jobs,
# because this machine is the one whose speed the estimate measures: on
# SageMaker the same work is divided by the instance's vCPUs and a start-up
# allowance added (README, "Cost").
#
#   Rscript bench/estimate.R          # about two minutes on two cores
#
# Not a test: the numbers depend on the machine and on what else it runs.
suppressPackageStartupMessages(library(sagesim))
options(sagesim.job_dir = file.path(tempdir(), "bench-estimate"))
dir.create(getOption("sagesim.job_dir"), showWarnings = FALSE)

# Elements that keep a core busy (about `n` ms each here).
busy <- function(n) function(i) {
  s <- 0
  for (k in seq_len(n * 6e3)) s <- s + k %% 7
  s
}
cases <- list(
  list("simulation 1e3 people x 1e4 iterations, 1 host",
       simulation_spec(1000, 1000, 1000, 1e4, seed = 1), 1),
  list("simulation 1e3 people x 1e5 iterations, 2 hosts",
       simulation_spec(1000, 1000, 1000, 1e5, seed = 1), 2),
  list("simulation 1e3 people x 1e6 iterations, 2 hosts",
       simulation_spec(1000, 1000, 1000, 1e6, seed = 1), 2),
  list("simulation, crowded: 1e3 people in 100 x 100, 5e4 iterations, 1 host",
       simulation_spec(100, 100, 1000, 5e4, seed = 1), 1),
  list("simulation 1e6 people x 100 iterations, 2 hosts",
       simulation_spec(31623, 31623, 1e6, 100, seed = 1), 2),
  list("sweep of 12 cells x 1e3 iterations (README's), 3 hosts",
       simulation_grid(c(500, 1000, 2000), 1000, c(100, 300, 1000, 3000), 1000, seed = 42), 3),
  list("sweep of 12 cells x 2e4 iterations, 2 hosts",
       simulation_grid(c(500, 1000, 2000), 1000, c(100, 300, 1000, 3000), 2e4, seed = 42), 2),
  list("map of 200 elements of about 10 ms, 2 hosts", list(1:200, busy(10)), 2),
  list("map of 20 elements of about 0.2 s, 4 hosts", list(1:20, busy(200)), 4)
)

submit <- function(work, hosts, estimate) {
  if (is.list(work) && !inherits(work, c("sagesim_spec", "sagesim_grid"))) {
    submit_map(work[[1]], work[[2]], seed = 1, instance_count = hosts, logs = FALSE,
               estimate = estimate)
  } else {
    submit_processing(simulation = work, instance_count = hosts, logs = FALSE,
                      estimate = estimate)
  }
}

rows <- lapply(cases, function(case) {
  estimate <- submit(case[[2]], case[[3]], TRUE)
  job <- submit(case[[2]], case[[3]], FALSE)
  status <- job_status(job)
  took <- status$end_time - status$start_time
  job_remove(job)
  data.frame(job = case[[1]], estimated_s = round(estimate$elapsed_seconds, 2),
             took_s = round(took, 2), ratio = round(estimate$elapsed_seconds / took, 2))
})
result <- do.call(rbind, rows)
load <- if (file.exists("/proc/loadavg")) strsplit(readLines("/proc/loadavg"), " ")[[1]][[1]] else "?"
cat(sprintf("%d cores, load average %s at the end; estimates vs local jobs (elapsed seconds):\n",
            parallel::detectCores(), load))
print(result, row.names = FALSE)
cat(sprintf("estimated / took: median %.2f, range %.2f-%.2f\n", stats::median(result$ratio),
            min(result$ratio), max(result$ratio)))
