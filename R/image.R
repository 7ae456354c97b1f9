#' Build the worker image, with the packages your scripts need
#'
#' Builds the image SageMaker Processing jobs run (see
#' `vignette("real-account", package = "sagesim")`) from the package's
#' Dockerfile: R, sagesim, and the R and system packages you name. Use the returned tag as `image_uri` of a local
#' job (`submit_processing(instance_type = "local")` then runs each host in
#' it), or push it with [publish_image()].
#'
#' Without `context` (the default), the image gets the sagesim you have
#' installed, copied as it is: no source folder, Rust or compiler is needed,
#' and it works from any working directory. The Dockerfile is the one
#' installed with the package (`system.file("docker", package = "sagesim")`).
#' The installed package must be one built for the image's R and platform
#' (Debian bookworm's R 4.2 on Linux, unless `build_args` names another
#' `RUNTIME_IMAGE`); the build checks that it loads there. With `context`,
#' the sagesim source folder, sagesim is compiled from it in the image's build
#' stage instead.
#'
#' Each R package comes from Debian's `r-cran-<name>` when Debian has it
#' (a binary: fast, no compiler), else from `install.packages()` with
#' `repos`, compiled in the image (the compilers are removed again
#' afterwards). Installing from `repos` needs network access to them at
#' build time; a package with compiled code that needs a system library
#' needs that library's `-dev` package in `system_packages`. Every R package
#' must load at the end of its layer: one that cannot be installed fails the
#' build, naming it (a `sagesim_engine_error`), rather than a later job.
#'
#' The packages are installed in a layer after sagesim's, so trying other
#' packages reuses the layers below. The base is Debian bookworm's R (4.2
#' today), `debian:bookworm-slim`; pick another Debian-based base with
#' `build_args = c(RUNTIME_IMAGE = "...")` (it must provide R from apt as
#' `r-base-core`, and the build stage `BUILD_IMAGE` the same R version with
#' Rust).
#'
#' build_image() and [publish_image()] share their arguments' order: what
#' goes into the image (`context`, `packages`, `system_packages`, `repos`,
#' `build_args`), then where it goes (`tag`; `repository` and `tag`), then
#' how (`engine`). Give the arguments after `context` by name: a call that
#' passes more by position is read in the functions' former orders, as it
#' was written, with a `sagesim_deprecated` message.
#'
#' @param context `NULL` (the default) for the installed sagesim, or the
#'   sagesim source folder (holding the Dockerfile) to compile it from.
#' @param packages R packages to add to the image, e.g. `c("doParallel", "data.table")`.
#' @param system_packages Debian packages to add, e.g. `"libxml2-dev"`.
#' @param tag The image's tag.
#' @param engine `"docker"`, `"podman"` or `"buildah"`; default
#'   `getOption("sagesim.container_engine")`, else the first of docker (when
#'   its daemon answers), podman and buildah. Where podman or buildah cannot
#'   run build steps in their default isolation (some sandboxes and
#'   containers), set the environment variable `BUILDAH_ISOLATION=chroot`.
#' @param repos Repositories for R packages Debian does not have; default
#'   `getOption("repos")`.
#' @param build_args Named character vector of further `--build-arg`s (e.g.
#'   `BUILD_IMAGE`, `RUNTIME_IMAGE`).
#' @return The image's tag, invisibly.
#' @examples
#' \dontrun{
#' # From any folder, with the installed sagesim:
#' tag <- build_image(packages = c("doParallel", "data.table"))
#' # Rehearse a job in the image, each host with its own /opt/ml:
#' job <- submit_processing(code = "analysis.R", image_uri = tag, instance_type = "local",
#'                          instance_count = 2)
#' # From the source folder, compiling sagesim in the image:
#' build_image("~/src/sagesim", packages = "doParallel")
#' }
#' @param ... Not used: an argument these do not take is refused
#'   (`sagesim_unknown_argument`), naming the one meant.
#' @export
build_image <- function(context = NULL, packages = NULL, system_packages = NULL,
                        repos = getOption("repos"), build_args = NULL, tag = "sagesim:latest",
                        engine = NULL, ...) {
  check_unknown_arguments("build_image", ...)
  former <- former_positions(sys.call(), keep = 3, "build_image",
                             c("context", "packages", "system_packages", "tag", "engine", "repos",
                               "build_args"))
  if (!is.null(former)) return(eval(former, parent.frame()))
  if (!is.null(context)) check_string(context, "context")
  check_image_packages(packages, system_packages)
  check_string(tag, "tag", pattern = image_tag_pattern, max_chars = 255,
               expected = "an image name with a tag, e.g. \"sagesim-worker:latest\"")
  build_args <- check_strings(build_args, "build_args", named = TRUE)
  check_strings(repos, "repos")
  check_source_context(context)
  engine <- container_engine(engine, c("docker", "podman", "buildah"), what = "build images")
  # The Dockerfile's stage sagesim comes from; always named, as podman and
  # buildah (1.28) skip the stage an ARG's default names.
  from <- if (is.null(context)) "binary" else "source"
  if (is.null(context)) {
    context <- installed_package_context()
    on.exit(unlink(context, recursive = TRUE), add = TRUE)
  }
  build_args <- c(build_args[names(build_args) != "SAGESIM_FROM"], SAGESIM_FROM = from)
  build_args <- c(build_args, package_build_args(packages, system_packages, repos))
  command <- c("build", "-t", tag,
               if (length(build_args) > 0) {
                 as.vector(rbind("--build-arg", sprintf("%s=%s", names(build_args), build_args)))
               },
               context)
  log <- tempfile("sagesim-build-", fileext = ".log")
  status <- run_engine_logged(engine, command, log)
  if (status != 0) {
    lines <- readLines(log, warn = FALSE)
    ours <- unique(grep("^sagesim: ", lines, value = TRUE))
    detail <- if (length(ours) > 0) ours else utils::tail(lines, 10)
    abort(c(sprintf("`%s build` of %s failed with exit status %d%s.", engine, tag, status,
                    if (length(packages) + length(system_packages) > 0) " while installing packages" else ""),
            detail, sprintf("Build log: %s", log)),
          class = "sagesim_engine_error", log = log)
  }
  unlink(log)
  message(sprintf("Built %s", tag))
  invisible(tag)
}

check_source_context <- function(context) {
  if (!is.null(context) && !file.exists(file.path(context, "Dockerfile"))) {
    abort_argument("context", sprintf(paste(
      "`context` must be the sagesim source folder with its Dockerfile; %s has none.",
      "Leave `context` out to build the image from the installed sagesim."),
      normalizePath(context, mustWork = FALSE)))
  }
  invisible()
}

# A build context made of the installed package: the Dockerfile and the
# packages' installer as installed with sagesim (inst/docker), at the paths
# the Dockerfile names, and the installed package itself in sagesim/, which
# the Dockerfile's `binary` stage copies into the image.
installed_package_context <- function() {
  installed <- find.package("sagesim")
  docker <- file.path(installed, "docker")
  if (!file.exists(file.path(docker, "Dockerfile"))) {
    abort(sprintf("The installed sagesim (%s) has no docker/Dockerfile; reinstall it, or pass `context =` the source folder.",
                  installed), class = "sagesim_engine_error")
  }
  context <- tempfile("sagesim-context-")
  dir.create(file.path(context, "inst", "docker"), recursive = TRUE)
  file.copy(file.path(docker, "Dockerfile"), file.path(context, "Dockerfile"))
  file.copy(file.path(docker, "install-packages.sh"), file.path(context, "inst", "docker"))
  if (!all(file.copy(installed, context, recursive = TRUE))) {
    abort(sprintf("Could not copy the installed sagesim (%s) into the image's build context.", installed),
          class = "sagesim_engine_error")
  }
  context
}

# [registry[:port]/]name[:tag], without anything a shell would read.
image_tag_pattern <- "^[A-Za-z0-9][A-Za-z0-9._/:@-]*$"

check_image_packages <- function(packages, system_packages) {
  check_strings(packages, "packages")
  check_strings(system_packages, "system_packages")
  bad <- packages[!grepl("^[A-Za-z][A-Za-z0-9.]*[A-Za-z0-9]$", packages)]
  if (length(bad) > 0) {
    abort_argument("packages", sprintf("`packages` must be R package names; not %s.",
                                       paste0("\"", bad, "\"", collapse = ", ")))
  }
  bad <- system_packages[!grepl("^[a-z0-9][a-z0-9+.-]+$", system_packages)]
  if (length(bad) > 0) {
    abort_argument("system_packages", sprintf("`system_packages` must be Debian package names; not %s.",
                                              paste0("\"", bad, "\"", collapse = ", ")))
  }
  invisible()
}

# The Dockerfile's build arguments for the extra packages (see
# inst/docker/install-packages.sh); none at all without packages, so
# an image without them shares every layer with a plain build.
package_build_args <- function(packages, system_packages, repos) {
  repos <- unique(unname(repos[!is.na(repos) & repos != "@CRAN@"]))
  c(if (length(packages) > 0) c(R_PACKAGES = paste(unique(packages), collapse = " "),
                                R_REPOS = paste(repos, collapse = " ")),
    if (length(system_packages) > 0) c(SYSTEM_PACKAGES = paste(unique(system_packages), collapse = " ")))
}

#' Build the worker image and push it to Amazon ECR
#'
#' Builds the image with [build_image()] (docker or podman), creates the ECR
#' repository if missing, logs the engine in with an ECR authorization token
#' fetched through the AWS SDK (no aws cli; the password goes to the engine
#' on stdin and nowhere else), tags and pushes. The returned URI is what
#' [submit_processing()] needs as `image_uri`. From a terminal:
#' `tools/publish-image.sh [repository] [tag]`.
#'
#' Like [build_image()], it builds from the installed sagesim unless
#' `context` names the source folder.
#'
#' The registry's host is the one ECR names for the account
#' (`{account}.dkr.ecr.{region}.amazonaws.com`). The option
#' `sagesim.ecr_registry` (`"host[:port]"`) names another host to log in to
#' and push to instead, with the same repository path and the same ECR
#' authorization token: a registry that stands in for the account's ECR
#' endpoint, such as a local registry in tests. The ECR calls
#' (CreateRepository, GetAuthorizationToken) go to the session's ECR
#' endpoint either way.
#'
#' @inheritParams build_image
#' @param repository ECR repository name.
#' @param tag Image tag.
#' @param engine `"docker"` or `"podman"`; default
#'   `getOption("sagesim.container_engine")`, else docker if its daemon
#'   answers, else podman.
#' @param build Build the image first (`FALSE` pushes an existing local
#'   `repository:tag`).
#' @param session An [aws_session()].
#' @return The pushed image's URI, `{account}.dkr.ecr.{region}.amazonaws.com/{repository}:{tag}`
#'   (with the host of `getOption("sagesim.ecr_registry")` when set).
#' @examples
#' \dontrun{
#' uri <- publish_image(packages = "doParallel")
#' job <- submit_processing(code = "workshop.R", image_uri = uri, instance_count = 2)
#' }
#' @param ... Not used: an argument these do not take is refused
#'   (`sagesim_unknown_argument`), naming the one meant.
#' @export
publish_image <- function(context = NULL, packages = NULL, system_packages = NULL,
                          repos = getOption("repos"), build_args = NULL, repository = "sagesim",
                          tag = "latest", engine = NULL, build = TRUE, session = NULL, ...) {
  check_unknown_arguments("publish_image", ...)
  former <- former_positions(sys.call(), keep = 1, "publish_image",
                             c("context", "repository", "tag", "engine", "build", "packages",
                               "system_packages", "repos", "build_args", "session"))
  if (!is.null(former)) return(eval(former, parent.frame()))
  if (!is.null(context)) check_string(context, "context")
  check_string(repository, "repository", pattern = "^[a-z0-9]+([._/-][a-z0-9]+)*$",
               max_chars = 256,
               expected = "an ECR repository name: lower-case letters and digits, parts joined by . _ / or -, e.g. \"sagesim/worker\"")
  check_string(tag, "tag", pattern = "^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$",
               expected = "letters, digits, underscores, dots and hyphens, at most 128, e.g. \"v1.2\"")
  check_flag(build, "build")
  check_image_packages(packages, system_packages)
  build_args <- check_strings(build_args, "build_args", named = TRUE)
  if (!build && length(packages) + length(system_packages) > 0) {
    abort_argument("packages", "`packages` and `system_packages` are installed while building; with `build = FALSE` nothing is built.")
  }
  registry <- getOption("sagesim.ecr_registry")
  if (!is.null(registry)) {
    check_string(registry, "sagesim.ecr_registry", pattern = "^[A-Za-z0-9.-]+(:[0-9]+)?$", max_chars = 255,
                 expected = "a registry host, with a port if any, e.g. \"localhost:5000\"")
  }
  if (build) check_source_context(context)
  # ECR's login goes through docker or podman.
  engine <- container_engine(engine, c("docker", "podman"), what = "build and push images")
  local_image <- sprintf("%s:%s", repository, tag)
  if (build) {
    build_image(context, packages = packages, system_packages = system_packages, repos = repos,
                build_args = build_args, tag = local_image, engine = engine)
  }
  session <- default_session(session)
  ecr <- aws_request(session, "ecr:EnsureRepository", list(RepositoryName = repository))
  aws_request(session, "ecr:Login", c(list(Engine = engine), if (!is.null(registry)) list(Registry = registry)))
  repository_uri <- ecr$RepositoryUri
  if (!is.null(registry)) repository_uri <- sub("^[^/]+", registry, repository_uri)
  remote_image <- sprintf("%s:%s", repository_uri, tag)
  run_engine(engine, c("tag", local_image, remote_image))
  run_engine(engine, c("push", remote_image))
  message(sprintf("Pushed %s", remote_image))
  remote_image
}

# `engine`, else getOption("sagesim.container_engine"), else the first of
# `allowed` found on PATH (docker only when its daemon answers: a docker
# client alone cannot build or run anything).
container_engine <- function(engine, allowed = c("docker", "podman"), what = "build images") {
  engine <- engine %||% getOption("sagesim.container_engine")
  if (is.null(engine)) {
    for (candidate in allowed) {
      if (!nzchar(Sys.which(candidate))) next
      if (candidate == "docker" && !docker_daemon_answers()) next
      engine <- candidate
      break
    }
  }
  if (is.null(engine)) {
    abort(sprintf("No container engine to %s: install %s (or set options(sagesim.container_engine = )).",
                  what, paste(allowed, collapse = ", or ")),
          class = "sagesim_engine_error")
  }
  check_choice(engine, allowed, "engine")
  if (!nzchar(Sys.which(engine))) {
    abort(sprintf("%s was not found on PATH.", engine), class = "sagesim_engine_error")
  }
  engine
}

docker_daemon_answers <- function() {
  status <- suppressWarnings(system2("docker", c("version", "--format", shQuote("{{.Server.Version}}")),
                                     stdout = FALSE, stderr = FALSE, timeout = 10))
  identical(as.integer(status), 0L)
}

run_engine <- function(engine, args) {
  status <- system2(engine, shQuote(args))
  if (!identical(as.integer(status), 0L)) {
    abort(sprintf("`%s %s` failed with exit status %s.", engine, args[[1]], status),
          class = "sagesim_engine_error")
  }
  invisible()
}

# Runs the engine with its output shown as it comes and kept in `log`;
# returns its exit status.
run_engine_logged <- function(engine, args, log) {
  status_file <- tempfile("sagesim-status-")
  on.exit(unlink(status_file), add = TRUE)
  command <- sprintf("{ %s 2>&1; echo $? > %s; } | tee %s", paste(shQuote(c(engine, args)), collapse = " "),
                     shQuote(status_file), shQuote(log))
  system2("sh", c("-c", shQuote(command)))
  status <- suppressWarnings(as.integer(readLines(status_file, warn = FALSE)))
  if (length(status) != 1 || is.na(status)) 1L else status
}

# build_image() and publish_image() take their shared arguments in one order
# (what goes into the image, then where it goes, then how). A call written
# for their former orders passed more than the first `keep` arguments by
# position: it is rewritten with those arguments named as they were meant
# (`former`, the former order), with a deprecation message; NULL otherwise.
former_positions <- function(call, keep, fun, former) {
  args <- as.list(call)[-1]
  given <- names(args) %||% rep("", length(args))
  unnamed <- which(!nzchar(given))
  if (length(unnamed) <= keep) return(NULL)
  given[unnamed] <- setdiff(former, given)[seq_along(unnamed)]
  if (anyNA(given)) abort_argument("...", sprintf("%s() was given too many arguments.", fun))
  deprecated_name(sprintf("Passing %s()'s arguments after the first %s by position",
                          fun, if (keep == 1) "one" else keep),
                  sprintf("their names (%s)", paste(given[unnamed[-seq_len(keep)]], collapse = ", ")))
  names(args) <- given
  as.call(c(call[[1]], args))
}
