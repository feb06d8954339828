#!/usr/bin/env bash
# Stops the fleet's clusters (`make fleet-down`) and removes their state.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
fleet="$root/.cache/fleet"
for dir in "$fleet"/bed-*; do
  [ -d "$dir" ] || continue
  i=${dir##*-}
  STATE_DIR="$dir" NETNS="ks-fleet-$i" "$root/scripts/cluster-down.sh" >/dev/null 2>&1
done
rm -rf "$fleet"
echo "fleet-down: stopped" >&2
