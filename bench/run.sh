#!/usr/bin/env bash
# make bench: kubectl-secrets against what users do with kubectl today, on the local cluster,
# in one run. Writes bench/results.md and bench/results.json. Reports; never gates.
# Scale: BENCH_PODS (5000), BENCH_SECRETS (500), BENCH_WORKLOADS (300); ROTATE_SIZES ("1 10 50").
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
PODS=${BENCH_PODS:-5000}
SECRETS=${BENCH_SECRETS:-500}
WORKLOADS=${BENCH_WORKLOADS:-300}
ROTATE_SIZES=${ROTATE_SIZES:-"1 10 50"}
NAMESPACES=10
out="$root/bench/out"
rm -rf "$out" && mkdir -p "$out"
log() { echo "bench: $*" >&2; }

for tool in hyperfine jq; do
  command -v "$tool" >/dev/null || { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine jq time >&2; }
done
[ -x /usr/bin/time ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >&2

started=$(date +%s)
cargo build --release >&2
build_seconds=$(( $(date +%s) - started ))
bin=$("$root/scripts/build-testbed.sh")
export KUBECONFIG=$("$root/scripts/cluster-up.sh" | tail -n 1)
export PATH="$root/target/release:$bin:$PATH"

# ---- scale scenario: NAMESPACES namespaces of Secrets and Deployments reading them ----------
source "$root/bench/scenario.sh"
scale_scenario

# ---- 1. verify -A at scale ----------------------------------------------------------------------
kinds=secrets,pods,deployments,statefulsets,daemonsets,replicasets
hyperfine --warmup 1 --runs 5 --export-json "$out/verify.json" \
  -n 'kubectl-secrets verify -A -o json' 'kubectl-secrets verify -A -o json > /dev/null || true' \
  -n 'floor: kubectl get (same LISTs) -o json' "kubectl get $kinds -A -o json --chunk-size=500 > /dev/null" \
  -n 'kubectl + jq script' "bash $root/bench/kubectl-jq-verify.sh > /dev/null" >&2
peak() { /usr/bin/time -f %M "$@" >/dev/null 2>"$out/time.err" || true; tail -n 1 "$out/time.err"; }
mem_ours=$(peak kubectl-secrets verify -A -o json)
mem_floor=$(peak kubectl get "$kinds" -A -o json --chunk-size=500)
mem_script=$(peak bash "$root/bench/kubectl-jq-verify.sh")

# ---- 2. rotate with N consumers vs kubectl patch + restart + status, sequentially ------------
for n in $ROTATE_SIZES; do
  ns="bench-rotate-$n"
  shared_secret_scenario "$ns" "$n"
  names=(); for w in $(seq 1 "$n"); do names+=("c-$w"); done
  runs=3; [ "$n" -ge 50 ] && runs=2
  hyperfine --runs "$runs" --export-json "$out/rotate-$n.json" \
    -n "kubectl-secrets rotate ($n consumers)" "kubectl-secrets rotate shared -n $ns --key TOKEN=hex:32 --yes --keep-backups 1 > /dev/null 2>&1" \
    -n "kubectl patch + rollout restart/status x$n" "bash $root/bench/kubectl-rotate.sh $ns shared TOKEN ${names[*]}" >&2
  # The rollouts alone: the slowest one reported by rotate itself.
  kubectl-secrets rotate shared -n "$ns" --key TOKEN=hex:32 --yes --keep-backups 1 >/dev/null 2>"$out/rotate-$n.progress" || true
  kubectl delete namespace "$ns" --wait=false >/dev/null
done

# ---- 3. start-up (no network) -------------------------------------------------------------------
hyperfine --warmup 5 --runs 50 -N --export-json "$out/startup.json" \
  -n 'kubectl-secrets --version' 'kubectl-secrets --version' \
  -n 'kubectl-secrets --help' 'kubectl-secrets --help' \
  -n 'kubectl-secrets completion bash' 'kubectl-secrets completion bash' \
  -n 'kubectl version --client' 'kubectl version --client' >&2

# ---- 4. seal a 100-key Secret vs kubeseal, same certificate ------------------------------------
cert="$out/cert.pem"
curl -fsS "$(cat "$(dirname "$KUBECONFIG")/sealed-secrets-url")/v1/cert.pem" >"$cert"
{
  printf 'apiVersion: v1\nkind: Secret\nmetadata: {name: many, namespace: default}\ndata:\n'
  for k in $(seq 1 100); do printf '  KEY_%s: %s\n' "$k" "$(openssl rand -base64 48 | tr -d '\n' | base64 -w0)"; done
} >"$out/secret-100.yaml"
hyperfine --warmup 2 --runs 10 --export-json "$out/seal.json" \
  -n 'kubectl-secrets seal (100 keys)' "kubectl-secrets seal -f $out/secret-100.yaml --cert $cert > /dev/null 2>&1" \
  -n 'kubeseal (100 keys)' "kubeseal --cert $cert < $out/secret-100.yaml > /dev/null" >&2

for i in $(seq 0 $((NAMESPACES - 1))); do kubectl delete namespace "bench-scale-$i" --wait=false >/dev/null; done

# ---- 5. fleet: verify across three clusters against each alone --------------------------------
bash "$root/bench/fleet.sh" "$out"

python3 "$root/bench/report.py" "$out" "$root/bench" \
  --pods "$running" --secrets "$SECRETS" --workloads "$WORKLOADS" \
  --mem "$mem_ours" "$mem_floor" "$mem_script" \
  --binary-size "$(stat -c %s "$root/target/release/kubectl-secrets")" --build-seconds "$build_seconds"
log "wrote bench/results.md and bench/results.json"
