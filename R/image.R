#' Build the worker image and push it to Amazon ECR
#'
#' Builds the image from the package's Dockerfile with docker (or podman
#' when docker is absent), creates the ECR repository if missing, logs the
#' engine in with an ECR authorization token fetched through the AWS SDK (no
#' aws cli; the password goes to the engine on stdin and nowhere else), tags
#' and pushes. The returned URI is what [submit_processing()] needs as
#' `image_uri`. From a terminal: `tools/publish-image.sh [repository] [tag]`.
#'
#' @param context The sagesim source folder (holding the Dockerfile).
#' @param repository ECR repository name.
#' @param tag Image tag.
#' @param engine `"docker"` or `"podman"`; default
#'   `getOption("sagesim.container_engine")`, else docker if installed, else
#'   podman.
#' @param build Build the image first (`FALSE` pushes an existing local
#'   `repository:tag`).
#' @param build_args Named character vector of `--build-arg`s (e.g.
#'   `BUILD_IMAGE`, `RUNTIME_IMAGE`).
#' @param session An [aws_session()].
#' @return The pushed image's URI, `{account}.dkr.ecr.{region}.amazonaws.com/{repository}:{tag}`.
#' @examples
#' \dontrun{
#' uri <- publish_image("~/src/sagesim")
#' job <- submit_processing(simulation = simulation_spec(1000, 1000, 1000, 1e5),
#'                          image_uri = uri, instance_count = 2)
#' }
#' @export
publish_image <- function(context = ".", repository = "sagesim", tag = "latest", engine = NULL,
                          build = TRUE, build_args = NULL, session = NULL) {
  check_string(context, "context")
  check_string(repository, "repository", pattern = "^[a-z0-9]+([._/-][a-z0-9]+)*$",
               max_chars = 256)
  check_string(tag, "tag", pattern = "^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
  check_flag(build, "build")
  build_args <- check_strings(build_args, "build_args", named = TRUE)
  if (build && !file.exists(file.path(context, "Dockerfile"))) {
    abort_argument("context", sprintf("`context` must be the sagesim source folder with its Dockerfile; %s has none.",
                                      normalizePath(context, mustWork = FALSE)))
  }
  engine <- container_engine(engine, c("docker", "podman"), what = "build and push images")
  local_image <- sprintf("%s:%s", repository, tag)
  if (build) {
    run_engine(engine, c("build", "-t", local_image,
                         as.vector(rbind("--build-arg", sprintf("%s=%s", names(build_args), build_args))),
                         context))
  }
  session <- default_session(session)
  ecr <- aws_request(session, "ecr:EnsureRepository", list(RepositoryName = repository))
  aws_request(session, "ecr:Login", list(Engine = engine))
  remote_image <- sprintf("%s:%s", ecr$RepositoryUri, tag)
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
