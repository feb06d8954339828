#!/usr/bin/env bash
# make bed-cache: the per-user store's entries (scripts/lib/store.sh) with their sizes.
# make clean-bed-cache: remove them all (the next run builds again).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/lib/store.sh"
case ${1:-list} in
  list)
    echo "store: $store_root"
    [ -d "$store_root" ] || { echo "(empty)"; exit 0; }
    for entry in "$store_root"/*/*/; do
      [ -f "$entry/SHA256SUMS" ] || continue
      printf '  %-8s %s\n' "$(du -sh "$entry" | cut -f1)" "${entry#"$store_root"/}"
    done
    [ -d "$store_root/.sccache" ] && printf '  %-8s %s\n' "$(du -sh "$store_root/.sccache" | cut -f1)" ".sccache/ (compiled Rust dependencies, make test's compile cache)"
    echo "total: $(du -sh "$store_root" | cut -f1)"
    ;;
  clean)
    [ -d "$store_root" ] && chmod -R u+w "$store_root" && rm -rf "$store_root"
    echo "removed $store_root"
    ;;
  *) echo "usage: bed-cache.sh [list|clean]" >&2; exit 2 ;;
esac
