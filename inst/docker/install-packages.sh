#!/bin/sh
# Installs the user's extra packages into the worker image: the Dockerfile's
# runtime stage runs it with its build arguments (build_image(packages = ,
# system_packages = , repos = ) sets them):
#
#   R_PACKAGES       R packages, space-separated. Each comes from Debian's
#                    r-cran-<name> when Debian has it (a binary: fast, no
#                    compiler), else from install.packages() with R_REPOS.
#   SYSTEM_PACKAGES  Debian packages, space-separated.
#   R_REPOS          repository URLs for install.packages(), space-separated.
#
# Every R package must load at the end: one that cannot be installed fails
# the build with a line "sagesim: ..." naming it, not a job later on.
set -eu

r_packages=${R_PACKAGES:-}
system_packages=${SYSTEM_PACKAGES:-}
repos=${R_REPOS:-}
site_library=/usr/local/lib/R/site-library
[ -n "$r_packages$system_packages" ] || exit 0

fail() {
  echo "sagesim: $*" >&2
  exit 1
}
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq

# R packages the image already has (base R's, sagesim's own dependencies).
# shellcheck disable=SC2016,SC2086  # R code; word splitting intended
missing=$(Rscript -e 'cat(setdiff(commandArgs(TRUE), rownames(installed.packages())))' $r_packages)
from_debian=""
from_repos=""
for package in $missing; do
  deb="r-cran-$(printf '%s' "$package" | tr '[:upper:]' '[:lower:]')"
  if [ -n "$(apt-cache madison "$deb" 2>/dev/null)" ]; then
    from_debian="$from_debian $deb"
  else
    from_repos="$from_repos $package"
  fi
done

# Before installing anything: a package that can come from nowhere.
if [ -n "$from_repos" ] && [ -z "$repos" ]; then
  fail "cannot install R packages:$from_repos: Debian has no r-cran-<name> for them and no repository was given (build_image(repos = ))"
fi

apt_packages="$system_packages$from_debian"
if [ -n "$apt_packages" ]; then
  echo "== installing from Debian:$apt_packages"
  # shellcheck disable=SC2086  # word splitting intended
  if ! apt-get install -y -qq --no-install-recommends $apt_packages; then
    # Name the packages apt cannot install, one by one.
    failed=""
    for package in $apt_packages; do
      apt-get install -s -qq --no-install-recommends "$package" >/dev/null 2>&1 || failed="$failed $package"
    done
    fail "could not install Debian packages:${failed:- $apt_packages} (see apt's messages above)"
  fi
fi

if [ -n "$from_repos" ]; then
  echo "== installing from $repos:$from_repos"
  # Compilers and R's headers, for packages with compiled code, installed
  # for this step only.
  installed_debs() {
    dpkg-query -W -f '${db:Status-Status} ${Package}\n' | awk '$1 == "installed" { print $2 }' | sort
  }
  installed_debs >/tmp/sagesim-debs-before
  apt-get install -y -qq --no-install-recommends r-base-dev >/dev/null
  # Failures show as warnings here and as an error in the check below.
  # shellcheck disable=SC2016,SC2086  # R code; word splitting intended
  SITE_LIBRARY=$site_library Rscript -e '
    install.packages(commandArgs(TRUE), lib = Sys.getenv("SITE_LIBRARY"),
                     repos = strsplit(Sys.getenv("R_REPOS"), " +")[[1]],
                     Ncpus = parallel::detectCores())' $from_repos || true
  # What came with them goes again, except shared libraries (lib*, not
  # lib*-dev), which a compiled package may link to. (apt's autoremove
  # would keep them all: r-base-core recommends r-base-dev.)
  build_tools=$(installed_debs | comm -13 /tmp/sagesim-debs-before - | grep -vE '^lib' || true)
  build_tools="$build_tools $(installed_debs | comm -13 /tmp/sagesim-debs-before - | grep -E '^lib.*-dev$' || true)"
  # shellcheck disable=SC2086  # word splitting intended
  apt-get purge -y -qq $build_tools >/dev/null
  rm -f /tmp/sagesim-debs-before
fi
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin

# shellcheck disable=SC2016,SC2086  # R code; word splitting intended
[ -z "$r_packages" ] || Rscript -e '
  packages <- commandArgs(TRUE)
  loads <- vapply(packages, function(p) suppressWarnings(requireNamespace(p, quietly = TRUE)), logical(1))
  if (!all(loads)) {
    message("sagesim: could not install R packages: ", paste(packages[!loads], collapse = ", "),
            " (see the messages above)")
    quit(status = 1)
  }
  cat("sagesim: R packages in the image:", paste(packages, collapse = ", "), "\n")' $r_packages
