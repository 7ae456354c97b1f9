# submit_processing() against moto: what is sent, where files go, and that
# bad input or a failed submission leaves nothing behind.


test_that("a script job is sent exactly as ScriptProcessor would send it", {
  local_moto()
  session <- aws_session(role = role)
  script <- file.path(withr::local_tempdir(), "analysis.R")
  writeLines("cat('hi\\n')", script)
  data_dir <- withr::local_tempdir()
  writeLines("a,b", file.path(data_dir, "one.csv"))
  writeLines("c,d", file.path(data_dir, "two.csv"))
  job <- submit_processing(
    code = script, image_uri = image, arguments = c("--n", "10"),
    instance_count = 2, instance_type = "ml.c5.2xlarge", volume_size_gb = 50, max_runtime = 3600,
    base_job_name = "covid-sim",
    inputs = list(processing_input(data_dir, name = "data"),
                  processing_input("s3://other-bucket/ref/", destination = "/opt/ml/processing/ref",
                                   s3_data_distribution_type = "ShardedByS3Key")),
    outputs = list(processing_output("/opt/ml/processing/output/a"),
                   processing_output("/opt/ml/processing/output/b", destination = "s3://results/x")),
    env = c(MODE = "full"), tags = c(project = "covid"),
    network = network_config(subnets = "subnet-1", security_group_ids = "sg-1",
                             encrypt_inter_container_traffic = TRUE),
    volume_kms_key = "vol-key", output_kms_key = "out-key",
    wait = FALSE, session = session)
  expect_s3_class(job, "sagesim_cloud_job")
  expect_match(job$name, "^covid-sim-[0-9]{4}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{3}$")
  sent <- recorded_sagemaker("CreateProcessingJob")
  expect_length(sent, 1)
  request <- sent[[1]]
  name <- job$name
  expect_identical(request$ProcessingJobName, name)
  expect_identical(request$RoleArn, role)
  expect_identical(request$AppSpecification$ImageUri, image)
  expect_identical(unlist(request$AppSpecification$ContainerEntrypoint),
                   c("Rscript", "/opt/ml/processing/input/code/analysis.R"))
  expect_identical(unlist(request$AppSpecification$ContainerArguments), c("--n", "10"))
  cluster <- request$ProcessingResources$ClusterConfig
  expect_identical(cluster$InstanceCount, 2L)
  expect_identical(cluster$InstanceType, "ml.c5.2xlarge")
  expect_identical(cluster$VolumeSizeInGB, 50L)
  expect_identical(cluster$VolumeKmsKeyId, "vol-key")
  expect_identical(request$StoppingCondition$MaxRuntimeInSeconds, 3600L)
  inputs <- request$ProcessingInputs
  expect_identical(vapply(inputs, `[[`, "", "InputName"), c("code", "data", "input-2"))
  expect_identical(inputs[[1]]$S3Input$S3Uri,
                   sprintf("s3://%s/%s/input/code/analysis.R", session$bucket, name))
  expect_identical(inputs[[1]]$S3Input$LocalPath, "/opt/ml/processing/input/code")
  expect_identical(inputs[[2]]$S3Input$S3Uri, sprintf("s3://%s/%s/input/data", session$bucket, name))
  expect_identical(inputs[[2]]$S3Input$LocalPath, "/opt/ml/processing/input/data")
  expect_identical(inputs[[3]]$S3Input$S3Uri, "s3://other-bucket/ref/")
  expect_identical(inputs[[3]]$S3Input$S3DataDistributionType, "ShardedByS3Key")
  expect_identical(inputs[[2]]$S3Input$S3InputMode, "File")
  outputs <- request$ProcessingOutputConfig$Outputs
  expect_identical(vapply(outputs, `[[`, "", "OutputName"), c("output-1", "output-2"))
  expect_identical(outputs[[1]]$S3Output$S3Uri, sprintf("s3://%s/%s/output/output-1", session$bucket, name))
  expect_identical(outputs[[2]]$S3Output$S3Uri, "s3://results/x")
  expect_identical(outputs[[1]]$S3Output$S3UploadMode, "EndOfJob")
  expect_identical(request$ProcessingOutputConfig$KmsKeyId, "out-key")
  expect_identical(request$Environment, list(MODE = "full"))
  expect_identical(request$NetworkConfig$EnableInterContainerTrafficEncryption, TRUE)
  expect_identical(unlist(request$NetworkConfig$VpcConfig$Subnets), "subnet-1")
  expect_identical(request$Tags, list(list(Key = "project", Value = "covid")))
  # The files really are where the request says.
  expect_setequal(bucket_keys(session, name), c(
    sprintf("%s/input/code/analysis.R", name),
    sprintf("%s/input/data/one.csv", name), sprintf("%s/input/data/two.csv", name),
    sprintf("%s/input/sagesim-job.json", name)))
})

test_that("a simulation job runs the installed worker with the spec's parameters", {
  local_moto()
  session <- aws_session(role = role)
  spec <- simulation_spec(1000, 1000, 1000, 10000, seed = 42)
  job <- submit_processing(simulation = spec, image_uri = image, instance_count = 3,
                           wait = FALSE, session = session)
  expect_identical(job$kind, "simulation")
  expect_match(job$name, "^sagesim-simulation-")
  request <- recorded_sagemaker("CreateProcessingJob")[[1]]
  expect_identical(unlist(request$AppSpecification$ContainerEntrypoint),
                   c("Rscript", "-e", "sagesim::run_worker()"))
  expect_identical(unlist(request$AppSpecification$ContainerArguments), c(
    "--x-length", "1000", "--y-length", "1000", "--num-people", "1000",
    "--max-iterations", "10000", "--distance", "6", "--seed", "42",
    "--output-dir", "/opt/ml/processing/output/simulation"))
  expect_identical(request$ProcessingOutputConfig$Outputs[[1]]$S3Output$S3Uri,
                   sprintf("s3://%s/%s/output/simulation", session$bucket, job$name))
  expect_null(request$ProcessingInputs)
})

test_that("bad input is refused before any AWS call", {
  local_moto()
  session <- aws_session(role = role)
  http_request(moto$port, "POST", "/moto-api/recorder/reset-recording")
  script <- local_script()
  spec <- simulation_spec(10, 10, 5, 5, seed = 1)
  bad <- list(
    list(code = script),                                               # no image
    list(code = script, image_uri = image, base_job_name = "bad_name"),
    list(code = script, image_uri = image, instance_count = 101),
    list(code = script, image_uri = image, instance_type = "m5.large"),
    list(code = script, image_uri = image, volume_size_gb = 0),
    list(code = script, image_uri = image, max_runtime = 1e7),
    list(code = script, image_uri = image, env = c(`1BAD` = "x")),
    list(code = script, image_uri = image, env = c(GOOD = strrep("x", 257))),
    list(code = script, image_uri = image, env = setNames(rep("x", 101), paste0("K", 1:101))),
    list(code = script, image_uri = image, inputs = list(processing_input("s3://bucket/x"),
                                                         processing_input("s3://bucket/y", name = "input-1"))),
    list(code = script, image_uri = image, outputs = c(out = "/opt/ml/processing/output/a"),
         role = "arn:aws:iam::123456789012:user/not-a-role"),
    list(code = script, image_uri = image, inputs = c(a = "s3:/missing-slash")),
    list(code = script, image_uri = image,                             # a cloud job writes to S3
         outputs = list(processing_output("/opt/ml/processing/output/a", destination = "results"))),
    list(simulation = spec, image_uri = image, arguments = "--x")
  )
  for (args in bad) {
    expect_error(do.call(submit_processing, c(args, list(wait = FALSE, session = session))),
                 class = "sagesim_invalid_argument")
  }
  expect_error(processing_input("s3://b/x", destination = "/tmp/x"), class = "sagesim_invalid_argument")
  expect_error(processing_output("/opt/ml/processing/output/a", destination = "s3://Bad_Bucket/x"),
               class = "sagesim_invalid_argument")
  expect_error(processing_output("/opt/ml/processing/../etc"), class = "sagesim_invalid_argument")
  expect_length(recorded_requests(), 0)
})

test_that("repeated env or tag names are refused before anything is created", {
  local_moto()
  session <- aws_session(role = role)
  jobs <- use_temp_job_dir()
  http_request(moto$port, "POST", "/moto-api/recorder/reset-recording")
  repeated <- list(env = c(STAGE = "a", LEVEL = "1", STAGE = "b"),
                   env = list(STAGE = "a", STAGE = "a"),
                   tags = c(team = "a", team = "b"),
                   tags = list(team = "a", project = "p", team = "a"))
  for (k in seq_along(repeated)) {
    setting <- repeated[k]
    for (instance_type in c("ml.m5.xlarge", "local")) {
      info <- paste(names(setting), instance_type)
      submissions <- list(
        function(...) submit_processing(code = local_script(), ...),
        function(...) submit_map(1:3, identity, ...))
      for (submit in submissions) {
        error <- tryCatch(do.call(submit, c(setting, list(image_uri = image, instance_type = instance_type,
                                                          wait = FALSE, session = session))),
                          error = identity)
        expect_s3_class(error, "sagesim_invalid_argument")
        expect_identical(error$argument, names(setting), info = info)
        expect_match(conditionMessage(error), "unique; repeated: (STAGE|team)", info = info)
      }
    }
  }
  expect_length(recorded_requests(), 0)
  expect_length(list.files(jobs, recursive = TRUE), 0)
})

test_that("without a role the submission says what to pass, and creates nothing", {
  local_moto()
  session <- aws_session()
  script <- local_script()
  error <- tryCatch(submit_processing(code = script, image_uri = image, wait = FALSE, session = session),
                    error = identity)
  expect_s3_class(error, "sagesim_invalid_argument")
  expect_identical(error$argument, "role")
  expect_match(conditionMessage(error), "arn:aws:iam::<account>:role/")
  expect_length(recorded_sagemaker("CreateProcessingJob"), 0)
})

test_that("a submission that fails part-way removes what it uploaded", {
  local_moto()
  session <- aws_session(role = role)
  script <- local_script()
  # The code uploads, then the input folder fails: it holds a dangling link.
  data <- withr::local_tempdir()
  writeLines("x", file.path(data, "good.csv"))
  file.symlink(file.path(data, "missing-target"), file.path(data, "broken.csv"))
  expect_error(submit_processing(code = script, image_uri = image, inputs = c(data = data),
                                 wait = FALSE, session = session), class = "sagesim_aws_error")
  expect_length(bucket_keys(session), 0)
  expect_length(recorded_sagemaker("CreateProcessingJob"), 0)
})

test_that("a job created although the create call failed (reply lost) is the submission's, not orphaned", {
  local_moto()
  session <- aws_session(role = role)
  script <- local_script()
  # The first attempt creates the job but its reply is lost (500); the SDK
  # retries and SageMaker answers that the name is taken. The job is this
  # request's: it is used, not stopped, and no second one is made.
  control("/lose-reply", list(Target = "SageMaker.CreateProcessingJob"))
  expect_message(job <- submit_processing(code = script, image_uri = image, wait = FALSE,
                                          session = session),
                 "reply to the creation of .* was lost; the job it created is used")
  expect_length(recorded_sagemaker("StopProcessingJob"), 0)
  created <- recorded_sagemaker("CreateProcessingJob")
  expect_identical(unique(vapply(created, `[[`, "", "ProcessingJobName")), job$name)
  expect_identical(job_status(job_attach(job$name, session = session))$status, "Completed")
  expect_true(paste0(job$name, "/input/sagesim-job.json") %in% bucket_keys(session, paste0(job$name, "/")))

  # A submission interrupted while the job may exist stops it when it is
  # this submission's; someone else's job that happens to bear the name is left alone.
  mine <- submit_processing(code = script, image_uri = image, wait = FALSE, session = session)
  set_job_status(mine$name, "InProgress")
  expect_message(
    sagesim:::abandon_submission(session, mine$name, session$bucket, uploading = FALSE,
                                 maybe_created = jsonlite::fromJSON(sagesim:::record_job_config(mine$record),
                                                                  simplifyVector = FALSE)),
    "failed after the job was created; the job was stopped")
  expect_identical(job_status(mine)$status, "Stopped")

  other <- submit_processing(code = script, image_uri = image, wait = FALSE, session = session)
  set_job_status(other$name, "InProgress")
  expect_message(
    sagesim:::abandon_submission(session, other$name, session$bucket, uploading = FALSE,
                                 maybe_created = list(RoleArn = role, AppSpecification = list(
                                   ImageUri = "elsewhere/image:1"))),
    "not this submission's; it was left alone")
  expect_identical(job_status(other)$status, "InProgress")
})

test_that("job names follow the Python SDK", {
  t <- as.POSIXct("2026-11-21 22:41:05", tz = "UTC") + 0.1234
  expect_identical(job_name_from_base("sagesim", t), "sagesim-2026-11-21-22-41-05-123")
  long <- job_name_from_base(strrep("a", 80), t)
  expect_identical(nchar(long), 63L)
  expect_match(long, sagesim:::job_name_pattern)
  expect_error(job_name_from_base("no_underscores"), class = "sagesim_invalid_argument")
})

# The seeds users give (or draw, by default) across their whole range, each
# through a 1- and a 3-host local job and a 2-host SageMaker job whose hosts
# run on this machine: every collected result is simulate_local()'s.
test_that("every seed, given or drawn, gives simulate_local()'s result locally and in the cloud", {
  local_moto()
  use_temp_job_dir()
  session <- aws_session(role = role)
  play_jobs()
  seeds <- list(0, 999, 1000, 123456, 2^31 - 1, 2^53, NULL)
  for (seed in seeds) {
    spec <- simulation_spec(300, 200, 120, 41, seed = seed)
    label <- paste("seed", format(spec$seed, scientific = FALSE))
    expected <- simulate_local(300, 200, 120, 41, seed = spec$seed)
    for (hosts in c(1, 3)) {
      job <- submit_processing(simulation = spec, instance_type = "local", instance_count = hosts,
                               logs = FALSE)
      result <- job_collect(job)
      expect_identical(result$values, expected$values, info = paste(label, hosts, "local hosts"))
      expect_identical(result$seed, spec$seed, info = label)
    }
    job <- submit_processing(simulation = spec, image_uri = image, instance_count = 2,
                             wait = FALSE, session = session)
    job_wait(job, logs = FALSE, timeout = 120)
    result <- job_collect(job)
    expect_identical(result$values, expected$values, info = paste(label, "cloud"))
    expect_identical(result$counts, expected$counts, info = label)
    expect_identical(result$seed, spec$seed, info = label)
  }
})

test_that("every upload is KMS-encrypted with the job's or the session's key", {
  local_moto()
  key <- "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  data <- withr::local_tempdir()
  writeLines("a,b", file.path(data, "one.csv"))
  # Over the multipart threshold (64 MiB): sent in parts.
  big <- file(file.path(data, "big.bin"), "wb")
  writeBin(raw(65 * 2^20 + 1), big)
  close(big)
  session <- aws_session(role = role)
  job <- submit_processing(code = local_script(), image_uri = image, inputs = c(data = data),
                           kms_key = key, wait = FALSE, session = session)
  writes <- object_writes(paste0(job$name, "/input/"), key)
  expect_setequal(names(writes), c(basename(job$record$work$code), "one.csv", "big.bin",
                                   "sagesim-job.json"))
  expect_true(all(writes))
  # A map's payload, with the session's default key (as accounts with an
  # encryption policy set it once).
  session <- aws_session(role = role, kms_key = key)
  expect_output(print(session), "kms key:  arn:aws:kms")
  map <- submit_map(1:3, identity, instance_type = "ml.m5.large", image_uri = image, wait = FALSE,
                    session = session)
  writes <- object_writes(paste0(map$name, "/input/"), key)
  expect_setequal(names(writes), c("payload.rds", "sagesim-job.json"))
  expect_true(all(writes))
  # A local job's outputs sent to S3.
  local <- submit_processing(code = local_script("writeLines('x', file.path(sagesim::processing_path('output'), 'x.txt'))"),
                             instance_type = "local", kms_key = key, logs = FALSE, session = session,
                             outputs = list(processing_output("/opt/ml/processing/output",
                                                              destination = "s3://sagemaker-us-east-1-123456789012/local-out")))
  writes <- object_writes("/local-out/", key)
  expect_identical(names(writes), "x.txt")
  expect_true(all(writes))
  # Without a key nothing is asked for.
  plain <- submit_processing(code = local_script(), image_uri = image, wait = FALSE,
                             session = aws_session(role = role))
  writes <- object_writes(paste0(plain$name, "/input/"), key)
  expect_length(writes, 2)
  expect_false(any(writes))
})

test_that("ScriptProcessor calls port: code in S3, an explicit job name, a role name", {
  local_moto()
  session <- aws_session()
  sagesim:::ensure_bucket(session)
  script <- local_script(c("cat('hello from', commandArgs(TRUE)[[1]], '\\n')",
                           "out <- sagesim::processing_path('output', 'result')",
                           "dir.create(out, recursive = TRUE, showWarnings = FALSE)",
                           "writeLines('0.25', file.path(out, 'output_result_mean.txt'))"))
  sagesim:::aws_request(session, "s3:PutObjectFromFile", list(
    Bucket = session$bucket, Key = "scripts/analysis.R", Path = script))
  code <- sprintf("s3://%s/scripts/analysis.R", session$bucket)
  play_jobs()
  output <- capture.output(job <- submit_processing(
    code = code, image_uri = image, role = "SageMakerRole", job_name = "my-analysis-1",
    arguments = "S3", outputs = c(result = "/opt/ml/processing/output/result"),
    session = session))
  expect_identical(job$name, "my-analysis-1")
  expect_true("[algo-1] hello from S3 " %in% output)
  request <- recorded_sagemaker("CreateProcessingJob")[[1]]
  expect_identical(request$ProcessingJobName, "my-analysis-1")
  expect_identical(request$RoleArn, "arn:aws:iam::123456789012:role/SageMakerRole")
  expect_identical(request$ProcessingInputs[[1]]$S3Input$S3Uri, code)
  expect_identical(unlist(request$AppSpecification$ContainerEntrypoint),
                   c("Rscript", "/opt/ml/processing/input/code/analysis.R"))
  # Nothing was uploaded for the code: the job's record only.
  expect_identical(bucket_keys(session, "my-analysis-1/input/"), "my-analysis-1/input/sagesim-job.json")
  expect_identical(job_collect(job)$result_mean, 0.25)
  # The name is taken now: refused before anything is created.
  error <- tryCatch(submit_processing(code = code, image_uri = image, role = "SageMakerRole",
                                      job_name = "my-analysis-1", wait = FALSE, session = session),
                    error = identity)
  expect_s3_class(error, "sagesim_job_exists")
  expect_s3_class(error, "sagesim_invalid_argument")
  expect_match(conditionMessage(error), "my-analysis-1 already exists")
  expect_length(recorded_sagemaker("CreateProcessingJob"), 1)
  for (bad in list(list(job_name = "bad_name"), list(job_name = strrep("a", 64)),
                   list(job_name = "ok", base_job_name = "also"), list(role = "bad role"),
                   list(code = "s3://bucket/folder/"))) {
    args <- utils::modifyList(list(code = code, image_uri = image, wait = FALSE, session = session), bad)
    expect_error(do.call(submit_processing, args), class = "sagesim_invalid_argument",
                 info = deparse(bad))
  }
  expect_length(recorded_sagemaker("CreateProcessingJob"), 1)
})

test_that("Gzip inputs need Pipe mode, as SageMaker says", {
  for (mode in c("File", "FastFile")) {
    error <- tryCatch(processing_input("s3://bucket/data.gz", s3_compression_type = "Gzip",
                                       s3_input_mode = mode), error = identity)
    expect_s3_class(error, "sagesim_invalid_argument")
    expect_identical(error$argument, "s3_compression_type")
    expect_match(conditionMessage(error), "Pipe")
  }
  expect_s3_class(processing_input("s3://bucket/data.gz", s3_compression_type = "Gzip",
                                   s3_input_mode = "Pipe"), "sagesim_processing_input")
})

test_that("errors show the call the user made, never an internal one", {
  call_of <- function(expr) conditionCall(tryCatch(expr, error = identity))
  expect_identical(call_of(simulate_local(1000, 1000, -1, 10))[[1]], quote(simulate_local))
  expect_identical(call_of(simulate_local(1000, 1000, 10, 10, threads = 5000))[[1]],
                   quote(simulate_local))
  expect_identical(call_of(simulation_spec(1, 1, 1, 0))[[1]], quote(simulation_spec))
  my_analysis <- function(n) simulate_local(100, 100, n, 10)
  expect_identical(call_of(my_analysis(2.5))[[1]], quote(simulate_local))
  expect_identical(call_of(submit_processing(simulation = simulation_spec(10, 10, 5, 5, seed = 1),
                                             instance_type = "local", instance_count = 0))[[1]],
                   quote(submit_processing))
  expect_identical(call_of(job_collect("not a job"))[[1]], quote(job_collect))
})

test_that("local mode refuses what it cannot emulate, saying what SageMaker would do", {
  dir <- use_temp_job_dir()
  script <- local_script()
  refused <- list(
    list(inputs = list(processing_input("s3://bucket/x", s3_input_mode = "Pipe")), what = "Pipe"),
    list(inputs = list(processing_input("s3://bucket/x.gz", s3_input_mode = "Pipe",
                                        s3_compression_type = "Gzip")), what = "Pipe"),
    list(inputs = list(processing_input("s3://bucket/m", s3_data_type = "ManifestFile")),
         what = "ManifestFile"))
  for (case in refused) {
    args <- c(list(code = script, instance_type = "local", wait = FALSE), case[c("inputs", "outputs")])
    args <- args[!vapply(args, is.null, logical(1))]
    error <- tryCatch(do.call(submit_processing, args), error = identity)
    expect_s3_class(error, "sagesim_invalid_argument")
    expect_match(conditionMessage(error), case$what)
    expect_match(conditionMessage(error), "On SageMaker")
  }
  expect_length(list.files(file.path(dir, "local-jobs")), 0)
  # FastFile reads the same files as File: it runs.
  data <- withr::local_tempdir()
  writeLines("1", file.path(data, "x.txt"))
  job <- submit_processing(code = local_script("stopifnot(file.exists(sagesim::processing_path('input', 'data', 'x.txt')))"),
                           instance_type = "local", logs = FALSE,
                           inputs = list(processing_input(data, name = "data", s3_input_mode = "FastFile")))
  expect_identical(job_status(job)$status, "Completed")
})

test_that("jobs run locally unless another instance type is asked for, by argument or option", {
  use_temp_job_dir()
  withr::local_options(sagesim.instance_type = NULL)
  job <- submit_processing(simulation = simulation_spec(50, 50, 10, 5, seed = 1), logs = FALSE)
  expect_s3_class(job, "sagesim_local_job")
  map <- submit_map(1:2, identity, logs = FALSE)
  expect_identical(map$instance_type, "local")
  # The option makes SageMaker the default: here that asks for an image first.
  withr::local_options(sagesim.instance_type = "ml.m5.xlarge")
  expect_error(submit_processing(simulation = simulation_spec(50, 50, 10, 5, seed = 1)),
               "image_uri", class = "sagesim_invalid_argument")
  expect_error(submit_map(1:2, identity), "image_uri", class = "sagesim_invalid_argument")
})

test_that("former names still work, saying what replaced them", {
  use_temp_job_dir()
  job <- submit_processing(simulation = simulation_spec(50, 50, 10, 5, seed = 1),
                           instance_type = "local", logs = FALSE)
  expect_message(again <- attach_job(job$name), "attach_job\\(\\) is deprecated; use job_attach\\(\\)",
                 class = "sagesim_deprecated")
  expect_identical(again$name, job$name)
  expect_message(listed <- list_jobs(local = TRUE), class = "sagesim_deprecated")
  expect_identical(listed$name, job$name)
})

test_that("small things read right: integer grids, NA, time stamps, summaries, channels", {
  expect_identical(simulation_grid(100L, 100, 10L, 10L, seed = 1)$cells$x_length, 100)
  expect_match(conditionMessage(tryCatch(simulation_spec(NA, 1, 1, 1), error = identity)),
               "NA, a missing value")
  expect_error(job_name_from_base("x", time = "yesterday"), "single date-time",
               class = "sagesim_invalid_argument")
  expect_match(job_name_from_base("x", time = as.Date("2026-01-02")), "^x-2026-01-02-00-00-00-000$")
  sim <- simulate_local(1000, 1000, 1000, 50, seed = 3, threads = 1)
  shown <- capture.output(summary(sim))
  expect_true(any(grepl("on 1 thread$", shown)))
  expect_false(any(grepl("thread\\(s\\)", shown)))
  mean_line <- grep("^  mean ", shown, value = TRUE)
  expect_identical(mean_line, sprintf("  mean      %s", format(signif(sim$mean, 6), drop0trailing = TRUE)))
  expect_false(any(grepl("0{4,}$", shown)))
  expect_output(print(processing_input("s3://my-bucket/data/", name = "data")),
                "source:       s3://my-bucket/data/")
  expect_output(print(processing_output("/opt/ml/processing/output")), "upload:       EndOfJob")
  expect_output(print(network_config("subnet-1", "sg-1", enable_network_isolation = TRUE)),
                "network isolation: on")
})
