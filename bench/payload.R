# What shipping a large object to a map's hosts costs in this session:
# writing the payload file (uncompressed, as sagesim writes it, against
# saveRDS()'s default gzip, as it did before), and the whole submission of a
# local one-host map whose `f` uses a 600 MB numeric global.
#
#   Rscript bench/payload.R          # 600 MB (needs about 2 GB of memory)
#   Rscript bench/payload.R --quick  # 60 MB
suppressPackageStartupMessages(library(sagesim))
quick <- "--quick" %in% commandArgs(trailingOnly = TRUE)
bytes <- if (quick) 60e6 else 600e6
options(sagesim.job_dir = tempfile("sagesim-bench-"), sagesim.max_payload_size = 4e9)
big <- runif(bytes / 8)
payload <- list(format = sagesim:::map_format, f = function(i) big[[i]], globals = list(big = big),
                dots = list(), x = list(1L))
file <- tempfile(fileext = ".rds")
time <- function(expr) system.time(expr)[["elapsed"]]
uncompressed <- time(suppressMessages(sagesim:::write_map_payload(payload, file)))
size <- file.size(file)
gzip <- time(saveRDS(payload, file))
gzip_size <- file.size(file)
unlink(file)
f <- function(i) big[[i]]
submit <- time(job <- suppressMessages(submit_map(1:2, f, logs = FALSE)))
stopifnot(identical(job_collect(job), as.list(big[1:2])))
unlink(getOption("sagesim.job_dir"), recursive = TRUE)
mb <- bytes / 1e6
cat(sprintf("payload of %.0f MB (a numeric global)\n", mb))
cat(sprintf("  written as sagesim writes it (uncompressed): %6.2f s, %6.0f MB/s, file %.0f MB\n",
            uncompressed, mb / uncompressed, size / 1e6))
cat(sprintf("  written with saveRDS()'s gzip (before):      %6.2f s, %6.0f MB/s, file %.0f MB\n",
            gzip, mb / gzip, gzip_size / 1e6))
cat(sprintf("  a local 1-host submit_map() using it, to collected values: %.2f s\n", submit))
