# Sourced by the scripts that build Go binaries into the cache (controlplane-build.sh,
# node-build.sh, certmanager-build.sh). Expects a log function, quiet (0 or 1) and, for
# build_one, out (the output directory, which also holds the build logs). Provides:
#   pinned <go.mod> <module>   the version go.mod requires of a module (no Go needed)
#   find_go <what> [exit code] sets GO and go_version, exports the build environment (local
#                              toolchain, no cgo, -mod=readonly); exits when Go is missing or older than 1.26
#   build_lock <dir>           takes <dir>/.build.lock (fd 9), waiting while another build holds it
#   build_one ...              `go build -v` with progress (packages compiled, a heartbeat a minute) on stderr

#   build_args <name> "$@"     parses --force, --print-dir, --quiet, --help (the script's header
#                              comment) into force, print_dir, quiet; defines log as "<name>: ..."

build_args() { # build_args <script name> "$@"
  local name="$1" arg
  shift
  eval "log() { echo \"$name: \$*\" >&2; }"
  force="${force:-0}" print_dir=0 quiet=0
  for arg in "$@"; do
    case "$arg" in
      --force) force=1 ;;
      --print-dir) print_dir=1 ;;
      --quiet) quiet=1 ;;
      -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
      *) echo "$name: unknown argument: $arg" >&2; exit 2 ;;
    esac
  done
}

pinned() { # pinned <go.mod> <module path>
  awk -v m="$2" '$1==m { print $2; exit } $1=="require" && $2==m { print $3; exit }' "$1"
}

find_go() { # find_go <what is being built> [exit code when Go is missing, default 1]
  GO="${GO:-}"
  if [[ -z "$GO" ]]; then
    if command -v go >/dev/null 2>&1; then GO=go
    elif [[ -x /usr/local/go/bin/go ]]; then GO=/usr/local/go/bin/go
    else
      log "Go is not installed: building $1 needs Go >= 1.26 (https://go.dev/dl/)"
      exit "${2:-1}"
    fi
  fi
  export GOTOOLCHAIN=local   # never try to download another toolchain
  export CGO_ENABLED=0
  export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=readonly"
  go_version="$("$GO" env GOVERSION)"
  case "$go_version" in
    go1.2[6-9]*|go1.[3-9][0-9]*) ;;
    *) log "found $go_version; building $1 needs Go >= 1.26"; exit 1 ;;
  esac
}

build_lock() { # build_lock <directory>
  mkdir -p "$1"
  exec 9>"$1/.build.lock"
  if command -v flock >/dev/null 2>&1 && ! flock -n 9; then   # no flock (macOS): no lock
    log "another build is running (lock $1/.build.lock); waiting for it..."
    flock 9
  fi
}

build_one() { # build_one <label> <module dir> <package> <output> <ldflags>
  local label="$1" dir="$2" pkg="$3" dest="$4" ldflags="$5"
  local logf="$out/.build-$label.log" total start rc
  total="$(cd "$dir" && "$GO" list -deps "$pkg" 2>/dev/null | wc -l || echo '?')"
  start=$SECONDS
  (( quiet )) || log "building $label from $pkg ($total packages in its import graph; cold builds take minutes)"
  set +e
  (
    cd "$dir"
    "$GO" build -v -trimpath -ldflags "$ldflags" -o "$dest.tmp" "$pkg" 2>&1
    echo "__rc=$?"
  ) | (
    n=0 last=$SECONDS rc=1
    : >"$logf"
    while IFS= read -r line; do
      echo "$line" >>"$logf"
      case "$line" in
        __rc=*) rc="${line#__rc=}" ;;
        *) n=$((n + 1)) ;;
      esac
      if (( ! quiet && SECONDS - last >= 15 )); then
        log "  $label: compiled $n/$total packages, $((SECONDS - start))s"
        last=$SECONDS
      fi
    done
    exit "$rc"
  ) &
  local reader=$!
  # Heartbeat for long single packages (the linker, a big package) that print nothing for a while.
  # fd 9 (the build lock) is closed so a leftover `sleep` cannot hold the lock.
  (
    exec 9>&-
    next=$((start + 60))
    while sleep 2; do
      if (( SECONDS >= next )); then
        (( quiet )) || log "  $label: still building... $((SECONDS - start))s"
        next=$((SECONDS + 60))
      fi
    done
  ) &
  local ticker=$!
  wait "$reader"; rc=$?
  kill "$ticker" 2>/dev/null; wait "$ticker" 2>/dev/null
  set -e
  if (( rc != 0 )); then
    log "building $label FAILED (exit $rc); last lines of $logf:"
    tail -n 40 "$logf" >&2
    rm -f "$dest.tmp"
    return 1
  fi
  mv -f "$dest.tmp" "$dest"
  (( quiet )) || log "built $label in $((SECONDS - start))s -> $dest"
}

