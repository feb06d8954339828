# Sourced by the build-*.sh scripts. Each builds pinned Go programs inside a module of our own
# (`go install pkg@version` would ask the proxy for version lists it may refuse) with private
# module and build caches, keeps only the binaries under .cache/bin/, and deletes the caches,
# which reach several GB.

# gobuild_start NAME OUT_DIR: private caches under .cache/build-NAME, an empty module folder as
# the working directory, and OUT_DIR.tmp to build into.
gobuild_start() {
  command -v go >/dev/null || { echo "build-$1: Go is required (apt-get install golang, or see README)" >&2; exit 1; }
  gobuild_work="$root/.cache/build-$1"
  gobuild_out=$2
  export GOMODCACHE="$gobuild_work/gomod" GOCACHE="$gobuild_work/gocache" GOFLAGS="-buildvcs=false -mod=mod" GOTOOLCHAIN=local
  rm -rf "$gobuild_work/mod" "$gobuild_out.tmp" && mkdir -p "$gobuild_work/mod" "$gobuild_out.tmp"
  gobuild_seed_std
  cd "$gobuild_work/mod"
}

# gobuild_seed_std: the standard library, compiled once per Go toolchain with the flags every
# build here uses (CGO_ENABLED=0 -trimpath) into .cache/go-std/<go version>/, is copied into
# the private build cache, so that each build stops compiling it again (20-50 s each on 2
# cores). A build under another toolchain (GOTOOLCHAIN) finds nothing of its own in it.
gobuild_seed_std() {
  local std
  std="$root/.cache/go-std/$(go env GOVERSION)"
  if [ ! -f "$std/complete" ]; then
    echo "build: compiling Go's standard library once for every build here ($(go env GOVERSION))" >&2
    rm -rf "$std" && mkdir -p "$std"
    (cd "$std" && GOFLAGS=-buildvcs=false GOCACHE="$std/cache" CGO_ENABLED=0 go build -trimpath std >&2)
    touch "$std/complete"
  fi
  mkdir -p "$GOCACHE" && cp -r "$std/cache/." "$GOCACHE/"
}

# gobuild_tools PACKAGE...: a tools.go importing the programs to build, so `go mod tidy` keeps them.
gobuild_tools() {
  {
    echo "//go:build tools"
    echo "package tools"
    echo "import ("
    for p in "$@"; do echo "  _ \"$p\""; done
    echo ")"
  } > tools.go
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

# gobuild_finish: the built folder replaces OUT_DIR in one move; the caches go.
gobuild_finish() {
  rm -rf "$gobuild_out" && mv "$gobuild_out.tmp" "$gobuild_out"
  chmod -R u+w "$gobuild_work" && rm -rf "$gobuild_work"
}
