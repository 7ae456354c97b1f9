#!/bin/sh
# Builds the sagesim static library with cargo (called from src/Makevars,
# with src/ as the working directory). Usage: build-rust.sh TARGET_DIR
set -e
target_dir="$1"

# rustup installs into ~/.cargo/bin, which R's make does not always have on PATH.
PATH="${PATH}:${HOME}/.cargo/bin"
export PATH

if ! command -v cargo >/dev/null 2>&1; then
  cat >&2 <<'MSG'
-------------------------- sagesim: Rust not found ---------------------------
sagesim compiles its Rust core with cargo, and cargo was not found on PATH
or in ~/.cargo/bin. Install Rust (https://rustup.rs, or your system's
'cargo' package), then install sagesim again.
------------------------------------------------------------------------------
MSG
  exit 1
fi

echo "sagesim: using $(cargo --version)"
echo "sagesim: using $(rustc --version)"
echo "sagesim: cargo target dir ${target_dir}"

# Two jobs: CRAN's limit, and what a shared RStudio server can spare.
cargo build --release --lib --package sagesim \
  --manifest-path rust/Cargo.toml \
  --target-dir "${target_dir}" \
  --jobs "${SAGESIM_CARGO_JOBS:-2}"
