# job_resubmit(): a rerun keeps every setting of the original job.

# Every setting a job can have, none at its default.
all_settings <- list(
  env = c(STAGE = "rerun-check", LEVEL = "7"),
  network = network_config(subnets = c("subnet-1", "subnet-2"), security_group_ids = "sg-1",
                           enable_network_isolation = TRUE,
                           encrypt_inter_container_traffic = TRUE),
  volume_kms_key = "arn:aws:kms:us-east-1:123456789012:key/volume",
  output_kms_key = "arn:aws:kms:us-east-1:123456789012:key/output",
  kms_key = "arn:aws:kms:us-east-1:123456789012:key/uploads",
  tags = c(team = "stats", project = "distancing"),
  max_runtime = 4321, volume_size_gb = 77
)

fails_on_three <- function(i) if (i == 3) stop("not three") else i * 2

# `job`'s uploads (`files`: its record, a map's payload) were each sent with
# SSE-KMS and `key`, and moto keeps them encrypted with it.
expect_uploads_encrypted <- function(job, key, files = c("payload.rds", "sagesim-job.json")) {
  inputs <- paste0(job$name, "/input/")
  writes <- object_writes(inputs, key)
  expect_setequal(names(writes), files)
  expect_true(all(writes), info = paste(names(writes)[!writes], collapse = ", "))
  stored <- bucket_keys(job$session, inputs)
  expect_identical(vapply(stored, stored_kms_key, "", bucket = job$session$bucket),
                   rep(key, length(stored)), ignore_attr = TRUE)
}

# A request with `name` written as `as`, and the map payload's S3 URI left
# out: what may differ between a job and its rerun.
comparable <- function(request, name, as) {
  text <- gsub(name, as, jsonlite::toJSON(request, auto_unbox = TRUE, digits = NA), fixed = TRUE)
  request <- jsonlite::fromJSON(text, simplifyVector = FALSE)
  # A map's members have no order. Each job has a results key of its own,
  # each payload its SHA-256.
  request$Environment <- request$Environment[sort(names(request$Environment))]
  if (!is.null(request$Environment$SAGESIM_RESULTS_KEY)) request$Environment$SAGESIM_RESULTS_KEY <- "<key>"
  arguments <- request$AppSpecification$ContainerArguments
  at <- match("--map-sha256", unlist(arguments))
  if (!is.na(at)) request$AppSpecification$ContainerArguments[[at + 1]] <- "<sha256>"
  request$ProcessingInputs <- lapply(request$ProcessingInputs, function(input) {
    if (identical(input$InputName, "map")) input$S3Input$S3Uri <- "<payload>"
    input
  })
  request
}

test_that("a resubmitted cloud map job sends the original request, but for its name and payload", {
  local_moto()
  session <- aws_session(role = role)
  play_jobs()
  job <- do.call(submit_map, c(list(1:6, fails_on_three, seed = 11, instance_count = 2,
                                    instance_type = "ml.m5.large", image_uri = image,
                                    wait = FALSE, session = session), all_settings))
  job_wait(job, logs = FALSE, timeout = 120)
  expect_identical(tryCatch(job_collect(job), error = identity)$failed, 3L)
  fixed <- job_resubmit(job, f = function(i) i * 2, wait = FALSE)
  job_wait(fixed, logs = FALSE, timeout = 120)
  expect_identical(job_collect(fixed), as.list(1:6 * 2))
  resized <- job_resubmit(job, f = function(i) i * 2, instance_count = 3, wait = FALSE)
  job_wait(resized, logs = FALSE, timeout = 120)
  expect_identical(job_collect(resized), as.list(1:6 * 2))
  # The reruns' uploads (payload, record) are encrypted with the first job's key.
  for (rerun in list(fixed, resized)) expect_uploads_encrypted(rerun, all_settings$kms_key)

  created <- recorded_sagemaker("CreateProcessingJob")
  expect_length(created, 3)
  first <- created[[1]]
  # Every setting reached the first request.
  expect_match(first$Environment$SAGESIM_RESULTS_KEY, "^[0-9a-f]{64}$")
  expect_identical(first$Environment[order(names(first$Environment))],
                   list(LEVEL = "7", SAGESIM_RESULTS_KEY = first$Environment$SAGESIM_RESULTS_KEY,
                        STAGE = "rerun-check"))
  expect_identical(first$NetworkConfig$VpcConfig$Subnets, list("subnet-1", "subnet-2"))
  expect_true(first$NetworkConfig$EnableNetworkIsolation)
  expect_identical(first$ProcessingResources$ClusterConfig$VolumeKmsKeyId, all_settings$volume_kms_key)
  expect_identical(first$ProcessingResources$ClusterConfig$VolumeSizeInGB, 77L)
  expect_identical(first$ProcessingOutputConfig$KmsKeyId, all_settings$output_kms_key)
  expect_identical(first$StoppingCondition$MaxRuntimeInSeconds, 4321L)
  expect_length(first$Tags, 2)
  # The rerun's request is the same field by field: only the name (and the
  # outputs named after it), the payload (and its SHA-256) and the results
  # key differ.
  rerun <- created[[2]]
  expect_false(identical(rerun$ProcessingInputs, first$ProcessingInputs))
  expect_identical(comparable(rerun, fixed$name, "<job>"), comparable(first, job$name, "<job>"))
  # ... and with a new instance count, that too.
  third <- comparable(created[[3]], resized$name, "<job>")
  expect_identical(third$ProcessingResources$ClusterConfig$InstanceCount, 3L)
  third$ProcessingResources$ClusterConfig$InstanceCount <- 2L
  expect_identical(third, comparable(first, job$name, "<job>"))
  # The reruns' records say what they reran, and attach from the name alone.
  again <- job_attach(fixed$name, session = session)
  expect_identical(again$record$resubmission_of, job$name)
  expect_identical(again$record$plan, fixed$record$plan)
  expect_output(print(again), sprintf("reruns:    %s", job$name), fixed = TRUE)
})

test_that("a failed or stopped map job's resubmission takes the settings given, and keeps the others", {
  local_moto()
  session <- aws_session(role = role)
  job <- do.call(submit_map, c(list(1:6, function(i) i * 2, seed = 5, instance_count = 2,
                                    instance_type = "ml.m5.large", image_uri = image,
                                    wait = FALSE, session = session), all_settings))
  # (moto ends a job it does not play at once; each end is set by hand.)
  ends <- list(Failed = "AlgorithmError: algo-1 exited with status 1", Stopped = NULL)
  for (end in names(ends)) {
    set_job_status(job$name, end, ends[[end]])
    rerun <- job_resubmit(job, instance_count = 3, env = c(STAGE = "again"),
                          tags = c(team = "ops"), wait = FALSE)
    # Nothing was finished: every element runs again, with the new settings.
    expect_identical(rerun$elements, 6L, info = end)
    plan <- rerun$record$plan
    expect_identical(plan$instance_count, 3L, info = end)
    expect_identical(plan$env, list(STAGE = "again"), info = end)
    expect_identical(plan$tags, list(list(key = "team", value = "ops")), info = end)
    request <- recorded_sagemaker("CreateProcessingJob")
    request <- Filter(function(r) identical(r$ProcessingJobName, rerun$name), request)[[1]]
    expect_identical(request$ProcessingResources$ClusterConfig$InstanceCount, 3L, info = end)
    expect_identical(request$Environment$STAGE, "again", info = end)
    expect_identical(request$Tags, list(list(Key = "team", Value = "ops")), info = end)
    # The settings not given are the first job's, its upload key among them.
    expect_identical(plan$max_runtime, 4321L, info = end)
    expect_identical(plan$output_kms_key, all_settings$output_kms_key, info = end)
    expect_identical(rerun$record$upload_kms_key, all_settings$kms_key, info = end)
    expect_uploads_encrypted(rerun, all_settings$kms_key)
  }
  # A script job's resubmission (its code used where it was uploaded) writes
  # its record with the key too.
  script <- submit_processing(code = local_script(), image_uri = image, kms_key = all_settings$kms_key,
                              wait = FALSE, session = session)
  expect_uploads_encrypted(job_resubmit(script, wait = FALSE), all_settings$kms_key,
                           files = "sagesim-job.json")
})

test_that("a resubmitted local job keeps its settings, and takes new ones where given", {
  use_temp_job_dir()
  out <- withr::local_tempdir()
  script <- local_script(c(
    "host <- jsonlite::fromJSON('/opt/ml/config/resourceconfig.json')$current_host",
    "writeLines(Sys.getenv('STAGE'), sprintf('/opt/ml/processing/output/stage-%s.txt', host))"))
  skip_without_mount_namespace()
  job <- submit_processing(code = script, instance_type = "local", instance_count = 2,
                           env = c(STAGE = "first"), tags = c(team = "stats"), max_runtime = 600,
                           outputs = list(processing_output("/opt/ml/processing/output",
                                                            destination = out, name = "kept"),
                                          processing_output("/opt/ml/processing/output",
                                                            name = "defaulted")),
                           logs = FALSE, base_job_name = "rehearsal")
  again <- job_resubmit(job, logs = FALSE)
  plan <- function(j) j$record$plan
  expect_match(again$name, "^rehearsal-")
  expect_false(identical(again$name, job$name))
  same <- setdiff(names(plan(job)), c("name", "outputs"))
  expect_identical(plan(again)[same], plan(job)[same])
  # The output given a folder keeps it; the defaulted one is the new job's.
  destinations <- function(j) vapply(plan(j)$outputs, `[[`, "", "destination")
  expect_identical(destinations(again)[[1]], destinations(job)[[1]])
  expect_match(destinations(again)[[2]], again$name, fixed = TRUE)
  changed <- job_resubmit(job, env = c(STAGE = "second"), instance_count = 1, logs = FALSE)
  expect_identical(plan(changed)$env, list(STAGE = "second"))
  expect_identical(plan(changed)$instance_count, 1L)
  expect_identical(plan(changed)$tags, plan(job)$tags)
  expect_identical(readLines(file.path(job_collect(changed)$path, "defaulted", "stage-algo-1.txt")),
                   "second")
  # Misspelt or unknown settings are refused, naming them, before anything runs.
  before <- list.files(local_job_root_for_test())
  error <- tryCatch(job_resubmit(job, instance_cuont = 3), error = identity)
  expect_s3_class(error, "sagesim_unknown_setting")
  expect_match(conditionMessage(error), "`instance_cuont` (did you mean `instance_count`?)", fixed = TRUE)
  expect_error(job_resubmit(job, 3), class = "sagesim_invalid_argument")
  expect_identical(list.files(local_job_root_for_test()), before)
})

test_that("a job without a record cannot be resubmitted, and says why", {
  local_moto()
  session <- aws_session(role = role)
  # A job made by another tool (the Python SDK): no sagesim record.
  sagesim:::aws_request(session, "sagemaker:CreateProcessingJob", list(
    format = "sagesim-job/1", sagesim_version = "0.1.0", created = 1.7e9,
    work = list(kind = "script", code = "x.R"),
    plan = list(name = "from-python", role = role, image_uri = image,
                entrypoint = list("python3", "x.py"), instance_count = 1,
                instance_type = "ml.m5.xlarge", volume_size_gb = 30, max_runtime = 60)))
  job <- job_attach("from-python", session = session)
  expect_null(job$record)
  expect_identical(job$kind, "script")
  expect_error(job_resubmit(job), "no sagesim record", class = "sagesim_invalid_argument")
})

test_that("a job still running is not resubmitted: that would run (and bill) its work twice", {
  use_temp_job_dir()
  job <- submit_map(1:2, function(i) {
    Sys.sleep(60)
    i
  }, wait = FALSE, logs = FALSE)
  error <- tryCatch(job_resubmit(job), error = identity)
  expect_s3_class(error, "sagesim_job_not_finished")
  expect_match(conditionMessage(error), "is InProgress; wait for it")
  expect_length(list.files(dirname(job$dir)), 1)
  expect_message(job_stop(job), "Stopped")
})
