# Sourced by the scripts that build Go binaries into the cache (controlplane-build.sh,
# node-build.sh). Expects: GO (the go command), out (the output directory, which also holds the
# build logs), quiet (0 or 1) and a log function. Provides build_one, which runs `go build -v`
# and shows progress (packages compiled, a heartbeat every minute) on stderr.

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

