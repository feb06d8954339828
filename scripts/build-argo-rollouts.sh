#!/usr/bin/env bash
# Builds the Argo Rollouts controller (pinned in scripts/versions.env) into
# the per-user store (scripts/lib/store.sh) with its CRDs beside it, and prints the entry.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/versions.env"
source "$root/scripts/lib/store.sh"
source "$root/scripts/lib/gobuild.sh"
if store_open argo-rollouts "$ARGO_ROLLOUTS_VERSION" "$0" "$root/scripts/lib/gobuild.sh" "go:$ARGO_ROLLOUTS_GO_TOOLCHAIN"; then
  echo "$store_entry"
  exit 0
fi
# Its go.mod asks for a newer Go than the machine's: the proxy serves that toolchain.
gobuild_start argo-rollouts "$ARGO_ROLLOUTS_GO_TOOLCHAIN"
module=github.com/argoproj/argo-rollouts
gobuild_module argo-rollouts 1.26 "$module@$ARGO_ROLLOUTS_VERSION"
# Like Kubernetes itself it points the k8s.io staging modules at v0.0.0 and replaces them with
# published versions: its own replace block is copied.
go mod download -json "$module@$ARGO_ROLLOUTS_VERSION" >/dev/null
{ echo; sed -n '/^replace (/,/^)/p' "$GOMODCACHE/cache/download/$module/@v/$ARGO_ROLLOUTS_VERSION.mod"; } >> go.mod
echo "build-argo-rollouts: building Argo Rollouts $ARGO_ROLLOUTS_VERSION (cold: about 3 minutes)" >&2
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$store_tmp/rollouts-controller" "$module/cmd/rollouts-controller" >&2
# The CRDs of the same release.
for f in "$GOMODCACHE/$module@$ARGO_ROLLOUTS_VERSION"/manifests/crds/*-crd.yaml; do
  echo "---"; cat "$f"
done > "$store_tmp/crds.yaml"
gobuild_finish
store_publish
echo "$store_entry"
