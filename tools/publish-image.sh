#!/bin/sh
# Build the sagesim worker image and push it to ECR, from a terminal:
#   tools/publish-image.sh [repository] [tag]
# AWS credentials and region come from the standard chain (AWS_PROFILE, ...).
# Prints the image URI to pass to submit_processing(image_uri = ...).
set -e
cd "$(dirname "$0")/.."
exec Rscript -e 'a <- commandArgs(TRUE); cat(sagesim::publish_image(".", repository = if (length(a) >= 1) a[[1]] else "sagesim", tag = if (length(a) >= 2) a[[2]] else "latest"), "\n")' "$@"
