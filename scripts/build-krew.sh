#!/usr/bin/env bash
# Builds krew and its manifest validator (pinned in scripts/versions.env) into
# the per-user store (scripts/lib/store.sh) and prints the entry.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/versions.env"
source "$root/scripts/lib/store.sh"
source "$root/scripts/lib/gobuild.sh"
if store_open krew "$KREW_VERSION" "$0" $(gobuild_recipe); then
  echo "$store_entry"
  exit 0
fi
gobuild_start krew
gobuild_module krew 1.22 "sigs.k8s.io/krew@$KREW_VERSION"
echo "build-krew: building krew $KREW_VERSION" >&2
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$store_tmp/" sigs.k8s.io/krew/cmd/krew sigs.k8s.io/krew/cmd/validate-krew-manifest >&2
gobuild_finish
store_publish
echo "$store_entry"
