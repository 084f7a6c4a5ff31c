#!/usr/bin/env bash
# Builds the pinned binaries that the tests and the demo run (kube-apiserver, etcd, kubectl,
# temporal, pebble, pebble-challtestsrv, controller-gen, workflowcheck, helm) from Go modules, into a cache outside the clone
# keyed by tool and version, and links them into bin/. A warm run builds nothing.
#
# Usage: hack/tools.sh [tool...]   (default: all)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${CERTFLOW_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/certflow/tools}
mkdir -p "$root/bin" "$cache"

# Versions: DESIGN.md section 7. Change a version here and the next run builds it anew.
KUBE_VERSION=v1.37.2      # hack/tools/kubernetes/go.mod pins the same
ETCD_VERSION=v3.6.16      # hack/tools/etcd/go.mod pins the same
TEMPORAL_CLI_VERSION=v1.5.1
PEBBLE_VERSION=v2.10.3
PEBBLE_PATCHES=certflow.1 # hack/tools/pebble/*.patch; count up when they change
CONTROLLER_TOOLS_VERSION=v0.23.0
WORKFLOWCHECK_VERSION=v0.6.0
HELM_VERSION=v4.3.2

# build NAME VERSION COMMAND...: runs COMMAND with $out set to a fresh directory that must
# receive the binary NAME, then moves it into the cache, so an interrupted build leaves nothing.
build() {
  local name=$1 version=$2; shift 2
  local dir=$cache/$name@$version
  if [ -x "$dir/$name" ]; then
    echo "tools: $name $version: cached"
  else
    echo "tools: $name $version: building (this can take minutes)"
    local start=$SECONDS
    out=$(mktemp -d "$cache/.build-$name.XXXXXX")
    "$@"
    [ -x "$out/$name" ] || { echo "tools: $name: build produced no binary" >&2; exit 1; }
    rm -rf "$dir" && mv "$out" "$dir"
    echo "tools: $name $version: built in $((SECONDS - start))s"
  fi
  ln -sfn "$dir/$name" "$root/bin/$name"
}

go_install() { GOBIN=$out go install "$1"; }
# patched_pebble builds Pebble from its module with hack/tools/pebble/*.patch applied (each says why).
patched_pebble() {
  go mod download "github.com/letsencrypt/pebble/v2@$PEBBLE_VERSION"
  local src work=$out/src p
  src=$(go env GOMODCACHE)/github.com/letsencrypt/pebble/v2@$PEBBLE_VERSION
  cp -r "$src" "$work" && chmod -R u+w "$work"
  for p in "$root"/hack/tools/pebble/*.patch; do (cd "$work" && GIT_CEILING_DIRECTORIES=$out git apply "$p"); done
  (cd "$work" && go build -o "$out/pebble" ./cmd/pebble)
  rm -rf "$work"
}
kubernetes() { (cd "$root/hack/tools/kubernetes" && go build -o "$out/$1" "k8s.io/kubernetes/cmd/$1"); }
etcd() { (cd "$root/hack/tools/etcd" && go build -o "$out/etcd" go.etcd.io/etcd/server/v3); }

want=("$@")
[ ${#want[@]} -gt 0 ] || want=(controller-gen workflowcheck helm pebble pebble-challtestsrv etcd temporal kube-apiserver kubectl)
for tool in "${want[@]}"; do
  case $tool in
    controller-gen) build controller-gen $CONTROLLER_TOOLS_VERSION go_install sigs.k8s.io/controller-tools/cmd/controller-gen@$CONTROLLER_TOOLS_VERSION ;;
    workflowcheck) build workflowcheck $WORKFLOWCHECK_VERSION go_install go.temporal.io/sdk/contrib/tools/workflowcheck@$WORKFLOWCHECK_VERSION ;;
    helm) build helm $HELM_VERSION go_install helm.sh/helm/v4/cmd/helm@$HELM_VERSION ;;
    pebble) build pebble "$PEBBLE_VERSION+$PEBBLE_PATCHES" patched_pebble ;;
    pebble-challtestsrv) build pebble-challtestsrv $PEBBLE_VERSION go_install github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv@$PEBBLE_VERSION ;;
    etcd) build etcd $ETCD_VERSION etcd ;;
    temporal) build temporal $TEMPORAL_CLI_VERSION go_install github.com/temporalio/cli/cmd/temporal@$TEMPORAL_CLI_VERSION ;;
    kube-apiserver) build kube-apiserver $KUBE_VERSION kubernetes kube-apiserver ;;
    kubectl) build kubectl $KUBE_VERSION kubernetes kubectl ;;
    *) echo "tools: unknown tool $tool" >&2; exit 2 ;;
  esac
done
