# Nothing a host finished is ever lost, on SageMaker too, for simulation and
# sweep jobs: however one ends (stopped, a host lost, a host that never
# started, past max_runtime), the iterations its hosts finished come back,
# identical to a clean local run's, and a resubmission runs exactly the
# others. The hosts are played on this machine (fixtures/moto_launcher.py,
# POST /play-jobs); their result files are a Continuous output. (The jobs,
# their clean runs and the checks are in helper-endings.R.)

# Each host reports its progress and saves what it finished every 0.2 s.
often <- c(SAGESIM_PROGRESS_EVERY = "0.2", SAGESIM_CHECKPOINT_EVERY = "0.2")

# A simulation or sweep job on two played hosts.
submit_played <- function(kind, session, ...) {
  submit_processing(simulation = if (kind == "sweep") sweep_grid() else sim_spec(),
                    instance_count = 2, instance_type = "ml.m5.large", image_uri = image,
                    env = often, wait = FALSE, logs = FALSE, session = session, ...)
}

# The pieces (cell, first iteration, count) of the job's iterations that
# host `index` (of 2) runs.
host_pieces <- function(kind, index) {
  simulation <- if (kind == "sweep") sweep_grid() else sim_spec()
  specs <- if (kind == "sweep") sagesim:::grid_specs(simulation) else list(simulation)
  sagesim:::unwrap(sagesim:::host_share(lapply(specs, unclass), NULL, 2, index - 1))
}

# Whether a partial result has every iteration of `pieces`; with `only`,
# and no other.
covers <- function(kind, partial, pieces, only = FALSE) {
  sims <- if (kind == "sweep") partial$simulations else list(partial)
  wanted <- lapply(seq_along(sims), function(cell) {
    at <- which(pieces$spec == cell)
    c(numeric(), unlist(lapply(at, function(k) {
      seq(pieces$first_iteration[[k]], length.out = pieces$iterations[[k]])
    })))
  })
  all(vapply(seq_along(sims), function(cell) {
    have <- sagesim:::simulation_iterations(sims[[cell]])
    all(wanted[[cell]] %in% have) && (!only || length(have) == length(wanted[[cell]]))
  }, NA))
}

# The result files the job's hosts delivered to S3.
delivered_results <- function(job, session) {
  destination <- job$outputs[[1]]$destination
  keys <- bucket_keys(session, sub("^s3://[^/]+/", "", destination))
  keys[grepl("sagesim-result-.*[.]json$", keys)]
}

# A job that ended Failed: its status, read twice, and its reason.
expect_failed <- function(job, reason) {
  error <- wait_quietly(job)
  expect_s3_class(error, "sagesim_job_failed")
  for (read in 1:2) {
    status <- job_status(job)
    expect_identical(status$status, "Failed")
    expect_match(status$failure_reason, reason)
  }
  # Not retried: one job.
  expect_length(job$record$attempts, 0)
  expect_length(recorded_sagemaker("CreateProcessingJob"), 1)
}

for (kind in c("simulation", "sweep")) {
  test_that(sprintf("a cloud %s stopped mid-way keeps what its hosts finished; a resubmission runs the rest", kind), {
    local_moto()
    session <- aws_session(role = role)
    play_jobs()
    clean <- clean_result(kind)
    total <- total_size(kind, clean)
    job <- submit_played(kind, session)
    # Both hosts at work, a tenth of the way.
    wait_for_progress(job, done = total / 10, hosts = 2)
    expect_message(job_stop(job), "stop")
    expect_warning(job_wait(job, logs = FALSE, timeout = 60), class = "sagesim_job_stopped")
    expect_identical(job_status(job)$status, "Stopped")
    expect_identical(job_status(job)$status, "Stopped")
    expect_error(job_collect(job), class = "sagesim_job_not_finished")
    # What the hosts had saved was delivered.
    expect_gt(length(delivered_results(job, session)), 0)
    kept <- expect_kept_and_completed(kind, job, clean)
    expect_gt(kept$done, 0)
    expect_length(recorded_sagemaker("StopProcessingJob"), 1)
  })

  test_that(sprintf("a cloud %s that loses a host, with no retries, keeps what its hosts finished", kind), {
    local_moto()
    session <- aws_session(role = role)
    play_jobs()
    clean <- clean_result(kind)
    # algo-2 is killed once it has reported its progress 4 times (at its
    # start, then every 0.2 s), a fraction of the way through its share.
    inject_faults(LoseHost = list(Host = "algo-2", AfterReports = 4))
    job <- submit_played(kind, session, retries = 0)
    expect_failed(job, "^InternalServerError")
    kept <- expect_kept_and_completed(kind, job, clean)
    # algo-1 finished its share; algo-2 saved part of its own.
    expect_true(covers(kind, kept$partial, host_pieces(kind, 1)))
    expect_gt(kept$done, sum(host_pieces(kind, 1)$iterations))
  })

  test_that(sprintf("a cloud %s with a host that never starts keeps the other's iterations", kind), {
    local_moto()
    session <- aws_session(role = role)
    play_jobs()
    clean <- clean_result(kind)
    inject_faults(NeverStart = list(Host = "algo-2"))
    job <- submit_played(kind, session, retries = 0)
    expect_failed(job, "^InternalServerError")
    # algo-2 never ran: it logged nothing.
    hosts <- unique(job_logs(job)$host)
    expect_true("algo-1" %in% hosts)
    expect_false("algo-2" %in% hosts)
    kept <- expect_kept_and_completed(kind, job, clean)
    # algo-1's share, all of it and nothing else.
    expect_true(covers(kind, kept$partial, host_pieces(kind, 1), only = TRUE))
    expect_identical(kept$done, sum(host_pieces(kind, 1)$iterations))
  })

  # The runtime stand-in enforces max_runtime as local mode does: each
  # host's command is ended (timeout in its run.sh) once it has run
  # MaxRuntimeInSeconds. The launcher takes that for the host's code
  # failing, exit status 124 (local mode says MaxRuntimeExceeded).
  test_that(sprintf("a cloud %s past max_runtime keeps what its hosts finished", kind), {
    local_moto()
    session <- aws_session(role = role)
    play_jobs()
    clean <- clean_result(kind)
    job <- submit_played(kind, session, retries = 0, max_runtime = 1)
    expect_failed(job, "^AlgorithmError: algo-[12] exited with status 124$")
    # (The resubmission has time enough.)
    kept <- expect_kept_and_completed(kind, job, clean, max_runtime = 3600)
    # A second's work was kept.
    expect_gt(kept$done, 0)
  })
}
