# After the last test: every request sagesim sent to moto during the run
# needs only what sagesim_iam_policy() grants (check_run_permissions(),
# helper-permissions.R).
withr::defer(check_run_permissions(), testthat::teardown_env())
