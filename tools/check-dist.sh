#!/bin/sh
# make check-dist: proves that dist/'s source tarball installs with no
# network and an empty CARGO_HOME, writing nothing under $HOME, and that the
# installed package works and is small. Runs R CMD INSTALL in a network
# namespace that has only a loopback device (unshare -n as root, else
# bwrap --unshare-net).
#
#   SAGESIM_COLD=1   build in a target dir of the install's own (a cold
#                    build, timed: what a user's first install costs);
#                    default: the shared CARGO_TARGET_DIR when set
#   SAGESIM_MAX_INSTALLED_MB  fail above this installed size (default 30)
set -eu
cd "$(dirname "$0")/.."
version=$(sed -n 's/^Version: //p' DESCRIPTION)
tarball="dist/sagesim_${version}.tar.gz"
[ -f "$tarball" ] || { echo "check-dist: no $tarball: run make dist first" >&2; exit 1; }
max_mb=${SAGESIM_MAX_INSTALLED_MB:-30}

work=$(mktemp -d "${TMPDIR:-/tmp}/sagesim-check-dist.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/home" "$work/cargo-home" "$work/lib"

# The namespace: no network but loopback.
if [ "$(id -u)" -eq 0 ] && unshare -n true 2>/dev/null; then
  isolate="unshare -n"
elif command -v bwrap >/dev/null 2>&1 && bwrap --unshare-net --dev-bind / / true 2>/dev/null; then
  isolate="bwrap --unshare-net --dev-bind / / --"
else
  echo "check-dist: cannot make a network namespace (needs root for unshare -n, or bwrap)" >&2
  exit 1
fi
# /proc/net/dev lists the devices of the reader's network namespace.
devices=$($isolate awk -F: 'NR > 2 { gsub(/ /, "", $1); print $1 }' /proc/net/dev | tr '\n' ' ')
[ "$devices" = "lo " ] || { echo "check-dist: the namespace has network devices: $devices" >&2; exit 1; }
echo "== a namespace with network devices: $devices(via ${isolate%% *})"

# cargo and rustc, as rustup installed them, found without $HOME.
cargo_bin=$(dirname "$(command -v cargo 2>/dev/null || echo "$HOME/.cargo/bin/cargo")")
rustup_home=${RUSTUP_HOME:-$HOME/.rustup}
if [ "${SAGESIM_COLD:-0}" = 1 ] || [ -z "${CARGO_TARGET_DIR:-}" ]; then
  target_env=""
  echo "== cold: cargo builds in the install's own folder"
else
  target_env="CARGO_TARGET_DIR=$CARGO_TARGET_DIR"
  echo "== cargo builds in the shared target dir $CARGO_TARGET_DIR"
fi

echo "== R CMD INSTALL $tarball (HOME and CARGO_HOME empty, no network)"
t0=$(date +%s)
status=0
# shellcheck disable=SC2086  # $isolate and $target_env are word lists
$isolate env -i PATH="$cargo_bin:/usr/local/bin:/usr/bin:/bin" HOME="$work/home" \
  CARGO_HOME="$work/cargo-home" RUSTUP_HOME="$rustup_home" TMPDIR="$work" LANG=C.UTF-8 $target_env \
  R CMD INSTALL --no-multiarch -l "$work/lib" "$tarball" >"$work/install.log" 2>&1 || status=$?
seconds=$(( $(date +%s) - t0 ))
if [ "$status" -ne 0 ]; then
  tail -n 40 "$work/install.log" >&2
  echo "check-dist: R CMD INSTALL failed with status $status" >&2
  exit 1
fi
grep -E '^sagesim: ' "$work/install.log" || true
grep -q 'vendored crates (offline)' "$work/install.log" || { echo "check-dist: the build did not use the vendored crates" >&2; exit 1; }
echo "   installed in $seconds s"

echo "== nothing written under HOME or CARGO_HOME"
left=$(find "$work/home" "$work/cargo-home" -mindepth 1 | head -n 5)
[ -z "$left" ] || { echo "check-dist: the install wrote: $left" >&2; exit 1; }

echo "== the installed package"
size_kb=$(du -sk "$work/lib/sagesim" | cut -f1)
echo "   installed size: $((size_kb / 1024)) MB (libs/: $(du -sh "$work/lib/sagesim/libs" | cut -f1))"
[ "$size_kb" -le $((max_mb * 1024)) ] || { echo "check-dist: installed size above $max_mb MB" >&2; exit 1; }
so="$work/lib/sagesim/libs/sagesim.so"
exported=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVW]$/ { print $3 }' | grep -v '^_' | tr '\n' ' ')
[ "$exported" = "R_init_sagesim " ] || { echo "check-dist: sagesim.so exports: $exported" >&2; exit 1; }
echo "   sagesim.so exports: $exported"
# Stripped: no debug sections, no local symbols (global and undefined ones stay).
if readelf -S "$so" | grep -q '\.debug_' || [ -n "$(nm "$so" 2>/dev/null | awk '$2 ~ /^[tdbr]$/' | head -n 1)" ]; then
  echo "check-dist: sagesim.so is not stripped" >&2; exit 1
fi
# shellcheck disable=SC2016  # R code
$isolate env R_LIBS="$work/lib" Rscript -e '
  library(sagesim)
  r <- simulate_local(1000, 1000, 1000, 200, seed = 42, progress = FALSE)
  stopifnot(length(r$values) == 200)
  cat("   simulate_local() from the installed package: mean", format(r$mean), "\n")'
echo "== check-dist passed (install: $seconds s)"
