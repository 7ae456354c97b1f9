# The oldest rustc sagesim builds with, stated where users and cargo read it,
# is the highest `rust-version` any crate of Cargo.lock declares: the
# workspace's rust-version (which tools/build-rust.sh checks before
# compiling), DESCRIPTION (SystemRequirements and Config/sagesim/msrv) and
# the README must all say it. Usage: Rscript tools/check-rust-version.R
# [cargo metadata options, e.g. the vendored sources' --config flags].
options(warn = 2)
cargo <- c("metadata", "--format-version", "1", "--manifest-path", "src/rust/Cargo.toml",
           "--locked", commandArgs(trailingOnly = TRUE))
# system2() hands its arguments to a shell: each must be quoted whole.
cargo <- shQuote(cargo)
metadata <- jsonlite::fromJSON(paste(system2("cargo", cargo, stdout = TRUE), collapse = "\n"),
                               simplifyVector = FALSE)
# (The workspace's own crates take their rust-version from it: not evidence.)
members <- unlist(metadata$workspace_members)
declared <- Filter(function(p) !is.null(p$rust_version) && !p$id %in% members, metadata$packages)
versions <- vapply(declared, function(p) p$rust_version, "")
highest <- versions[order(numeric_version(versions), decreasing = TRUE)][[1]]
needing <- vapply(declared[versions == highest], function(p) p$name, "")
workspace <- sub('^rust-version *= *"([0-9.]+)".*', "\\1",
                 grep("^rust-version *=", readLines("src/rust/Cargo.toml"), value = TRUE)[[1]])
description <- read.dcf("DESCRIPTION", fields = c("SystemRequirements", "Config/sagesim/msrv"))
stated <- c(
  `src/rust/Cargo.toml rust-version` = workspace,
  `DESCRIPTION Config/sagesim/msrv` = description[[1, "Config/sagesim/msrv"]],
  `DESCRIPTION SystemRequirements` = sub(".*rustc >= ([0-9.]+).*", "\\1",
                                         gsub("\n", " ", description[[1, "SystemRequirements"]])),
  README = sub(".*rustc >= ([0-9.]+).*", "\\1",
               grep("rustc >= ", readLines("README.md"), value = TRUE)[[1]])
)
wrong <- stated[stated != highest]
if (length(wrong) > 0) {
  stop(sprintf("The locked crates need rustc >= %s (%s), but %s.", highest,
               paste(utils::head(needing, 3), collapse = ", "),
               paste(sprintf("%s says %s", names(wrong), wrong), collapse = "; ")), call. = FALSE)
}
cat(sprintf("rustc >= %s (the highest rust-version of %d locked crates, e.g. %s), stated in %s\n",
            highest, length(metadata$packages), needing[[1]], paste(names(stated), collapse = ", ")))
