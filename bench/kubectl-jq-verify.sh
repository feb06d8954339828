#!/usr/bin/env bash
# What an on-call engineer scripts today for "which pods run with a missing or stale secret?":
# kubectl LISTs plus jq. Same checks as `kubectl secrets verify -A` (missing Secret or key,
# container started before the Secret's last data change), without env precedence rules.
set -euo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
kubectl get secrets -A -o json >"$tmp/secrets.json"
kubectl get pods -A -o json >"$tmp/pods.json"
jq -r --slurpfile s "$tmp/secrets.json" '
  ($s[0].items | map({
      key: "\(.metadata.namespace)/\(.metadata.name)",
      value: {keys: ((.data // {}) | keys),
              changed: ([.metadata.managedFields[]? | select(.fieldsV1["f:data"] != null) | .time] | max)}
    }) | from_entries) as $secrets
  | .items[] | . as $pod
  | .spec.containers[] as $c
  | ([$pod.status.containerStatuses[]? | select(.name == $c.name) | .state.running.startedAt][0]) as $started
  | ([$c.envFrom[]? | .secretRef.name | select(. != null) | {name: ., key: null}]
     + [$c.env[]? | .valueFrom.secretKeyRef | select(. != null) | {name, key}])[] as $ref
  | $secrets["\($pod.metadata.namespace)/\($ref.name)"] as $sec
  | if $sec == null then "missing\t\($pod.metadata.namespace)/\($pod.metadata.name)\t\($c.name)\t\($ref.name)"
    elif ($ref.key != null and ($sec.keys | index($ref.key)) == null) then "missing\t\($pod.metadata.namespace)/\($pod.metadata.name)\t\($c.name)\t\($ref.name)/\($ref.key)"
    elif ($started != null and $sec.changed != null and $started < $sec.changed) then "stale\t\($pod.metadata.namespace)/\($pod.metadata.name)\t\($c.name)\t\($ref.name)"
    else empty end
' "$tmp/pods.json"
