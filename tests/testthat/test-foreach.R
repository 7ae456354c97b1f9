# registerDoSageMaker(): %dopar% loops as one job each, returning what %do% would.

skip_if_not_installed("foreach")

# registerDoSageMaker(...) for the rest of the calling test, then the
# backend before it.
local_dosagemaker <- function(..., env = parent.frame()) {
  withr::defer(foreach::registerDoSEQ(), envir = env)
  registerDoSageMaker(...)
}

`%do%` <- foreach::`%do%`
`%dopar%` <- foreach::`%dopar%`

# The workshop's room (fixtures/workshop.R takes them after --args).
workshop <- list(x_length = 100, y_length = 100, num_people = 100, max_iterations = 300)
workshop_arguments <- as.character(unlist(workshop))

test_that("the workshop's script runs with registerDoSageMaker() in place of its cluster, identically on 1, 2 and 3 hosts", {
  skip_if_not_installed("doParallel")
  dir <- use_temp_job_dir()
  script <- readLines(test_path("fixtures", "workshop.R"))
  cluster <- grep("makeCluster|registerDoParallel", script)
  expect_length(cluster, 2)
  out <- withr::local_tempdir()
  run <- function(hosts) {
    changed <- c(script[seq_len(cluster[[1]] - 1)],
                 sprintf("cl <- sagesim::registerDoSageMaker(instance_count = %d, instance_type = \"local\")", hosts),
                 script[-seq_len(cluster[[2]])])
    # Run from an R session, not on a SageMaker host: the answer goes to a
    # file of the test, and the values are kept to be compared.
    changed <- sub("/opt/ml/processing/output/output_result_mean.txt",
                   file.path(out, sprintf("mean-%d.txt", hosts)), changed, fixed = TRUE)
    changed <- c(changed, sprintf("saveRDS(violations, \"%s\")", file.path(out, sprintf("values-%d.rds", hosts))))
    file <- file.path(out, sprintf("workshop-%d.R", hosts))
    writeLines(changed, file)
    log <- file.path(out, sprintf("log-%d.txt", hosts))
    setup <- sprintf("options(sagesim.job_dir = \"%s\", sagesim.wait_timeout = 300); set.seed(2024); source(\"%s\")",
                     dir, file)
    status <- withr::with_envvar(c(R_LIBS = paste(.libPaths(), collapse = ":")), system2(
      "timeout", c("600", file.path(R.home("bin"), "Rscript"), "-e", shQuote(setup), workshop_arguments),
      stdout = log, stderr = log))
    expect_identical(status, 0L, info = paste(readLines(log), collapse = "\n"))
    list(values = readRDS(file.path(out, sprintf("values-%d.rds", hosts))),
         mean = as.numeric(readLines(file.path(out, sprintf("mean-%d.txt", hosts)))),
         log = readLines(log))
  }
  two <- run(2)
  expect_length(two$values, workshop$max_iterations)
  expect_true(any(grepl("mean violations per person: .* over 300 iterations", two$log)))
  expected <- expected_violations(workshop$x_length, workshop$y_length, workshop$num_people)
  se <- sd(two$values) / sqrt(length(two$values))
  expect_lt(abs(mean(two$values) - expected), 5 * se)
  expect_equal(two$mean, mean(two$values), tolerance = 1e-6)
  expect_identical(run(1)$values, two$values)
  expect_identical(run(3)$values, two$values)
  # Each run was one job, on as many hosts as asked.
  jobs <- list_jobs(instance_type = "local")
  expect_identical(nrow(jobs), 3L)
  hosts <- vapply(jobs$name, function(name) job_attach(name)$instance_count, 1)
  expect_setequal(hosts, 1:3)
})

test_that("each .combine, .inorder, .multicombine and .errorhandling mode returns what %do% returns", {
  use_temp_job_dir()
  cl <- local_dosagemaker(instance_count = 2, instance_type = "local", seed = 1)
  expect_identical(foreach::getDoParName(), "doSageMaker")
  expect_identical(foreach::getDoParWorkers(), 2L)
  offset <- 10
  body <- quote(i * offset)
  both <- function(...) {
    loop <- foreach::foreach(...)
    list(do = eval(bquote(loop %do% .(body))), dopar = eval(bquote(loop %dopar% .(body))))
  }
  for (options in list(
    list(i = 1:5),
    list(i = 1:5, .combine = "c"),
    list(i = 1:5, .combine = "+"),
    list(i = 1:5, .combine = rbind),
    list(i = 1:6, .combine = "c", .inorder = FALSE),
    list(i = 1:7, .combine = function(...) sum(...), .multicombine = TRUE, .maxcombine = 3),
    list(i = 1:4, .combine = "c", .init = 100, .final = rev),
    list(i = 1:3, j = 4:6, .combine = "cbind"))) {
    if ("j" %in% names(options)) body <- quote(i * offset + j)
    result <- do.call(both, options)
    if (isFALSE(options$.inorder)) result$dopar <- sort(result$dopar)
    expect_identical(result$dopar, result$do, info = deparse(options))
  }
  failing <- function(i) if (i %in% c(2, 4)) stop("no even ", i) else i * offset
  for (mode in c("stop", "remove", "pass")) {
    do <- tryCatch(foreach::foreach(i = 1:5, .errorhandling = mode) %do% failing(i), error = identity)
    dopar <- tryCatch(foreach::foreach(i = 1:5, .errorhandling = mode) %dopar% failing(i), error = identity)
    if (mode == "stop") {
      expect_s3_class(dopar, "error")
      expect_identical(conditionMessage(dopar), conditionMessage(do))
      expect_identical(conditionMessage(dopar), "task 2 failed - \"no even 2\"")
    } else if (mode == "remove") {
      expect_identical(dopar, do)
    } else {
      expect_identical(dopar[c(1, 3, 5)], do[c(1, 3, 5)])
      for (k in c(2, 4)) {
        expect_s3_class(dopar[[k]], "simpleError")
        expect_identical(conditionMessage(dopar[[k]]), conditionMessage(do[[k]]))
        # The call that raised it too, as %do% keeps it.
        expect_identical(conditionCall(dopar[[k]]), conditionCall(do[[k]]))
        expect_identical(conditionCall(dopar[[k]]), quote(failing(i)))
      }
      passed <- dopar
    }
  }
  # ... and as doParallel's workers keep it.
  if (requireNamespace("doParallel", quietly = TRUE)) {
    workers <- parallel::makePSOCKcluster(1)
    withr::defer(parallel::stopCluster(workers))
    doParallel::registerDoParallel(workers)
    in_parallel <- foreach::foreach(i = 1:5, .errorhandling = "pass") %dopar% failing(i)
    for (k in c(2, 4)) expect_identical(conditionCall(passed[[k]]), conditionCall(in_parallel[[k]]))
    registerDoSageMaker(instance_count = 2, instance_type = "local", seed = 1)
  }
  # The script's stopCluster(cl) is accepted, and does nothing.
  expect_s3_class(cl, "sagesim_dopar")
  expect_null(parallel::stopCluster(cl))
})

test_that("variables, .export, .noexport and .packages travel; each iteration has its own stream", {
  use_temp_job_dir()
  local_dosagemaker(instance_count = 3, instance_type = "local")
  withr::local_package("jsonlite")
  factor_here <- 3
  helper <- function(v) v * factor_here
  not_used <- function() stop("should not be shipped")
  exported <- "by name"
  x <- foreach::foreach(i = 1:4, .export = "exported", .packages = "tools") %dopar% {
    list(toJSON(helper(i)), get("exported"), toTitleCase("hello world"), runif(1))
  }
  expect_identical(vapply(x, function(e) as.character(e[[1]]), ""),
                   vapply(1:4, function(i) as.character(toJSON(i * 3)), ""))
  expect_identical(x[[2]][[2]], "by name")
  expect_identical(x[[1]][[3]], "Hello World")
  payload <- sagesim:::map_payload_of(last_dopar_job())
  expect_setequal(names(payload$dots$loop$globals), c("helper", "factor_here", "exported"))
  expect_true(all(c("jsonlite", "tools") %in% payload$packages))
  # .noexport keeps a variable here.
  y <- foreach::foreach(i = 1:2, .noexport = "factor_here", .errorhandling = "pass") %dopar%
    (i * factor_here)
  expect_s3_class(y[[1]], "error")
  expect_match(conditionMessage(y[[1]]), "object 'factor_here' not found")
  # The same loop with a set.seed() before it: the same draws, and the
  # same as on one host, with the seed the job recorded.
  draws <- function(hosts) {
    registerDoSageMaker(instance_count = hosts, instance_type = "local")
    set.seed(11)
    list(values = foreach::foreach(i = 1:6, .combine = c) %dopar% rnorm(1),
         seed = last_dopar_job()$seed)
  }
  three <- draws(3)
  one <- draws(1)
  expect_identical(one, three)
  expect_length(unique(three$values), 6)
  # Each iteration's stream is submit_map()'s element stream of that seed.
  expect_identical(three$values,
                   unlist(job_collect(submit_map(1:6, function(i) rnorm(1), seed = three$seed,
                                                 logs = FALSE))))
  # A loop's own seed.
  seeded <- foreach::foreach(i = 1:3, .combine = c, .options.sagesim = list(seed = 99L)) %dopar% rnorm(1)
  expect_identical(last_dopar_job()$seed, 99)
  expect_identical(seeded, unlist(job_collect(submit_map(1:3, function(i) rnorm(1), seed = 99L,
                                                         logs = FALSE))))
  # An empty loop runs no job.
  expect_identical(foreach::foreach(i = integer()) %dopar% i, list())
})

test_that("wrong settings and variables that cannot travel are refused, creating nothing", {
  dir <- use_temp_job_dir()
  withr::defer(foreach::registerDoSEQ())
  expect_error(registerDoSageMaker(instance_count = 0), class = "sagesim_invalid_argument")
  expect_error(registerDoSageMaker(instance_type = "big"), class = "sagesim_invalid_argument")
  expect_error(registerDoSageMaker(instance_type = "ml.m5.large"), "needs `image_uri`")
  expect_error(registerDoSageMaker(2, "local", job_name = "x"), class = "sagesim_invalid_argument")
  expect_error(registerDoSageMaker(2, "local", "unnamed"), class = "sagesim_invalid_argument")
  expect_error(registerDoSageMaker(seed = "a"), class = "sagesim_invalid_argument")
  expect_error(registerDoSageMaker(logs = NA), class = "sagesim_invalid_argument")
  registerDoSageMaker(instance_count = 2, instance_type = "local")
  connection <- file(withr::local_tempfile(), "w")
  withr::defer(close(connection))
  error <- tryCatch(foreach::foreach(i = 1:3) %dopar% writeLines("x", connection), error = identity)
  expect_s3_class(error, "sagesim_invalid_argument")
  expect_match(conditionMessage(error), "variable `connection` cannot travel")
  expect_error(foreach::foreach(i = 1:3, .export = "no_such_thing") %dopar% i,
               class = "sagesim_invalid_argument")
  expect_length(list.files(file.path(dir, "local-jobs")), 0)
})
