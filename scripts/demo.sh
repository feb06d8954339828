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
export PATH="$path_dir:$PATH" KUBECONFIG="$kubeconfig"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { step "$*"; "$@" || echo "(exit code $?)"; }

run kubectl plugin list
run kubectl secrets verify -A
run kubectl secrets verify db-credentials -n intelliprompt -o wide
echo
echo "The runbook restarted only the backend after patching db-credentials; postgres still runs"
echo "with the old password. Restarting it the runbook's way, then verifying again:"
run kubectl rollout restart statefulset/postgres -n intelliprompt
run kubectl rollout status statefulset/postgres -n intelliprompt --timeout=60s
run kubectl secrets verify db-credentials -n intelliprompt

cat <<EOM

Try it yourself:
  export KUBECONFIG=$kubeconfig
  export PATH=$path_dir:\$PATH
  kubectl secrets verify -A
  kubectl secrets verify --help
Stop the cluster with: make cluster-down
EOM
