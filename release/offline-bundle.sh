#!/usr/bin/env bash
# Packs the Go modules that `make build` and `make test` need on linux/amd64
# and linux/arm64 into BUNDLE (a tar.gz of a module download cache), so that
# crosscheck builds on a machine without network:
#   mkdir -p /opt/crosscheck-gomod && tar -xzf crosscheck-offline-bundle.tar.gz -C /opt/crosscheck-gomod
#   GOMODCACHE=/opt/crosscheck-gomod GOPROXY=off GOTOOLCHAIN=local make build test
# Called by `make offline-bundle`. Only the download cache (zips, go.mod and
# info files) is packed: Go extracts the zips itself on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${BUNDLE:=dist/crosscheck-offline-bundle.tar.gz}"
: "${GO:=go}"
export GOFLAGS="${GOFLAGS:--tags=duckdb_arrow -buildvcs=false}"

cache=$(mktemp -d)
trap 'chmod -R u+w "$cache"; rm -rf "$cache"' EXIT

# Resolving every package of the build and the tests for both platforms
# fetches exactly their modules (the other platforms' DuckDB libraries are
# left out: only their go.mod files are needed).
for arch in amd64 arm64; do
  GOMODCACHE=$cache GOOS=linux GOARCH=$arch CGO_ENABLED=1 GOFLAGS="$GOFLAGS -mod=mod" \
    $GO list -deps -test ./... >/dev/null
done

{
  echo "crosscheck offline module bundle"
  echo "made:   $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)"
  echo "go.sum: $(sha256sum go.sum | cut -d' ' -f1)"
  echo "go:     $($GO env GOVERSION)"
  echo
  echo "Unpack into an empty folder and build with"
  echo "  GOMODCACHE=FOLDER GOPROXY=off GOTOOLCHAIN=local make build test"
} >"$cache/BUNDLE-INFO.txt"

mkdir -p "$(dirname "$BUNDLE")"
tar --sort=name --owner=0 --group=0 --numeric-owner -C "$cache" -czf "$BUNDLE" BUNDLE-INFO.txt cache/download
echo "offline-bundle: $BUNDLE ($(du -h "$BUNDLE" | cut -f1); unpacked download cache $(du -sh "$cache/cache/download" | cut -f1))"
