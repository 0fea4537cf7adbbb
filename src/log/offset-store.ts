// Committed consumer-group offsets, stored durably.
//
// On-disk contract: `<dir>/offsets.log`, a sequence of entries
//   length u32 BE | crc32c u32 BE (of the payload) | payload (JSON: group, topic, partition,
//   offset, metadata, commitTimestamp; offset -1 deletes the entry)
// Replayed in order on open: the last entry for a (group, topic, partition) wins. A torn or
// corrupt tail (a crash mid-write) is truncated and reported. When the file holds four times
// more entries than live offsets, it is rewritten whole (lib/atomic-file.ts).
//
// commit() resolves once its entries are fdatasynced; concurrent commits share syncs.
import { crc32c } from './crc32c.ts';
import { closeSync, existsSync, fdatasync, ftruncateSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { writeFileAtomic } from '../lib/index.ts';
import { join } from 'node:path';

export interface CommittedOffset {
  group: string;
  topic: string;
  partition: number;
  offset: number;
  metadata: string | null;
  commitTimestamp: number;
}

const MAX_ENTRY = 64 * 1024;
/** length | crc32c | JSON payload: one entry of the file. */
function frame(entry: CommittedOffset): Buffer {
  const payload = Buffer.from(JSON.stringify(entry), 'utf8');
  if (payload.length > MAX_ENTRY) throw new RangeError('offset metadata too large');
  const out = Buffer.allocUnsafe(8 + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.writeUInt32BE(crc32c(payload), 4);
  payload.copy(out, 8);
  return out;
}

const key = (group: string, topic: string, partition: number) => `${group}\0${topic}\0${partition}`;

export class OffsetStore {
  readonly #dir: string;
  #fd: number;
  #size = 0;
  #entries = 0;
  readonly #offsets = new Map<string, CommittedOffset>();
  #syncing: Promise<void> | undefined;
  #writeSeq = 0;
  #syncedSeq = 0;
  /** What opening found: undefined, or the bytes cut from a torn tail. */
  readonly truncatedBytes: number;

  private constructor(dir: string, fd: number, truncated: number) {
    this.#dir = dir;
    this.#fd = fd;
    this.truncatedBytes = truncated;
  }

  get #path(): string {
    return join(this.#dir, 'offsets.log');
  }

  static open(dir: string): OffsetStore {
    mkdirSync(dir, { recursive: true });
    const path = join(dir, 'offsets.log');
    const data = existsSync(path) ? readFileSync(path) : Buffer.alloc(0);
    const replay: CommittedOffset[] = [];
    let pos = 0;
    while (pos + 8 <= data.length) {
      const length = data.readUInt32BE(pos);
      if (length > MAX_ENTRY || pos + 8 + length > data.length) break;
      const payload = data.subarray(pos + 8, pos + 8 + length);
      if (crc32c(payload) !== data.readUInt32BE(pos + 4)) break;
      try {
        replay.push(JSON.parse(payload.toString('utf8')) as CommittedOffset);
      } catch {
        break;
      }
      pos += 8 + length;
    }
    const fd = openSync(path, existsSync(path) ? 'r+' : 'w+');
    const truncated = data.length - pos;
    if (truncated > 0) ftruncateSync(fd, pos);
    const store = new OffsetStore(dir, fd, truncated);
    store.#size = pos;
    store.#entries = replay.length;
    for (const c of replay) store.#apply(c);
    return store;
  }

  #apply(c: CommittedOffset): void {
    if (c.offset < 0) this.#offsets.delete(key(c.group, c.topic, c.partition));
    else this.#offsets.set(key(c.group, c.topic, c.partition), c);
  }

  get(group: string, topic: string, partition: number): CommittedOffset | undefined {
    return this.#offsets.get(key(group, topic, partition));
  }

  /** Every committed offset of a group. */
  forGroup(group: string): CommittedOffset[] {
    return [...this.#offsets.values()].filter((c) => c.group === group);
  }

  groups(): string[] {
    return [...new Set([...this.#offsets.values()].map((c) => c.group))];
  }

  /** Records the offsets; resolves once they are on disk. */
  async commit(offsets: readonly Omit<CommittedOffset, 'commitTimestamp'>[], now = Date.now()): Promise<void> {
    const frames = offsets.map((o) => frame({ ...o, commitTimestamp: now }));
    const all = Buffer.concat(frames);
    writeSync(this.#fd, all, 0, all.length, this.#size);
    this.#size += all.length;
    this.#entries += offsets.length;
    for (const o of offsets) this.#apply({ ...o, commitTimestamp: now });
    const seq = ++this.#writeSeq;
    while (this.#syncedSeq < seq) {
      if (!this.#syncing) {
        const target = this.#writeSeq;
        this.#syncing = new Promise<void>((resolve, reject) => fdatasync(this.#fd, (err) => (err ? reject(err) : resolve()))).then(() => {
          this.#syncedSeq = Math.max(this.#syncedSeq, target);
          this.#syncing = undefined;
        });
      }
      await this.#syncing;
    }
    // Never under a sync in flight: compaction swaps the file descriptor.
    if (!this.#syncing && this.#entries > 1000 && this.#entries > 4 * this.#offsets.size) this.#compact();
  }

  #compact(): void {
    const frames = [...this.#offsets.values()].map((c) => frame(c));
    writeFileAtomic(this.#path, frames);
    closeSync(this.#fd);
    this.#fd = openSync(this.#path, 'r+');
    this.#size = frames.reduce((n, f) => n + f.length, 0);
    this.#entries = this.#offsets.size;
  }

  close(): void {
    closeSync(this.#fd);
  }
}
