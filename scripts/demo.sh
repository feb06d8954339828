#!/usr/bin/env bash
# The demo: local cluster up, the seed runbooks' scenarios loaded, the plugin on kubectl's
# PATH, and the plugin's main flow run through `kubectl secrets ...` for real.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$("$root/scripts/build-testbed.sh")
kubeconfig=$("$root/scripts/cluster-up.sh" | tail -n 1)
"$root/scripts/load-seeds.sh" "$kubeconfig"

# kubectl finds plugins on PATH: a folder with kubectl and kubectl-secrets side by side.
path_dir="$root/.cache/path"
mkdir -p "$path_dir"
ln -sf "$bin/kubectl" "$path_dir/kubectl"
ln -sf "$root/target/release/kubectl-secrets" "$path_dir/kubectl-secrets"
ln -sf "$("$root/scripts/build-vault.sh")/vault" "$path_dir/vault"
export PATH="$path_dir:$PATH" KUBECONFIG="$kubeconfig"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { step "$*"; "$@" || echo "(exit code $?)"; }

run kubectl plugin list
run kubectl secrets verify -A
echo
source "$(dirname "$kubeconfig")/databases.env"
echo "Seed 001: a new Postgres password. It changes at the server first (ALTER ROLE aura, with a SCRAM"
echo "verifier computed by the plugin; the issuer is kept on the Secret as an annotation), then in"
echo "postgres-secrets and inside backend-secrets' POSTGRES_DB_URI; the backend restarts with live"
echo "progress, the postgres StatefulSet does not (its env only seeds its first start), then verify:"
run kubectl get secret postgres-secrets -n aura-production -o jsonpath='{.metadata.annotations}{"\n"}'
run kubectl secrets rotate postgres-secrets -n aura-production --key postgres-password --propagate --yes
step "psql -U aura with the password postgres-secrets now holds (not shown), then with the previous one"
new_pw=$(kubectl get secret postgres-secrets -n aura-production -o jsonpath='{.data.postgres-password}' | base64 -d)
old_pw=$(kubectl get secret -n aura-production -l kubectl-secrets.io/backup-of=postgres-secrets \
  -o jsonpath='{.items[0].data.postgres-password}' | base64 -d)
PGPASSWORD=$new_pw psql -h 127.0.0.1 -p "$BED_POSTGRES_PORT" -U aura -d aura_db -Atc "select 'PostgreSQL accepts the new password of ' || current_user"
# The previous password must fail: psql's exit status is the point, not an error of the demo.
{ PGPASSWORD=$old_pw psql -h 127.0.0.1 -p "$BED_POSTGRES_PORT" -U aura -d aura_db -Atc "select 1" 2>&1 || true; } \
  | sed 's/^psql: error: .*FATAL: */the previous one: /'
unset new_pw old_pw
echo
echo "What is still stale after the runbooks' manual edits gets restarted the same way:"
run kubectl secrets verify -A --fix --yes
echo
echo "Left: what a restart cannot fix (a literal env value shadowing a key, a key that does not exist):"
run kubectl secrets verify -A
run kubectl secrets verify chat-secrets -n chatbox -o wide
echo
echo "Seed 001's GitOps flow: the controller's certificate through the API server (kubeseal --fetch-cert),"
echo "then a Secret sealed for the real Sealed Secrets controller and applied:"
seal_dir=$(mktemp -d)
trap 'rm -rf "$seal_dir"' EXIT
openssl rand -base64 32 | tr -d '\n' >"$seal_dir/postgres-db-uri"
step "kubectl secrets fetch-cert > sealed-secrets-public-key.pem"
kubectl secrets fetch-cert >"$seal_dir/sealed-secrets-public-key.pem"
head -n 2 "$seal_dir/sealed-secrets-public-key.pem"
step "kubectl secrets seal sealed-backend-secrets -n aura-production --from-file postgres-db-uri=./postgres-db-uri > sealed.yaml"
kubectl secrets seal sealed-backend-secrets -n aura-production --from-file "postgres-db-uri=$seal_dir/postgres-db-uri" >"$seal_dir/sealed.yaml"
cat "$seal_dir/sealed.yaml"
run kubectl apply -f "$seal_dir/sealed.yaml"
for _ in $(seq 40); do kubectl get secret sealed-backend-secrets -n aura-production >/dev/null 2>&1 && break; sleep 0.25; done
run kubectl secrets list -n aura-production
step "kubectl secrets seal --validate sealed.yaml"
kubectl secrets seal --validate "$seal_dir/sealed.yaml" || echo "(exit code $?)"
echo
echo "Seed 003: JWT keys in two phases. jwt-secret-v2 is added beside v1 and active-key moves to it;"
echo "v1 is removed only once the tokens it signed have expired (--after, counted from the add):"
run kubectl secrets rotate jwt-keys -n platform --phase add --key jwt-secret=base64:64 --yes
run kubectl secrets rotate jwt-keys -n platform --phase retire --after 15m --yes
echo
echo "Seed 003's database users, zero downtime, in one change: PostgreSQL gets a new role backend_$(date +%Y%m%d)"
echo "beside backend (a member of it: every privilege and object backend has), the Redis ACL user backend a"
echo "second password beside its current one (ACL SETUSER with its SHA-256, never the value); both Secrets are"
echo "written, the backend restarts once, and once verify shows every pod on the new values, backend stops"
echo "logging in to PostgreSQL (it stays, NOLOGIN) and its previous Redis password is retired. The issuers act"
echo "as administrators, so without a question the operator names them on the command line. (The demo"
echo "restarted the backend seconds ago; --min-restart-interval 0 lets it restart again, where by default a"
echo "workload is not restarted twice within 5 minutes.)"
successor="backend_$(date +%Y%m%d)"
platform_old=$(kubectl get secret postgresql-credentials -n platform -o jsonpath='{.data.password}' | base64 -d)
run kubectl secrets rotate postgresql-credentials redis-credentials -n platform --key password \
  --set "postgresql-credentials/username=$successor" --min-restart-interval 0 --yes \
  --issuer "postgresql-credentials/password=postgresql:user=backend,server=statefulset/postgresql,admin=postgres-admin/password,database=backend_db,user-key=username" \
  --issuer "redis-credentials/password=redis:user=backend,server=statefulset/redis,admin=redis-admin/password,admin-user=$BED_REDIS_ADMIN"
step "psql -U $successor with the password postgresql-credentials now holds (not shown), then -U backend"
new_pw=$(kubectl get secret postgresql-credentials -n platform -o jsonpath='{.data.password}' | base64 -d)
PGPASSWORD=$new_pw psql -h 127.0.0.1 -p "$BED_POSTGRES_PORT" -U "$successor" -d backend_db -Atc \
  "select current_user || ' logs in, a member of ' || string_agg(b.rolname, ', ') from pg_auth_members m join pg_roles b on b.oid = m.roleid where m.member = current_user::regrole"
{ PGPASSWORD=$platform_old psql -h 127.0.0.1 -p "$BED_POSTGRES_PORT" -U backend -d backend_db -Atc "select 1" 2>&1 || true; } \
  | sed 's/^psql: error: .*FATAL: */backend: /'
unset new_pw platform_old
echo
echo "Seed 003's TLS certificate, issued by the bed's cert-manager. The runbook forces a renewal by deleting"
echo "the Secret and the Certificate; rotate asks cert-manager to renew it (as cmctl renew does), waits for the"
echo "new certificate, restarts only the readers that do not reload it (subPath and env; the gateway mounts"
echo "the whole Secret, whose files update in place) and verifies:"
run kubectl secrets list -n platform
run kubectl secrets rotate platform-tls -n platform --yes
echo
echo "Seed 000 as planned for production: backend-secrets synced by External Secrets from AWS Secrets"
echo "Manager. The new JWT secret is written as a new AWS version (AWSCURRENT; the old one AWSPREVIOUS),"
echo "External Secrets syncs it, exactly its consumers restart, verify proves no pod holds the old value:"
set -a; source "$(dirname "$kubeconfig")/aws.env"; set +a
run kubectl secrets list -n video-conferencing-eso
run kubectl secrets rotate backend-secrets -n video-conferencing-eso --key JWT_SECRET --remote video-conferencing/backend --yes
step "aws secretsmanager list-secret-version-ids --secret-id video-conferencing/backend  (boto3)"
"$("$root/scripts/install-moto.sh")/bin/python" -c '
import boto3
c = boto3.client("secretsmanager")
for v in c.list_secret_version_ids(SecretId="video-conferencing/backend")["Versions"]:
    print(v["VersionId"], " ".join(v["VersionStages"]))
'

cat <<EOM

Try it yourself:
  export KUBECONFIG=$kubeconfig
  export PATH=$path_dir:\$PATH
  source $(dirname "$kubeconfig")/aws.env   # the bed's AWS Secrets Manager (moto)
  source $(dirname "$kubeconfig")/vault.env # the bed's Vault (dev mode): vault kv get secret/chatbox/llm
  kubectl secrets verify -A
  kubectl secrets rotate backend-secrets -n video-conferencing --key JWT_SECRET=base64:48
  kubectl secrets rotate --help
Stop the cluster with: make cluster-down
EOM
