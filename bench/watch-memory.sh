#!/usr/bin/env bash
# verify --watch over a long stretch of churn (runnable alone with the bed up:
# bench/watch-memory.sh OUT_DIR): 20 Deployments of 2 pods reading 10 Secrets; every few seconds
# a Secret's data changes and a Deployment restarts (new ReplicaSets, new pods, old ones
# deleted). The watch's resident memory is sampled every 30 s into OUT_DIR/watch-memory.tsv.
# BENCH_WATCH_MINUTES sets the length (default 60).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/bench/out}
minutes=${BENCH_WATCH_MINUTES:-60}
plugin=${KUBECTL_SECRETS:-$root/target/release/kubectl-secrets}
mkdir -p "$out"
ns=bench-watch
kubectl delete namespace "$ns" --ignore-not-found --wait=true >/dev/null
kubectl create namespace "$ns" >/dev/null
{
  for s in $(seq 1 10); do
    printf -- '---\napiVersion: v1\nkind: Secret\nmetadata: {name: s-%s}\nstringData: {TOKEN: "%s"}\n' "$s" "$(head -c 24 /dev/urandom | base64)"
  done
  for w in $(seq 1 20); do
    s=$(((w - 1) % 10 + 1))
    printf -- '---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d-%s}\nspec:\n  replicas: 2\n  revisionHistoryLimit: 3\n  selector: {matchLabels: {app: d-%s}}\n  template:\n    metadata: {labels: {app: d-%s}}\n    spec: {containers: [{name: c, image: c, envFrom: [{secretRef: {name: s-%s}}]}]}\n' "$w" "$w" "$w" "$s"
  done
} | kubectl apply -n "$ns" -f - >/dev/null
for w in $(seq 1 20); do
  kubectl rollout status "deployment/d-$w" -n "$ns" --timeout=300s >/dev/null
done

"$plugin" verify -n "$ns" --watch >/dev/null 2>&1 &
watcher=$!
trap 'kill "$watcher" 2>/dev/null || true; kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1 || true' EXIT
sleep 5
printf 'seconds\trss_kib\tchanges\n' >"$out/watch-memory.tsv"
start=$(date +%s) changes=0 next_sample=0
while :; do
  now=$(( $(date +%s) - start ))
  ((now >= minutes * 60)) && break
  if ((now >= next_sample)); then
    printf '%s\t%s\t%s\n' "$now" "$(awk '/^VmRSS/ {print $2}' "/proc/$watcher/status")" "$changes" >>"$out/watch-memory.tsv"
    next_sample=$((next_sample + 30))
  fi
  s=$((RANDOM % 10 + 1)) w=$((RANDOM % 20 + 1))
  kubectl patch secret "s-$s" -n "$ns" -p "{\"stringData\":{\"TOKEN\":\"$(head -c 24 /dev/urandom | base64)\"}}" >/dev/null
  kubectl rollout restart "deployment/d-$w" -n "$ns" >/dev/null
  changes=$((changes + 2))
  sleep 3
done
kill -0 "$watcher" # still running after the whole stretch
awk -F'\t' 'NR == 2 {first = $2} NR > 1 {last = $2; if ($2 > max) max = $2}
  END {printf "verify --watch: RSS %d KiB after 5 s, %d KiB at the end, %d KiB at most\n", first, last, max}' \
  "$out/watch-memory.tsv"
