#!/bin/sh
# Every test: the Rust crates' own tests, then R CMD check (which installs the
# package and runs testthat). One cargo target dir serves both, so the
# crate is compiled once; moto must be installed (tools/setup.sh).
set -eu
cd "$(dirname "$0")/.."
: "${CARGO_TARGET_DIR:=$HOME/.cache/sagesim/cargo-target}"
export CARGO_TARGET_DIR
export PATH="$PATH:$HOME/.cargo/bin"
# Tests that need moto fail instead of skipping when it is missing.
export SAGESIM_REQUIRE_MOTO=1
venv_python="${XDG_CACHE_HOME:-$HOME/.cache}/sagesim/python/bin/python3"
if [ -z "${SAGESIM_PYTHON:-}" ] && [ -x "$venv_python" ]; then
  export SAGESIM_PYTHON="$venv_python"   # where tools/setup.sh put moto
fi
start=$(date +%s)

echo "== the build fails clearly without cargo"
if ! command -v /usr/bin/cargo >/dev/null 2>&1; then
  if out=$(cd src && PATH=/usr/bin:/bin HOME=/nonexistent sh ../tools/build-rust.sh /nonexistent 2>&1); then
    echo "tools/build-rust.sh succeeded without cargo" >&2; exit 1
  fi
  echo "$out" | grep -q "sagesim: Rust not found" || { echo "$out" >&2; exit 1; }
fi

echo "== the R layout: one concept per file, none over 450 lines, no two calling each other"
Rscript tools/check-layout.R

echo "== inst/AUTHORS lists the crates of Cargo.lock"
Rscript tools/authors.R --check

echo "== cargo test (release: the same build R CMD INSTALL uses)"
cargo test --release --manifest-path src/rust/Cargo.toml --workspace --jobs 2

echo "== R CMD build"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
version=$(sed -n 's/^Version: //p' DESCRIPTION)
R CMD build --no-build-vignettes --no-manual . >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
mv "sagesim_${version}.tar.gz" "$work/"

echo "== R CMD check"
check_status=0
# A hung test fails the run after 45 minutes instead of eating CI's budget.
(cd "$work" && _R_CHECK_FORCE_SUGGESTS_=false _R_CHECK_SYSTEM_CLOCK_=0 \
  timeout 2700 R CMD check --no-manual "sagesim_${version}.tar.gz") || check_status=$?
log="$work/sagesim.Rcheck/00check.log"
if [ -f "$work/sagesim.Rcheck/tests/testthat.Rout.fail" ]; then
  cat "$work/sagesim.Rcheck/tests/testthat.Rout.fail"
fi
if [ "$check_status" -ne 0 ] || grep -q -E "^Status:.*(ERROR|WARNING)" "$log"; then
  echo "R CMD check reported errors or warnings (see above)" >&2
  exit 1
fi
echo "== all tests passed in $(( $(date +%s) - start )) s"
