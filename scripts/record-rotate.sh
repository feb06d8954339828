#!/usr/bin/env bash
# make recording: real terminal recordings on the local bed, as asciinema casts and animated SVGs
# for the README: verify → rotate (live progress bars) → verify (docs/rotate.*), and a rotation
# whose Secret and key are picked from lists (docs/pick.*, typed by scripts/type-into.py).
# asciinema (PyPI) and svg-term-cli (npm) are installed under .cache/tools. Checks that no value
# of the rotated Secret appears in either recording.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/.cache/tools"
log() { echo "record: $*" >&2; }
if [ ! -x "$tools/recording/bin/asciinema" ]; then
  log "installing asciinema 2.4.0 (PyPI)"
  python3 -m venv "$tools/recording" >&2
  "$tools/recording/bin/pip" install --quiet --disable-pip-version-check asciinema==2.4.0 >&2
fi
if [ ! -x "$tools/svg-term/node_modules/.bin/svg-term" ]; then
  log "installing svg-term-cli 2.1.1 (npm)"
  mkdir -p "$tools/svg-term"
  (cd "$tools/svg-term" && npm install --silent --no-audit --no-fund svg-term-cli@2.1.1 >&2)
fi
cargo build --release --bin kubectl-secrets >&2
bin=$("$root/scripts/build-testbed.sh")
export KUBECONFIG=$("$root/scripts/cluster-up.sh" | tail -n 1)
export PATH="$root/target/release:$bin:$PATH"

# scenario NAMESPACE: session-keys read by four Deployments of 3 pods, and two other Secrets for
# the picker to filter. Each recording has a namespace of its own (a workload restarted seconds
# ago by the first would make the second ask again: the restart budget).
scenario() {
  kubectl delete namespace "$1" --ignore-not-found --wait=true >/dev/null
  kubectl create namespace "$1" >/dev/null
  {
    printf 'apiVersion: v1\nkind: Secret\nmetadata: {name: session-keys}\ndata: {SIGNING_KEY: %s}\n' "$(openssl rand -hex 16 | tr -d '\n' | base64 -w0)"
    for other in payments-api stripe-webhook; do
      printf -- '---\napiVersion: v1\nkind: Secret\nmetadata: {name: %s}\ndata: {KEY: %s}\n' "$other" "$(openssl rand -hex 16 | tr -d '\n' | base64 -w0)"
    done
    for app in api worker billing ledger; do
      printf -- '---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: %s}\nspec:\n  replicas: 3\n  selector: {matchLabels: {app: %s}}\n  template:\n    metadata: {labels: {app: %s}}\n    spec: {containers: [{name: %s, image: %s, env: [{name: SIGNING_KEY, valueFrom: {secretKeyRef: {name: session-keys, key: SIGNING_KEY}}}]}]}\n' "$app" "$app" "$app" "$app" "$app"
    done
  } | kubectl apply -n "$1" -f - >/dev/null
  for app in api worker billing ledger; do kubectl rollout status "deployment/$app" -n "$1" --timeout=120s >/dev/null; done
}
ns=checkout picker_ns=storefront
scenario "$ns"
scenario "$picker_ns"
old=$(kubectl get secret session-keys -n "$ns" -o jsonpath='{.data.SIGNING_KEY}' | base64 -d)
picker_old=$(kubectl get secret session-keys -n "$picker_ns" -o jsonpath='{.data.SIGNING_KEY}' | base64 -d)

# record NAME: the session on stdin (commands shown after a prompt by `show`, then run),
# recorded as docs/NAME.cast.
record() {
  local session
  session=$(mktemp)
  { printf '%s\n' "show() { printf '\\033[1;32m\$\\033[0m %s\\n' \"\$*\"; sleep 0.6; }"; cat; } >"$session"
  log "recording docs/$1.cast"
  "$tools/recording/bin/asciinema" rec --overwrite -q --cols 110 --rows 30 -c "bash $session" "$root/docs/$1.cast" </dev/null
  rm -f "$session"
}

record rotate <<SESSION
show kubectl secrets verify -n $ns; kubectl secrets verify -n $ns; sleep 1.5
show kubectl secrets rotate session-keys -n $ns --key SIGNING_KEY --yes; kubectl secrets rotate session-keys -n $ns --key SIGNING_KEY --yes; sleep 1.5
show kubectl secrets verify -n $ns; kubectl secrets verify -n $ns; sleep 3
SESSION
new=$(kubectl get secret session-keys -n "$ns" -o jsonpath='{.data.SIGNING_KEY}' | base64 -d)
[ "$new" != "$old" ] || { echo "record: the recorded rotation did not change session-keys" >&2; exit 1; }

# The same rotation with the Secret and the key left out: picked from lists, typed as a person would.
record pick <<SESSION
show kubectl secrets rotate -n $picker_ns
python3 "$root/scripts/type-into.py" 'Secret to rotate in namespace=>sess\r' 'to rotate (space to select=> \r' \
  'New value of SIGNING_KEY=>\r' 'Apply this plan?=>y' -- kubectl secrets rotate -n $picker_ns
sleep 3
SESSION
picked=$(kubectl get secret session-keys -n "$picker_ns" -o jsonpath='{.data.SIGNING_KEY}' | base64 -d)
[ "$picked" != "$picker_old" ] || { echo "record: the picked rotation did not change session-keys" >&2; exit 1; }
for cast in rotate pick; do
  for value in "$old" "$new" "$picker_old" "$picked"; do
    if grep -qF "$value" "$root/docs/$cast.cast"; then
      rm -f "$root/docs/$cast.cast"
      echo "record: a value of session-keys appears in docs/$cast.cast; removed" >&2
      exit 1
    fi
  done
  "$tools/svg-term/node_modules/.bin/svg-term" --in "$root/docs/$cast.cast" --out "$root/docs/$cast.svg" --window --width 110 --height 30
done
kubectl delete namespace "$ns" "$picker_ns" --wait=false >/dev/null
log "wrote docs/rotate.cast, docs/rotate.svg, docs/pick.cast and docs/pick.svg"
