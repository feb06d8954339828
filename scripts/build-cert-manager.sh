#!/usr/bin/env bash
# Builds cert-manager's controllers (pinned in scripts/versions.env) into the per-user store
# (scripts/lib/store.sh) with the release's CRDs beside them, and prints the entry.
#
# The release's controller main is the nested module cmd/controller, which the Go module proxy
# does not serve; scripts/testbed/cert-manager/main.go runs the same registered controllers from
# the main module (SelfSigned and CA issuers only: the Venafi issuer needs a module the proxy
# does not serve either).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/versions.env"
source "$root/scripts/lib/store.sh"
source "$root/scripts/lib/gobuild.sh"
module=github.com/cert-manager/cert-manager
main="$root/scripts/testbed/cert-manager/main.go"
if store_open cert-manager "$CERT_MANAGER_VERSION" "$0" "$main" $(gobuild_recipe); then
  echo "$store_entry"
  exit 0
fi
gobuild_start cert-manager
gobuild_module cert-manager 1.26.0 "$module@$CERT_MANAGER_VERSION"
cp "$main" main.go
echo "build-cert-manager: building cert-manager $CERT_MANAGER_VERSION's controllers (cold: about 4 minutes)" >&2
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$store_tmp/cert-manager-controller" . >&2
release="$GOMODCACHE/$module@$CERT_MANAGER_VERSION"
for f in "$release"/deploy/crds/*.yaml; do
  echo "---"; grep -v '^---$' "$f"
done > "$store_tmp/crds.yaml"
gobuild_finish
store_publish
echo "$store_entry"
