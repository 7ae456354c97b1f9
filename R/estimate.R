# What a job will cost before it exists: instance-hours and dollars from its
# work, this machine's measured speed, the instance type's vCPUs and a
# start-up allowance; and the budget that refuses a job whose estimate
# exceeds it. start_job() (R/plan.R) asks cost_guard() before anything is
# created or uploaded.

# NULL to go on with the job; the estimate when one was asked for. A budget
# (given, or getOption("sagesim.budget")) refuses a SageMaker job whose
# estimate exceeds it; a local job costs nothing and is not estimated for it.
cost_guard <- function(plan, session, estimate = FALSE, budget = NULL, payload = NULL) {
  check_flag(estimate, "estimate")
  if (!is.null(budget)) check_number(budget, "budget", min = 0)
  if (!estimate && (is.null(budget) || plan$local)) return(NULL)
  result <- estimate_plan(plan, session, payload)
  result$budget <- budget
  if (estimate) return(result)
  check_budget(result, budget)
  NULL
}

check_budget <- function(estimate, budget) {
  if (is.na(estimate$usd)) {
    # The user may choose that an unknown price does not block a budget.
    if (identical(getOption("sagesim.unknown_price", "refuse"), "allow")) {
      message(sprintf("This job's cost cannot be estimated (%s); it runs anyway, as options(sagesim.unknown_price = \"allow\") says.",
                      estimate$price_note))
      return(invisible(estimate))
    }
    abort(c(sprintf("A budget of %s is set, but this job's cost cannot be estimated: %s. Nothing was created.",
                    format_usd(budget), estimate$price_note),
            "Give its price with options(sagesim.prices = ) (see ?sagemaker_prices) or fetch AWS's with update_sagemaker_prices(); or let unknown prices pass with options(sagesim.unknown_price = \"allow\"), or submit it with `budget = NULL`."),
          class = c("sagesim_budget_unknown", "sagesim_over_budget"), estimate = estimate,
          budget = budget)
  }
  if (estimate$usd > budget) {
    abort(c(sprintf("This job is estimated to cost %s%s (%s instance-hours of %s at %s/h), over the budget of %s. Nothing was created.",
                    if (estimate$upper_bound) "at most " else "", format_usd(estimate$usd),
                    format_hours(estimate$instance_hours), estimate$instance_type,
                    format_usd(estimate$usd_per_hour), format_usd(budget)),
            fitting_runtime(estimate, budget),
            if (!is.null(estimate$likely$usd)) sprintf("Likely: %s.", estimate$likely$text),
            "See how it was estimated with `estimate = TRUE`; raise `budget` (or options(sagesim.budget = )) to run it."),
          class = "sagesim_over_budget", estimate = estimate, budget = budget)
  }
  invisible(estimate)
}

# A script's cost is bounded by its `max_runtime`: the one that fits the
# budget, when that is what stands in the way.
fitting_runtime <- function(estimate, budget) {
  if (!estimate$upper_bound || !identical(estimate$kind, "script")) return(NULL)
  fits <- floor(budget / (estimate$instance_count * estimate$usd_per_hour) * 3600)
  if (fits < 1) return(NULL)
  sprintf("The bound comes from `max_runtime` (%s on every host): `max_runtime = %s` (%s) fits the budget.",
          format_seconds(estimate$billed_seconds), format_number(fits), format_seconds(fits))
}

# The estimate of a planned job (`payload`: a map job's, for its pilot).
estimate_plan <- function(plan, session = NULL, payload = NULL) {
  settings <- plan$settings
  hosts <- settings$instance_count
  local <- plan$local
  kind <- plan$work$kind
  region <- if (local) NA_character_ else estimate_region(session)
  price <- if (!local) price_of(settings$instance_type, region)
  cores <- local_cores()
  threads <- if (local) cores else if (is.na(price$vcpu)) 1 else price$vcpu
  work <- switch(kind,
    simulation = simulation_work(list(plan$work$simulation)),
    sweep = simulation_work(grid_specs(plan$work$simulation)),
    map = map_work(payload),
    script = list(upper_bound = TRUE, lines = c(work = sprintf(
      "a script: its maximum runtime (`max_runtime`, %s) on every host, an upper bound",
      format_seconds(settings$max_runtime)))))
  if (identical(kind, "script")) {
    per_host <- settings$max_runtime
    startup <- 0
    elapsed <- settings$max_runtime
  } else {
    per_host <- if (local) work$local_seconds(hosts, cores) else work$host_seconds(hosts, threads)
    # Local hosts' R sessions start side by side on this machine's cores.
    startup <- startup_allowance(local) * if (local) ceiling(hosts / cores) else 1
    elapsed <- startup + per_host
  }
  billed <- if (local) elapsed else startup + per_host
  hours <- hosts * billed / 3600
  usd_per_hour <- if (local) 0 else price$usd_per_hour
  structure(list(
    kind = kind, instance_type = settings$instance_type, instance_count = hosts,
    region = region, vcpu = if (local) local_cores() else price$vcpu, threads = threads,
    host_seconds = per_host, startup_seconds = startup, billed_seconds = billed,
    elapsed_seconds = elapsed, instance_hours = hours, usd_per_hour = usd_per_hour,
    usd = hours * usd_per_hour, upper_bound = isTRUE(work$upper_bound),
    price_source = if (!local) price$source, price_date = if (!local) price$date,
    price_note = if (!local && !price$known) price_unknown_reason(price),
    compute_seconds = work$compute_seconds, write_seconds = work$write_seconds,
    work = work$lines, local = local, budget = NULL, spot = isTRUE(settings$spot),
    likely = if (identical(kind, "script") && !local) {
      likely_script_cost(plan$work$code, hosts, usd_per_hour, startup_allowance(local))
    }
  ), class = "sagesim_estimate")
}

# Seconds of start-up allowed each host: a SageMaker instance pulls the
# image and starts R (billed from the job's processing start; 3 minutes by
# default, an allowance, not a measurement); a local host starts its R
# session and loads sagesim (0.3 s: what an empty one-host job takes on this
# project's 2-core machine, about 0.27 s; as many more for each further
# host a core is shared by).
startup_allowance <- function(local) {
  option <- if (local) "sagesim.local_startup_seconds" else "sagesim.startup_seconds"
  value <- getOption(option, if (local) 0.3 else 180)
  check_number(value, option, min = 0)
}

local_cores <- function() max(1, parallel::detectCores(logical = TRUE), na.rm = TRUE)

# The region a SageMaker job would run in, learnt without asking AWS
# anything: the session's, else the default session's, else the chain's.
estimate_region <- function(session) {
  if (!is.null(session)) return(session$region %||% NA_character_)
  if (!is.null(session_cache$default)) return(session_cache$default$region %||% NA_character_)
  probe <- new.env(parent = emptyenv())
  tryCatch(connect(probe, config = list()), error = function(e) NULL)
  probe$region %||% NA_character_
}

# --- simulations and sweeps ----------------------------------------------------

calibration <- new.env(parent = emptyenv())

# Person-iterations a room's calibration runs (a few milliseconds here).
calibration_person_iterations <- 2e6

# Seconds one iteration of `spec`'s room takes on one thread of this
# machine: measured once per R session and room, on a few iterations.
room_seconds <- function(spec) {
  key <- paste(spec$x_length, spec$y_length, spec$num_people, spec$distance)
  if (is.null(calibration[[key]])) {
    iterations <- min(spec$max_iterations,
                      max(1, ceiling(calibration_person_iterations / max(1, spec$num_people))))
    run <- run_simulation(spec, c(1, iterations), threads = 1, keep_values = FALSE)
    calibration[[key]] <- run$elapsed / iterations
  }
  calibration[[key]]
}

# Seconds a host spends per iteration on its result file beyond computing
# it (every iteration's value is written, then read back into R): measured
# once per R session by writing one of a room of one person, in a
# temporary folder removed at once.
result_seconds <- function() {
  if (is.null(calibration$result)) {
    folder <- tempfile("sagesim-calibration-")
    dir.create(folder)
    on.exit(unlink(folder, recursive = TRUE), add = TRUE)
    iterations <- 4e5
    spec <- list(x_length = 1000, y_length = 1000, num_people = 1, max_iterations = iterations,
                 distance = 6, seed = 1)
    started <- proc.time()[["elapsed"]]
    # (No earlier attempt's pieces to do; no saves of what it has finished.)
    written <- await_task(host_start(list(spec), NULL, "algo-1", "algo-1", 1, folder,
                                     as.character(utils::packageVersion("sagesim")), 0))
    took <- proc.time()[["elapsed"]] - started
    calibration$result <- max(0, took - written$parts[[1]]$elapsed) / iterations
  }
  calibration$result
}

# The work of a simulation or sweep (its specs): seconds on one thread of
# this machine per cell, spread over hosts as sagesim balances it, and each
# host's result file (one value per iteration, written by one thread).
simulation_work <- function(specs) {
  seconds <- vapply(specs, function(spec) room_seconds(spec) * spec$max_iterations, numeric(1))
  person_iterations <- sum(vapply(specs, function(s) s$num_people * s$max_iterations, 1))
  iterations <- sum(vapply(specs, function(s) s$max_iterations, 1))
  total <- sum(seconds)
  writing <- iterations * result_seconds()
  list(
    compute_seconds = total, write_seconds = writing,
    host_seconds = function(hosts, threads) (total / threads + writing) / hosts,
    local_seconds = function(hosts, cores) (total + writing) / cores,
    lines = c(work = sprintf("%s: %s person-iterations", if (length(specs) == 1) describe_spec(specs[[1]]) else
                        sprintf("a sweep of %d cells", length(specs)),
                      format_count(person_iterations)),
              speed = sprintf("%s on one thread of this machine (%.1f ns per person-iteration, each room timed on a few iterations), and %s to write the results",
                      format_seconds(total), 1e9 * total / max(1, person_iterations),
                      format_seconds(writing)))
  )
}

# --- maps --------------------------------------------------------------------------

# How many elements the pilot of a map job runs, and for how long at most.
pilot_elements <- function() check_count(getOption("sagesim.pilot_elements", 3), "sagesim.pilot_elements", min = 1)
pilot_seconds <- 10

# The work of a map job: `f` timed on a few of its elements (spread over
# `x`) in this R session, each with its own random stream as on a host, R's
# generator left as it was; nothing is written.
map_work <- function(payload) {
  if (is.null(payload)) abort("A map job's estimate needs its payload.", class = "sagesim_internal_error")
  n <- length(payload$x)
  positions <- unique(round(seq(1, n, length.out = min(pilot_elements(), n))))
  seeds <- map_seeds(payload$seed, payload$indices[positions])
  runner <- function(element) do.call(payload$f, c(list(element), payload$dots), quote = TRUE)
  times <- numeric()
  failed <- 0
  with_random_state({
    started <- proc.time()[["elapsed"]]
    for (k in seq_along(positions)) {
      before <- proc.time()[["elapsed"]]
      outcome <- run_element(runner, payload$x[[positions[[k]]]], seeds[[k]])
      times[[k]] <- proc.time()[["elapsed"]] - before
      if (!is.null(outcome$failure)) failed <- failed + 1
      if (proc.time()[["elapsed"]] - started > pilot_seconds) break
    }
  })
  # (The median: the first call of `f` also compiles it, which a host does once.)
  per_element <- stats::median(times)
  # The payload is written, uploaded and read by every host before any
  # element runs: at an allowance of bytes per second, not a measurement.
  bytes <- sum(payload_sizes(payload)) # R/map-files.R
  rate <- check_number(getOption("sagesim.transfer_rate", 100e6), "sagesim.transfer_rate", min = 0,
                       above = TRUE)
  transfer <- bytes / rate
  list(
    host_seconds = function(hosts, threads) transfer + ceiling(n / hosts) * per_element,
    local_seconds = function(hosts, cores) transfer + max(ceiling(n / hosts), n / cores) * per_element,
    lines = c(work = sprintf("%s elements of `f`, one after another on each host", format_count(n)),
              speed = sprintf("%s per element: the median of %d element%s run here as a pilot%s",
                      format_seconds(per_element), length(times), if (length(times) == 1) "" else "s",
                      if (failed > 0) sprintf(" (%d of them failed)", failed) else ""),
              # (Said once it matters: from a megabyte.)
              payload = if (bytes >= 1e6) {
                sprintf("%s to ship, about %s at %s/s (sagesim.transfer_rate), counted on each host",
                        format_bytes(bytes), format_seconds(transfer), format_bytes(rate))
              })
  )
}

#' @export
print.sagesim_estimate <- function(x, ...) {
  where <- if (x$local) "this machine" else sprintf("%s x %s (%s)", format_count(x$instance_count),
                                                      x$instance_type,
                                                      if (is.na(x$region %||% NA)) "region not set" else x$region)
  cat(sprintf("<sagesim estimate> a %s job on %s%s\n", x$kind, where,
              if (x$local) sprintf(", %s host%s", format_count(x$instance_count),
                                   if (x$instance_count == 1) "" else "s") else ""))
  for (k in seq_along(x$work)) cat(sprintf("  %-10s %s\n", paste0(names(x$work)[[k]], ":"), x$work[[k]]))
  if (!x$upper_bound) {
    cat(sprintf("  %-10s %s%s on %s%s + %s start-up allowance\n",
                if (x$local) "compute:" else "per host:", format_seconds(x$host_seconds),
                if (x$local) "" else " of compute",
                if (x$local) sprintf("this machine's %s cores", format_count(x$threads)) else
                  sprintf("%s vCPU%s", format_count(x$threads), if (x$threads == 1) "" else "s"),
                if (!x$local && is.na(x$vcpu)) sprintf(" (vCPUs of %s unknown: 1 assumed)", x$instance_type) else "",
                format_seconds(x$startup_seconds)))
  }
  cat(sprintf("  elapsed:   %s%s\n", if (x$upper_bound) "at most " else "about ",
              format_seconds(x$elapsed_seconds)))
  cat(sprintf("  instance-hours: %s%s (%s x %s)\n", if (x$upper_bound) "at most " else "",
              format_hours(x$instance_hours), format_hosts(x$instance_count),
              format_seconds(x$billed_seconds)))
  if (x$local) {
    cat("  cost:      nothing on AWS (a local job runs on this machine)\n")
  } else if (is.na(x$usd)) {
    cat(sprintf("  cost:      %s\n", x$price_note))
  } else {
    cat(sprintf("  cost:      %s%s at %s/h\n", if (x$upper_bound) "at most " else "about ",
                format_usd(x$usd), format_usd(x$usd_per_hour)))
    cat(sprintf("  prices:    %s (%s)\n", x$price_source, x$price_date))
  }
  if (!is.null(x$likely)) cat(sprintf("  likely:    %s\n", x$likely$text))
  if (isTRUE(x$spot)) {
    cat("  spot:      the cost is at the on-demand price, an upper bound: Spot's discount is not known in advance (job_cost() shows what was billed)\n")
  }
  if (!is.null(x$budget)) {
    cat(sprintf("  budget:    %s (%s)\n", format_usd(x$budget),
                if (is.na(x$usd)) "cannot be checked" else if (x$usd > x$budget) "over" else "within"))
  }
  invisible(x)
}

# --- scripts ---------------------------------------------------------------------

# A script's cost beside its bound: what it would cost if it ran as long as
# its latest completed local run (a rehearsal, `instance_type = "local"`)
# did on this machine, per host, plus the start-up allowance; or, with no
# such run, how to get one. `usd` is NULL when nothing is known.
likely_script_cost <- function(code, hosts, usd_per_hour, startup) {
  earlier <- latest_local_run(basename(code %||% ""))
  if (is.null(earlier)) {
    return(list(text = "not known before the script has run: rehearse it with `instance_type = \"local\"`, and its time here shows in the next estimate"))
  }
  seconds <- startup + earlier$seconds
  usd <- hosts * seconds / 3600 * usd_per_hour
  list(usd = usd, seconds = earlier$seconds, job = earlier$name, text = sprintf(
    "%s, if it runs as long as its local run %s did on this machine (%s a host)",
    if (is.na(usd)) "price unknown" else paste("about", format_usd(usd)), earlier$name,
    format_seconds(earlier$seconds)))
}

# The latest local job that ran the script named `file` and completed: its
# name and its hosts' longest run in seconds (from the files each host's
# run.sh leaves: its pid when it starts, its exit code when it ends).
latest_local_run <- function(file) {
  if (!nzchar(file)) return(NULL)
  folders <- list.files(local_job_root(), full.names = TRUE) # R/job-local.R
  folders <- folders[order(file.mtime(folders), decreasing = TRUE)]
  for (folder in folders) {
    record <- tryCatch(read_record_file(file.path(folder, "job.json")), error = function(e) NULL)
    if (!identical(record$work$kind, "script") || !identical(basename(record$work$code), file)) next
    hosts <- file.path(folder, "hosts", record_hosts(record))
    codes <- suppressWarnings(as.integer(vapply(file.path(hosts, "exit_code"), function(f) {
      if (file.exists(f)) readLines(f, warn = FALSE)[1] else NA_character_
    }, "")))
    if (anyNA(codes) || any(codes != 0L)) next
    ran <- as.numeric(file.mtime(file.path(hosts, "exit_code"))) - as.numeric(file.mtime(file.path(hosts, "pid")))
    if (anyNA(ran)) next
    return(list(name = basename(folder), seconds = max(ran, 0)))
  }
  NULL
}
