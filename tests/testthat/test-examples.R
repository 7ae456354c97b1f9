# The help pages' examples leave the session as they found it: options
# restored, local jobs' folders removed, R's random state untouched.

test_that("running an example changes no option and leaves no files behind", {
  skip_if(!nzchar(system.file("help", "AnIndex", package = "sagesim")),
          "the help pages are not installed (R CMD INSTALL --no-docs)")
  topics <- c("jobs", "job_attach", "list_jobs", "job_remove", "job_cost", "submit_map",
              "job_resubmit", "submit_processing", "registerDoSageMaker", "sagemaker",
              "sagemaker_prices")
  withr::local_options(sagesim.job_dir = withr::local_tempdir())
  before_files <- list.files(tempdir(), recursive = FALSE)
  for (topic in topics) {
    before <- options()
    utils::capture.output(suppressMessages(suppressWarnings(
      utils::example(topic, package = "sagesim", character.only = TRUE, echo = FALSE,
                     ask = FALSE, run.dontrun = FALSE, local = new.env()))))
    after <- options()
    changed <- names(after)[!vapply(names(after), function(n) identical(after[[n]], before[[n]]),
                                    logical(1))]
    # (foreach records on its own that a %dopar% ran: its option, not ours.)
    changed <- setdiff(changed, "foreachDoparLocal")
    expect_identical(c(changed, setdiff(names(before), names(after))), character(),
                     info = topic)
    expect_identical(setdiff(list.files(tempdir()), before_files), character(), info = topic)
    expect_length(list.files(getOption("sagesim.job_dir")), 0)
  }
})
