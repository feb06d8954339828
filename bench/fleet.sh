#!/usr/bin/env bash
# make bench, part 5 (also runnable alone: bench/fleet.sh OUT_DIR): verify -A across the three
# fleet clusters against each one alone, in the same run, and peak memory of both. Writes
# OUT_DIR/fleet.json (hyperfine) and OUT_DIR/fleet-mem.txt ("fleet KB" and "single KB" lines).
# Scale per cluster: BENCH_FLEET_PODS (1000), BENCH_FLEET_SECRETS (100), BENCH_FLEET_WORKLOADS (60).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/bench/out}
mkdir -p "$out"
log() { echo "bench-fleet: $*" >&2; }
command -v hyperfine >/dev/null || { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine >&2; }
[ -x /usr/bin/time ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >&2
bin=$("$root/scripts/build-testbed.sh")
export PATH="$root/target/release:$bin:$PATH"
fleet_kubeconfig=$("$root/scripts/fleet-up.sh" | tail -n 1)
source "$root/bench/scenario.sh"
for i in 0 1 2; do
  log "scenario in bed-$i"
  (
    export KUBECONFIG="$root/.cache/fleet/bed-$i/admin.kubeconfig"
    PODS=${BENCH_FLEET_PODS:-1000} SECRETS=${BENCH_FLEET_SECRETS:-100} WORKLOADS=${BENCH_FLEET_WORKLOADS:-60} NAMESPACES=2
    scale_scenario
  )
done
export KUBECONFIG=$fleet_kubeconfig
hyperfine --warmup 1 --runs 5 --export-json "$out/fleet.json" \
  -n 'verify -A across 3 clusters' 'kubectl-secrets verify -A --all-contexts -o json > /dev/null 2>&1 || true' \
  -n 'verify -A bed-0 alone' 'kubectl-secrets verify -A --context bed-0 -o json > /dev/null || true' \
  -n 'verify -A bed-1 alone' 'kubectl-secrets verify -A --context bed-1 -o json > /dev/null || true' \
  -n 'verify -A bed-2 alone' 'kubectl-secrets verify -A --context bed-2 -o json > /dev/null || true' >&2
# The raw floor (bench/floor.rs) against three clusters at once and one alone: what sharing
# this machine's two cores with three API servers costs before any tool is involved.
floor="$root/target/release/examples/bench-floor" beds="$root/.cache/fleet"
[ -x "$floor" ] || cargo build --release --example bench-floor >&2
hyperfine --warmup 1 --runs 5 --export-json "$out/fleet-floor.json" \
  -n 'raw floor: 3 clusters at once' "for i in 0 1 2; do KUBECONFIG=$beds/bed-\$i/admin.kubeconfig $floor lists & done; wait" \
  -n 'raw floor: bed-0 alone' "KUBECONFIG=$beds/bed-0/admin.kubeconfig $floor lists" >&2
peak() { /usr/bin/time -f %M "$@" >/dev/null 2>"$out/time.err" || true; tail -n 1 "$out/time.err"; }
{
  echo "fleet $(peak kubectl-secrets verify -A --all-contexts -o json)"
  echo "single $(peak kubectl-secrets verify -A --context bed-0 -o json)"
} >"$out/fleet-mem.txt"
"$root/scripts/fleet-down.sh"
