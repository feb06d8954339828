#!/usr/bin/env bash
# The scenarios of `make bench` and `make test-load`, sourced with kubectl on PATH. The scale
# scenario needs PODS, SECRETS, WORKLOADS and NAMESPACES set; it and the growth scenario set
# $running.

# One namespace's objects: SECRETS Secrets and WORKLOADS Deployments reading them (envFrom one,
# a key of the next), PODS pods spread over the Deployments, their pods labelled scenario=LABEL.
namespace_manifests() { # label secrets workloads pods
  local label=$1 secrets=$2 workloads=$3 pods=$4
  local replicas=$(( pods / workloads )) extra=$(( pods % workloads ))
  for s in $(seq 0 $((secrets - 1))); do
    printf -- '---\napiVersion: v1\nkind: Secret\nmetadata: {name: app-%s}\ndata: {TOKEN: %s, PASSWORD: %s}\n' \
      "$s" "$(openssl rand -base64 24 | tr -d '\n' | base64 -w0)" "$(openssl rand -base64 24 | tr -d '\n' | base64 -w0)"
  done
  for w in $(seq 0 $((workloads - 1))); do
    local r=$replicas
    [ "$w" -lt "$extra" ] && r=$(( replicas + 1 ))
    printf -- '---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api-%s}\nspec:\n  replicas: %s\n  selector: {matchLabels: {app: api-%s}}\n  template:\n    metadata: {labels: {app: api-%s, scenario: %s}}\n    spec:\n      containers:\n      - name: api\n        image: api\n        envFrom: [{secretRef: {name: app-%s}}]\n        env: [{name: DB_PASSWORD, valueFrom: {secretKeyRef: {name: app-%s, key: PASSWORD}}}]\n' \
      "$w" "$r" "$w" "$w" "$label" "$(( w % secrets ))" "$(( (w + 1) % secrets ))"
  done
}

# Waits (up to 20 minutes) until WANT pods labelled scenario=LABEL run; sets $running.
wait_running() { # label want
  running=0
  for _ in $(seq 600); do
    running=$(kubectl get pods -A -l "scenario=$1" --field-selector=status.phase=Running -o name --chunk-size=2000 2>/dev/null | wc -l)
    [ "$running" -ge "$2" ] && break
    sleep 2
  done
  echo "scenario: $running of $2 pods Running" >&2
}

# NAMESPACES namespaces (bench-scale-N) sharing SECRETS Secrets, WORKLOADS Deployments and PODS pods.
scale_scenario() {
  echo "scenario: creating $SECRETS Secrets, $WORKLOADS Deployments, $PODS pods in $NAMESPACES namespaces" >&2
  for i in $(seq 0 $((NAMESPACES - 1))); do
    local ns="bench-scale-$i" pods=$(( PODS / NAMESPACES ))
    [ "$i" -lt $(( PODS % NAMESPACES )) ] && pods=$(( pods + 1 ))
    kubectl delete namespace "$ns" --ignore-not-found --wait=true >/dev/null
    kubectl create namespace "$ns" >/dev/null
    namespace_manifests scale $(( SECRETS / NAMESPACES )) $(( WORKLOADS / NAMESPACES )) "$pods" | kubectl apply -n "$ns" -f - >/dev/null
  done
  wait_running scale "$PODS"
}

# Growth: namespaces bench-grow-0 .. N-1 of 50 Secrets, 30 Deployments and 500 pods each (the
# scale scenario's proportions). Existing ones are kept: 1, 10, 40 give 500, 5,000, 20,000 pods.
grow_scenario() { # namespaces
  echo "scenario: growing to $1 namespaces of 500 pods" >&2
  for i in $(seq 0 $(( $1 - 1 ))); do
    kubectl get namespace "bench-grow-$i" >/dev/null 2>&1 && continue
    kubectl create namespace "bench-grow-$i" >/dev/null
    namespace_manifests grow 50 30 500 | kubectl apply -n "bench-grow-$i" -f - >/dev/null
  done
  wait_running grow $(( $1 * 500 ))
}

# N Deployments (2 replicas each) reading Secret `shared` in namespace $1.
shared_secret_scenario() { # namespace, N
  local ns=$1 n=$2
  kubectl delete namespace "$ns" --ignore-not-found --wait=true >/dev/null
  kubectl create namespace "$ns" >/dev/null
  printf 'apiVersion: v1\nkind: Secret\nmetadata: {name: shared}\ndata: {TOKEN: %s}\n' "$(openssl rand -hex 32 | base64 -w0)" | kubectl apply -n "$ns" -f - >/dev/null
  {
    for w in $(seq 1 "$n"); do
      printf -- '---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: c-%s}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: c-%s}}\n  template:\n    metadata: {labels: {app: c-%s}}\n    spec: {containers: [{name: c, image: c, envFrom: [{secretRef: {name: shared}}]}]}\n' "$w" "$w" "$w"
    done
  } | kubectl apply -n "$ns" -f - >/dev/null
  for w in $(seq 1 "$n"); do kubectl rollout status "deployment/c-$w" -n "$ns" --timeout=300s >/dev/null; done
}

# Rotate against the parallel kubectl script and the floor in rounds: each round runs the three
# one after the other, so all three meet the bed as it is then (its rollouts slow down or speed
# up by seconds from minute to minute); the report pairs them round by round. Writes
# DIR/round-I.json (hyperfine) and DIR/floor.txt (bench-floor rollouts, a line per round).
# Needs $root (the repository) and $floor (bench-floor).
rotate_rounds() { # dir, rounds, namespace, deployment names...
  local dir=$1 rounds=$2 ns=$3; shift 3
  mkdir -p "$dir"
  for round in $(seq "$rounds"); do
    hyperfine --runs 1 --export-json "$dir/round-$round.json" \
      -n "kubectl-secrets rotate" "kubectl-secrets rotate shared -n $ns --key TOKEN=hex:32 --yes --min-restart-interval 0 --keep-backups 1 > /dev/null 2>&1" \
      -n "kubectl, parallel" "bash $root/bench/kubectl-rotate-parallel.sh $ns shared TOKEN $*" >&2
    "$floor" rollouts -n "$ns" "$@" >>"$dir/floor.txt"
  done
}
