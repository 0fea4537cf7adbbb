#!/usr/bin/env bash
# Builds the test control plane binaries (kube-apiserver, etcd and, if needed, kubectl) from the
# pinned Go tool modules in tools/controlplane/, the way controller-runtime's envtest expects them.
#
# Output directory (outside the repo, so every clone on this machine shares it):
#   ${BULWARK_CACHE:-$HOME/.cache/bulwark}/controlplane/<k8s-version>-<etcd-version>/
# A stamp file there records what was built; the build is skipped while it matches.
#
# Environment:
#   KUBEBUILDER_ASSETS            directory holding kube-apiserver, etcd (and kubectl): no build
#   TEST_ASSET_KUBE_APISERVER     path of kube-apiserver: it is not built
#   TEST_ASSET_ETCD               path of etcd: it is not built
#   TEST_ASSET_KUBECTL            path of kubectl: it is not built
#   BULWARK_BUILD_KUBECTL=1       build kubectl even when a kubectl within +/-1 minor is on PATH
#   BULWARK_CONTROLPLANE_REBUILD=1  ignore the stamp and rebuild (same as --force)
#   GO                            the go command (default: go on PATH, else /usr/local/go/bin/go)
#
# Options:
#   --force        rebuild even if the stamp matches
#   --print-dir    print the output directory and exit
#   --quiet        no progress lines
#
# On success the last three lines on stdout are
#   KUBE_APISERVER=<path>
#   ETCD=<path>
#   KUBECTL=<path>
# and everything else (progress, errors) goes to stderr.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$repo/tools/controlplane"
force="${BULWARK_CONTROLPLANE_REBUILD:-0}"
# build_args, pinned, find_go, build_lock, build_one
source "$repo/scripts/lib/go-build.sh"
build_args controlplane-build "$@"

# ---- binaries supplied from outside: nothing to build ------------------------------------------
asset() { # asset <ENV_VAR> <name>: echo a supplied path, or nothing
  local var="$1" name="$2" v
  v="${!var:-}"
  if [[ -n "$v" ]]; then echo "$v"; return; fi
  if [[ -n "${KUBEBUILDER_ASSETS:-}" && -x "$KUBEBUILDER_ASSETS/$name" ]]; then
    echo "$KUBEBUILDER_ASSETS/$name"
  fi
}
# The pinned versions, read straight from the tool modules' go.mod files (no Go needed for this).
k8s_version="$(pinned "$tools/kube-apiserver/go.mod" k8s.io/kubernetes)"
etcd_version="$(pinned "$tools/etcd/go.mod" go.etcd.io/etcd/server/v3)"
if [[ -z "$k8s_version" || -z "$etcd_version" ]]; then
  log "cannot read the pinned versions from $tools/*/go.mod"
  exit 1
fi
k8s_minor="${k8s_version#v*.}"; k8s_minor="${k8s_minor%%.*}"
cache_root="${BULWARK_CACHE:-$HOME/.cache/bulwark}/controlplane"
out="$cache_root/${k8s_version}-${etcd_version}"
if (( print_dir )); then echo "$out"; exit 0; fi


given_apiserver="$(asset TEST_ASSET_KUBE_APISERVER kube-apiserver)"
given_etcd="$(asset TEST_ASSET_ETCD etcd)"
given_kubectl="$(asset TEST_ASSET_KUBECTL kubectl)"
# A kubectl on PATH is used when it is within the supported skew (+/-1 minor) of the pinned
# kube-apiserver; otherwise (or with BULWARK_BUILD_KUBECTL=1) kubectl is built too.
if [[ -z "$given_kubectl" && "${BULWARK_BUILD_KUBECTL:-0}" != 1 ]] && path_kubectl="$(command -v kubectl)"; then
  path_minor="$("$path_kubectl" version --client -o json 2>/dev/null | sed -n 's/.*"minor": *"\([0-9][0-9]*\).*/\1/p' | head -n 1 || true)"
  if [[ -n "$path_minor" ]] && (( path_minor >= k8s_minor - 1 && path_minor <= k8s_minor + 1 )); then
    given_kubectl="$path_kubectl"
  elif (( ! quiet )); then
    log "ignoring $path_kubectl (client 1.${path_minor:-?}: outside the +/-1 skew of ${k8s_version}); kubectl will be built"
  fi
fi
for p in "$given_apiserver" "$given_etcd" "$given_kubectl"; do
  if [[ -n "$p" && ! -x "$p" ]]; then
    log "supplied binary '$p' does not exist or is not executable"
    exit 1
  fi
done

if [[ -n "$given_apiserver" && -n "$given_etcd" && -n "$given_kubectl" && "$print_dir" == 0 ]]; then
  (( quiet )) || log "using supplied binaries; nothing to build"
  echo "KUBE_APISERVER=$given_apiserver"
  echo "ETCD=$given_etcd"
  echo "KUBECTL=$given_kubectl"
  exit 0
fi

find_go "Kubernetes ${k8s_version} (or point KUBEBUILDER_ASSETS at kube-apiserver, etcd and kubectl; docs/testing.md)"

need_kubectl=0
[[ -z "$given_kubectl" ]] && need_kubectl=1

# Everything that changes the binaries goes into the stamp.
recipe=4
stamp_text="recipe=$recipe
k8s=$k8s_version
etcd=$etcd_version
go=$go_version
sums=$(cat "$tools/kube-apiserver/go.mod" "$tools/kube-apiserver/go.sum" "$tools/etcd/go.mod" "$tools/etcd/go.sum" | { sha256sum 2>/dev/null || shasum -a 256; } | cut -c1-16)"

build_lock "$cache_root"

stamp_ok() {
  [[ -f "$out/.stamp" && "$(cat "$out/.stamp")" == "$stamp_text" ]] || return 1
  [[ -x "$out/kube-apiserver" && -x "$out/etcd" ]] || return 1
  (( need_kubectl == 0 )) || [[ -x "$out/kubectl" ]]
}

if [[ "$force" == 1 ]] || ! stamp_ok; then
  # Only the binaries that are not supplied from outside are built, but the directory is always
  # complete for the stamp (kube-apiserver and etcd are cheap to rebuild from a warm GOCACHE).
  mkdir -p "$out"
  rm -f "$out/.stamp"
  overall=$SECONDS
  (( quiet )) || log "output: $out  (k8s.io/kubernetes $k8s_version, etcd $etcd_version, $go_version)"
  (( quiet )) || log "downloading modules (first run only)..."
  (cd "$tools/kube-apiserver" && "$GO" mod download) >&2
  (cd "$tools/etcd" && "$GO" mod download) >&2

  # Version strings reported by /version and `kubectl version`, as hack/lib/version.sh sets them.
  build_date="$(cd "$tools/kube-apiserver" && "$GO" list -m -f '{{if .Time}}{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}' k8s.io/kubernetes 2>/dev/null || true)"
  [[ -n "$build_date" ]] || build_date=1970-01-01T00:00:00Z
  major="${k8s_version#v}"; major="${major%%.*}"
  k8s_ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    k8s_ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$k8s_minor"
    k8s_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date -X $pkg.gitCommit="
  done
  etcd_ldflags="-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$etcd_version"

  build_one kube-apiserver "$tools/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver "$out/kube-apiserver" "$k8s_ldflags"
  build_one etcd "$tools/etcd" go.etcd.io/etcd/server/v3 "$out/etcd" "$etcd_ldflags"
  if (( need_kubectl )); then
    build_one kubectl "$tools/kube-apiserver" k8s.io/kubernetes/cmd/kubectl "$out/kubectl" "$k8s_ldflags"
  fi
  printf '%s\n' "$stamp_text" >"$out/.stamp"
  (( quiet )) || log "done in $((SECONDS - overall))s"
else
  (( quiet )) || log "up to date: $out (delete it, or pass --force, to rebuild)"
fi

echo "KUBE_APISERVER=${given_apiserver:-$out/kube-apiserver}"
echo "ETCD=${given_etcd:-$out/etcd}"
if [[ -n "$given_kubectl" ]]; then echo "KUBECTL=$given_kubectl"; else echo "KUBECTL=$out/kubectl"; fi
