#!/usr/bin/env bash
# Builds actionlint (pinned in scripts/versions.env) into .cache/bin/actionlint-<version>/ and
# prints the binary's path.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/versions.env"
source "$root/scripts/lib/gobuild.sh"
dir="$root/.cache/bin/actionlint-$ACTIONLINT_VERSION"
if [ -x "$dir/actionlint" ]; then
  echo "$dir/actionlint"
  exit 0
fi
gobuild_start actionlint "$dir"
gobuild_module actionlint 1.22 "github.com/rhysd/actionlint@$ACTIONLINT_VERSION"
gobuild_tools github.com/rhysd/actionlint/cmd/actionlint
echo "build-actionlint: building actionlint $ACTIONLINT_VERSION" >&2
go mod tidy >&2
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$dir.tmp/actionlint" github.com/rhysd/actionlint/cmd/actionlint >&2
gobuild_finish
echo "$dir/actionlint"
