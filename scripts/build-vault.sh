#!/usr/bin/env bash
# Builds HashiCorp Vault's server (pinned in scripts/versions.env) into the per-user store
# (scripts/lib/store.sh), and prints the entry.
#
# v1.13.0 is the newest release that builds from what the Go module proxy serves: as a
# dependency, Vault's module replaces its `api` and `sdk` with the copies in its own tree, so
# only a release whose go.mod requires tagged api and sdk versions, the same as those copies,
# compiles (later 1.13 patches carry backports no tagged sdk has; 1.14 and later, and 1.12 and
# earlier, require commit pseudo-versions the proxy refuses). It is MPL-2.0 (the Business Source
# License begins with 1.15). The server is the release's own main, built as published.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/versions.env"
source "$root/scripts/lib/store.sh"
source "$root/scripts/lib/gobuild.sh"
module=github.com/hashicorp/vault
if store_open vault "$VAULT_VERSION" "$0" $(gobuild_recipe) "api:$VAULT_API_VERSION" "sdk:$VAULT_SDK_VERSION"; then
  echo "$store_entry"
  exit 0
fi
gobuild_start vault
gobuild_module vault 1.21 "$module@$VAULT_VERSION" "$module/api@$VAULT_API_VERSION" "$module/sdk@$VAULT_SDK_VERSION"
gobuild_tools "$module/command"
echo "build-vault: building Vault $VAULT_VERSION's server (cold: about 11 minutes on 2 cores)" >&2
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$store_tmp/vault" "$module" >&2
gobuild_finish
store_publish
echo "$store_entry"
