# expected_violations(): the closed form, and the numeric integral beyond it,
# checked against an independent integration with R's integrate().

probability_by_integrate <- function(L, W, d) {
  inner <- function(u) {
    h <- pmin(W, sqrt(pmax(d^2 - u^2, 0)))
    (L - u) * (W * h - h^2 / 2)
  }
  upper <- min(d, L)
  kink <- if (d > W) sqrt(d^2 - W^2) else NULL
  breaks <- sort(unique(c(0, kink[kink < upper], upper)))
  total <- sum(vapply(seq_len(length(breaks) - 1), function(i) {
    integrate(inner, breaks[i], breaks[i + 1], rel.tol = 1e-12, subdivisions = 1000L)$value
  }, numeric(1)))
  4 * total / (L * W)^2
}

test_that("the closed form holds when the distance fits in the room", {
  L <- 1000; W <- 1000; d <- 6; n <- 1000
  p <- (pi * d^2 * L * W - 4 / 3 * d^3 * (L + W) + d^4 / 2) / (L * W)^2
  expect_equal(expected_violations(L, W, n, d), (n - 1) * p, tolerance = 1e-14)
  expect_equal(expected_violations(1000, 1000, 1000), 0.112409, tolerance = 1e-5)
})

test_that("beyond the closed form the value matches an independent integration", {
  for (g in list(c(5, 3, 6), c(100, 4, 6), c(4, 100, 6), c(3, 4, 4.5), c(10, 0.5, 2))) {
    expect_equal(expected_violations(g[1], g[2], 11, g[3]) / 10,
                 probability_by_integrate(g[1], g[2], g[3]), tolerance = 1e-8,
                 info = paste(g, collapse = " "))
  }
  # Symmetric in the sides, and certain beyond the diagonal.
  expect_equal(expected_violations(5, 3, 2, 4), expected_violations(3, 5, 2, 4), tolerance = 1e-13)
  expect_equal(expected_violations(3, 4, 2, 5), 1, tolerance = 1e-12)
  expect_identical(expected_violations(10, 10, 0), 0)
  expect_identical(expected_violations(10, 10, 1), 0)
})

test_that("bad arguments are refused", {
  expect_error(expected_violations(-1, 10, 10), class = "sagesim_invalid_argument")
  expect_error(expected_violations(10, 10, 10, distance = 0), class = "sagesim_invalid_argument")
  expect_error(expected_violations(10, 10, 2.5), class = "sagesim_invalid_argument")
})
