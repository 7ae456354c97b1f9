# Local jobs: submit_processing(instance_type = "local") runs the job on this
# machine, one process per host, each with its own stand-in for /opt/ml.
# A local job is entirely described by its folder, so any R session can
# attach to it, follow it, stop it and collect it:
#
#   {job_dir}/local-jobs/{name}/
#     job.json                      what was submitted (kind, hosts, outputs)
#     hosts/{host}/opt/ml/...       the host's /opt/ml (config, inputs, outputs)
#     hosts/{host}/run.sh           the host's command line
#     hosts/{host}/pid, log         its process group and its stdout+stderr
#     hosts/{host}/exit_code        written when the process ends
#     stopped                       present once job_stop() was called
#     outputs-delivered             present once outputs reached their destination

local_job_root <- function() {
  # Expanded: the folder name also goes to Rust, which knows nothing of `~`.
  file.path(path.expand(getOption("sagesim.job_dir") %||% tools::R_user_dir("sagesim", "data")),
            "local-jobs")
}

local_job_dir <- function(name) file.path(local_job_root(), name)

start_local_job <- function(plan, session) {
  dir <- local_job_dir(plan$name)
  if (file.exists(dir)) {
    abort(sprintf("A local job named %s already exists in %s; choose another `job_name`.",
                  plan$name, local_job_root()),
          class = c("sagesim_job_exists", "sagesim_invalid_argument"), argument = "job_name",
          job_name = plan$name)
  }
  hosts <- sprintf("algo-%d", seq_len(plan$instance_count))
  needs_s3 <- any(vapply(plan$inputs, function(i) is_s3_uri(i$source), logical(1))) ||
    any(vapply(plan$outputs, function(o) !is.null(o$destination) && is_s3_uri(o$destination),
               logical(1)))
  if (needs_s3) session <- default_session(session)
  outputs <- lapply(plan$outputs, function(output) {
    output$destination <- output$destination %||% file.path(dir, "output", output$name)
    if (!is_s3_uri(output$destination)) {
      output$destination <- normalizePath(output$destination, mustWork = FALSE)
    }
    output
  })

  dir.create(dir, recursive = TRUE)
  launched <- FALSE
  # A job that cannot be fully staged is removed: nothing half-done remains.
  on.exit(if (!launched) unlink(dir, recursive = TRUE), add = TRUE)
  # What SageMaker would hand each host: the request, as the Rust core
  # renders it (inputs at their sources: local ones are copied, not uploaded).
  config <- unwrap(job_config(request_plan_json(plan, plan$role %||% "local", plan$inputs, outputs)))
  for (host in hosts) {
    root <- host_opt_ml(dir, host)
    dir.create(file.path(root, "config"), recursive = TRUE)
    dir.create(file.path(root, "output"), recursive = TRUE)
    write_json_file(list(current_host = host, hosts = as.list(hosts)),
                    file.path(root, "config", "resourceconfig.json"))
    writeLines(config, file.path(root, "config", "processingjobconfig.json"))
    for (output in outputs) {
      dir.create(local_container_path(root, output$source), recursive = TRUE, showWarnings = FALSE)
    }
  }
  for (input in plan$inputs) stage_input(input, dir, hosts, session)
  write_json_file(list(
    name = plan$name, kind = plan$kind, instance_count = plan$instance_count,
    hosts = as.list(hosts), created = as.numeric(Sys.time()),
    arguments = as.list(plan$arguments),
    kms_key = plan$output_kms_key %||% plan$kms_key,
    outputs = lapply(outputs, function(o) list(name = o$name, source = o$source,
                                               destination = o$destination))
  ), file.path(dir, "job.json"))
  for (host in hosts) {
    write_host_script(plan, dir, host)
  }
  for (host in hosts) launch_host(dir, host)
  launched <- TRUE
  attach_local_job(plan$name, session = session)
}

host_dir <- function(dir, host) file.path(dir, "hosts", host)

host_opt_ml <- function(dir, host) file.path(host_dir(dir, host), "opt", "ml")

# /opt/ml/processing/x inside the container is {root}/processing/x here.
local_container_path <- function(root, path) file.path(root, sub("^/opt/ml/?", "", path))

write_json_file <- function(x, path) {
  writeLines(jsonlite::toJSON(x, auto_unbox = TRUE, pretty = TRUE, digits = NA, null = "null"),
             path)
}

stage_input <- function(input, dir, hosts, session) {
  targets <- vapply(hosts, function(h) local_container_path(host_opt_ml(dir, h), input$destination),
                    character(1))
  for (target in targets) dir.create(target, recursive = TRUE, showWarnings = FALSE)
  if (!is_s3_uri(input$source)) {
    for (target in targets) copy_into(input$source, target)
    return(invisible())
  }
  location <- parse_s3_uri(input$source)
  download <- file.path(dir, "s3-inputs", input$name)
  reply <- aws_request(session, "s3:DownloadPrefix",
                       list(Bucket = location$bucket, Prefix = location$key, Directory = download))
  if (length(reply$Files) == 0) {
    abort_argument("inputs", sprintf("Input \"%s\": nothing found at %s.", input$name, input$source))
  }
  # Both sides normalised: the job folder may be relative or behind a link.
  files <- sort(normalizePath(vapply(reply$Files, `[[`, character(1), "Path")))
  relative <- substring(files, nchar(normalizePath(download)) + 2)
  for (i in seq_along(files)) {
    # ShardedByS3Key: object i goes to one host only, as SageMaker divides them.
    chosen <- if (identical(input$s3_data_distribution_type, "ShardedByS3Key")) {
      targets[[(i - 1) %% length(targets) + 1]]
    } else {
      targets
    }
    for (target in chosen) {
      destination <- file.path(target, relative[[i]])
      dir.create(dirname(destination), recursive = TRUE, showWarnings = FALSE)
      file.copy(files[[i]], destination, overwrite = TRUE)
    }
  }
  unlink(download, recursive = TRUE)
}

copy_into <- function(source, target) {
  ok <- if (dir.exists(source)) {
    all(file.copy(list.files(source, full.names = TRUE, all.files = TRUE, no.. = TRUE), target,
                  recursive = TRUE))
  } else {
    file.copy(source, target)
  }
  if (!ok) {
    abort(sprintf("Could not copy %s into the job's folder %s.", source, target),
          class = "sagesim_local_job_error")
  }
}

write_host_script <- function(plan, dir, host) {
  root <- normalizePath(host_opt_ml(dir, host))
  here <- normalizePath(host_dir(dir, host))
  # Paths the job was told about (/opt/ml/...) point into this host's root.
  to_local <- function(x) gsub("(^|=)/opt/ml(/|$)", paste0("\\1", root, "\\2"), x)
  command <- to_local(c(plan$entrypoint, plan$arguments))
  if (identical(command[[1]], "Rscript")) command[[1]] <- file.path(R.home("bin"), "Rscript")
  # max_runtime, as SageMaker enforces it. --foreground keeps the command in
  # the host's process group, which job_stop() signals.
  timeout <- Sys.which("timeout")
  if (nzchar(timeout)) {
    command <- c(timeout, "--foreground", "--kill-after=10",
                 format(plan$max_runtime, scientific = FALSE), command)
  }
  env <- c(SAGESIM_OPT_ML = root, R_LIBS = paste(.libPaths(), collapse = ":"), plan$env)
  q <- shQuote
  script <- c(
    "#!/bin/sh",
    sprintf("# sagesim local job %s, host %s", plan$name, host),
    sprintf("echo $$ > %s", q(file.path(here, "pid"))),
    sprintf("cd %s || exit 1", q(root)),
    sprintf("export %s=%s", names(env), q(unname(env))),
    sprintf("%s > %s 2>&1 < /dev/null", paste(q(command), collapse = " "), q(file.path(here, "log"))),
    "status=$?",
    sprintf("echo $status > %s && mv %s %s", q(file.path(here, "exit_code.tmp")),
            q(file.path(here, "exit_code.tmp")), q(file.path(here, "exit_code")))
  )
  writeLines(script, file.path(here, "run.sh"))
}

# Each host runs in its own session (setsid), so job_stop() can signal the
# host's whole process group and the job outlives this R session.
launch_host <- function(dir, host) {
  script <- file.path(normalizePath(host_dir(dir, host)), "run.sh")
  setsid <- Sys.which("setsid")
  if (nzchar(setsid)) {
    system2(setsid, c("sh", shQuote(script)), wait = FALSE, stdout = FALSE, stderr = FALSE)
  } else {
    system2("sh", shQuote(script), wait = FALSE, stdout = FALSE, stderr = FALSE)
  }
}

attach_local_job <- function(name, session = NULL) {
  dir <- local_job_dir(name)
  info <- jsonlite::fromJSON(file.path(dir, "job.json"), simplifyVector = FALSE)
  job <- new_job(name, "local", kind = info$kind, outputs = info$outputs,
                 instance_count = info$instance_count, instance_type = "local",
                 arguments = as.character(unlist(info$arguments)), dir = dir,
                 hosts = unlist(info$hosts), created = info$created,
                 kms_key = info$kms_key, session = session)
  local_status(job)
  job
}

read_small_file <- function(path) {
  if (!file.exists(path)) return(NULL)
  text <- readLines(path, warn = FALSE)
  if (length(text) == 0) "" else paste(text, collapse = "\n")
}

# A host runs until every process of its group (setsid made the host's
# script the leader) has ended: its command may outlive the script by a
# moment after job_stop().
host_process_alive <- function(dir, host) {
  pid <- suppressWarnings(as.integer(read_small_file(file.path(host_dir(dir, host), "pid"))))
  if (length(pid) != 1 || is.na(pid)) {
    # Launched moments ago: the script has not recorded its pid yet.
    return(TRUE)
  }
  process_alive(pid) || process_group_alive(pid)
}

# A zombie (exited, not yet reaped: this sandbox's init may never reap it)
# is not alive, although kill(pid, 0) still succeeds on it.
process_alive <- function(pid) {
  stat <- file.path("/proc", pid, "stat")
  if (file.exists(stat)) {
    state <- process_stat(stat)[["state"]]
    return(!is.na(state) && !state %in% c("Z", "X"))
  }
  isTRUE(tools::pskill(pid, 0L))
}

# Whether a live (not zombie) process belongs to process group `group`.
process_group_alive <- function(group) {
  if (!dir.exists("/proc")) return(FALSE)
  for (stat in Sys.glob("/proc/[0-9]*/stat")) {
    fields <- process_stat(stat)
    if (identical(fields[["group"]], as.character(group)) && !fields[["state"]] %in% c("Z", "X")) {
      return(TRUE)
    }
  }
  FALSE
}

# State and process group from /proc/<pid>/stat (a process may end while
# it is read).
process_stat <- function(path) {
  line <- tryCatch(suppressWarnings(readLines(path, warn = FALSE))[[1]],
                   error = function(e) NA_character_)
  if (is.na(line)) return(c(state = NA_character_, group = NA_character_))
  rest <- strsplit(trimws(sub("^.*\\)", "", line)), " ", fixed = TRUE)[[1]]
  c(state = rest[[1]], group = rest[[3]])
}

local_status <- function(job) {
  dir <- job$dir
  exit_codes <- vapply(job$hosts, function(h) {
    code <- suppressWarnings(as.integer(read_small_file(file.path(host_dir(dir, h), "exit_code"))))
    if (length(code) == 1) code else NA_integer_
  }, integer(1))
  alive <- vapply(job$hosts, function(h) is.na(exit_codes[[h]]) && host_process_alive(dir, h),
                  logical(1))
  finished <- file.exists(file.path(host_dir(dir, job$hosts), "exit_code"))
  end_time <- if (!any(alive)) {
    ended <- as.numeric(file.mtime(file.path(host_dir(dir, job$hosts), "exit_code")[finished]))
    max(c(job$created, ended))
  }
  status <- function(value, reason = NULL, message = NULL) {
    job$last_status <- new_job_status(job$name, value, reason, message,
                                      creation_time = job$created, start_time = job$created,
                                      end_time = if (value %in% terminal_statuses) end_time)
    job$last_status
  }
  if (file.exists(file.path(dir, "stopped"))) {
    return(status(if (any(alive)) "Stopping" else "Stopped"))
  }
  if (any(alive)) return(status("InProgress"))
  failed <- job$hosts[is.na(exit_codes) | exit_codes != 0]
  if (length(failed) > 0) {
    host <- failed[[1]]
    message <- read_small_file(file.path(host_opt_ml(dir, host), "output", "message"))
    reason <- if (is.na(exit_codes[[host]])) {
      sprintf("%s ended without an exit status", host)
    } else if (exit_codes[[host]] == 124L && is.null(message)) {
      sprintf("MaxRuntimeExceeded: %s ran longer than max_runtime", host)
    } else {
      sprintf("AlgorithmError: %s exited with status %d%s", host, exit_codes[[host]],
              if (!is.null(message)) paste0(": ", message) else "")
    }
    return(status("Failed", reason, message %||% last_log_line(dir, host)))
  }
  delivered <- tryCatch({
    deliver_local_outputs(job)
    TRUE
  }, error = function(e) conditionMessage(e))
  if (!isTRUE(delivered)) {
    return(status("Failed", sprintf("ClientError: outputs could not be delivered: %s", delivered)))
  }
  status("Completed")
}

last_log_line <- function(dir, host) {
  log <- file.path(host_dir(dir, host), "log")
  # No log if the host failed before its command started.
  lines <- if (file.exists(log)) readLines(log, warn = FALSE)
  if (length(lines) > 0) lines[[length(lines)]]
}

# Once every host succeeded, each output's files from every host go to its
# destination (a folder, or S3), exactly once even if several R sessions look.
deliver_local_outputs <- function(job) {
  marker <- file.path(job$dir, "outputs-delivered")
  if (file.exists(marker)) return(invisible())
  lock <- file.path(job$dir, "outputs-delivering")
  if (!dir.create(lock, showWarnings = FALSE)) {
    abort("another R session is delivering this job's outputs right now; try again",
          class = "sagesim_local_job_error")
  }
  on.exit(unlink(lock, recursive = TRUE), add = TRUE)
  for (output in job$outputs) {
    sources <- vapply(job$hosts, function(h) local_container_path(host_opt_ml(job$dir, h), output$source),
                      character(1))
    if (is_s3_uri(output$destination)) {
      location <- parse_s3_uri(output$destination)
      session <- job$session <- default_session(job$session)
      for (source in sources[dir.exists(sources)]) {
        aws_request(session, "s3:UploadDirectory",
                    list(Bucket = location$bucket, Prefix = sub("/+$", "", location$key),
                         Path = source, KmsKeyId = job$kms_key %||% session$kms_key))
      }
    } else {
      dir.create(output$destination, recursive = TRUE, showWarnings = FALSE)
      for (source in sources[dir.exists(sources)]) {
        copy_into(source, output$destination)
      }
    }
  }
  file.create(marker)
  invisible()
}

#' @export
job_status.sagesim_local_job <- function(job) local_status(job)

#' @export
job_stop.sagesim_local_job <- function(job) {
  file.create(file.path(job$dir, "stopped"))
  for (host in job$hosts) {
    pid <- suppressWarnings(as.integer(read_small_file(file.path(host_dir(job$dir, host), "pid"))))
    # `kill -TERM -pid` signals the host's whole process group (setsid);
    # tools::pskill() ignores negative pids.
    if (length(pid) == 1 && !is.na(pid)) {
      system2("kill", c("-TERM", paste0("-", pid)), stdout = FALSE, stderr = FALSE)
    }
  }
  message(sprintf("Stopped local job %s.", job$name))
  invisible(job)
}

#' @export
default_poll_interval.sagesim_local_job <- function(job) 0.5

# A host's log is complete once its process has ended.
#' @export
final_log_delay.sagesim_local_job <- function(job) 0

# New lines of every host's log since the last poll: complete lines while
# the host runs, and its last line too (newline or not) once it has ended.
#' @export
poll_log_lines.sagesim_local_job <- function(job) {
  lines <- list()
  for (host in job$hosts) {
    path <- file.path(host_dir(job$dir, host), "log")
    if (!file.exists(path)) next
    ended <- file.exists(file.path(host_dir(job$dir, host), "exit_code"))
    offset <- job$log_cursors[[host]] %||% 0
    size <- file.size(path)
    if (size <= offset) next
    connection <- file(path, "rb")
    seek(connection, offset)
    bytes <- readBin(connection, "raw", size - offset)
    close(connection)
    ends <- which(bytes == as.raw(10L))
    end <- if (ended) length(bytes) else if (length(ends) > 0) ends[[length(ends)]] else 0
    if (end == 0) next
    complete <- bytes[seq_len(end)]
    job$log_cursors[[host]] <- offset + length(complete)
    text <- strsplit(rawToChar(complete), "\n", fixed = TRUE)[[1]]
    lines[[host]] <- log_lines(host, rep(as.numeric(Sys.time()), length(text)), text)
  }
  if (length(lines) > 0) do.call(rbind, unname(lines)) else log_lines()
}

#' @export
all_log_lines.sagesim_local_job <- function(job) {
  lines <- lapply(job$hosts, function(host) {
    path <- file.path(host_dir(job$dir, host), "log")
    text <- if (file.exists(path)) readLines(path, warn = FALSE) else character()
    log_lines(rep(host, length(text)), rep(as.numeric(file.mtime(path)), length(text)), text)
  })
  do.call(rbind, lines)
}

#' @export
fetch_outputs.sagesim_local_job <- function(job, path) {
  for (output in job$outputs) {
    target <- file.path(path, output$name)
    dir.create(target, recursive = TRUE, showWarnings = FALSE)
    if (is_s3_uri(output$destination)) {
      location <- parse_s3_uri(output$destination)
      aws_request(default_session(job$session), "s3:DownloadPrefix",
                  list(Bucket = location$bucket, Prefix = paste0(sub("/+$", "", location$key), "/"),
                       Directory = target))
    } else if (dir.exists(output$destination)) {
      copy_into(output$destination, target)
    }
  }
}

list_local_jobs <- function() {
  names <- list.dirs(local_job_root(), full.names = FALSE, recursive = FALSE)
  names <- names[file.exists(file.path(local_job_root(), names, "job.json"))]
  lapply(names, function(name) attach_local_job(name)$last_status)
}

# What local mode does not emulate is refused, saying what SageMaker would
# do, rather than quietly treated as something else. (FastFile streams the
# same files File mode copies, so it runs as File.)
check_local_emulation <- function(inputs, outputs) {
  refuse <- function(arg, name, what, cloud) {
    abort_argument(arg, sprintf(
      "%s \"%s\": local mode cannot emulate %s. On SageMaker %s. Use a SageMaker instance type, or File mode with S3Prefix inputs and EndOfJob outputs locally.",
      if (arg == "inputs") "Input" else "Output", name, what, cloud))
  }
  for (input in inputs) {
    if (identical(input$s3_input_mode, "Pipe")) {
      refuse("inputs", input$name, "Pipe mode",
             "the input would be streamed through a named pipe (/opt/ml/processing/input/<name>_<epoch>), not copied as files")
    }
    if (identical(input$s3_compression_type, "Gzip")) {
      refuse("inputs", input$name, "Gzip compression",
             "each object would be decompressed on its way through the pipe")
    }
    if (identical(input$s3_data_type, "ManifestFile")) {
      refuse("inputs", input$name, "a ManifestFile input",
             "the objects listed in the manifest would be downloaded, not the manifest's prefix")
    }
  }
  for (output in outputs) {
    if (identical(output$s3_upload_mode, "Continuous")) {
      refuse("outputs", output$name, "Continuous uploads",
             "files would be uploaded while the job runs, not once at its end")
    }
  }
  invisible()
}
