#!/usr/bin/env bash
# Builds bulwark-gitops-check from tools/gitops (go.mod pins gopher-lua, the Lua interpreter Argo CD
# embeds, and sigs.k8s.io/cli-utils, whose kstatus Flux uses), for test/gitops-health.test.ts and
# the e2e tests through test/harness/gitops-check.ts.
#
# Output directory (outside the repo, so every clone on this machine shares it):
#   ${BULWARK_CACHE:-$HOME/.cache/bulwark}/gitops/<gopher-lua version>-<cli-utils version>/
#       bulwark-gitops-check  .stamp  .build-bulwark-gitops-check.log
# A stamp file there records what was built; the build is skipped while it matches.
#
# Environment:
#   BULWARK_GITOPS_REBUILD=1  ignore the stamp and rebuild (same as --force)
#   GO                        the go command (default: go on PATH, else /usr/local/go/bin/go)
#
# Options:
#   --force        rebuild even if the stamp matches
#   --print-dir    print the output directory and exit
#   --quiet        no progress lines
#
# On success the last line on stdout is
#   GITOPS_BIN=<directory holding bulwark-gitops-check>
# and everything else (progress, errors) goes to stderr. Exit 3 means Go is not installed.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$repo/tools/gitops"
force="${BULWARK_GITOPS_REBUILD:-0}"
# build_args, pinned, find_go, build_lock, build_one
source "$repo/scripts/lib/go-build.sh"
build_args gitops-build "$@"

lua_version="$(pinned "$tools/go.mod" github.com/yuin/gopher-lua)"
kstatus_version="$(pinned "$tools/go.mod" sigs.k8s.io/cli-utils)"
if [[ -z "$lua_version" || -z "$kstatus_version" ]]; then
  log "cannot read the pinned gopher-lua and cli-utils versions from $tools/go.mod"
  exit 1
fi
cache_root="${BULWARK_CACHE:-$HOME/.cache/bulwark}/gitops"
out="$cache_root/gopher-lua-$lua_version-cli-utils-$kstatus_version"
if (( print_dir )); then echo "$out"; exit 0; fi

find_go "bulwark-gitops-check" 3

recipe=1
stamp_text="recipe=$recipe
gopher-lua=$lua_version
cli-utils=$kstatus_version
go=$go_version
sums=$(cat "$tools/go.mod" "$tools/go.sum" "$tools"/*.go | { sha256sum 2>/dev/null || shasum -a 256; } | cut -c1-16)"

build_lock "$cache_root"

stamp_ok() {
  [[ -f "$out/.stamp" && "$(cat "$out/.stamp")" == "$stamp_text" ]] || return 1
  [[ -x "$out/bulwark-gitops-check" ]]
}

if [[ "$force" == 1 ]] || ! stamp_ok; then
  mkdir -p "$out"
  rm -f "$out/.stamp"
  overall=$SECONDS
  (( quiet )) || log "output: $out  (gopher-lua $lua_version, cli-utils $kstatus_version, $go_version)"
  (( quiet )) || log "downloading modules (first run only)..."
  (cd "$tools" && "$GO" mod download) >&2
  build_one bulwark-gitops-check "$tools" bulwark.local/tools/gitops "$out/bulwark-gitops-check" "-s -w"
  printf '%s\n' "$stamp_text" >"$out/.stamp"
  (( quiet )) || log "done in $((SECONDS - overall))s"
else
  (( quiet )) || log "up to date: $out (delete it, or pass --force, to rebuild)"
fi

echo "GITOPS_BIN=$out"
