// Which encryption keys the data on disk still needs: the answer to "may I retire key k1?".
//
// A key is needed while any segment holds a batch sealed with it; retention deletes whole
// segments, so a key stops being needed when the last segment sealed with it is deleted. A
// running broker knows this from its open partitions (Partition.keyUsage); `bulwark keys status`
// reads it from the data directory without opening anything for writing (scanKeyUsage), so it
// can run beside the broker: older segments' `.keys` files (segment.ts), and a walk of the batch
// headers of the last two segments of each partition (they still take writes, and their `.keys`
// file may lag) or of any segment whose `.keys` file is missing.
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BulwarkError, TOPIC_NAME } from '../lib/index.ts';
import type { KeyRing } from './encryption.ts';
import { BATCH_HEADER_SIZE, LOG_OVERHEAD, OFF, PLAINTEXT_KEY, storedKeyId } from './record-batch.ts';

/** Key id (PLAINTEXT_KEY for batches in the clear) → the segment log files that need it. */
export type KeyUsage = Map<string, string[]>;

export function mergeKeyUsage(into: KeyUsage, from: KeyUsage): KeyUsage {
  for (const [id, files] of from) into.set(id, [...(into.get(id) ?? []), ...files]);
  return into;
}

/**
 * Fails closed when data on disk needs a key the broker does not have (removed from the key
 * directory, or encryption left out of the configuration): it would otherwise start and fail every
 * fetch of that data. Names the key id and a segment, never key bytes.
 */
export function checkKeysAvailable(usage: KeyUsage, ring: KeyRing | undefined): void {
  for (const [keyId, files] of [...usage].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (keyId === PLAINTEXT_KEY || ring?.key(keyId)) continue;
    throw new BulwarkError('BWK_ERR_LOG_KEY_NEEDED', {
      keyId,
      where: ring ? `is not in ${ring.dir}` : 'cannot be used: encryption is not configured (encryption.keyDir, encryption.activeKeyId)',
      count: files.length,
      file: files[0]!,
    });
  }
}

/** Reads which keys every partition under `dataDir` needs, without writing anything. */
export function scanKeyUsage(dataDir: string): KeyUsage {
  const usage: KeyUsage = new Map();
  if (!existsSync(dataDir)) throw new BulwarkError('BWK_ERR_CLI_USAGE', { detail: `data directory ${dataDir} does not exist` });
  for (const entry of readdirSync(dataDir, { withFileTypes: true })) {
    const m = /^(.+)-(\d+)$/.exec(entry.name);
    if (!entry.isDirectory() || !m || !TOPIC_NAME.test(m[1]!)) continue;
    const dir = join(dataDir, entry.name);
    const logs = readdirSync(dir)
      .filter((f) => /^\d{20}\.log$/.test(f))
      .sort();
    logs.forEach((log, i) => {
      const path = join(dir, log);
      const ids = (i < logs.length - 2 ? listedKeyIds(path.replace(/\.log$/, '.keys')) : undefined) ?? walkKeyIds(path);
      for (const id of ids) usage.set(id, [...(usage.get(id) ?? []), path]);
    });
  }
  return usage;
}

function listedKeyIds(keysFile: string): Set<string> | undefined {
  if (!existsSync(keysFile)) return undefined;
  const lines = readFileSync(keysFile, 'utf8').split('\n').filter((l) => l !== '');
  return lines.length > 0 ? new Set(lines) : undefined;
}

/** Reads each batch's header and key id; stops at a torn tail (the broker's recovery cuts it). */
function walkKeyIds(logFile: string): Set<string> {
  const ids = new Set<string>();
  const size = statSync(logFile).size;
  const fd = openSync(logFile, 'r');
  try {
    const head = Buffer.allocUnsafe(BATCH_HEADER_SIZE + 1 + 64);
    for (let pos = 0; pos + BATCH_HEADER_SIZE <= size; ) {
      const got = readSync(fd, head, 0, head.length, pos);
      const length = head.readInt32BE(OFF.batchLength);
      const id = storedKeyId(head.subarray(0, got), 0);
      if (length < BATCH_HEADER_SIZE - LOG_OVERHEAD || pos + length + LOG_OVERHEAD > size || id === undefined) break;
      ids.add(id);
      pos += length + LOG_OVERHEAD;
    }
  } finally {
    closeSync(fd);
  }
  return ids;
}
