# The packages a job's code needs, and whether the hosts have them. A local
# job's hosts without an image run with this machine's library, so a package
# missing here would fail every host: it is refused at submission, with
# install.packages() as the fix. Hosts in an image (local or on SageMaker)
# need the image to have it (build_image()).

# The packages a script attaches or calls (library(), require(),
# requireNamespace(), loadNamespace(), pkg::fun), read without running it.
script_packages <- function(path) {
  code_packages(tryCatch(parse(path, keep.source = FALSE), error = function(e) NULL))
}

# The same, in code: expressions, or a function's body.
code_packages <- function(exprs) {
  if (is.function(exprs)) exprs <- list(body(exprs))
  found <- character()
  # (An empty argument, as in x[, 1], is skipped: it cannot be passed on.)
  walk_parts <- function(e) {
    parts <- as.list(e)
    for (i in seq_along(parts)) if (!identical(parts[[i]], quote(expr = ))) walk(parts[[i]])
  }
  walk <- function(e) {
    if (is.call(e)) {
      head <- e[[1]]
      if (is.name(head) && as.character(head) %in% c("library", "require", "requireNamespace",
                                                      "loadNamespace") && length(e) >= 2) {
        arg <- e[[2]]
        if (is.name(arg) && as.character(head) %in% c("library", "require")) {
          found <<- c(found, as.character(arg))
        } else if (is.character(arg) && length(arg) == 1) {
          found <<- c(found, arg)
        }
      }
      if (is.call(head) && length(head) == 3 && as.character(head[[1]]) %in% c("::", ":::")) {
        found <<- c(found, as.character(head[[2]]))
      }
      walk_parts(e)
    } else if (is.expression(e) || is.pairlist(e) || is.list(e)) {
      walk_parts(e)
    }
  }
  for (e in exprs) walk(e)
  unique(found)
}

# Refuses a local job whose hosts would lack `packages` (what `what` needs).
check_local_packages <- function(packages, what) {
  missing <- packages[!vapply(packages, function(p) nzchar(system.file(package = p)), logical(1))]
  if (length(missing) == 0) return(invisible())
  abort(sprintf(
    "%s needs %s, not installed on this machine, whose library local hosts use. Install %s first: install.packages(%s).",
    what, paste0("`", missing, "`", collapse = ", "), if (length(missing) > 1) "them" else "it",
    if (length(missing) > 1) sprintf("c(%s)", paste0("\"", missing, "\"", collapse = ", "))
    else sprintf("\"%s\"", missing)),
    class = c("sagesim_missing_package", "sagesim_invalid_argument"), packages = missing)
}
