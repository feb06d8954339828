#!/usr/bin/env bash
# The krew path a user takes: validate the rendered manifest with krew's own validator, install
# the local archive with krew into a throw-away KREW_ROOT, then run the plugin through kubectl.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
krew_dir=$("$root/scripts/build-krew.sh")
bin=$("$root/scripts/build-testbed.sh")
archive=$("$root/scripts/dist.sh")
"$krew_dir/validate-krew-manifest" -manifest "$root/dist/secrets.yaml" -skip-install
krew_root=$(mktemp -d)
trap 'rm -rf "$krew_root"' EXIT
export KREW_ROOT="$krew_root" PATH="$krew_root/bin:$bin:$PATH"
"$krew_dir/krew" install --manifest="$root/dist/secrets.yaml" --archive="$archive" >&2
out=$(kubectl secrets --version)
expected="kubectl-secrets $(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -n 1)"
if [ "$out" != "$expected" ]; then
  echo "test-krew: kubectl secrets --version printed '$out', expected '$expected'" >&2
  exit 1
fi
echo "test-krew: 1 passed, 0 failed (validated, installed with krew, ran through kubectl: $out)"
