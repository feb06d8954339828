#!/usr/bin/env bash
# make bench, part 2b (also runnable alone with the bed up: bench/issuer.sh OUT_DIR): rotate of a
# database password whose issuer is the bed's real PostgreSQL, with 10 consumers, against the
# runbooks' manual path (bench/issuer-manual.sh), in the same run. Writes OUT_DIR/issuer.json.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/bench/out}
consumers=${BENCH_ISSUER_CONSUMERS:-10}
mkdir -p "$out"
source "$root/.cache/cluster/databases.env"
ns=bench-issuer role=bench_issuer
kubectl delete namespace "$ns" --ignore-not-found --wait=true >/dev/null
kubectl create namespace "$ns" >/dev/null
password=$(openssl rand -hex 24)
printf "DROP ROLE IF EXISTS %s; CREATE ROLE %s LOGIN PASSWORD '%s';\n" "$role" "$role" "$password" \
  | PGOPTIONS='-c client_min_messages=warning' PGPASSWORD=$BED_POSTGRES_PASSWORD \
    psql -h 127.0.0.1 -p "$BED_POSTGRES_PORT" -U postgres -d postgres -q -v ON_ERROR_STOP=1 >/dev/null
{
  printf 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  annotations: {issuer.kubectl-secrets.io/password: "postgresql:user=%s,server=statefulset/postgres"}\ndata: {password: %s}\n' \
    "$role" "$(printf '%s' "$password" | base64 -w0)"
  printf -- '---\napiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: postgres}\nspec:\n  serviceName: postgres\n  selector: {matchLabels: {app: postgres}}\n  template:\n    metadata: {labels: {app: postgres}}\n    spec: {containers: [{name: postgres, image: "postgres:16", env: [{name: POSTGRES_PASSWORD, valueFrom: {secretKeyRef: {name: db, key: password}}}]}]}\n'
  for w in $(seq 1 "$consumers"); do
    printf -- '---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: c-%s}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: c-%s}}\n  template:\n    metadata: {labels: {app: c-%s}}\n    spec: {containers: [{name: c, image: c, env: [{name: DB_PASSWORD, valueFrom: {secretKeyRef: {name: db, key: password}}}]}]}\n' "$w" "$w" "$w"
  done
} | kubectl apply -n "$ns" -f - >/dev/null
names=()
kubectl rollout status statefulset/postgres -n "$ns" --timeout=300s >/dev/null
for w in $(seq 1 "$consumers"); do
  names+=("c-$w")
  kubectl rollout status "deployment/c-$w" -n "$ns" --timeout=300s >/dev/null
done
hyperfine --runs 3 --export-json "$out/issuer.json" \
  -n "kubectl-secrets rotate (PostgreSQL issuer, $consumers consumers)" \
  "kubectl-secrets rotate db -n $ns --key password --yes --min-restart-interval 0 > /dev/null 2>&1" \
  -n "by hand: ALTER ROLE + secret apply + restart/status x$consumers" \
  "bash $root/bench/issuer-manual.sh $ns db $role ${names[*]}" >&2
kubectl delete namespace "$ns" --wait=false >/dev/null
