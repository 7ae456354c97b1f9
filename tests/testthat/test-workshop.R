# The workshop's script (fixtures/workshop.R), unchanged, wherever a job
# runs: its arguments after --args, a doParallel cluster, and its answer
# written to /opt/ml/processing/output/output_result_mean.txt.

workshop <- list(x_length = 100, y_length = 100, num_people = 100, max_iterations = 300)
workshop_arguments <- as.character(unlist(workshop))
workshop_output <- c(result = "/opt/ml/processing/output")

# The answer is a mean of random iterations: within 5 standard errors of
# the exact expectation (the standard error from sagesim's run of the model).
expect_workshop_answer <- function(files) {
  expect_s3_class(files, "sagesim_job_files")
  expect_true("result/output_result_mean.txt" %in% files$files$file)
  expected <- expected_violations(workshop$x_length, workshop$y_length, workshop$num_people)
  se <- simulate_local(workshop$x_length, workshop$y_length, workshop$num_people,
                       workshop$max_iterations, seed = 1)$se
  expect_lt(abs(files$result_mean - expected), 5 * se)
}

workshop_script <- function() test_path("fixtures", "workshop.R")

test_that("the workshop script runs unchanged as a 1-host and a 2-host local job", {
  skip_without_workshop_packages()
  skip_without_mount_namespace()
  use_temp_job_dir()
  before <- opt_listing()
  for (hosts in 1:2) {
    # Two hosts both write output_result_mean.txt: one copy is kept, with a warning.
    expect_warning_if <- if (hosts > 1) function(x) expect_warning(x, class = "sagesim_output_overwritten") else identity
    expect_warning_if(output <- capture.output(job <- submit_processing(
      code = workshop_script(), arguments = workshop_arguments, instance_type = "local",
      instance_count = hosts, outputs = workshop_output)))
    expect_identical(job$runner$mode, "namespace")
    expect_true(any(grepl("^\\[algo-1\\] mean violations per person: .* over 300 iterations", output)))
    expect_workshop_answer(job_collect(job, path = file.path(withr::local_tempdir(), "out")))
    # Every host wrote its answer where the script says.
    for (host in job$hosts) {
      expect_true(file.exists(file.path(job$dir, "hosts", host, "opt", "ml", "processing", "output",
                                        "output_result_mean.txt")))
    }
  }
  expect_identical(opt_listing(), before)
})

test_that("the workshop script runs unchanged as a cloud job (hosts played on this machine)", {
  skip_without_workshop_packages()
  skip_without_mount_namespace("bwrap")
  local_moto()
  play_jobs()
  session <- aws_session(role = "arn:aws:iam::123456789012:role/SageMakerRole")
  output <- capture.output(job <- submit_processing(
    code = workshop_script(), arguments = workshop_arguments, instance_count = 2,
    image_uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/sagesim:workshop",
    outputs = workshop_output, session = session))
  expect_identical(job_status(job)$status, "Completed")
  expect_true(any(grepl("^\\[algo-2\\] mean violations per person", output)))
  expect_workshop_answer(job_collect(job, path = file.path(withr::local_tempdir(), "out")))
})

test_that("the workshop script runs unchanged in the image built with packages = \"doParallel\"", {
  image <- Sys.getenv("SAGESIM_TEST_IMAGE")
  if (!nzchar(image)) skip("SAGESIM_TEST_IMAGE names no image (tools/container/check.sh sets it)")
  withr::local_options(sagesim.container_engine = Sys.getenv("SAGESIM_TEST_LOCAL_ENGINE", "buildah"))
  use_temp_job_dir()
  expect_warning(output <- capture.output(job <- submit_processing(
    code = workshop_script(), arguments = workshop_arguments, image_uri = image,
    instance_type = "local", instance_count = 2, outputs = workshop_output)),
    class = "sagesim_output_overwritten")
  expect_identical(job$runner$mode, "container")
  expect_true(any(grepl("^\\[algo-2\\] mean violations per person", output)))
  expect_workshop_answer(job_collect(job, path = file.path(withr::local_tempdir(), "out")))
  # Without the package the image fails the job, saying what is missing.
  base <- Sys.getenv("SAGESIM_TEST_BASE_IMAGE")
  if (nzchar(base)) {
    error <- tryCatch(submit_processing(code = workshop_script(), arguments = workshop_arguments,
                                        image_uri = base, instance_type = "local", logs = FALSE),
                      error = identity)
    expect_s3_class(error, "sagesim_job_failed")
    expect_match(paste(job_logs(error$job)$message, collapse = "\n"), "no package called .foreach.")
  }
})
