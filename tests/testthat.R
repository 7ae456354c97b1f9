library(testthat)
library(sagesim)

test_check("sagesim")
