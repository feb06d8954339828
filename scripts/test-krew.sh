#!/usr/bin/env bash
# The krew path a user takes: validate the rendered manifest with krew's own validator, install
# the local archive with krew into a throw-away KREW_ROOT, then run the plugin through kubectl.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
krew_dir=$("$root/scripts/build-krew.sh")
bin=$("$root/scripts/build-testbed.sh")
# The archive around the debug build the test steps made (dist.sh says why that is enough).
archive=$("$root/scripts/dist.sh" --debug)
# krew's reviewers' rules for the text (its validator checks the structure only).
python3 "$root/scripts/check-krew-text.py" "$root/dist/secrets.yaml" >&2
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

# The release pipeline: its workflow linted, and the krew-release-bot template rendered for this
# version with this machine's archive, then checked like the manifest above.
"$("$root/scripts/build-actionlint.sh")" "$root/.github/workflows/release.yml" >&2
mkdir -p "$root/dist/krew-index"
tag=$(sed -n 's/^version = "\(.*\)"/v\1/p' "$root/Cargo.toml" | head -n 1)
python3 "$root/scripts/render-krew-template.py" "$root/.krew.yaml" "$tag" "$archive" >"$root/dist/krew-index/secrets.yaml"
python3 "$root/scripts/check-krew-text.py" "$root/dist/krew-index/secrets.yaml" >&2
"$krew_dir/validate-krew-manifest" -manifest "$root/dist/krew-index/secrets.yaml" -skip-install
krew_root2=$(mktemp -d)
KREW_ROOT="$krew_root2" "$krew_dir/krew" install --manifest="$root/dist/krew-index/secrets.yaml" --archive="$archive" >&2
rm -rf "$krew_root2"
echo "test-krew: 2 passed, 0 failed (manifest validated, installed with krew, ran through kubectl: $out; release workflow linted, krew-index template rendered, validated and installed)"
