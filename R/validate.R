# Argument checks shared by every user-facing function. Each failure is a
# `sagesim_invalid_argument` naming the argument; conditions show the call
# the user made (see user_call()). Limits the Rust core enforces (room sizes,
# threads, whole numbers up to 2^53) are asked of it, not repeated here.

describe_type <- function(x) {
  if (is.null(x)) return("NULL")
  if (is.function(x)) return("a function")
  if (length(x) == 1 && is.atomic(x) && is.na(x)) return("NA, a missing value")
  kind <- if (is.list(x)) "list" else if (is.factor(x)) "factor" else typeof(x)
  if (length(x) == 1) sprintf("a %s value", kind) else sprintf("a %s vector of length %d", kind, length(x))
}

format_value <- function(x) format(x, digits = 15, scientific = abs(x) >= 1e15)

check_number <- function(x, arg, min = -Inf, max = Inf, whole = FALSE, above = FALSE,
                         finite = TRUE) {
  what <- if (whole) "a single whole number" else "a single number"
  if (!is.numeric(x) || is.object(x) || length(x) != 1) {
    abort_argument(arg, sprintf("`%s` must be %s, not %s.", arg, what, describe_type(x)))
  }
  if (is.nan(x)) abort_argument(arg, sprintf("`%s` must be %s, not NaN.", arg, what))
  if (is.na(x)) abort_argument(arg, sprintf("`%s` must be %s, not NA.", arg, what))
  if (finite && is.infinite(x)) {
    abort_argument(arg, sprintf("`%s` must be finite, not %s.", arg, format(x)))
  }
  if (whole && x != trunc(x)) {
    abort_argument(arg, sprintf("`%s` must be a whole number, not %s.", arg, format_value(x)))
  }
  if (above && x <= min) {
    abort_argument(arg, sprintf("`%s` must be greater than %s, not %s.", arg, format_value(min),
                                format_value(x)))
  }
  if (x < min) {
    abort_argument(arg, sprintf("`%s` must be at least %s, not %s.", arg, format_value(min),
                                format_value(x)))
  }
  if (x > max) {
    abort_argument(arg, sprintf("`%s` must be at most %s, not %s.", arg, format_value(max),
                                format_value(x)))
  }
  invisible(as.numeric(x))
}

check_count <- function(x, arg, min = 0, max = Inf) {
  check_number(x, arg, min = min, max = max, whole = TRUE)
}

check_flag <- function(x, arg) {
  if (!is.logical(x) || length(x) != 1 || is.na(x)) {
    abort_argument(arg, sprintf("`%s` must be TRUE or FALSE, not %s.", arg, describe_type(x)))
  }
  invisible(x)
}

# `pattern` is checked, `expected` says it in words (with an example) for
# the message: a regular expression is never shown to users.
check_string <- function(x, arg, null_ok = FALSE, pattern = NULL, max_chars = Inf,
                         expected = NULL) {
  stopifnot(is.null(pattern) || is.character(expected))
  if (null_ok && is.null(x)) return(invisible(x))
  if (!is.character(x) || length(x) != 1 || is.na(x) || !nzchar(x)) {
    abort_argument(arg, sprintf("`%s` must be a single non-empty string, not %s.", arg,
                                describe_type(x)))
  }
  if (nchar(x) > max_chars) {
    abort_argument(arg, sprintf("`%s` must have at most %d characters, not %d.", arg,
                                as.integer(max_chars), nchar(x)))
  }
  if (!is.null(pattern) && !grepl(pattern, x, perl = TRUE)) {
    abort_argument(arg, sprintf("`%s` must be %s, not \"%s\".", arg, expected, x))
  }
  invisible(x)
}

check_strings <- function(x, arg, null_ok = TRUE, named = FALSE) {
  if (null_ok && is.null(x)) return(invisible(x))
  if (!is.character(x) || anyNA(x)) {
    abort_argument(arg, sprintf("`%s` must be a character vector without NA, not %s.", arg,
                                describe_type(x)))
  }
  if (named && length(x) > 0 && (is.null(names(x)) || any(!nzchar(names(x))))) {
    abort_argument(arg, sprintf("`%s` must be a named character vector (every element named).", arg))
  }
  invisible(x)
}

# " (did you mean `x`?)" for the first of `choices` within two edits of
# `name`, else "": the hint after a misspelt name.
did_you_mean <- function(name, choices) {
  ported <- script_processor_names[name]
  if (!is.na(ported) && ported %in% choices) {
    return(sprintf(" (ScriptProcessor's name; sagesim's is `%s`)", ported))
  }
  close <- choices[utils::adist(name, choices) <= 2]
  if (length(close) > 0) sprintf(" (did you mean `%s`?)", close[[1]]) else ""
}

# The Python SDK's ScriptProcessor names that sagesim spells otherwise: one
# rule everywhere, they are refused with sagesim's name (not taken as aliases,
# so that each setting has one name in code, records and help pages).
script_processor_names <- c(volume_size_in_gb = "volume_size_gb",
                            max_runtime_in_seconds = "max_runtime",
                            sagemaker_session = "session", network_config = "network")

# Arguments a user-facing function does not take (its `...`, passed on
# here unevaluated), refused by name with the one meant, instead of R's bare
# "unused argument". `fun`: the function's name, for the message.
check_unknown_arguments <- function(fun, ...) {
  if (...length() == 0) return(invisible())
  names <- ...names() %||% rep("", ...length())
  if (anyNA(names) || any(!nzchar(names))) {
    abort_argument("...", sprintf("%s() takes no further unnamed arguments.", fun),
                   class = "sagesim_unknown_argument")
  }
  known <- setdiff(names(formals(sys.function(sys.parent()))), "...")
  described <- paste0("`", names, "`", vapply(names, did_you_mean, "", known))
  abort_argument(names[[1]], sprintf("%s() has no argument %s.", fun,
                                     paste(described, collapse = ", ")),
                 class = "sagesim_unknown_argument")
}

check_choice <- function(x, choices, arg) {
  if (!is.character(x) || length(x) != 1 || is.na(x) || !x %in% choices) {
    abort_argument(arg, sprintf("`%s` must be one of %s.", arg,
                                paste0("\"", choices, "\"", collapse = ", ")))
  }
  invisible(x)
}

# match.arg() for a choice whose first value is the default.
match_choice <- function(x, arg) {
  choices <- eval(formals(sys.function(sys.parent()))[[arg]])
  if (identical(x, choices)) return(choices[[1]])
  check_choice(x, choices, arg)
}

check_class <- function(x, class, arg, maker) {
  if (!inherits(x, class)) {
    abort_argument(arg, sprintf("`%s` must be made by %s, not %s.", arg, maker, describe_type(x)))
  }
  invisible(x)
}

is_s3_uri <- function(x) startsWith(x, "s3://")

check_s3_uri <- function(x, arg) {
  if (!grepl("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$", x)) {
    abort_argument(arg, sprintf("`%s` is not a valid S3 URI (s3://bucket/key): \"%s\".", arg, x))
  }
  invisible(x)
}

parse_s3_uri <- function(uri) {
  rest <- sub("^s3://", "", uri)
  bucket <- sub("/.*$", "", rest)
  key <- if (grepl("/", rest, fixed = TRUE)) sub("^[^/]*/", "", rest) else ""
  list(bucket = bucket, key = key)
}

check_container_path <- function(x, arg, null_ok = FALSE) {
  if (null_ok && is.null(x)) return(invisible(x))
  check_string(x, arg)
  if (!startsWith(x, "/opt/ml/processing/") || grepl("(^|/)\\.\\.(/|$)", x)) {
    abort_argument(arg, sprintf("`%s` must be a path under /opt/ml/processing/, not \"%s\".", arg, x))
  }
  invisible(x)
}

check_environment <- function(env) {
  if (is.null(env) || length(env) == 0) return(NULL)
  if (is.list(env)) env <- unlist(env)
  check_strings(env, "env", named = TRUE)
  if (length(env) > 100) {
    abort_argument("env", sprintf("`env` may have at most 100 entries, not %d.", length(env)))
  }
  keys <- names(env)
  bad <- keys[!grepl("^[a-zA-Z_][a-zA-Z0-9_]*$", keys) | nchar(keys) > 256]
  if (length(bad) > 0) {
    abort_argument("env", sprintf("`env` names must be letters, digits and underscores, not starting with a digit (e.g. \"MY_VAR\"), of at most 256 characters; bad: %s.",
                                  paste0("\"", bad, "\"", collapse = ", ")))
  }
  long <- keys[nchar(env) > 256]
  if (length(long) > 0) {
    abort_argument("env", sprintf("`env` values must have at most 256 characters; too long: %s.",
                                  paste(long, collapse = ", ")))
  }
  if (anyDuplicated(keys)) {
    abort_argument("env", sprintf("`env` names must be unique; repeated: %s.",
                                  paste(unique(keys[duplicated(keys)]), collapse = ", ")))
  }
  env
}

check_tags <- function(tags) {
  if (is.null(tags) || length(tags) == 0) return(NULL)
  if (is.list(tags)) tags <- unlist(tags)
  check_strings(tags, "tags", named = TRUE)
  if (length(tags) > 50) {
    abort_argument("tags", sprintf("`tags` may have at most 50 entries, not %d.", length(tags)))
  }
  if (any(nchar(names(tags)) > 128) || any(nchar(tags) > 256)) {
    abort_argument("tags", "`tags` need names of at most 128 characters and values of at most 256.")
  }
  # (Refused here, before anything is uploaded.)
  if (anyDuplicated(names(tags))) {
    abort_argument("tags", sprintf("`tags` names must be unique; repeated: %s.",
                                   paste(unique(names(tags)[duplicated(names(tags))]), collapse = ", ")))
  }
  tags
}

# SageMaker takes at most 256 arguments of at most 256 characters each.
check_arguments <- function(arguments) {
  if (is.null(arguments)) return(character())
  # As reticulate users write them: list("--max_iterations", "10000").
  if (is.list(arguments) && all(vapply(arguments, function(a) is.atomic(a) && length(a) == 1,
                                       logical(1)))) {
    arguments <- vapply(arguments, function(a) {
      if (is.numeric(a)) format_number(a) else as.character(a)
    }, "")
  }
  if (!is.atomic(arguments) || anyNA(arguments)) {
    abort_argument("arguments", sprintf("`arguments` must be a character vector without NA, not %s.",
                                        describe_type(arguments)))
  }
  if (is.numeric(arguments)) arguments <- format(arguments, digits = 17, trim = TRUE)
  arguments <- as.character(arguments)
  if (length(arguments) > 256 || any(nchar(arguments) > 256)) {
    abort_argument("arguments", "SageMaker takes at most 256 `arguments` of at most 256 characters each.")
  }
  arguments
}

check_unique_names <- function(items, arg) {
  names <- vapply(items, `[[`, character(1), "name")
  if (anyDuplicated(names)) {
    abort_argument(arg, sprintf("`%s` names must be unique; repeated: %s.", arg,
                                paste(unique(names[duplicated(names)]), collapse = ", ")))
  }
}
