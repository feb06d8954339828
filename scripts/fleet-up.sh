#!/usr/bin/env bash
# Starts three local clusters for fleet mode (`make fleet-up`): separate API servers and etcd
# data on other ports and network namespaces, sharing the main bed's binaries, without External
# Secrets and Argo Rollouts (cert-manager on bed-1 only). Idempotent, like cluster-up.sh. The
# last line of stdout is a kubeconfig with the contexts bed-0, bed-1 and bed-2 (admin on each).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
fleet="$root/.cache/fleet"
FLEET_SIZE=${FLEET_SIZE:-3}
mkdir -p "$fleet"
# One start at a time (make test starts the fleet beside the compiles; the e2e step's start waits).
if [ "${KS_FLEET_LOCKED:-}" != 1 ]; then
  exec env KS_FLEET_LOCKED=1 flock -o "$fleet/.lock" "$0" "$@"
fi
log() { echo "fleet-up: $*" >&2; }

# Bed i: the main bed's ports plus 2000 + 100 * i, its own /30 and network namespace. bed-1
# runs cert-manager (the read commands across clusters with and without it).
bed_env() {
  local i=$1
  echo STATE_DIR="$fleet/bed-$i" WITH_ESO=0 WITH_ROLLOUTS=0 WITH_DATABASES=0 WITH_CERT_MANAGER=$((i == 1 ? 1 : 0)) \
    ETCD_PORT=$((34379 + 100 * i)) ETCD_PEER_PORT=$((34380 + 100 * i)) \
    API_PORT=$((38443 + 100 * i)) KWOK_PORT=$((42247 + 100 * i)) \
    NETNS="ks-fleet-$i" BRIDGE_IP="10.201.$((20 + i)).1" CONTROLLER_IP="10.201.$((20 + i)).2"
}

for i in $(seq 0 $((FLEET_SIZE - 1))); do
  log "bed-$i"
  env $(bed_env "$i") "$root/scripts/cluster-up.sh" >/dev/null
done

# One kubeconfig, a context per bed named after it (the beds' own files all say "testbed").
field() { sed -n "s/^    $2: //p" "$1" | head -n 1; }
out="$fleet/fleet.kubeconfig"
{
  echo "apiVersion: v1"
  echo "kind: Config"
  echo "clusters:"
  for i in $(seq 0 $((FLEET_SIZE - 1))); do
    admin="$fleet/bed-$i/admin.kubeconfig"
    echo "- name: bed-$i"
    echo "  cluster:"
    echo "    server: $(field "$admin" server)"
    echo "    certificate-authority-data: $(field "$admin" certificate-authority-data)"
  done
  echo "users:"
  for i in $(seq 0 $((FLEET_SIZE - 1))); do
    for user in admin reader limited; do
      echo "- name: bed-$i-$user"
      echo "  user:"
      echo "    token: $(field "$fleet/bed-$i/$user.kubeconfig" token)"
    done
  done
  echo "contexts:"
  for i in $(seq 0 $((FLEET_SIZE - 1))); do
    echo "- name: bed-$i"
    echo "  context: {cluster: bed-$i, user: bed-$i-admin, namespace: default}"
  done
  echo "current-context: bed-0"
} >"$out.tmp"
chmod 600 "$out.tmp"
mv "$out.tmp" "$out"
log "ready: $FLEET_SIZE clusters (contexts bed-0 .. bed-$((FLEET_SIZE - 1)); users bed-N-admin, bed-N-reader, bed-N-limited)"
echo "$out"
