#!/usr/bin/env bash
# Build local stand-ins for the public base images the Dockerfile names, for
# machines that cannot pull from public container registries:
#
#   localhost/sagesim-standin/debian:bookworm  debootstrap'd bookworm minbase
#                                              (stands in for debian:bookworm-slim)
#   localhost/sagesim-standin/rust:bookworm    the above + gcc/make/git and the
#                                              host's active Rust toolchain at the
#                                              host's own RUSTUP_HOME/CARGO_HOME,
#                                              trusting the host's extra CAs
#                                              (stands in for rust:1-bookworm)
#
# Work already done is skipped: the debootstrap tarball is cached under
# ${SAGESIM_CACHE:-~/.cache/sagesim}/container, and an image that exists is kept
# (the Rust one is rebuilt when the host's rustc or extra CA certificates change).
# SAGESIM_STANDIN_REFRESH=1 redoes everything. Needs root (debootstrap, podman).
# Re-run under bash when started with sh (dash on Debian).
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

SUITE=bookworm
ARCH=$(dpkg --print-architecture)
REFRESH=${SAGESIM_STANDIN_REFRESH:-0}
HOST_RUSTUP_HOME=${RUSTUP_HOME:-$HOME/.rustup}
HOST_CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}

[[ $(id -u) -eq 0 ]] || die "run as root (debootstrap and rootful podman need it)"
ensure_tools
mkdir -p "$CONTAINER_CACHE"

# --- 1. debootstrap tarball -------------------------------------------------
make_rootfs_tarball() {
  local tarball=$1 mirror security rootfs t0
  mirror=$(debian_mirror)
  security=${SAGESIM_DEBIAN_SECURITY_MIRROR:-${mirror%/debian}/debian-security}
  rootfs=$(mktemp -d "$CONTAINER_CACHE/rootfs.XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -rf '$rootfs' '$tarball.part'" EXIT
  t0=$(now)
  log "debootstrap --variant=minbase $SUITE from $mirror"
  debootstrap --variant=minbase --arch="$ARCH" "$SUITE" "$rootfs" "$mirror" \
    >"$CONTAINER_CACHE/debootstrap.log" 2>&1 ||
    { tail -n 30 "$CONTAINER_CACHE/debootstrap.log" >&2; die "debootstrap failed (log: $CONTAINER_CACHE/debootstrap.log)"; }

  # Make it look like debian:bookworm-slim: apt sources, no docs/man/locales,
  # apt caches cleaned after every install, no recommends.
  cat >"$rootfs/etc/apt/sources.list" <<EOF
deb $mirror $SUITE main
deb $mirror $SUITE-updates main
deb $security $SUITE-security main
EOF
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
  cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  printf 'Acquire::Languages "none";\n' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
    >"$rootfs/etc/apt/apt.conf.d/docker-no-recommends"
  rm -rf "$rootfs"/usr/share/doc/*/[!c]* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
    "$rootfs"/usr/share/locale/[!l]* "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
    "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/log/* "$rootfs"/tmp/* 2>/dev/null || true
  : >"$rootfs/etc/machine-id"
  printf 'sagesim-standin\n' >"$rootfs/etc/hostname"

  tar --numeric-owner --xattrs -C "$rootfs" -cf "$tarball.part" .
  mv "$tarball.part" "$tarball"
  rm -rf "$rootfs"
  trap - EXIT
  log "debootstrap tarball $(du -h "$tarball" | cut -f1) in $(elapsed "$t0") s: $tarball"
}

tarball="$CONTAINER_CACHE/debian-$SUITE-minbase-$ARCH.tar"
if [[ $REFRESH == 1 || ! -s $tarball ]]; then
  make_rootfs_tarball "$tarball"
else
  log "reusing cached $tarball"
fi

# --- 2. Debian stand-in -------------------------------------------------------
if [[ $REFRESH == 1 ]] || ! image_exists "$STANDIN_DEBIAN"; then
  t0=$(now)
  podman rmi -f "$STANDIN_DEBIAN" >/dev/null 2>&1 || true
  podman import --quiet \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["bash"]' \
    --change 'LABEL org.opencontainers.image.description="sagesim stand-in for debian:bookworm-slim (debootstrap minbase)"' \
    "$tarball" "$STANDIN_DEBIAN" >/dev/null
  log "imported $STANDIN_DEBIAN in $(elapsed "$t0") s"
else
  log "$STANDIN_DEBIAN exists"
fi

# --- 3. Rust stand-in ---------------------------------------------------------
command -v rustup >/dev/null 2>&1 || PATH="$HOST_CARGO_HOME/bin:$PATH"
command -v rustup >/dev/null 2>&1 || die "no rustup on the host (looked in $HOST_CARGO_HOME/bin)"
# The active toolchain's directory name, e.g. stable-x86_64-unknown-linux-gnu.
toolchain=$(cd / && rustup show active-toolchain | awk '{ print $1; exit }')
tcdir="$HOST_RUSTUP_HOME/toolchains/$toolchain"
[[ -d $tcdir ]] || die "active toolchain $toolchain not found at $tcdir"
if [[ -L $tcdir ]]; then # e.g. 1.95.0-... -> stable-...
  toolchain=$(basename "$(readlink -f "$tcdir")")
  tcdir="$HOST_RUSTUP_HOME/toolchains/$toolchain"
fi
rustc_id=$("$tcdir/bin/rustc" -vV | awk '/^commit-hash:/ { print $2 }')
# Extra CAs the host trusts (e.g. a TLS-intercepting egress proxy's): cargo in
# the stand-in must reach the crate registry the way the host does.
extra_cas=(/usr/local/share/ca-certificates/*.crt)
[[ -e ${extra_cas[0]} ]] || extra_cas=()
cas_id=$(cat "${extra_cas[@]}" /dev/null | sha256sum | cut -c1-16)
want_id="rustc=$rustc_id cas=$cas_id"

current_id=""
if image_exists "$STANDIN_RUST"; then
  current_id=$(podman image inspect --format '{{ index .Labels "org.sagesim.standin.id" }}' "$STANDIN_RUST" 2>/dev/null || true)
fi
if [[ $REFRESH != 1 && $current_id == "$want_id" ]]; then
  log "$STANDIN_RUST exists ($want_id)"
  exit 0
fi

t0=$(now)
log "building $STANDIN_RUST with host toolchain $toolchain ($rustc_id)"
ctr=$(buildah from --pull-never --quiet "$STANDIN_DEBIAN")
cleanup_ctr() { buildah rm "$ctr" >/dev/null 2>&1 || true; }
trap cleanup_ctr EXIT

buildah run --isolation chroot "$ctr" -- sh -ec '
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends ca-certificates gcc g++ libc6-dev make git pkg-config >/dev/null
  rm -rf /var/lib/apt/lists/*'

mnt=$(buildah mount "$ctr")
mkdir -p "$mnt$HOST_RUSTUP_HOME/toolchains" "$mnt$HOST_RUSTUP_HOME/update-hashes" "$mnt$HOST_CARGO_HOME/bin"
# Only the active toolchain, without its HTML docs (~800 MB).
tar -C "$HOST_RUSTUP_HOME/toolchains" --exclude="$toolchain/share/doc" -cf - "$toolchain" |
  tar -C "$mnt$HOST_RUSTUP_HOME/toolchains" -xf -
# Aliases of it (e.g. 1.95.0-x86_64-... -> stable-...), so pins resolve as on the host.
for link in "$HOST_RUSTUP_HOME"/toolchains/*; do
  if [[ -L $link && $(readlink -f "$link") == "$(readlink -f "$tcdir")" ]]; then
    cp -P "$link" "$mnt$HOST_RUSTUP_HOME/toolchains/"
  fi
done
[[ -f $HOST_RUSTUP_HOME/update-hashes/$toolchain ]] &&
  cp "$HOST_RUSTUP_HOME/update-hashes/$toolchain" "$mnt$HOST_RUSTUP_HOME/update-hashes/"
cat >"$mnt$HOST_RUSTUP_HOME/settings.toml" <<EOF
version = "12"
default_toolchain = "$toolchain"
profile = "minimal"
auto_self_update = "disable"

[overrides]
EOF
# rustup itself and the proxies for the tools the toolchain has.
cp "$(readlink -f "$(command -v rustup)")" "$mnt$HOST_CARGO_HOME/bin/rustup"
for tool in "$tcdir"/bin/*; do
  ln -sf rustup "$mnt$HOST_CARGO_HOME/bin/$(basename "$tool")"
done
if ((${#extra_cas[@]})); then
  mkdir -p "$mnt/usr/local/share/ca-certificates"
  cp "${extra_cas[@]}" "$mnt/usr/local/share/ca-certificates/"
fi
buildah umount "$ctr" >/dev/null
if ((${#extra_cas[@]})); then
  log "adding the host's extra CA certificates: ${extra_cas[*]}"
  buildah run --isolation chroot "$ctr" -- update-ca-certificates >/dev/null
fi

buildah config \
  --env RUSTUP_HOME="$HOST_RUSTUP_HOME" \
  --env CARGO_HOME="$HOST_CARGO_HOME" \
  --env PATH="$HOST_CARGO_HOME/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --label org.opencontainers.image.description="sagesim stand-in for rust:1-bookworm (host toolchain $toolchain)" \
  --label org.sagesim.standin.id="$want_id" \
  --cmd bash \
  "$ctr"
buildah run --isolation chroot "$ctr" -- sh -ec 'cargo --version && rustc --version' >&2
podman rmi -f "$STANDIN_RUST" >/dev/null 2>&1 || true
buildah commit --quiet --rm "$ctr" "$STANDIN_RUST" >/dev/null
trap - EXIT
log "built $STANDIN_RUST ($(podman image inspect --format '{{.Size}}' "$STANDIN_RUST") bytes) in $(elapsed "$t0") s"
