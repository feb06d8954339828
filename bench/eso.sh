#!/usr/bin/env bash
# make bench, part 6 (also runnable alone with the bed up: bench/eso.sh OUT_DIR): rotate of an
# ExternalSecret-owned Secret with 10 consumers against the manual path (bench/eso-manual.sh),
# in the same run. Writes OUT_DIR/eso.json (hyperfine).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/bench/out}
consumers=${BENCH_ESO_CONSUMERS:-10}
mkdir -p "$out"
source "$root/.cache/cluster/aws.env"
python=$("$root/scripts/install-moto.sh")/bin/python
ns=bench-eso remote="bench-eso/app-$(date +%s)"
kubectl delete namespace "$ns" --ignore-not-found --wait=true >/dev/null
kubectl create namespace "$ns" >/dev/null
"$python" - "$remote" <<'PY'
import boto3, json, secrets, sys
boto3.client("secretsmanager").create_secret(Name=sys.argv[1], SecretString=json.dumps({"password": secrets.token_hex(32)}))
PY
{
  printf 'apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {name: app}\nspec:\n  refreshInterval: 1h\n  secretStoreRef: {kind: ClusterSecretStore, name: aws-secretsmanager}\n  target: {name: app-secrets}\n  data: [{secretKey: DB_PASSWORD, remoteRef: {key: "%s", property: password}}]\n' "$remote"
  for w in $(seq 1 "$consumers"); do
    printf -- '---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: c-%s}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: c-%s}}\n  template:\n    metadata: {labels: {app: c-%s}}\n    spec: {containers: [{name: c, image: c, env: [{name: DB_PASSWORD, valueFrom: {secretKeyRef: {name: app-secrets, key: DB_PASSWORD}}}]}]}\n' "$w" "$w" "$w"
  done
} | kubectl apply -n "$ns" -f - >/dev/null
names=()
for w in $(seq 1 "$consumers"); do
  names+=("c-$w")
  kubectl rollout status "deployment/c-$w" -n "$ns" --timeout=300s >/dev/null
done
hyperfine --runs 3 --export-json "$out/eso.json" \
  -n "kubectl-secrets rotate (ExternalSecret, $consumers consumers)" \
  "kubectl-secrets rotate app-secrets -n $ns --key DB_PASSWORD --remote $remote --yes --min-restart-interval 0 > /dev/null 2>&1" \
  -n "by hand: boto3 + force-sync + restart/status x$consumers" \
  "bash $root/bench/eso-manual.sh $python $ns $remote app app-secrets ${names[*]}" >&2
kubectl delete namespace "$ns" --wait=false >/dev/null
