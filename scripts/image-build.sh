#!/usr/bin/env bash
# Builds the Bulwark image from the repository's Dockerfile with buildah, as an OCI archive in
#   ${BULWARK_CACHE:-$HOME/.cache/bulwark}/image/bulwark-<version>-<hash12>.tar
# (tools/image/broker-image.ts; skipped while the Dockerfile, the context and the bases are
# unchanged). Installs what it needs when missing, with apt-get (root): buildah, and debootstrap
# for the local build base. On success the last line on stdout is
#   {"name":"bulwark.local/bulwark:<version>-<hash12>","archive":"<path>","digest":"sha256:…"}
# and everything else (progress, errors) goes to stderr.
#
# Environment:
#   BULWARK_BUILD_IMAGE     the Dockerfile's BUILD_IMAGE (default: the local bulwark.local/base/node:20-bookworm)
#   BULWARK_RUNTIME_IMAGE   the Dockerfile's RUNTIME_IMAGE (default: the local bulwark.local/base/nodejs20-debian12:nonroot)
#   BULWARK_NPM_CA          CA bundle npm trusts inside the build, a build secret (default /etc/ssl/certs/ca-certificates.crt)
#   BULWARK_BUILDAH_STORAGE_DRIVER  overlay or vfs (default: overlay if it works here, else vfs)
#
# Options:
#   --tools-only   install buildah and debootstrap if missing, and exit
#   --quiet        no progress lines from this script
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools_only=0 quiet=0
for arg in "$@"; do
  case "$arg" in
    --tools-only) tools_only=1 ;;
    --quiet) quiet=1 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "image-build: unknown argument: $arg" >&2; exit 2 ;;
  esac
done
log() { (( quiet )) || echo "image-build: $*" >&2; }

need=()
command -v buildah >/dev/null 2>&1 || need+=(buildah)
[[ -n "${BULWARK_BUILD_IMAGE:-}" ]] || command -v debootstrap >/dev/null 2>&1 || [[ -x /usr/sbin/debootstrap ]] || need+=(debootstrap)
if (( ${#need[@]} )); then
  if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "image-build: ${need[*]} missing; install them (Debian: apt-get install ${need[*]})" >&2
    exit 1
  fi
  # One installer at a time (parallel test files may both get here).
  exec 9>/var/lock/bulwark-image-tools.lock
  flock 9
  missing=()
  for tool in "${need[@]}"; do command -v "$tool" >/dev/null 2>&1 || [[ -x "/usr/sbin/$tool" ]] || missing+=("$tool"); done
  if (( ${#missing[@]} )); then
    log "installing ${missing[*]} (apt-get)…"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
  fi
  exec 9>&-
fi
(( tools_only )) && exit 0

cd "$repo"
# tsx runs the builder: a fresh clone has no node_modules yet.
[[ -d node_modules/tsx ]] || node scripts/ensure-deps.mjs >&2
exec node --import tsx tools/image/broker-image.ts
