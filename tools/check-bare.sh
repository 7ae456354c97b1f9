#!/usr/bin/env bash
# A bare machine: `make setup` once, then `make demo`, in a Debian bookworm
# root that has no R at all (debootstrap's minbase, as tools/container/
# caches it), with this machine's Rust toolchain (rustup's and cargo's
# homes) and cargo target folder bound in at the same paths, and this
# checkout bound at its own path (so nothing is compiled twice), and make
# (which a user installs to type `make setup`). Proves that
# one `make setup` installs R and then R's packages, and that the demo runs
# from what the project's own files install. Needs root (chroot, mounts) and
# the Debian mirror apt uses.
#
#   tools/check-bare.sh          (make check-bare)
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=container/lib.sh
. "$here/container/lib.sh"
[[ $(id -u) -eq 0 ]] || die "run as root (chroot and mounts need it)"

arch=$(dpkg --print-architecture)
tarball="$CONTAINER_CACHE/debian-bookworm-minbase-$arch.tar"
if [[ ! -s $tarball ]]; then
  log "no bookworm root cached yet: making one (tools/container/standin-images.sh)"
  bash "$here/container/standin-images.sh"
fi

target=${CARGO_TARGET_DIR:-$HOME/.cache/sagesim/cargo-target}
rustup_home=${RUSTUP_HOME:-$HOME/.rustup}
cargo_home=${CARGO_HOME:-$HOME/.cargo}
mkdir -p "$target"
root=$(mktemp -d "${TMPDIR:-/tmp}/sagesim-bare.XXXXXX")
trap 'rm -rf "$root"' EXIT
t0=$(now)
tar --numeric-owner -xf "$tarball" -C "$root"
[[ ! -e $root/usr/bin/R ]] || die "the bare root already has R"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# This machine's extra certificate authorities, for the package registries
# (as the bundle now, and where update-ca-certificates finds them when apt
# installs ca-certificates and rebuilds the bundle).
mkdir -p "$root/etc/ssl/certs" "$root/usr/local/share/ca-certificates"
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt" 2>/dev/null || true
cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/" 2>/dev/null || true
log "bookworm root unpacked in $(elapsed "$t0") s"

# What runs inside: the commands a user on a new machine types.
cat >"$root/bare-check.sh" <<EOF
#!/bin/sh
set -eu
export HOME=$HOME CARGO_TARGET_DIR=$target RUSTUP_HOME=$rustup_home CARGO_HOME=$cargo_home
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$cargo_home/bin
export DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8
cd $repo
command -v R >/dev/null 2>&1 && { echo "R is already here" >&2; exit 1; }
# What a user brings: Rust (bound in) and make to type make with.
echo "bare: apt-get install make"
apt-get update -qq
apt-get install -y -qq --no-install-recommends make >/dev/null
echo "bare: make setup"
make setup
echo "bare: make demo"
make demo
EOF
chmod +x "$root/bare-check.sh"

# A mount namespace of its own: every bind below ends with it.
t0=$(now)
unshare --mount --propagation private sh -eu -c '
  root=$1 repo=$2 target=$3 rustup_home=$4 cargo_home=$5
  mount --rbind /dev "$root/dev"
  mount -t proc proc "$root/proc"
  mount -t sysfs sys "$root/sys"
  mount -t tmpfs tmpfs "$root/tmp"
  for dir in "$repo" "$target" "$rustup_home" "$cargo_home"; do
    mkdir -p "$root$dir"
    mount --bind "$dir" "$root$dir"
  done
  exec chroot "$root" /bare-check.sh
' sh "$root" "$repo" "$target" "$rustup_home" "$cargo_home"
log "bare machine: make setup && make demo passed in $(elapsed "$t0") s"
