#!/bin/sh
# make dist: the two files an administrator hands to users.
#
#   dist/sagesim_<version>.tar.gz                     the source package: builds
#       with Rust but without network, its crates vendored in
#       src/rust/vendor.tar.xz (cargo vendor, checksums kept), its vignettes
#       built (inst/doc; knitr, rmarkdown and pandoc needed)
#   dist/sagesim_<version>_R_<platform>.tar.gz        the binary package for this
#       platform (R CMD INSTALL --build of the source package): installs with
#       R alone, no Rust, no compiler
#
# Needs cargo and, unless the crates are in cargo's cache or dist/ already
# holds their archive for this Cargo.lock, the crate registry. With
# CARGO_TARGET_DIR set, the binary is built in that shared target dir.
#
#   SAGESIM_DIST_BINARY=0   write the source package only
set -eu
cd "$(dirname "$0")/.."
repo=$(pwd)
PATH="$PATH:$HOME/.cargo/bin"
export PATH

version=$(sed -n 's/^Version: //p' DESCRIPTION)
mkdir -p dist
stage=$(mktemp -d "${TMPDIR:-/tmp}/sagesim-dist.XXXXXX")
trap 'rm -rf "$stage"' EXIT
t0=$(date +%s)

echo "== the package's files"
# git's file list, so that ignored build output stays out.
mkdir -p "$stage/sagesim"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git ls-files -z --cached --others --exclude-standard |
    tar --null --ignore-failed-read -T - -cf - | tar -C "$stage/sagesim" -xf -
else
  tar --exclude=./dist --exclude=target --exclude='*.Rcheck' -cf - . | tar -C "$stage/sagesim" -xf -
fi

echo "== vendored crates"
# One archive per Cargo.lock, kept in dist/ (making it takes a minute or two).
key=$(cksum <src/rust/Cargo.lock | cut -d' ' -f1)
vendor_archive="dist/.vendor-$key.tar.xz"
if [ ! -s "$vendor_archive" ]; then
  rm -f dist/.vendor-*.tar.xz
  cargo vendor --quiet --locked --manifest-path src/rust/Cargo.toml "$stage/vendor" >/dev/null
  # Reproducible: sorted names, fixed owner and times. xz -6: a tenth of the
  # time of -9e for 5% more bytes.
  tar -C "$stage" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf - vendor |
    xz -6 -T2 >"$vendor_archive.part"
  mv "$vendor_archive.part" "$vendor_archive"
  rm -rf "$stage/vendor"
fi
cp "$vendor_archive" "$stage/sagesim/src/rust/vendor.tar.xz"
echo "   src/rust/vendor.tar.xz: $(du -h "$vendor_archive" | cut -f1) ($(xz -dc "$vendor_archive" | tar -tf - | grep -c '/Cargo.toml$') crates)"

echo "== R CMD build (the vignettes too: R CMD build installs the package to run them)"
(cd "$stage" && R CMD build --no-manual sagesim >build.log 2>&1) ||
  { cat "$stage/build.log"; exit 1; }
source_pkg="sagesim_${version}.tar.gz"
mv "$stage/$source_pkg" "dist/$source_pkg"
echo "   dist/$source_pkg: $(du -h "dist/$source_pkg" | cut -f1)"

if [ "${SAGESIM_DIST_BINARY:-1}" != 0 ]; then
  echo "== R CMD INSTALL --build"
  mkdir -p "$stage/lib"
  rm -f dist/sagesim_"${version}"_R_*.tar.gz
  (cd dist && R CMD INSTALL --build --no-multiarch -l "$stage/lib" "$source_pkg" >"$stage/install.log" 2>&1) ||
    { cat "$stage/install.log"; exit 1; }
  grep -E '^sagesim: ' "$stage/install.log" || true
  binary=$(cd dist && ls sagesim_"${version}"_R_*.tar.gz)
  echo "   dist/$binary: $(du -h "dist/$binary" | cut -f1); installed: $(du -sh "$stage/lib/sagesim" | cut -f1), libs/: $(du -sh "$stage/lib/sagesim/libs" | cut -f1)"
fi
echo "== dist done in $(( $(date +%s) - t0 )) s"
ls -l dist/*.tar.gz
