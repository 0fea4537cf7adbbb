#!/usr/bin/env bash
# Builds the helm v4 CLI from the helm.sh/helm/v4 Go module pinned in tools/helm/go.mod (its
# `tool` directive names helm.sh/helm/v4/cmd/helm), for the chart in helm/bulwark: its tests
# (test/helm-chart.test.ts: helm lint, helm template) and the install on the test node
# (e2e/helm.test.ts). The version ldflags are set as helm's Makefile sets them, so
# `helm version` prints the pinned version.
#
# Output directory (outside the repo, so every clone on this machine shares it):
#   ${BULWARK_CACHE:-$HOME/.cache/bulwark}/helm/<helm version>/
#       helm  .stamp  .build-helm.log
# A stamp file there records what was built; the build is skipped while it matches.
#
# Environment:
#   BULWARK_HELM_REBUILD=1  ignore the stamp and rebuild (same as --force)
#   GO                      the go command (default: go on PATH, else /usr/local/go/bin/go)
#
# Options:
#   --force        rebuild even if the stamp matches
#   --print-dir    print the output directory and exit
#   --quiet        no progress lines
#
# On success the last line on stdout is HELM_BIN=<directory> (the helm binary is <directory>/helm),
# and everything else (progress, errors) goes to stderr. Exit 3 means Go is not installed.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$repo/tools/helm"
force="${BULWARK_HELM_REBUILD:-0}"
# build_args, pinned, find_go, build_lock, build_one
source "$repo/scripts/lib/go-build.sh"
build_args helm-build "$@"

module=helm.sh/helm/v4
version="$(pinned "$tools/go.mod" "$module")"
if [[ -z "$version" ]]; then
  log "cannot read the pinned $module version from $tools/go.mod"
  exit 1
fi
cache_root="${BULWARK_CACHE:-$HOME/.cache/bulwark}/helm"
out="$cache_root/$version"
if (( print_dir )); then echo "$out"; exit 0; fi

find_go "helm $version" 3

recipe=1
stamp_text="recipe=$recipe
helm=$version
go=$go_version
sums=$(cat "$tools/go.mod" "$tools/go.sum" | { sha256sum 2>/dev/null || shasum -a 256; } | cut -c1-16)"

build_lock "$cache_root"

stamp_ok() {
  [[ -f "$out/.stamp" && "$(cat "$out/.stamp")" == "$stamp_text" && -x "$out/helm" ]]
}

if [[ "$force" == 1 ]] || ! stamp_ok; then
  mkdir -p "$out"
  rm -f "$out/.stamp"
  overall=$SECONDS
  (( quiet )) || log "output: $out  ($module $version, $go_version)"
  (( quiet )) || log "downloading modules (first run only)..."
  (cd "$tools" && "$GO" mod download) >&2
  # As helm's Makefile: version, and an empty commit and tree state (a module build has no git).
  ldflags="-s -w -X $module/internal/version.version=$version -X $module/internal/version.metadata="
  ldflags+=" -X $module/internal/version.gitCommit= -X $module/internal/version.gitTreeState=clean"
  build_one helm "$tools" "$module/cmd/helm" "$out/helm" "$ldflags"
  got="$("$out/helm" version --template '{{.Version}}')"
  if [[ "$got" != "$version" ]]; then
    log "the built helm says it is $got, not $version"
    exit 1
  fi
  printf '%s\n' "$stamp_text" >"$out/.stamp"
  (( quiet )) || log "done in $((SECONDS - overall))s"
else
  (( quiet )) || log "up to date: $out (delete it, or pass --force, to rebuild)"
fi

echo "HELM_BIN=$out"
