# sagesim benchmark: speed and memory of simulate_local() on the reference
# workload (1000 x 1000 room, 1000 people, distance 6), side by side with a
# plain R version of the same model written the way the original workflow
# was (all pairwise distances with dist()); then how the cost per person
# scales from a thousand people to ten million at the reference density.
#
#   Rscript bench/bench.R            # full run (a few minutes)
#   Rscript bench/bench.R --quick    # fewer repetitions
#
# Prints two tables and writes bench/results.csv and bench/scale.csv.
# Timings are medians of repeated runs; memory figures are the peak resident
# size of a fresh R process running one iteration (VmHWM).
suppressPackageStartupMessages(library(sagesim))

quick <- "--quick" %in% commandArgs(trailingOnly = TRUE)
options(width = 150)
# Four significant digits, without scientific notation.
readable <- function(x) vapply(x, function(v) format(signif(v, 4), scientific = FALSE), "")
repeats <- if (quick) 3 else 7
iterations <- 10000
people <- 1000

# The original workflow's model, in plain R: place everyone, compute every
# pairwise distance, count the ordered pairs closer than `distance` (each
# unordered pair twice: 2 violations), divide by the number of people.
plain_r_iteration <- function(x_length, y_length, num_people, distance = 6) {
  people <- data.frame(x = runif(num_people, 0, x_length), y = runif(num_people, 0, y_length))
  distances <- as.matrix(dist(people))
  violations <- sum(distances < distance) - num_people   # minus each person's distance to self
  violations / num_people
}

median_seconds <- function(expr_fn, n = repeats) {
  median(vapply(seq_len(n), function(i) system.time(expr_fn())[["elapsed"]], numeric(1)))
}

cat(sprintf("sagesim %s, %s, %d cores\n", packageVersion("sagesim"), R.version.string,
            parallel::detectCores()))

simulate <- function(threads) {
  function() simulate_local(1000, 1000, people, iterations, seed = 1, threads = threads,
                            keep_values = FALSE, progress = FALSE)
}
invisible(simulate(1)())   # warm up
# 1 and 2 threads alternate, so that both see the same machine: on a shared
# (virtual) machine the speed of a core drifts by tens of percent.
pairs <- vapply(seq_len(repeats), function(i) {
  c(system.time(simulate(1)())[["elapsed"]], system.time(simulate(2)())[["elapsed"]])
}, numeric(2))
one_thread <- median(pairs[1, ])
two_threads <- median(pairs[2, ])
ns_one <- one_thread / (iterations * people) * 1e9
ns_two <- two_threads / (iterations * people) * 1e9

plain_iterations <- if (quick) 10 else 30
set.seed(1)
plain_seconds <- median_seconds(function() {
  for (i in seq_len(plain_iterations)) plain_r_iteration(1000, 1000, people)
}) / plain_iterations
sagesim_seconds <- one_thread / iterations
# Same model, same statistics: both agree with the exact expectation.
check <- mean(vapply(1:200, function(i) plain_r_iteration(1000, 1000, people), numeric(1)))

# Peak resident size (MiB) of a fresh R process that runs `code` (after
# loading sagesim); with no code, that of a bare R with sagesim loaded.
peak_mib <- function(code = NULL) {
  probe <- tempfile(fileext = ".R")
  writeLines(c(
    "suppressPackageStartupMessages(library(sagesim))",
    code,
    "status <- readLines('/proc/self/status')",
    "cat(sub('[^0-9]*([0-9]+).*', '\\\\1', grep('^VmHWM', status, value = TRUE)))"
  ), probe)
  on.exit(unlink(probe))
  as.numeric(system2(file.path(R.home("bin"), "Rscript"), probe, stdout = TRUE)) / 1024
}
peak_dense_mib <- peak_mib(
  "invisible(simulate_local(1000, 1000, 1e7, 1, seed = 1, progress = FALSE))")
baseline_mib <- peak_mib()
ten_million <- median_seconds(function() {
  simulate_local(1000, 1000, 1e7, 1, seed = 1, progress = FALSE)
}, n = if (quick) 1 else 3)

# Ctrl-C: a real SIGINT arrives while a long run works; how long until R
# has control back (from the signal, as recorded by the process sending it).
interrupt_latency <- function() {
  stamp <- tempfile()
  system(sprintf("sleep 1 && date +%%s.%%N > %s && kill -INT %d", stamp, Sys.getpid()), wait = FALSE)
  tryCatch(simulate_local(1e5, 1e5, 1e6, 1e6, seed = 1, threads = 2, progress = FALSE),
           interrupt = function(e) NULL)
  back <- as.numeric(Sys.time())
  while (!file.exists(stamp) || length(readLines(stamp, warn = FALSE)) == 0) Sys.sleep(0.01)
  back - as.numeric(readLines(stamp))
}
interrupt_seconds <- max(vapply(1:3, function(i) interrupt_latency(), numeric(1)))

results <- data.frame(
  measure = c("ns per person-iteration, 1 thread", "ns per person-iteration, 2 threads",
              "speed-up 1 -> 2 threads", "10,000 iterations, 1 thread (s)",
              "plain R (dist) seconds per iteration", "sagesim seconds per iteration",
              "speed ratio per iteration (plain R / sagesim)",
              "10M people, one iteration: peak RSS of the R process (MiB)",
              "10M people, one iteration: above a bare R + sagesim (MiB)",
              "10M people, one iteration (s)",
              "Ctrl-C to R prompt, worst of 3 (s)"),
  value = c(ns_one, ns_two, one_thread / two_threads, one_thread, plain_seconds,
            sagesim_seconds, plain_seconds / sagesim_seconds, peak_dense_mib,
            peak_dense_mib - baseline_mib, ten_million, interrupt_seconds),
  target = c("<= 10", "", ">= 1.8", "about 0.1", "", "", ">= 20000", "< 1024", "", "", "< 0.5")
)
results$value <- signif(results$value, 4)
print(transform(results, value = readable(value)), right = FALSE, row.names = FALSE)
cat(sprintf("\nplain R mean over 200 iterations %.4f; exact expectation %.4f\n", check,
            expected_violations(1000, 1000, people)))

# Scale: the reference density (one person per 1,000 square units, distance
# 6) in a square room that grows with num_people.
side_for <- function(n) sqrt(1000 * n)
simulate_at_scale <- function(n, iterations, threads) {
  system.time(simulate_local(side_for(n), side_for(n), n, iterations, seed = 1, threads = threads,
                             keep_values = FALSE, progress = FALSE))[["elapsed"]]
}
person_iterations <- if (quick) 5e6 else 2e7
scale <- do.call(rbind, lapply(c(1e3, 1e4, 1e5, 1e6, 1e7), function(n) {
  its <- max(2, round(person_iterations / n))
  invisible(simulate_at_scale(n, 1, 1))   # warm up
  t <- vapply(seq_len(repeats), function(i) {
    c(simulate_at_scale(n, its, 1), simulate_at_scale(n, its, 2))
  }, numeric(2))
  ns <- apply(t, 1, median) / (n * its) * 1e9
  data.frame(people = n, iterations = its, ns_1_thread = ns[[1]], ns_2_threads = ns[[2]],
             speed_up = ns[[1]] / ns[[2]], target = "<= 10 on 1 thread")
}))
one_iteration <- vapply(seq_len(repeats), function(i) {
  c(simulate_at_scale(1e7, 1, 1), simulate_at_scale(1e7, 1, 2))
}, numeric(2))
one_iteration <- apply(one_iteration, 1, median)
peak_probe <- function(n) {
  peak_mib(sprintf("invisible(simulate_local(%.17g, %.17g, %.0f, 1, seed = 1, keep_values = FALSE, progress = FALSE))",
                   side_for(n), side_for(n), n))
}
scale_extra <- data.frame(
  measure = c("1e7 people, one iteration, 1 thread (s)", "1e7 people, one iteration, 2 threads (s)",
              "1e7 people, one iteration: speed-up 1 -> 2 threads",
              "1e7 people, one iteration: peak RSS of the R process (MiB)",
              "1e8 people, one iteration: peak RSS of the R process (MiB)",
              "bare R + sagesim: peak RSS (MiB)"),
  value = c(one_iteration[[1]], one_iteration[[2]], one_iteration[[1]] / one_iteration[[2]],
            peak_probe(1e7), peak_probe(1e8), baseline_mib),
  target = c("", "", ">= 1.8", "< 1024", "runs (24 GiB machine)", "")
)
scale[, 3:5] <- signif(scale[, 3:5], 3)
scale_extra$value <- signif(scale_extra$value, 4)
cat("\nns per person-iteration at the reference density (1 person per 1,000 square units, distance 6):\n")
print(scale, right = FALSE, row.names = FALSE)
cat("\n")
print(transform(scale_extra, value = readable(value)), right = FALSE, row.names = FALSE)

dir <- if (dir.exists("bench")) "bench" else "."
utils::write.csv(results, file.path(dir, "results.csv"), row.names = FALSE)
utils::write.csv(rbind(
  data.frame(measure = sprintf("ns per person-iteration, %g people, %s", rep(scale$people, 2),
                               rep(c("1 thread", "2 threads"), each = nrow(scale))),
             value = c(scale$ns_1_thread, scale$ns_2_threads),
             target = rep(c("<= 10", ""), each = nrow(scale))),
  scale_extra), file.path(dir, "scale.csv"), row.names = FALSE)
cat(sprintf("written to %s and %s\n", file.path(dir, "results.csv"), file.path(dir, "scale.csv")))
