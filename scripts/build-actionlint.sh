#!/usr/bin/env bash
# Builds actionlint (pinned in scripts/versions.env) into the per-user store
# (scripts/lib/store.sh) and prints the binary's path.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/versions.env"
source "$root/scripts/lib/store.sh"
source "$root/scripts/lib/gobuild.sh"
if store_open actionlint "$ACTIONLINT_VERSION" "$0" $(gobuild_recipe); then
  echo "$store_entry/actionlint"
  exit 0
fi
gobuild_start actionlint
gobuild_module actionlint 1.22 "github.com/rhysd/actionlint@$ACTIONLINT_VERSION"
echo "build-actionlint: building actionlint $ACTIONLINT_VERSION" >&2
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$store_tmp/actionlint" github.com/rhysd/actionlint/cmd/actionlint >&2
gobuild_finish
store_publish
echo "$store_entry/actionlint"
