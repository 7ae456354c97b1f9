# The backend contract (R/backend.R): a backend or a handle that misses an
# obligation says which, rather than doing something else.

test_that("a backend made without an obligation refuses it by name", {
  partial <- sagesim:::new_backend("tiny", start = function(plan, session) "started")
  expect_identical(partial$start(NULL, NULL), "started")
  for (what in c("attach", "list")) {
    error <- expect_error(partial[[what]]("x", NULL), class = "sagesim_backend_unimplemented")
    expect_match(conditionMessage(error), sprintf("tiny backend does not implement %s()", what),
                 fixed = TRUE)
  }
  expect_identical(partial$where(NULL), "no tiny job of that name")
})

test_that("a handle whose backend lacks a method says which, for every generic of the contract", {
  handle <- sagesim:::new_job("sagesim-tiny-1", "tiny")
  generics <- list(
    job_status = function() job_status(handle),
    stop_job = function() sagesim:::stop_job(handle),
    new_log_lines = function() sagesim:::new_log_lines(handle),
    all_log_lines = function() sagesim:::all_log_lines(handle),
    fetch_outputs = function() sagesim:::fetch_outputs(handle, tempdir()),
    default_poll_interval = function() sagesim:::default_poll_interval(handle),
    next_poll_delay = function() sagesim:::next_poll_delay(handle, 1, 0),
    final_log_delay = function() sagesim:::final_log_delay(handle),
    host_spans = function() sagesim:::host_spans(handle, NULL))
  for (what in names(generics)) {
    error <- expect_error(generics[[what]](), class = "sagesim_backend_unimplemented")
    expect_match(conditionMessage(error), sprintf("tiny backend does not implement %s()", what),
                 fixed = TRUE)
  }
})

test_that("both backends meet the whole contract", {
  generics <- c("job_status", "stop_job", "new_log_lines", "all_log_lines", "fetch_outputs",
                "default_poll_interval", "next_poll_delay", "final_log_delay", "host_spans")
  for (backend in c("local", "cloud")) {
    for (generic in generics) {
      method <- utils::getS3method(generic, sprintf("sagesim_%s_job", backend), optional = TRUE,
                                   envir = asNamespace("sagesim"))
      expect_true(is.function(method), info = sprintf("%s for %s jobs", generic, backend))
    }
  }
  # None of their members is the erroring stand-in new_backend() supplies.
  stand_in <- body(sagesim:::new_backend("none")$start)
  for (backend in sagesim:::job_backends()) {
    for (member in c("start", "attach", "list")) {
      expect_false(identical(body(backend[[member]]), stand_in),
                   info = sprintf("%s of the %s backend", member, backend$label))
    }
  }
})

test_that("job_status() of something that is not a job says what it needs", {
  expect_error(job_status(42), class = "sagesim_error")
  expect_error(job_status(list(name = "x")), "job handle")
})
