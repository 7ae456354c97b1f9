#' A picture of a job: where its time and money went
#'
#' `plot(job)` draws each host of a job, and of the attempts before it (a
#' retry after a host was lost, a resubmission of what a stopped job left),
#' on one time line: from the job's creation, queued and starting (thin),
#' then running until it ended (thick), coloured by how it ended (completed,
#' failed, lost, stopped, still running), with what it finished written
#' beside it, and a cross where a Spot host was interrupted and restarted
#' from its checkpoints; the job's cost is given under the title.
#'
#' @param x A job handle (from [submit_processing()], [submit_map()] or
#'   [job_attach()]).
#' @param ... Passed to [graphics::plot()] (e.g. `main`).
#' @return The time line drawn, invisibly: a data frame with one row per host
#'   of each attempt: `attempt` (the job's name), `host`, `created`,
#'   `started`, `ended` (seconds from the first attempt's creation; `NA`
#'   when a host never started or has not ended), `ending`, `finished` (the
#'   elements or iterations it reported done), `unit`, `interruptions` (how
#'   often a Spot host restarted from its checkpoints) and `restarted` (when
#'   it last did, or `NA`).
#' @examples
#' old <- options(sagesim.job_dir = tempfile("sagesim-example-"))
#' job <- submit_processing(simulation = simulation_spec(1000, 1000, 1000, 2000, seed = 1),
#'                          instance_count = 2, logs = FALSE)
#' timeline <- plot(job)
#' timeline[, c("host", "started", "ended", "ending", "finished")]
#' unlink(getOption("sagesim.job_dir"), recursive = TRUE)
#' options(old)
#' @export
plot.sagesim_job <- function(x, ...) {
  timeline <- job_timeline(x)
  if (nrow(timeline) == 0) {
    abort(sprintf("Job %s has no hosts to draw.", x$name), class = "sagesim_invalid_argument")
  }
  rows <- rev(seq_len(nrow(timeline)))
  end <- max(c(timeline$started, timeline$ended, timeline$created), na.rm = TRUE)
  now <- as.numeric(Sys.time()) - timeline_origin(timeline)
  right <- max(end, now * any(timeline$ending == "running"), 1) * 1.25
  colours <- ending_colours[timeline$ending]
  old <- graphics::par(mar = c(4, 9, 4, 1))
  on.exit(graphics::par(old), add = TRUE)
  graphics::plot(NA, xlim = c(0, right), ylim = c(0.5, nrow(timeline) + 0.5), yaxt = "n",
                 xlab = "seconds since the job was created", ylab = "",
                 # (Its status as job_timeline() read it just now.)
                 main = sprintf("%s: %s", x$name, x$last_status$status), ...)
  graphics::mtext(cost_line(x) %||% "", side = 3, line = 0.3, cex = 0.8)
  graphics::axis(2, at = rows, las = 1, cex.axis = 0.8,
                 labels = sprintf("%s%s", timeline$host,
                                  ifelse(timeline$attempt == x$name, "",
                                         sprintf(" (attempt %d)", attempt_numbers(timeline)))))
  started <- ifelse(is.na(timeline$started), end, timeline$started)
  graphics::segments(timeline$created, rows, started, rows, col = "grey70", lwd = 2)
  ended <- ifelse(is.na(timeline$ended), now, timeline$ended)
  ran <- !is.na(timeline$started)
  graphics::segments(timeline$started[ran], rows[ran], ended[ran], rows[ran], col = colours[ran],
                     lwd = 10, lend = "butt")
  restarted <- !is.na(timeline$restarted)
  graphics::points(timeline$restarted[restarted], rows[restarted], pch = 4, cex = 1.6, lwd = 2)
  graphics::text(pmax(ended, started), rows, pos = 4, cex = 0.8,
                 labels = sprintf("%s%s%s", ifelse(is.na(timeline$finished), "",
                                                   sprintf("%s %s", format_count(timeline$finished), timeline$unit)),
                                  ifelse(timeline$ending == "completed", "", sprintf(" (%s)", timeline$ending)),
                                  ifelse(timeline$interruptions == 0, "",
                                         ifelse(timeline$interruptions == 1, ", interrupted once",
                                                sprintf(", interrupted %d times", timeline$interruptions)))))
  shown <- unique(timeline$ending)
  graphics::legend("bottomright", legend = shown, fill = ending_colours[shown], bty = "n", cex = 0.8)
  invisible(timeline)
}

ending_colours <- c(completed = "#1b9e77", failed = "#d95f02", lost = "#e7298a",
                    stopped = "grey40", running = "#7570b3")

# One row per host of the job and of each attempt before it, times from the
# first attempt's creation.
job_timeline <- function(job) {
  earlier <- lapply(job$record$attempts, function(attempt) {
    tryCatch(job_attach(attempt$name, job$session), error = function(e) NULL)
  })
  runs <- c(Filter(Negate(is.null), earlier), list(job))
  timeline <- do.call(rbind, lapply(runs, run_timeline))
  origin <- timeline_origin(timeline)
  for (column in c("created", "started", "ended", "restarted")) {
    timeline[[column]] <- timeline[[column]] - origin
  }
  attr(timeline, "origin") <- origin
  timeline
}

timeline_origin <- function(timeline) {
  attr(timeline, "origin") %||% min(timeline$created, na.rm = TRUE)
}

attempt_numbers <- function(timeline) match(timeline$attempt, unique(timeline$attempt))

# A run's hosts: when each started and ended, how, and what it finished.
run_timeline <- function(run) {
  status <- job_status(run)
  lines <- all_log_lines(run)
  note_progress(run, lines)
  spans <- host_spans(run, lines)
  endings <- status$hosts$ending
  ending <- vapply(spans$host, function(host) {
    if (!is.null(endings) && !is.null(endings[[host]])) return(endings[[host]])
    switch(status$status, Completed = "completed", Failed = "failed", Stopped = "stopped",
           "running")
  }, "")
  report <- function(host, field) run$progress[[host]][[field]] %||% NA
  restarts <- lapply(spans$host, restart_times, lines = lines)
  data.frame(attempt = run$name, host = spans$host,
             created = status$creation_time %||% min(spans$started, na.rm = TRUE),
             started = spans$started, ended = spans$ended, ending = unname(ending),
             finished = vapply(spans$host, function(h) as.numeric(report(h, "done")), 0,
                               USE.NAMES = FALSE),
             unit = vapply(spans$host, function(h) as.character(report(h, "unit")), "",
                           USE.NAMES = FALSE),
             interruptions = lengths(restarts),
             restarted = vapply(restarts, function(t) if (length(t) > 0) max(t) else NA_real_, 0),
             stringsAsFactors = FALSE)
}

# When `host` restarted from its checkpoints after a Spot interruption, from
# its worker's "restarted on ... of its own" lines (each begins with its
# time, log_line(), R/contract.R): seconds since the epoch.
restart_times <- function(host, lines) {
  mine <- as.character(lines$message[lines$host == host])
  hit <- mine[grepl("restarted on [0-9]+ results? files? of its own", mine)]
  stamps <- as.numeric(as.POSIXct(substr(hit, 1, 19), format = "%Y-%m-%dT%H:%M:%S", tz = "UTC"))
  stamps[!is.na(stamps)]
}
