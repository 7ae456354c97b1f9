# The job record: written once at submission, the only description of a
# job that sagesim reads back.

test_that("a local job's folder holds its record, the one thing attaching reads", {
  use_temp_job_dir()
  grid <- simulation_grid(x_length = c(100, 200), y_length = 100, num_people = 20,
                          max_iterations = 30, seed = 2^53)
  job <- submit_processing(simulation = grid, instance_type = "local", instance_count = 2,
                           env = c(A = "1"), tags = c(t = "v"), max_runtime = 999, logs = FALSE)
  record <- jsonlite::fromJSON(file.path(job$dir, "job.json"), simplifyVector = FALSE)
  expect_identical(record$format, "sagesim-job/1")
  expect_identical(record$sagesim_version, as.character(packageVersion("sagesim")))
  expect_identical(record$work$kind, "sweep")
  expect_identical(record$work$grid$seed, "9007199254740992")
  expect_identical(record$plan$max_runtime, 999L)
  expect_identical(record$plan$env, list(A = "1"))
  expect_identical(record$hosts$mode, job$runner$mode)
  # What the job is comes from the record, not from its command line: with
  # the worker's arguments scrambled, the job still attaches and collects as
  # the sweep it is.
  record$plan$arguments <- list("--nonsense")
  writeLines(jsonlite::toJSON(record, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"),
             file.path(job$dir, "job.json"))
  again <- job_attach(job$name)
  expect_identical(again$kind, "sweep")
  expect_identical(again$seed, 2^53)
  expect_identical(job_collect(again)$cells$mean, simulate_local(grid)$cells$mean)
  # A record that is not one is an error saying so, not a guess.
  writeLines('{"format": "sagesim-job/1", "work": {"kind": "mystery"}}',
             file.path(job$dir, "job.json"))
  expect_error(job_attach(job$name), class = "sagesim_record_error")
})

test_that("a cloud job's record is found from its name alone, in a new session", {
  local_moto()
  session <- aws_session(role = role)
  job <- submit_map(letters[1:5], toupper, seed = -7, instance_count = 2, instance_type = "ml.m5.large",
                    image_uri = image, wait = FALSE, session = session, env = c(K = "v"))
  keys <- bucket_keys(session, paste0(job$name, "/input/"))
  expect_true(sprintf("%s/input/sagesim-job.json", job$name) %in% keys)
  # A new R session knows nothing but the name.
  cache <- sagesim:::session_cache
  cache$default <- NULL
  again <- job_attach(job$name)
  expect_identical(again$kind, "map")
  expect_identical(again$seed, -7)
  expect_identical(again$elements, 5L)
  expect_identical(again$record$plan$env, list(K = "v"))
  expect_identical(again$record$work$payload,
                   sprintf("s3://%s/%s/input/map/payload.rds", session$bucket, job$name))
  expect_identical(list_jobs(details = TRUE)$kind, "map")
})

test_that("the record of every kind of job round-trips exactly", {
  use_temp_job_dir()
  spec <- simulation_spec(1000, 800, 300, 10, distance = 2.5, seed = 2^53 - 1)
  job <- submit_processing(simulation = spec, instance_type = "local", logs = FALSE)
  expect_identical(sagesim:::record_simulation(job$record), spec)
  expect_identical(job_attach(job$name)$seed, 2^53 - 1)
  script <- submit_processing(code = local_script(), instance_type = "local", logs = FALSE)
  expect_identical(script$kind, "script")
  expect_identical(script$record$work$code, normalizePath(script$record$work$code))
  map <- submit_map(1:3, sqrt, seed = 4L, logs = FALSE)
  expect_identical(map$record$work[c("kind", "elements", "seed")],
                   list(kind = "map", elements = 3L, seed = 4L))
})
