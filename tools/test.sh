#!/bin/sh
# Every test: the source tarball and binary package (make dist), the Rust
# crates' own tests, then R CMD check --as-cran of the tarball (which
# installs it offline from its vendored crates and runs testthat). One cargo
# target dir serves all three, with the vendored crates unpacked at one path
# inside it, so the crates are compiled once; moto must be installed
# (tools/setup.sh).
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

echo "== make dist: the source tarball and the binary package"
sh tools/dist.sh
version=$(sed -n 's/^Version: //p' DESCRIPTION)
tarball="dist/sagesim_${version}.tar.gz"
# The snapshots the tests compare against travel in the tarball: without
# them, expect_snapshot() would only write new ones and pass.
tar -tzf "$tarball" | grep -qx "sagesim/tests/testthat/_snaps/snapshots.md" ||
  { echo "$tarball lacks tests/testthat/_snaps/snapshots.md" >&2; exit 1; }

echo "== cargo test (release, on the tarball's vendored crates: the same build R CMD INSTALL made)"
key=$(cksum <src/rust/Cargo.lock | cut -d' ' -f1)
vendor=$(sh tools/build-rust.sh --vendor-dir "dist/.vendor-$key.tar.xz" src/rust/Cargo.lock)

echo "== the rustc the locked crates need is the one stated, and an older one is told so"
Rscript tools/check-rust-version.R --offline --config src/rust/vendor-config.toml \
  --config "source.vendored-sources.directory=\"$vendor\""
old_rust=$(mktemp -d)
printf '#!/bin/sh\necho "rustc 1.80.0 (051478957 2024-07-21)"\n' >"$old_rust/rustc"
chmod +x "$old_rust/rustc"
if out=$(cd src && PATH="$old_rust:$PATH" sh ../tools/build-rust.sh "$old_rust/target" 2>&1); then
  echo "tools/build-rust.sh went on with rustc 1.80.0" >&2; exit 1
fi
echo "$out" | grep -q "sagesim's Rust crates need rustc $(sed -n 's/^Config\/sagesim\/msrv: //p' DESCRIPTION) or newer; this rustc" ||
  { echo "$out" >&2; exit 1; }
rm -rf "$old_rust"
cargo test --release --manifest-path src/rust/Cargo.toml --workspace --jobs 2 --offline --locked \
  --config src/rust/vendor-config.toml --config "source.vendored-sources.directory=\"$vendor\""

echo "== R CMD check --as-cran"
work=$(mktemp -d)
# The last line, however the run ends once testthat has counted: "N passed,
# N failed, N skipped".
closing=""
trap 'rm -rf "$work"; [ -z "$closing" ] || echo "$closing"' EXIT
cp "$tarball" "$work/"
check_status=0
# A hung test fails the run after 45 minutes instead of eating CI's budget.
# No network here: the incoming checks that ask CRAN's servers are off.
# NOT_CRAN=true: expect_snapshot() skips on CRAN, and the snapshot tests
# (tests/testthat/test-snapshots.R) must run here.
(cd "$work" && _R_CHECK_FORCE_SUGGESTS_=false _R_CHECK_SYSTEM_CLOCK_=0 \
  _R_CHECK_CRAN_INCOMING_REMOTE_=false NOT_CRAN=true \
  timeout 2700 R CMD check --as-cran --no-manual "sagesim_${version}.tar.gz") || check_status=$?
log="$work/sagesim.Rcheck/00check.log"
rout="$work/sagesim.Rcheck/tests/testthat.Rout"
if [ -f "$rout.fail" ]; then
  cat "$rout.fail"
  rout="$rout.fail"
fi
# testthat's counts, and every skip held against those expected here.
skips_status=0
if [ -f "$rout" ]; then
  closing=$(sh tools/testthat-summary.sh "$rout") || skips_status=$?
fi
if [ "$check_status" -ne 0 ] || grep -q -E "^Status:.*(ERROR|WARNING)" "$log"; then
  echo "R CMD check reported errors or warnings (see above)" >&2
  exit 1
fi
# Every NOTE left must be one cran-comments.md names and justifies.
grep -E '^\* checking .* \.\.\. NOTE$' "$log" | sed -e 's/^\* checking //' -e 's/ \.\.\. NOTE$//' |
  while IFS= read -r note; do
    grep -qF "$note" cran-comments.md || { echo "R CMD check NOTE not in cran-comments.md: $note" >&2; exit 1; }
  done
grep -E '^Status:' "$log"
if [ -z "$closing" ]; then
  echo "testthat's counts were not found (see above)" >&2
  exit 1
fi
if [ "$skips_status" -ne 0 ]; then
  echo "tests that must run here were skipped (see above)" >&2
  exit 1
fi
# A snapshot the tarball lacks is only written, and passes: every one must
# be committed (tests/testthat/_snaps).
if grep -q "Adding new snapshot" "$rout"; then
  echo "snapshots not in tests/testthat/_snaps (run the tests, review and commit them):" >&2
  grep -B1 -A3 "Adding new snapshot" "$rout" >&2
  exit 1
fi
echo "== all tests passed in $(( $(date +%s) - start )) s"
