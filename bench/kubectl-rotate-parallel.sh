#!/usr/bin/env bash
# The strongest kubectl script for the runbooks' rotation: patch the Secret, restart every
# consumer in one kubectl call, then wait for all their rollouts at once.
# Usage: kubectl-rotate-parallel.sh NAMESPACE SECRET KEY DEPLOYMENT...
set -euo pipefail
ns=$1 secret=$2 key=$3; shift 3
value=$(openssl rand -hex 32)
printf '{"data":{"%s":"%s"}}' "$key" "$(printf '%s' "$value" | base64 -w0)" \
  | kubectl patch secret "$secret" -n "$ns" --type merge --patch-file /dev/stdin >/dev/null
kubectl rollout restart "${@/#/deployment/}" -n "$ns" >/dev/null
pids=()
for deployment in "$@"; do
  kubectl rollout status "deployment/$deployment" -n "$ns" --timeout=300s >/dev/null &
  pids+=("$!")
done
for pid in "${pids[@]}"; do wait "$pid"; done
