#!/usr/bin/env bash
# make test-compat: for each older Kubernetes release in COMPAT_KUBERNETES_VERSIONS
# (scripts/versions.env), start a bed whose control plane is that release (beside the main bed:
# its own state, ports and network namespace), run the e2e subset that covers what users do
# every day (verify's statuses, rotate with restarts, rollback and recovery, seal/unseal with
# the controller, diff, list and audit, the GitOps guard, the bed's own checks), and stop it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/versions.env
log() { echo "test-compat: $*" >&2; }
mkdir -p target/reliability

# The e2e modules run against each release (cargo test filters: module paths).
SUBSET=(testbed:: verify:: rotate:: rollback:: seal:: diff:: audit:: gitops::)

index=0
for version in $COMPAT_KUBERNETES_VERSIONS; do
  index=$((index + 1))
  minor=${version#v1.}; minor=${minor%%.*}
  # Ports and addresses of this bed: the main bed's plus 1000 * index, another /30.
  export STATE_DIR="$root/.cache/cluster-compat-$version" CONTROL_PLANE_VERSION=$version WITH_ESO=0 WITH_ROLLOUTS=0 WITH_DATABASES=0 WITH_CERT_MANAGER=0 \
    ETCD_PORT=$((32379 + 1000 * index)) ETCD_PEER_PORT=$((32380 + 1000 * index)) \
    API_PORT=$((36443 + 1000 * index)) KWOK_PORT=$((40247 + 1000 * index)) \
    NETNS="ks-compat-$minor" BRIDGE_IP="10.201.$index.1" CONTROLLER_IP="10.201.$index.2"
  log "starting a bed with Kubernetes $version"
  kubeconfig=$(scripts/cluster-up.sh | tail -n 1)
  log "running ${SUBSET[*]} against $version"
  set +e
  KUBECTL_SECRETS_E2E_KUBECONFIG="$kubeconfig" KUBECTL_SECRETS_E2E_KUBERNETES_VERSION="$version" \
    cargo test --test e2e -- --test-threads 4 "${SUBSET[@]}" 2>&1 | tee "target/reliability/compat-$version.log"
  code=${PIPESTATUS[0]}
  set -e
  # The control plane's logs of a failed run are kept beside the test log.
  [ "$code" = 0 ] || cp -r "$STATE_DIR/logs" "target/reliability/compat-$version-logs"
  scripts/cluster-down.sh
  [ "$code" = 0 ] || { log "FAILED against Kubernetes $version (log: target/reliability/compat-$version.log)"; exit "$code"; }
  log "Kubernetes $version: passed"
done
