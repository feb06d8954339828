#!/usr/bin/env bash
# make bench, part 1b (also runnable alone with the bed built: bench/limits.sh OUT_DIR): rotate
# against the parallel kubectl script and the floor with the controllers at their releases'
# default rate limits (CONTROLLER_LIMITS=upstream: 20 requests/s for kube-controller-manager),
# as a kubeadm control plane runs them; the bed's own limits are put back afterwards.
# Writes OUT_DIR/upstream-rotate-N/ (rounds of rotate, the script and the floor). Sizes: LIMITS_SIZES ("50").
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/bench/out}
mkdir -p "$out"
floor="$root/target/release/examples/bench-floor"
[ -x "$floor" ] || cargo build --release --bin kubectl-secrets --example bench-floor >&2
bin=$("$root/scripts/build-testbed.sh")
export PATH="$root/target/release:$bin:$PATH"
export KUBECONFIG=$(CONTROLLER_LIMITS=upstream "$root/scripts/cluster-up.sh" | tail -n 1)
trap 'CONTROLLER_LIMITS=bed "$root/scripts/cluster-up.sh" >/dev/null' EXIT
source "$root/bench/scenario.sh"
for n in ${LIMITS_SIZES:-50}; do
  ns="bench-upstream-$n"
  shared_secret_scenario "$ns" "$n"
  names=(); for w in $(seq 1 "$n"); do names+=("c-$w"); done
  rotate_rounds "$out/upstream-rotate-$n" 3 "$ns" "${names[@]}"
  kubectl delete namespace "$ns" --wait=false >/dev/null
done
