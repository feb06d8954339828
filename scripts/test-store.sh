#!/usr/bin/env bash
# The store's own guarantees (scripts/lib/store.sh), checked with a small recipe in a store of
# its own: two runs at once build once; a later run reuses; a byte changed in a published file
# (even with its mtime put back) is detected and rebuilt, never used; a build that fails
# half-way leaves nothing behind.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
export KUBECTL_SECRETS_BED_CACHE="$work/store" KS_STEP_EVENTS="$work/events"
fail() { echo "test-store: FAILED: $*" >&2; exit 1; }

# The recipe: a "binary" written after a pause, so that a second run arrives mid-build.
cat >"$work/build-sample.sh" <<EOS
#!/usr/bin/env bash
set -euo pipefail
root=$root
source "\$root/scripts/lib/store.sh"
if store_open sample v1 "\$0"; then echo "\$store_entry"; exit 0; fi
sleep 2
[ -z "\${SAMPLE_FAIL:-}" ] || { echo partial >"\$store_tmp/half"; exit 3; }
printf '#!/bin/sh\necho sample-ok\n' >"\$store_tmp/sample" && chmod +x "\$store_tmp/sample"
store_publish
echo "\$store_entry"
EOS
chmod +x "$work/build-sample.sh"
built() { grep -c '"state":"built"' "$KS_STEP_EVENTS" 2>/dev/null || true; }

# A build that fails half-way publishes nothing and leaves no temporary folder.
if SAMPLE_FAIL=1 "$work/build-sample.sh" >/dev/null 2>&1; then fail "the failing build succeeded"; fi
[ -z "$(find "$work/store/sample" -mindepth 1 -maxdepth 1 -name '*v1*')" ] || fail "a failed build left $(ls -a "$work/store/sample")"

# Two runs at once: one builds, the other waits and reuses.
"$work/build-sample.sh" >"$work/a" 2>"$work/a.err" &
sleep 0.3
"$work/build-sample.sh" >"$work/b" 2>"$work/b.err"
wait
[ "$(built)" = 1 ] || fail "two runs at once built $(built) times"
cmp -s "$work/a" "$work/b" || fail "the two runs printed different entries"
grep -q 'waiting for it' "$work/b.err" || fail "the second run did not say it waited: $(cat "$work/b.err")"
entry=$(cat "$work/a")
[ "$("$entry/sample")" = sample-ok ] || fail "the entry's program does not run"

# A later run reuses without building.
"$work/build-sample.sh" >/dev/null 2>"$work/c.err"
[ "$(built)" = 1 ] || fail "a later run built again"
grep -q reused "$work/c.err" || fail "a later run did not say it reused the entry"

# One byte changed, mtime put back: detected, rebuilt, and the rebuilt file is the right one.
chmod u+w "$entry/sample"
touch -r "$entry/sample" "$work/stamp"
printf 'X' | dd of="$entry/sample" bs=1 seek=12 conv=notrunc status=none
touch -r "$work/stamp" "$entry/sample"
"$work/build-sample.sh" >/dev/null 2>"$work/d.err"
grep -q 'sha256 check failed' "$work/d.err" || fail "a changed byte was not detected: $(cat "$work/d.err")"
[ "$(built)" = 2 ] || fail "a tampered entry was not rebuilt"
[ "$("$entry/sample")" = sample-ok ] || fail "the rebuilt entry is wrong"

# A file missing from the entry is detected too.
rm -f "$entry/sample"
"$work/build-sample.sh" >/dev/null 2>"$work/e.err"
[ "$(built)" = 3 ] && [ -x "$entry/sample" ] || fail "a missing file was not rebuilt: $(cat "$work/e.err")"
echo "test-store: ok (two runs at once built once; reuse; a changed byte and a missing file rebuilt; a failed build left nothing)" >&2
