#!/bin/sh
# What sagesim needs, per use, from the system's package manager and the
# Python package index (no R package repository is needed): R and the R
# packages sagesim uses; for the tests, the moto server they talk to instead
# of AWS; for the container check, podman, buildah, debootstrap and a
# container registry. Rust (cargo, rustc) must already be installed, e.g.
# with rustup.
#
#   setup.sh [--check] [r|dist|test|site|container|all]
#
# --check (make install, demo, test): installs nothing and never calls apt
# or sudo. It says what is missing and the command that would install it,
# and fails; with everything present it says nothing more and succeeds.
# Without --check (make setup, CI, as root): installs what is missing.
# Idempotent: installs nothing that is already there. Default group: all.
set -eu

check=0
if [ "${1:-}" = "--check" ]; then
  check=1
  shift
fi
what="${1:-all}"

# What each group needs: R packages (by name, for R to find in any library),
# commands, and the Debian packages that provide them.
# bubblewrap: local jobs give each host /opt/ml at its real path in a mount
# namespace of its own.
r_packages="cli jsonlite globals"
r_commands="R:r-base-core Rscript:r-base-core bwrap:bubblewrap"
r_dev_debs="r-base-dev"
# The tests, and what the tests' workshop script (tests/testthat/fixtures/workshop.R) uses;
# the foreach backend's (iterators), the RStudio Jobs pane's (rstudioapi's
# dispatch, and later for the updates that run while the console is idle),
# and a data.table travelling in a map. R CMD check --as-cran reads
# configure and cleanup with checkbashisms and NEWS.md with pandoc.
test_packages="testthat withr future future.apply foreach doParallel iterators rstudioapi later data.table"
test_commands="python3:python3 xz:xz-utils checkbashisms:devscripts pandoc:pandoc"
# The vignettes, which R CMD build (make dist) and R CMD check build: knitr
# and rmarkdown, which needs pandoc; R CMD check --as-cran of a package with
# built vignettes (inst/doc) warns without qpdf. The reference site (make
# site): pkgdown.
docs_packages="knitr rmarkdown"
docs_commands="pandoc:pandoc qpdf:qpdf"
site_packages="pkgdown"
# The container check (tools/container/check.sh).
container_commands="podman:podman buildah:buildah debootstrap:debootstrap docker-registry:docker-registry curl:curl"

case $what in
  r) groups="r" ;;
  dist) groups="r docs" ;;
  test) groups="r docs test" ;;
  site) groups="r docs site" ;;
  container) groups="r container" ;;
  all) groups="r docs site test container" ;;
  *) echo "setup: unknown group '$what' (r, dist, test, site, container or all)" >&2; exit 2 ;;
esac

missing_debs=""
missing_what=""
note_missing() { # what deb
  missing_what="$missing_what $1"
  case " $missing_debs " in *" $2 "*) ;; *) missing_debs="$missing_debs $2" ;; esac
}
deb_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}
check_commands() {
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || note_missing "${pair%%:*}" "${pair#*:}"
  done
}
r_unchecked=0
check_r_packages() {
  # Without R its packages cannot be asked for: R is reported missing, and
  # once apt has installed it this script runs again to ask (one 'make setup'
  # on a bare machine).
  command -v Rscript >/dev/null 2>&1 || { r_unchecked=1; return 0; }
  # shellcheck disable=SC2016  # R code
  for package in $(Rscript -e 'cat(Filter(function(p) !requireNamespace(p, quietly = TRUE), commandArgs(TRUE)))' "$@"); do
    note_missing "R package $package" "r-cran-$(printf '%s' "$package" | tr '[:upper:]' '[:lower:]')"
  done
}

for group in $groups; do
  case $group in
    r)
      check_commands $r_commands
      check_r_packages $r_packages
      # R's headers and compilers, to build the package from source.
      if [ ! -f "$(R RHOME 2>/dev/null)/etc/Makeconf" ] || ! command -v cc >/dev/null 2>&1; then
        note_missing "R's headers and a C compiler" "$r_dev_debs"
      fi
      ;;
    docs)
      check_commands $docs_commands
      check_r_packages $docs_packages
      ;;
    site) check_r_packages $site_packages ;;
    test)
      check_commands $test_commands
      check_r_packages $test_packages
      ;;
    container) check_commands $container_commands ;;
  esac
done

PATH="$PATH:$HOME/.cargo/bin"
rust_missing=0
command -v cargo >/dev/null 2>&1 || rust_missing=1

if [ -n "$missing_debs" ]; then
  if [ "$check" = 1 ]; then
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo "
    cat >&2 <<MSG
setup: missing:$missing_what
setup: install them with (or run 'make setup', which does):
  ${sudo_cmd}apt-get install -y --no-install-recommends$missing_debs
MSG
    exit 1
  fi
  echo "setup: installing from apt:$missing_debs"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  # shellcheck disable=SC2086  # word splitting intended
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends $missing_debs
  if [ "$r_unchecked" = 1 ] && [ -z "${SAGESIM_SETUP_AGAIN:-}" ]; then
    SAGESIM_SETUP_AGAIN=1 exec sh "$0" "$what"
  fi
fi

if [ "$rust_missing" = 1 ]; then
  echo "setup: cargo not found: install Rust (https://rustup.rs), then run this again" >&2
  exit 1
fi
[ "$check" = 1 ] || echo "setup: $(R --version | head -n 1); $(cargo --version)"
case " $groups " in *" test "*) ;; *) exit 0 ;; esac

# moto 5.2.0-5.2.1 break the Rust SDK's multipart upload; 5.2.3 adds
# StopProcessingJob. Into the python3 on PATH if it takes packages, else
# (a system Python that refuses pip, PEP 668) into a virtual environment of
# sagesim's own, which tools/test.sh then uses.
has_moto() {
  "$1" -c 'import moto, sys; v = tuple(int(x) for x in moto.__version__.split(".")[:3]); sys.exit(v < (5, 2, 3))' 2>/dev/null
}
venv="${XDG_CACHE_HOME:-$HOME/.cache}/sagesim/python"
if has_moto python3 || has_moto "$venv/bin/python3"; then
  :
elif [ "$check" = 1 ]; then
  cat >&2 <<MSG
setup: missing: moto[server] >= 5.2.3 (the AWS stand-in of the tests)
setup: install it with (or run 'make setup', which does):
  python3 -m venv $venv && $venv/bin/python3 -m pip install "moto[server]>=5.2.3"
MSG
  exit 1
elif python3 -m pip install --quiet --disable-pip-version-check "moto[server]>=5.2.3" 2>/dev/null; then
  echo "setup: installed moto[server]>=5.2.3 from the Python package index"
else
  echo "setup: installing moto[server]>=5.2.3 from the Python package index into $venv"
  if ! python3 -m venv "$venv" 2>/dev/null; then
    deb_installed python3-venv || {
      sudo_cmd=""
      [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
      $sudo_cmd apt-get install -y -qq --no-install-recommends python3-venv
    }
    python3 -m venv "$venv"
  fi
  "$venv/bin/python3" -m pip install --quiet --disable-pip-version-check "moto[server]>=5.2.3"
fi
if [ "$check" = 0 ]; then
  python=python3
  has_moto python3 || python="$venv/bin/python3"
  echo "setup: moto $("$python" -c 'import moto; print(moto.__version__)') ($python)"
fi
