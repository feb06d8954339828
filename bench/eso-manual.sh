#!/usr/bin/env bash
# The runbooks' rotation of an ExternalSecret-owned Secret by hand: a new version in AWS Secrets
# Manager (boto3), `kubectl annotate` to force ESO's sync, wait for the Secret to change, then
# restart and wait for each consumer in turn.
# Usage: eso-manual.sh PYTHON NAMESPACE REMOTE_ID EXTERNALSECRET SECRET DEPLOYMENT...
set -euo pipefail
python=$1 ns=$2 remote=$3 external=$4 secret=$5; shift 5
before=$(kubectl get secret "$secret" -n "$ns" -o jsonpath='{.data.DB_PASSWORD}')
"$python" - "$remote" <<'PY'
import boto3, json, secrets, sys
client = boto3.client("secretsmanager")
client.put_secret_value(SecretId=sys.argv[1], SecretString=json.dumps({"password": secrets.token_hex(32)}))
PY
kubectl annotate externalsecret "$external" -n "$ns" force-sync="$(date +%s%N)" --overwrite >/dev/null
for _ in $(seq 600); do
  [ "$(kubectl get secret "$secret" -n "$ns" -o jsonpath='{.data.DB_PASSWORD}')" != "$before" ] && break
  sleep 0.2
done
for deployment in "$@"; do
  kubectl rollout restart "deployment/$deployment" -n "$ns" >/dev/null
  kubectl rollout status "deployment/$deployment" -n "$ns" --timeout=300s >/dev/null
done
