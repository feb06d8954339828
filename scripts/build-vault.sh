#!/usr/bin/env bash
# Builds HashiCorp Vault's server (pinned in scripts/versions.env) into the per-user store
# (scripts/lib/store.sh), and prints the entry.
#
# v1.13.0 is the newest release that builds from what the Go module proxy serves: as a
# dependency, Vault's module replaces its `api` and `sdk` with the copies in its own tree, so
# only a release whose go.mod requires tagged api and sdk versions, the same as those copies,
# compiles (later 1.13 patches carry backports no tagged sdk has; 1.14 and later, and 1.12 and
# earlier, require commit pseudo-versions the proxy refuses). It is MPL-2.0 (the Business Source
# License begins with 1.15).
#
# The server is the release's own main and code, except three lists that link every cloud SDK
# Vault supports (scripts/lib/go-trim-imports.py drops the entries and their imports): the
# builtin plugin catalog keeps the KV engine only (token auth, the system backend and the
# cubbyhole are Vault's core), the CLI's storage backends keep file, in-memory and raft (dev
# mode runs in memory), its login methods keep token and userpass, and the agent's auto-auth
# methods keep approle and token files. What the bed runs — a dev server with KV v2 at secret/,
# the CLI's kv, metadata and token commands — is unchanged code; the build takes about a third
# of the time.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/versions.env"
source "$root/scripts/lib/store.sh"
source "$root/scripts/lib/gobuild.sh"
module=github.com/hashicorp/vault
if store_open vault "$VAULT_VERSION" "$0" $(gobuild_recipe) "$root/scripts/lib/go-trim-imports.py" \
  "api:$VAULT_API_VERSION" "sdk:$VAULT_SDK_VERSION"; then
  echo "$store_entry"
  exit 0
fi
gobuild_start vault
release=$(go mod download -json "$module@$VAULT_VERSION" | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
src="$gobuild_work/src"
cp -r "$release" "$src" && chmod -R u+w "$src"
trim() { python3 "$root/scripts/lib/go-trim-imports.py" "$src/$1" "$2" "${3:-}" >&2; }
trim helper/builtinplugins/registry.go '^github\.com/hashicorp/vault(-plugin-|/builtin/|/plugins/)' 'vault-plugin-secrets-kv$'
trim command/commands.go '^github\.com/hashicorp/vault(-plugin-auth|/builtin/credential/|/builtin/logical/|/physical/|/serviceregistration/)' \
  '/credential/(token|userpass)$|/physical/raft$'
trim command/agent.go '^github\.com/hashicorp/vault/command/agent/auth/(alicloud|aws|azure|cert|cf|gcp|jwt|kerberos|kubernetes)$'
gobuild_module vault 1.21 "$module@$VAULT_VERSION" "$module/api@$VAULT_API_VERSION" "$module/sdk@$VAULT_SDK_VERSION"
printf '\nreplace %s => %s\n' "$module" "$src" >>go.mod
echo "build-vault: building Vault $VAULT_VERSION's server, its plugin catalog cut to KV (cold: about 6 minutes on 2 cores)" >&2
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$store_tmp/vault" "$module" >&2
gobuild_finish
store_publish
echo "$store_entry"
