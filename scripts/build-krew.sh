#!/usr/bin/env bash
# Builds krew and its manifest validator (pinned in scripts/versions.env) into
# .cache/bin/krew-<version>/ and prints that folder.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/versions.env"
source "$root/scripts/lib/gobuild.sh"
dir="$root/.cache/bin/krew-$KREW_VERSION"
if [ -x "$dir/krew" ] && [ -x "$dir/validate-krew-manifest" ]; then
  echo "$dir"
  exit 0
fi
gobuild_start krew "$dir"
gobuild_module krew 1.22 "sigs.k8s.io/krew@$KREW_VERSION"
gobuild_tools sigs.k8s.io/krew/cmd/krew sigs.k8s.io/krew/cmd/validate-krew-manifest
echo "build-krew: building krew $KREW_VERSION" >&2
go mod tidy >&2
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$dir.tmp/" sigs.k8s.io/krew/cmd/krew sigs.k8s.io/krew/cmd/validate-krew-manifest >&2
gobuild_finish
echo "$dir"
