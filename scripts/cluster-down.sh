#!/usr/bin/env bash
# Stops every process of the local test bed and removes its state (etcd data, PKI, kubeconfigs).
# Built binaries in the per-user store are kept.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
state=${STATE_DIR:-$root/.cache/cluster}
for name in redis mariadb postgres cert-manager argo-rollouts vault external-secrets moto sealed-secrets api-bridge kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
  pidfile="$state/$name.pid"
  [ -f "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
done
# The controller's network namespace and veth pair, when this bed made them (another checkout's
# bed may use the same name: its namespace is not this one's to remove).
if [ -f "$state/netns" ]; then
  netns=$(cat "$state/netns")
  ip netns del "$netns" 2>/dev/null || true
  ip link del "$netns-h" 2>/dev/null || true
fi
rm -rf "$state"
echo "cluster-down: stopped" >&2
