#!/usr/bin/env bash
# The runbooks' rotation, the kubectl way: patch the Secret, then restart and wait for each
# consumer in turn. Usage: kubectl-rotate.sh NAMESPACE SECRET KEY DEPLOYMENT...
set -euo pipefail
ns=$1 secret=$2 key=$3; shift 3
value=$(openssl rand -hex 32)
printf '{"data":{"%s":"%s"}}' "$key" "$(printf '%s' "$value" | base64 -w0)" \
  | kubectl patch secret "$secret" -n "$ns" --type merge --patch-file /dev/stdin >/dev/null
for deployment in "$@"; do
  kubectl rollout restart "deployment/$deployment" -n "$ns" >/dev/null
  kubectl rollout status "deployment/$deployment" -n "$ns" --timeout=300s >/dev/null
done
