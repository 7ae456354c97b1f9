# One element of a map, run as a host runs it and as an estimate times it:
# with its own random stream (map_seeds()), R's generator restored after.

# The L'Ecuyer-CMRG seed of each element `indices` of a map with `seed`:
# those future.apply gives for `future.seed = seed` (set.seed(seed) under
# L'Ecuyer-CMRG; element i takes nextRNGSubStream() of the i-th stream,
# streams following one another by nextRNGStream()). R's own generator
# state is left as it was.
map_seeds <- function(seed, indices) {
  seeds <- vector("list", length(indices))
  if (length(indices) == 0) return(seeds)
  with_random_state({
    RNGkind("L'Ecuyer-CMRG")
    set.seed(as.integer(seed))
    stream <- get(".Random.seed", envir = globalenv())
    wanted <- split(seq_along(indices), indices)
    for (i in seq_len(max(indices))) {
      at <- wanted[[as.character(i)]]
      if (!is.null(at)) seeds[at] <- list(parallel::nextRNGSubStream(stream))
      stream <- parallel::nextRNGStream(stream)
    }
    seeds
  })
}

# Evaluates `expr` and puts R's random number generator back as it was.
with_random_state <- function(expr) {
  had_seed <- exists(".Random.seed", envir = globalenv(), inherits = FALSE)
  old_seed <- if (had_seed) get(".Random.seed", envir = globalenv())
  old_kind <- RNGkind()
  on.exit({
    RNGkind(old_kind[[1]], old_kind[[2]], old_kind[[3]])
    if (had_seed) assign(".Random.seed", old_seed, envir = globalenv())
    else if (exists(".Random.seed", envir = globalenv(), inherits = FALSE)) {
      rm(".Random.seed", envir = globalenv())
    }
  }, add = TRUE)
  expr
}

# One element, with its own random stream; an error is kept with its class,
# message, call and traceback, and does not stop the others.
run_element <- function(runner, element, seed) {
  assign(".Random.seed", seed, envir = globalenv())
  calls <- NULL
  # Messages and warnings are kept, in order, to be signalled again in the
  # session that collects the job, as future relays them.
  conditions <- list()
  keep <- function(restart) function(condition) {
    conditions[[length(conditions) + 1]] <<- condition
    invokeRestart(restart)
  }
  value <- tryCatch(
    withCallingHandlers(runner(element), error = function(e) calls <<- sys.calls(),
                        message = keep("muffleMessage"), warning = keep("muffleWarning")),
    error = function(e) structure(list(condition = e), class = "sagesim_failed_element")
  )
  if (!inherits(value, "sagesim_failed_element")) return(list(value = value, conditions = conditions))
  e <- value$condition
  list(conditions = conditions,
       failure = list(class = class(e), message = conditionMessage(e), call = conditionCall(e),
                      traceback = element_traceback(calls)))
}

# The calls from `f` down to where the error was raised, one line each.
element_traceback <- function(calls) {
  if (is.null(calls)) return(character())
  text <- vapply(calls, function(call) paste(deparse(call, nlines = 1L), collapse = ""), "")
  start <- match("f(element, ...)", text)
  end <- match(TRUE, startsWith(text, ".handleSimpleError(") | startsWith(text, "h(simpleError"))
  if (is.na(start)) start <- 1
  if (is.na(end)) end <- length(text) + 1
  text[seq.int(start, length.out = max(0, end - start))]
}
