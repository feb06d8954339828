#!/usr/bin/env bash
# Builds the External Secrets Operator controller (pinned in scripts/versions.env) into
# .cache/bin/eso-<version>/ with its CRDs beside it, and prints that folder.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/versions.env"
source "$root/scripts/lib/gobuild.sh"
dir="$root/.cache/bin/eso-$EXTERNAL_SECRETS_VERSION"
if [ -x "$dir/external-secrets" ] && [ -f "$dir/crds.yaml" ]; then
  echo "$dir"
  exit 0
fi
gobuild_start eso "$dir"
gobuild_module eso 1.24 "github.com/external-secrets/external-secrets@$EXTERNAL_SECRETS_VERSION"
gobuild_tools github.com/external-secrets/external-secrets
echo "build-eso: building External Secrets Operator $EXTERNAL_SECRETS_VERSION (cold: about 5 minutes)" >&2
go mod tidy >&2
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$dir.tmp/external-secrets" github.com/external-secrets/external-secrets >&2
# The CRDs of the same release, as its bundle ships them (no conversion webhook in the bases).
src="$GOMODCACHE/github.com/external-secrets/external-secrets@$EXTERNAL_SECRETS_VERSION/config/crds/bases"
for f in "$src"/*.yaml; do
  [ "$(basename "$f")" = kustomization.yaml ] && continue
  echo "---"; cat "$f"
done > "$dir.tmp/crds.yaml"
gobuild_finish
echo "$dir"
