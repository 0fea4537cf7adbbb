// Removing everything a test node created, as one shell script: stop() runs it after the graceful
// part, the reaper runs it when the test process dies without stop() (kill -9), and startNode()
// runs it before starting, against a killed previous run's directory. One script, three callers,
// so the three cannot drift apart.
//
// What it removes, in order: the components' process groups; our containers (runc state under
// /run/containerd/runc/k8s.io for the task ids in OUR containerd state dir) and their shim
// sockets; shims still pointing at our containerd socket; every mount under the node dir
// (deepest first: overlay rootfs, shm, the kubelet's bind mount of its root dir, volumes); pod
// network namespaces holding an address in our /24 and the client-host namespaces; the bridge;
// empty kubepods cgroup dirs; /var/log/containers links into the node dir; libcni's cached
// results for our network (/var/lib/cni/results); the kubelet's device-plugin socket
// (/var/lib/kubelet/device-plugins, when no kubelet is left); empty /run/containerd dirs; the sysctls the kubelet changed (restored from `sysctl-before`); the dir and the lock.
import { spawn } from 'node:child_process';
import type { BridgeSpec } from './config.ts';
import { CONTAINERD_RUN, RUNC_ROOT_K8S } from './config.ts';

export interface CleanupTarget {
  dir: string;
  bridge: BridgeSpec;
  containerdSocket: string;
  containerdState: string;
  /** Process groups to end (SIGTERM, 10 s, SIGKILL). */
  pgids: number[];
  removeDir: boolean;
  /** Lock file to remove at the end (only its owner passes it). */
  lockFile?: string;
  runc?: string;
}

/** Client-host netns names: `bwkc-<bridge>-<n>`. */
export function clientNetnsPrefix(bridge: string): string {
  return `bwkc-${bridge}-`;
}

const SCRIPT = String.raw`
set +e
if [ -n "$WAIT_PID" ]; then
  while kill -0 "$WAIT_PID" 2>/dev/null; do sleep 1; done
fi
for g in $PGIDS; do kill -TERM -"$g" 2>/dev/null; done
i=0
while [ $i -lt 100 ]; do
  any=0
  # Wait for the group leaders only (zombies do not count): shims share containerd's group and
  # are meant to outlive it; they are killed below.
  for g in $PGIDS; do
    st=$(cut -d' ' -f3 "/proc/$g/stat" 2>/dev/null)
    [ -n "$st" ] && [ "$st" != Z ] && any=1
  done
  [ $any = 0 ] && break
  sleep 0.1; i=$((i+1))
done
for g in $PGIDS; do kill -KILL -"$g" 2>/dev/null; done

TASKS="$CTRD_STATE/io.containerd.runtime.v2.task/k8s.io"
for d in "$TASKS"/*; do
  [ -d "$d" ] || continue
  id=$(basename "$d")
  "$RUNC" --root "$RUNC_ROOT" kill --all "$id" KILL >/dev/null 2>&1
  "$RUNC" --root "$RUNC_ROOT" delete --force "$id" >/dev/null 2>&1
  h=$(printf '%s' "$CTRD_SOCK/k8s.io/$id" | sha256sum | cut -d' ' -f1)
  rm -f "$CTRD_RUN/s/$h"
done
for p in /proc/[0-9]*; do
  c=$( { tr '\0' ' ' < "$p/cmdline"; } 2>/dev/null)
  case "$c" in
    *containerd-shim-runc-v2*" $CTRD_SOCK"*) kill -KILL "$(basename "$p")" 2>/dev/null ;;
  esac
done

awk -v d="$DIR/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r m; do
  umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
done

for ns in $(ip netns list 2>/dev/null | awk '{ print $1 }'); do
  case "$ns" in
    "$CLIENT_PREFIX"*) ip netns del "$ns" 2>/dev/null; continue ;;
  esac
  if ip -n "$ns" -4 -o addr show 2>/dev/null | grep -q "inet $PREFIX"; then ip netns del "$ns" 2>/dev/null; fi
done
for d in /etc/netns/"$CLIENT_PREFIX"*; do [ -e "$d" ] && rm -rf "$d"; done
# ip netns add bind-mounts /run/netns on itself once; undo that when nothing is left in it.
if [ -d /run/netns ] && [ -z "$(ls -A /run/netns)" ] && grep -q ' /run/netns /run/netns ' /proc/self/mountinfo; then umount /run/netns 2>/dev/null; fi
rmdir /etc/netns 2>/dev/null
ip link show "$BRIDGE" >/dev/null 2>&1 && ip link del "$BRIDGE"
command -v nft >/dev/null 2>&1 && nft delete table ip "bulwark_$BRIDGE" 2>/dev/null

for root in /sys/fs/cgroup/*; do
  [ -d "$root/kubepods" ] && find "$root/kubepods" -depth -type d -exec rmdir {} + 2>/dev/null
done
for f in /var/log/containers/*; do
  [ -L "$f" ] || continue
  case "$(readlink "$f")" in "$DIR/"*) rm -f "$f" ;; esac
done
rmdir /var/log/containers 2>/dev/null
# libcni's result cache (containerd does not move it): our network's files, and the loopback
# files of the same sandboxes.
for f in /var/lib/cni/results/"bulwark-$BRIDGE-"*-eth0; do
  [ -e "$f" ] || continue
  id=$(basename "$f" -eth0 | sed "s/^bulwark-$BRIDGE-//")
  rm -f "$f" "/var/lib/cni/results/cni-loopback-$id-lo"
done
rmdir /var/lib/cni/results /var/lib/cni 2>/dev/null
# The kubelet's device-plugin socket path is hard-coded; remove it when no kubelet is left.
live_kubelet=0
for p in /proc/[0-9]*; do
  if [ "$(cat "$p/comm" 2>/dev/null)" = kubelet ] && [ "$(cut -d' ' -f3 "$p/stat" 2>/dev/null)" != Z ]; then live_kubelet=1; fi
done
if [ $live_kubelet = 0 ]; then
  rm -f /var/lib/kubelet/device-plugins/kubelet.sock /var/lib/kubelet/device-plugins/kubelet_internal_checkpoint
  rmdir /var/lib/kubelet/device-plugins /var/lib/kubelet 2>/dev/null
fi
rmdir "$RUNC_ROOT" "$CTRD_RUN/runc" "$CTRD_RUN/s" "$CTRD_RUN" 2>/dev/null

if [ -f "$DIR/sysctl-before" ]; then
  while read -r kv; do [ -n "$kv" ] && sysctl -qw "$kv" >/dev/null 2>&1; done < "$DIR/sysctl-before"
fi
if [ "$REMOVE_DIR" = 1 ]; then rm -rf "$DIR"; fi
# Only a lock that still names this dir: another node may hold the bridge by now.
if [ -n "$LOCK" ] && grep -qF "\"dir\":\"$DIR\"" "$LOCK" 2>/dev/null; then rm -f "$LOCK"; fi
[ -n "$LOCK" ] && rmdir "$(dirname "$LOCK")" 2>/dev/null
exit 0
`;

function scriptEnv(t: CleanupTarget, waitPid?: number): NodeJS.ProcessEnv {
  if (!t.dir.startsWith('/') || t.dir.length < 6) throw new Error(`node dir ${JSON.stringify(t.dir)} must be an absolute path`);
  return {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    WAIT_PID: waitPid ? String(waitPid) : '',
    PGIDS: t.pgids.filter((p) => p > 1).join(' '),
    DIR: t.dir,
    BRIDGE: t.bridge.name,
    PREFIX: t.bridge.prefix,
    CLIENT_PREFIX: clientNetnsPrefix(t.bridge.name),
    CTRD_SOCK: t.containerdSocket,
    CTRD_STATE: t.containerdState,
    CTRD_RUN: CONTAINERD_RUN,
    RUNC_ROOT: RUNC_ROOT_K8S,
    RUNC: t.runc ?? '/usr/sbin/runc',
    REMOVE_DIR: t.removeDir ? '1' : '0',
    LOCK: t.lockFile ?? '',
  };
}

/** Runs the cleanup now and waits for it. */
export function runCleanup(t: CleanupTarget): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', SCRIPT, 'bulwark-node-cleanup'], { env: scriptEnv(t), stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('error', reject);
    child.on('close', () => resolve());
  });
}

/**
 * A detached shell that waits for `parentPid` to die, then runs the cleanup: covers kill -9 of
 * the test process. Returns its pid (kill it when stop() does the cleanup itself).
 */
export function startCleanupReaper(t: CleanupTarget, parentPid: number): number | undefined {
  const child = spawn('/bin/sh', ['-c', SCRIPT, 'bulwark-node-reaper'], { env: scriptEnv(t, parentPid), detached: true, stdio: 'ignore' });
  child.on('error', () => {});
  child.unref();
  return child.pid;
}
