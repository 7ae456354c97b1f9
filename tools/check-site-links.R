# Every local link of the built site resolves: each href and src in its HTML
# files that is not an absolute URL names a file of the site (a folder: its
# index.html), and a #fragment names an id or anchor in that file.
#
#   Rscript tools/check-site-links.R docs
site <- commandArgs(trailingOnly = TRUE)[1]
if (is.na(site) || !dir.exists(site)) stop("usage: Rscript tools/check-site-links.R <site folder>")
site <- normalizePath(site)
pages <- list.files(site, pattern = "[.]html$", recursive = TRUE, full.names = TRUE)
read_page <- function(file) paste(readLines(file, warn = FALSE, encoding = "UTF-8"), collapse = "\n")
attribute_values <- function(html, attribute) {
  found <- regmatches(html, gregexpr(sprintf("\\s%s\\s*=\\s*(\"[^\"]*\"|'[^']*')", attribute), html,
                                     perl = TRUE))[[1]]
  gsub("^[^=]*=\\s*[\"']|[\"']$", "", found, perl = TRUE)
}
ids_cache <- new.env()
ids_of <- function(file) {
  if (is.null(ids_cache[[file]])) {
    html <- read_page(file)
    ids_cache[[file]] <- unique(c(attribute_values(html, "id"), attribute_values(html, "name")))
  }
  ids_cache[[file]]
}
broken <- character()
links <- 0L
for (page in pages) {
  html <- read_page(page)
  targets <- unique(c(attribute_values(html, "href"), attribute_values(html, "src")))
  for (target in targets) {
    # Absolute URLs (another site, mailto:, data:, javascript:) are not checked.
    if (grepl("^[A-Za-z][A-Za-z0-9+.-]*:|^//", target) || target == "") next
    links <- links + 1L
    target <- gsub("&amp;", "&", target, fixed = TRUE)
    fragment <- if (grepl("#", target, fixed = TRUE)) sub("^[^#]*#", "", target) else ""
    path <- sub("[?#].*$", "", target)
    file <- if (path == "") page else {
      file.path(if (startsWith(path, "/")) site else dirname(page), utils::URLdecode(path))
    }
    if (dir.exists(file)) file <- file.path(file, "index.html")
    problem <- if (!file.exists(file)) "no such file" else if (nzchar(fragment) &&
        grepl("[.]html$", file) && !(utils::URLdecode(fragment) %in% ids_of(file))) "no such anchor"
    if (!is.null(problem)) {
      broken <- c(broken, sprintf("%s: %s (%s)", substring(page, nchar(site) + 2), target, problem))
    }
  }
}
if (length(broken) > 0) {
  cat(sprintf("%d broken local links in %s:\n", length(broken), site), sprintf("  %s\n", broken), sep = "")
  quit(status = 1)
}
cat(sprintf("site links: %d local links in %d pages, all resolve\n", links, length(pages)))
