#!/usr/bin/env bash
# Loads the seed runbooks' scenarios into the local cluster, one namespace per runbook in
# ../shared/seeds/: their Secrets (fresh random values, plus a few placeholders kept on purpose
# for audit) and the workloads that consume them, then a little drift, as it happens by hand.
# Re-running replaces the namespaces with fresh ones.
# Usage: scripts/load-seeds.sh KUBECONFIG
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kubeconfig=${1:?usage: load-seeds.sh KUBECONFIG}
bin=$("$root/scripts/build-testbed.sh")
kubectl() { "$bin/kubectl" --kubeconfig "$kubeconfig" "$@"; }
namespaces=(video-conferencing video-conferencing-eso aura-production intelliprompt chatbox platform)

log() { echo "load-seeds: $*" >&2; }
rand_b64() { openssl rand -base64 "$1" | tr -d '\n'; }
rand_hex() { openssl rand -hex "$1"; }

# secret NAMESPACE NAME KEY=VALUE...: applied from stdin, so no value is in any argv.
secret() {
  local ns=$1 name=$2; shift 2
  {
    printf 'apiVersion: v1\nkind: Secret\nmetadata: {name: %s, namespace: %s}\ntype: Opaque\ndata:\n' "$name" "$ns"
    local pair
    for pair in "$@"; do
      printf '  %s: %s\n' "${pair%%=*}" "$(printf '%s' "${pair#*=}" | base64 -w0)"
    done
  } | kubectl apply -f - >/dev/null
}

# The bed's database servers (databases.env beside the kubeconfig): the runbooks' users are
# made there with the same passwords as their Secrets, statements on stdin (never in argv).
source "$(dirname "$kubeconfig")/databases.env"
psql_admin() { PGOPTIONS='-c client_min_messages=warning' PGPASSWORD=$BED_POSTGRES_PASSWORD psql -h 127.0.0.1 -p "$BED_POSTGRES_PORT" -U postgres -d postgres -q -v ON_ERROR_STOP=1 >/dev/null; }
redis_admin() { REDISCLI_AUTH=$BED_REDIS_PASSWORD redis-cli --user "$BED_REDIS_ADMIN" -p "$BED_REDIS_PORT" >/dev/null; }
# pg_role ROLE PASSWORD: the role made anew with a database of its own (ROLE_db).
pg_role() {
  {
    printf "DROP DATABASE IF EXISTS %s_db;\n" "$1"
    # The roles an earlier demo's two-phase rotation made beside this one (they say so in their comment).
    printf "DO \$\$ DECLARE r record; BEGIN FOR r IN SELECT rolname FROM pg_roles WHERE shobj_description(oid, 'pg_authid') LIKE 'kubectl-secrets: successor of %s %%' LOOP EXECUTE format('DROP ROLE %%I', r.rolname); END LOOP; END \$\$;\n" "$1"
    printf "DROP ROLE IF EXISTS %s;\nCREATE ROLE %s LOGIN PASSWORD '%s';\nCREATE DATABASE %s_db OWNER %s;\n" \
      "$1" "$1" "$2" "$1" "$1"
  } | psql_admin
}
pg_password() { printf "ALTER ROLE %s PASSWORD '%s';\n" "$1" "$2" | psql_admin; }
# redis_user USER PASSWORD: an ACL user with that one password (default: the requirepass one).
redis_user() { printf 'ACL SETUSER %s reset on >%s ~* &* +@all\n' "$1" "$2" | redis_admin; }
# issuer NAMESPACE SECRET KEY SPEC: the key's issuer, kept on the Secret.
issuer() { kubectl annotate secret "$2" -n "$1" --overwrite "issuer.kubectl-secrets.io/$3=$4" >/dev/null; }

# patch_key NAMESPACE SECRET KEY VALUE: what `kubectl patch secret` does in the runbooks.
patch_key() {
  printf '{"data":{"%s":"%s"}}' "$3" "$(printf '%s' "$4" | base64 -w0)" \
    | kubectl patch secret "$2" -n "$1" --type merge --patch-file /dev/stdin >/dev/null
}

log "replacing namespaces: ${namespaces[*]}"
kubectl delete namespace "${namespaces[@]}" --ignore-not-found --wait=true --timeout=120s >/dev/null
for ns in "${namespaces[@]}"; do
  kubectl create namespace "$ns" >/dev/null
  kubectl label namespace "$ns" kubectl-secrets.io/seed=true >/dev/null
done

# 000 video conferencing: the Auth0 secret still holds the runbook's placeholder.
vc_db=$(rand_b64 24)
secret video-conferencing backend-secrets \
  "JWT_SECRET=$(rand_b64 48)" "REDIS_PASSWORD=$(rand_b64 32)" \
  "AUTH0_CLIENT_SECRET=<Paste Auth0 Secret Here>" \
  "DATABASE_URL=postgresql://vc:${vc_db}@postgres:5432/video_conferencing"
# ...and the TURN server credentials of an old release that nothing uses any more.
secret video-conferencing turn-credentials "TURN_USERNAME=sfu" "TURN_PASSWORD=$(rand_b64 24)"

# 000 as planned for production: the same backend secrets in AWS Secrets Manager (the bed's
# moto, settings in aws.env beside the kubeconfig), synced by an ExternalSecret. The value goes
# to boto3 on stdin, never in an argument.
moto_python=$("$root/scripts/install-moto.sh")/bin/python
printf '{"JWT_SECRET":"%s","REDIS_PASSWORD":"%s","AUTH0_CLIENT_SECRET":"%s","DATABASE_URL":"postgresql://vc:%s@postgres:5432/video_conferencing"}' \
  "$(rand_b64 48)" "$(rand_b64 32)" "$(rand_hex 32)" "$(rand_b64 24)" \
  | ( set -a; source "$(dirname "$kubeconfig")/aws.env"; set +a; "$moto_python" -c '
import boto3, sys
c = boto3.client("secretsmanager")
value = sys.stdin.read()
# A reload starts the remote afresh (its versions of earlier demos gone), as the namespaces do.
try:
    c.delete_secret(SecretId="video-conferencing/backend", ForceDeleteWithoutRecovery=True)
except c.exceptions.ResourceNotFoundException:
    pass
c.create_secret(Name="video-conferencing/backend", SecretString=value)
' )

# 001 Aura: the database and Redis passwords are embedded in backend-secrets' URIs.
aura_db=$(rand_b64 24); aura_redis=$(rand_b64 24)
secret aura-production backend-secrets \
  "JWT_SECRET_KEY=$(rand_hex 32)" \
  "POSTGRES_DB_URI=postgresql+psycopg://aura:${aura_db}@postgres:5432/aura_db" \
  "REDIS_URL=redis://:${aura_redis}@redis:6379/0"
secret aura-production postgres-secrets "postgres-user=aura" "postgres-password=$aura_db" "postgres-db=aura_db"
secret aura-production redis-secrets "redis-password=$aura_redis" "redis-url=redis://:${aura_redis}@redis:6379/0"
# Aura's postgres image made the role aura from POSTGRES_USER/POSTGRES_PASSWORD; its Redis
# checks requirepass (the default user). Both change with their current password (admin=self).
pg_role aura "$aura_db"
redis_user default "$aura_redis"
issuer aura-production postgres-secrets postgres-password "postgresql:user=aura,server=statefulset/postgres,database=aura_db"
issuer aura-production redis-secrets redis-password "redis:user=default,server=statefulset/redis"
# The backend team's three Secrets, selected together (`rotate -l team=aura`).
kubectl label secret backend-secrets postgres-secrets redis-secrets -n aura-production team=aura >/dev/null

# 002 IntelliPrompt: the OpenAI key is still the runbook's example.
secret intelliprompt api-keys "openai=sk-xxx" "anthropic=sk-ant-$(rand_hex 24)"
ip_db=$(rand_b64 32)
secret intelliprompt db-credentials "username=intelliprompt" "password=$ip_db"
pg_role intelliprompt "$ip_db"
issuer intelliprompt db-credentials password "postgresql:user=intelliprompt,server=statefulset/postgres,database=intelliprompt_db"

# 004 chatbox: the S3 access key is still a placeholder; LLM_PROVIDER_3_API_KEY was never added.
secret chatbox chat-secrets \
  "JWT_SECRET=$(rand_b64 32)" "ENCRYPTION_KEY=$(rand_b64 32)" \
  "S3_ACCESS_KEY_ID=your-s3-access-key" "S3_SECRET_ACCESS_KEY=$(rand_b64 30)" \
  "SMTP_USER=notifications" "SMTP_PASS=$(rand_b64 18)" \
  "SMS_ACCOUNT_SID=AC$(rand_hex 16)" "SMS_AUTH_TOKEN=$(rand_hex 16)" \
  "LLM_PROVIDER_1_API_KEY=sk-$(rand_hex 24)" "LLM_PROVIDER_2_API_KEY=sk-ant-$(rand_hex 24)"

# 004's session keys are deployed by Argo CD (its tracking annotation): rotate refuses them,
# since the next sync would write the old value back.
secret chatbox session-keys "SESSION_SECRET=$(rand_b64 32)"
kubectl annotate secret session-keys -n chatbox argocd.argoproj.io/tracking-id=chatbox:/Secret:chatbox/session-keys >/dev/null

# 004's other store: the LLM keys in the bed's Vault (KV v2 at secret/, settings in vault.env
# beside the kubeconfig), synced by an ExternalSecret (scripts/seeds/chatbox.yaml), and read by
# the injector's pod too. The values go to `vault kv put` on stdin, never in an argument.
vault_bin=$("$root/scripts/build-vault.sh")/vault
printf '{"LLM_PROVIDER_1_API_KEY":"sk-%s","LLM_PROVIDER_3_API_KEY":"sk-%s"}' "$(rand_hex 24)" "$(rand_hex 24)" \
  | ( set -a; source "$(dirname "$kubeconfig")/vault.env"; set +a; "$vault_bin" kv put -mount=secret chatbox/llm - >/dev/null )

# 003's webhook signing key lives only in Vault: the relay's pods read it through the Agent
# Injector (scripts/seeds/platform.yaml), no Secret in between.
printf '{"signing_key":"%s"}' "$(rand_b64 32)" \
  | ( set -a; source "$(dirname "$kubeconfig")/vault.env"; set +a; "$vault_bin" kv put -mount=secret platform/webhook - >/dev/null )

# 003 zero-downtime rotation: versioned JWT keys with an active-key pointer.
platform_db=$(rand_b64 32) platform_redis=$(rand_b64 32)
secret platform postgresql-credentials "username=backend" "password=$platform_db"
secret platform redis-credentials "username=backend" "password=$platform_redis"
# Seed 003 changes them as administrators: the Secret postgres-admin holds the superuser's password.
secret platform postgres-admin "password=$BED_POSTGRES_PASSWORD"
secret platform redis-admin "password=$BED_REDIS_PASSWORD"
pg_role backend "$platform_db"
redis_user backend "$platform_redis"
issuer platform postgresql-credentials password "postgresql:user=backend,server=statefulset/postgresql,admin=postgres-admin/password,database=backend_db"
issuer platform redis-credentials password "redis:user=backend,server=statefulset/redis,admin=redis-admin/password,admin-user=$BED_REDIS_ADMIN"
secret platform jwt-keys "jwt-secret-v1=$(rand_b64 64)" "active-key=jwt-secret-v1"

# 003's TLS certificate, issued by the bed's cert-manager before its readers start.
kubectl apply -n platform -f "$root/scripts/seeds/platform-certificates.yaml" >/dev/null
kubectl wait --for condition=Ready certificate/platform-ca certificate/platform-tls -n platform --timeout 90s >/dev/null

for ns in "${namespaces[@]}"; do
  kubectl apply -n "$ns" -f "$root/scripts/seeds/$ns.yaml" >/dev/null
done
kubectl wait --for condition=Ready externalsecret/backend-secrets -n video-conferencing-eso --timeout 60s >/dev/null
kubectl wait --for condition=Ready externalsecret/chat-llm-keys -n chatbox --timeout 60s >/dev/null
log "waiting for the workloads to roll out"
for ns in "${namespaces[@]}"; do
  for w in $(kubectl get deployments,statefulsets,daemonsets -n "$ns" -o name); do
    kubectl rollout status -n "$ns" "$w" --timeout=120s >/dev/null
  done
done

# Drift, the way it happens by hand (container start times have one-second resolution).
sleep 1.5
# 001: the JWT key was changed with `kubectl apply`, and nobody restarted the backend.
patch_key aura-production backend-secrets JWT_SECRET_KEY "$(rand_hex 32)"
# 002: the database password was changed (ALTER USER, then the Secret patched) and only the
# backend restarted, as the runbook says.
ip_db=$(rand_b64 32)
pg_password intelliprompt "$ip_db"
patch_key intelliprompt db-credentials password "$ip_db"
kubectl rollout restart deployment/backend -n intelliprompt >/dev/null
kubectl rollout status deployment/backend -n intelliprompt --timeout=120s >/dev/null
# 003: the Redis password changed; the node agent reads it through a subPath mount.
platform_redis=$(rand_b64 32)
redis_user backend "$platform_redis"
patch_key platform redis-credentials password "$platform_redis"
kubectl rollout restart deployment/backend -n platform >/dev/null
kubectl rollout status deployment/backend -n platform --timeout=120s >/dev/null
log "loaded ${#namespaces[@]} namespaces"
