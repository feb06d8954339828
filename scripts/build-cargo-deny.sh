#!/usr/bin/env bash
# cargo-deny (pinned here) built into the per-user store (scripts/lib/store.sh); prints the
# binary's path.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/lib/store.sh"
version=0.20.2
if store_open cargo-deny "$version" "$0" "rustc:$(rustc --version)"; then
  echo "$store_entry/bin/cargo-deny"
  exit 0
fi
echo "build-cargo-deny: installing cargo-deny $version into the store (once per machine)" >&2
# Its release profile asks for fat LTO in one codegen unit: minutes of single-threaded linking
# for a tool run once per test run. The same code, built the ordinary way, and optimised only
# lightly: its check takes seconds either way, and the build is shorter.
CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_OPT_LEVEL=1 \
  CARGO_TARGET_DIR="$store_tmp.target" \
  cargo install --quiet --locked --root "$store_tmp" cargo-deny --version "$version" >&2
rm -rf "$store_tmp.target" "$store_tmp/.crates.toml" "$store_tmp/.crates2.json"
store_publish
echo "$store_entry/bin/cargo-deny"
