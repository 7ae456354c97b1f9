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
  expect_identical(calls[[1]], sprintf("build -t sagesim-worker:v1 --build-arg RUNTIME_IMAGE=debian:x --build-arg SAGESIM_FROM=source %s", context))
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

test_that("sagesim.ecr_registry names the registry to log in and push to; the ECR calls stay", {
  local_moto()
  record <- local_fake_engine("podman")
  withr::local_options(sagesim.ecr_registry = "127.0.0.1:5999")
  expect_message(uri <- publish_image(repository = "sagesim-worker", tag = "v1", engine = "podman",
                                      build = FALSE),
                 "Pushed 127.0.0.1:5999/sagesim-worker:v1")
  expect_identical(uri, "127.0.0.1:5999/sagesim-worker:v1")
  calls <- readLines(record)
  expect_identical(grep("^login", calls, value = TRUE),
                   "login --username AWS --password-stdin 127.0.0.1:5999")
  expect_match(grep("^stdin:", calls, value = TRUE), "^stdin:[0-9a-f]{64}$")
  expect_identical(calls[[length(calls)]], sprintf("push %s", uri))
  # The repository was created and the token fetched from ECR (moto).
  targets <- vapply(recorded_requests(), function(r) r$headers[["X-Amz-Target"]] %||% "", "")
  expect_true(any(grepl("CreateRepository$", targets)))
  expect_true(any(grepl("GetAuthorizationToken$", targets)))
  withr::local_options(sagesim.ecr_registry = "not a host")
  expect_error(publish_image(build = FALSE, engine = "podman"), class = "sagesim_invalid_argument")
})

test_that("engines are found on PATH, and bad arguments are refused", {
  local_moto()
  local_fake_engine("podman")
  withr::local_envvar(PATH = paste(dirname(Sys.which("podman")), "/nonexistent", sep = ":"))
  withr::local_options(sagesim.container_engine = NULL)
  expect_identical(sagesim:::container_engine(NULL), "podman")
  expect_error(publish_image(withr::local_tempdir(), engine = "podman"), "Dockerfile", class = "sagesim_invalid_argument")
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

# --- build_image(): the user's packages in the worker image ---------------------

local_context <- function(env = parent.frame()) {
  context <- withr::local_tempdir(.local_envir = env)
  writeLines("FROM scratch", file.path(context, "Dockerfile"))
  context
}

test_that("build_image passes packages, system packages and repositories as build arguments", {
  context <- local_context()
  for (engine in c("docker", "podman", "buildah")) {
    calls <- local_recording_engine(engine)
    expect_message(
      tag <- build_image(context, packages = c("doParallel", "data.table", "doParallel"),
                         system_packages = "libxml2-dev", tag = "sagesim:workshop", engine = engine,
                         repos = c(CRAN = "https://cran.example.org", other = "@CRAN@"),
                         build_args = c(RUNTIME_IMAGE = "debian:x")),
      "Built sagesim:workshop")
    expect_identical(tag, "sagesim:workshop")
    expect_identical(engine_calls(calls), list(c(
      "build", "-t", "sagesim:workshop",
      "--build-arg", "RUNTIME_IMAGE=debian:x",
      "--build-arg", "SAGESIM_FROM=source",
      "--build-arg", "R_PACKAGES=doParallel data.table",
      "--build-arg", "R_REPOS=https://cran.example.org",
      "--build-arg", "SYSTEM_PACKAGES=libxml2-dev",
      context)))
  }
  # Without packages, no package arguments: the image shares every layer
  # with a plain build.
  calls <- local_recording_engine("podman")
  build_image(context, engine = "podman") |> suppressMessages()
  expect_identical(engine_calls(calls), list(c("build", "-t", "sagesim:latest", "--build-arg", "SAGESIM_FROM=source",
                                               context)))
})

# A stand-in engine that keeps, for each build, the listing of its context
# (the last argument) as it was during the build.
local_listing_engine <- function(name, env = parent.frame()) {
  bin <- withr::local_tempdir("engine-", .local_envir = env)
  listing <- file.path(bin, "listing")
  writeLines(c(
    "#!/bin/sh",
    sprintf("printf '%%s\\n' \"$@\" > %s", shQuote(file.path(bin, "args"))),
    "for last; do :; done",
    sprintf("(cd \"$last\" && find . -type f | sort) > %s", shQuote(listing)),
    "exit 0"
  ), file.path(bin, name))
  Sys.chmod(file.path(bin, name), "755")
  withr::local_envvar(PATH = paste(bin, Sys.getenv("PATH"), sep = ":"), .local_envir = env)
  list(args = file.path(bin, "args"), listing = listing)
}

test_that("without a context, build_image builds from the installed package, in any folder", {
  engine <- local_listing_engine("podman")
  withr::local_dir(withr::local_tempdir())   # no source folder here
  expect_message(build_image(packages = "doParallel", tag = "sagesim:mine", engine = "podman",
                             repos = c(CRAN = "https://cran.example.org")),
                 "Built sagesim:mine")
  args <- readLines(engine$args)
  context <- args[[length(args)]]
  expect_identical(args, c("build", "-t", "sagesim:mine", "--build-arg", "SAGESIM_FROM=binary",
                           "--build-arg", "R_PACKAGES=doParallel",
                           "--build-arg", "R_REPOS=https://cran.example.org", context))
  # The context held the installed Dockerfile and installer, and the
  # installed package itself, byte for byte; it is gone afterwards.
  listing <- readLines(engine$listing)
  installed <- find.package("sagesim")
  expect_true(all(c("./Dockerfile", "./inst/docker/install-packages.sh", "./sagesim/DESCRIPTION",
                    "./sagesim/NAMESPACE", "./sagesim/libs/sagesim.so") %in% listing))
  expect_setequal(sub("^\\./sagesim/", "", grep("^\\./sagesim/", listing, value = TRUE)),
                  list.files(installed, recursive = TRUE))
  expect_identical(readLines(file.path(installed, "docker", "Dockerfile"))[1],
                   "# sagesim worker image for SageMaker Processing jobs.")
  expect_false(dir.exists(context))
  # The installed Dockerfile has the stage a binary build copies sagesim from.
  dockerfile <- readLines(system.file("docker", "Dockerfile", package = "sagesim"))
  expect_true("FROM scratch AS binary" %in% dockerfile)
  expect_true("COPY sagesim/ /opt/sagesim/lib/sagesim/" %in% dockerfile)
})

test_that("publish_image builds with the packages too", {
  local_moto()
  calls <- local_recording_engine("docker")
  context <- local_context()
  uri <- publish_image(context, repository = "sagesim-worker", tag = "v2", engine = "docker",
                       packages = "doParallel", repos = c(CRAN = "https://cran.example.org")) |>
    suppressMessages()
  expect_identical(engine_calls(calls)[[1]], c(
    "build", "-t", "sagesim-worker:v2", "--build-arg", "SAGESIM_FROM=source", "--build-arg", "R_PACKAGES=doParallel",
    "--build-arg", "R_REPOS=https://cran.example.org", context))
  expect_identical(engine_calls(calls)[[length(engine_calls(calls))]], c("push", uri))
  expect_error(publish_image(context, build = FALSE, packages = "doParallel", engine = "docker"),
               class = "sagesim_invalid_argument")
})

test_that("calls written for the former argument orders keep their meaning, with a deprecation message", {
  local_moto()
  calls <- local_recording_engine("docker")
  context <- local_context()
  # build_image(context, packages, system_packages, tag, engine): the tag and
  # engine by position.
  expect_message(tag <- build_image(context, "doParallel", NULL, "mine:v1", "docker"),
                 "by position is deprecated; use their names \\(tag, engine\\)",
                 class = "sagesim_deprecated")
  expect_identical(tag, "mine:v1")
  expect_identical(engine_calls(calls)[[1]][1:3], c("build", "-t", "mine:v1"))
  expect_true("R_PACKAGES=doParallel" %in% engine_calls(calls)[[1]])
  # publish_image(context, repository, tag, engine, build).
  messages <- character()
  uri <- withCallingHandlers(publish_image(context, "sagesim-worker", "v3", "docker", FALSE),
                             message = function(m) {
                               messages <<- c(messages, conditionMessage(m))
                               invokeRestart("muffleMessage")
                             })
  expect_identical(uri, "123456789012.dkr.ecr.us-east-1.amazonaws.com/sagesim-worker:v3")
  expect_match(messages[[1]], "publish_image\\(\\)'s arguments after the first one by position")
  # Nothing was built (build = FALSE came by position too): the one build is
  # build_image()'s.
  verbs <- vapply(engine_calls(calls), `[[`, "", 1)
  expect_identical(verbs, c("build", "login", "tag", "push"))
  # Named, in the shared order, there is no deprecation.
  expect_message(
    expect_no_condition(build_image(context, packages = "doParallel", repos = NULL,
                                    tag = "mine:v2", engine = "docker"),
                        class = "sagesim_deprecated"),
    "Built mine:v2")
  expect_identical(names(formals(build_image))[1:5], names(formals(publish_image))[1:5])
})

test_that("bad package names and tags are refused before any build", {
  calls <- local_recording_engine("docker")
  context <- local_context()
  expect_error(build_image(context, packages = "doParallel; rm -rf /", engine = "docker"),
               "R package names", class = "sagesim_invalid_argument")
  expect_error(build_image(context, packages = "1pkg", engine = "docker"), class = "sagesim_invalid_argument")
  expect_error(build_image(context, system_packages = "Libxml2 dev", engine = "docker"),
               "Debian package names", class = "sagesim_invalid_argument")
  expect_error(build_image(context, tag = "my image", engine = "docker"), class = "sagesim_invalid_argument")
  expect_error(build_image(withr::local_tempdir(), engine = "docker"), "Dockerfile",
               class = "sagesim_invalid_argument")
  expect_length(engine_calls(calls), 0)
})

test_that("a package that cannot be installed fails the build, naming it", {
  context <- local_context()
  bin <- withr::local_tempdir()
  # What inst/docker/install-packages.sh prints when a package will not load.
  writeLines(c("#!/bin/sh", "echo 'STEP 9/12: RUN sh /usr/local/lib/sagesim/install-packages.sh'",
               "echo 'sagesim: could not install R packages: notAPackage (see the messages above)' >&2",
               "echo 'Error: building at STEP \"RUN ...\": exit status 1' >&2", "exit 1"),
             file.path(bin, "podman"))
  Sys.chmod(file.path(bin, "podman"), "755")
  withr::local_envvar(PATH = paste(bin, Sys.getenv("PATH"), sep = ":"))
  error <- tryCatch(build_image(context, packages = "notAPackage", engine = "podman"), error = identity)
  expect_s3_class(error, "sagesim_engine_error")
  expect_match(conditionMessage(error), "podman build` of sagesim:latest failed with exit status 1 while installing packages",
               fixed = TRUE)
  expect_match(conditionMessage(error), "could not install R packages: notAPackage", fixed = TRUE)
  # The build's whole output is kept.
  expect_true(any(grepl("STEP 9/12", readLines(error$log))))
})

# A real build, with the worker image's own build arguments: only where
# tools/container/check.sh has built it (SAGESIM_TEST_BUILD_ARGS names a file
# of KEY=VALUE lines, SAGESIM_TEST_BUILD_CONTEXT the source snapshot).
test_that("a real build that cannot install a package fails, naming it", {
  args_file <- Sys.getenv("SAGESIM_TEST_BUILD_ARGS")
  if (!nzchar(args_file)) skip("SAGESIM_TEST_BUILD_ARGS is not set (tools/container/check.sh sets it)")
  lines <- readLines(args_file)
  build_args <- stats::setNames(sub("^[^=]*=", "", lines), sub("=.*$", "", lines))
  error <- tryCatch(
    build_image(Sys.getenv("SAGESIM_TEST_BUILD_CONTEXT"), packages = c("doParallel", "sagesimNoSuchPackage"),
                tag = "localhost/sagesim:no-such-package", engine = Sys.getenv("SAGESIM_TEST_ENGINE", "podman"),
                build_args = build_args, repos = NULL),
    error = identity)
  expect_s3_class(error, "sagesim_engine_error")
  # doParallel comes from Debian; the other cannot come from anywhere.
  expect_match(conditionMessage(error), "cannot install R packages: sagesimNoSuchPackage:", fixed = TRUE)
})

# A package with compiled code that Debian does not have, from a repository
# served on this machine's loopback (CRAN itself is out of reach here):
# compiled in the image, with the compilers gone again afterwards.
local_repository_with_compiled_package <- function(env = parent.frame()) {
  dir <- withr::local_tempdir(.local_envir = env)
  source <- file.path(dir, "sagesimdemo")
  dir.create(file.path(source, "R"), recursive = TRUE)
  dir.create(file.path(source, "src"))
  writeLines(c("Package: sagesimdemo", "Version: 0.0.1", "Title: Compiled Code for sagesim's Image Tests",
               "Description: Adds two numbers in C.",
               "Authors@R: person(\"sagesim authors\", role = c(\"aut\", \"cre\"), email = \"sagesim@example.org\")",
               "License: MIT", "Encoding: UTF-8"), file.path(source, "DESCRIPTION"))
  writeLines(c("useDynLib(sagesimdemo, .registration = TRUE)", "export(add)"), file.path(source, "NAMESPACE"))
  writeLines("add <- function(a, b) .Call(C_add, as.numeric(a), as.numeric(b))", file.path(source, "R", "add.R"))
  writeLines(c("#include <R.h>", "#include <Rinternals.h>", "#include <R_ext/Rdynload.h>",
               "SEXP add(SEXP a, SEXP b) { return ScalarReal(asReal(a) + asReal(b)); }",
               "static const R_CallMethodDef calls[] = {{\"C_add\", (DL_FUNC) &add, 2}, {NULL, NULL, 0}};",
               "void R_init_sagesimdemo(DllInfo *info) { R_registerRoutines(info, NULL, calls, NULL, NULL); }"),
             file.path(source, "src", "add.c"))
  contrib <- file.path(dir, "repo", "src", "contrib")
  dir.create(contrib, recursive = TRUE)
  withr::with_dir(contrib, system2(file.path(R.home("bin"), "R"), c("CMD", "build", shQuote(source)),
                                   stdout = FALSE, stderr = FALSE))
  tools::write_PACKAGES(contrib, type = "source")
  port <- 20000L + sample.int(20000L, 1)
  server <- serve_folder(file.path(dir, "repo"), port)
  withr::defer(tools::pskill(server), envir = env)
  sprintf("http://127.0.0.1:%d", port)
}

# python3's http.server in the background; its pid.
serve_folder <- function(dir, port) {
  pid_file <- tempfile()
  command <- python3_command()
  system2("sh", c("-c", shQuote(sprintf("cd %s && %s -m http.server %d --bind 127.0.0.1 > /dev/null 2>&1 & echo $! > %s",
                                         shQuote(dir), paste(shQuote(command), collapse = " "), port,
                                         shQuote(pid_file)))))
  deadline <- Sys.time() + 10
  repeat {
    up <- tryCatch({
      close(socketConnection("127.0.0.1", port, open = "r", timeout = 1))
      TRUE
    }, error = function(e) FALSE, warning = function(w) FALSE)
    if (up || Sys.time() > deadline) break
    Sys.sleep(0.2)
  }
  as.integer(readLines(pid_file))
}

test_that("a real build compiles a package only a repository has, and removes the compilers again", {
  args_file <- Sys.getenv("SAGESIM_TEST_BUILD_ARGS")
  if (!nzchar(args_file)) skip("SAGESIM_TEST_BUILD_ARGS is not set (tools/container/check.sh sets it)")
  lines <- readLines(args_file)
  build_args <- stats::setNames(sub("^[^=]*=", "", lines), sub("=.*$", "", lines))
  repos <- local_repository_with_compiled_package()
  tag <- "localhost/sagesim:compiled-package"
  withr::defer(system2("podman", c("rmi", tag), stdout = FALSE, stderr = FALSE))
  build_image(Sys.getenv("SAGESIM_TEST_BUILD_CONTEXT"), packages = c("doParallel", "sagesimdemo"),
              tag = tag, engine = Sys.getenv("SAGESIM_TEST_ENGINE", "podman"), build_args = build_args,
              repos = c(CRAN = repos)) |> suppressMessages()
  container <- system2("buildah", c("from", "--quiet", "--pull-never", tag), stdout = TRUE)
  withr::defer(system2("buildah", c("rm", container), stdout = FALSE))
  inside <- system2("buildah", c("run", "--isolation", "chroot", container, "--", "sh", "-c", shQuote(paste(
    "Rscript -e 'cat(sagesimdemo::add(1, 2), requireNamespace(\"doParallel\"), \"\\n\")';",
    "command -v gcc cc make || echo no compilers"))), stdout = TRUE)
  expect_identical(inside, c("3 TRUE ", "no compilers"))
})
