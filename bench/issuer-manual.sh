#!/usr/bin/env bash
# Seed 001's database password rotation by hand: a new password (openssl rand), `ALTER USER`
# through the database pod (as `kubectl exec postgres-0 -- psql` does; here `kubectl
# port-forward` to the same pod, the bed's pods running nothing), the Secret re-applied
# (`kubectl create secret --dry-run=client -o yaml | kubectl apply`), then restart and wait for
# each consumer in turn.
# Usage: issuer-manual.sh NAMESPACE SECRET ROLE DEPLOYMENT...
set -euo pipefail
ns=$1 secret=$2 role=$3; shift 3
old=$(kubectl get secret "$secret" -n "$ns" -o jsonpath='{.data.password}' | base64 -d)
new=$(openssl rand -base64 24)
port=$((20000 + RANDOM % 10000))
kubectl port-forward -n "$ns" pod/postgres-0 "$port:5432" >/dev/null 2>&1 &
forward=$!
trap 'kill $forward 2>/dev/null' EXIT
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
printf "ALTER USER %s WITH PASSWORD '%s';\n" "$role" "$new" \
  | PGPASSWORD=$old psql -h 127.0.0.1 -p "$port" -U "$role" -d postgres -q -v ON_ERROR_STOP=1 >/dev/null
kubectl create secret generic "$secret" -n "$ns" --from-file=password=<(printf '%s' "$new") --dry-run=client -o yaml \
  | kubectl apply -f - >/dev/null 2>&1
for deployment in "$@"; do
  kubectl rollout restart "deployment/$deployment" -n "$ns" >/dev/null
  kubectl rollout status "deployment/$deployment" -n "$ns" --timeout=300s >/dev/null
done
