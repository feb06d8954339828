#!/usr/bin/env bash
# make bench, part 5 (also runnable alone: bench/fleet.sh OUT_DIR): verify -A across the three
# fleet clusters against each one alone, in the same run, and peak memory of both; a rotation
# wave of the three at once against each alone. Writes OUT_DIR/fleet.json, fleet-wave.json
# (hyperfine) and OUT_DIR/fleet-mem.txt ("fleet KB" and "single KB" lines).
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
  -n 'verify -A bed-2 alone' 'kubectl-secrets verify -A --context bed-2 -o json > /dev/null || true' \
  -n 'verify -A: the three at once, separate processes' \
  'for i in 0 1 2; do kubectl-secrets verify -A --context bed-$i -o json > /dev/null 2>&1 & done; wait' >&2
# The raw floor (bench/floor.rs) against three clusters at once and one alone: what sharing
# this machine's two cores with three API servers costs before any tool is involved.
floor="$root/target/release/examples/bench-floor" beds="$root/.cache/fleet"
[ -x "$floor" ] || cargo build --release --example bench-floor >&2
hyperfine --warmup 1 --runs 5 --export-json "$out/fleet-floor.json" \
  -n 'raw floor: 3 clusters at once' "for i in 0 1 2; do KUBECONFIG=$beds/bed-\$i/admin.kubeconfig $floor lists & done; wait" \
  -n 'raw floor: bed-0 alone' "KUBECONFIG=$beds/bed-0/admin.kubeconfig $floor lists" >&2
# A wave of the three clusters rotated at once (--parallel-clusters 3) against each cluster's
# rotation alone: 10 Deployments of 2 pods reading the Secret in each.
for i in 0 1 2; do
  (
    export KUBECONFIG="$root/.cache/fleet/bed-$i/admin.kubeconfig"
    kubectl delete namespace bench-wave --ignore-not-found --wait=true >/dev/null
    kubectl create namespace bench-wave >/dev/null
    {
      printf 'apiVersion: v1\nkind: Secret\nmetadata: {name: app}\nstringData: {TOKEN: "%s"}\n' "$(head -c 24 /dev/urandom | base64)"
      for w in $(seq 1 10); do
        printf -- '---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: c-%s}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: c-%s}}\n  template:\n    metadata: {labels: {app: c-%s}}\n    spec: {containers: [{name: c, image: c, envFrom: [{secretRef: {name: app}}]}]}\n' "$w" "$w" "$w"
      done
    } | kubectl apply -n bench-wave -f - >/dev/null
    for w in $(seq 1 10); do kubectl rollout status "deployment/c-$w" -n bench-wave --timeout=300s >/dev/null; done
  )
done
rotate="kubectl-secrets rotate app -n bench-wave --key TOKEN --yes --min-restart-interval 0"
hyperfine --runs 3 --export-json "$out/fleet-wave.json" \
  -n 'rotate: a wave of 3 clusters at once' "$rotate --contexts 'bed-*' --waves 1 --parallel-clusters 3 > /dev/null 2>&1" \
  -n 'rotate: bed-0 alone' "$rotate --context bed-0 > /dev/null 2>&1" \
  -n 'rotate: bed-1 alone' "$rotate --context bed-1 > /dev/null 2>&1" \
  -n 'rotate: bed-2 alone' "$rotate --context bed-2 > /dev/null 2>&1" \
  -n 'floor: the three alone, started at once' "for i in 0 1 2; do $rotate --context bed-\$i > /dev/null 2>&1 & done; wait" >&2
peak() { /usr/bin/time -f %M "$@" >/dev/null 2>"$out/time.err" || true; tail -n 1 "$out/time.err"; }
{
  echo "fleet $(peak kubectl-secrets verify -A --all-contexts -o json)"
  echo "single $(peak kubectl-secrets verify -A --context bed-0 -o json)"
} >"$out/fleet-mem.txt"
"$root/scripts/fleet-down.sh"
