# Porting from the Python SDK's ScriptProcessor (issue "porting in
# minutes"): its names and forms meet a clear answer, not R's bare
# "unused argument".

test_that("ScriptProcessor's names and typos are refused with sagesim's name", {
  withr::local_options(sagesim.job_dir = withr::local_tempdir())
  script <- withr::local_tempfile(fileext = ".R", lines = "cat('ok\\n')")
  cases <- list(
    list(call = quote(submit_processing(code = script, volume_size_in_gb = 5)),
         says = "`volume_size_in_gb` (ScriptProcessor's name; sagesim's is `volume_size_gb`)"),
    list(call = quote(submit_processing(code = script, max_runtime_in_seconds = 60)),
         says = "`max_runtime_in_seconds` (ScriptProcessor's name; sagesim's is `max_runtime`)"),
    list(call = quote(submit_processing(code = script, instance_cont = 2)),
         says = "`instance_cont` (did you mean `instance_count`?)"),
    list(call = quote(submit_processing(code = script, sagemaker_session = NULL)),
         says = "sagesim's is `session`"),
    list(call = quote(simulation_spec(10, 10, 2, 5, sed = 3)), says = "did you mean `seed`?"),
    list(call = quote(processing_input(script, destinaton = "/opt/ml/processing/input/x")),
         says = "did you mean `destination`?"),
    list(call = quote(list_jobs(nme_contains = "x")), says = "did you mean `name_contains`?"),
    list(call = quote(aws_session(regoin = "us-east-1")), says = "did you mean `region`?"),
    list(call = quote(job_attach("x", sesion = NULL)), says = "did you mean `session`?"),
    list(call = quote(expected_violations(10, 10, 5, distanse = 2)), says = "did you mean `distance`?"),
    list(call = quote(job_name_from_base("a", tme = Sys.time())), says = "did you mean `time`?"),
    list(call = quote(read_simulation_results(pth = ".")), says = "did you mean `path`?"),
    list(call = quote(sagemaker_prices(region = "x")), says = "sagemaker_prices() has no argument `region`"),
    list(call = quote(build_image(packages = "x", tga = "a:b")), says = "did you mean `tag`?"),
    list(call = quote(publish_image(repositry = "x")), says = "did you mean `repository`?"),
    list(call = quote(last_dopar_job(n = 2)), says = "last_dopar_job() has no argument `n`"),
    list(call = quote(job_status("x", poll = 1)), says = "job_status() has no argument `poll`"))
  for (case in cases) {
    error <- expect_error(eval(case$call), class = "sagesim_unknown_argument")
    expect_s3_class(error, "sagesim_invalid_argument")
    expect_match(conditionMessage(error), case$says, fixed = TRUE)
  }
  # Refused before anything was made.
  expect_length(list.files(getOption("sagesim.job_dir")), 0)
})

# A script that writes the arguments it was given to its "args" output.
args_script <- function(env = parent.frame()) {
  withr::local_tempfile(fileext = ".R", .local_envir = env, lines = c(
    "args <- commandArgs(trailingOnly = TRUE)",
    "writeLines(args, file.path('/opt/ml/processing/output/args', 'args.txt'))"))
}

test_that("the reticulate form of arguments, a list of strings, is taken as a character vector", {
  withr::local_options(sagesim.job_dir = withr::local_tempdir())
  script <- args_script()
  out <- withr::local_tempdir()
  job <- submit_processing(code = script, arguments = list("--max_iterations", 10000L),
                           outputs = processing_output("/opt/ml/processing/output/args", out,
                                                       name = "args"), logs = FALSE)
  expect_identical(job_status(job)$status, "Completed")
  expect_identical(readLines(file.path(out, "args.txt")), c("--max_iterations", "10000"))
  expect_identical(job$record$plan$arguments, list("--max_iterations", "10000"))
})

test_that("job_resubmit() runs a script again with new arguments, and only a script", {
  withr::local_options(sagesim.job_dir = withr::local_tempdir())
  script <- args_script()
  first_out <- withr::local_tempdir()
  job <- submit_processing(code = script, arguments = c("--n", "1"),
                           outputs = processing_output("/opt/ml/processing/output/args",
                                                       first_out, name = "args"),
                           logs = FALSE)
  again <- job_resubmit(job, arguments = c("--n", "2"), logs = FALSE)
  expect_identical(job_status(again)$status, "Completed")
  expect_identical(again$record$plan$arguments, list("--n", "2"))
  expect_identical(readLines(file.path(first_out, "args.txt")), c("--n", "2"))
  sim <- submit_processing(simulation = simulation_spec(10, 10, 3, 4, seed = 1), logs = FALSE)
  expect_error(job_resubmit(sim, arguments = "2"), "script job", class = "sagesim_invalid_argument")
  expect_error(job_resubmit(job, instance_cont = 2), "did you mean `instance_count`",
               class = "sagesim_unknown_setting")
})

test_that("job_resubmit() gives a SageMaker script job new arguments too (hosts played here)", {
  local_moto()
  session <- aws_session(role = role)
  play_jobs()
  script <- args_script()
  job <- submit_processing(code = script, arguments = c("--n", "1"), image_uri = image,
                           outputs = c(args = "/opt/ml/processing/output/args"), session = session,
                           logs = FALSE)
  again <- job_resubmit(job, arguments = c("--n", "2"), logs = FALSE)
  expect_identical(job_status(again)$status, "Completed")
  created <- recorded_sagemaker("CreateProcessingJob")
  expect_length(created, 2)
  arguments <- function(request) as.character(unlist(request$AppSpecification$ContainerArguments))
  expect_identical(arguments(created[[1]]), c("--n", "1"))
  expect_identical(arguments(created[[2]]), c("--n", "2"))
  # Its own output, read back from S3.
  out <- withr::local_tempdir()
  files <- job_collect(again, path = out)
  expect_identical(readLines(file.path(out, "args", "args.txt")), c("--n", "2"))
  # Attached from its name, as a new session would: the arguments are the new ones.
  expect_identical(job_attach(again$name, session = session)$record$plan$arguments, list("--n", "2"))
})

test_that("a misspelt setting given to an f that takes ... is warned about, and still reaches f", {
  withr::local_options(sagesim.job_dir = withr::local_tempdir())
  f <- function(i, ...) list(...)$instance_cont
  expect_warning(job <- submit_map(1:2, f, instance_cont = 2, logs = FALSE),
                 "did you mean `instance_count`", class = "sagesim_misspelt_setting")
  expect_identical(job_collect(job), list(2, 2))
  expect_no_warning(submit_map(1:2, f, extra = 2, logs = FALSE))
})

test_that("a local job whose code needs a package this machine lacks is refused at submission", {
  withr::local_options(sagesim.job_dir = withr::local_tempdir())
  script <- withr::local_tempfile(fileext = ".R", lines = c(
    "library(stats)", "suppressPackageStartupMessages(library(notapkgxyz))", "y <- mtcars[, 1]",
    "x <- otherpkgq::f(1)", "requireNamespace('jsonlite')"))
  expect_identical(sort(sagesim:::script_packages(script)),
                   sort(c("stats", "notapkgxyz", "otherpkgq", "jsonlite")))
  error <- expect_error(submit_processing(code = script, logs = FALSE),
                        class = "sagesim_missing_package")
  expect_identical(error$packages, c("notapkgxyz", "otherpkgq"))
  expect_match(conditionMessage(error), "install.packages(c(\"notapkgxyz\", \"otherpkgq\"))",
               fixed = TRUE)
  expect_length(list.files(getOption("sagesim.job_dir")), 0)
  # (Written as text: R CMD check would look for the package in `::` code.)
  f <- eval(parse(text = "function(i) notapkgxyz::g(i)"))
  error <- expect_error(submit_map(1:2, f, logs = FALSE), class = "sagesim_missing_package")
  expect_match(conditionMessage(error), "install.packages(\"notapkgxyz\")", fixed = TRUE)
})

test_that("a host missing a package names the fix where it runs: this machine, or the image", {
  payload <- withr::local_tempfile(fileext = ".rds")
  saveRDS(list(format = sagesim:::map_format, packages = "notapkgxyz"), payload)
  options <- list(map = payload, map_sha256 = sagesim:::payload_sha256(payload),
                  output_dir = withr::local_tempdir())
  config <- list(current_host = "algo-1", hosts = "algo-1")
  withr::with_envvar(c(SAGESIM_LOCAL_HOST = "true"), {
    error <- expect_error(sagesim:::map_worker_main(options, config), class = "sagesim_map_error")
    expect_match(conditionMessage(error), "install.packages(\"notapkgxyz\")", fixed = TRUE)
  })
  withr::with_envvar(c(SAGESIM_LOCAL_HOST = NA), {
    error <- expect_error(sagesim:::map_worker_main(options, config), class = "sagesim_map_error")
    expect_match(conditionMessage(error), "build_image(packages = \"notapkgxyz\")", fixed = TRUE)
  })
})
