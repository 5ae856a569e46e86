# syntax=docker/dockerfile:1
# jitpe's container image: ghcr.io/jitpe/jitpe:<version> (README "Container image").
#
#   docker build -t ghcr.io/jitpe/jitpe:0.1.0 .
#   buildah bud -t ghcr.io/jitpe/jitpe:0.1.0 .
#
# Two stages: the official Rust image builds one statically linked binary, and the image itself
# is that binary with a few files (image/rootfs.sh) on an empty base: no shell, no package
# manager, no libc, running as uid/gid 65532. CI cannot pull the base images, so .ci/build-image
# builds this file's final stage literally (only its `--from=build` sources replaced by the files
# image/rootfs.sh lays out from CI's own build) and runs jitpe from that image.

# The toolchain CI tests with (Cargo.toml's rust-version is the minimum), on Debian bookworm, whose
# glibc 2.36 is the one CI links statically too.
FROM rust:1.95.0-bookworm AS build
WORKDIR /src
COPY . .
# Static glibc (`crt-static`) rather than the musl target: the same libc, allocator and resolver
# as CI's build, and no second target to install. glibc >= 2.34 resolves names from /etc/hosts
# and DNS without loading NSS modules, which is all a container needs. The flag is given to the
# final link only (`cargo rustc -- ...`), so the dependencies build as in any release build.
# The cache mounts keep the registry and target/ between builds; the binary leaves target/ (a
# cache mount) through image/rootfs.sh in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo rustc --release --locked --bin jitpe -- -C target-feature=+crt-static \
    && image/rootfs.sh target/release/jitpe /image

# The image. .ci/build-image builds from this stage on: keep it to instructions that need no shell
# (no RUN), and its files coming from /image of the build stage.
FROM scratch
# Keep equal to Cargo.toml's version (.ci/build-image checks it); a release passes its own with
# --build-arg VERSION=...
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="jitpe" \
      org.opencontainers.image.description="Just-in-time Kubernetes access granted from Slack or Mattermost, with approvals, expiry and a hash-chained audit log" \
      org.opencontainers.image.source="https://github.com/jitpe/jitpe" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /image/rootfs/ /
# The store's directory (store.path or JITPE_STORE_PATH), the only one jitpe writes to; in
# Kubernetes a volume is mounted here and the root filesystem is read-only.
COPY --from=build --chown=65532:65532 /image/data/ /var/lib/jitpe/
USER 65532:65532
# A relative store.path (the example's "./data/jitpe") lands in the data directory.
WORKDIR /var/lib/jitpe
# http (server.listen), https (server.tls.listen), metrics.
EXPOSE 8080 8443 9090
ENTRYPOINT ["/usr/local/bin/jitpe"]
