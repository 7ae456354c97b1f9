# sagesim worker image for SageMaker Processing jobs.
#
#   docker build -t sagesim .                      # public bases, BuildKit caches
#   docker build -t sagesim --build-arg R_PACKAGES="doParallel data.table" .
#   tools/container/check.sh                       # podman, local stand-in bases,
#                                                  # host cargo cache, contract run
# From R: build_image(packages = ) and publish_image(packages = ).
#
# The base is Debian bookworm's R (4.2): the runtime stage installs R from
# apt (r-base-core), and the build stage must have the same R, so another
# base is another Debian-based pair, e.g. --build-arg RUNTIME_IMAGE=debian:trixie-slim
# --build-arg BUILD_IMAGE=rust:1-trixie.
#
# SageMaker runs it as root with ContainerEntrypoint/ContainerArguments, e.g.
#   Rscript -e 'sagesim::run_worker()' --num-people 1000 ...
#   Rscript /opt/ml/processing/input/code/job.R arg1 arg2

ARG BUILD_IMAGE=rust:1-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# ---------------------------------------------------------------------------
# Build stage: R headers + Rust toolchain; R CMD INSTALL into /opt/sagesim/lib.
# ---------------------------------------------------------------------------
FROM ${BUILD_IMAGE} AS build

RUN set -eux; \
    export DEBIAN_FRONTEND=noninteractive; \
    apt-get update; \
    apt-get install -y --no-install-recommends \
        r-base-dev r-cran-cli r-cran-jsonlite r-cran-globals; \
    rm -rf /var/lib/apt/lists/*

# Where cargo puts its build output. The default lives in a BuildKit/buildah
# cache mount, so rebuilds reuse compiled crates. To reuse a host cache instead,
# bind it in at its host path and point this there, e.g. with podman:
#   podman build -v /work/cargo-target:/work/cargo-target \
#                -v /root/.cargo/registry:/root/.cargo/registry \
#                --build-arg CARGO_TARGET_DIR=/work/cargo-target ...
# (cargo only reuses crates when the toolchain, CARGO_HOME and target paths
# match the host's: see tools/container/README.md).
ARG CARGO_TARGET_DIR=/var/cache/sagesim/cargo-target
# The crate registry's download cache; rust:1-bookworm has CARGO_HOME=/usr/local/cargo.
# Point it at a scratch path when the registry is bind-mounted from the host.
ARG CARGO_REGISTRY_CACHE=/usr/local/cargo/registry
# cargo build jobs for tools/build-rust.sh (empty = all cores).
ARG SAGESIM_CARGO_JOBS=

# The source tree sits at the same path as the repository on the developer
# machine, so the workspace crates keep their fingerprints in a shared target.
# The path is named in a RUN so that another path makes other layers: buildah's
# layer cache keys WORKDIR and COPY on the text, not the value, of the ARG.
ARG SRC_DIR=/work/main
RUN mkdir -p "${SRC_DIR}"
WORKDIR ${SRC_DIR}
COPY . .

# --strip: the AWS SDKs make sagesim.so ~130 MB; stripping saves ~45 MB.
RUN --mount=type=cache,id=sagesim-cargo-target,target=/var/cache/sagesim/cargo-target \
    --mount=type=cache,id=sagesim-cargo-registry,target=${CARGO_REGISTRY_CACHE} \
    set -eu; \
    if [ -n "${CARGO_TARGET_DIR}" ]; then export CARGO_TARGET_DIR; else unset CARGO_TARGET_DIR; fi; \
    SAGESIM_CARGO_JOBS="${SAGESIM_CARGO_JOBS:-$(nproc)}"; export SAGESIM_CARGO_JOBS; \
    cargo --version; rustc --version; \
    mkdir -p /opt/sagesim/lib; \
    R CMD INSTALL --no-docs --no-multiarch --strip -l /opt/sagesim/lib .; \
    R_LIBS=/opt/sagesim/lib Rscript -e 'library(sagesim); cat("sagesim", format(packageVersion("sagesim")), "installed\n")'

# ---------------------------------------------------------------------------
# Runtime stage: R and the installed package only (no cargo, no sources).
# ---------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE} AS runtime

# ca-certificates: the package's AWS client (rustls) needs trust roots for S3.
RUN set -eux; \
    export DEBIAN_FRONTEND=noninteractive; \
    apt-get update; \
    apt-get install -y --no-install-recommends \
        r-base-core r-cran-cli r-cran-jsonlite r-cran-globals ca-certificates; \
    rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin

ARG SAGESIM_VERSION=unknown
LABEL org.opencontainers.image.title="sagesim" \
      org.opencontainers.image.description="sagesim Monte Carlo simulation worker for SageMaker Processing jobs (R + Rust)" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${SAGESIM_VERSION}"

# /usr/local/lib/R/site-library is first on Debian R's default .libPaths().
COPY --from=build /opt/sagesim/lib/ /usr/local/lib/R/site-library/

# The packages users' scripts need (build_image(packages = , system_packages = )):
# R packages from Debian's r-cran-* where it has them, else install.packages()
# from R_REPOS; a package that cannot be installed fails the build, naming it.
# After sagesim's layer, so other packages reuse every layer above; without
# packages this layer does nothing.
ARG R_PACKAGES=
ARG SYSTEM_PACKAGES=
ARG R_REPOS=
COPY tools/container/install-packages.sh /usr/local/lib/sagesim/install-packages.sh
RUN R_PACKAGES="${R_PACKAGES}" SYSTEM_PACKAGES="${SYSTEM_PACKAGES}" R_REPOS="${R_REPOS}" \
    sh /usr/local/lib/sagesim/install-packages.sh

ENV LANG=C.UTF-8
ENTRYPOINT ["Rscript"]
CMD ["-e", "sagesim::run_worker()"]
