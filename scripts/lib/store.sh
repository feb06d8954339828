# Sourced by the build-*.sh scripts: the per-user store of the bed's built components, outside
# any checkout, so that a second clone (or CI's clean checkout on a machine that built the bed
# once) reuses them, as envtest's setup-envtest keeps control planes per version.
#
#   $KUBECTL_SECRETS_BED_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/kubectl-secrets/bed)
#     <component>/<version>-<recipe hash>/   one published entry: the files, SHA256SUMS, BUILD-INFO
#     <component>/.lock                      held while one run builds; the next waits, then reuses
#     <component>/.verified-<entry>          stat signature of the files at their last full check
#     .work/                                 private Go caches of builds under way (deleted after)
#
# The recipe hash covers the build script, the libraries it uses, the pinned versions and the
# toolchain it names: change any of them and the component is built again beside the old entry.
# An entry is published by one rename, so a reader sees it whole or not at all. Every use checks
# each file's sha256 unless no file changed since the last full check (size, mtime, ctime and
# inode all equal; any write moves ctime): a corrupt or tampered entry is rebuilt, never run.

store_root=${KUBECTL_SECRETS_BED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-secrets/bed}

# store_recipe_hash INPUT...: files by content, anything else as text; 12 hex digits.
store_recipe_hash() {
  local input
  for input in "$@"; do
    if [ -f "$input" ]; then
      printf 'file %s %s\n' "$(basename "$input")" "$(sha256sum <"$input" | cut -c1-64)"
    else
      printf 'word %s\n' "$input"
    fi
  done | { uname -m; cat; } | sha256sum | cut -c1-12
}

# store_signature ENTRY: what the files look like on disk, without reading them.
store_signature() {
  (cd "$1" && cut -c67- SHA256SUMS | tr '\n' '\0' | xargs -0 stat -c '%n %s %.9Y %.9Z %i' 2>&1) | sha256sum | cut -c1-64
}

# store_intact ENTRY: 0 when every file matches SHA256SUMS; otherwise 1, with the reason in
# store_problem.
store_intact() {
  local entry=$1 marker signature
  marker="$(dirname "$entry")/.verified-$(basename "$entry")"
  if [ ! -d "$entry" ]; then store_problem="not built yet"; return 1; fi
  if [ ! -f "$entry/SHA256SUMS" ]; then store_problem="no SHA256SUMS (incomplete entry)"; return 1; fi
  signature=$(store_signature "$entry")
  [ -f "$marker" ] && [ "$(cat "$marker")" = "$signature" ] && return 0
  local report
  if ! report=$(cd "$entry" && sha256sum --quiet -c SHA256SUMS 2>&1); then
    store_problem="sha256 check failed ($(printf '%s' "$report" | head -n 1))"
    return 1
  fi
  printf '%s\n' "$signature" >"$marker"
}

# store_event STATE: one line for the step table of `make test` (scripts/steps.sh), if it listens.
store_event() {
  [ -n "${KS_STEP_EVENTS:-}" ] || return 0
  # "at": when it ended (epoch seconds), for reading a cold run's timeline afterwards; "cpu":
  # the build's processor seconds (user + system), which say what a cold run's two cores go to.
  printf '{"component":"%s","version":"%s","state":"%s","seconds":%s,"cpu":%s,"at":%s}\n' \
    "$store_component" "$store_version" "$1" "${2:-0}" "${3:-0}" "$(date +%s)" >>"$KS_STEP_EVENTS"
}

# store_children_cpu: sets store_cpu to the processor seconds (user + system) of every process
# this script has waited for, from bash's `times` (its second line: the children's user and
# system time). `times` runs in this shell, not a pipe's subshell, which has no children yet.
store_children_cpu() {
  times >"$store_root/.times.$$"
  store_cpu=$(awk 'NR == 2 {
    total = 0
    for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); total += t[1] * 60 + t[2] }
    printf "%.0f", total
  }' "$store_root/.times.$$")
  rm -f "$store_root/.times.$$"
}

# store_open COMPONENT VERSION RECIPE_INPUT...: sets store_entry. Returns 0 when an intact entry
# exists (print it and stop); returns 1 with the component's lock held and an empty store_tmp to
# build into, then call store_publish.
store_open() {
  store_component=$1 store_version=$2; shift 2
  local dir="$store_root/$store_component"
  store_entry="$dir/$store_version-$(store_recipe_hash "$@")"
  mkdir -p "$dir"
  if store_intact "$store_entry"; then
    echo "store: $store_component $store_version reused ($store_entry)" >&2
    store_event reused
    return 0
  fi
  exec {store_lock_fd}>"$dir/.lock"
  if ! flock -n "$store_lock_fd"; then
    echo "store: another run is building $store_component $store_version: waiting for it" >&2
    flock "$store_lock_fd"
    if store_intact "$store_entry"; then
      echo "store: $store_component $store_version reused, built by the other run" >&2
      store_event reused
      exec {store_lock_fd}>&-
      return 0
    fi
  fi
  if [ -d "$store_entry" ]; then
    echo "store: $store_component $store_version: $store_problem in $store_entry: building it again" >&2
    chmod -R u+w "$store_entry" && rm -rf "$store_entry" "$dir/.verified-$(basename "$store_entry")"
  fi
  store_tmp="$dir/.tmp-$(basename "$store_entry").$$"
  rm -rf "$store_tmp" && mkdir -p "$store_tmp"
  store_children_cpu
  store_started=$SECONDS store_started_cpu=$store_cpu
  trap store_abandon EXIT
  # The build that follows: Go's compiler collects garbage a quarter as often (measured on
  # cert-manager's build, 2 cores, two builds each: 251 and 224 s of CPU against 323 and 310 s,
  # peak memory 1.15 GB against 1.08 GB). It changes how fast a build runs, never what it makes, so it is no recipe input;
  # set only here, so that no server the bed runs inherits it.
  export GOGC=${GOGC:-400}
  return 1
}

# store_abandon: a build that stops half-way leaves nothing behind (run on EXIT).
store_abandon() {
  [ -n "${store_tmp:-}" ] && { chmod -R u+w "$store_tmp" 2>/dev/null; rm -rf "$store_tmp" "$store_tmp".*; }
  [ -n "${gobuild_work:-}" ] && [ -d "$gobuild_work" ] && { chmod -R u+w "$gobuild_work"; rm -rf "$gobuild_work"; }
  return 0
}

# store_publish: checksums and build facts written, then the entry appears in one rename.
store_publish() {
  store_children_cpu
  local seconds=$((SECONDS - store_started)) cpu=$((store_cpu - store_started_cpu))
  local sums="$store_tmp.sums"
  (cd "$store_tmp" && find . -type f -print0 | sort -z | xargs -0 sha256sum) >"$sums"
  mv "$sums" "$store_tmp/SHA256SUMS"
  {
    echo "component: $store_component"
    echo "version: $store_version"
    echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) in ${seconds}s by $(basename "$0")"
  } >"$store_tmp/BUILD-INFO"
  mv "$store_tmp" "$store_entry"
  store_tmp=
  store_intact "$store_entry" || { echo "store: $store_entry fails its own check: $store_problem" >&2; exit 1; }
  echo "store: $store_component $store_version built in ${seconds}s, ${cpu} s of CPU ($store_entry, $(du -sh "$store_entry" | cut -f1))" >&2
  store_event built "$seconds" "$cpu"
  exec {store_lock_fd}>&-
}
