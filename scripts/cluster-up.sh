#!/usr/bin/env bash
# Starts the local test bed: etcd, kube-apiserver (RBAC + static tokens), controller-manager,
# scheduler, kwok (fake kubelet for 3 nodes), the Sealed Secrets controller, moto (AWS Secrets
# Manager), HashiCorp Vault (dev mode), the External Secrets Operator, the Argo Rollouts controller, cert-manager's
# controllers, and real PostgreSQL, MariaDB and Redis servers (the databases whose passwords get
# rotated; fake pods' ports 5432, 3306 and 6379 lead to them through kwok's port-forward), all on
# 127.0.0.1. Idempotent: a running, healthy cluster is reused. The last line of stdout is the admin kubeconfig's path;
# reader/patcher/limited kubeconfigs sit beside it.
# A second bed runs beside the first with its own STATE_DIR, ports and network namespace
# (scripts/test-compat.sh starts one per older Kubernetes release with CONTROL_PLANE_VERSION).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/versions.env"
state=${STATE_DIR:-$root/.cache/cluster}
# One start of a bed at a time: make test starts the bed beside the compiles, and the e2e step's
# own start waits here, then reuses it (a second start half-way would stop the first's bed). -o:
# the servers started below do not hold the lock.
mkdir -p "$(dirname "$state")"
if [ "${KS_BED_LOCKED:-}" != "$state" ]; then
  exec env KS_BED_LOCKED="$state" flock -o "$state.lock" "$0" "$@"
fi
# The release of kube-apiserver, kube-controller-manager and kube-scheduler; the rest of the bed
# (etcd, kwok, the controllers, kubectl) is the same for every release.
CONTROL_PLANE_VERSION=${CONTROL_PLANE_VERSION:-$KUBERNETES_VERSION}
# moto and the External Secrets Operator (off for the compat beds, whose tests do not use them).
WITH_ESO=${WITH_ESO:-1}
# HashiCorp Vault (dev mode) and External Secrets' ClusterSecretStore `vault` reading its KV v2
# (with the External Secrets Operator only).
WITH_VAULT=${WITH_VAULT:-$WITH_ESO}
# The Argo Rollouts controller (off for the compat beds too).
WITH_ROLLOUTS=${WITH_ROLLOUTS:-1}
# PostgreSQL, MariaDB and Redis from Debian's packages (off for the compat and fleet beds).
WITH_DATABASES=${WITH_DATABASES:-1}
# cert-manager's controllers (off for the compat beds, and for the fleet's but one).
WITH_CERT_MANAGER=${WITH_CERT_MANAGER:-1}
# Ports (loopback only); override to run a second bed beside the first.
ETCD_PORT=${ETCD_PORT:-32379}
ETCD_PEER_PORT=${ETCD_PEER_PORT:-32380}
API_PORT=${API_PORT:-36443}
KWOK_PORT=${KWOK_PORT:-40247}
READY_DELAY_MS=${READY_DELAY_MS:-1000}
# The Sealed Secrets controller runs in a network namespace of the bed's own, so the API
# server's service proxy (which refuses loopback) can reach it, as in a real cluster.
NETNS=${NETNS:-ks-testbed}
BRIDGE_IP=${BRIDGE_IP:-10.201.0.1}
CONTROLLER_IP=${CONTROLLER_IP:-10.201.0.2}
NODES=${NODES:-3}
# moto (AWS Secrets Manager API) and the External Secrets Operator's metrics, loopback only.
MOTO_PORT=${MOTO_PORT:-45566}
ESO_METRICS_PORT=${ESO_METRICS_PORT:-45567}
VAULT_PORT=${VAULT_PORT:-45573}
# Argo Rollouts' metrics and health endpoints (it listens on every address: free ports only).
ROLLOUTS_METRICS_PORT=${ROLLOUTS_METRICS_PORT:-45568}
ROLLOUTS_HEALTHZ_PORT=${ROLLOUTS_HEALTHZ_PORT:-45569}
AWS_REGION=${AWS_REGION:-us-east-1}
# The database servers (loopback only), and the ports of fake pods that lead to them.
POSTGRES_PORT=${POSTGRES_PORT:-45570}
MYSQL_PORT=${MYSQL_PORT:-45571}
REDIS_PORT=${REDIS_PORT:-45572}
# Fake pods' ports in this range lead to the same port on 127.0.0.1: a test that starts a
# server of its own (a Redis with requirepass only it changes) reaches it through a pod.
IDENTITY_PORTS=${IDENTITY_PORTS:-46400-46409}

log() { echo "cluster-up: $*" >&2; }

bin=$("$root/scripts/build-testbed.sh")
control_plane=$bin
if [ "$CONTROL_PLANE_VERSION" != "$KUBERNETES_VERSION" ]; then
  control_plane=$("$root/scripts/build-testbed.sh" --control-plane "$CONTROL_PLANE_VERSION")
fi
if [ "$WITH_ESO" = 1 ]; then
  eso=$("$root/scripts/build-eso.sh")
  moto=$("$root/scripts/install-moto.sh")
  processes=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok api-bridge sealed-secrets moto external-secrets)
else
  processes=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok api-bridge sealed-secrets)
fi
if [ "$WITH_ESO" = 1 ] && [ "$WITH_VAULT" = 1 ]; then
  vault=$("$root/scripts/build-vault.sh")
  processes+=(vault)
fi
if [ "$WITH_ROLLOUTS" = 1 ]; then
  rollouts=$("$root/scripts/build-argo-rollouts.sh")
  processes+=(argo-rollouts)
fi
if [ "$WITH_CERT_MANAGER" = 1 ]; then
  cert_manager=$("$root/scripts/build-cert-manager.sh")
  processes+=(cert-manager)
fi
if [ "$WITH_DATABASES" = 1 ]; then
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -x "$pg_bin/postgres" ] && command -v mariadbd >/dev/null && command -v redis-server >/dev/null || {
    log "PostgreSQL, MariaDB or Redis is missing: make deps installs them"; exit 1; }
  processes+=(postgres mariadb redis)
fi
kubectl() { "$bin/kubectl" --kubeconfig "$state/admin.kubeconfig" "$@"; }

alive() { [ -f "$state/$1.pid" ] && kill -0 "$(cat "$state/$1.pid")" 2>/dev/null; }
healthy() {
  for name in "${processes[@]}"; do alive "$name" || return 1; done
  # A bed started for another release is not this one.
  [ "$(cat "$state/control-plane-version" 2>/dev/null)" = "$CONTROL_PLANE_VERSION" ] || return 1
  kubectl get --raw /readyz >/dev/null 2>&1
}

wait_for() { # description, seconds, command...
  local what=$1 seconds=$2; shift 2
  for _ in $(seq $((seconds * 4))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.25
  done
  log "timed out waiting for $what; last log lines:"
  tail -n 20 "$state/logs/"*.log >&2 || true
  exit 1
}

# Each CRD named is Established. (`kubectl wait --for condition=established` fails outright on a
# CRD whose status has no conditions yet, which a fresh one may not.)
established() {
  for crd in "$@"; do
    [ "$(kubectl get crd "$crd" -o jsonpath='{.status.conditions[?(@.type=="Established")].status}')" = True ] || return 1
  done
}

start() { # name, command...
  local name=$1; shift
  setsid "$@" >"$state/logs/$name.log" 2>&1 < /dev/null &
  echo $! >"$state/$name.pid"
}
# The Stages, and where fake pods' ports lead (kwok's ClusterPortForward).
stages() {
  sed "s/@READY_DELAY_MS@/$READY_DELAY_MS/g" "$root/scripts/testbed/kwok-stages.yaml.in"
  [ "$WITH_DATABASES" = 1 ] || return 0
  printf -- '---\napiVersion: kwok.x-k8s.io/v1alpha1\nkind: ClusterPortForward\nmetadata: {name: bed-databases}\nspec:\n  forwards:\n'
  printf '  - {ports: [%s], target: {address: 127.0.0.1, port: %s}}\n' 5432 "$POSTGRES_PORT" 3306 "$MYSQL_PORT" 6379 "$REDIS_PORT"
  for port in $(seq "${IDENTITY_PORTS%-*}" "${IDENTITY_PORTS#*-}"); do
    printf '  - {ports: [%s], target: {address: 127.0.0.1, port: %s}}\n' "$port" "$port"
  done
}
start_kwok() {
  stages >"$state/kwok-stages.yaml"
  log "starting kwok (pods Ready after ${READY_DELAY_MS} ms)"
  # The fake kubelet's server (port-forward) on 127.0.0.1, with a serving certificate of the
  # bed's CA, which the API server checks.
  start kwok "$bin/kwok" --kubeconfig "$state/kwok.kubeconfig" --config "$state/kwok-stages.yaml" \
    --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake --node-lease-duration-seconds 40 \
    --server-address "127.0.0.1:$KWOK_PORT" --node-ip 127.0.0.1 --node-port "$KWOK_PORT" \
    --tls-cert-file "$state/pki/kubelet.crt" --tls-private-key-file "$state/pki/kubelet.key" --cidr 10.244.0.1/16
}

# SealedSecrets labelled testbed.kubectl-secrets.io/unwatched are left to the tests (which set
# their status themselves): hundreds of them would keep this controller, limited to 5 requests
# a second, busy for minutes.
SEALED_SECRETS_SELECTOR='!testbed.kubectl-secrets.io/unwatched'
start_sealed_secrets() {
  log "starting the Sealed Secrets controller on $CONTROLLER_IP:8080 (network namespace $NETNS)"
  printf '%s\n' "$SEALED_SECRETS_SELECTOR" >"$state/sealed-secrets.args"
  start sealed-secrets env KUBERNETES_SERVICE_HOST="$BRIDGE_IP" KUBERNETES_SERVICE_PORT="$API_PORT" POD_NAMESPACE=kube-system \
    ip netns exec "$NETNS" unshare --mount --propagation private sh -c '
      mkdir -p /var/run/secrets/kubernetes.io/serviceaccount &&
      mount --bind "$0" /var/run/secrets/kubernetes.io/serviceaccount &&
      exec "$1" --listen-addr "$2:8080" --listen-metrics-addr "127.0.0.1:8081" --key-renew-period 0 --label-selector "$3"' \
    "$sa" "$bin/controller" "$CONTROLLER_IP" "$SEALED_SECRETS_SELECTOR"
}
# The controllers' client rate limits and sync concurrency. `bed` (the default) raises them so
# that a hundred rollouts at once are bounded by the 2 cores rather than a client-side limiter;
# `upstream` keeps the releases' defaults (kube-controller-manager 20 requests/s, burst 30, 5
# syncs at a time; kube-scheduler 50/100), as a kubeadm control plane runs. make bench measures
# rotate under both.
CONTROLLER_LIMITS=${CONTROLLER_LIMITS:-bed}
case $CONTROLLER_LIMITS in bed | upstream) ;; *) log "CONTROLLER_LIMITS must be bed or upstream"; exit 2 ;; esac
start_controllers() {
  local manager_limits=() scheduler_limits=()
  if [ "$CONTROLLER_LIMITS" = bed ]; then
    manager_limits=(--concurrent-deployment-syncs 10 --concurrent-statefulset-syncs 10 --concurrent-replicaset-syncs 10
      --kube-api-qps 200 --kube-api-burst 400)
    scheduler_limits=(--kube-api-qps 200 --kube-api-burst 400)
  fi
  echo "$CONTROLLER_LIMITS" >"$state/controller-limits"
  log "starting kube-controller-manager and kube-scheduler (limits: $CONTROLLER_LIMITS)"
  start kube-controller-manager "$control_plane/kube-controller-manager" \
    --kubeconfig "$state/kube-controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port 0 --leader-elect=false \
    --service-account-private-key-file "$state/pki/sa.key" --root-ca-file "$state/pki/ca.crt" \
    --controllers '*,-node-ipam-controller,-persistentvolume-attach-detach-controller,-persistentvolume-binder-controller,-persistentvolume-expander-controller' \
    "${manager_limits[@]}"
  start kube-scheduler "$control_plane/kube-scheduler" \
    --kubeconfig "$state/kube-scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port 0 --leader-elect=false "${scheduler_limits[@]}"
}

if healthy; then
  # Changed Stages (a pull, or another READY_DELAY_MS) only need kwok restarted.
  if ! stages | cmp -s - "$state/kwok-stages.yaml"; then
    log "kwok Stages changed: restarting kwok"
    kill -TERM -- "-$(cat "$state/kwok.pid")" 2>/dev/null || true
    sleep 1
    start_kwok
  fi
  # So do changed arguments of the Sealed Secrets controller.
  if ! printf '%s\n' "$SEALED_SECRETS_SELECTOR" | cmp -s - "$state/sealed-secrets.args"; then
    log "Sealed Secrets controller arguments changed: restarting it"
    kill -TERM -- "-$(cat "$state/sealed-secrets.pid")" 2>/dev/null || true
    sleep 1
    sa="$state/sa"
    start_sealed_secrets
    wait_for "the Sealed Secrets controller's certificate" 60 curl -fsS "http://$CONTROLLER_IP:8080/v1/cert.pem"
  fi
  # And other controller limits (make bench's second profile).
  if [ "$(cat "$state/controller-limits" 2>/dev/null || echo bed)" != "$CONTROLLER_LIMITS" ]; then
    for name in kube-controller-manager kube-scheduler; do
      kill -TERM -- "-$(cat "$state/$name.pid")" 2>/dev/null || true
    done
    sleep 1
    start_controllers
  fi
  log "reusing the running cluster"
  echo "$state/admin.kubeconfig"
  exit 0
fi

# Anything half-started is stopped first, so a start is always from a known state.
STATE_DIR=$state NETNS=$NETNS "$root/scripts/cluster-down.sh" >/dev/null 2>&1 || true
# The bed listens on ports inside Linux's ephemeral range (32768-60999), where any outgoing
# connection may take one first ("bind: address already in use": a fleet bed's etcd once lost
# its peer port so in CI). Where we may (root), they are reserved for listeners, the kernel's own
# way (net.ipv4.ip_local_reserved_ports; appended to, never replaced).
reserved=/proc/sys/net/ipv4/ip_local_reserved_ports
if [ -w "$reserved" ]; then
  ours="$ETCD_PORT,$ETCD_PEER_PORT,$API_PORT,$KWOK_PORT,$MOTO_PORT,$ESO_METRICS_PORT,$ROLLOUTS_METRICS_PORT"
  ours+=",$ROLLOUTS_HEALTHZ_PORT,$POSTGRES_PORT,$MYSQL_PORT,$REDIS_PORT,$VAULT_PORT,$IDENTITY_PORTS"
  current=$(cat "$reserved")
  printf '%s\n' "${current:+$current,}$ours" >"$reserved" 2>/dev/null || log "could not reserve the bed's ports (carrying on)"
fi
# Another bed (another clone's, say) on these ports would answer in this one's place.
for port in "$ETCD_PORT" "$API_PORT" "$KWOK_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    log "port $port is already taken (another bed? \`make cluster-down\` in its checkout, or other ports: see README)"
    exit 1
  fi
done
mkdir -p "$state/pki" "$state/logs" "$state/sa"
echo "$CONTROL_PLANE_VERSION" >"$state/control-plane-version"


# ---- PKI and credentials (made once per state folder) ------------------------------------
pki="$state/pki"
if [ ! -f "$pki/tokens.csv" ]; then
  log "creating CA, serving certificate, service-account keys and user tokens"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=kubectl-secrets-testbed-ca" \
    -keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" -keyout "$pki/apiserver.key" \
    -out "$pki/apiserver.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,IP:10.96.0.1,IP:%s,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\n' "$BRIDGE_IP" >"$pki/san.ext"
  openssl x509 -req -in "$pki/apiserver.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 3650 -extfile "$pki/san.ext" -out "$pki/apiserver.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kwok-kubelet" -keyout "$pki/kubelet.key" -out "$pki/kubelet.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$pki/kubelet.ext"
  openssl x509 -req -in "$pki/kubelet.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 3650 -extfile "$pki/kubelet.ext" -out "$pki/kubelet.crt" 2>/dev/null
  openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
  openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  # token,user,uid,"group1,group2": the test users of the later issues' RBAC tests.
  {
    for user in admin:system:masters kube-controller-manager:system:masters kube-scheduler:system:masters \
                kwok:system:masters sealed-secrets-controller:system:masters external-secrets:system:masters \
                argo-rollouts:system:masters cert-manager:system:masters \
                reader:testbed-users patcher:testbed-users limited:testbed-users; do
      name=${user%%:*}; groups=${user#*:}
      echo "$(openssl rand -hex 24),$name,$name,\"$groups\""
    done
  } >"$pki/tokens.csv"
  chmod 600 "$pki"/*.key "$pki/tokens.csv"
fi

kubeconfig() { # user -> file
  local user=$1 token
  token=$(awk -F, -v u="$user" '$2 == u {print $1}' "$pki/tokens.csv")
  cat >"$state/$user.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: testbed
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority-data: $(base64 -w0 <"$pki/ca.crt")
users:
- name: $user
  user:
    token: $token
contexts:
- name: testbed-$user
  context: {cluster: testbed, user: $user, namespace: default}
current-context: testbed-$user
EOF
  chmod 600 "$state/$user.kubeconfig"
}
for user in admin kube-controller-manager kube-scheduler kwok sealed-secrets-controller external-secrets argo-rollouts cert-manager \
            reader patcher limited; do
  kubeconfig "$user"
done

# ---- control plane ------------------------------------------------------------------------
log "starting etcd on 127.0.0.1:$ETCD_PORT"
start etcd "$bin/etcd" --name testbed --data-dir "$state/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster "testbed=http://127.0.0.1:$ETCD_PEER_PORT" --unsafe-no-fsync --quota-backend-bytes 4294967296
wait_for etcd 30 curl -fsS "http://127.0.0.1:$ETCD_PORT/health"

log "starting kube-apiserver $CONTROL_PLANE_VERSION on 127.0.0.1:$API_PORT"
start kube-apiserver "$control_plane/kube-apiserver" \
  --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
  --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$API_PORT" \
  --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
  --client-ca-file "$pki/ca.crt" --token-auth-file "$pki/tokens.csv" \
  --authorization-mode RBAC --anonymous-auth=false \
  --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --service-cluster-ip-range 10.96.0.0/16 --endpoint-reconciler-type none \
  --kubelet-preferred-address-types InternalIP --kubelet-certificate-authority "$pki/ca.crt" \
  --profiling=false --enable-priority-and-fairness=false
wait_for kube-apiserver 90 kubectl get --raw /readyz

start_controllers

start_kwok

for i in $(seq 1 "$NODES"); do
  kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
  labels: {kubernetes.io/hostname: kwok-node-$i, kubernetes.io/os: linux, type: kwok}
EOF
done
schedulable_nodes() { # Ready and without the not-ready taint the node lifecycle controller removes
  "$bin/kubectl" --kubeconfig "$state/admin.kubeconfig" get nodes --no-headers \
    -o custom-columns='READY:.status.conditions[?(@.type=="Ready")].status,TAINTS:.spec.taints[*].key' 2>/dev/null \
    | awk '$1 == "True" && $2 !~ /not-ready|unreachable/' | wc -l
}
all_nodes_schedulable() { [ "$(schedulable_nodes)" -ge "$NODES" ]; }
wait_for "schedulable kwok nodes" 60 all_nodes_schedulable

# ---- test users' permissions ----------------------------------------------------------------
kubectl apply -f "$root/scripts/testbed/rbac.yaml" >/dev/null

# ---- Sealed Secrets controller (out of cluster, as if in kube-system) ------------------------
# It only knows rest.InClusterConfig(): give it the service-account files in a private mount
# namespace, so nothing is written to the host's /var/run.
sa="$state/sa"
awk -F, '$2 == "sealed-secrets-controller" {printf "%s", $1}' "$pki/tokens.csv" >"$sa/token"
cp "$pki/ca.crt" "$sa/ca.crt"
printf 'kube-system' >"$sa/namespace"
chmod 600 "$sa/token"
kubectl apply -f "$bin/sealedsecrets-crd.yaml" >/dev/null
# Its own network namespace, joined to the host by a veth pair (addresses of the bed's own).
ip netns del "$NETNS" 2>/dev/null || true
ip link del "$NETNS-h" 2>/dev/null || true
ip netns add "$NETNS"
ip link add "$NETNS-h" type veth peer name "$NETNS-c"
ip link set "$NETNS-c" netns "$NETNS"
ip addr add "$BRIDGE_IP/30" dev "$NETNS-h"
ip link set "$NETNS-h" up
ip netns exec "$NETNS" ip addr add "$CONTROLLER_IP/30" dev "$NETNS-c"
ip netns exec "$NETNS" ip link set "$NETNS-c" up
ip netns exec "$NETNS" ip link set lo up
# Recorded in this bed's state: cluster-down removes only a namespace its own bed made (a clone
# without a bed, or one refused for taken ports, never removes another bed's).
printf '%s' "$NETNS" >"$state/netns"
# The API server stays on 127.0.0.1; the controller reaches it through this forwarder on the
# host side of the veth pair.
start api-bridge socat "TCP-LISTEN:$API_PORT,bind=$BRIDGE_IP,fork,reuseaddr" "TCP:127.0.0.1:$API_PORT"
# The controller exits at once when its first request is refused (in a cluster, its pod would
# restart): it starts once the forwarder answers, which on a busy machine takes a moment (seen:
# a compat bed started beside the load test, krew and cargo-deny lost that race).
wait_for "the API server through the forwarder on $BRIDGE_IP" 30 \
  curl -ks -o /dev/null --max-time 2 "https://$BRIDGE_IP:$API_PORT/healthz"
start_sealed_secrets
wait_for "the Sealed Secrets controller's certificate" 60 curl -fsS "http://$CONTROLLER_IP:8080/v1/cert.pem"
# As installed by its manifests: a Service in kube-system selecting the controller's pod. The
# pod is a kwok stand-in carrying the netns address, so the endpoints controller and the API
# server's proxy (which only proxies to addresses of real pods) find the process there.
kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: sealed-secrets-controller
  namespace: kube-system
  labels: {app.kubernetes.io/name: sealed-secrets}
  annotations: {testbed.kubectl-secrets.io/pod-ip: "$CONTROLLER_IP"}
spec:
  containers: [{name: controller, image: "bitnami/sealed-secrets-controller:$SEALED_SECRETS_VERSION"}]
---
apiVersion: v1
kind: Service
metadata: {name: sealed-secrets-controller, namespace: kube-system}
spec:
  selector: {app.kubernetes.io/name: sealed-secrets}
  ports: [{name: http, port: 8080, targetPort: 8080}]
EOF
wait_for "the certificate through the API server's service proxy" 30 \
  kubectl get --raw "/api/v1/namespaces/kube-system/services/http:sealed-secrets-controller:http/proxy/v1/cert.pem"
# Tests and the demo also reach the controller directly (kubeseal --cert URL).
echo "http://$CONTROLLER_IP:8080" >"$state/sealed-secrets-url"

# ---- AWS Secrets Manager (moto's server) and the External Secrets Operator ------------------
if [ "$WITH_ESO" = 1 ]; then
# moto keeps its secrets in memory: a restarted bed starts with an empty store. ESO runs out of
# cluster with its own credentials (dummy ones moto accepts) and the endpoint override.
log "starting moto (AWS Secrets Manager API) on 127.0.0.1:$MOTO_PORT"
start moto "$moto/bin/python" -m moto.server -H 127.0.0.1 -p "$MOTO_PORT"
wait_for "moto" 60 curl -fsS "http://127.0.0.1:$MOTO_PORT/moto-api/"
cat >"$state/aws.env" <<EOF
# The test bed's AWS Secrets Manager (moto): source this for the aws CLI, boto3 or the plugin.
export AWS_ENDPOINT_URL_SECRETS_MANAGER=http://127.0.0.1:$MOTO_PORT
export AWS_REGION=$AWS_REGION AWS_DEFAULT_REGION=$AWS_REGION
export AWS_ACCESS_KEY_ID=testing
export AWS_SECRET_ACCESS_KEY=testing
EOF
log "starting the External Secrets Operator ($EXTERNAL_SECRETS_VERSION)"
kubectl apply --server-side --force-conflicts -f "$eso/crds.yaml" >/dev/null
wait_for "the External Secrets CRDs" 60 established externalsecrets.external-secrets.io clustersecretstores.external-secrets.io
start external-secrets env KUBECONFIG="$state/external-secrets.kubeconfig" \
  AWS_SECRETSMANAGER_ENDPOINT="http://127.0.0.1:$MOTO_PORT" AWS_REGION="$AWS_REGION" \
  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
  "$eso/external-secrets" --metrics-addr "127.0.0.1:$ESO_METRICS_PORT" --concurrent 4 \
  --client-qps 100 --client-burst 200 --enable-leader-election=false
kubectl apply -f - >/dev/null <<EOF
apiVersion: external-secrets.io/v1
kind: ClusterSecretStore
metadata: {name: aws-secretsmanager}
spec:
  provider:
    aws: {service: SecretsManager, region: $AWS_REGION}
EOF
store_ready() {
  [ "$(kubectl get clustersecretstore aws-secretsmanager -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]
}
wait_for "the ClusterSecretStore aws-secretsmanager to be Ready" 90 store_ready

# ---- HashiCorp Vault: dev mode over TLS (in memory, unsealed, KV v2 mounted at secret/) ------
# TLS as every production Vault is: the plugin, the vault CLI and External Secrets trust the CA
# the dev server generates (VAULT_CACERT in vault.env, caBundle in the store).
if [ "$WITH_VAULT" = 1 ]; then
log "starting Vault ($VAULT_VERSION, dev mode, TLS) on 127.0.0.1:$VAULT_PORT"
# A root token of this start's own: whoever reads vault.env may use it, nobody else.
vault_token=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
vault_tls="$state/vault-tls"
rm -rf "$vault_tls" && mkdir -p "$vault_tls" && chmod 700 "$vault_tls"
start vault env VAULT_DEV_ROOT_TOKEN_ID="$vault_token" "$vault/vault" server -dev -dev-tls \
  -dev-tls-cert-dir "$vault_tls" -dev-listen-address "127.0.0.1:$VAULT_PORT" -dev-no-store-token
wait_for "Vault" 60 curl -fsS --cacert "$vault_tls/vault-ca.pem" "https://127.0.0.1:$VAULT_PORT/v1/sys/health"
cat >"$state/vault.env" <<EOF
# The test bed's Vault (dev mode, root token): source this for the vault CLI or the plugin.
export VAULT_ADDR=https://127.0.0.1:$VAULT_PORT
export VAULT_CACERT=$vault_tls/vault-ca.pem
export VAULT_TOKEN=$vault_token
EOF
chmod 600 "$state/vault.env"
kubectl create namespace external-secrets --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl create secret generic vault-token -n external-secrets --from-literal=token="$vault_token" \
  --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl apply -f - >/dev/null <<EOF
apiVersion: external-secrets.io/v1
kind: ClusterSecretStore
metadata: {name: vault}
spec:
  provider:
    vault:
      server: https://127.0.0.1:$VAULT_PORT
      caBundle: $(base64 -w0 "$vault_tls/vault-ca.pem")
      path: secret
      version: v2
      auth:
        tokenSecretRef: {name: vault-token, key: token, namespace: external-secrets}
EOF
vault_store_ready() {
  [ "$(kubectl get clustersecretstore vault -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]
}
wait_for "the ClusterSecretStore vault to be Ready" 90 vault_store_ready
fi
fi

# ---- Argo Rollouts ---------------------------------------------------------------------------
if [ "$WITH_ROLLOUTS" = 1 ]; then
log "starting the Argo Rollouts controller ($ARGO_ROLLOUTS_VERSION)"
kubectl apply --server-side --force-conflicts -f "$rollouts/crds.yaml" >/dev/null
wait_for "the Argo Rollouts CRDs" 60 established rollouts.argoproj.io
kubectl create namespace argo-rollouts --dry-run=client -o yaml | kubectl apply -f - >/dev/null
start argo-rollouts env POD_NAMESPACE=argo-rollouts "$rollouts/rollouts-controller" \
  --kubeconfig "$state/argo-rollouts.kubeconfig" --leader-elect=false \
  --metricsPort "$ROLLOUTS_METRICS_PORT" --healthzPort "$ROLLOUTS_HEALTHZ_PORT" --qps 100 --burst 200
wait_for "the Argo Rollouts controller" 60 curl -fsS "http://127.0.0.1:$ROLLOUTS_HEALTHZ_PORT/healthz"
fi

# ---- cert-manager --------------------------------------------------------------------------
# Its controllers (scripts/testbed/cert-manager: no webhook, no ACME) and a self-signed
# ClusterIssuer; the seeds add a CA Issuer made with it and seed 003's Certificate.
if [ "$WITH_CERT_MANAGER" = 1 ]; then
log "starting cert-manager's controllers ($CERT_MANAGER_VERSION)"
kubectl apply --server-side --force-conflicts -f "$cert_manager/crds.yaml" >/dev/null
wait_for "the cert-manager CRDs" 60 established certificates.cert-manager.io certificaterequests.cert-manager.io \
  issuers.cert-manager.io clusterissuers.cert-manager.io
kubectl create namespace cert-manager --dry-run=client -o yaml | kubectl apply -f - >/dev/null
start cert-manager "$cert_manager/cert-manager-controller" --kubeconfig "$state/cert-manager.kubeconfig" \
  --cluster-resource-namespace cert-manager
kubectl apply -f - >/dev/null <<EOF
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: selfsigned}
spec: {selfSigned: {}}
EOF
issuer_ready() {
  [ "$(kubectl get clusterissuer selfsigned -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]
}
wait_for "the ClusterIssuer selfsigned to be Ready" 60 issuer_ready
fi

# ---- database servers: PostgreSQL, MariaDB, Redis (Debian's packages) ----------------------
# Each has an administrator whose password is made once per state folder and kept in
# databases.env beside the admin kubeconfig (0600); the seeds and tests make their own users.
if [ "$WITH_DATABASES" = 1 ]; then
db_password() { # name: made once, kept in the state folder
  [ -f "$state/db/$1.password" ] || openssl rand -hex 24 >"$state/db/$1.password"
  cat "$state/db/$1.password"
}
mkdir -p "$state/db" && chmod 700 "$state/db"
postgres_password=$(db_password postgres) mysql_password=$(db_password mysql) redis_password=$(db_password redis)

# PostgreSQL refuses to run as root: its data folder belongs to the postgres user. Every
# statement is logged, so tests can check that no password reaches the server in clear.
pg_data="$state/postgres"
if [ ! -f "$pg_data/PG_VERSION" ]; then
  log "initialising PostgreSQL ($("$pg_bin/postgres" --version))"
  mkdir -p "$pg_data" && chown postgres: "$pg_data" && chmod 700 "$pg_data"
  printf '%s\n' "$postgres_password" >"$pg_data.pw" && chown postgres: "$pg_data.pw" && chmod 600 "$pg_data.pw"
  setpriv --reuid=postgres --regid=postgres --init-groups "$pg_bin/initdb" -D "$pg_data" -U postgres \
    --auth=scram-sha-256 --pwfile="$pg_data.pw" >"$state/logs/postgres-initdb.log" 2>&1
  rm -f "$pg_data.pw"
fi
log "starting PostgreSQL on 127.0.0.1:$POSTGRES_PORT"
start postgres setpriv --reuid=postgres --regid=postgres --init-groups "$pg_bin/postgres" -D "$pg_data" \
  -c listen_addresses=127.0.0.1 -c port="$POSTGRES_PORT" -c unix_socket_directories= \
  -c log_statement=all -c fsync=off -c full_page_writes=off
pg_ready() { PGPASSWORD=$postgres_password psql -h 127.0.0.1 -p "$POSTGRES_PORT" -U postgres -d postgres -Atc 'select 1'; }
wait_for PostgreSQL 60 pg_ready

mysql_data="$state/mariadb"
if [ ! -d "$mysql_data/mysql" ]; then
  log "initialising MariaDB ($(mariadbd --version | head -n 1))"
  mariadb-install-db --no-defaults --datadir="$mysql_data" --user=root --auth-root-authentication-method=normal \
    --skip-test-db >"$state/logs/mariadb-install.log" 2>&1
fi
log "starting MariaDB on 127.0.0.1:$MYSQL_PORT"
start mariadb mariadbd --no-defaults --datadir="$mysql_data" --user=root --bind-address=127.0.0.1 --port="$MYSQL_PORT" \
  --socket="$state/db/mariadb.sock" --pid-file="$state/db/mariadb.pid" --skip-name-resolve \
  --general-log=1 --general-log-file="$state/logs/mariadb-general.log" --innodb-flush-log-at-trx-commit=0
wait_for MariaDB 60 mariadb-admin --no-defaults --socket="$state/db/mariadb.sock" -u root ping
# The administrator the tests and seeds use over TCP is root@'%' (root over the socket needs no
# password); install-db's password-less root@127.0.0.1, @::1 and @<hostname> would match first.
mariadb --no-defaults --socket="$state/db/mariadb.sock" -u root -N \
  -e "SELECT CONCAT('DROP USER ''root''@''', Host, ''';') FROM mysql.user WHERE User = 'root' AND Host NOT IN ('localhost', '%')" \
  | mariadb --no-defaults --socket="$state/db/mariadb.sock" -u root
printf "CREATE USER IF NOT EXISTS 'root'@'%%' IDENTIFIED BY '%s'; GRANT ALL PRIVILEGES ON *.* TO 'root'@'%%' WITH GRANT OPTION;\n" \
  "$mysql_password" | mariadb --no-defaults --socket="$state/db/mariadb.sock" -u root

# Redis with ACL users: bedadmin may do everything; the default user's password (requirepass)
# is seed 001's, set by the seeds.
log "starting Redis on 127.0.0.1:$REDIS_PORT"
printf 'user bedadmin on >%s ~* &* +@all\n' "$redis_password" >"$state/db/redis-users.acl"
chmod 600 "$state/db/redis-users.acl"
start redis redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
  --aclfile "$state/db/redis-users.acl" --dir "$state/db"
redis_ready() { REDISCLI_AUTH=$redis_password redis-cli --user bedadmin -p "$REDIS_PORT" ping | grep -q PONG; }
wait_for Redis 30 redis_ready

cat >"$state/databases.env" <<EOF
# The test bed's database servers (127.0.0.1) and their administrators: source this for psql,
# mariadb and redis-cli. Fake pods' ports 5432, 3306 and 6379 lead to them (kwok port-forward).
export BED_POSTGRES_PORT=$POSTGRES_PORT BED_POSTGRES_ADMIN=postgres BED_POSTGRES_PASSWORD=$postgres_password
export BED_MYSQL_PORT=$MYSQL_PORT BED_MYSQL_ADMIN=root BED_MYSQL_PASSWORD=$mysql_password
export BED_REDIS_PORT=$REDIS_PORT BED_REDIS_ADMIN=bedadmin BED_REDIS_PASSWORD=$redis_password
export BED_IDENTITY_PORTS=$IDENTITY_PORTS
EOF
chmod 600 "$state/databases.env"
fi

for name in "${processes[@]}"; do
  alive "$name" || { log "$name exited; its log:"; tail -n 20 "$state/logs/$name.log" >&2; exit 1; }
done
log "ready: $("$bin/kubectl" --kubeconfig "$state/admin.kubeconfig" get nodes --no-headers | wc -l) nodes"
echo "$state/admin.kubeconfig"
