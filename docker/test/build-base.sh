#!/bin/sh
# Builds the local base image the compose test uses instead of python:3.11-slim (no registry can be
# reached here): Debian bookworm by debootstrap, with python3 3.11, venv, pip and CA certificates.
#   docker/test/build-base.sh [IMAGE]      (default regsweep-base:local; skipped if it exists)
set -eu
IMAGE="${1:-regsweep-base:local}"
if docker image inspect "$IMAGE" >/dev/null 2>&1; then echo "$IMAGE exists"; exit 0; fi
MIRROR="$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
ROOTFS="$(mktemp -d /tmp/regsweep-rootfs.XXXXXX)"
trap 'rm -rf "$ROOTFS"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
  bookworm "$ROOTFS" "$MIRROR" >/tmp/regsweep-debootstrap.log 2>&1 \
  || { tail -n 20 /tmp/regsweep-debootstrap.log >&2; exit 1; }
cp /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/ca-certificates.crt"  # pip's TLS here
# The same Debian mirror inside, for images that apt-get install on top (the test's Postgres).
cp /etc/apt/sources.list.d/debian.sources "$ROOTFS/etc/apt/sources.list.d/" 2>/dev/null || true
rm -rf "$ROOTFS/var/cache/apt/archives/"*.deb
tar -C "$ROOTFS" -c . | docker import - "$IMAGE" >/dev/null
echo "built $IMAGE"
