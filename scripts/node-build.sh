#!/usr/bin/env bash
# Builds what a real single-node Kubernetes needs beyond the control plane (kube-apiserver, etcd,
# kubectl come from controlplane-build.sh): kubelet, kube-controller-manager and kube-scheduler
# from the same pinned k8s.io/kubernetes, containerd 2.x with ctr and the runc shim, the CNI
# plugins, the runc wrapper and the pause binary, all from the pinned Go tool modules in
# tools/node/. runc itself comes from Debian (apt-get install runc) when it is missing.
#
# Output directory (outside the repo, shared by every clone on this machine):
#   ${BULWARK_CACHE:-$HOME/.cache/bulwark}/node/<k8s-version>-<containerd-version>/
# A stamp file records what was built; the build is skipped while it matches.
#
# Options: --force (rebuild), --print-dir (print the output directory and exit), --quiet.
# On success the last line on stdout is NODE_BIN=<directory>; progress goes to stderr.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$repo/tools/node"
force="${BULWARK_NODE_REBUILD:-0}"
# build_args, pinned, find_go, build_lock, build_one
source "$repo/scripts/lib/go-build.sh"
build_args node-build "$@"

k8s_version="$(pinned "$tools/k8s/go.mod" k8s.io/kubernetes)"
containerd_version="$(pinned "$tools/containerd/go.mod" github.com/containerd/containerd/v2)"
cni_version="$(pinned "$tools/cni/go.mod" github.com/containernetworking/plugins)"
out="${BULWARK_CACHE:-$HOME/.cache/bulwark}/node/${k8s_version}-${containerd_version}"
if (( print_dir )); then echo "$out"; exit 0; fi

find_go "the test node"

# runc from Debian: the one part not built from Go here (it needs cgo and libseccomp).
if [[ ! -x /usr/sbin/runc ]]; then
  if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    log "runc is missing: install it (Debian: apt-get install runc)"; exit 1
  fi
  (( quiet )) || log "installing runc from Debian..."
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq runc) >&2
fi
# nft from Debian: the DNAT rule that routes the `kubernetes` Service to the API server
# (tools/node/network.ts, routeKubernetesService), kube-proxy's one job the test node needs.
if ! command -v nft >/dev/null 2>&1 && [[ ! -x /usr/sbin/nft ]]; then
  if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    log "nft is missing: install it (Debian: apt-get install nftables)"; exit 1
  fi
  (( quiet )) || log "installing nftables from Debian..."
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nftables) >&2
fi

recipe=1
stamp_text="recipe=$recipe
k8s=$k8s_version
containerd=$containerd_version
cni=$cni_version
go=$go_version
sums=$(cat "$tools"/*/go.mod "$tools"/*/go.sum "$tools"/*/*.go 2>/dev/null | sha256sum | cut -c1-16)"

build_lock "$out"

binaries=(kubelet kube-controller-manager kube-scheduler containerd ctr containerd-shim-runc-v2 runc-wrap pause cni/bridge cni/host-local cni/loopback)
stamp_ok() {
  [[ -f "$out/.stamp" && "$(cat "$out/.stamp")" == "$stamp_text" ]] || return 1
  local b; for b in "${binaries[@]}"; do [[ -x "$out/$b" ]] || return 1; done
}

if [[ "$force" == 1 ]] || ! stamp_ok; then
  rm -f "$out/.stamp"
  mkdir -p "$out/cni"
  overall=$SECONDS
  (( quiet )) || log "output: $out (k8s.io/kubernetes $k8s_version, containerd $containerd_version, CNI plugins $cni_version, $go_version)"
  (( quiet )) || log "downloading modules (first run only)..."
  for m in k8s containerd cni; do (cd "$tools/$m" && "$GO" mod download) >&2; done

  build_date="$(cd "$tools/k8s" && "$GO" list -m -f '{{if .Time}}{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}' k8s.io/kubernetes 2>/dev/null || true)"
  major="${k8s_version#v}"; major="${major%%.*}"; minor="${k8s_version#v*.}"; minor="${minor%%.*}"
  k8s_ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    k8s_ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    k8s_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=${build_date:-1970-01-01T00:00:00Z} -X $pkg.gitCommit="
  done
  for cmd in kubelet kube-controller-manager kube-scheduler; do
    build_one "$cmd" "$tools/k8s" "k8s.io/kubernetes/cmd/$cmd" "$out/$cmd" "$k8s_ldflags"
  done
  ctrd_ldflags="-s -w -X github.com/containerd/containerd/v2/version.Version=$containerd_version"
  for cmd in containerd ctr containerd-shim-runc-v2; do
    GOFLAGS="$GOFLAGS -tags=no_btrfs" build_one "$cmd" "$tools/containerd" "github.com/containerd/containerd/v2/cmd/$cmd" "$out/$cmd" "$ctrd_ldflags"
  done
  for plugin in main/bridge main/loopback ipam/host-local; do
    build_one "cni-${plugin#*/}" "$tools/cni" "github.com/containernetworking/plugins/plugins/$plugin" "$out/cni/${plugin#*/}" "-s -w"
  done
  build_one runc-wrap "$tools/runc-wrap" . "$out/runc-wrap" "-s -w"
  build_one pause "$tools/pause" . "$out/pause" "-s -w"
  printf '%s\n' "$stamp_text" >"$out/.stamp"
  (( quiet )) || log "done in $((SECONDS - overall))s"
else
  (( quiet )) || log "up to date: $out (pass --force to rebuild)"
fi
echo "NODE_BIN=$out"
