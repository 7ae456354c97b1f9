# The worker's command line, defined once: submit_processing() and
# submit_map() write it (worker_arguments(), start_map_job()) and
# run_worker() parses it (parse_worker_args()). A flag may come several
# times and take comma-separated values (a sweep's axes); its values add up.

worker_entrypoint <- c("Rscript", "-e", "sagesim::run_worker()")

worker_flags <- c(x_length = "--x-length", y_length = "--y-length", num_people = "--num-people",
                  max_iterations = "--max-iterations", distance = "--distance", seed = "--seed",
                  sweep = "--sweep", map = "--map", threads = "--threads",
                  output_dir = "--output-dir", todo = "--todo")

spec_fields <- c("x_length", "y_length", "num_people", "max_iterations", "distance", "seed")

axis_fields <- setdiff(spec_fields, "seed")

# `flag value` pairs, the values joined by commas into arguments of at most
# 256 characters (SageMaker's limit), repeating the flag as needed.
flag_arguments <- function(field, values) {
  values <- as.character(values)
  chunks <- character()
  current <- character()
  for (value in values) {
    if (length(current) > 0 && nchar(paste(c(current, value), collapse = ",")) > 256) {
      chunks <- c(chunks, paste(current, collapse = ","))
      current <- character()
    }
    current <- c(current, value)
  }
  chunks <- c(chunks, paste(current, collapse = ","))
  as.vector(rbind(worker_flags[[field]], chunks))
}

# The worker's arguments for a simulation_spec() or a simulation_grid().
worker_arguments <- function(simulation, output_dir) {
  sweep <- inherits(simulation, "sagesim_grid")
  values <- if (sweep) simulation$axes else unclass(simulation)[axis_fields]
  c(unlist(lapply(axis_fields, function(f) flag_arguments(f, format_number(values[[f]])))),
    flag_arguments("seed", format_number(simulation$seed)),
    if (sweep) flag_arguments("sweep", "true"),
    flag_arguments("output_dir", output_dir))
}

parse_worker_args <- function(args) {
  args <- split_equals(args)
  values <- list()
  i <- 1
  while (i <= length(args)) {
    key <- args[[i]]
    field <- names(worker_flags)[worker_flags == key]
    if (length(field) == 0) {
      abort_argument("args", sprintf("Unknown worker argument \"%s\"; known: %s.", key,
                                     paste(worker_flags, collapse = ", ")))
    }
    if (i == length(args)) abort_argument("args", sprintf("Worker argument %s needs a value.", key))
    values[[field]] <- c(values[[field]], strsplit(args[[i + 1]], ",", fixed = TRUE)[[1]])
    i <- i + 2
  }
  numbers <- function(field, default = NULL) {
    if (is.null(values[[field]])) {
      if (is.null(default)) {
        abort_argument("args", sprintf("Worker argument %s is required.", worker_flags[[field]]))
      }
      return(default)
    }
    parsed <- suppressWarnings(as.numeric(values[[field]]))
    if (anyNA(parsed)) {
      abort_argument("args", sprintf("Worker argument %s must be a number, not \"%s\".",
                                     worker_flags[[field]], values[[field]][is.na(parsed)][[1]]))
    }
    parsed
  }
  single <- function(field, ...) {
    value <- numbers(field, ...)
    if (length(value) > 1) {
      abort_argument("args", sprintf("Worker argument %s takes one value, not %d.",
                                     worker_flags[[field]], length(value)))
    }
    value
  }
  if (!is.null(values$map)) {
    return(list(map = values$map[[1]], seed = single("seed"), threads = single("threads", 0),
                output_dir = values$output_dir[[1]] %||% processing_path("output", "map")))
  }
  axes <- lapply(stats::setNames(axis_fields, axis_fields), function(field) {
    numbers(field, if (field == "distance") 6)
  })
  c(axes, list(seed = if (!is.null(values$seed)) single("seed"),
               sweep = identical(values$sweep, "true"),
               threads = single("threads", 0),
               output_dir = values$output_dir[[1]] %||% processing_path("output", "simulation"),
               todo = parse_todo(values$todo)))
}

# The pieces of work `--todo` names, each `cell:first:count` (a sweep's
# cell, 1 for a simulation): what an earlier attempt left unfinished.
todo_arguments <- function(todo) {
  flag_arguments("todo", sprintf("%s:%s:%s", format_number(todo$spec),
                                 format_number(todo$first_iteration), format_number(todo$iterations)))
}

parse_todo <- function(values) {
  if (is.null(values)) return(NULL)
  pieces <- strsplit(values, ":", fixed = TRUE)
  numbers <- suppressWarnings(lapply(pieces, as.numeric))
  if (any(lengths(numbers) != 3) || anyNA(unlist(numbers))) {
    abort_argument("args", sprintf("Worker argument --todo takes cell:first:count pieces, not \"%s\".",
                                   paste(values, collapse = ",")))
  }
  column <- function(k) vapply(numbers, `[[`, numeric(1), k)
  list(spec = column(1), first_iteration = column(2), iterations = column(3))
}

# Accepts both "--key value" and "--key=value".
split_equals <- function(args) {
  unlist(lapply(args, function(arg) {
    if (startsWith(arg, "--") && grepl("=", arg, fixed = TRUE)) {
      c(sub("=.*$", "", arg), sub("^[^=]*=", "", arg))
    } else {
      arg
    }
  }), use.names = FALSE)
}
