#!/usr/bin/env bash
# Builds the test bed's binaries from the Go module proxy at the versions pinned in
# scripts/versions.env, into .cache/bin/<stamp>/. Only the binaries are kept: the Go module
# and build caches it uses are private to this script and removed afterwards.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/versions.env"

stamp="k8s-${KUBERNETES_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}_ss-${SEALED_SECRETS_VERSION}"
bin_dir="$root/.cache/bin/$stamp"
binaries=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok controller kubeseal)
# Kept beside the binaries: the SealedSecret CRD of the same release.
files=(sealedsecrets-crd.yaml)

have_all() {
  for b in "${binaries[@]}"; do [ -x "$bin_dir/$b" ] || return 1; done
  for f in "${files[@]}"; do [ -f "$bin_dir/$f" ] || return 1; done
}
if have_all; then
  echo "$bin_dir"
  exit 0
fi

command -v go >/dev/null || { echo "build-testbed: Go is required (apt-get install golang, or see README)" >&2; exit 1; }

work="$root/.cache/build"
export GOMODCACHE="$work/gomod" GOCACHE="$work/gocache" GOFLAGS="-buildvcs=false -mod=mod" GOTOOLCHAIN=local
# The checksum database has no entry for the module's new path (it moved from bitnami-labs):
# the proxy's copy is taken as is for that one module.
export GONOSUMDB=github.com/bitnami/sealed-secrets
rm -rf "$work/mod" && mkdir -p "$work/mod" "$bin_dir.tmp"
cd "$work/mod"

# k8s.io/kubernetes is not meant to be consumed as a module: its go.mod points every staging
# module at ./staging. Replace each with its published v0.X.Y, read from that release's go.mod.
minor=${KUBERNETES_VERSION#v1.}
staging_version="v0.${minor}"
go mod download -json "k8s.io/kubernetes@${KUBERNETES_VERSION}" >/dev/null
k8s_gomod="$GOMODCACHE/cache/download/k8s.io/kubernetes/@v/${KUBERNETES_VERSION}.mod"
{
  echo "module kubectl-secrets.local/testbed"
  echo
  echo "go 1.26.0"
  echo
  echo "require ("
  echo "  k8s.io/kubernetes ${KUBERNETES_VERSION}"
  echo "  go.etcd.io/etcd/server/v3 ${ETCD_VERSION}"
  echo "  sigs.k8s.io/kwok ${KWOK_VERSION}"
  echo "  github.com/bitnami/sealed-secrets ${SEALED_SECRETS_VERSION}"
  echo ")"
  echo
  echo "replace ("
  sed -n 's#^\s*\(k8s\.io/[a-z0-9-]*\) => \./staging/.*#  \1 => \1 '"${staging_version}"'#p' "$k8s_gomod"
  echo ")"
} > go.mod

pkgs=(
  go.etcd.io/etcd/server/v3
  k8s.io/kubernetes/cmd/kube-apiserver
  k8s.io/kubernetes/cmd/kube-controller-manager
  k8s.io/kubernetes/cmd/kube-scheduler
  k8s.io/kubernetes/cmd/kubectl
  sigs.k8s.io/kwok/cmd/kwok
  github.com/bitnami/sealed-secrets/cmd/controller
  github.com/bitnami/sealed-secrets/cmd/kubeseal
)
{
  echo "//go:build tools"
  echo "package testbed"
  echo "import ("
  for p in "${pkgs[@]}"; do echo "  _ \"$p\""; done
  echo ")"
} > tools.go

echo "build-testbed: resolving modules (Kubernetes ${KUBERNETES_VERSION})" >&2
go mod tidy >&2
echo "build-testbed: compiling ${#pkgs[@]} programs (cold: tens of minutes on 2 cores)" >&2
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin_dir.tmp/" "${pkgs[@]}" >&2
mv "$bin_dir.tmp/server" "$bin_dir.tmp/etcd"
cp "$GOMODCACHE/github.com/bitnami/sealed-secrets@${SEALED_SECRETS_VERSION}/helm/sealed-secrets/crds/bitnami.com_sealedsecrets.yaml" \
  "$bin_dir.tmp/sealedsecrets-crd.yaml"
rm -rf "$bin_dir" && mv "$bin_dir.tmp" "$bin_dir"
# Keep only the binaries: the module and build caches are several GB.
chmod -R u+w "$work" && rm -rf "$work"
echo "$bin_dir"
