// One node per bridge: an exclusive lock file naming its owner. The lock is held while any of
// its `pids` is alive; a lock whose processes are all dead is stale and may be reclaimed (after
// the caller has cleaned up what that run left behind).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { alive } from '../controlplane/launcher.ts';

export const LOCK_DIR = '/run/bulwark-node';

const lockSchema = z.object({
  pids: z.array(z.number().int()),
  dir: z.string(),
  bridge: z.string(),
  startedAt: z.string(),
  purpose: z.string().optional(),
});
export type BridgeLock = z.infer<typeof lockSchema>;

export function lockFile(bridge: string): string {
  return path.join(LOCK_DIR, `${bridge}.lock`);
}

export function readLock(bridge: string): BridgeLock | undefined {
  let text: string;
  try {
    text = fs.readFileSync(lockFile(bridge), 'utf8');
  } catch {
    return undefined;
  }
  const parsed = lockSchema.safeParse(safeJson(text));
  // An unreadable lock (torn write by a killed process) counts as stale.
  return parsed.success ? parsed.data : { pids: [], dir: '', bridge, startedAt: '?' };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export function lockIsLive(l: BridgeLock): boolean {
  return l.pids.some((p) => p > 1 && alive(p));
}

export class BridgeBusyError extends Error {
  constructor(readonly bridge: string, readonly holder: BridgeLock) {
    super(
      `bridge ${bridge} is in use by another test node: pid ${holder.pids.join(',')} (dir ${holder.dir}, ` +
        `since ${holder.startedAt}${holder.purpose ? `, ${holder.purpose}` : ''}); stop it (npm run cluster:down ` +
        `if it is the cluster:up node) or pick another bridge (startNode({ bridge: { name, cidr } }))`,
    );
    this.name = 'BridgeBusyError';
  }
}

/**
 * Takes the lock for `bridge`, or throws BridgeBusyError naming the holder. A stale lock is
 * passed to `onStale` (to clean up after the dead run) and then replaced.
 */
export async function acquireBridgeLock(
  bridge: string,
  owner: Omit<BridgeLock, 'bridge'>,
  onStale: (stale: BridgeLock) => Promise<void>,
): Promise<string> {
  fs.mkdirSync(LOCK_DIR, { recursive: true });
  const file = lockFile(bridge);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx', 0o644);
      fs.writeSync(fd, JSON.stringify({ ...owner, bridge }));
      fs.closeSync(fd);
      return file;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        // A finishing node's cleanup removed the (empty) lock dir just now.
        fs.mkdirSync(LOCK_DIR, { recursive: true });
        continue;
      }
      if (code !== 'EEXIST') throw err;
    }
    const holder = readLock(bridge);
    if (holder && lockIsLive(holder)) throw new BridgeBusyError(bridge, holder);
    if (holder) await onStale(holder);
    fs.rmSync(file, { force: true });
  }
  throw new Error(`could not take ${file}: it keeps reappearing`);
}

/** Rewrites the owner pids (cluster:up hands the lock from the launching process to the components). */
export function updateLockPids(bridge: string, pids: number[]): void {
  const l = readLock(bridge);
  if (!l) return;
  const tmp = `${lockFile(bridge)}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify({ ...l, pids }));
  fs.renameSync(tmp, lockFile(bridge));
}
