#!/bin/sh
# Installs what sagesim needs and this machine lacks, from the system's
# package manager and the Python package index (no R package repository is needed): R and the R packages
# sagesim uses, and the moto server the tests talk to instead of AWS.
# Rust (cargo, rustc) must already be installed, e.g. with rustup.
# Idempotent: installs nothing that is already there.
set -eu

# setup.sh [all|r]: "r" installs only what building and using sagesim
# needs; "all" (the default) adds moto for the tests.
what="${1:-all}"

# bubblewrap: local jobs give each host /opt/ml at its real path in a mount
# namespace of its own.
r_packages="r-base-core r-base-dev r-cran-cli r-cran-jsonlite r-cran-globals r-cran-testthat r-cran-roxygen2 r-cran-withr r-cran-future r-cran-future.apply bubblewrap"
# What the tests' workshop script (tests/testthat/fixtures/workshop.R) uses,
# and what the tests of the RStudio Jobs pane use (rstudioapi's dispatch, and
# later for the updates that run while the console is idle).
test_packages="r-cran-foreach r-cran-doparallel r-cran-rstudioapi r-cran-later"

apt_install() {
  missing=""
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
      missing="$missing $package"
  done
  [ -n "$missing" ] || return 0
  echo "setup: installing from apt:$missing"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends $missing
}

apt_install $r_packages

PATH="$PATH:$HOME/.cargo/bin"
if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found: install Rust (https://rustup.rs), then run this again" >&2
  exit 1
fi
echo "setup: $(R --version | head -n 1); $(cargo --version)"
[ "$what" = "r" ] && exit 0
apt_install $test_packages

# moto 5.2.0-5.2.1 break the Rust SDK's multipart upload; 5.2.3 adds
# StopProcessingJob. Into the python3 on PATH if it takes packages, else
# (a system Python that refuses pip, PEP 668) into a virtual environment of
# sagesim's own, which tools/test.sh then uses.
has_moto() {
  "$1" -c 'import moto, sys; v = tuple(int(x) for x in moto.__version__.split(".")[:3]); sys.exit(v < (5, 2, 3))' 2>/dev/null
}
venv="${XDG_CACHE_HOME:-$HOME/.cache}/sagesim/python"
command -v python3 >/dev/null 2>&1 || apt_install python3
if has_moto python3 || has_moto "$venv/bin/python3"; then
  :
elif python3 -m pip install --quiet --disable-pip-version-check "moto[server]>=5.2.3" 2>/dev/null; then
  echo "setup: installed moto[server]>=5.2.3 from the Python package index"
else
  echo "setup: installing moto[server]>=5.2.3 from the Python package index into $venv"
  python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$venv"; }
  "$venv/bin/python3" -m pip install --quiet --disable-pip-version-check "moto[server]>=5.2.3"
fi
python=python3
has_moto python3 || python="$venv/bin/python3"
echo "setup: moto $("$python" -c 'import moto; print(moto.__version__)') ($python)"
