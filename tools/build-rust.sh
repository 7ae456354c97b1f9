#!/bin/sh
# Builds the sagesim static library with cargo (called from src/Makevars,
# with src/ as the working directory). Usage: build-rust.sh TARGET_DIR
#
# Two ways, chosen by what the source tree holds:
# - From a source tarball (`make dist`): rust/vendor.tar.xz holds every crate
#   the lock file names, with its checksums. They are unpacked and cargo runs
#   offline with a CARGO_HOME inside the build folder, so the install needs no
#   network and writes nothing under $HOME (CRAN's policy for Rust packages).
# - From a git checkout (developers): cargo as usual, with its registry and
#   the network.
#
#   build-rust.sh --vendor-dir VENDOR.TAR.XZ CARGO.LOCK  prints the folder the
#       crates of VENDOR.TAR.XZ are unpacked to (unpacking them first), for
#       tools/test.sh, whose cargo test then shares the tarball's build.
set -e

# rustup installs into ~/.cargo/bin, which R's make does not always have on PATH.
PATH="${PATH}:${HOME}/.cargo/bin"
export PATH

# The folder the vendored crates are unpacked to. With a shared target dir
# (CARGO_TARGET_DIR, set by developers and CI, never by R) one folder per
# lock file inside it, so that every build of the same crates names the same
# source paths and cargo reuses what it compiled; else rust/vendor, removed
# after linking (src/Makevars).
vendor_dir() { # Cargo.lock
  if [ -n "${CARGO_TARGET_DIR:-}" ]; then
    key=$(cksum <"$1" | cut -d' ' -f1)
    echo "${CARGO_TARGET_DIR}/sagesim-vendor/v1-${key}"
  else
    echo "$(cd "$(dirname "$1")" && pwd)/vendor"
  fi
}

unpack_vendor() { # vendor.tar.xz dir
  [ -f "$2/.complete" ] && return 0
  part="$2.part$$"
  rm -rf "$part"
  mkdir -p "$part"
  # xz through a pipe: not every tar knows -J. The archive holds vendor/.
  xz -dc "$1" | tar -xf - -C "$part"
  touch "$part/vendor/.complete"
  mkdir -p "$(dirname "$2")"
  [ -f "$2/.complete" ] || rm -rf "$2"
  # Another build may have unpacked the same crates meanwhile: keep its copy.
  mv "$part/vendor" "$2" 2>/dev/null || [ -f "$2/.complete" ]
  rm -rf "$part"
}

if [ "${1:-}" = "--vendor-dir" ]; then
  dir=$(vendor_dir "$3")
  unpack_vendor "$2" "$dir"
  echo "$dir"
  exit 0
fi

target_dir="$1"

if ! command -v cargo >/dev/null 2>&1; then
  cat >&2 <<'MSG'
-------------------------- sagesim: Rust not found ---------------------------
sagesim compiles its Rust core with cargo, and cargo was not found on PATH
or in ~/.cargo/bin. Install Rust (https://rustup.rs, or your system's
'cargo' package), then install sagesim again. Without Rust, install the
binary package instead (see the README, "Installing").
------------------------------------------------------------------------------
MSG
  exit 1
fi

echo "sagesim: using $(cargo --version)"
echo "sagesim: using $(rustc --version)"

# The oldest rustc the locked crates build with (the workspace's
# rust-version, which tools/check-rust-version.R keeps equal to the highest
# any crate of Cargo.lock declares): an older one is told so here, plainly,
# before cargo fails deep in the build.
needed=$(sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' rust/Cargo.toml | head -n 1)
found=$(rustc --version | sed -n 's/^rustc \([0-9][0-9.]*\).*/\1/p')
older() { # a b: whether version a is older than version b
  [ "$1" != "$2" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | sort -t. -k1,1n -k2,2n -k3,3n | head -n 1)" = "$1" ]
}
if [ -n "$needed" ] && [ -n "$found" ] && older "$found" "$needed"; then
  cat >&2 <<MSG
-------------------- sagesim: Rust ${found} is too old ---------------------
sagesim's Rust crates need rustc ${needed} or newer; this rustc
($(command -v rustc)) is ${found}. Update Rust ('rustup update', or a newer
'rustc' package), then install sagesim again; or install the binary package,
which needs no Rust (see the README, "Installing").
------------------------------------------------------------------------------
MSG
  exit 1
fi
echo "sagesim: cargo target dir ${target_dir}"

set -- build --release --lib --package sagesim --manifest-path rust/Cargo.toml \
  --target-dir "${target_dir}" --jobs "${SAGESIM_CARGO_JOBS:-2}"

if [ -f rust/vendor.tar.xz ]; then
  vendor=$(vendor_dir rust/Cargo.lock)
  echo "sagesim: vendored crates (offline) in ${vendor}"
  unpack_vendor rust/vendor.tar.xz "${vendor}"
  # An empty CARGO_HOME of the build's own: nothing of the user's cargo
  # configuration or registry is read, nothing under $HOME is written.
  CARGO_HOME="$(pwd)/rust/.cargo-home"
  export CARGO_HOME
  mkdir -p "${CARGO_HOME}"
  set -- "$@" --offline --locked \
    --config rust/vendor-config.toml \
    --config "source.vendored-sources.directory=\"${vendor}\""
fi

cargo "$@"
