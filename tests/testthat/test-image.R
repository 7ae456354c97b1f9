# publish_image(): ECR calls against moto, the container engine through a
# recording stand-in placed first on PATH.

local_fake_engine <- function(name = "docker", env = parent.frame()) {
  bin <- withr::local_tempdir(.local_envir = env)
  record <- file.path(bin, "calls.log")
  writeLines(c(
    "#!/bin/sh",
    sprintf("echo \"$*\" >> %s", shQuote(record)),
    sprintf("if [ \"$1\" = login ]; then echo \"stdin:$(cat | sha256sum | cut -c1-64)\" >> %s; fi",
            shQuote(record)),
    "exit 0"
  ), file.path(bin, name))
  Sys.chmod(file.path(bin, name), "755")
  withr::local_envvar(PATH = paste(bin, Sys.getenv("PATH"), sep = ":"), .local_envir = env)
  record
}

test_that("publish_image builds, creates the repository, logs in on stdin, tags and pushes", {
  local_moto()
  record <- local_fake_engine("docker")
  context <- withr::local_tempdir()
  writeLines("FROM scratch", file.path(context, "Dockerfile"))
  expect_message(uri <- publish_image(context, repository = "sagesim-worker", tag = "v1",
                                      engine = "docker", build_args = c(RUNTIME_IMAGE = "debian:x")),
                 "Pushed")
  expect_identical(uri, "123456789012.dkr.ecr.us-east-1.amazonaws.com/sagesim-worker:v1")
  calls <- readLines(record)
  expect_identical(calls[[1]], sprintf("build -t sagesim-worker:v1 --build-arg RUNTIME_IMAGE=debian:x %s", context))
  login <- grep("^login", calls, value = TRUE)
  expect_identical(login, "login --username AWS --password-stdin 123456789012.dkr.ecr.us-east-1.amazonaws.com")
  # The password arrived on stdin (a non-empty digest) and never as an argument.
  expect_match(grep("^stdin:", calls, value = TRUE), "^stdin:[0-9a-f]{64}$")
  expect_false(grepl(sprintf("stdin:%s", "e3b0c44298fc1c149afbf4c8996fb924"), paste(calls, collapse = "\n")))
  expect_true(sprintf("tag sagesim-worker:v1 %s", uri) %in% calls)
  expect_identical(calls[[length(calls)]], sprintf("push %s", uri))
  # The repository exists now, and publishing again reuses it.
  expect_identical(publish_image(context, repository = "sagesim-worker", tag = "v1", engine = "docker",
                                 build = FALSE) |> suppressMessages(), uri)
})

test_that("engines are found on PATH, and bad arguments are refused", {
  local_moto()
  local_fake_engine("podman")
  withr::local_envvar(PATH = paste(dirname(Sys.which("podman")), "/nonexistent", sep = ":"))
  withr::local_options(sagesim.container_engine = NULL)
  expect_identical(sagesim:::container_engine(NULL), "podman")
  expect_error(publish_image(withr::local_tempdir(), engine = "podman"), class = "sagesim_invalid_argument")
  expect_error(publish_image(".", repository = "Bad Repo"), class = "sagesim_invalid_argument")
  expect_error(publish_image(".", engine = "rkt", build = FALSE), class = "sagesim_invalid_argument")
})

test_that("a failing engine gives a classed error", {
  local_moto()
  bin <- withr::local_tempdir()
  writeLines(c("#!/bin/sh", "echo boom >&2", "exit 7"), file.path(bin, "docker"))
  Sys.chmod(file.path(bin, "docker"), "755")
  withr::local_envvar(PATH = paste(bin, Sys.getenv("PATH"), sep = ":"))
  context <- withr::local_tempdir()
  writeLines("FROM scratch", file.path(context, "Dockerfile"))
  expect_error(suppressWarnings(publish_image(context, engine = "docker")), class = "sagesim_engine_error")
})
