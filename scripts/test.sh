#!/usr/bin/env bash
# make test: every step CI runs, in order, each timed. Ends with a table of the steps (seconds,
# which bed components were built and which reused from the store) printed and written to
# target/test-steps.json, also when a step fails.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# cargo-deny's check comes late: on a new machine its build (a Rust program, minutes) runs beside
# the steps before it, like the older control planes below.
# A step A+B runs A and B at once: the load test and the older Kubernetes releases' beds are
# independent, and each spends much of its time waiting on its own API server (measured: 208 s
# together against 251 one after the other).
# krew, deny and the store's checks need neither the bed nor many cores: they run beside the two
# (half a minute less at the end of every run).
steps=(lint-code unit e2e test-load+test-compat+krew+deny+store-check reliability)
# A whole run compiles from clean more often than not (CI's checkout): incremental caches
# (gigabytes) would only be written, never used.
export CARGO_INCREMENTAL=0
out="$root/target/steps"
rm -rf "$out" && mkdir -p "$out" && touch "$out/started"
source scripts/lib/store.sh
# The compile cache's counts, once it runs (built below).
sccache=
compile_cache_report() {
  [ -n "$sccache" ] || return 0
  "$sccache" --show-stats 2>/dev/null | awk '/^Cache hits +[0-9]/ { h = $3 } /^Cache misses +[0-9]/ { m = $3 } END { if (h + m) printf "make test: compile cache (sccache): %d hits, %d misses\n", h, m }' >&2
  "$sccache" --stop-server >/dev/null 2>&1 || true
}
# Where the store lacks the bed's components (a new machine) they build beside the steps, in two
# chains, in the order the steps need them. The e2e bed (Kubernetes, External Secrets, moto, Argo
# Rollouts, cert-manager, Vault) is a cold run's longest path (at equal priority the lint and unit
# compiles ended 15 minutes before it), so it builds above the steps' priority (nice -5 on its
# group where the user may raise priority, as root may; else at theirs). Measured on one machine:
# Kubernetes built in 615 s instead of 828, the bed ready a minute sooner. What only the
# last steps use (the older control planes, cargo-deny, krew, actionlint) builds in a second
# chain from the start at the lowest priority, in the order of the steps that use them: it takes the cores the first leaves idle
# (module downloads, links) and, once the bed runs, the tests' waits on the cluster; in one chain
# after the bed it was a cold run's last eight minutes. A step that needs a component finds it
# done, or waits on its build's store lock and reuses it: nothing is built twice. Where the store
# has them this only checks. (cargo-deny is compiled without the compile cache, whose server
# would compile it at normal priority.)
source scripts/versions.env
# Each chain in its own session, so that a run ending early stops the whole build (go and its
# compilers), its store lock going with it: nothing is published half-built. A session is also
# its own scheduling group where the kernel groups by session (sched_autogroup, Debian's default):
# there a process's nice weighs only against its own group, and each group gets an equal share,
# so the chain's priority is set on its group (measured: a nice 19 chain in a group of its own
# built as fast as the one it was meant to yield to).
export out COMPAT_KUBERNETES_VERSIONS
# chain NAME NICENESS 'COMMANDS': COMMANDS run one after the other with `beside CMD...` (built
# at NICENESS) or `early CMD...` (at normal priority), output to the chain's log; its seconds and the first failure's exit code are
# written to $out/NAME.status at the end.
chain() {
  NAME=$1 NICENESS=$2 setsid bash -c '
    started=$(date +%s.%N) code=0
    echo "$NICENESS" 2>/dev/null >/proc/self/autogroup || true
    beside() { KS_STEP_EVENTS="$out/$NAME.events" RUSTC_WRAPPER= nice -n "$NICENESS" "$@" >/dev/null 2>>"$out/$NAME.log" || code=$?; }
    early() { KS_STEP_EVENTS="$out/$NAME.events" "$@" >/dev/null 2>>"$out/$NAME.log" || code=$?; }
    '"$3"'
    echo "$code $(awk -v a="$started" -v b="$(date +%s.%N)" "BEGIN { printf \"%.1f\", b - a }")" >"$out/$NAME.status"
  ' &
  chains+=("$1:$!")
}
chains=()
# The e2e bed and the fleet themselves start once their parts are in the store (at normal
# priority: their servers serve the tests). On a machine that built them once, they start beside
# the lint and unit steps instead of after them; the e2e step waits for them, then reuses them.
chain beside-bed -5 '
  beside scripts/build-testbed.sh
  beside scripts/build-eso.sh
  beside scripts/install-moto.sh
  beside scripts/build-argo-rollouts.sh
  beside scripts/build-cert-manager.sh
  beside scripts/build-vault.sh
  early scripts/cluster-up.sh
  early scripts/fleet-up.sh'
chain beside-tools 19 '
  for version in $COMPAT_KUBERNETES_VERSIONS; do beside scripts/build-testbed.sh --control-plane "$version"; done
  beside scripts/build-krew.sh
  beside scripts/build-cargo-deny.sh
  beside scripts/build-actionlint.sh'
beside_report() {
  local entry name code seconds
  for entry in "${chains[@]}"; do
    name=${entry%%:*}
    if [ -f "$out/$name.status" ]; then
      read -r code seconds <"$out/$name.status"
      printf '{"step":"%s","seconds":%s,"status":%d,"beside":true}\n' "$name" "$seconds" "$code" >>"$out/steps.jsonl"
    else
      kill -- -"${entry#*:}" 2>/dev/null
    fi
  done
}
# What each failed test said, without its backtrace: CI shows only the end of the output, where
# a backtrace would push the message out.
panic_summary() {
  local log
  for log in "$root"/target/reliability/*.log; do
    [ "$log" -nt "$out/started" ] && grep -q "panicked at" "$log" || continue
    echo "make test: the failed tests' messages in ${log#"$root"/}:" >&2
    awk '/panicked at/ { n = 8 } /^stack backtrace:/ { n = 0 } n > 0 { print "  " substr($0, 1, 400); n-- }' "$log" | head -n 60 >&2
  done
}
# The fleet started beside is stopped even when a step before e2e fails (e2e stops it itself).
trap 'beside_report; scripts/fleet-down.sh >/dev/null 2>&1; compile_cache_report; python3 scripts/steps-report.py "$out" "$root/target/test-steps.json"' EXIT
# Compiled dependencies shared by every checkout on this machine (sccache's local disk cache in
# the per-user store): a clean clone compiles only this crate, not its 400 dependencies again.
# Built once the bed's builds have started beside: their module downloads overlap its compile.
sccache=$(KS_STEP_EVENTS="$out/lint-code.events" scripts/build-sccache.sh) || exit 1
# A port of its own: a server left running with another cache folder (a developer's own
# sccache) would otherwise be reused silently and cache nothing here; one of ours still running
# from an earlier run is stopped so this run's settings apply. No idle timeout: the tests run
# longer than sccache's ten minutes without a compile, and its counts would be lost; the
# servers are stopped at the end.
export RUSTC_WRAPPER="$sccache" SCCACHE_DIR="$store_root/.sccache" SCCACHE_CACHE_SIZE=${SCCACHE_CACHE_SIZE:-5G} SCCACHE_SERVER_PORT=4231 \
  SCCACHE_IDLE_TIMEOUT=0
"$sccache" --stop-server >/dev/null 2>&1 || true
"$sccache" --zero-stats >/dev/null 2>&1 || true
# run_step STEP [GROUP]: one make target, timed, its row appended to steps.jsonl.
run_step() {
  local step=$1 group=${2:-} started status seconds
  started=$(date +%s.%N)
  KS_STEP_EVENTS="$out/$step.events" make --no-print-directory "$step"
  status=$?
  seconds=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  printf '{"step":"%s","seconds":%s,"status":%d,"group":"%s","started":%s}\n' "$step" "$seconds" "$status" "$group" \
    "${started%.*}" >>"$out/steps.jsonl"
  return "$status"
}
for step in "${steps[@]}"; do
  if [[ $step == *+* ]]; then
    # The first in the foreground; the others beside it, their output shown once they end.
    IFS=+ read -r first others <<<"$step"
    pids=()
    for other in ${others//+/ }; do
      run_step "$other" "$step" >"$out/$other.log" 2>&1 &
      pids+=("$!:$other")
    done
    run_step "$first" "$step"
    status=$?
    for entry in "${pids[@]}"; do
      wait "${entry%%:*}" || status=$?
      cat "$out/${entry#*:}.log" >&2
    done
  else
    run_step "$step"
    status=$?
  fi
  [ "$status" = 0 ] || { echo "make test: step $step failed (exit $status)" >&2; panic_summary; exit "$status"; }
done
