#!/usr/bin/env bash
# Dependency policy with cargo-deny (pinned, built once per machine into the per-user store):
# licences, banned duplicates and wildcards, sources, and security advisories. Advisories come
# from the RustSec database in cargo-deny's own place ($CARGO_HOME/advisory-dbs), never fetched
# here (CI has no internet): when that place is empty, the snapshot in
# ../shared/rustsec-advisory-db.tar.gz is made into the one-commit git repository cargo-deny
# reads, dated as the snapshot. A fresher database fetched by `cargo deny fetch` is used as is.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
deny=$("$root/scripts/build-cargo-deny.sh")
# Where cargo-deny looks for the default database (https://github.com/rustsec/advisory-db).
db="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs/advisory-db-3157b0e258782691"
snapshot="$root/../shared/rustsec-advisory-db.tar.gz"
if [ ! -d "$db/.git" ] && [ -f "$snapshot" ]; then
  echo "deny: making the RustSec snapshot ($snapshot) cargo-deny's advisory database" >&2
  rm -rf "$db.tmp" && mkdir -p "$db.tmp"
  tar -xzf "$snapshot" -C "$db.tmp" --strip-components 1
  # The snapshot's date is its newest file's.
  date=$(find "$db.tmp" -type f -printf '%TY-%Tm-%TdT%TH:%TM:%TSZ\n' | sort | tail -n 1 | cut -d. -f1)Z
  (
    cd "$db.tmp"
    git init -q -b main
    git add -A
    GIT_AUTHOR_DATE=$date GIT_COMMITTER_DATE=$date git -c user.name=kubectl-secrets -c user.email=deny@localhost \
      commit -q -m "RustSec advisory database snapshot ($snapshot)"
  )
  mv "$db.tmp" "$db"
fi
checks=(licenses bans sources)
if [ -d "$db/.git" ]; then
  checks+=(advisories)
  echo "deny: advisories from the RustSec database of $(git -C "$db" log -1 --format=%cs) ($db)" >&2
else
  echo "deny: no RustSec database in $db and no snapshot at $snapshot: advisories NOT checked (cargo deny fetch, where the internet is)" >&2
fi
# Every platform's crates in the local registry first (from crates.io), so cargo-deny itself can
# run offline: it then never tries to fetch the advisory database.
cargo fetch --quiet --locked --manifest-path "$root/Cargo.toml"
"$deny" --manifest-path "$root/Cargo.toml" --log-level error --offline check "${checks[@]}"
echo "deny: ${checks[*]} ok" >&2
