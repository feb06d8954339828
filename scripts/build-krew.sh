#!/usr/bin/env bash
# Builds krew and its manifest validator (pinned in scripts/versions.env) into
# .cache/bin/krew-<version>/ and prints that folder. Private Go caches are removed afterwards.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/versions.env"
dir="$root/.cache/bin/krew-$KREW_VERSION"
if [ -x "$dir/krew" ] && [ -x "$dir/validate-krew-manifest" ]; then
  echo "$dir"
  exit 0
fi
work="$root/.cache/build-krew"
export GOMODCACHE="$work/gomod" GOCACHE="$work/gocache" GOFLAGS="-buildvcs=false -mod=mod" GOTOOLCHAIN=local
# `go install pkg@version` asks the proxy for krew's version list, which it refuses: build the
# pinned version inside a module of our own instead.
rm -rf "$work/mod" && mkdir -p "$work/mod" "$dir.tmp"
cd "$work/mod"
printf 'module kubectl-secrets.local/krew\n\ngo 1.22\n\nrequire sigs.k8s.io/krew %s\n' "$KREW_VERSION" > go.mod
printf '//go:build tools\npackage tools\nimport (\n  _ "sigs.k8s.io/krew/cmd/krew"\n  _ "sigs.k8s.io/krew/cmd/validate-krew-manifest"\n)\n' > tools.go
echo "build-krew: building krew $KREW_VERSION" >&2
go mod tidy >&2
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$dir.tmp/" sigs.k8s.io/krew/cmd/krew sigs.k8s.io/krew/cmd/validate-krew-manifest >&2
GOBIN="$dir.tmp"
rm -rf "$dir" && mv "$GOBIN" "$dir"
chmod -R u+w "$work" && rm -rf "$work"
echo "$dir"
