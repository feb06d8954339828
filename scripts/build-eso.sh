#!/usr/bin/env bash
# Builds the External Secrets Operator controller (pinned in scripts/versions.env) into
# .cache/bin/eso-<version>/ with its CRDs beside it, and prints that folder. Private Go caches
# are removed afterwards (they reach about 5 GB).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/versions.env"
dir="$root/.cache/bin/eso-$EXTERNAL_SECRETS_VERSION"
if [ -x "$dir/external-secrets" ] && [ -f "$dir/crds.yaml" ]; then
  echo "$dir"
  exit 0
fi
command -v go >/dev/null || { echo "build-eso: Go is required (apt-get install golang, or see README)" >&2; exit 1; }
work="$root/.cache/build-eso"
export GOMODCACHE="$work/gomod" GOCACHE="$work/gocache" GOFLAGS="-buildvcs=false -mod=mod" GOTOOLCHAIN=local
rm -rf "$work/mod" && mkdir -p "$work/mod" "$dir.tmp"
cd "$work/mod"
printf 'module kubectl-secrets.local/eso\n\ngo 1.24\n\nrequire github.com/external-secrets/external-secrets %s\n' \
  "$EXTERNAL_SECRETS_VERSION" > go.mod
printf '//go:build tools\npackage tools\nimport _ "github.com/external-secrets/external-secrets"\n' > tools.go
echo "build-eso: building External Secrets Operator $EXTERNAL_SECRETS_VERSION (cold: about 5 minutes)" >&2
go mod tidy >&2
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$dir.tmp/external-secrets" github.com/external-secrets/external-secrets >&2
# The CRDs of the same release, as its bundle ships them (no conversion webhook in the bases).
src="$GOMODCACHE/github.com/external-secrets/external-secrets@$EXTERNAL_SECRETS_VERSION/config/crds/bases"
for f in "$src"/*.yaml; do
  [ "$(basename "$f")" = kustomization.yaml ] && continue
  echo "---"; cat "$f"
done > "$dir.tmp/crds.yaml"
rm -rf "$dir" && mv "$dir.tmp" "$dir"
chmod -R u+w "$work" && rm -rf "$work"
echo "$dir"
