#!/bin/sh
# Installs what sagesim needs and this machine lacks, from the system's
# package manager and PyPI (CRAN is not needed): R and the R packages
# sagesim uses, and the moto server the tests talk to instead of AWS.
# Rust (cargo, rustc) must already be installed, e.g. with rustup.
# Idempotent: installs nothing that is already there.
set -eu

r_packages="r-base-core r-base-dev r-cran-cli r-cran-jsonlite r-cran-testthat r-cran-roxygen2"

missing=""
for package in $r_packages; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
    missing="$missing $package"
done
if [ -n "$missing" ]; then
  echo "setup: installing from apt:$missing"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends $missing
fi

# moto 5.2.0-5.2.1 break the Rust SDK's multipart upload; 5.2.3 adds StopProcessingJob.
if ! python3 -c 'import moto, sys; v = tuple(int(x) for x in moto.__version__.split(".")[:3]); sys.exit(v < (5, 2, 3))' 2>/dev/null; then
  echo "setup: installing moto[server]>=5.2.3 from PyPI"
  python3 -m pip install --quiet --disable-pip-version-check "moto[server]>=5.2.3"
fi

PATH="$PATH:$HOME/.cargo/bin"
if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found: install Rust (https://rustup.rs), then run this again" >&2
  exit 1
fi
echo "setup: $(R --version | head -n 1); $(cargo --version); moto $(python3 -c 'import moto; print(moto.__version__)')"
