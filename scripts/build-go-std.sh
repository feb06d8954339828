#!/usr/bin/env bash
# Go's standard library compiled once per toolchain, with the flags every build of the bed uses
# (CGO_ENABLED=0 -trimpath), into the store (scripts/lib/store.sh); prints the entry, whose
# cache/ each Go build copies into its private build cache.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/lib/store.sh"
version=$(GOTOOLCHAIN=local go env GOVERSION)
if store_open go-std "$version" "$0"; then echo "$store_entry"; exit 0; fi
echo "build: compiling Go's standard library once for every build here ($version)" >&2
(cd "$store_tmp" && GOTOOLCHAIN=local GOFLAGS=-buildvcs=false GOCACHE="$store_tmp/cache" CGO_ENABLED=0 go build -trimpath std >&2)
store_publish
echo "$store_entry"
