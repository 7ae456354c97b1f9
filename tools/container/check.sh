#!/usr/bin/env bash
# Build the sagesim worker image with podman (no Docker engine, no registry
# pulls: local stand-in base images) and run the SageMaker Processing container
# contract against it, for 2 hosts in turn; then build it again with an extra
# R packages (build_image(packages = c("doParallel", "data.table"))) and run local jobs in it
# through buildah, the workshop's script among them. See tools/container/README.md.
#
# Environment (all optional):
#   SAGESIM_SRC            package source dir / build context   (default: repo root)
#   SAGESIM_IMAGE          tag for the built image       (default: localhost/sagesim:check)
#   SAGESIM_BUILD_IMAGE    build-stage base    (default: the stand-in rust:bookworm)
#   SAGESIM_RUNTIME_IMAGE  runtime-stage base  (default: the stand-in debian:bookworm)
#   SAGESIM_CARGO_CACHE    host  = bind the host cargo target dir + registry (default)
#                          none  = no host cache (buildah's own cache mount only)
#   SAGESIM_HOST_CARGO_TARGET  host target dir for "host"
#                          (default: $CARGO_TARGET_DIR, else ~/.cache/sagesim/cargo-target)
#   SAGESIM_NO_CACHE=1     cold build: drop this image's layers and sagesim's buildah
#                          cache mounts first (combine with SAGESIM_CARGO_CACHE=none)
#   SAGESIM_SKIP_BUILD=1   use the existing $SAGESIM_IMAGE (and $SAGESIM_PACKAGES_IMAGE
#                          when it exists)
#   SAGESIM_PACKAGES_IMAGE tag for the image with extra R packages (doParallel, which
#                          the workshop script needs, and data.table), built with
#                          build_image(packages = ) (default: $SAGESIM_IMAGE-packages)
#   SAGESIM_HOST_LIB       library for the host-side merge check: "image" (default:
#                          the package library copied out of the image), "system"
#                          (the host's .libPaths()), or a library directory
#   SAGESIM_KEEP=1         keep the per-host /opt/ml temp dirs
# Re-run under bash when started with sh (dash on Debian).
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

SRC=$(cd "${SAGESIM_SRC:-$repo}" && pwd)
IMAGE=${SAGESIM_IMAGE:-localhost/sagesim:check}
PACKAGES_IMAGE=${SAGESIM_PACKAGES_IMAGE:-$IMAGE-packages}
BUILD_IMAGE=${SAGESIM_BUILD_IMAGE:-$STANDIN_RUST}
RUNTIME_IMAGE=${SAGESIM_RUNTIME_IMAGE:-$STANDIN_DEBIAN}
CARGO_CACHE=${SAGESIM_CARGO_CACHE:-host}
HOST_CARGO_TARGET=${SAGESIM_HOST_CARGO_TARGET:-${CARGO_TARGET_DIR:-$HOME/.cache/sagesim/cargo-target}}
HOST_CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}
HOST_LIB=${SAGESIM_HOST_LIB:-image}
HOSTS=(algo-1 algo-2)
LOG_DIR="$CONTAINER_CACHE/logs"

# ============================================================================
# The job under test. Keep WORKER_ARGS and MERGE_CHECK_R in step: the merge
# check re-runs the same simulation locally and compares it with the merged
# output of the hosts.
# ============================================================================
WORKER_ARGS=(--x-length 1000 --y-length 1000 --num-people 1000 --max-iterations 2000
  --distance 6 --seed 42 --output-dir /opt/ml/processing/output/simulation)
FAILING_ARGS=(--x-length 1000 --y-length 1000 --num-people -5 --max-iterations 10
  --distance 6 --seed 42 --output-dir /opt/ml/processing/output/simulation)
# Runs on the host with R_LIBS set; SAGESIM_MERGED_DIR holds every host's files.
# shellcheck disable=SC2016  # R code, not shell
MERGE_CHECK_R='
dir <- Sys.getenv("SAGESIM_MERGED_DIR")
r <- sagesim::read_simulation_results(dir)
l <- sagesim::simulate_local(1000, 1000, 1000, 2000, seed = 42)
stopifnot(identical(r$values, l$values), identical(r$mean, l$mean))
cat(sprintf("merged %d values from %s: mean %s == local run\n",
            length(r$values), dir, format(r$mean, digits = 17)))
'
# ============================================================================

[[ $(id -u) -eq 0 ]] || die "run as root (rootful podman/buildah, chroot isolation)"
[[ -f $SRC/DESCRIPTION ]] || die "$SRC has no DESCRIPTION"
mkdir -p "$LOG_DIR"

work=$(mktemp -d "${TMPDIR:-/tmp}/sagesim-check.XXXXXX")
containers=()
background_pids=()
cleanup() {
  local rc=$? c p
  for p in "${background_pids[@]}"; do
    kill "$p" 2>/dev/null || true
  done
  for c in "${containers[@]}"; do
    buildah umount "$c" >/dev/null 2>&1 || true
    buildah rm "$c" >/dev/null 2>&1 || true
  done
  if [[ ${SAGESIM_KEEP:-0} == 1 ]]; then
    log "kept $work"
  else
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- phase bookkeeping --------------------------------------------------------
t_total=$(now)
phase_names=()
phase_secs=()
phase_start() {
  phase_t0=$(now)
  phase_name=$1
  log "=== phase: $phase_name"
}
phase_end() {
  local s
  s=$(elapsed "$phase_t0")
  phase_names+=("$phase_name")
  phase_secs+=("$s")
  log "=== phase: $phase_name done in $s s"
}
fail() { die "$phase_name: $*"; }

# Sets $ctr to a new working container of $1 (default $IMAGE; removed on exit).
new_container() {
  ctr=$(buildah from --pull-never --quiet "${1:-$IMAGE}")
  containers+=("$ctr")
}

# --- 1. tools -------------------------------------------------------------------
phase_start "tools"
ensure_tools
phase_end

# --- 1b. dist: the source tarball and the binary package ---------------------------
# Phases 3 (the vendored crates, so the image's cargo build runs offline and
# shares the host's), 9, 10 and 11 use them. Made again when a tracked file
# is newer than the tarball.
phase_start "dist"
version=$(awk -F': *' '$1 == "Version" { print $2 }' "$SRC/DESCRIPTION")
dist_tarball="$SRC/dist/sagesim_${version}.tar.gz"
stale=""
if [[ -f $dist_tarball ]] && ls "$SRC"/dist/sagesim_"${version}"_R_*.tar.gz >/dev/null 2>&1; then
  made=$(stat -c %Y "$dist_tarball")
  stale=$(cd "$SRC" && git ls-files -z 2>/dev/null | xargs -0 -r stat -c '%Y %n' 2>/dev/null |
    awk -v made="$made" '$1 > made { print $2 }' | head -n 3 || true)
else
  stale="no dist/ packages"
fi
if [[ -n $stale ]]; then
  log "making dist/ ($(echo "$stale" | tr '\n' ' '))"
  sh "$SRC/tools/dist.sh" >"$LOG_DIR/dist.log" 2>&1 || { tail -n 30 "$LOG_DIR/dist.log" >&2; fail "make dist failed (log: $LOG_DIR/dist.log)"; }
else
  log "dist/ is up to date"
fi
dist_binary=$(ls "$SRC"/dist/sagesim_"${version}"_R_*.tar.gz | head -n 1)
vendor_archive="$SRC/dist/.vendor-$(cksum <"$SRC/src/rust/Cargo.lock" | cut -d' ' -f1).tar.xz"
[[ -f $vendor_archive ]] || fail "no $vendor_archive after make dist"
log "source package $(du -h "$dist_tarball" | cut -f1), binary package $(du -h "$dist_binary" | cut -f1)"
phase_end

# --- 2. stand-in base images ------------------------------------------------------
phase_start "stand-in images"
if [[ $BUILD_IMAGE == "$STANDIN_RUST" || $RUNTIME_IMAGE == "$STANDIN_DEBIAN" ]]; then
  "$here/standin-images.sh"
fi
phase_end

# --- 3. image build -----------------------------------------------------------------
phase_start "image build"
# The build's arguments, also kept as KEY=VALUE lines for build_image()
# (phase 5), whose build then takes every layer up to the packages from cache.
build_args=(
  --isolation chroot
  --file "$repo/inst/docker/Dockerfile"
  --ignorefile "$repo/.dockerignore"
)
build_arg_values=()
add_build_arg() {
  build_args+=(--build-arg "$1")
  build_arg_values+=("$1")
}
add_build_arg "BUILD_IMAGE=$BUILD_IMAGE"
add_build_arg "RUNTIME_IMAGE=$RUNTIME_IMAGE"
add_build_arg "SRC_DIR=$SRC"
add_build_arg "SAGESIM_FROM=source"
cache_volumes=()
case $CARGO_CACHE in
  host)
    # Same paths as on the host, so cargo's fingerprints (which hold the
    # absolute paths of registry sources) match and compiled crates are reused.
    mkdir -p "$HOST_CARGO_TARGET" "$HOST_CARGO_HOME/registry"
    cache_volumes=(
      --volume "$HOST_CARGO_TARGET:$HOST_CARGO_TARGET"
      --volume "$HOST_CARGO_HOME/registry:$HOST_CARGO_HOME/registry"
    )
    add_build_arg "CARGO_TARGET_DIR=$HOST_CARGO_TARGET"
    add_build_arg "CARGO_REGISTRY_CACHE=/var/cache/sagesim/cargo-registry"
    log "reusing host cargo cache: $HOST_CARGO_TARGET, $HOST_CARGO_HOME/registry"
    ;;
  none)
    log "no host cargo cache (buildah's own cache mounts only)"
    # The stand-in keeps CARGO_HOME at the host's path, not rust:1-bookworm's.
    if [[ $BUILD_IMAGE == "$STANDIN_RUST" ]]; then
      add_build_arg "CARGO_REGISTRY_CACHE=$HOST_CARGO_HOME/registry"
    fi
    ;;
  *) fail "SAGESIM_CARGO_CACHE must be host or none, not '$CARGO_CACHE'" ;;
esac
# Build from a snapshot of the tree: it is read three times (below) and may be
# edited meanwhile. tar keeps mtimes, so cargo still finds the workspace
# crates fresh; in the image the tree sits at its host path ($SRC).
context="$work/context"
mkdir -p "$context"
tar_rc=0
if git -C "$SRC" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git -C "$SRC" ls-files -z --cached --others --exclude-standard |
    tar -C "$SRC" --null --ignore-failed-read -T - -cf - | tar -C "$context" -xf - || tar_rc=$?
else
  tar -C "$SRC" --exclude=.git --exclude=target --exclude='*.Rcheck' --ignore-failed-read -cf - . |
    tar -C "$context" -xf - || tar_rc=$?
fi
((tar_rc <= 1)) || fail "could not snapshot $SRC (tar exit $tar_rc)"
# The crates, vendored: the build stage compiles offline, as from the source
# tarball, and names the same crate paths (in the shared target dir) as the
# host's builds of the tarball, so it reuses what they compiled.
cp "$vendor_archive" "$context/src/rust/vendor.tar.xz"
log "build context: snapshot of $SRC ($(du -sh "$context" | cut -f1))"
add_build_arg "SAGESIM_VERSION=$(awk -F': *' '$1 == "Version" { print $2 }' "$context/DESCRIPTION")"
printf '%s\n' "${build_arg_values[@]}" >"$work/build-args"

if [[ ${SAGESIM_SKIP_BUILD:-0} == 1 ]]; then
  image_exists "$IMAGE" || fail "SAGESIM_SKIP_BUILD=1 but $IMAGE does not exist"
  log "skipped; using existing $IMAGE"
else
  if [[ ${SAGESIM_NO_CACHE:-0} == 1 ]]; then
    # Cold: no image layers, no buildah cache mounts of ours (the stand-ins stay).
    log "cold build: dropping $IMAGE, dangling layers and sagesim cache mounts"
    podman rmi -f "$IMAGE" "$PACKAGES_IMAGE" >/dev/null 2>&1 || true
    podman image prune -f >/dev/null
    rm -rf /var/tmp/buildah-cache/sagesim-cargo-target /var/tmp/buildah-cache/sagesim-cargo-registry
  fi
  stamp=$(date +%Y%m%d-%H%M%S)
  # The build stage is tagged too, so the images a rebuild replaces can be
  # removed (each build-stage image is ~1.5 GB).
  build_tag="$IMAGE-build"
  old_ids=$(podman image inspect --format '{{.Id}}' "$IMAGE" "$build_tag" 2>/dev/null || true)
  # Two steps: `podman build -v` creates the bind-mount points in every stage
  # that has a RUN, so the build stage gets the host caches in a build of its
  # own, and the full build (no volumes) then takes that stage from the layer
  # cache: the runtime stage never sees the mounts.
  build_log="$LOG_DIR/build-$stamp-stage-build.log"
  log "podman build --target source (log: $build_log)"
  if ! podman build "${build_args[@]}" "${cache_volumes[@]}" --target source --tag "$build_tag" "$context" >"$build_log" 2>&1; then
    tail -n 60 "$build_log" >&2
    fail "podman build (build stage) failed (log: $build_log)"
  fi
  compiled=$(grep -cE '^\s*Compiling ' "$build_log" || true)
  log "cargo compiled $compiled crate(s) in the build stage"
  grep -E '^\s*(Compiling|Finished) ' "$build_log" | tail -n 4 >&2 || true
  grep -q 'installing \*source\* package' "$build_log" || log "build stage taken from the layer cache"

  runtime_log="$LOG_DIR/build-$stamp-runtime.log"
  log "podman build -> $IMAGE (log: $runtime_log)"
  if ! podman build "${build_args[@]}" --tag "$IMAGE" "$context" >"$runtime_log" 2>&1; then
    tail -n 60 "$runtime_log" >&2
    fail "podman build (runtime stage) failed (log: $runtime_log)"
  fi
  if grep -q 'installing \*source\* package' "$runtime_log"; then
    log "WARNING: the full build missed the layer cache of the build stage and rebuilt it without the host cargo cache"
  fi
  new_ids=$(podman image inspect --format '{{.Id}}' "$IMAGE" "$build_tag")
  for id in $old_ids; do
    grep -qx "$id" <<<"$new_ids" || podman rmi "$id" >/dev/null 2>&1 || true
  done
fi
phase_end

# --- 4. image contents ----------------------------------------------------------------
phase_start "image contents"
size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
log "image $IMAGE size: $size bytes ($(awk -v b="$size" 'BEGIN { printf "%.1f MB", b / 1e6 }'))"
entrypoint=$(podman image inspect --format '{{json .Config.Entrypoint}}' "$IMAGE")
[[ $entrypoint == '["Rscript"]' ]] || fail "ENTRYPOINT is $entrypoint, want [\"Rscript\"] (exec form)"
new_container
# shellcheck disable=SC2016  # expanded by the container's shell
buildah run --isolation chroot --env HOST_CARGO_TARGET="$HOST_CARGO_TARGET" --env SRC_DIR="$SRC" "$ctr" -- sh -ec '
  bad=0
  for tool in cargo rustc rustup; do
    if command -v "$tool" >/dev/null 2>&1; then echo "found $tool on PATH: $(command -v "$tool")"; bad=1; fi
  done
  for p in "$HOST_CARGO_TARGET" /var/cache/sagesim; do
    if [ -e "$p" ]; then echo "unexpected $p (build cache mount point) in the runtime image"; bad=1; fi
  done
  hits=$(find / -xdev \( -path /proc -o -path /sys -o -path /dev \) -prune -o \
    \( -name cargo -o -name rustc -o -name rustup -o -name .rustup -o -name .cargo \
       -o -name "*.rs" -o -name Cargo.toml -o -name Cargo.lock -o -name "*.rlib" \
       -o -name "lib*.a" -path "*sagesim*" -o -name DESCRIPTION -path "$SRC_DIR/*" -o -name DESCRIPTION -path "/usr/src/sagesim/*" \) -print | head -n 20)
  if [ -n "$hits" ]; then echo "build tools or sources in the runtime image:"; echo "$hits"; bad=1; fi
  pkg=/usr/local/lib/R/site-library/sagesim
  [ -d "$pkg" ] || { echo "no $pkg"; exit 1; }
  for d in src tests /opt/sagesim "$SRC_DIR" /usr/src/sagesim; do
    case $d in /*) p=$d ;; *) p=$pkg/$d ;; esac
    if [ -e "$p" ]; then echo "unexpected $p in the runtime image"; bad=1; fi
  done
  so=$(ls "$pkg"/libs/*.so)
  if ldd $so | grep -q "not found"; then ldd $so; echo "unresolved libraries"; bad=1; fi
  Rscript -e "suppressPackageStartupMessages(library(sagesim)); cat(\"loads sagesim\", format(packageVersion(\"sagesim\")), \"from\", find.package(\"sagesim\"), \"\\n\")"
  echo "package library: $(du -sh "$pkg" | cut -f1); shared object: $(du -h $so | cut -f1)"
  exit $bad
' || fail "runtime image holds build tools or sources, or the package does not load"
phase_end

# The package on the host, for the merge check and for driving local jobs:
# by default the very library the image holds.
case $HOST_LIB in
  image)
    new_container
    mnt=$(buildah mount "$ctr")
    mkdir -p "$work/hostlib"
    cp -a "$mnt/usr/local/lib/R/site-library/sagesim" "$work/hostlib/"
    buildah umount "$ctr" >/dev/null
    r_libs="$work/hostlib"
    ;;
  system) r_libs="" ;;
  *) r_libs=$HOST_LIB ;;
esac

# --- 5. the SageMaker Processing contract, host by host ----------------------------------
# Each job's hosts are laid out and run by sagesim's stand-in for the
# Processing runtime (sagesim::processing_runtime(), the code local mode and
# the tests' played cloud hosts use): /opt/ml from the request (config
# files, inputs), each host in its own fresh container of the image (its
# folder bound at /opt/ml, the request's entrypoint, arguments and
# environment, as root), then the outputs delivered.

# The request of a job, as processingjobconfig.json holds it: $1 file, $2
# entrypoint and arguments (JSON array), $3 inputs (JSON array), $4 outputs.
write_request() {
  cat >"$1" <<EOF
{
  "ProcessingJobName": "sagesim-check-$(basename "$1" .json)",
  "RoleArn": "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole",
  "AppSpecification": {"ImageUri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/sagesim:latest",
                        "ContainerEntrypoint": $2},
  "Environment": {"SAGESIM_CHECK": "1"},
  "ProcessingInputs": $3,
  "ProcessingOutputConfig": {"Outputs": $4},
  "ProcessingResources": {"ClusterConfig": {"InstanceCount": ${#HOSTS[@]}, "InstanceType": "ml.c5.xlarge",
                                            "VolumeSizeInGB": 30}},
  "NetworkConfig": {"EnableInterContainerTrafficEncryption": false, "EnableNetworkIsolation": false},
  "StoppingCondition": {"MaxRuntimeInSeconds": 3600}
}
EOF
}

json_array() { printf '"%s",' "$@" | sed 's/,$//; s/^/[/; s/$/]/'; }
json_input() { # name source destination
  printf '{"InputName": "%s", "S3Input": {"S3Uri": "%s", "LocalPath": "%s", "S3DataType": "S3Prefix", "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated", "S3CompressionType": "None"}}' "$1" "$2" "$3"
}
json_output() { # name source destination
  printf '{"OutputName": "%s", "S3Output": {"S3Uri": "%s", "LocalPath": "%s", "S3UploadMode": "EndOfJob"}}' "$1" "$3" "$2"
}

# Runs one job ($1: a name) of request $2 in image $3 through the runtime
# stand-in; its hosts' folders are $work/$1/hosts/algo-N. Returns the
# number of hosts that exited non-zero (their exit codes in exit_code).
run_job() {
  local name=$1 request=$2 image=$3 dir="$work/$1" host failed=0
  printf '{"mode": "container", "engine": "buildah", "engine_path": "%s", "image": "%s", "isolation": "chroot"}\n' \
    "$(command -v buildah)" "$image" >"$work/$name-runner.json"
  R_LIBS="$r_libs" Rscript -e 'sagesim::processing_runtime()' stage "$request" "$dir" \
    "$work/$name-runner.json" >&2 || fail "the runtime stand-in could not stage $name"
  for host in "${HOSTS[@]}"; do
    sh "$dir/hosts/$host/run.sh"
    sed 's/^/    | /' "$dir/hosts/$host/log" | tail -n 8 >&2
    [[ $(cat "$dir/hosts/$host/exit_code") == 0 ]] || failed=$((failed + 1))
  done
  if ((failed == 0)); then
    R_LIBS="$r_libs" Rscript -e 'sagesim::processing_runtime()' deliver "$request" "$dir" >&2 ||
      fail "the runtime stand-in could not deliver $name's outputs"
  fi
  return "$failed"
}

# The contract in image $1: a simulation worker job, a user's script job
# with an input, and a failing worker; the simulation's result files are
# copied to $2; $3 labels the phases (empty for the image built here).
run_contract() {
  local image=$1 merged_dir=$2 label=${3:-} tag host rc out
  tag=$(printf '%s' "$label" | tr -c 'a-z0-9' '-' | sed 's/-*$//')
  mkdir -p "$merged_dir"

  phase_start "contract: worker$label"
  out="$work/worker$tag-out"
  write_request "$work/worker$tag.json" \
    "$(json_array Rscript -e 'sagesim::run_worker()' "${WORKER_ARGS[@]}")" "[]" \
    "[$(json_output simulation /opt/ml/processing/output/simulation "$out")]"
  run_job "worker$tag" "$work/worker$tag.json" "$image" || fail "a worker host failed"
  for host in "${HOSTS[@]}"; do
    for f in "sagesim-result-$host-00001.json" "output_result_mean-$host.txt"; do
      [[ -s $out/$f ]] || fail "the worker on $host did not write $f (got: $(ls "$out"))"
    done
    [[ ! -s $work/worker$tag/hosts/$host/opt/ml/output/message ]] ||
      fail "successful worker on $host left /opt/ml/output/message"
  done
  if ((${#HOSTS[@]} > 1)) && [[ -e $out/output_result_mean.txt ]]; then
    fail "output_result_mean.txt written although there are ${#HOSTS[@]} hosts"
  fi
  log "workers wrote $(cd "$out" && echo *)"
  cp "$out"/* "$merged_dir/"
  phase_end

  phase_start "contract: user script$label"
  mkdir -p "$work/data$tag" "$work/code$tag"
  printf 'scenario,num_people,distance\nbaseline,%s,6\nsparse,%s,6\n' 100 50 >"$work/data$tag/scenarios.csv"
  cat >"$work/code$tag/report.R" <<'EOF'
# A user job: reads the input file, uses the package, writes an output file.
suppressPackageStartupMessages(library(sagesim))
args <- commandArgs(trailingOnly = TRUE)
stopifnot(identical(args, c("arg1", "arg2")), Sys.getenv("SAGESIM_CHECK") == "1")
host <- jsonlite::fromJSON("/opt/ml/config/resourceconfig.json")$current_host
scenarios <- utils::read.csv("/opt/ml/processing/input/data/scenarios.csv")
out <- file.path("/opt/ml/processing/output/report", sprintf("report-%s.csv", host))
scenarios$sagesim_version <- format(utils::packageVersion("sagesim"))
scenarios$args <- paste(args, collapse = " ")
utils::write.csv(scenarios, out, row.names = FALSE)
cat("report.R wrote", out, "with", nrow(scenarios), "rows\n")
EOF
  out="$work/report$tag-out"
  write_request "$work/report$tag.json" \
    "$(json_array Rscript /opt/ml/processing/input/code/report.R arg1 arg2)" \
    "[$(json_input data "$work/data$tag" /opt/ml/processing/input/data), $(json_input code "$work/code$tag/report.R" /opt/ml/processing/input/code)]" \
    "[$(json_output report /opt/ml/processing/output/report "$out")]"
  run_job "report$tag" "$work/report$tag.json" "$image" || fail "the user script failed on a host"
  for host in "${HOSTS[@]}"; do
    [[ -s $out/report-$host.csv ]] || fail "the user script wrote no report-$host.csv"
  done
  phase_end

  phase_start "contract: failing worker$label"
  write_request "$work/failing$tag.json" \
    "$(json_array Rscript -e 'sagesim::run_worker()' "${FAILING_ARGS[@]}")" "[]" \
    "[$(json_output simulation /opt/ml/processing/output/simulation "$work/failing$tag-out")]"
  rc=0
  run_job "failing$tag" "$work/failing$tag.json" "$image" || rc=$?
  ((rc == ${#HOSTS[@]})) || fail "$rc of ${#HOSTS[@]} failing workers exited non-zero"
  for host in "${HOSTS[@]}"; do
    [[ -s $work/failing$tag/hosts/$host/opt/ml/output/message ]] ||
      fail "the failing worker on $host left no /opt/ml/output/message"
    log "$host: failing worker exited $(cat "$work/failing$tag/hosts/$host/exit_code"); /opt/ml/output/message: $(head -c 200 "$work/failing$tag/hosts/$host/opt/ml/output/message" | tr '\n' ' ')"
  done
  phase_end
}

merged="$work/merged"
run_contract "$IMAGE" "$merged"

# --- 6. merge on the host and compare with a local run ---------------------------------------
phase_start "host merge check"
log "merging $(cd "$merged" && echo *) with R_LIBS=${r_libs:-<host default>}"
SAGESIM_MERGED_DIR="$merged" R_LIBS="$r_libs" Rscript -e "$MERGE_CHECK_R" >&2 ||
  fail "merged host outputs differ from a local run (or the R check failed)"
phase_end

# --- 7. the image with the workshop's packages, built from R --------------------------------
phase_start "image with packages"
# The same build arguments and snapshot as phase 3, so that every layer up
# to the packages comes from the cache.
# shellcheck disable=SC2016  # R code, not shell
BUILD_PACKAGES_R='
lines <- readLines(Sys.getenv("SAGESIM_BUILD_ARGS"))
args <- stats::setNames(sub("^[^=]*=", "", lines), sub("=.*$", "", lines))
sagesim::build_image(Sys.getenv("SAGESIM_CONTEXT"), packages = c("doParallel", "data.table"),
                     tag = Sys.getenv("SAGESIM_TAG"), engine = "podman", build_args = args)
'
if [[ ${SAGESIM_SKIP_BUILD:-0} == 1 ]] && image_exists "$PACKAGES_IMAGE"; then
  log "skipped; using existing $PACKAGES_IMAGE"
else
  old_packages_id=$(podman image inspect --format '{{.Id}}' "$PACKAGES_IMAGE" 2>/dev/null || true)
  packages_log="$LOG_DIR/build-$(date +%Y%m%d-%H%M%S)-packages.log"
  log "build_image(packages = c(\"doParallel\", \"data.table\")) -> $PACKAGES_IMAGE (log: $packages_log)"
  if ! BUILDAH_ISOLATION=chroot R_LIBS="$r_libs" SAGESIM_BUILD_ARGS="$work/build-args" \
    SAGESIM_CONTEXT="$context" SAGESIM_TAG="$PACKAGES_IMAGE" Rscript -e "$BUILD_PACKAGES_R" >"$packages_log" 2>&1; then
    tail -n 40 "$packages_log" >&2
    fail "build_image(packages = ) failed (log: $packages_log)"
  fi
  log "$(grep -c 'Using cache' "$packages_log" || true) build steps taken from the cache"
  grep -E '^== |^sagesim: ' "$packages_log" >&2 || true
  if grep -q 'installing \*source\* package' "$packages_log"; then
    log "WARNING: build_image() missed the layer cache of the build stage"
  fi
  # The image this build replaced, as phase 3 does.
  if [[ -n $old_packages_id && $old_packages_id != "$(podman image inspect --format '{{.Id}}' "$PACKAGES_IMAGE")" ]]; then
    podman rmi "$old_packages_id" >/dev/null 2>&1 || true
  fi
fi
packages_size=$(podman image inspect --format '{{.Size}}' "$PACKAGES_IMAGE")
log "image $PACKAGES_IMAGE size: $packages_size bytes ($(awk -v b="$packages_size" -v a="$size" 'BEGIN { printf "%.1f MB, %+.1f MB", b / 1e6, (b - a) / 1e6 }'))"
phase_end

# --- 8. local jobs in the images, through buildah -------------------------------------------
# The tests that need an image (skipped in `make test`): jobs in it, the
# workshop's script unchanged, a build that cannot install a package.
phase_start "local jobs in images"
(
  cd "$context/tests/testthat"
  SAGESIM_TEST_IMAGE="$PACKAGES_IMAGE" SAGESIM_TEST_BASE_IMAGE="$IMAGE" \
    SAGESIM_TEST_BUILD_ARGS="$work/build-args" SAGESIM_TEST_BUILD_CONTEXT="$context" \
    SAGESIM_TEST_ENGINE=podman BUILDAH_ISOLATION=chroot R_LIBS="$r_libs" Rscript -e '
      testthat::test_dir(".", package = "sagesim", load_package = "installed",
                         filter = "job-local-container|workshop|image", reporter = "summary")'
) >&2 || fail "local jobs in the images failed (see above)"
phase_end

# --- 9. the binary package in a clean container ------------------------------------------------
# Debian bookworm with R and sagesim's R dependencies only: no Rust, no
# compiler. The binary package installs there in seconds, with no network
# (unshare -n),
# and runs a simulation and a 2-host local job.
phase_start "binary package, R only"
R_ONLY_IMAGE=${SAGESIM_R_ONLY_IMAGE:-localhost/sagesim-check/r-only:bookworm}
r_only_id="base=$(podman image inspect --format '{{.Id}}' "$RUNTIME_IMAGE")"
if [[ $(podman image inspect --format '{{ index .Labels "org.sagesim.r-only.id" }}' "$R_ONLY_IMAGE" 2>/dev/null || true) != "$r_only_id" ]]; then
  log "building $R_ONLY_IMAGE: $RUNTIME_IMAGE + r-base-core and sagesim's R dependencies"
  new_container "$RUNTIME_IMAGE"
  buildah run --isolation chroot "$ctr" -- sh -ec '
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends r-base-core r-cran-cli r-cran-jsonlite r-cran-globals >/dev/null
    rm -rf /var/lib/apt/lists/*' >&2 || fail "could not install R in $RUNTIME_IMAGE"
  buildah config --label org.sagesim.r-only.id="$r_only_id" "$ctr"
  podman rmi -f "$R_ONLY_IMAGE" >/dev/null 2>&1 || true
  buildah commit --quiet "$ctr" "$R_ONLY_IMAGE" >/dev/null
fi
new_container "$R_ONLY_IMAGE"
binary_in_ctr="/tmp/$(basename "$dist_binary")"
buildah copy --quiet "$ctr" "$dist_binary" "$binary_in_ctr" >/dev/null
# shellcheck disable=SC2016  # expanded by the container's shell
# buildah itself in a network namespace of its own: a chroot-isolated
# container has the network of the process that runs it.
unshare -n buildah run --isolation chroot --env BINARY="$binary_in_ctr" "$ctr" -- sh -ec '
  for tool in cargo rustc cc gcc make; do
    if command -v "$tool" >/dev/null 2>&1; then echo "found $tool: $(command -v "$tool")"; exit 1; fi
  done
  devices=$(awk -F: "NR > 2 { gsub(/ /, \"\", \$1); print \$1 }" /proc/net/dev)
  [ "$devices" = lo ] || { echo "network devices: $devices"; exit 1; }
  echo "no Rust, no compiler, no network; $(Rscript --version 2>&1)"
  t0=$(date +%s%N)
  R CMD INSTALL "$BINARY" >/tmp/install.log 2>&1 || { cat /tmp/install.log; exit 1; }
  echo "R CMD INSTALL of the binary package: $(( ($(date +%s%N) - t0) / 1000000 )) ms"
  grep -q "installing \*binary\* package" /tmp/install.log || { cat /tmp/install.log; echo "not installed as a binary package"; exit 1; }
  cd "$(mktemp -d)"
  Rscript -e "
    library(sagesim)
    sim <- simulate_local(1000, 1000, 1000, 500, seed = 42, progress = FALSE)
    stopifnot(length(sim\$values) == 500)
    cat(\"simulate_local():\", format(sim\$mean), \"\\n\")
    options(sagesim.job_dir = tempdir())
    spec <- simulation_spec(x_length = 1000, y_length = 1000, num_people = 1000, max_iterations = 500, seed = 42)
    job <- submit_processing(simulation = spec, instance_type = \"local\", instance_count = 2, logs = FALSE)
    result <- job_collect(job)
    stopifnot(identical(result\$values, sim\$values), length(job\$hosts) == 2)
    cat(\"2-host local job:\", length(result\$values), \"values, the same as simulate_local()\\n\")"
' >&2 || fail "the binary package does not install or run in $R_ONLY_IMAGE"
phase_end

# --- 10. the worker image from the installed package --------------------------------------------
# A user's view: sagesim installed from the source tarball into a library of
# its own, and a fresh folder with no source tree in it. build_image()
# builds the image from the installed package (buildah); the workshop's
# script runs in it as a 2-host local container job.
phase_start "image from installed package"
user_lib="$work/user-lib"
user_dir="$work/user-project"
mkdir -p "$user_lib" "$user_dir"
R CMD INSTALL -l "$user_lib" "$dist_tarball" >"$LOG_DIR/user-install.log" 2>&1 ||
  { tail -n 30 "$LOG_DIR/user-install.log" >&2; fail "R CMD INSTALL of the source tarball failed"; }
cp "$SRC/tests/testthat/fixtures/workshop.R" "$user_dir/workshop.R"
USER_IMAGE=${SAGESIM_USER_IMAGE:-localhost/sagesim-check/user:workshop}
# shellcheck disable=SC2016  # R code, not shell
(
  cd "$user_dir"
  [[ ! -e DESCRIPTION && ! -e Dockerfile ]] || fail "the user's folder has package sources"
  BUILDAH_ISOLATION=chroot R_LIBS="$user_lib" SAGESIM_RUNTIME_IMAGE="$RUNTIME_IMAGE" SAGESIM_TAG="$USER_IMAGE" Rscript -e '
    library(sagesim)
    stopifnot(startsWith(find.package("sagesim"), Sys.getenv("R_LIBS")))
    t0 <- Sys.time()
    tag <- build_image(packages = "doParallel", tag = Sys.getenv("SAGESIM_TAG"), engine = "buildah",
                       build_args = c(RUNTIME_IMAGE = Sys.getenv("SAGESIM_RUNTIME_IMAGE")))
    cat(sprintf("build_image() from the installed package in %.0f s\n", as.numeric(Sys.time() - t0, units = "secs")))
    options(sagesim.container_engine = "buildah", sagesim.job_dir = tempdir())
    job <- submit_processing(code = "workshop.R", arguments = c("100", "100", "100", "300"),
                             image_uri = tag, instance_type = "local", instance_count = 2,
                             outputs = c(result = "/opt/ml/processing/output"))
    stopifnot(identical(job$runner$mode, "container"))
    files <- job_collect(job, path = file.path(tempdir(), "out"))
    expected <- expected_violations(100, 100, 100)
    se <- simulate_local(100, 100, 100, 300, seed = 1, progress = FALSE)$se
    stopifnot(abs(files$result_mean - expected) < 5 * se)
    cat("the workshop script as a 2-host local job in", tag, ": mean", format(files$result_mean),
        "(exact", format(expected), ")\n")'
) >&2 || fail "build_image() from the installed package, or the workshop job in its image, failed"
phase_end

# --- 11. a real push: publish_image() to a registry standing in for ECR --------------------------
# Debian's docker-registry (the Distribution registry) on a loopback port,
# run as nobody, stands in for the account's ECR endpoint
# (options(sagesim.ecr_registry = )); the ECR API calls (CreateRepository,
# GetAuthorizationToken) go to moto. publish_image() builds from the
# installed package and pushes; the image is pulled back by digest and runs
# the processing contract.
phase_start "push to a registry"
registry_dir="$work/registry"
mkdir -p "$registry_dir/data"
registry_port=$((20000 + RANDOM % 20000))
printf 'version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
  "$registry_dir/data" "$registry_port" >"$registry_dir/config.yml"
chown -R nobody: "$registry_dir/data"
chmod 755 "$work" "$registry_dir"
setpriv --reuid nobody --regid nogroup --clear-groups -- \
  docker-registry serve "$registry_dir/config.yml" >"$LOG_DIR/registry.log" 2>&1 &
registry_pid=$!
background_pids+=("$registry_pid")
registry="127.0.0.1:$registry_port"
for _ in $(seq 50); do curl -fs "http://$registry/v2/" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fs "http://$registry/v2/" >/dev/null || { cat "$LOG_DIR/registry.log" >&2; fail "docker-registry did not start"; }
log "docker-registry (pid $registry_pid, as nobody) on $registry"
# The engine reaches it over plain HTTP: a registries.conf of the check's own.
printf '[[registry]]\nlocation = "%s"\ninsecure = true\n' "$registry" >"$registry_dir/registries.conf"
# moto for the ECR API.
python=${SAGESIM_PYTHON:-}
venv_python="${XDG_CACHE_HOME:-$HOME/.cache}/sagesim/python/bin/python3"
if [[ -z $python ]]; then
  if [[ -x $venv_python ]]; then python=$venv_python; else python=python3; fi
fi
env -u LD_LIBRARY_PATH "$python" "$SRC/tests/testthat/fixtures/moto_launcher.py" --port-file "$work/moto-port" \
  >"$LOG_DIR/moto.log" 2>&1 &
background_pids+=("$!")
for _ in $(seq 150); do [[ -s $work/moto-port ]] && break; sleep 0.2; done
[[ -s $work/moto-port ]] || { cat "$LOG_DIR/moto.log" >&2; fail "moto did not start"; }
moto_port=$(sed -n 's/.*"port": *\([0-9]*\).*/\1/p' "$work/moto-port")
: >"$work/aws-empty"
publish_log="$LOG_DIR/publish.log"
# shellcheck disable=SC2016  # R code, not shell
(
  cd "$user_dir"
  CONTAINERS_REGISTRIES_CONF="$registry_dir/registries.conf" BUILDAH_ISOLATION=chroot R_LIBS="$user_lib" \
    AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing-secret \
    AWS_REGION=us-east-1 AWS_CONFIG_FILE="$work/aws-empty" AWS_SHARED_CREDENTIALS_FILE="$work/aws-empty" \
    AWS_EC2_METADATA_DISABLED=true REGISTRY="$registry" SAGESIM_RUNTIME_IMAGE="$RUNTIME_IMAGE" \
    SAGESIM_PUSHED="$work/pushed" Rscript -e '
    options(sagesim.ecr_registry = Sys.getenv("REGISTRY"))
    uri <- sagesim::publish_image(repository = "sagesim-check", tag = "pushed", engine = "podman",
                                  packages = "doParallel",
                                  build_args = c(RUNTIME_IMAGE = Sys.getenv("SAGESIM_RUNTIME_IMAGE")))
    writeLines(uri, Sys.getenv("SAGESIM_PUSHED"))'
) >"$publish_log" 2>&1 || { tail -n 30 "$publish_log" >&2; fail "publish_image() failed (log: $publish_log)"; }
pushed=$(cat "$work/pushed")
[[ $pushed == "$registry/sagesim-check:pushed" ]] || fail "publish_image() returned '$pushed'"
grep -q "Pushed $pushed" "$publish_log" || fail "publish_image() did not say it pushed"
digest=$(curl -fsI -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
  -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
  "http://$registry/v2/sagesim-check/manifests/pushed" | tr -d '\r' |
  awk -F': ' 'tolower($1) == "docker-content-digest" { print $2 }')
[[ $digest == sha256:* ]] || fail "the registry has no manifest for sagesim-check:pushed"
log "the registry holds $pushed at $digest ($(du -sh "$registry_dir/data" | cut -f1))"
local_id=$(podman image inspect --format '{{.Id}}' "$pushed")
# Only what the registry has: drop the local copies, pull by digest.
podman rmi -f "$pushed" "localhost/sagesim-check:pushed" >/dev/null 2>&1 || true
pulled="$registry/sagesim-check@$digest"
CONTAINERS_REGISTRIES_CONF="$registry_dir/registries.conf" podman pull --quiet "$pulled" >/dev/null ||
  fail "podman pull $pulled failed"
pulled_id=$(podman image inspect --format '{{.Id}}' "$pulled")
[[ $pulled_id == "$local_id" ]] || fail "pulled image $pulled_id is not the pushed $local_id"
log "pulled $pulled: image $pulled_id, the one publish_image() built and pushed"
phase_end
run_contract "$pulled" "$work/merged-pulled" " (pulled)"
phase_start "pulled image merge check"
SAGESIM_MERGED_DIR="$work/merged-pulled" R_LIBS="$user_lib" Rscript -e "$MERGE_CHECK_R" >&2 ||
  fail "the pulled image's merged outputs differ from a local run"
podman rmi -f "$pulled" >/dev/null 2>&1 || true
phase_end

# --- summary ----------------------------------------------------------------------------------
{
  echo
  echo "sagesim container check passed: $IMAGE ($size bytes), $PACKAGES_IMAGE ($packages_size bytes)"
  for i in "${!phase_names[@]}"; do
    printf '  %-32s %8s s\n' "${phase_names[$i]}" "${phase_secs[$i]}"
  done
  printf '  %-32s %8s s\n' "total" "$(elapsed "$t_total")"
} >&2
