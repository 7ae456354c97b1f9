# Argument checks shared by every user-facing function. Each failure is a
# `sagesim_invalid_argument` naming the argument, raised for the caller's call.

describe_type <- function(x) {
  if (is.null(x)) return("NULL")
  if (is.function(x)) return("a function")
  kind <- if (is.list(x)) "list" else if (is.factor(x)) "factor" else typeof(x)
  if (length(x) == 1) sprintf("a %s value", kind) else sprintf("a %s vector of length %d", kind, length(x))
}

format_value <- function(x) format(x, digits = 15, scientific = abs(x) >= 1e15)

check_number <- function(x, arg, min = -Inf, max = Inf, whole = FALSE, above = FALSE,
                         finite = TRUE, call = sys.call(-1)) {
  what <- if (whole) "a single whole number" else "a single number"
  if (!is.numeric(x) || is.object(x) || length(x) != 1) {
    abort_argument(arg, sprintf("`%s` must be %s, not %s.", arg, what, describe_type(x)), call = call)
  }
  if (is.nan(x)) abort_argument(arg, sprintf("`%s` must be %s, not NaN.", arg, what), call = call)
  if (is.na(x)) abort_argument(arg, sprintf("`%s` must be %s, not NA.", arg, what), call = call)
  if (finite && is.infinite(x)) {
    abort_argument(arg, sprintf("`%s` must be finite, not %s.", arg, format(x)), call = call)
  }
  if (whole && x != trunc(x)) {
    abort_argument(arg, sprintf("`%s` must be a whole number, not %s.", arg, format_value(x)), call = call)
  }
  if (above && x <= min) {
    abort_argument(arg, sprintf("`%s` must be greater than %s, not %s.", arg, format_value(min),
                                format_value(x)), call = call)
  }
  if (x < min) {
    abort_argument(arg, sprintf("`%s` must be at least %s, not %s.", arg, format_value(min),
                                format_value(x)), call = call)
  }
  if (x > max) {
    abort_argument(arg, sprintf("`%s` must be at most %s, not %s.", arg, format_value(max),
                                format_value(x)), call = call)
  }
  invisible(as.numeric(x))
}

# Counts travel to Rust as doubles; 2^53 is where doubles stop being exact.
max_whole <- 2^53

check_count <- function(x, arg, min = 0, max = max_whole, call = sys.call(-1)) {
  check_number(x, arg, min = min, max = max, whole = TRUE, call = call)
}

check_flag <- function(x, arg, call = sys.call(-1)) {
  if (!is.logical(x) || length(x) != 1 || is.na(x)) {
    abort_argument(arg, sprintf("`%s` must be TRUE or FALSE, not %s.", arg, describe_type(x)),
                   call = call)
  }
  invisible(x)
}

check_string <- function(x, arg, null_ok = FALSE, pattern = NULL, max_chars = Inf,
                         call = sys.call(-1)) {
  if (null_ok && is.null(x)) return(invisible(x))
  if (!is.character(x) || length(x) != 1 || is.na(x) || !nzchar(x)) {
    abort_argument(arg, sprintf("`%s` must be a single non-empty string, not %s.", arg,
                                describe_type(x)), call = call)
  }
  if (nchar(x) > max_chars) {
    abort_argument(arg, sprintf("`%s` must have at most %d characters, not %d.", arg,
                                as.integer(max_chars), nchar(x)), call = call)
  }
  if (!is.null(pattern) && !grepl(pattern, x, perl = TRUE)) {
    abort_argument(arg, sprintf("`%s` must match %s, not \"%s\".", arg, pattern, x), call = call)
  }
  invisible(x)
}

check_strings <- function(x, arg, null_ok = TRUE, named = FALSE, call = sys.call(-1)) {
  if (null_ok && is.null(x)) return(invisible(x))
  if (!is.character(x) || anyNA(x)) {
    abort_argument(arg, sprintf("`%s` must be a character vector without NA, not %s.", arg,
                                describe_type(x)), call = call)
  }
  if (named && length(x) > 0 && (is.null(names(x)) || any(!nzchar(names(x))))) {
    abort_argument(arg, sprintf("`%s` must be a named character vector (every element named).", arg),
                   call = call)
  }
  invisible(x)
}
