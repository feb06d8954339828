#!/usr/bin/env bash
# make bench: kubectl-secrets against what users do with kubectl today and against the floors
# (what the API server and the rollouts themselves take), on the local cluster, in one run.
# Writes bench/results.md, bench/results.json and the charts (bench/*.svg). Reports; never gates.
# ROTATE_SIZES ("1 10 50 100"); GROWTH ("1 10 40": namespaces of 500 pods, 50 Secrets and 30
# Deployments each); BENCH_FLEET=0 / BENCH_ESO=0 leave those parts out.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
ROTATE_SIZES=${ROTATE_SIZES:-"1 10 50 100"}
GROWTH=${GROWTH:-"1 10 40"}
out="$root/bench/out"
rm -rf "$out" && mkdir -p "$out"
log() { echo "bench: $*" >&2; }

for tool in hyperfine jq; do
  command -v "$tool" >/dev/null || { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine jq time >&2; }
done
[ -x /usr/bin/time ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >&2
# The charts' plotting library, in a virtualenv of the bench's own.
venv="$root/.cache/tools/bench-venv"
[ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import matplotlib' 2>/dev/null || {
  rm -rf "$venv" && python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check "matplotlib==3.10.*" >&2
}

started=$(date +%s)
cargo build --release --bin kubectl-secrets --example bench-floor >&2
build_seconds=$(( $(date +%s) - started ))
floor="$root/target/release/examples/bench-floor"
bin=$("$root/scripts/build-testbed.sh")
export KUBECONFIG=$("$root/scripts/cluster-up.sh" | tail -n 1)
export PATH="$root/target/release:$bin:$PATH"
source "$root/bench/scenario.sh"
peak() { /usr/bin/time -f %M "$@" >/dev/null 2>"$out/time.err" || true; tail -n 1 "$out/time.err"; }
# A clean bed: what an earlier run left (the growth scenario's 20,000 pods) is deleted first.
leftovers=$(kubectl get namespaces -o name | grep '^namespace/bench-' || true)
[ -z "$leftovers" ] || { log "deleting $(echo "$leftovers" | wc -l) namespaces an earlier run left"; kubectl delete $leftovers --wait=true >/dev/null; }

# ---- 1. rotate with N consumers: the kubectl scripts, and the rollouts alone ----------------
for n in $ROTATE_SIZES; do
  ns="bench-rotate-$n"
  shared_secret_scenario "$ns" "$n"
  names=(); for w in $(seq 1 "$n"); do names+=("c-$w"); done
  # rotate, the parallel script and the floor (the same restarts by the bench's own program,
  # timed to the last rollout complete and to the last old pod gone), round by round.
  rounds=5; [ "$n" -ge 50 ] && rounds=4
  rotate_rounds "$out/rotate-$n" "$rounds" "$ns" "${names[@]}"
  seq_runs=3; [ "$n" -ge 50 ] && seq_runs=1
  hyperfine --runs "$seq_runs" --export-json "$out/rotate-sequential-$n.json" \
    -n "kubectl, sequential" "bash $root/bench/kubectl-rotate.sh $ns shared TOKEN ${names[*]}" >&2
  kubectl delete namespace "$ns" --wait=false >/dev/null
done

# ---- 1, continued: the same with the controllers at their releases' default limits ---------
bash "$root/bench/limits.sh" "$out"

# ---- 2. rotate of an ExternalSecret-owned Secret against the manual path ----------------------
[ "${BENCH_ESO:-1}" = 1 ] && bash "$root/bench/eso.sh" "$out" aws
[ "${BENCH_ESO:-1}" = 1 ] && bash "$root/bench/eso.sh" "$out" vault

# ---- 2b. rotate of a database password at its issuer (the bed's PostgreSQL) by hand and by rotate
[ "${BENCH_ISSUER:-1}" = 1 ] && bash "$root/bench/issuer.sh" "$out"

# ---- 4. start-up (no network) -------------------------------------------------------------------
hyperfine --warmup 5 --runs 50 -N --export-json "$out/startup.json" \
  -n 'kubectl-secrets --version' 'kubectl-secrets --version' \
  -n 'kubectl-secrets --help' 'kubectl-secrets --help' \
  -n 'kubectl-secrets completion bash' 'kubectl-secrets completion bash' \
  -n 'kubectl version --client' 'kubectl version --client' >&2

# ---- 5. seal a 100-key Secret vs kubeseal, same certificate ------------------------------------
cert="$out/cert.pem"
curl -fsS "$(cat "$(dirname "$KUBECONFIG")/sealed-secrets-url")/v1/cert.pem" >"$cert"
{
  printf 'apiVersion: v1\nkind: Secret\nmetadata: {name: many, namespace: default}\ndata:\n'
  for k in $(seq 1 100); do printf '  KEY_%s: %s\n' "$k" "$(openssl rand -base64 48 | tr -d '\n' | base64 -w0)"; done
} >"$out/secret-100.yaml"
hyperfine --warmup 2 --runs 10 --export-json "$out/seal.json" \
  -n 'kubectl-secrets seal (100 keys)' "kubectl-secrets seal -f $out/secret-100.yaml --cert $cert > /dev/null 2>&1" \
  -n 'kubeseal (100 keys)' "kubeseal --cert $cert < $out/secret-100.yaml > /dev/null" >&2

# ---- 3. growth: verify -A and list -A at 500, 5,000 and 20,000 pods, against the raw floor ------
# (run after 4 and 5: it leaves the bed with 20,000 pods)
kinds=secrets,pods,deployments,statefulsets,daemonsets,replicasets,configmaps,cronjobs
for step in $GROWTH; do
  grow_scenario "$step"
  pods=$running
  rounds=7  # medians of 7 rounds, each command once per round: the bed drifts from minute to minute
  extra=()
  if [ "$pods" = 5000 ]; then
    # At 5,000 pods, also what a kubectl user runs for the same answer.
    extra=(-n 'kubectl get (same kinds) -o json' "kubectl get $kinds -A -o json --chunk-size=500 > /dev/null"
           -n 'kubectl + jq script' "bash $root/bench/kubectl-jq-verify.sh > /dev/null")
    {
      echo "kubectl $(peak kubectl get "$kinds" -A -o json --chunk-size=500)"
      echo "script $(peak bash "$root/bench/kubectl-jq-verify.sh")"
    } >"$out/kubectl-mem-$pods.txt"
  fi
  mkdir -p "$out/growth-$pods"
  for round in $(seq "$rounds"); do
    warmup=(); [ "$round" = 1 ] && warmup=(--warmup 1)
    hyperfine "${warmup[@]}" --runs 1 --export-json "$out/growth-$pods/round-$round.json" \
      -n 'verify -A -o json' 'kubectl-secrets verify -A -o json > /dev/null || true' \
      -n 'list -A -o json' 'kubectl-secrets list -A -o json > /dev/null || true' \
      -n 'raw floor (the same LISTs)' "$floor lists" "${extra[@]}" >&2
  done
  {
    echo "verify $(peak kubectl-secrets verify -A -o json)"
    echo "list $(peak kubectl-secrets list -A -o json)"
    echo "floor $(peak "$floor" lists)"
  } >"$out/growth-mem-$pods.txt"
done

# ---- 6. fleet: verify across three clusters against each alone --------------------------------
[ "${BENCH_FLEET:-1}" = 1 ] && bash "$root/bench/fleet.sh" "$out"

kubectl get namespaces -o name | grep '^namespace/bench-grow-' | xargs -r kubectl delete --wait=false >/dev/null

"$venv/bin/python" "$root/bench/report.py" "$out" "$root/bench" \
  --binary-size "$(stat -c %s "$root/target/release/kubectl-secrets")" --build-seconds "$build_seconds"
log "wrote bench/results.md, bench/results.json and bench/*.svg"
