#!/usr/bin/env bash
# Builds the release archive for this machine's platform (binary + LICENSE) into dist/ and
# renders dist/secrets.yaml: the krew manifest with this archive's real sha256.
# Prints the archive's path.
#   dist.sh           the release build (what `make dist` and the release workflow ship)
#   dist.sh --debug   the same archive around the debug build the tests already made: what krew
#                     checks (manifest, archive layout, install, the plugin running through
#                     kubectl) does not depend on the optimiser, and `make test` then compiles
#                     the crate once, not twice
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
version=$(sed -n 's/^version = "\(.*\)"/v\1/p' Cargo.toml | head -n 1)
os=$(uname -s | tr '[:upper:]' '[:lower:]')
case "$(uname -m)" in x86_64) arch=amd64 ;; aarch64|arm64) arch=arm64 ;; *) arch=$(uname -m) ;; esac
profile=release
case "${1:-}" in
  # Built as the tests build it (their dev-dependencies' features unified), so that after the
  # test steps there is nothing to compile; a plain `cargo build` would compile the dependencies
  # again with other features.
  --debug) profile=debug; cargo test --quiet --no-run --test cli >&2 ;;
  "") cargo build --release >&2 ;;
  *) echo "usage: dist.sh [--debug]" >&2; exit 2 ;;
esac
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp "target/$profile/kubectl-secrets" LICENSE "$stage/"
mkdir -p dist
archive="dist/kubectl-secrets_${version}_${os}_${arch}.tar.gz"
tar -C "$stage" -czf "$archive" kubectl-secrets LICENSE
sha=$(sha256sum "$archive" | cut -d' ' -f1)
# The sha256 line follows this platform's uri line in the manifest.
awk -v target="_${os}_${arch}." -v sha="$sha" '
  index($0, "uri:") && index($0, target) { hit = 1 }
  hit && $1 == "sha256:" { sub(/sha256: .*/, "sha256: \"" sha "\""); hit = 0 }
  { print }
' krew-manifest.yaml > dist/secrets.yaml
grep -q "$sha" dist/secrets.yaml || { echo "dist: no $os/$arch platform in krew-manifest.yaml" >&2; exit 1; }
echo "dist: $archive ($profile build) sha256 $sha" >&2
echo "$root/$archive"
