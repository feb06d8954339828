#!/usr/bin/env bash
# Builds actionlint (pinned in scripts/versions.env) into .cache/bin/actionlint-<version>/ and
# prints the binary's path. Private Go caches are removed afterwards.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/versions.env"
dir="$root/.cache/bin/actionlint-$ACTIONLINT_VERSION"
if [ -x "$dir/actionlint" ]; then
  echo "$dir/actionlint"
  exit 0
fi
work="$root/.cache/build-actionlint"
export GOMODCACHE="$work/gomod" GOCACHE="$work/gocache" GOFLAGS="-buildvcs=false -mod=mod" GOTOOLCHAIN=local
rm -rf "$work/mod" && mkdir -p "$work/mod" "$dir.tmp"
cd "$work/mod"
printf 'module kubectl-secrets.local/actionlint\n\ngo 1.22\n\nrequire github.com/rhysd/actionlint %s\n' "$ACTIONLINT_VERSION" > go.mod
printf '//go:build tools\npackage tools\nimport _ "github.com/rhysd/actionlint/cmd/actionlint"\n' > tools.go
echo "build-actionlint: building actionlint $ACTIONLINT_VERSION" >&2
go mod tidy >&2
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$dir.tmp/actionlint" github.com/rhysd/actionlint/cmd/actionlint >&2
rm -rf "$dir" && mv "$dir.tmp" "$dir"
chmod -R u+w "$work" && rm -rf "$work"
echo "$dir/actionlint"
