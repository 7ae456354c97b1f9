#!/bin/sh
# make site: the reference site (pkgdown) in docs/, built offline, then every
# local link in it checked (tools/check-site-links.R).
#
# It builds nothing in Rust: the help pages come from man/, and the examples
# and articles run the sagesim in
#   SAGESIM_SITE_LIB, when set (a library holding sagesim), else
#   the binary package make dist wrote for this version (dist/; make test
#   writes it too), installed in seconds into a temporary library, else
#   the sagesim already installed in R's libraries (make install).
set -eu
cd "$(dirname "$0")/.."
version=$(sed -n 's/^Version: //p' DESCRIPTION)
work=$(mktemp -d "${TMPDIR:-/tmp}/sagesim-site.XXXXXX")
trap 'rm -rf "$work"' EXIT
start=$(date +%s)

lib="${SAGESIM_SITE_LIB:-}"
if [ -z "$lib" ]; then
  binary=$(ls dist/sagesim_"${version}"_R_*.tar.gz 2>/dev/null | head -n 1 || true)
  if [ -n "$binary" ]; then
    lib="$work/lib"
    mkdir -p "$lib"
    R CMD INSTALL --no-test-load -l "$lib" "$binary" >"$work/install.log" 2>&1 ||
      { cat "$work/install.log"; exit 1; }
    echo "site: sagesim from $binary"
  elif Rscript -e 'quit(status = !requireNamespace("sagesim", quietly = TRUE))' 2>/dev/null; then
    echo "site: sagesim installed in $(Rscript -e 'cat(dirname(find.package("sagesim")))')"
  else
    echo "site: no sagesim to build the site with: run 'make dist' (its binary package is used) or 'make install'" >&2
    exit 1
  fi
fi
if [ -n "$lib" ]; then
  R_LIBS="$lib${R_LIBS:+:$R_LIBS}"
  export R_LIBS
fi

# Offline: pkgdown asks the network only for CRAN's page of the package,
# which pkgdown.internet = FALSE skips. Local jobs of the examples and
# articles keep their files in the build's own folder.
rm -rf docs
# shellcheck disable=SC2016  # R code
SAGESIM_SITE_JOBS="$work/jobs" Rscript -e '
options(pkgdown.internet = FALSE, sagesim.job_dir = Sys.getenv("SAGESIM_SITE_JOBS"))
pkgdown::build_site(".", install = FALSE, new_process = FALSE, preview = FALSE)
'
Rscript tools/check-site-links.R docs
echo "site: docs/index.html, built and checked in $(( $(date +%s) - start )) s"
