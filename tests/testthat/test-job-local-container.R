# Local jobs given an image: each host runs in it with a container engine.
# The engines' command lines are checked exactly with stand-ins; real jobs
# run through buildah in the worker image when SAGESIM_TEST_IMAGE names one
# (tools/container/check.sh sets it after building the image).

script_job_in <- function(image, script, ...) {
  submit_processing(code = script, image_uri = image, instance_type = "local",
                    arguments = c("/opt/ml/processing/input/data", "two words"),
                    env = c(GREETING = "hello there"), ...)
}

for (engine in c("docker", "podman")) {
  test_that(sprintf("%s runs each host as SageMaker would, and removes its container", engine), {
    use_temp_job_dir()
    calls <- local_recording_engine(engine)
    withr::local_options(sagesim.container_engine = engine)
    script <- local_script()
    image <- "123456789012.dkr.ecr.eu-west-1.amazonaws.com/sagesim:v1"
    job <- script_job_in(image, script, instance_count = 2, logs = FALSE,
                         network = network_config(enable_network_isolation = TRUE))
    expect_identical(job_status(job)$status, "Completed")
    expect_identical(job$runner[c("mode", "engine")], list(mode = "container", engine = engine))
    recorded <- engine_calls(calls)
    environments <- engine_calls(calls, env = TRUE)
    for (host in c("algo-1", "algo-2")) {
      container <- sprintf("sagesim-%s-%s", job$name, host)
      root <- normalizePath(file.path(job$dir, "hosts", host, "opt", "ml"))
      run <- which(vapply(recorded, function(call) call[[1]] == "run" && container %in% call, NA))
      expect_length(run, 1)
      expect_identical(recorded[[run]], c(
        "run", "--rm", "--name", container, "--volume", paste0(root, ":/opt/ml"),
        "--network", "none", "--env", "GREETING",
        "--entrypoint", "Rscript", image,
        file.path("/opt/ml/processing/input/code", basename(script)),
        "/opt/ml/processing/input/data", "two words"
      ))
      # The engine hands the container the value it was given to pass.
      expect_true("GREETING=hello there" %in% environments[[run]])
      expect_true(list(c("rm", "-f", container)) %in% recorded)
    }
  })
}

test_that("buildah runs each host from a fresh container of the image, then removes it", {
  use_temp_job_dir()
  calls <- local_recording_engine("buildah")
  withr::local_options(sagesim.container_engine = "buildah")
  withr::local_envvar(BUILDAH_ISOLATION = NA)
  job <- submit_processing(simulation = simulation_spec(50, 50, 10, 20, seed = 2),
                           image_uri = "localhost/sagesim:packages", instance_type = "local",
                           logs = FALSE, wait = FALSE)
  job_wait(job, logs = FALSE, timeout = 20)
  container <- sprintf("sagesim-%s-algo-1", job$name)
  root <- normalizePath(file.path(job$dir, "hosts", "algo-1", "opt", "ml"))
  # The job's results key goes in as buildah takes variables: name=value.
  key <- sagesim:::secret_value(sagesim:::read_results_key(job$dir))
  expect_match(key, "^[0-9a-f]{64}$")
  expect_identical(engine_calls(calls), list(
    c("from", "--quiet", "--name", container, "localhost/sagesim:packages"),
    c("run", "--isolation", "chroot", "--volume", paste0(root, ":/opt/ml"),
      "--env", paste0("SAGESIM_RESULTS_KEY=", key), container, "--",
      "Rscript", "-e", "sagesim::run_worker()", sagesim:::worker_arguments(
        simulation_spec(50, 50, 10, 20, seed = 2), "/opt/ml/processing/output/simulation")),
    c("rm", container)
  ))
})

test_that("stopping a container job removes its containers and leaves no process", {
  use_temp_job_dir()
  calls <- local_recording_engine("podman", run_seconds = 60)
  withr::local_options(sagesim.container_engine = "podman")
  job <- script_job_in("localhost/sagesim:check", local_script(), instance_count = 2, wait = FALSE)
  Sys.sleep(1)
  expect_identical(job_status(job)$status, "InProgress")
  expect_stops(job)
  containers <- sprintf("sagesim-%s-%s", job$name, c("algo-1", "algo-2"))
  expect_true(list(c("rm", "-f", containers)) %in% engine_calls(calls))
  expect_no_host_left(job)
})

test_that("a local job in an image needs an engine, and says which are missing", {
  dir <- use_temp_job_dir()
  withr::local_options(sagesim.container_engine = NULL)
  withr::local_envvar(PATH = "/nonexistent")
  script <- local_script()
  expect_error(script_job_in("sagesim:latest", script), "docker, or podman, or buildah",
               class = "sagesim_engine_error")
  withr::local_options(sagesim.container_engine = "rkt")
  expect_error(script_job_in("sagesim:latest", script), class = "sagesim_invalid_argument")
  expect_length(list.files(file.path(dir, "local-jobs")), 0)
})

# --- real jobs in the worker image, through buildah ----------------------------

skip_without_test_image <- function() {
  image <- Sys.getenv("SAGESIM_TEST_IMAGE")
  if (!nzchar(image)) skip("SAGESIM_TEST_IMAGE names no image (tools/container/check.sh sets it)")
  withr::local_options(sagesim.container_engine = "buildah", .local_envir = parent.frame())
  image
}

test_that("a two-host simulation job in the image merges to exactly the local result", {
  image <- skip_without_test_image()
  use_temp_job_dir()
  spec <- simulation_spec(400, 300, 200, 150, seed = 8)
  output <- capture.output(job <- submit_processing(simulation = spec, image_uri = image,
                                                    instance_type = "local", instance_count = 2))
  expect_true(any(grepl("^\\[algo-2\\] .*algo-2 \\(host 2 of 2\\)", output)))
  expect_identical(job_collect(job)$values, simulate_local(spec)$values)
  expect_false(any(grepl(job$name, system2("buildah", c("containers", "--format", "{{.ContainerName}}"),
                                           stdout = TRUE))))
})

test_that("a failing script in the image fails the job with its message", {
  image <- skip_without_test_image()
  use_temp_job_dir()
  script <- local_script(c("writeLines('the model diverged', '/opt/ml/output/message')", "quit(status = 3)"))
  error <- tryCatch(submit_processing(code = script, image_uri = image, instance_type = "local",
                                      logs = FALSE),
                    error = identity)
  expect_s3_class(error, "sagesim_job_failed")
  expect_match(error$failure_reason, "algo-1 exited with status 3: the model diverged", fixed = TRUE)
})

test_that("stopping a job in the image ends its hosts and removes their containers", {
  image <- skip_without_test_image()
  use_temp_job_dir()
  job <- submit_processing(code = local_script("Sys.sleep(120)"), image_uri = image,
                           instance_type = "local", instance_count = 2, wait = FALSE)
  Sys.sleep(3)
  expect_identical(job_status(job)$status, "InProgress")
  expect_stops(job, timeout = 30)
  expect_no_host_left(job)
  # The hosts' run.sh remove their containers as they end.
  deadline <- Sys.time() + 20
  repeat {
    left <- grep(job$name, system2("buildah", c("containers", "--format", "{{.ContainerName}}"),
                                   stdout = TRUE), value = TRUE)
    if (length(left) == 0 || Sys.time() > deadline) break
    Sys.sleep(0.5)
  }
  expect_identical(left, character())
})

test_that("the packages given to build_image() are in the image, data.table among them", {
  image <- skip_without_test_image()
  use_temp_job_dir()
  script <- local_script(c(
    "library(data.table)",
    "counts <- data.table(host = jsonlite::fromJSON('/opt/ml/config/resourceconfig.json')$current_host, n = 1:3)",
    "fwrite(counts[, .(total = sum(n)), by = host], '/opt/ml/processing/output/counts/counts.csv')"))
  job <- submit_processing(code = script, image_uri = image, instance_type = "local", logs = FALSE,
                           outputs = c(counts = "/opt/ml/processing/output/counts"))
  files <- job_collect(job)
  expect_identical(readLines(file.path(files$path, "counts", "counts.csv")), c("host,total", "algo-1,6"))
})
