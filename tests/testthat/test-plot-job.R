# plot(job): each host of a job and of its earlier attempts on one time line,
# checked through the data it draws (and drawn, to a PNG).

draw_to_png <- function(job) {
  png <- withr::local_tempfile(fileext = ".png", .local_envir = parent.frame())
  grDevices::png(png, width = 900, height = 500)
  timeline <- plot(job)
  grDevices::dev.off()
  expect_gt(file.size(png), 1000)
  timeline
}

test_that("a completed two-host simulation: both hosts, in order, with what each finished", {
  use_temp_job_dir()
  job <- submit_processing(simulation = simulation_spec(1000, 1000, 1000, 3000, seed = 1),
                           instance_count = 2, logs = FALSE)
  timeline <- draw_to_png(job)
  expect_identical(timeline$host, c("algo-1", "algo-2"))
  expect_identical(unique(timeline$attempt), job$name)
  expect_identical(timeline$ending, c("completed", "completed"))
  expect_identical(timeline$finished, c(1500, 1500))
  expect_identical(unique(timeline$unit), "iterations")
  expect_true(all(timeline$created == 0))
  expect_true(all(timeline$started >= 0 & timeline$ended >= timeline$started))
})

test_that("a map that lost a host and was retried shows both attempts and the lost host", {
  use_temp_job_dir()
  marker <- withr::local_tempfile()
  f <- function(i) {
    if (i == 15 && !file.exists(marker)) {
      file.create(marker)
      Sys.sleep(120)
    }
    i * 2
  }
  job <- submit_map(1:20, f, instance_count = 2, retries = 1, wait = FALSE,
                    env = c(SAGESIM_PROGRESS_EVERY = "0"), logs = FALSE)
  deadline <- Sys.time() + 60
  while (!file.exists(marker) && Sys.time() < deadline) Sys.sleep(0.05)
  pid <- as.integer(readLines(file.path(job$dir, "hosts", "algo-2", "pid")))
  system2("kill", c("-KILL", paste0("-", pid)))
  suppressMessages(job_wait(job, logs = FALSE, timeout = 120))
  expect_identical(job_collect(job), as.list((1:20) * 2))
  timeline <- draw_to_png(job)
  first <- timeline[timeline$attempt != job$name, ]
  last <- timeline[timeline$attempt == job$name, ]
  expect_identical(first$ending, c("completed", "lost"))
  expect_identical(first$finished[[1]], 10)
  # algo-2 had finished elements 11-14 when it was lost; the retry ran the rest.
  expect_identical(first$finished[[2]], 4)
  expect_identical(unique(last$ending), "completed")
  expect_identical(sum(last$finished), 6)
  # The retry was created after the first attempt.
  expect_gt(min(last$created), 0)
  expect_identical(min(first$created), 0)
})

test_that("a SageMaker job's hosts are drawn from their log streams", {
  local_moto()
  session <- aws_session(role = role)
  job <- submit_processing(simulation = simulation_spec(300, 200, 120, 101, seed = 17),
                           image_uri = image, instance_count = 2, wait = FALSE,
                           session = session)
  set_job_status(job$name, "InProgress")
  put_job_logs(job$name, "algo-1", "algo-1 starts")
  Sys.sleep(1.2)
  put_job_logs(job$name, "algo-1", sagesim:::progress_line("algo-1", "iterations", 51, 51, 0))
  put_job_logs(job$name, "algo-2", sagesim:::progress_line("algo-2", "iterations", 50, 50, 0))
  set_job_status(job$name, "Completed")
  timeline <- draw_to_png(job)
  expect_identical(timeline$host, c("algo-1", "algo-2"))
  expect_identical(timeline$ending, c("completed", "completed"))
  expect_identical(timeline$finished, c(51, 50))
  # algo-1 logged over a second apart; algo-2 once.
  expect_gte(timeline$ended[[1]] - timeline$started[[1]], 1)
  expect_identical(timeline$ended[[2]], timeline$started[[2]])
})
