#!/usr/bin/env bash
# Builds the release archives for linux/amd64 and linux/arm64 into DIST:
#   crosscheck_VERSION_linux_ARCH.tar.gz   binary, README, docs/, the example, licences
#   crosscheck_VERSION_linux_ARCH.cdx.json CycloneDX SBOM of the Go modules in that binary
#   SHA256SUMS
# Called by `make release VERSION=x.y.z`; the variables below come from the Makefile.
# The arm64 binary is cross-compiled with Debian's aarch64-linux-gnu toolchain
# against duckdb-go-bindings' linux-arm64 static library (in go.mod).
set -euo pipefail
cd "$(dirname "$0")/.."

: "${VERSION:?VERSION is required, e.g. make release VERSION=1.2.3}"
: "${COMMIT:=unknown}"
: "${BUILD_DATE:=$(date -u +%Y-%m-%dT%H:%M:%SZ)}"
: "${DIST:=dist}"
: "${GO:=go}"
: "${ARCHES:=amd64 arm64}"
# The SBOM tool, run through the Go module proxy (pinned).
: "${CYCLONEDX_GOMOD:=github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@v1.10.0}"
export GOFLAGS="${GOFLAGS:--tags=duckdb_arrow -buildvcs=false}"

# Reproducible archives: file times are the commit's time.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}

pkg=github.com/crosscheck/crosscheck
ldflags="-s -w -X $pkg/engine.Version=$VERSION -X main.commit=$COMMIT -X main.buildDate=$BUILD_DATE"

mkdir -p "$DIST"
rm -f "$DIST"/crosscheck_*_linux_*.tar.gz "$DIST"/crosscheck_*_linux_*.cdx.json "$DIST/SHA256SUMS"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cross_cc() {
  case "$1" in
    amd64) echo "${CC_AMD64:-gcc} ${CXX_AMD64:-g++}" ;;
    arm64) echo "${CC_ARM64:-aarch64-linux-gnu-gcc} ${CXX_ARM64:-aarch64-linux-gnu-g++}" ;;
    *) echo "unsupported architecture $1" >&2; exit 2 ;;
  esac
}

# third_party_licences ARCH DEST copies the licence files of every module
# compiled into the binary for ARCH.
third_party_licences() {
  local arch=$1 dest=$2 path version dir n=0
  while IFS=$'\t' read -r path version dir; do
    [ -n "$dir" ] || continue
    local files
    files=$(find "$dir" -maxdepth 1 -type f \( -iname 'LICENSE*' -o -iname 'LICENCE*' -o -iname 'COPYING*' -o -iname 'NOTICE*' -o -iname 'PATENTS*' \) | sort)
    if [ -z "$files" ]; then
      echo "release: module $path $version has no licence file" >&2
      exit 1
    fi
    mkdir -p "$dest/$path"
    # shellcheck disable=SC2086
    cp $files "$dest/$path/"
    printf '%s %s\n' "$path" "$version" >>"$dest/MODULES.txt"
    n=$((n + 1))
  done < <(GOOS=linux GOARCH=$arch CGO_ENABLED=1 $GO list -deps \
    -f '{{with .Module}}{{if not .Main}}{{.Path}}{{"\t"}}{{.Version}}{{"\t"}}{{.Dir}}{{end}}{{end}}' ./cmd/crosscheck | sort -u)
  echo "release: linux/$arch: licences of $n modules"
}

for arch in $ARCHES; do
  read -r cc cxx < <(cross_cc "$arch")
  name=crosscheck_${VERSION}_linux_${arch}
  root=$work/$name
  mkdir -p "$root"
  echo "release: building $name with $cc"
  # libstdc++ and libgcc go into the binary; only glibc stays dynamic.
  # DuckDB's cgo flags say -lstdc++, which -static-libstdc++ does not
  # change: a folder holding only libstdc++.a, searched first, makes the
  # linker take the archive.
  static=$work/static-$arch
  mkdir -p "$static"
  ln -sf "$($cxx -print-file-name=libstdc++.a)" "$static/libstdc++.a"
  CC=$cc CXX=$cxx CGO_ENABLED=1 GOOS=linux GOARCH=$arch \
    $GO build -trimpath -ldflags "$ldflags -extldflags '-L$static -static-libstdc++ -static-libgcc'" \
    -o "$root/crosscheck" ./cmd/crosscheck
  echo "release: $name: needs $(objdump -T "$root/crosscheck" | grep -o 'GLIBC_[0-9.]*' | sort -Vu | tail -1)," \
    "$(readelf -d "$root/crosscheck" | grep -o 'NEEDED.*' | grep -o '\[.*\]' | tr '\n' ' ')"

  cp README.md "$root/"
  cp -r docs "$root/docs"
  mkdir -p "$root/examples"
  # The example without its generator (Go source the binary does not need).
  cp -r examples/henan-sample "$root/examples/henan-sample"
  rm -rf "$root/examples/henan-sample/gen" "$root/examples/henan-sample/out"

  # Licences: the data embedded in the binary, then the third-party code.
  for d in identity/pinyin/data normalize/names/data benchmarks/gen/data; do
    mkdir -p "$root/LICENSES/embedded-data/$d"
    find "$d" -maxdepth 1 -type f \( -name '*NOTES*.md' -o -name 'LICENSE*' \) -exec cp {} "$root/LICENSES/embedded-data/$d/" \;
  done
  third_party_licences "$arch" "$root/LICENSES/third-party"

  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
    -C "$work" -czf "$DIST/$name.tar.gz" "$name"

  # SBOM of the Go modules linked into this binary (read from its build
  # information, as `go version -m` shows it).
  GOFLAGS= $GO run "$CYCLONEDX_GOMOD" bin -json -version "$VERSION" -output "$DIST/$name.cdx.json" "$root/crosscheck"
done

(cd "$DIST" && sha256sum -- crosscheck_"${VERSION}"_linux_*.tar.gz crosscheck_"${VERSION}"_linux_*.cdx.json >SHA256SUMS)
echo "release: $DIST"
ls -l "$DIST"
