#!/usr/bin/env bash
# Installs moto's server mode (a local AWS Secrets Manager API for the test bed), pinned in
# scripts/versions.env, into a virtualenv of its own under .cache/tools, and prints the path
# of its `moto_server`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/versions.env"
venv="$root/.cache/tools/moto-$MOTO_VERSION"
if [ ! -x "$venv/bin/moto_server" ]; then
  echo "install-moto: installing moto[server]==$MOTO_VERSION (PyPI) into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" boto3 >&2
fi
echo "$venv/bin/moto_server"
