# Sourced by the build-*.sh scripts (after scripts/lib/store.sh). Each builds pinned Go programs
# inside a module of our own (`go install pkg@version` would ask the proxy for version lists it
# may refuse) with private module and build caches under the store's .work/, writes only the
# binaries into the store entry being built ($store_tmp), and deletes the caches, which reach
# several GB. `go build` with -mod=mod resolves and downloads only what the programs import;
# `go mod tidy` first would also fetch every dependency's tests (measured: Vault 446 s with it,
# 294 s without; cert-manager 151 s and 132 s).

# gobuild_start NAME [TOOLCHAIN]: private caches, an empty module folder as the working
# directory. TOOLCHAIN (a GOTOOLCHAIN value) for a module that asks for a newer Go than the
# machine's; the proxy serves it.
gobuild_start() {
  command -v go >/dev/null || { echo "build-$1: Go is required (apt-get install golang, or see README)" >&2; exit 1; }
  gobuild_work="$store_root/.work/$1.$$"
  export GOMODCACHE="$gobuild_work/gomod" GOCACHE="$gobuild_work/gocache" GOFLAGS="-buildvcs=false -mod=mod"
  export GOTOOLCHAIN=${2:-local}
  rm -rf "$gobuild_work" && mkdir -p "$gobuild_work/mod" "$GOCACHE"
  # Go's standard library, compiled once per toolchain with the flags every build here uses
  # (scripts/build-go-std.sh), saves each build compiling it again (20-50 s each on 2 cores).
  # Another toolchain would find nothing of its own in it.
  if [ "$GOTOOLCHAIN" = local ]; then
    cp -r "$("$root/scripts/build-go-std.sh")/cache/." "$GOCACHE/"
  fi
  cd "$gobuild_work/mod"
}

# gobuild_recipe: the recipe inputs every Go build shares (this file and the toolchain).
gobuild_recipe() {
  echo "$root/scripts/lib/gobuild.sh"
  echo "go:$(GOTOOLCHAIN=local go env GOVERSION)"
}

# gobuild_module NAME GO_VERSION MODULE@VERSION...: a go.mod requiring the pinned modules.
gobuild_module() {
  local name=$1 go_version=$2; shift 2
  {
    printf 'module kubectl-secrets.local/%s\n\ngo %s\n\nrequire (\n' "$name" "$go_version"
    for m in "$@"; do printf '  %s %s\n' "${m%@*}" "${m##*@}"; done
    printf ')\n'
  } > go.mod
}

# gobuild_finish: the caches go (the binaries are already in $store_tmp).
gobuild_finish() {
  cd "$root"
  chmod -R u+w "$gobuild_work" && rm -rf "$gobuild_work"
  gobuild_work=
}
