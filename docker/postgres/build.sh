#!/usr/bin/env bash
# Build ormbench's PostgreSQL 15 image without any registry: a Debian root filesystem made by
# debootstrap from the mirror apt uses, `docker import`ed, then this directory's Dockerfile.
#
#   docker/postgres/build.sh              build (or find) the image; prints its tag last
#   docker/postgres/build.sh --print-tag  only print the tag this recipe builds
#
# The tag is keyed by this recipe's content (ormbench-postgres:15-<hash>), so an edited recipe
# builds a new image and an unchanged one is found again. Needs root (debootstrap), debootstrap
# and a Docker engine (DOCKER_HOST is honoured). Environment:
#   ORMBENCH_DEBIAN_MIRROR  mirror for debootstrap (default: the first Debian URI apt uses)
#   ORMBENCH_IMAGE_CACHE    directory keeping `docker save` tarballs: loaded instead of rebuilt
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
suite=bookworm

hash=$(cd "$here" && cat Dockerfile docker-entrypoint.sh build.sh | sha256sum | cut -c1-12)
tag="ormbench-postgres:15-$hash"
if [ "${1:-}" = --print-tag ]; then
  echo "$tag"
  exit 0
fi

if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "$tag"
  exit 0
fi
cache=${ORMBENCH_IMAGE_CACHE:-}
tarball="$cache/${tag/:/-}.tar"
if [ -n "$cache" ] && [ -s "$tarball" ]; then
  docker load -q -i "$tarball" >&2
  echo "$tag"
  exit 0
fi

mirror() {
  # The first URI of a deb822 source or a one-line source that serves the suite, else Debian's CDN.
  local uri
  uri=$(awk '/^URIs:/ {u=$2} /^Suites:/ && /(^| )'"$suite"'( |$)/ && u {print u; exit}' \
    /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [ -n "$uri" ] || uri=$(awk '$1=="deb" && $3=="'"$suite"'" {print $2; exit}' \
    /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
  echo "${uri:-http://deb.debian.org/debian}"
}
source_mirror=${ORMBENCH_DEBIAN_MIRROR:-$(mirror)}

work=$(mktemp -d /tmp/ormbench-image.XXXXXX)
trap 'rm -rf "$work"' EXIT
start=$SECONDS
echo "build.sh: debootstrap $suite + postgresql-15 from $source_mirror (a few minutes)" >&2
debootstrap --variant=minbase --include=postgresql-15 "$suite" "$work/root" "$source_mirror" \
  >"$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
# The package's "main" cluster and caches: the entrypoint makes its own cluster in PGDATA.
rm -rf "$work/root/var/lib/postgresql/15" "$work/root/etc/postgresql/15" \
  "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"* \
  "$work/root/usr/share/doc" "$work/root/usr/share/man"
echo "build.sh: rootfs in $((SECONDS - start)) s; docker import" >&2
base="ormbench-debian-rootfs:$suite-$hash"
tar -C "$work/root" -c . | docker import - "$base" >/dev/null
mkdir "$work/context"
cp "$here/Dockerfile" "$here/docker-entrypoint.sh" "$work/context/"
docker build -q --build-arg "BASE=$base" -t "$tag" "$work/context" >"$work/build.log" 2>&1 ||
  { cat "$work/build.log" >&2; exit 1; }
docker rmi "$base" >/dev/null  # only the tag goes: the image keeps the layer
if [ -n "$cache" ]; then
  mkdir -p "$cache"
  rm -f "$cache"/ormbench-postgres-15-*.tar  # images of older recipes
  docker save -o "$tarball.tmp" "$tag" && mv "$tarball.tmp" "$tarball"
fi
echo "build.sh: $tag built in $((SECONDS - start)) s" >&2
echo "$tag"
