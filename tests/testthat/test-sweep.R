# simulation_grid(): sweeps of the simulation, locally and as jobs.

strip_timing <- function(sweep) {
  sweep$cells$elapsed <- NULL
  sweep$simulations <- lapply(sweep$simulations, function(s) {
    s[c("elapsed", "threads")] <- NULL
    s
  })
  sweep
}

test_that("a grid is every combination, each cell with a seed of its own", {
  grid <- simulation_grid(c(500, 1000), 800, c(100, 200, 300), c(50, 60), distance = 6, seed = 7)
  expect_s3_class(grid, "sagesim_grid")
  expect_identical(nrow(grid$cells), 12L)
  expected <- expand.grid(x_length = c(500, 1000), y_length = 800, num_people = c(100, 200, 300),
                          max_iterations = c(50, 60), distance = 6)
  expect_equal(grid$cells[names(expected)], expected, ignore_attr = TRUE)
  # The seed depends on the room, not on max_iterations or the other cells.
  same_room <- split(grid$cells$seed, interaction(grid$cells$x_length, grid$cells$num_people))
  expect_true(all(lengths(lapply(same_room, unique)) == 1))
  expect_identical(anyDuplicated(unlist(lapply(same_room, unique))), 0L)
  expect_true(all(grid$cells$seed < 2^53 & grid$cells$seed == round(grid$cells$seed)))
  expect_output(print(grid), "12 cells, seed 7")
  # Adding cells never changes the others' streams.
  wider <- simulation_grid(c(500, 750, 1000), 800, c(100, 200, 300, 400), c(50, 60), seed = 7)
  key <- function(cells) paste(cells$x_length, cells$num_people, cells$max_iterations)
  expect_identical(wider$cells$seed[match(key(grid$cells), key(wider$cells))], grid$cells$seed)
  # A drawn seed is repeatable after set.seed().
  set.seed(3)
  a <- simulation_grid(100, 100, 10, 5)
  set.seed(3)
  expect_identical(simulation_grid(100, 100, 10, 5)$seed, a$seed)
})

test_that("bad grids are refused, naming the argument", {
  bad <- list(
    list(x_length = "100"), list(x_length = numeric()), list(num_people = c(10, NA)),
    list(num_people = c(10, 10)), list(num_people = c(10, 2.5)), list(distance = c(6, -1)),
    list(max_iterations = 0), list(y_length = c(1, Inf)), list(seed = -1)
  )
  for (case in bad) {
    args <- utils::modifyList(list(x_length = 100, y_length = 100, num_people = 10,
                                   max_iterations = 5), case)
    error <- tryCatch(do.call("simulation_grid", args), error = identity)
    expect_s3_class(error, "sagesim_invalid_argument")
    expect_identical(error$argument, names(case), info = deparse(case))
    expect_identical(conditionCall(error)[[1]], quote(simulation_grid))
  }
  expect_error(simulation_grid(100, 100, c(10, NA, 30), 5),
               "not a vector with a missing value \\(NA\\) at position 2", class = "sagesim_invalid_argument")
})

test_that("simulate_local(grid) gives each cell's own simulation, as a table and a plot", {
  grid <- simulation_grid(c(400, 800), 600, c(50, 150, 300), 120, seed = 11)
  sweep <- simulate_local(grid, threads = 2)
  expect_s3_class(sweep, "sagesim_sweep")
  table <- as.data.frame(sweep)
  expect_identical(names(table), c("x_length", "y_length", "num_people", "max_iterations",
                                   "distance", "seed", "iterations", "mean", "sd", "se",
                                   "ci_lower", "ci_upper", "expected", "elapsed"))
  expect_identical(nrow(table), 6L)
  for (k in seq_len(nrow(table))) {
    cell <- simulate_local(table$x_length[k], table$y_length[k], table$num_people[k],
                           table$max_iterations[k], table$distance[k], seed = table$seed[k])
    expect_identical(sweep$simulations[[k]]$values, cell$values)
    expect_identical(table$mean[k], cell$mean)
    expect_identical(table$se[k], cell$se)
    expect_identical(c(table$ci_lower[k], table$ci_upper[k]), unname(cell$conf_int))
    expect_identical(table$expected[k], cell$expected)
  }
  expect_output(print(sweep), "6 cells, seed 11")
  expect_output(print(summary(sweep)), "largest \\|z\\|")
  file <- tempfile(fileext = ".pdf")
  grDevices::pdf(file)
  expect_invisible(plot(sweep))
  expect_invisible(plot(sweep, along = "x_length"))
  grDevices::dev.off()
  expect_gt(file.size(file), 1000)
  expect_error(simulate_local(grid, iterations = 1:10), class = "sagesim_invalid_argument")
})

test_that("a sweep job over several hosts returns what simulate_local(grid) returns", {
  local_moto()
  use_temp_job_dir()
  grid <- simulation_grid(c(300, 600), c(200, 400), c(40, 120, 360), 30, seed = 5)
  expect_identical(nrow(grid$cells), 12L)
  expected <- strip_timing(simulate_local(grid))
  local <- submit_processing(simulation = grid, instance_type = "local", instance_count = 3,
                             logs = FALSE)
  expect_identical(local$kind, "sweep")
  expect_identical(strip_timing(job_collect(local)), expected)
  # The hosts' work was balanced by cost (people x iterations).
  costs <- vapply(c("algo-1", "algo-2", "algo-3"), function(h) {
    files <- list.files(file.path(local$dir, "output", "simulation"),
                        pattern = sprintf("^sagesim-result-%s-.*[.]json$", h), full.names = TRUE)
    parts <- unlist(lapply(files, function(f) jsonlite::fromJSON(f, simplifyVector = FALSE)$parts),
                    recursive = FALSE)
    sum(vapply(parts, function(p) p$spec$num_people * p$iterations, 1))
  }, 1)
  expect_lte(max(costs) - min(costs), 2 * 360)
  session <- aws_session(role = role)
  play_jobs()
  cloud <- submit_processing(simulation = grid, image_uri = image, instance_count = 3,
                             wait = FALSE, session = session)
  job_wait(cloud, logs = FALSE, timeout = 120)
  expect_identical(strip_timing(job_collect(cloud)), expected)
  expect_identical(job_attach(cloud$name, session = session)$kind, "sweep")
})

test_that("long axes travel on the command line within SageMaker's limits", {
  use_temp_job_dir()
  grid <- simulation_grid(seq(100.125, by = 1.5, length.out = 40), 50, 10, 2, seed = 9)
  arguments <- sagesim:::worker_arguments(grid, "/opt/ml/processing/output/simulation")
  expect_true(all(nchar(arguments) <= 256))
  expect_gt(sum(arguments == "--x-length"), 1)
  job <- submit_processing(simulation = grid, instance_type = "local", instance_count = 2,
                           logs = FALSE)
  expect_identical(strip_timing(job_collect(job)), strip_timing(simulate_local(grid)))
})
