# Checks the R layout the project holds to (README, "Layout"): no file in R/
# over 450 lines, and no two files that call each other (what both need
# belongs in a third file). Run by `make test`; exits 1 with the offenders.
files <- sort(list.files("R", pattern = "[.]R$", full.names = TRUE))
problems <- character()
for (file in files) {
  n <- length(readLines(file, warn = FALSE))
  if (n > 450) problems <- c(problems, sprintf("%s has %d lines (at most 450)", file, n))
}
# Top-level functions of each file, and the functions each one calls.
defined <- list()
calls <- list()
for (file in files) {
  exprs <- parse(file, keep.source = FALSE)
  for (e in exprs) {
    if (is.call(e) && (identical(e[[1]], as.name("<-")) || identical(e[[1]], as.name("="))) &&
        is.name(e[[2]])) {
      name <- as.character(e[[2]])
      defined[[name]] <- file
      calls[[file]] <- c(calls[[file]], all.names(e[[3]]))
    }
  }
}
edges <- unique(do.call(rbind, lapply(names(calls), function(file) {
  used <- intersect(unique(calls[[file]]), names(defined))
  targets <- unique(unlist(defined[used]))
  targets <- setdiff(targets, file)
  if (length(targets) == 0) return(NULL)
  data.frame(from = file, to = targets, stringsAsFactors = FALSE)
})))
key <- paste(edges$from, edges$to)
mutual <- edges[paste(edges$to, edges$from) %in% key & edges$from < edges$to, , drop = FALSE]
for (i in seq_len(nrow(mutual))) {
  shared <- function(a, b) {
    used <- intersect(unique(calls[[a]]), names(defined))
    paste(used[vapply(used, function(u) identical(defined[[u]], b), logical(1))], collapse = ", ")
  }
  problems <- c(problems, sprintf("%s and %s call each other (%s -> %s: %s; back: %s)",
                                  mutual$from[[i]], mutual$to[[i]], mutual$from[[i]],
                                  mutual$to[[i]], shared(mutual$from[[i]], mutual$to[[i]]),
                                  shared(mutual$to[[i]], mutual$from[[i]])))
}
if (length(problems) > 0) {
  cat(paste0("layout: ", problems, "\n"), sep = "")
  quit(status = 1)
}
cat(sprintf("layout: %d R files, none over 450 lines, no two calling each other\n", length(files)))
