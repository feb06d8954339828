#!/usr/bin/env bash
# make test-load: issue 9's load scenario as checks, not timings (timings are `make bench`'s):
# verify -A and list -A over 5,000 pods, 500 Secrets and 300 Deployments, and rotate of one
# Secret read by 50 Deployments at once. Exit non-zero on the first failed check. Each check is
# recorded in target/reliability/load.jsonl for docs/reliability.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
PODS=${LOAD_PODS:-5000}
SECRETS=${LOAD_SECRETS:-500}
WORKLOADS=${LOAD_WORKLOADS:-300}
CONSUMERS=${LOAD_CONSUMERS:-50}
NAMESPACES=10
# Peak resident memory allowed for one command at this scale (a leak or an unbounded buffer
# shows up as several times this).
MAX_RSS_MB=${LOAD_MAX_RSS_MB:-300}
out="$root/target/reliability"
mkdir -p "$out" && : >"$out/load.jsonl"
log() { echo "test-load: $*" >&2; }
scripts/install-deps.sh

# Checks, not timings: the debug binary the e2e step already built does (the release build is
# make bench's, and the krew step's, which packs it). Built the way the e2e tests build it: a
# plain `cargo build` unifies other features (no dev-dependencies) and compiles everything again.
cargo test --no-run --test e2e >&2
bin=$("$root/scripts/build-testbed.sh")
export KUBECONFIG=$("$root/scripts/cluster-up.sh" | tail -n 1)
export PATH="$root/target/debug:$bin:$PATH"
source "$root/bench/scenario.sh"

record() { # scenario, outcome
  python3 -c 'import json,sys; print(json.dumps({"scenario": sys.argv[1], "outcome": sys.argv[2]}))' "$1" "$2" >>"$out/load.jsonl"
}
fail() { log "FAILED: $*"; exit 1; }
measure() { # output file prefix, command... -> sets rss_mb and code
  local prefix=$1; shift
  set +e
  /usr/bin/time -f %M -o "$out/time.txt" "$@" >"$prefix.out" 2>"$prefix.err"
  code=$?
  set -e
  rss_mb=$(( $(tail -n 1 "$out/time.txt") / 1024 ))
}

scale_scenario
[ "$running" -ge "$PODS" ] || fail "only $running of $PODS pods came up"

# verify -A: every pod seen, memory bounded.
measure "$out/verify" kubectl-secrets verify -A -o json
[ "$code" -le 1 ] || fail "verify -A exited $code: $(cat "$out/verify.err")"
containers=$(jq '.summary.containersChecked' "$out/verify.out")
workloads=$(jq '[.workloads[] | select(.namespace | startswith("bench-scale-"))] | length' "$out/verify.out")
[ "$workloads" -ge "$WORKLOADS" ] || fail "verify -A reported $workloads of $WORKLOADS Deployments"
[ "$containers" -ge "$PODS" ] || fail "verify -A checked $containers containers for $PODS pods"
[ "$rss_mb" -le "$MAX_RSS_MB" ] || fail "verify -A used $rss_mb MiB (bound: $MAX_RSS_MB)"
record "verify -A over $running pods, $SECRETS Secrets, $WORKLOADS Deployments" \
  "exit $code; $workloads Deployments and $containers running containers checked; peak memory $rss_mb MiB (bound $MAX_RSS_MB)"
log "verify -A: $workloads workloads, $containers containers, $rss_mb MiB"

measure "$out/list" kubectl-secrets list -A -o json
[ "$code" -eq 0 ] || fail "list -A exited $code: $(cat "$out/list.err")"
listed=$(jq '[.secrets[] | select(.namespace | startswith("bench-scale-"))] | length' "$out/list.out")
read_by=$(jq '[.secrets[] | select(.namespace | startswith("bench-scale-")) | .consumers] | add' "$out/list.out")
[ "$listed" -ge "$SECRETS" ] || fail "list -A showed $listed of $SECRETS Secrets"
[ "$rss_mb" -le "$MAX_RSS_MB" ] || fail "list -A used $rss_mb MiB (bound: $MAX_RSS_MB)"
record "list -A over the same" "exit 0; $listed Secrets with $read_by consumer references; peak memory $rss_mb MiB"
log "list -A: $listed Secrets, $rss_mb MiB"

# rotate of one Secret read by CONSUMERS Deployments, all restarted at once.
ns=load-rotate
shared_secret_scenario "$ns" "$CONSUMERS"
measure "$out/rotate" kubectl-secrets rotate shared -n "$ns" --key TOKEN=hex:32 --yes
[ "$code" -eq 0 ] || fail "rotate exited $code: $(tail -n 20 "$out/rotate.err")"
complete=$(grep -c ': complete: 2 pods updated and available' "$out/rotate.err" || true)
[ "$complete" -eq "$CONSUMERS" ] || fail "$complete of $CONSUMERS rollouts reported complete"
longest=$(awk '{ print length }' "$out/rotate.err" | sort -n | tail -n 1)
[ "$longest" -le 160 ] || fail "a progress line is $longest characters: not readable"
verify_code=0
kubectl-secrets verify shared -n "$ns" -o json >"$out/verify-shared.out" 2>&1 || verify_code=$?
exact=$(jq '[.workloads[].findings[] | select(.evidence == "exact")] | length' "$out/verify-shared.out")
[ "$verify_code" -eq 0 ] && [ "$exact" -ge "$CONSUMERS" ] || fail "after rotate, verify exited $verify_code with $exact exact findings"
[ "$rss_mb" -le "$MAX_RSS_MB" ] || fail "rotate used $rss_mb MiB (bound: $MAX_RSS_MB)"
record "rotate of a Secret read by $CONSUMERS Deployments (2 replicas each), all at once" \
  "exit 0; $complete rollouts complete, progress lines at most $longest characters, verify exact for all; peak memory $rss_mb MiB"
log "rotate: $complete rollouts, longest progress line $longest, $rss_mb MiB"

kubectl delete namespace "$ns" --wait=false >/dev/null
for i in $(seq 0 $((NAMESPACES - 1))); do kubectl delete namespace "bench-scale-$i" --wait=false >/dev/null; done
log "passed"
