#!/usr/bin/env bash
# Lays out the files of jitpe's container image in OUT/rootfs (everything owned by root) and
# OUT/data (the empty data directory the image gives to uid 65532). One recipe for both builds:
# the Dockerfile's build stage runs it, and so does .ci/build-image, so the image CI runs and the
# image `docker build` ships hold the same files.
#
#   image/rootfs.sh BINARY OUT
#
# The image has no shell, no package manager and no libc: BINARY must be statically linked (the
# Dockerfile and .ci/build-image link it with `-C target-feature=+crt-static`). Static glibc
# (>= 2.34) resolves names through /etc/hosts and /etc/resolv.conf without loading NSS modules,
# so nothing else is needed for Slack, Mattermost or the apiserver by name.
set -euo pipefail

die() { echo "image/rootfs.sh: $*" >&2; exit 1; }

[[ $# -eq 2 ]] || die "usage: image/rootfs.sh BINARY OUT"
binary=$1 out=$2
# The Debian bundle of the ca-certificates package: rustls' native roots (kube-rs, for a
# kubeconfig without its own CA) read it; reqwest carries its own (webpki-roots).
ca_bundle=${JITPE_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}

[[ -f $binary ]] || die "$binary: no such file (build jitpe first)"
[[ -f $ca_bundle ]] || die "$ca_bundle: no such file (apt-get install ca-certificates, or set JITPE_CA_BUNDLE)"
command -v readelf >/dev/null || die "readelf is needed to check the binary is static (apt-get install binutils)"
# A dynamic binary would fail in the image with a bare "no such file or directory" (its loader
# is missing): refuse it here, where the reason can be said. Static binaries have neither a
# program interpreter nor needed libraries.
if readelf -lW "$binary" | grep -q 'Requesting program interpreter' ||
    readelf -dW "$binary" | grep -q '(NEEDED)'; then
    die "$binary is dynamically linked; link it with RUSTFLAGS/-C target-feature=+crt-static (see the Dockerfile)"
fi

rm -rf "$out/rootfs" "$out/data"
mkdir -p "$out/rootfs" "$out/data"
root=$out/rootfs
# /var/lib here, owned by root: a COPY --chown of the data directory would create missing parents
# with its owner (buildah does), giving /var and /var/lib to 65532.
install -d -m 0755 "$root/usr/local/bin" "$root/etc/ssl/certs" "$root/var/lib"
install -m 0755 "$binary" "$root/usr/local/bin/jitpe"
install -m 0644 "$ca_bundle" "$root/etc/ssl/certs/ca-certificates.crt"
# The user the image runs as (65532, "nonroot" as in the distroless images), so tools that map
# ids to names show one; its home is the data directory, the only place it may write.
printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' \
    'nonroot:x:65532:65532:nonroot:/var/lib/jitpe:/sbin/nologin' >"$root/etc/passwd"
printf '%s\n' 'root:x:0:' 'nonroot:x:65532:' >"$root/etc/group"
# Files before DNS, as glibc's default would do anyway; written down so it does not depend on it.
printf '%s\n' 'passwd: files' 'group: files' 'hosts: files dns' >"$root/etc/nsswitch.conf"
# Container runtimes (Kubernetes, Docker) mount their own /etc/hosts over this one; it is there
# so that `localhost` resolves when the root filesystem is used as is (chroot, as CI does).
printf '%s\n' '127.0.0.1 localhost' '::1 localhost ip6-localhost ip6-loopback' >"$root/etc/hosts"
chmod 0644 "$root/etc/passwd" "$root/etc/group" "$root/etc/nsswitch.conf" "$root/etc/hosts"
chmod 0755 "$out/data"
