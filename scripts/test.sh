#!/usr/bin/env bash
# make test: every step CI runs, in order, each timed. Ends with a table of the steps (seconds,
# which bed components were built and which reused from the store) printed and written to
# target/test-steps.json, also when a step fails.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
steps=(lint unit e2e test-load test-compat krew store-check reliability)
# A whole run compiles from clean more often than not (CI's checkout): incremental caches
# (gigabytes) would only be written, never used.
export CARGO_INCREMENTAL=0
out="$root/target/steps"
rm -rf "$out" && mkdir -p "$out"
# Compiled dependencies shared by every checkout on this machine (sccache's local disk cache in
# the per-user store): a clean clone compiles only this crate, not its 400 dependencies again.
source scripts/lib/store.sh
sccache=$(KS_STEP_EVENTS="$out/lint.events" scripts/build-sccache.sh) || exit 1
# A port of its own: a server left running with another cache folder (a developer's own
# sccache) would otherwise be reused silently and cache nothing here; one of ours still running
# from an earlier run is stopped so this run's settings apply. No idle timeout: the tests run
# longer than sccache's ten minutes without a compile, and its counts would be lost; the
# servers are stopped at the end.
export RUSTC_WRAPPER="$sccache" SCCACHE_DIR="$store_root/.sccache" SCCACHE_CACHE_SIZE=${SCCACHE_CACHE_SIZE:-5G} SCCACHE_SERVER_PORT=4231 \
  SCCACHE_IDLE_TIMEOUT=0
"$sccache" --stop-server >/dev/null 2>&1 || true
"$sccache" --zero-stats >/dev/null 2>&1 || true
compile_cache_report() {
  "$sccache" --show-stats 2>/dev/null | awk '/^Cache hits +[0-9]/ { h = $3 } /^Cache misses +[0-9]/ { m = $3 } END { if (h + m) printf "make test: compile cache (sccache): %d hits, %d misses\n", h, m }' >&2
  "$sccache" --stop-server >/dev/null 2>&1 || true
}
# The release build (for the krew step) is the longest compile of a clean clone and the tests
# mostly wait on the cluster: it runs beside them at the lowest priority, and the krew step's
# own `cargo build --release` then finds it done (or waits for cargo's lock and finishes it).
release_started=$(date +%s.%N)
# Its own sccache server (port 4232), started niced by it: the compilers run in the server,
# which would otherwise compete with the tests' builds at normal priority.
(
  SCCACHE_SERVER_PORT=4232 nice -n 19 cargo build --release --quiet >"$out/release-build.log" 2>&1
  code=$?
  SCCACHE_SERVER_PORT=4232 "$sccache" --stop-server >/dev/null 2>&1
  echo "$code $(awk -v a="$release_started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')" >"$out/release-build.status"
) &
release_build=$!
release_report() {
  if kill -0 "$release_build" 2>/dev/null; then
    pkill -P "$release_build" 2>/dev/null; kill "$release_build" 2>/dev/null
    SCCACHE_SERVER_PORT=4232 "$sccache" --stop-server >/dev/null 2>&1
  elif [ -f "$out/release-build.status" ]; then
    read -r code seconds <"$out/release-build.status"
    echo "make test: release build beside the tests: exit $code after ${seconds}s (log: target/steps/release-build.log)" >&2
  fi
}
trap 'release_report; compile_cache_report; python3 scripts/steps-report.py "$out" "$root/target/test-steps.json"' EXIT
for step in "${steps[@]}"; do
  started=$(date +%s.%N)
  KS_STEP_EVENTS="$out/$step.events" make --no-print-directory "$step"
  status=$?
  seconds=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  printf '{"step":"%s","seconds":%s,"status":%d}\n' "$step" "$seconds" "$status" >>"$out/steps.jsonl"
  [ "$status" = 0 ] || { echo "make test: step $step failed (exit $status)" >&2; exit "$status"; }
done
