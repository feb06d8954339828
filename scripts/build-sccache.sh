#!/usr/bin/env bash
# sccache (pinned here, local disk cache only) built into the per-user store; prints the
# binary's path. make test compiles through it so that a clean checkout on a machine that ran
# the tests once reuses the compiled dependencies instead of building them again.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/lib/store.sh"
version=0.19.0
if store_open sccache "$version" "$0" "rustc:$(rustc --version)"; then
  echo "$store_entry/bin/sccache"
  exit 0
fi
echo "build-sccache: installing sccache $version into the store (once per machine)" >&2
# Without its default features: no S3, Redis, GCS or Azure backends, only the local disk cache.
CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_TARGET_DIR="$store_tmp.target" \
  nice cargo install --quiet --locked --no-default-features --root "$store_tmp" sccache --version "$version" >&2
rm -rf "$store_tmp.target" "$store_tmp/.crates.toml" "$store_tmp/.crates2.json"
store_publish
echo "$store_entry/bin/sccache"
