#!/usr/bin/env bash
# scripts/packer-tools.sh [BINDIR [TOOL...]]: build Packer, packer-plugin-amazon and the plugin
# SDK's code generator packer-sdc from the Go module proxy into BINDIR (./bin by
# default), once. TOOLs: packer, amazon, sdc (default: all three). The packer-plugin end-to-end
# test drives these two real binaries. Debian's packer (1.6.6) cannot run SDK
# plugins, and `go install` refuses these modules (the proxy withholds their
# version lists), but the exact module versions download; so: download, copy the
# module out of the read-only cache, build. A binary already present is kept.
set -euo pipefail
BIN=${1:-$(cd "$(dirname "$0")/.." && pwd)/bin}
shift || true
TOOLS=${*:-packer amazon sdc}
PACKER_VERSION=${PACKER_VERSION:-v1.16.0}
AMAZON_VERSION=${AMAZON_VERSION:-v1.8.2}
GO=${GO:-go}
mkdir -p "$BIN"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CHECKPOINT_DISABLE=1

# build MODULE VERSION OUTPUT [PACKAGE]: download MODULE@VERSION and build its
# main package (./PACKAGE, default the module root). `go install MODULE@VERSION`
# would not do: Packer's go.mod carries a replace directive, which go install refuses.
build() {
  local mod=$1 ver=$2 out=$3 pkg=${4:-.} work="" dir=""
  if [ -x "$out" ]; then echo "packer-tools: $out present"; return; fi
  work=$(mktemp -d)
  echo "packer-tools: building $mod@$ver into $out (minutes on a cold build cache)"
  dir=$(cd "$work" && GO111MODULE=on "$GO" mod download -json "$mod@$ver" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -n "$dir" ] && [ -d "$dir" ] || { echo "packer-tools: could not download $mod@$ver" >&2; return 1; }
  cp -r "$dir" "$work/src"
  chmod -R u+w "$work/src"
  (cd "$work/src" && "$GO" build -trimpath -o "$out.tmp" "$pkg")
  mv "$out.tmp" "$out"
  rm -rf "$work"
}

for tool in $TOOLS; do
  case $tool in
  packer) build github.com/hashicorp/packer "$PACKER_VERSION" "$BIN/packer" ;;
  amazon) build github.com/hashicorp/packer-plugin-amazon "$AMAZON_VERSION" "$BIN/packer-plugin-amazon" ;;
  sdc)
    # packer-sdc at the version of the SDK in go.mod, for `go generate ./packer-plugin/...`.
    SDK_VERSION=${SDK_VERSION:-$(cd "$(dirname "$0")/.." && GOFLAGS= "$GO" list -m -f '{{.Version}}' github.com/hashicorp/packer-plugin-sdk)}
    build github.com/hashicorp/packer-plugin-sdk "$SDK_VERSION" "$BIN/packer-sdc" ./cmd/packer-sdc ;;
  *) echo "packer-tools: unknown tool $tool (packer, amazon, sdc)" >&2; exit 2 ;;
  esac
done
