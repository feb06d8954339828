#!/usr/bin/env bash
# Dependency policy with cargo-deny (pinned, installed into .cache/tools on first use): licences,
# banned duplicates and wildcards, and sources, always. Security advisories are checked against
# the RustSec database snapshot in cargo-deny's own place ($CARGO_HOME/advisory-dbs) when one is
# there, never fetched here (CI has no internet): refresh it on a connected machine with
# `cargo deny fetch`, which clones it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version=0.20.2
deny="$root/.cache/tools/bin/cargo-deny"
if ! [ -x "$deny" ] || ! "$deny" --version 2>/dev/null | grep -q " $version"; then
  echo "deny: installing cargo-deny $version into .cache/tools (once)" >&2
  # Its release profile asks for fat LTO in one codegen unit: minutes of single-threaded
  # linking for a tool run once per test run. The same code, built the ordinary way.
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    cargo install --quiet --locked --root "$root/.cache/tools" cargo-deny --version "$version" >&2
fi
checks=(licenses bans sources)
if [ -d "${CARGO_HOME:-$HOME/.cargo}/advisory-dbs" ]; then
  checks+=(advisories)
else
  echo "deny: no RustSec snapshot in ${CARGO_HOME:-$HOME/.cargo}/advisory-dbs: advisories not checked (cargo deny fetch, where the internet is)" >&2
fi
# Every platform's crates in the local registry first (from crates.io), so cargo-deny itself can
# run offline: it then never tries to fetch the advisory database.
cargo fetch --quiet --locked --manifest-path "$root/Cargo.toml"
"$deny" --manifest-path "$root/Cargo.toml" --log-level error --offline check "${checks[@]}"
echo "deny: ${checks[*]} ok" >&2
