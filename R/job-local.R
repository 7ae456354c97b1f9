# Local jobs: submit_processing(instance_type = "local") runs the job on this
# machine, one process (or container) per host, each with its own /opt/ml.
# A local job is entirely described by its folder, so any R session can
# attach to it, follow it, stop it and collect it:
#
#   {job_dir}/local-jobs/{name}/
#     job.json                      what was submitted (kind, hosts, outputs, runner)
#     hosts/{host}/opt/ml/...       the host's /opt/ml (config, inputs, outputs)
#     hosts/{host}/run.sh           the host's command line
#     hosts/{host}/pid, log         its process group and its stdout+stderr
#     hosts/{host}/exit_code        written when the process ends
#     stopped                       present once job_stop() was called
#     outputs-delivered             present once outputs reached their destination
#
# How a host runs (the job's "runner", chosen at submission):
#   namespace  a private mount namespace (bwrap or unshare) in which the host's
#              folder is /opt/ml itself: scripts with hard-coded paths run as
#              they are, and the machine's /opt/ml is never touched;
#   process    no namespace could be made (or none was wanted): /opt/ml in the
#              job's arguments is rewritten and SAGESIM_OPT_ML names the folder;
#   container  `image_uri` was given: the host runs in that image with docker,
#              podman or buildah, its folder bound at /opt/ml, as SageMaker runs it.

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
  # Chosen before anything is created: a missing engine or a refused
  # namespace leaves nothing behind.
  runner <- local_runner(plan)
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
                                               destination = o$destination)),
    runner = runner
  ), file.path(dir, "job.json"))
  for (host in hosts) {
    write_host_script(plan, dir, host, runner)
  }
  if (identical(runner$mode, "process") && length(runner$tried) > 0) warn_no_namespace(runner)
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
  sharded <- identical(input$s3_data_distribution_type, "ShardedByS3Key")
  if (!is_s3_uri(input$source)) {
    if (!sharded) {
      for (target in targets) copy_into(input$source, target)
      return(invisible())
    }
    # In the cloud a local folder is uploaded, then its objects are divided
    # between the hosts: here its files are, the same way as S3 objects below.
    if (dir.exists(input$source)) {
      # In key order, as S3 lists objects (bytes, not the locale's collation).
      relative <- sort(list.files(input$source, recursive = TRUE, all.files = TRUE), method = "radix")
      files <- file.path(input$source, relative)
    } else {
      relative <- basename(input$source)
      files <- input$source
    }
    distribute_files(files, relative, targets, sharded)
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
  files <- sort(normalizePath(vapply(reply$Files, `[[`, character(1), "Path")), method = "radix")
  relative <- substring(files, nchar(normalizePath(download)) + 2)
  distribute_files(files, relative, targets, sharded)
  unlink(download, recursive = TRUE)
}

# Each file to every host, or (ShardedByS3Key) file i to one host only,
# as SageMaker divides objects.
distribute_files <- function(files, relative, targets, sharded) {
  for (i in seq_along(files)) {
    chosen <- if (sharded) targets[[(i - 1) %% length(targets) + 1]] else targets
    for (target in chosen) {
      destination <- file.path(target, relative[[i]])
      dir.create(dirname(destination), recursive = TRUE, showWarnings = FALSE)
      if (!file.copy(files[[i]], destination, overwrite = TRUE)) {
        abort(sprintf("Could not copy %s into the job's folder %s.", files[[i]], target),
              class = "sagesim_local_job_error")
      }
    }
  }
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

# ---------------------------------------------------------------------------
# How each host runs: its run.sh, started in a session of its own.
# ---------------------------------------------------------------------------

write_host_script <- function(plan, dir, host, runner) {
  root <- normalizePath(host_opt_ml(dir, host))
  here <- normalizePath(host_dir(dir, host))
  q <- shQuote
  log <- q(file.path(here, "log"))
  command <- c(plan$entrypoint, plan$arguments)
  # max_runtime, as SageMaker enforces it. --foreground keeps the command in
  # the host's process group, which job_stop() signals.
  timeout_path <- Sys.which("timeout")
  timeout <- if (nzchar(timeout_path)) {
    c(timeout_path, "--foreground", "--kill-after=10", format(plan$max_runtime, scientific = FALSE))
  }
  host_rscript <- function(command) {
    if (identical(command[[1]], "Rscript")) command[[1]] <- file.path(R.home("bin"), "Rscript")
    command
  }
  if (runner$mode == "container") {
    container <- container_name(plan$name, host)
    engine <- q(runner$engine_path)
    # The container outlives a killed `run` client (docker, podman) or is
    # left behind by a killed buildah: it is removed however the host ends.
    remove <- if (runner$engine == "buildah") "rm" else "rm -f"
    setup <- c(sprintf("cleanup() { %s %s %s > /dev/null 2>&1; }", engine, remove, q(container)),
               "trap 'cleanup; exit 143' TERM INT HUP")
    args <- container_run_args(runner, container, root, plan$entrypoint, plan$arguments, plan$env,
                               network_isolation(plan))
    run <- paste(q(c(timeout, runner$engine_path, args)), collapse = " ")
    if (runner$engine == "buildah") {
      run <- sprintf("{ %s from --quiet --name %s %s > /dev/null && %s; }", engine, q(container),
                     q(runner$image), run)
    }
  } else if (runner$mode == "namespace") {
    # The command sees the cloud's paths, so nothing is rewritten; the R
    # libraries of this session stay visible.
    env <- c(R_LIBS = paste(.libPaths(), collapse = ":"), plan$env)
    setup <- c("unset SAGESIM_OPT_ML", sprintf("export %s=%s", names(env), q(unname(env))))
    inside <- c(timeout, host_rscript(command))
    wrapped <- namespace_command(runner, root, here, inside, network_isolation(plan))
    run <- paste(q(wrapped), collapse = " ")
  } else {
    # Paths the job was told about (/opt/ml/...) point into this host's root.
    to_local <- function(x) gsub("(^|=)/opt/ml(/|$)", paste0("\\1", root, "\\2"), x)
    env <- c(SAGESIM_OPT_ML = root, R_LIBS = paste(.libPaths(), collapse = ":"), plan$env)
    setup <- sprintf("export %s=%s", names(env), q(unname(env)))
    run <- paste(q(c(timeout, host_rscript(to_local(command)))), collapse = " ")
  }
  script <- c(
    "#!/bin/sh",
    sprintf("# sagesim local job %s, host %s (%s)", plan$name, host, describe_runner(runner)),
    sprintf("echo $$ > %s", q(file.path(here, "pid"))),
    sprintf("cd %s || exit 1", q(root)),
    setup,
    sprintf("%s > %s 2>&1 < /dev/null", run, log),
    "status=$?",
    if (runner$mode == "container") "cleanup",
    sprintf("echo $status > %s && mv %s %s", q(file.path(here, "exit_code.tmp")),
            q(file.path(here, "exit_code.tmp")), q(file.path(here, "exit_code")))
  )
  writeLines(script, file.path(here, "run.sh"))
}

describe_runner <- function(runner) {
  switch(runner$mode,
         container = sprintf("%s, image %s", runner$engine, runner$image),
         namespace = sprintf("%s, its folder at /opt/ml", runner$tool),
         process = "a process, its folder in SAGESIM_OPT_ML")
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

# With `network_config(enable_network_isolation = TRUE)` a host has no
# network but its own loopback, as on SageMaker.
network_isolation <- function(plan) isTRUE(plan$network$enable_network_isolation)

# --- the runner -------------------------------------------------------------

# How the hosts of this job will run: in `image_uri` with a container
# engine, else in a mount namespace when one can be made, else as plain
# processes (saying so: see warn_no_namespace()).
local_runner <- function(plan) {
  if (!is.null(plan$image_uri)) {
    engine <- local_container_engine()
    return(list(mode = "container", engine = engine$name, engine_path = engine$path,
                image = plan$image_uri,
                isolation = if (engine$name == "buildah") Sys.getenv("BUILDAH_ISOLATION", "chroot")))
  }
  namespace <- find_mount_namespace()
  if (!is.null(namespace$tool)) {
    return(list(mode = "namespace", tool = namespace$tool, path = namespace$path,
                user_namespace = namespace$user_namespace))
  }
  if (network_isolation(plan)) {
    abort(c("Network isolation needs a namespace, and none can be made here: local mode cannot run this job without network as SageMaker would.",
            namespace_advice(namespace$tried)),
          class = "sagesim_local_job_error")
  }
  list(mode = "process", tried = namespace$tried)
}

mount_namespace_tools <- c("bwrap", "unshare")

# The first mount namespace tool that works here, by getOption("sagesim.mount_namespace"):
# "auto" (the default) tries bwrap, then unshare; "bwrap" or "unshare" insists
# on that one; "none" runs hosts as plain processes.
find_mount_namespace <- function() {
  wanted <- getOption("sagesim.mount_namespace", "auto")
  check_choice(wanted, c("auto", mount_namespace_tools, "none"), "sagesim.mount_namespace")
  if (wanted == "none") return(list(tool = NULL, tried = character()))
  tools <- if (wanted == "auto") mount_namespace_tools else wanted
  tried <- character()
  for (tool in tools) {
    probe <- probe_mount_namespace(tool)
    if (isTRUE(probe$ok)) return(c(list(tool = tool), probe))
    tried[[tool]] <- probe$problem
  }
  if (wanted != "auto") {
    abort(c(sprintf("options(sagesim.mount_namespace = \"%s\") but %s cannot make one here: %s.",
                    wanted, wanted, tried[[wanted]]),
            namespace_advice(tried)),
          class = "sagesim_local_job_error")
  }
  list(tool = NULL, tried = tried)
}

namespace_probes <- new.env(parent = emptyenv())

# Whether `tool` can make the namespace a host needs (a tmpfs over /opt),
# asked once per R session, tool and user.
probe_mount_namespace <- function(tool) {
  path <- unname(Sys.which(tool))
  if (!nzchar(path)) return(list(ok = FALSE, problem = "not installed"))
  root <- is_root()
  key <- paste(path, root)
  if (!is.null(namespace_probes[[key]])) return(namespace_probes[[key]])
  user_namespace <- tool == "unshare" && !root
  args <- switch(tool,
    bwrap = c("--dev-bind", "/", "/", "--tmpfs", "/opt", "--", "true"),
    unshare = c(if (user_namespace) c("--user", "--map-root-user"), "--mount", "--",
                "sh", "-c", shQuote("mount -t tmpfs sagesim /opt")))
  output <- suppressWarnings(system2(path, args, stdout = TRUE, stderr = TRUE))
  status <- attr(output, "status") %||% 0L
  command <- paste(c(tool, args), collapse = " ")
  probe <- if (status == 0) {
    list(ok = TRUE, path = path, user_namespace = user_namespace)
  } else {
    list(ok = FALSE, problem = sprintf("`%s` failed: %s", command,
                                       paste(utils::tail(output, 2), collapse = " ") %|% "no output"))
  }
  namespace_probes[[key]] <- probe
  probe
}

`%|%` <- function(x, y) if (length(x) == 0 || !nzchar(x)) y else x

is_root <- function() {
  uid <- suppressWarnings(system2("id", "-u", stdout = TRUE, stderr = FALSE))
  identical(uid, "0")
}

namespace_advice <- function(tried) {
  c(sprintf("Tried: %s.", paste(sprintf("%s (%s)", names(tried), unname(tried)), collapse = "; ")),
    "To give each host /opt/ml at its real path, install bubblewrap (Debian and Ubuntu: `apt-get install bubblewrap`), or let unprivileged users create user namespaces (sysctl kernel.unprivileged_userns_clone=1, or kernel.apparmor_restrict_unprivileged_userns=0 on Ubuntu); on other systems, run the hosts in the worker image (`image_uri = build_image(...)`).")
}

warn_no_namespace <- function(runner) {
  warning(structure(
    class = c("sagesim_no_mount_namespace", "sagesim_warning", "warning", "condition"),
    list(message = paste(c(
      "This local job's hosts run without /opt/ml at its real path: no mount namespace can be made here.",
      "Scripts that use processing_path() and paths under /opt/ml given in `arguments` work; /opt/ml written into a script does not.",
      namespace_advice(runner$tried),
      "options(sagesim.mount_namespace = \"none\") runs hosts as processes without this warning."),
      collapse = "\n"),
      call = user_call(), tried = runner$tried)))
}

# The host's command inside a private mount namespace in which /opt is a
# tmpfs holding the machine's own /opt entries (R often lives in /opt/R)
# and the host's folder as /opt/ml. Nothing outside the namespace changes,
# and a user who cannot write /opt can still have /opt/ml.
namespace_command <- function(runner, root, here, command, no_network = FALSE) {
  entries <- opt_entries()
  if (runner$tool == "bwrap") {
    binds <- unlist(lapply(seq_len(nrow(entries)), function(i) {
      path <- entries$path[[i]]
      if (!is.na(entries$link[[i]])) c("--symlink", entries$link[[i]], path)
      else c("--dev-bind", path, path)
    }))
    return(c(runner$path, "--dev-bind", "/", "/", "--tmpfs", "/opt", binds,
             "--bind", root, "/opt/ml", if (no_network) "--unshare-net",
             "--die-with-parent", "--chdir", "/opt/ml", "--", command))
  }
  # unshare: the same mounts, made by a script inside the namespace.
  outside <- file.path(here, "opt-outside")
  dir.create(outside, showWarnings = FALSE)
  q <- shQuote
  mounts <- vapply(seq_len(nrow(entries)), function(i) {
    path <- entries$path[[i]]
    from <- file.path(outside, basename(path))
    if (!is.na(entries$link[[i]])) {
      sprintf("ln -s %s %s", q(entries$link[[i]]), q(path))
    } else if (entries$dir[[i]]) {
      sprintf("mkdir %s && mount --rbind %s %s", q(path), q(from), q(path))
    } else {
      sprintf("touch %s && mount --bind %s %s", q(path), q(from), q(path))
    }
  }, character(1))
  writeLines(c(
    "#!/bin/sh",
    "# Run inside the host's mount namespace: /opt as a tmpfs with the machine's",
    "# own entries bound back, and the host's folder as /opt/ml.",
    "set -e",
    sprintf("mount --rbind /opt %s", q(outside)),
    "mount -t tmpfs -o mode=755 sagesim /opt",
    mounts,
    sprintf("mkdir /opt/ml && mount --bind %s /opt/ml", q(root)),
    sprintf("umount -l %s", q(outside)),
    if (no_network) "ip link set lo up 2> /dev/null || true",
    "cd /opt/ml",
    "exec \"$@\""
  ), file.path(here, "namespace.sh"))
  c(runner$path, if (runner$user_namespace) c("--user", "--map-root-user"), "--mount",
    if (no_network) "--net", "--", "sh", file.path(here, "namespace.sh"), command)
}

# What /opt holds on this machine, except a real /opt/ml (hidden from hosts).
opt_entries <- function() {
  paths <- list.files("/opt", all.files = TRUE, no.. = TRUE, full.names = TRUE)
  paths <- paths[basename(paths) != "ml"]
  links <- Sys.readlink(paths)
  data.frame(path = paths, link = ifelse(nzchar(links), links, NA_character_),
             dir = dir.exists(paths), stringsAsFactors = FALSE)
}

container_name <- function(job_name, host) sprintf("sagesim-%s-%s", job_name, host)

# The engine's arguments that run one host as SageMaker does: the image
# with the host's folder at /opt/ml, the job's environment, and
# ContainerEntrypoint replacing the image's ENTRYPOINT.
container_run_args <- function(runner, container, root, entrypoint, arguments, env,
                               no_network = FALSE) {
  env_args <- as.vector(rbind(rep("--env", length(env)), sprintf("%s=%s", names(env), env)))
  volume <- c("--volume", sprintf("%s:/opt/ml", root))
  network <- if (no_network) c("--network", "none")
  if (runner$engine == "buildah") {
    return(c("run", "--isolation", runner$isolation, volume, network, env_args, container, "--",
             entrypoint, arguments))
  }
  c("run", "--rm", "--name", container, volume, network, env_args,
    "--entrypoint", entrypoint[[1]], runner$image, entrypoint[-1], arguments)
}

# The engine for local container jobs: getOption("sagesim.container_engine"),
# else the first of docker (when its daemon answers), podman and buildah.
local_container_engine <- function() {
  engine <- container_engine(NULL, c("docker", "podman", "buildah"),
                             what = "run a local job in `image_uri`")
  list(name = engine, path = unname(Sys.which(engine)))
}

attach_local_job <- function(name, session = NULL) {
  dir <- local_job_dir(name)
  info <- jsonlite::fromJSON(file.path(dir, "job.json"), simplifyVector = FALSE)
  job <- new_job(name, "local", kind = info$kind, outputs = info$outputs,
                 instance_count = info$instance_count, instance_type = "local",
                 arguments = as.character(unlist(info$arguments)), dir = dir,
                 hosts = unlist(info$hosts), created = info$created,
                 kms_key = info$kms_key, runner = info$runner %||% list(mode = "process"),
                 session = session)
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

# The process groups among `groups` that still have a live process.
groups_with_live_processes <- function(groups) {
  groups[vapply(groups, process_group_alive, logical(1))]
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
  groups <- unlist(lapply(job$hosts, function(host) {
    pid <- suppressWarnings(as.integer(read_small_file(file.path(host_dir(job$dir, host), "pid"))))
    if (length(pid) == 1 && !is.na(pid)) pid
  }))
  # `kill -SIG -pid` signals a host's whole process group (setsid), its
  # namespace and a doParallel cluster's workers included; tools::pskill()
  # ignores negative pids. TERM first, then KILL whatever has not ended
  # within getOption("sagesim.stop_grace") seconds (default 10).
  signal_groups <- function(signal, groups) {
    for (group in groups) {
      system2("kill", c(paste0("-", signal), paste0("-", group)), stdout = FALSE, stderr = FALSE)
    }
  }
  signal_groups("TERM", groups)
  deadline <- Sys.time() + getOption("sagesim.stop_grace", 10)
  while (length(groups_with_live_processes(groups)) > 0 && Sys.time() < deadline) {
    Sys.sleep(0.05)
  }
  signal_groups("KILL", groups_with_live_processes(groups))
  runner <- job$runner
  # A docker or podman container is the engine's child, not the host's: it
  # is removed by name. (A buildah host's own run.sh removes its container.)
  if (identical(runner$mode, "container") && runner$engine != "buildah") {
    system2(runner$engine_path, c("rm", "-f", container_name(job$name, job$hosts)),
            stdout = FALSE, stderr = FALSE)
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
