#!/usr/bin/env bash
# Builds the External Secrets Operator controller (pinned in scripts/versions.env) into
# the per-user store (scripts/lib/store.sh) with its CRDs beside it, and prints the entry.
#
# Only the providers the tests use are compiled in (ESO_PROVIDERS): ESO registers its ~35
# providers and 12 generators through two import lists (pkg/provider/register and
# pkg/generator/register), and every cloud SDK behind them is most of its build time. The
# release's source is used as published, except those two lists.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/versions.env"
source "$root/scripts/lib/store.sh"
source "$root/scripts/lib/gobuild.sh"
# AWS Secrets Manager (what the runbooks run in production), HashiCorp Vault (the runbooks' other
# store) and ESO's own fake provider.
ESO_PROVIDERS="aws vault fake"
ESO_GENERATORS="fake password"
module=github.com/external-secrets/external-secrets
if store_open external-secrets "$EXTERNAL_SECRETS_VERSION" "$0" $(gobuild_recipe) "providers:$ESO_PROVIDERS" "generators:$ESO_GENERATORS"; then
  echo "$store_entry"
  exit 0
fi
gobuild_start eso
release=$(go mod download -json "$module@$EXTERNAL_SECRETS_VERSION" | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
# A writable copy of the release with the two import lists cut down, used through a replace.
src="$gobuild_work/src"
cp -r "$release" "$src" && chmod -R u+w "$src"
import_list() { # package, kind (provider or generator), names...
  local package=$1 kind=$2; shift 2
  printf '// Trimmed by kubectl-secrets scripts/build-eso.sh: only what its tests use.\npackage %s\n\nimport (\n' "$package"
  for name in "$@"; do printf '\t_ "%s/pkg/%s/%s"\n' "$module" "$kind" "$name"; done
  printf ')\n'
}
# shellcheck disable=SC2086 # the lists are words
import_list register provider $ESO_PROVIDERS >"$src/pkg/provider/register/register.go"
# shellcheck disable=SC2086
import_list register generator $ESO_GENERATORS >"$src/pkg/generator/register/register.go"
gobuild_module eso 1.24 "$module@$EXTERNAL_SECRETS_VERSION"
printf '\nreplace %s => %s\n' "$module" "$src" >>go.mod
echo "build-eso: building External Secrets Operator $EXTERNAL_SECRETS_VERSION, providers: $ESO_PROVIDERS (cold: about 4 minutes)" >&2
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$store_tmp/external-secrets" "$module" >&2
# The CRDs of the same release, as its bundle ships them (no conversion webhook in the bases).
for f in "$release"/config/crds/bases/*.yaml; do
  [ "$(basename "$f")" = kustomization.yaml ] && continue
  echo "---"; cat "$f"
done > "$store_tmp/crds.yaml"
gobuild_finish
store_publish
echo "$store_entry"
