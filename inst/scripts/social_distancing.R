# The workshop's social-distancing simulation as an R script, as
# vignette("from-the-workshop", package = "sagesim") runs it: settings from the
# command line, the iterations on a doParallel cluster of all the host's
# cores, the answer written where SageMaker Processing collects outputs.
#
#   Rscript social_distancing.R [--x_length 1000] [--y_length 1000]
#       [--num_people 1000] [--max_iterations 10000]
library(foreach)
library(doParallel)

args <- commandArgs(trailingOnly = TRUE)
setting <- function(name, default) {
  i <- match(paste0("--", name), args)
  if (is.na(i)) default else as.numeric(args[i + 1])
}
x_length <- setting("x_length", 1000)
y_length <- setting("y_length", 1000)
num_people <- setting("num_people", 1000)
max_iterations <- setting("max_iterations", 10000)
distance <- 6

cl <- makeCluster(detectCores())
registerDoParallel(cl)
violations <- foreach(i = seq_len(max_iterations), .combine = c) %dopar% {
  x <- runif(num_people, 0, x_length)
  y <- runif(num_people, 0, y_length)
  # Each pair closer than `distance` is a violation for both of its people.
  2 * sum(dist(cbind(x, y)) < distance) / num_people
}
stopCluster(cl)

cat("mean violations per person:", mean(violations), "over", max_iterations, "iterations\n")
write(mean(violations), "/opt/ml/processing/output/output_result_mean.txt")
