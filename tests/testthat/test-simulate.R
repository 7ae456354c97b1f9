# simulate_local(): validation, exactness, reproducibility, statistics, methods.

test_that("every bad argument gets a classed error naming it", {
  good <- list(x_length = 100, y_length = 100, num_people = 10, max_iterations = 5)
  bad_values <- list(
    x_length = list(-1, 0, NA, NaN, Inf, "100", c(1, 2), numeric(), TRUE, NULL),
    y_length = list(-1, 0, NA_real_, -Inf, list(1)),
    num_people = list(-1, 2.5, NA_integer_, Inf, "10", 1e300),
    max_iterations = list(0, -3, 1.5, NaN, c(10, 20)),
    distance = list(0, -6, NA, Inf, "6"),
    seed = list(-1, 0.5, NA, 2^60, "42"),
    threads = list(-1, 1.5, NA, 5000, "2")
  )
  for (arg in names(bad_values)) {
    for (value in bad_values[[arg]]) {
      args <- good
      args[arg] <- list(value)   # keeps an explicit NULL
      error <- tryCatch(do.call(simulate_local, args), error = identity)
      expect_s3_class(error, "sagesim_invalid_argument")
      expect_identical(error$argument, arg, info = paste(arg, deparse(value)))
      expect_match(conditionMessage(error), arg, fixed = TRUE)
    }
  }
})

test_that("iterations must be a contiguous range within 1:max_iterations", {
  for (bad in list(0:3, c(1, 3), 5:11, 3:1, c(1.5, 2.5), "1", numeric(0))) {
    expect_error(simulate_local(10, 10, 5, 10, seed = 1, iterations = bad),
                 class = "sagesim_invalid_argument")
  }
  expect_error(simulate_local(10, 10, 5, 10, seed = 1, keep_values = NA), class = "sagesim_invalid_argument")
})

test_that("a run too large for memory is refused cleanly, before allocating", {
  error <- tryCatch(simulate_local(1e6, 1e6, 1e6, 1e15, seed = 1), error = identity)
  expect_s3_class(error, "sagesim_too_large")
  expect_identical(error$argument, "max_iterations")
  expect_match(conditionMessage(error), "would need .* of memory")
  # More people than a room can hold is a limit, not a matter of memory.
  error <- tryCatch(simulate_local(1e6, 1e6, 2^32, 1, seed = 1), error = identity)
  expect_s3_class(error, "sagesim_invalid_argument")
  expect_match(conditionMessage(error), "at most 4294967295 people (2^32 - 1), not 4294967296",
               fixed = TRUE)
  # R is still fine afterwards.
  expect_s3_class(simulate_local(10, 10, 5, 2, seed = 1), "sagesim_simulation")
})

test_that("values are bit-identical for any thread count", {
  one <- simulate_local(500, 300, 400, 300, seed = 7, threads = 1)
  two <- simulate_local(500, 300, 400, 300, seed = 7, threads = 2)
  all <- simulate_local(500, 300, 400, 300, seed = 7, threads = 0)
  expect_identical(one$values, two$values)
  expect_identical(one$values, all$values)
  expect_identical(one$mean, two$mean)
  expect_identical(one$sd, two$sd)
  expect_length(one$values, 300)
  expect_true(all(one$values >= 0))
})

test_that("any split of the iterations computes the same values, and combines exactly", {
  full <- simulate_local(200, 200, 150, 100, seed = 11)
  a <- simulate_local(200, 200, 150, 100, seed = 11, iterations = 1:37)
  b <- simulate_local(200, 200, 150, 100, seed = 11, iterations = 38:90, threads = 2)
  c <- simulate_local(200, 200, 150, 100, seed = 11, iterations = 91:100)
  expect_identical(b$values, full$values[38:90])
  combined <- combine_simulations(c, a, b)
  expect_identical(combined$values, full$values)
  expect_identical(combined$mean, full$mean)
  expect_identical(combined$sd, full$sd)
  expect_identical(combined$counts, full$counts)
  expect_identical(unname(combined$iterations), c(1, 100))
  expect_error(combine_simulations(a, c), class = "sagesim_results_error")
  expect_error(combine_simulations(a, a), class = "sagesim_results_error")
  other_seed <- simulate_local(200, 200, 150, 100, seed = 12, iterations = 38:90)
  expect_error(combine_simulations(a, other_seed), class = "sagesim_results_error")
})

test_that("seeds make runs repeatable, and a drawn seed is recorded", {
  set.seed(1)
  drawn <- simulate_local(100, 100, 50, 20)
  expect_true(is.numeric(drawn$seed) && drawn$seed >= 0)
  again <- simulate_local(100, 100, 50, 20, seed = drawn$seed)
  expect_identical(again$values, drawn$values)
  different <- simulate_local(100, 100, 50, 20, seed = drawn$seed + 1)
  expect_false(identical(different$values, drawn$values))
})

test_that("summary-only runs give the same statistics as full runs", {
  full <- simulate_local(300, 300, 200, 200, seed = 3)
  lean <- simulate_local(300, 300, 200, 200, seed = 3, keep_values = FALSE)
  expect_null(lean$values)
  expect_identical(lean$mean, full$mean)
  expect_identical(lean$sd, full$sd)
  expect_identical(lean$conf_int, full$conf_int)
  expect_error(as.data.frame(lean), class = "sagesim_results_error")
  expect_error(plot(lean), class = "sagesim_results_error")
})

test_that("statistics agree with the values computed in R", {
  sim <- simulate_local(150, 120, 80, 400, seed = 5)
  expect_equal(sim$mean, mean(sim$values), tolerance = 1e-12)
  expect_equal(sim$sd, sd(sim$values), tolerance = 1e-10)
  expect_equal(sim$se, sd(sim$values) / sqrt(400), tolerance = 1e-10)
  expect_equal(unname(sim$conf_int), mean(sim$values) + c(-1, 1) * qnorm(0.975) * sim$se,
               tolerance = 1e-10)
  # Each value is 2 * pairs / n: a whole number of pairs.
  pairs <- sim$values * 80 / 2
  expect_equal(pairs, round(pairs), tolerance = 1e-9)
})

test_that("the simulation matches the exact expectation in many geometries", {
  geometries <- list(
    c(1000, 1000, 1000, 6),   # the reference room
    c(50, 40, 100, 6),        # dense
    c(5, 3, 30, 6),           # distance larger than both sides
    c(100, 4, 60, 6),         # distance larger than one side
    c(1e5, 0.01, 200, 6),     # very thin
    c(10, 10, 2000, 0.5)      # very dense, small distance
  )
  for (g in geometries) {
    sim <- simulate_local(g[1], g[2], g[3], 2000, distance = g[4], seed = 99, threads = 0)
    expected <- expected_violations(g[1], g[2], g[3], g[4])
    expect_equal(sim$expected, expected)
    expect_lt(abs(sim$mean - expected), 5 * sim$se + 1e-12)
  }
})

test_that("zero or one person never violates", {
  for (n in c(0, 1)) {
    sim <- simulate_local(10, 10, n, 50, seed = 1)
    expect_identical(sim$values, rep(0, 50))
    expect_identical(sim$mean, 0)
    expect_identical(sim$expected, 0)
  }
})

test_that("everyone violates when the distance exceeds the diagonal", {
  sim <- simulate_local(3, 4, 25, 10, distance = 5.0001, seed = 1)
  expect_identical(sim$values, rep(24, 10))   # 2 * choose(25, 2) / 25
})

test_that("print, summary, as.data.frame and plot work", {
  sim <- simulate_local(1000, 1000, 1000, 200, seed = 42)
  expect_output(print(sim), "1000 x 1000 room, 1,000 people, distance 6")
  expect_output(print(sim), "seed 42")
  expect_output(print(sim), "exact expectation")
  expect_output(print(sim), sprintf("95%% CI %s to", signif(sim$conf_int[["lower"]], 6)))
  # One iteration has a mean but no interval, and says so.
  expect_output(print(simulate_local(100, 100, 10, 1, seed = 1)),
                "a confidence interval needs 2 or more iterations")
  s <- summary(sim)
  expect_s3_class(s, "summary.sagesim_simulation")
  expect_identical(s$statistics[["mean"]], sim$mean)
  expect_output(print(s), "per-iteration values")
  df <- as.data.frame(sim)
  expect_identical(names(df), c("iteration", "violations_per_person"))
  expect_equal(df$iteration, 1:200)
  expect_identical(df$violations_per_person, sim$values)
  part <- as.data.frame(simulate_local(1000, 1000, 1000, 200, seed = 42, iterations = 51:60))
  expect_identical(part$violations_per_person, sim$values[51:60])
  file <- tempfile(fileext = ".pdf")
  grDevices::pdf(file)
  expect_invisible(plot(sim))
  grDevices::dev.off()
  expect_gt(file.size(file), 1000)
})

test_that("a running simulation stops promptly on interrupt and R stays usable", {
  skip_on_os("windows")
  before <- proc.time()
  # A real SIGINT, as Ctrl-C sends, arriving while the Rust work runs.
  system(sprintf("sleep 1 && kill -INT %d", Sys.getpid()), wait = FALSE)
  outcome <- tryCatch(
    simulate_local(1e5, 1e5, 1e6, 1e6, seed = 1, threads = 2, progress = FALSE),
    interrupt = function(e) "interrupted"
  )
  stopped <- proc.time()
  expect_identical(outcome, "interrupted")
  expect_lt((stopped - before)[["elapsed"]], 1 + 2)
  # The workers have stopped: no CPU is burnt while R sleeps.
  Sys.sleep(1)
  after <- proc.time()
  burnt <- (after - stopped)[["user.self"]] + (after - stopped)[["sys.self"]]
  expect_lt(burnt, 0.5)
  expect_s3_class(simulate_local(10, 10, 5, 3, seed = 1), "sagesim_simulation")
})

test_that("a spec runs as it is, and not together with loose parameters", {
  spec <- simulation_spec(300, 200, 100, 50, distance = 4, seed = 12)
  expect_identical(simulate_local(spec)$values, simulate_local(300, 200, 100, 50, 4, seed = 12)$values)
  expect_identical(simulate_local(spec, iterations = 11:20)$values,
                   simulate_local(spec)$values[11:20])
  error <- tryCatch(simulate_local(spec, seed = 1), error = identity)
  expect_s3_class(error, "sagesim_invalid_argument")
  expect_identical(error$argument, "seed")
})

# Pinned results: the same spec and seed give these exact values on any
# machine (portable or vectorised code paths), with any threads, in any
# version. Changing how a seed maps to random numbers is a breaking change
# (NEWS), made here on purpose. Values are pair counts (value * n / 2) and
# the mean's bits (sprintf("%a")); a value is exactly 2 * pairs / n.
test_that("results repeat exactly: pinned values", {
  golden <- list(
    list(spec = simulation_spec(1000, 1000, 1000, 20, seed = 42),
         pairs = c(64, 63, 63, 62, 57, 59, 54, 47, 72, 64, 63, 44, 57, 58, 58, 58, 69, 53, 65, 60),
         mean = "0x1.e76c8b439581p-4"),
    list(spec = simulation_spec(123.5, 67.25, 300, 20, distance = 2.5, seed = 2^31 - 1),
         pairs = c(102, 102, 109, 90, 87, 100, 99, 123, 99, 123, 100, 118, 103, 110, 110, 109, 116,
                   115, 101, 103),
         mean = "0x1.69a485cd7b901p-1"),
    list(spec = simulation_spec(50, 50, 2000, 20, seed = 2^53),
         pairs = c(80872, 82254, 81082, 81044, 81014, 82503, 81078, 82268, 82388, 80711, 82538, 81255,
                   82284, 81674, 82853, 81161, 82572, 80962, 80863, 81168),
         mean = "0x1.468240b780347p+6"),
    list(spec = simulation_spec(10, 10, 1, 20, seed = 0),
         pairs = rep(0, 20), mean = "0x0p+0")
  )
  for (case in golden) {
    n <- case$spec$num_people
    for (threads in c(1, 2)) {
      sim <- simulate_local(case$spec, threads = threads)
      expect_identical(sim$values, 2 * case$pairs / n, info = sagesim:::describe_spec(case$spec))
      expect_identical(sprintf("%a", sim$mean), case$mean, info = sagesim:::describe_spec(case$spec))
    }
  }
})
