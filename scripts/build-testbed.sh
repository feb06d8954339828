#!/usr/bin/env bash
# Builds the test bed's binaries from the Go module proxy at the versions pinned in
# scripts/versions.env into the per-user store (scripts/lib/store.sh), and prints the entry.
#   build-testbed.sh                          the whole bed, Kubernetes at KUBERNETES_VERSION
#   build-testbed.sh --control-plane vX.Y.Z   only kube-apiserver, kube-controller-manager and
#                                             kube-scheduler of an older release (a compat bed;
#                                             etcd, kwok and the controllers come from the whole bed)
# Kubernetes binaries carry their release's version stamps, set as its own release build sets
# them (hack/lib/version.sh), so /version, `kubectl version` and the plugin see the real release.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/versions.env"
source "$root/scripts/lib/store.sh"
source "$root/scripts/lib/gobuild.sh"

if [ "${1:-}" = --control-plane ]; then
  k8s_version=${2:?usage: build-testbed.sh --control-plane vX.Y.Z}
  component=control-plane
  pkgs=(k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler)
  others=()
else
  k8s_version=$KUBERNETES_VERSION
  component=testbed
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
  others=("go.etcd.io/etcd/server/v3@${ETCD_VERSION}" "sigs.k8s.io/kwok@${KWOK_VERSION}"
          "github.com/bitnami/sealed-secrets@${SEALED_SECRETS_VERSION}")
fi
# The whole bed also keeps the SealedSecret CRD of its release beside the binaries.
if store_open "$component" "$k8s_version" "$0" $(gobuild_recipe) "${others[@]}"; then
  echo "$store_entry"
  exit 0
fi
gobuild_start "$component-$k8s_version"
# The checksum database has no entry for the module's new path (it moved from bitnami-labs):
# the proxy's copy is taken as is for that one module.
export GONOSUMDB=github.com/bitnami/sealed-secrets

# k8s.io/kubernetes is not meant to be consumed as a module: its go.mod points every staging
# module at ./staging. Replace each with its published v0.X.Y, read from that release's go.mod.
minor=${k8s_version#v1.}; minor=${minor%%.*}
staging_version="v0.${k8s_version#v1.}"
go mod download -json "k8s.io/kubernetes@${k8s_version}" >/dev/null
download="$GOMODCACHE/cache/download/k8s.io/kubernetes/@v"
gobuild_module testbed 1.26.0 "k8s.io/kubernetes@${k8s_version}" "${others[@]}"
{
  echo
  echo "replace ("
  sed -n 's#^\s*\(k8s\.io/[a-z0-9-]*\) => \./staging/.*#  \1 => \1 '"${staging_version}"'#p' "$download/${k8s_version}.mod"
  echo ")"
} >> go.mod

# The release's stamps: version, major, minor, the commit and date the proxy records for the tag.
read -r commit date < <(python3 -c 'import json, sys
info = json.load(open(sys.argv[1]))
print(info.get("Origin", {}).get("Hash") or "-", info["Time"])' "$download/${k8s_version}.info")
stamps=(gitVersion="$k8s_version" gitMajor=1 gitMinor="$minor" buildDate="$date")
# Without a recorded commit the binaries say so, as a build from a source archive does.
if [ "$commit" = - ]; then stamps+=(gitTreeState=archive); else stamps+=(gitCommit="$commit" gitTreeState=clean); fi
ldflags="-s -w"
for s in "${stamps[@]}"; do
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do ldflags+=" -X $pkg.$s"; done
done

echo "build-testbed: compiling ${#pkgs[@]} programs (cold: about 10 minutes on 2 cores)" >&2
CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$store_tmp/" "${pkgs[@]}" >&2
# etcd's main package is its module root ("server").
[ -f "$store_tmp/server" ] && mv "$store_tmp/server" "$store_tmp/etcd"
if [ "$component" = testbed ]; then
  cp "$GOMODCACHE/github.com/bitnami/sealed-secrets@${SEALED_SECRETS_VERSION}/helm/sealed-secrets/crds/bitnami.com_sealedsecrets.yaml" \
    "$store_tmp/sealedsecrets-crd.yaml"
fi
gobuild_finish
store_publish
echo "$store_entry"
