# shellcheck shell=bash
# shellcheck disable=SC2034  # variables used by the scripts that source this
# Helpers shared by tools/container/*.sh. Source it; do not run it.

SAGESIM_CACHE="${SAGESIM_CACHE:-${HOME}/.cache/sagesim}"
CONTAINER_CACHE="${SAGESIM_CACHE}/container"

STANDIN_DEBIAN="${SAGESIM_STANDIN_DEBIAN:-localhost/sagesim-standin/debian:bookworm}"
STANDIN_RUST="${SAGESIM_STANDIN_RUST:-localhost/sagesim-standin/rust:bookworm}"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

now() { date +%s.%N; }
# elapsed START -> seconds with one decimal
elapsed() { awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.1f", e - s }'; }

# Install podman, buildah and debootstrap from Debian when one is missing.
ensure_tools() {
  local missing=()
  command -v podman >/dev/null 2>&1 || missing+=(podman)
  command -v buildah >/dev/null 2>&1 || missing+=(buildah)
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  if ((${#missing[@]})); then
    [[ $(id -u) -eq 0 ]] || die "missing ${missing[*]}; install them (apt-get install podman buildah debootstrap)"
    log "installing ${missing[*]} from Debian"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq podman buildah debootstrap >/dev/null
  fi
}

image_exists() { podman image exists "$1" 2>/dev/null; }

# The Debian mirror the host's apt uses (its first non-security Debian URI),
# unless SAGESIM_DEBIAN_MIRROR is set. Read from this machine's apt
# configuration only: with none, say so rather than guess a host.
debian_mirror() {
  if [[ -n ${SAGESIM_DEBIAN_MIRROR:-} ]]; then
    printf '%s\n' "$SAGESIM_DEBIAN_MIRROR"
    return
  fi
  local uri
  uri=$(
    {
      grep -hE '^[[:space:]]*URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{ for (i = 2; i <= NF; i++) print $i }'
      grep -hE '^[[:space:]]*deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
        awk '{ for (i = 2; i <= NF; i++) if ($i ~ /^(https?|ftp):/) { print $i; break } }'
    } | grep -E '/debian/?$' | grep -v -- '-security' | head -n 1
  )
  [[ -n $uri ]] || die "no Debian mirror in /etc/apt/sources.list{,.d} to build images from; set SAGESIM_DEBIAN_MIRROR to one"
  printf '%s\n' "$uri"
}
