#!/usr/bin/env bash
# Installs moto's server mode (a local AWS Secrets Manager API for the test bed), pinned in
# scripts/versions.env, into a virtualenv in the per-user store (scripts/lib/store.sh), and
# prints the virtualenv's folder. The virtualenv is built elsewhere and renamed into place, so
# its console scripts' #! lines point nowhere: run it as `$venv/bin/python -m moto.server`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/versions.env"
source "$root/scripts/lib/store.sh"
python=$(command -v python3)
if store_open moto "$MOTO_VERSION" "$0" "python:$(readlink -f "$python") $("$python" --version 2>&1)"; then
  echo "$store_entry"
  exit 0
fi
echo "install-moto: installing moto[server]==$MOTO_VERSION (PyPI) into the store" >&2
"$python" -m venv "$store_tmp" >&2
"$store_tmp/bin/pip" install --quiet --disable-pip-version-check --no-compile "moto[server]==$MOTO_VERSION" boto3 >&2
store_publish
echo "$store_entry"
