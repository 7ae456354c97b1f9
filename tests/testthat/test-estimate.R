# What jobs will cost before they exist (`estimate = TRUE`), and the budget
# that refuses a job whose estimate exceeds it; nothing is created either way.

test_that("a local estimate creates nothing and grows with the work", {
  dir <- use_temp_job_dir()
  small <- submit_processing(simulation = simulation_spec(1000, 1000, 1000, 2000, seed = 1),
                             instance_count = 2, estimate = TRUE)
  expect_s3_class(small, "sagesim_estimate")
  expect_identical(list.files(dir, recursive = TRUE, all.files = TRUE), character())
  expect_true(small$local)
  expect_identical(small$usd, 0)
  expect_gt(small$host_seconds, 0)
  expect_equal(small$elapsed_seconds, small$startup_seconds + small$host_seconds)
  expect_equal(small$instance_hours, 2 * small$billed_seconds / 3600)
  # Ten times the iterations of the same room: ten times the compute (the
  # room's speed is measured once per session).
  large <- submit_processing(simulation = simulation_spec(1000, 1000, 1000, 20000, seed = 1),
                             instance_count = 2, estimate = TRUE)
  expect_equal(large$compute_seconds / small$compute_seconds, 10, tolerance = 1e-9)
  expect_equal(large$write_seconds / small$write_seconds, 10, tolerance = 1e-9)
  # Ten times the people at the same density: about ten times the work per
  # iteration, as the room's own calibration run finds.
  crowd <- submit_processing(simulation = simulation_spec(3162, 3162, 10000, 2000, seed = 1),
                             instance_count = 2, estimate = TRUE)
  expect_gt(crowd$compute_seconds / small$compute_seconds, 3)
  expect_lt(crowd$compute_seconds / small$compute_seconds, 30)
  expect_output(print(large), "a simulation job on this machine, 2 hosts")
  expect_output(print(large), "cost:      nothing on AWS")
  # A sweep adds up its cells' work.
  grid <- simulation_grid(x_length = 1000, y_length = 1000, num_people = 1000,
                          max_iterations = c(2000, 20000), seed = 1)
  sweep <- submit_processing(simulation = grid, instance_count = 2, estimate = TRUE)
  expect_equal(sweep$compute_seconds, small$compute_seconds + large$compute_seconds,
               tolerance = 1e-9)
  # Spread over this machine's cores.
  expect_equal(sweep$host_seconds, (sweep$compute_seconds + sweep$write_seconds) / sweep$threads,
               tolerance = 1e-9)
  expect_identical(list.files(dir, recursive = TRUE, all.files = TRUE), character())
  expect_error(submit_processing(simulation = grid, estimate = "yes"), class = "sagesim_invalid_argument")
})

test_that("a SageMaker estimate asks AWS nothing: work over vCPUs, plus start-up, at the table's price", {
  local_moto()
  withr::local_options(sagesim.startup_seconds = 120)
  spec <- simulation_spec(1000, 1000, 1000, 1e6, seed = 1)
  estimate <- submit_processing(simulation = spec, image_uri = image, role = role,
                                instance_count = 4, instance_type = "ml.m5.xlarge",
                                estimate = TRUE)
  expect_length(recorded_requests(), 0)
  price <- sagesim:::price_of("ml.m5.xlarge", "us-east-1")
  expect_true(price$known)
  expect_identical(estimate$region, "us-east-1")
  expect_identical(estimate$threads, price$vcpu)
  # The work on one thread of this machine, divided among 4 hosts and over
  # each one's 4 vCPUs; each host writes its share of the results.
  expect_gt(estimate$compute_seconds, 0)
  expect_equal(estimate$host_seconds,
               (estimate$compute_seconds / 4 + estimate$write_seconds) / 4, tolerance = 1e-9)
  one_host <- submit_processing(simulation = spec, image_uri = image, instance_count = 1,
                                instance_type = "ml.m5.xlarge", estimate = TRUE)
  expect_equal(estimate$host_seconds, one_host$host_seconds / 4, tolerance = 1e-9)
  expect_identical(estimate$startup_seconds, 120)
  expect_equal(estimate$instance_hours, 4 * (120 + estimate$host_seconds) / 3600)
  expect_equal(estimate$usd, estimate$instance_hours * price$usd_per_hour)
  expect_output(print(estimate), "about \\$[0-9.]+ at \\$0.230/h")
  expect_output(print(estimate), "per host: ")
  # An instance type the table does not know: instance-hours, price unknown, 1 vCPU assumed.
  unknown <- submit_processing(simulation = spec, image_uri = image, instance_count = 4,
                               instance_type = "ml.c7i.xlarge", estimate = TRUE)
  expect_identical(unknown$usd, NA_real_)
  expect_equal(unknown$host_seconds, (unknown$compute_seconds + unknown$write_seconds) / 4,
               tolerance = 1e-9)
  expect_output(print(unknown), "price unknown for ml.c7i.xlarge in us-east-1")
  expect_output(print(unknown), "vCPUs of ml.c7i.xlarge unknown: 1 assumed")
  # A script: the price of its maximum runtime on every host, an upper bound.
  script <- submit_processing(code = local_script(), image_uri = image, instance_count = 3,
                              instance_type = "ml.m5.xlarge", max_runtime = 7200, estimate = TRUE)
  expect_true(script$upper_bound)
  expect_equal(script$instance_hours, 3 * 2)
  expect_equal(script$usd, 6 * price$usd_per_hour)
  expect_output(print(script), "at most \\$")
  expect_length(recorded_requests(), 0)
})

test_that("a map estimate times `f` on a few elements here, leaving R's generator and the disk alone", {
  dir <- use_temp_job_dir()
  calls <- new.env()
  calls$elements <- integer()
  f <- function(i) {
    calls$elements <- c(calls$elements, i)
    Sys.sleep(0.05)
    runif(1)
  }
  set.seed(7)
  before <- .Random.seed
  estimate <- submit_map(1:40, f, seed = 3, instance_count = 4, estimate = TRUE)
  expect_identical(.Random.seed, before)
  expect_identical(list.files(dir, recursive = TRUE, all.files = TRUE), character())
  # Three elements, spread over x, each run once.
  expect_identical(sort(calls$elements), c(1L, 20L, 40L))
  # Each host's ten elements at the pilot's speed, or all forty on this
  # machine's free cores, whichever takes longer.
  expect_gte(estimate$host_seconds, 10 * 0.05)
  expect_lt(estimate$host_seconds, 40 * 0.05 * 3)
  expect_output(print(estimate), "median of 3 elements run here as a pilot")
  withr::local_options(sagesim.pilot_elements = 1)
  calls$elements <- integer()
  submit_map(1:40, f, seed = 3, estimate = TRUE)
  expect_length(calls$elements, 1)
})

test_that("a budget refuses a SageMaker job over it before anything is uploaded or created", {
  local_moto()
  spec <- simulation_spec(1000, 1000, 1000, 1e5, seed = 1)
  error <- tryCatch(
    submit_processing(simulation = spec, image_uri = image, role = role, instance_count = 2,
                      instance_type = "ml.m5.xlarge", budget = 0.001),
    error = identity)
  expect_s3_class(error, "sagesim_over_budget")
  expect_s3_class(error$estimate, "sagesim_estimate")
  expect_gt(error$estimate$usd, 0.001)
  expect_match(conditionMessage(error), "over the budget of \\$0.001. Nothing was created.")
  expect_length(recorded_requests(), 0)
  # Within budget: the job is created.
  job <- submit_processing(simulation = spec, image_uri = image, role = role,
                           instance_type = "ml.m5.xlarge", budget = 100, wait = FALSE)
  expect_length(recorded_sagemaker("CreateProcessingJob"), 1)
  # A price the table does not have cannot be held to a budget.
  expect_error(submit_processing(simulation = spec, image_uri = image, role = role,
                                 instance_type = "ml.c7i.xlarge", budget = 100),
               class = "sagesim_budget_unknown")
  # The option is every submission's default, resubmissions' too, and maps'.
  withr::local_options(sagesim.budget = 0.001)
  expect_error(job_resubmit(job, wait = FALSE), class = "sagesim_over_budget")
  before <- length(recorded_requests())
  expect_error(submit_map(1:1000, function(i) Sys.sleep(0.01), image_uri = image, role = role,
                          instance_type = "ml.m5.xlarge"),
               class = "sagesim_over_budget")
  # The map was refused before its payload went up: nothing was asked of AWS.
  expect_length(recorded_requests(), before)
  expect_length(recorded_sagemaker("CreateProcessingJob"), 1)
  # An estimate shows the budget it would be held to.
  estimate <- submit_processing(simulation = spec, image_uri = image, instance_type = "ml.m5.xlarge",
                                estimate = TRUE)
  expect_output(print(estimate), "budget:    \\$0.001 \\(over\\)")
  # Local jobs cost nothing on AWS: a budget does not stop them.
  use_temp_job_dir()
  local_job <- submit_processing(simulation = simulation_spec(100, 100, 50, 20, seed = 1),
                                 instance_type = "local", budget = 0, logs = FALSE)
  expect_identical(job_status(local_job)$status, "Completed")
  expect_error(submit_processing(simulation = spec, budget = -1, estimate = TRUE),
               class = "sagesim_invalid_argument")
  expect_error(submit_processing(simulation = spec, budget = "10", estimate = TRUE),
               class = "sagesim_invalid_argument")
})

test_that("a budget that only max_runtime exceeds says which max_runtime fits; unknown prices may pass", {
  local_moto()
  script <- local_script("cat('ok\\n')")
  # ml.m5.xlarge in us-east-1, 24 h on one host: over $5.
  error <- tryCatch(submit_processing(code = script, image_uri = image, role = role,
                                      instance_type = "ml.m5.xlarge", budget = 5),
                    error = identity)
  expect_s3_class(error, "sagesim_over_budget")
  estimate <- error$estimate
  fits <- floor(5 / estimate$usd_per_hour * 3600)
  expect_match(conditionMessage(error), sprintf("`max_runtime = %s`", fits), fixed = TRUE)
  expect_length(recorded_requests(), 0)
  # That max_runtime is within the budget: the job is created.
  job <- submit_processing(code = script, image_uri = image, role = role,
                           instance_type = "ml.m5.xlarge", budget = 5, max_runtime = fits,
                           wait = FALSE)
  expect_length(recorded_sagemaker("CreateProcessingJob"), 1)
  # An unknown price says how to supply it, and may be let through.
  error <- tryCatch(submit_processing(code = script, image_uri = image, role = role,
                                      instance_type = "ml.c7i.xlarge", budget = 5),
                    error = identity)
  expect_s3_class(error, "sagesim_budget_unknown")
  expect_match(conditionMessage(error), "update_sagemaker_prices()", fixed = TRUE)
  expect_match(conditionMessage(error), "sagesim.unknown_price", fixed = TRUE)
  withr::local_options(sagesim.unknown_price = "allow")
  expect_message(submit_processing(code = script, image_uri = image, role = role,
                                   instance_type = "ml.c7i.xlarge", budget = 5, wait = FALSE),
                 "runs anyway")
  expect_length(recorded_sagemaker("CreateProcessingJob"), 2)
})

test_that("a map's estimate counts shipping its payload to every host", {
  use_temp_job_dir()
  big <- runif(1e6)   # 8 MB
  f <- function(i) big[[i]]
  withr::local_options(sagesim.transfer_rate = 1e6)
  estimate <- submit_map(1:4, f, instance_count = 2, estimate = TRUE)
  expect_gte(estimate$host_seconds, 8)
  expect_output(print(estimate), "8 MB to ship, about 8.0 s at 1 MB/s", fixed = TRUE)
  withr::local_options(sagesim.transfer_rate = 1e9)
  expect_lt(submit_map(1:4, f, instance_count = 2, estimate = TRUE)$host_seconds, 1)
})

test_that("a script's estimate shows its likely cost beside the bound, from its local run", {
  local_moto()
  withr::local_options(sagesim.startup_seconds = 60)
  script <- withr::local_tempfile(fileext = ".R", lines = "Sys.sleep(2)")
  before <- submit_processing(code = script, image_uri = image, instance_count = 2,
                              instance_type = "ml.m5.xlarge", estimate = TRUE)
  expect_null(before$likely$usd)
  expect_output(print(before), "likely:    not known before the script has run")
  rehearsal <- submit_processing(code = script, instance_type = "local", logs = FALSE)
  after <- submit_processing(code = script, image_uri = image, instance_count = 2,
                             instance_type = "ml.m5.xlarge", estimate = TRUE)
  expect_identical(after$likely$job, rehearsal$name)
  expect_gte(after$likely$seconds, 2)
  expect_lt(after$likely$seconds, 30)
  price <- sagesim:::price_of("ml.m5.xlarge", "us-east-1")$usd_per_hour
  expect_equal(after$likely$usd, 2 * (60 + after$likely$seconds) / 3600 * price)
  # Beside the bound, which stays max_runtime's.
  expect_true(after$upper_bound)
  expect_lt(after$likely$usd, after$usd)
  expect_output(print(after), sprintf("its local run %s did on this machine", rehearsal$name), fixed = TRUE)
  # A budget the bound exceeds says the likely cost too.
  refused <- expect_error(submit_processing(code = script, image_uri = image, instance_count = 2,
                                            instance_type = "ml.m5.xlarge", budget = 1),
                          class = "sagesim_over_budget")
  expect_match(conditionMessage(refused), "Likely: about", fixed = TRUE)
})
