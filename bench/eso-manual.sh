#!/usr/bin/env bash
# The runbooks' rotation of an ExternalSecret-owned Secret by hand: a new version at the
# provider (boto3 for AWS Secrets Manager, `vault kv patch` for Vault KV v2), `kubectl annotate`
# to force ESO's sync, wait for the Secret to change, then restart and wait for each consumer
# in turn.
# Usage: eso-manual.sh aws|vault TOOL NAMESPACE REMOTE EXTERNALSECRET SECRET DEPLOYMENT...
# (TOOL: moto's python, or the vault binary)
set -euo pipefail
provider=$1 tool=$2 ns=$3 remote=$4 external=$5 secret=$6; shift 6
before=$(kubectl get secret "$secret" -n "$ns" -o jsonpath='{.data.DB_PASSWORD}')
new=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
case $provider in
  # AWS moves AWSCURRENT to the new version itself; moto 5.2 leaves it on the previous holder
  # too when that version got it by an explicit stage move (as rotate's are), so any other
  # holder is cleared explicitly (a no-op against AWS).
  aws) printf '%s' "$new" | "$tool" -c '
import boto3, json, sys
client = boto3.client("secretsmanager")
new = client.put_secret_value(SecretId=sys.argv[1], SecretString=json.dumps({"password": sys.stdin.read()}))["VersionId"]
for version in client.list_secret_version_ids(SecretId=sys.argv[1])["Versions"]:
    if version["VersionId"] != new and "AWSCURRENT" in version["VersionStages"]:
        client.update_secret_version_stage(SecretId=sys.argv[1], VersionStage="AWSCURRENT", MoveToVersionId=new, RemoveFromVersionId=version["VersionId"])' "$remote" ;;
  vault) printf '%s' "$new" | "$tool" kv patch -mount=secret "$remote" password=- >/dev/null ;;
esac
kubectl annotate externalsecret "$external" -n "$ns" force-sync="$(date +%s%N)" --overwrite >/dev/null
for _ in $(seq 600); do
  [ "$(kubectl get secret "$secret" -n "$ns" -o jsonpath='{.data.DB_PASSWORD}')" != "$before" ] && break
  sleep 0.2
done
[ "$(kubectl get secret "$secret" -n "$ns" -o jsonpath='{.data.DB_PASSWORD}')" != "$before" ] || { echo "eso-manual: the Secret never changed" >&2; exit 1; }
for deployment in "$@"; do
  kubectl rollout restart "deployment/$deployment" -n "$ns" >/dev/null
  kubectl rollout status "deployment/$deployment" -n "$ns" --timeout=300s >/dev/null
done
