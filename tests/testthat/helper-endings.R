# What the tests of a job's endings share (test-endings.R locally,
# test-endings-cloud*.R on played SageMaker hosts): the jobs, their clean
# runs, and the checks that what the hosts finished came back and that a
# resubmission runs only the rest.

# A few seconds of work on two cores.
sim_spec <- function() simulation_spec(2000, 2000, 20000, 12000, seed = 5)
sweep_grid <- function() simulation_grid(2000, 2000, c(10000, 20000), 6000, seed = 6)
slow_times_ten <- function(i) {
  Sys.sleep(0.15)
  i * 10
}

# A clean local run of each kind, computed once per test run.
clean_runs <- new.env(parent = emptyenv())
clean_result <- function(kind) {
  if (kind == "map") return(lapply(1:40, function(i) i * 10))
  if (is.null(clean_runs[[kind]])) {
    clean_runs[[kind]] <- simulate_local(if (kind == "sweep") sweep_grid() else sim_spec())
  }
  clean_runs[[kind]]
}

# How many iterations (elements) a clean run of `kind` has.
total_size <- function(kind, clean) {
  switch(kind, map = length(clean), sweep = sum(clean$cells$iterations),
         simulation = clean$max_iterations)
}

# The job's progress once its hosts have reported `done` elements
# (iterations) done, or more; with `hosts`, once that many hosts reported.
wait_for_progress <- function(job, done, hosts = 1, timeout = 120) {
  deadline <- Sys.time() + timeout
  repeat {
    sagesim:::refresh_job(job)
    progress <- sagesim:::job_progress(job)
    if (!is.null(progress) && progress$done >= done && progress$hosts >= hosts) return(progress)
    if (Sys.time() > deadline) stop("the job's hosts did not report ", done, " done in time")
    Sys.sleep(0.2)
  }
}

# Waits for a job to end; the error that ended it, if any.
wait_quietly <- function(job) {
  tryCatch(suppressMessages(suppressWarnings(job_wait(job, logs = FALSE, timeout = 120))),
           error = function(e) e)
}

# What a partial collection holds, checked against the clean run: the
# finished part identical to the clean run's, the rest said to be
# unfinished; returns how many elements (iterations) finished.
expect_partial <- function(kind, partial, clean, why) {
  if (kind == "map") {
    unfinished <- vapply(partial, inherits, NA, "sagesim_element_unfinished")
    expect_true(any(unfinished))
    expect_identical(partial[!unfinished], clean[!unfinished])
    for (condition in partial[unfinished]) expect_match(conditionMessage(condition), why)
    return(sum(!unfinished))
  }
  sims <- if (kind == "sweep") partial$simulations else list(partial)
  wholes <- if (kind == "sweep") clean$simulations else list(clean)
  if (kind == "sweep") expect_true(isTRUE(partial$partial))
  done <- 0
  for (k in seq_along(sims)) {
    expect_true(isTRUE(sims[[k]]$partial))
    at <- sagesim:::simulation_iterations(sims[[k]])
    if (sims[[k]]$counts$iterations > 0) {
      expect_identical(sims[[k]]$values, wholes[[k]]$values[at])
    }
    done <- done + sims[[k]]$counts$iterations
  }
  expect_lt(done, total_size(kind, clean))
  done
}

# The pieces of work a follow-up simulation or sweep job runs, from its
# `--todo cell:first:count,...`: a matrix with those columns.
todo_pieces <- function(rest) {
  arguments <- unlist(rest$record$plan$arguments)
  todo <- arguments[which(arguments == "--todo") + 1]
  pieces <- do.call(rbind, lapply(strsplit(unlist(strsplit(todo, ",")), ":"), as.numeric))
  colnames(pieces) <- c("cell", "first", "count")
  pieces
}

# How many elements (iterations) a follow-up job runs: a map's elements, the
# sum of a simulation's todo counts.
rerun_size <- function(kind, rest) {
  if (kind == "map") return(rest$elements)
  sum(todo_pieces(rest)[, "count"])
}

# A follow-up's todo is exactly what the partial result misses: with what it
# has, each cell's iterations once each.
expect_todo_is_missing <- function(kind, partial, rest, clean) {
  pieces <- todo_pieces(rest)
  sims <- if (kind == "sweep") partial$simulations else list(partial)
  wholes <- if (kind == "sweep") clean$simulations else list(clean)
  for (cell in seq_along(sims)) {
    mine <- pieces[pieces[, "cell"] == cell, , drop = FALSE]
    todo <- unlist(lapply(seq_len(nrow(mine)), function(k) {
      seq(mine[[k, "first"]], length.out = mine[[k, "count"]])
    }))
    have <- sagesim:::simulation_iterations(sims[[cell]])
    expect_identical(sort(as.numeric(c(todo, have))),
                     as.numeric(seq_len(wholes[[cell]]$max_iterations)))
  }
}

# The ending's partial result, then a resubmission that completes it;
# returns how many elements (iterations) had finished, and the partial result.
expect_kept_and_completed <- function(kind, job, clean, why, f = NULL, ...) {
  expect_warning(partial <- job_collect(job, errors = "return"), class = "sagesim_partial_results")
  # Read back the same way twice.
  expect_identical(suppressWarnings(job_collect(job, errors = "return")), partial)
  done <- expect_partial(kind, partial, clean, why)
  rest <- job_resubmit(job, f = f, ..., logs = FALSE)
  expect_identical(as.numeric(rerun_size(kind, rest)), as.numeric(total_size(kind, clean) - done))
  if (kind != "map") expect_todo_is_missing(kind, partial, rest, clean)
  whole <- job_collect(rest)
  if (kind == "map") {
    expect_identical(whole, clean)
  } else if (kind == "simulation") {
    expect_null(whole$partial)
    expect_identical(whole$values, clean$values)
    expect_identical(whole$counts, clean$counts)
  } else {
    expect_null(whole$partial)
    expect_identical(lapply(whole$simulations, `[[`, "values"),
                     lapply(clean$simulations, `[[`, "values"))
    expect_identical(lapply(whole$simulations, `[[`, "counts"),
                     lapply(clean$simulations, `[[`, "counts"))
  }
  invisible(list(done = done, partial = partial))
}
