# The table of job settings (R/settings.R) is what every entry point reads.

test_that("the submit functions default each job setting as the table does", {
  defaults <- sagesim:::job_setting_defaults()
  for (fun in c("submit_processing", "submit_map")) {
    formals <- formals(getExportedValue("sagesim", fun))
    for (name in intersect(names(defaults), names(formals))) {
      expect_identical(eval(formals[[name]], baseenv()), defaults[[name]],
                       info = sprintf("%s(%s)", fun, name))
    }
  }
  expect_identical(defaults$max_runtime, 86400)
  expect_identical(defaults$instance_type, "local")
})

test_that("a bound of the table holds on every path that takes the setting", {
  withr::local_options(sagesim.job_dir = withr::local_tempdir())
  bounds <- list(volume_size_gb = c(0, 16385), max_runtime = c(0, 777601),
                 instance_count = c(0, 101))
  for (name in names(bounds)) {
    for (value in bounds[[name]]) {
      args <- stats::setNames(list(value), name)
      expect_error(do.call(submit_processing, c(list(simulation = simulation_spec(10, 10, 2, 1),
                                                     wait = FALSE), args)),
                   class = "sagesim_invalid_argument")
      expect_error(do.call(submit_map, c(list(1:2, identity, wait = FALSE), args)),
                   class = "sagesim_invalid_argument")
      if (name != "instance_count") {
        expect_error(do.call(sagesim:::check_future_settings, list(args)),
                     class = "sagesim_invalid_argument")
      }
    }
  }
  # (Ends inside the bounds are taken.)
  expect_silent(sagesim:::check_future_settings(list(volume_size_gb = 16384, max_runtime = 777600)))
  expect_length(list.files(getOption("sagesim.job_dir")), 0)
})

test_that("an instance type without its ml. prefix is told the likely fix, in words", {
  error <- expect_error(submit_processing(simulation = simulation_spec(10, 10, 2, 1),
                                          instance_type = "m5.xlarge", wait = FALSE),
                        class = "sagesim_invalid_argument")
  expect_match(conditionMessage(error), "Did you mean \"ml.m5.xlarge\"?", fixed = TRUE)
  expect_false(grepl("^", conditionMessage(error), fixed = TRUE))
  error <- expect_error(job_name_from_base("my_job"), class = "sagesim_invalid_argument")
  expect_match(conditionMessage(error), "letters, digits and hyphens")
  expect_match(conditionMessage(error), "\"my-job\"", fixed = TRUE)
})

test_that("argument errors say what is expected in words, never as a regular expression", {
  script <- withr::local_tempfile(fileext = ".R", lines = "1")
  calls <- list(
    quote(aws_session(region = "US East")), quote(aws_session(bucket = "My_Bucket")),
    quote(aws_session(endpoint_url = "localhost:5000")),
    quote(processing_input(tempdir(), name = "bad name!")),
    bquote(submit_processing(code = .(script), env = c(`1BAD` = "x"))),
    bquote(submit_processing(code = .(script), instance_type = "big")),
    quote(job_name_from_base("my_job")),
    quote(update_sagemaker_prices(index_url = "ftp://x")))
  for (call in calls) {
    error <- tryCatch(eval(call), error = identity)
    expect_s3_class(error, "sagesim_invalid_argument")
    message <- conditionMessage(error)
    expect_false(grepl("[\\^$]|\\[[a-zA-Z]-|\\{[0-9]", message), info = message)
    expect_match(message, "e\\.g\\.|such as|URL|letters", info = message)
  }
})
