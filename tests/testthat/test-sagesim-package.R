# The package itself: what it says as it loads.

test_that("a binary built for another R says what to do; one built for this R says nothing", {
  here <- paste(unlist(getRversion())[1:2], collapse = ".")
  expect_null(sagesim:::built_for_other_r(sprintf("R %s.1; x86_64-pc-linux-gnu; 2026-01-01; unix", here),
                                          getRversion()))
  said <- sagesim:::built_for_other_r("R 4.2.2; x86_64-pc-linux-gnu; 2026-01-01; unix",
                                      numeric_version("4.4.1"))
  expect_match(said, "built for R 4.2, and this is R 4.4")
  expect_match(said, "source package")
  # The installed package names the R it was built for, which is this one.
  built <- utils::packageDescription("sagesim", fields = "Built")
  expect_match(built, sprintf("^R %s", gsub(".", "[.]", here, fixed = TRUE)))
  expect_null(sagesim:::built_for_other_r(built, getRversion()))
})
