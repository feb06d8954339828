#!/usr/bin/env bash
# The runbooks' rotation of an ExternalSecret-owned Secret by hand: a new version in AWS Secrets
# Manager (boto3), `kubectl annotate` to force ESO's sync, wait for the Secret to change, then
# restart and wait for each consumer in turn.
# Usage: eso-manual.sh PYTHON NAMESPACE REMOTE_ID EXTERNALSECRET SECRET DEPLOYMENT...
set -euo pipefail
python=$1 ns=$2 remote=$3 external=$4 secret=$5; shift 5
before=$(kubectl get secret "$secret" -n "$ns" -o jsonpath='{.data.DB_PASSWORD}')
# AWS moves AWSCURRENT to the new version itself; moto 5.2 leaves it on the previous holder too
# when that version got it by an explicit stage move (as rotate's are), so any other holder is
# cleared explicitly (a no-op against AWS).
"$python" - "$remote" <<'PY'
import boto3, json, secrets, sys
client = boto3.client("secretsmanager")
new = client.put_secret_value(SecretId=sys.argv[1], SecretString=json.dumps({"password": secrets.token_hex(32)}))["VersionId"]
for version in client.list_secret_version_ids(SecretId=sys.argv[1])["Versions"]:
    if version["VersionId"] != new and "AWSCURRENT" in version["VersionStages"]:
        client.update_secret_version_stage(SecretId=sys.argv[1], VersionStage="AWSCURRENT", MoveToVersionId=new, RemoveFromVersionId=version["VersionId"])
PY
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
