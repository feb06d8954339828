#!/usr/bin/env bash
# The scale scenario shared by `make bench` and `make test-load`: NAMESPACES namespaces
# (bench-scale-N) of SECRETS Secrets and WORKLOADS Deployments reading them, PODS pods in all.
# Sourced with PODS, SECRETS, WORKLOADS, NAMESPACES set and kubectl on PATH; sets $running.
scale_scenario() {
  local per_ns_secrets=$(( SECRETS / NAMESPACES )) per_ns_workloads=$(( WORKLOADS / NAMESPACES ))
  # PODS spread over WORKLOADS: the first PODS mod WORKLOADS Deployments get one pod more.
  local replicas=$(( PODS / WORKLOADS )) extra=$(( PODS % WORKLOADS ))
  echo "scenario: creating $SECRETS Secrets, $WORKLOADS Deployments, $PODS pods in $NAMESPACES namespaces" >&2
  for i in $(seq 0 $((NAMESPACES - 1))); do
    local ns="bench-scale-$i"
    kubectl delete namespace "$ns" --ignore-not-found --wait=true >/dev/null
    kubectl create namespace "$ns" >/dev/null
    {
      for s in $(seq 0 $((per_ns_secrets - 1))); do
        printf -- '---\napiVersion: v1\nkind: Secret\nmetadata: {name: app-%s}\ndata: {TOKEN: %s, PASSWORD: %s}\n' \
          "$s" "$(openssl rand -base64 24 | tr -d '\n' | base64 -w0)" "$(openssl rand -base64 24 | tr -d '\n' | base64 -w0)"
      done
      for w in $(seq 0 $((per_ns_workloads - 1))); do
        local s=$(( w % per_ns_secrets )) n=$(( i * per_ns_workloads + w )) r=$replicas
        [ "$n" -lt "$extra" ] && r=$(( replicas + 1 ))
        printf -- '---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api-%s}\nspec:\n  replicas: %s\n  selector: {matchLabels: {app: api-%s}}\n  template:\n    metadata: {labels: {app: api-%s}}\n    spec:\n      containers:\n      - name: api\n        image: api\n        envFrom: [{secretRef: {name: app-%s}}]\n        env: [{name: DB_PASSWORD, valueFrom: {secretKeyRef: {name: app-%s, key: PASSWORD}}}]\n' \
          "$w" "$r" "$w" "$w" "$s" "$(( (s + 1) % per_ns_secrets ))"
      done
    } | kubectl apply -n "$ns" -f - >/dev/null
  done
  running=0
  for _ in $(seq 600); do
    running=$(kubectl get pods -A --no-headers -l 'app' 2>/dev/null | grep -c ' Running ' || true)
    [ "$running" -ge "$PODS" ] && break
    sleep 2
  done
  echo "scenario: $running of $PODS pods Running" >&2
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
