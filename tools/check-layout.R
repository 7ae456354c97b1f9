# Checks the R layout the project holds to (README, "Layout"): no file in R/
# over 450 lines, no two files that call each other (what both need belongs
# in a third file), no cycle of files beyond the one stated below, and the
# README's layout row naming exactly the files there are. Run by
# `make test`; exits 1 with the offenders.
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
# Cycles of any length: the strongly connected components of the graph of
# files (Tarjan's algorithm). A file in a component of k files can only be
# read with the other k - 1; the largest may hold at most `largest_cycle`.
# The one left is the loop that follows a job (plan.R starts, wait.R waits,
# retry.R starts the follow-up of a failed attempt, map.R a map's): 4 files.
largest_cycle <- 4L
components <- local({
  index <- list(); low <- list(); on_stack <- list(); stack <- character(); found <- list()
  counter <- 0
  visit <- function(v) {
    counter <<- counter + 1
    index[[v]] <<- counter; low[[v]] <<- counter
    stack <<- c(stack, v); on_stack[[v]] <<- TRUE
    for (w in edges$to[edges$from == v]) {
      if (is.null(index[[w]])) {
        visit(w)
        low[[v]] <<- min(low[[v]], low[[w]])
      } else if (isTRUE(on_stack[[w]])) {
        low[[v]] <<- min(low[[v]], index[[w]])
      }
    }
    if (low[[v]] == index[[v]]) {
      top <- match(v, stack)
      members <- stack[top:length(stack)]
      stack <<- stack[seq_len(top - 1)]
      for (m in members) on_stack[[m]] <<- FALSE
      found[[length(found) + 1]] <<- sort(members)
    }
  }
  for (file in files) if (is.null(index[[file]])) visit(file)
  found
})
sizes <- lengths(components)
cycles <- components[sizes > 1]
for (component in cycles[lengths(cycles) > largest_cycle]) {
  problems <- c(problems, sprintf("%d files call one another in a cycle (at most %d): %s",
                                  length(component), largest_cycle,
                                  paste(basename(component), collapse = ", ")))
}
# The README's `R/` row names every file, and no file that is gone.
readme <- grep("^[|] `R/` [|]", readLines("README.md"), value = TRUE)
named <- regmatches(readme, gregexpr("`[A-Za-z0-9.-]+[.]R`", readme))[[1]]
named <- unique(gsub("`", "", named))
for (file in setdiff(basename(files), named)) {
  problems <- c(problems, sprintf("README's layout row does not name R/%s", file))
}
for (file in setdiff(named, basename(files))) {
  problems <- c(problems, sprintf("README's layout row names R/%s, which does not exist", file))
}
if (length(problems) > 0) {
  cat(paste0("layout: ", problems, "\n"), sep = "")
  quit(status = 1)
}
cat(sprintf("layout: %d R files, none over 450 lines, no two calling each other; largest cycle of files: %d (at most %d)%s\n",
            length(files), max(c(1, lengths(cycles))), largest_cycle,
            if (length(cycles) > 0) sprintf(": %s", paste(vapply(cycles, function(c) paste(basename(c), collapse = " "), ""), collapse = "; ")) else ""))
