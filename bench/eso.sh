#!/usr/bin/env bash
# make bench, part 2 (also runnable alone with the bed up: bench/eso.sh OUT_DIR [aws|vault]):
# rotate of an ExternalSecret-owned Secret with 10 consumers against the manual path
# (bench/eso-manual.sh), in the same run, with the store at AWS Secrets Manager (moto) or the
# bed's Vault (KV v2). Writes OUT_DIR/eso.json or OUT_DIR/eso-vault.json (hyperfine).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/bench/out}
provider=${2:-aws}
consumers=${BENCH_ESO_CONSUMERS:-10}
mkdir -p "$out"
ns=bench-eso-$provider
kubectl delete namespace "$ns" --ignore-not-found --wait=true >/dev/null
kubectl create namespace "$ns" >/dev/null
first=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
case $provider in
  aws)
    source "$root/.cache/cluster/aws.env"
    tool=$("$root/scripts/install-moto.sh")/bin/python
    remote="bench-eso/app-$(date +%s)" store=aws-secretsmanager json=eso.json
    printf '%s' "$first" | "$tool" -c '
import boto3, json, sys
boto3.client("secretsmanager").create_secret(Name=sys.argv[1], SecretString=json.dumps({"password": sys.stdin.read()}))' "$remote"
    ;;
  vault)
    source "$root/.cache/cluster/vault.env"
    tool=$("$root/scripts/build-vault.sh")/vault
    remote="bench-eso/app-$(date +%s)" store=vault json=eso-vault.json
    printf '%s' "$first" | "$tool" kv put -mount=secret "$remote" password=- >/dev/null
    ;;
  *) echo "eso.sh: provider aws or vault, not $provider" >&2; exit 2 ;;
esac
{
  printf 'apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {name: app}\nspec:\n  refreshInterval: 1h\n  secretStoreRef: {kind: ClusterSecretStore, name: %s}\n  target: {name: app-secrets}\n  data: [{secretKey: DB_PASSWORD, remoteRef: {key: "%s", property: password}}]\n' "$store" "$remote"
  for w in $(seq 1 "$consumers"); do
    printf -- '---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: c-%s}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: c-%s}}\n  template:\n    metadata: {labels: {app: c-%s}}\n    spec: {containers: [{name: c, image: c, env: [{name: DB_PASSWORD, valueFrom: {secretKeyRef: {name: app-secrets, key: DB_PASSWORD}}}]}]}\n' "$w" "$w" "$w"
  done
} | kubectl apply -n "$ns" -f - >/dev/null
names=()
for w in $(seq 1 "$consumers"); do
  names+=("c-$w")
  kubectl rollout status "deployment/c-$w" -n "$ns" --timeout=300s >/dev/null
done
hyperfine --runs 3 --export-json "$out/$json" \
  -n "kubectl-secrets rotate (ExternalSecret, $consumers consumers)" \
  "kubectl-secrets rotate app-secrets -n $ns --key DB_PASSWORD --remote $remote --yes --min-restart-interval 0 > /dev/null 2>&1" \
  -n "by hand: $provider write + force-sync + restart/status x$consumers" \
  "bash $root/bench/eso-manual.sh $provider $tool $ns $remote app app-secrets ${names[*]}" >&2
kubectl delete namespace "$ns" --wait=false >/dev/null
