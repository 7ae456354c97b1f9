# How a host of a local job (or of the runtime stand-in) runs: in a container
# image, in a private mount namespace where its folder is /opt/ml itself, or
# as a plain process; and its run.sh, which starts it with the environment a
# SageMaker host has and nothing else of the R session.
#
#   namespace  a private mount namespace (bwrap or unshare) in which the host's
#              folder is /opt/ml itself: scripts with hard-coded paths run as
#              they are, and the machine's /opt/ml is never touched;
#   process    no namespace could be made (or none was wanted): /opt/ml in the
#              job's arguments is rewritten and SAGESIM_OPT_ML names the folder;
#   container  `image_uri` was given: the host runs in that image with docker,
#              podman or buildah, its folder bound at /opt/ml, as SageMaker runs it.

# A host's folder (hosts/{host} in the job's), and its /opt/ml.
host_dir <- function(dir, host) file.path(dir, "hosts", host)

host_opt_ml <- function(dir, host) file.path(host_dir(dir, host), "opt", "ml")

# A Training job's request, kept in the job's folder by its staging
# (R/runtime-training.R) for its hosts' run.sh to checkpoint and restore with.
training_request_file <- function(dir) file.path(dir, "training-request.json")

# Present once job_stop() was called. A host that starts after it (launched
# a moment before, its pid not yet recorded, so not signalled) ends at once.
stop_marker <- function(dir) file.path(dir, "stopped")

# How the hosts of a job will run: in `image_uri` with a container engine,
# else in a mount namespace when one can be made, else as plain processes
# (saying so: see warn_no_namespace()). Network isolation needs a namespace.
local_runner <- function(image_uri = NULL, no_network = FALSE) {
  if (!is.null(image_uri)) {
    engine <- local_container_engine()
    return(list(mode = "container", engine = engine$name, engine_path = engine$path,
                image = image_uri,
                isolation = if (engine$name == "buildah") Sys.getenv("BUILDAH_ISOLATION", "chroot")))
  }
  namespace <- find_mount_namespace()
  if (!is.null(namespace$tool)) {
    return(list(mode = "namespace", tool = namespace$tool, path = namespace$path,
                user_namespace = namespace$user_namespace))
  }
  if (no_network) {
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
# with the host's folder at /opt/ml and ContainerEntrypoint replacing the
# image's ENTRYPOINT, in two parts: the variables the container gets
# (`--env NAME`, their values from the engine's environment) go between.
container_run_args <- function(runner, container, root, entrypoint, arguments,
                               no_network = FALSE) {
  volume <- c("--volume", sprintf("%s:/opt/ml", root))
  network <- if (no_network) c("--network", "none")
  if (runner$engine == "buildah") {
    return(list(before = c("run", "--isolation", runner$isolation, volume, network),
                after = c(container, "--", entrypoint, arguments)))
  }
  list(before = c("run", "--rm", "--name", container, volume, network),
       after = c("--entrypoint", entrypoint[[1]], runner$image, entrypoint[-1], arguments))
}

# The engine for local container jobs: getOption("sagesim.container_engine"),
# else the first of docker (when its daemon answers), podman and buildah.
local_container_engine <- function() {
  engine <- container_engine(NULL, c("docker", "podman", "buildah"),
                             what = "run a local job in `image_uri`")
  list(name = engine, path = unname(Sys.which(engine)))
}

# --- a host's run.sh ------------------------------------------------------------

# A host's PATH: the worker image's (Debian's default), with this R's bin
# folder first so `Rscript` is this R.
host_path <- function() {
  paste(c(R.home("bin"), "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin",
          "/sbin", "/bin"), collapse = ":")
}

# The variables every process or namespace host gets besides the job's own
# `env` (a container host gets the image's instead): a PATH, a home of its
# own (so no one's ~/.Rprofile or ~/.Renviron is read, as in the cloud), the
# worker image's UTF-8 locale, and R_LIBS naming this session's libraries,
# where the host finds sagesim and the packages its script uses.
host_base_environment <- function(here) {
  c(PATH = host_path(), HOME = file.path(here, "home"), LANG = "C.UTF-8",
    R_LIBS = paste(.libPaths(), collapse = ":"),
    # The host uses this machine's library: a package it lacks is installed
    # here, not added to an image (R/map-worker.R says which).
    SAGESIM_LOCAL_HOST = "true")
}

# Variables that a host's script reads from its `credentials` file, which
# the core writes when the job has an AWS session (they stand in for the
# job's role, as in the Python SDK's local mode).
host_credential_variables <- c("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL",
                               "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")

# Writes hosts/{host}/run.sh, which runs the host's command (the request's
# ContainerEntrypoint and ContainerArguments: AppSpecification's, or a
# Training job's AlgorithmSpecification's) with the request's Environment
# plus `extra_env` and the contract's variables, and nothing else of the R
# session: the script first starts itself again with an empty environment.
# A Training host whose command left the interruption marker (a rehearsed
# Spot reclaim, R/training-contract.R) is checkpointed, restored and run
# again, once, as SageMaker restarts an interrupted job.
write_host_script <- function(request, dir, host, runner, extra_env = NULL) {
  root <- normalizePath(host_opt_ml(dir, host))
  here <- normalizePath(host_dir(dir, host))
  q <- shQuote
  log <- q(file.path(here, "log"))
  training <- !is.null(request$TrainingJobName)
  job_name <- request$TrainingJobName %||% request$ProcessingJobName
  app <- if (training) request$AlgorithmSpecification else request$AppSpecification
  entrypoint <- as.character(unlist(app$ContainerEntrypoint))
  arguments <- as.character(unlist(app$ContainerArguments))
  command <- c(entrypoint, arguments)
  env <- c(unlist(request$Environment), extra_env)
  no_network <- isTRUE(request$NetworkConfig$EnableNetworkIsolation) ||
    isTRUE(request$EnableNetworkIsolation)
  credentials <- q(file.path(here, "credentials"))
  # max_runtime, as SageMaker enforces it. --foreground keeps the command in
  # the host's process group, which job_stop() signals.
  timeout_path <- Sys.which("timeout")
  timeout <- if (nzchar(timeout_path)) {
    c(timeout_path, "--foreground", "--kill-after=10",
      format(request$StoppingCondition$MaxRuntimeInSeconds, scientific = FALSE))
  }
  host_rscript <- function(command) {
    if (identical(command[[1]], "Rscript")) command[[1]] <- file.path(R.home("bin"), "Rscript")
    command
  }
  exports <- function(env) if (length(env) > 0) sprintf("export %s=%s", names(env), q(unname(env)))
  if (runner$mode == "container") {
    # The engine keeps this session's environment (its storage lives under
    # HOME); the container gets the job's variables and credentials only.
    container <- container_name(job_name, host)
    engine <- q(runner$engine_path)
    remove <- if (runner$engine == "buildah") "rm" else "rm -f"
    passed <- c(names(env), host_credential_variables)
    # The variables set, as the engine's arguments: docker and podman
    # take a name's value from their own environment (off the command
    # line); buildah needs name=value.
    pass_env <- c("set --",
                  sprintf("for name in %s; do eval \"[ -n \\\"\\${$name+x}\\\" ]\" && %s; done",
                          paste(passed, collapse = " "),
                          if (runner$engine == "buildah") {
                            "eval \"set -- \\\"\\$@\\\" --env \\\"$name=\\${$name}\\\"\""
                          } else {
                            "set -- \"$@\" --env \"$name\""
                          }))
    setup <- c(exports(env),
               sprintf("if [ -f %s ]; then set -a; . %s; set +a; rm -f %s; fi", credentials,
                       credentials, credentials),
               pass_env,
               # The container outlives a killed `run` client (docker, podman) or is
               # left behind by a killed buildah: it is removed however the host ends.
               sprintf("cleanup() { %s %s %s > /dev/null 2>&1; }", engine, remove, q(container)),
               "trap 'cleanup; exit 143' TERM INT HUP")
    args <- container_run_args(runner, container, root, entrypoint, arguments, no_network)
    run <- paste(c(q(c(timeout, runner$engine_path, args$before)), "\"$@\"", q(args$after)),
                 collapse = " ")
    if (runner$engine == "buildah") {
      run <- sprintf("{ %s from --quiet --name %s %s > /dev/null && %s; }", engine, q(container),
                     q(runner$image), run)
    }
    restart <- NULL
  } else {
    dir.create(file.path(here, "home"), showWarnings = FALSE)
    base <- host_base_environment(here)
    if (runner$mode == "namespace") {
      # The command sees the cloud's paths, so nothing is rewritten.
      inside <- c(timeout, host_rscript(command))
      run <- paste(q(namespace_command(runner, root, here, inside, no_network)), collapse = " ")
    } else {
      # Paths the job was told about (/opt/ml/...) point into this host's root.
      to_local <- function(x) gsub("(^|=)/opt/ml(/|$)", paste0("\\1", root, "\\2"), x)
      base <- c(base, SAGESIM_OPT_ML = root)
      run <- paste(q(c(timeout, host_rscript(to_local(command)))), collapse = " ")
    }
    restart <- c("# Start again with an empty environment: the host sees only what is set below.",
                 "[ -n \"$SAGESIM_HOST\" ] || exec env -i SAGESIM_HOST=1 /bin/sh \"$0\"",
                 "unset SAGESIM_HOST")
    setup <- c(exports(c(base, env)),
               sprintf("if [ -f %s ]; then set -a; . %s; set +a; rm -f %s; fi", credentials,
                       credentials, credentials))
  }
  script <- c(
    "#!/bin/sh",
    sprintf("# sagesim: job %s, host %s (%s)", job_name, host,
            describe_runner(runner)),
    restart,
    sprintf("echo $$ > %s", q(file.path(here, "pid"))),
    # job_stop() writes its marker before it reads the pids: it signals this
    # host or the host sees the marker here.
    sprintf("[ -f %s ] && exit 143", q(stop_marker(normalizePath(dir)))),
    sprintf("cd %s || exit 1", q(root)),
    setup,
    sprintf("%s > %s 2>&1 < /dev/null", run, log),
    "status=$?",
    if (runner$mode == "container") "cleanup",
    if (training) restart_interrupted_host(dir, host, root, run, log,
                                           if (runner$mode == "container") c(pass_env, "cleanup")),
    sprintf("echo $status > %s && mv %s %s", q(file.path(here, "exit_code.tmp")),
            q(file.path(here, "exit_code.tmp")), q(file.path(here, "exit_code")))
  )
  # It may export the job's results key.
  write_private_lines(script, file.path(here, "run.sh"))
}

# The lines of a Training host's run.sh that play SageMaker's restart of an
# interrupted Spot job, once: the host's checkpoints saved and restored
# (through processing_runtime(), by this R), and its command run again
# without the rehearsal's variable. `before`: what a container host redoes.
restart_interrupted_host <- function(dir, host, root, run, log, before = NULL) {
  q <- shQuote
  marker <- q(file.path(root, interrupted_marker))
  runtime <- function(command) {
    sprintf("R_LIBS=%s %s -e 'sagesim::processing_runtime()' %s %s %s %s >> %s 2>&1",
            q(paste(.libPaths(), collapse = ":")), q(file.path(R.home("bin"), "Rscript")),
            command, q(normalizePath(training_request_file(dir))), q(normalizePath(dir)), q(host),
            log)
  }
  # (Not once the job is stopped: job_stop() ends it.)
  c(sprintf("if [ -f %s ] && [ ! -f %s ]; then", marker, q(stop_marker(normalizePath(dir)))),
    # A new instance would start without them.
    sprintf("  rm -f %s %s %s", marker, q(file.path(root, "output", "failure")),
            q(file.path(root, "output", "message"))),
    sprintf("  echo \"$(date -u +%%Y-%%m-%%dT%%H:%%M:%%S) sagesim: host %s was interrupted (Spot); restarted from its checkpoints\" >> %s",
            host, log),
    paste0("  ", runtime("checkpoint")),
    paste0("  ", runtime("restore")),
    sprintf("  unset %s", interrupt_variable),
    if (length(before) > 0) paste0("  ", setdiff(before, "cleanup")),
    sprintf("  %s >> %s 2>&1 < /dev/null", run, log),
    "  status=$?",
    if ("cleanup" %in% before) "  cleanup",
    "fi")
}

describe_runner <- function(runner) {
  switch(runner$mode,
         container = sprintf("%s, image %s", runner$engine, runner$image),
         namespace = sprintf("%s, its folder at /opt/ml", runner$tool),
         process = "a process, its folder in SAGESIM_OPT_ML")
}
