#!/usr/bin/env bash
# Installs what a fresh machine lacks for the build, the test bed and the tests: Debian
# packages (openssl, curl, util-linux, iproute2, socat, jq, time, python3-venv, fish for the
# completion test, and the PostgreSQL, MariaDB and Redis servers the bed runs), rustfmt and clippy. Go and Rust themselves
# come with the machine image; the script says so clearly when they are missing.
set -euo pipefail
missing=()
for tool in openssl:openssl curl:curl unshare:util-linux setsid:util-linux ip:iproute2 base64:coreutils socat:socat jq:jq fish:fish; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool#*:}")
done
[ -x /usr/bin/time ] || missing+=(time)
# The bed's database servers, whose passwords rotate changes (issuers): Debian's packages.
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql)
command -v mariadbd >/dev/null 2>&1 || missing+=(mariadb-server)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
# moto (the bed's AWS Secrets Manager) is installed into a virtualenv: Debian splits venv out.
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2
fi
# The e2e tests parse `list -o prometheus` with Prometheus' own Python client parser.
if ! python3 -c 'import prometheus_client' 2>/dev/null; then
  echo "install-deps: installing prometheus-client (Python) for the metrics tests" >&2
  python3 -m pip install --quiet --disable-pip-version-check "prometheus-client==0.26.0" >&2
fi
# The krew text check reads the manifest with PyYAML.
if ! python3 -c 'import yaml' 2>/dev/null; then
  echo "install-deps: installing PyYAML (Python) for the krew manifest check" >&2
  python3 -m pip install --quiet --disable-pip-version-check "PyYAML==6.0.3" >&2
fi
command -v go >/dev/null || { echo "install-deps: Go 1.26+ is required (https://go.dev/doc/install)" >&2; exit 1; }
command -v cargo >/dev/null || { echo "install-deps: Rust (cargo) is required (https://rustup.rs)" >&2; exit 1; }
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  rustup component add rustfmt clippy >&2
fi
