// A log segment: one file of record batches and two sparse indexes over it.
//
// On-disk contract (one partition directory holds many segments):
//   <baseOffset, 20 digits>.log        RecordBatch v2 batches back to back, offsets ascending and
//                                      contiguous from baseOffset; nothing else.
//   <baseOffset, 20 digits>.index      entries of 8 bytes: relativeOffset u32 BE, position u32 BE.
//                                      One entry per indexIntervalBytes of log, pointing at the
//                                      first byte of a batch whose base offset is
//                                      baseOffset + relativeOffset. Ascending in both fields.
//   <baseOffset, 20 digits>.timeindex  entries of 12 bytes: timestamp i64 BE, relativeOffset u32
//                                      BE: every batch from that offset on has maxTimestamp at
//                                      least that timestamp's predecessors'. Ascending.
//   <baseOffset, 20 digits>.keys       the encryption key ids the segment's batches were sealed
//                                      with, one per line, sorted, and "(plaintext)" when some
//                                      batch is stored in the clear. Written whole with the
//                                      indexes; it is what says which keys the data still needs
//                                      (`bulwark keys status`) without reading every batch.
// Invariants, checked on every append: batches are framed (length, magic), offsets continue
// without gaps, positions fit in 31 bits (a segment stays under 2 GiB).
//
// Crash recovery: the .log is the only truth. Index files are written lazily (in chunks, and
// whole at roll and close), so after a crash they may lag or be missing. Opening one of the last
// two segments scans it from the start, checks each batch's framing and CRC, truncates a torn or
// corrupt tail and rebuilds both indexes; an older segment is checked structurally (index sane,
// last batch framed and ending exactly at end of file) and its index rebuilt if wrong. The key
// list is rebuilt with the indexes (a segment written before key lists existed gets one then).
//
// Concurrency: one partition owns its segments; appends and reads are issued from the event
// loop, writes are synchronous (page cache), fdatasync and reads go to the libuv pool.
import { closeSync, fdatasync, fdatasyncSync, fstatSync, ftruncateSync, openSync, read, readSync, unlinkSync, writeSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BulwarkError, isBulwarkError } from '../lib/index.ts';
import { ATTR_ENCRYPTED, BATCH_HEADER_SIZE, checkBatchFraming, crcMatches, decodeRecords, isTruncation, LOG_OVERHEAD, OFF, PLAINTEXT_KEY, readInt64, storedKeyId } from './record-batch.ts';

export const INDEX_ENTRY = 8;
export const TIME_INDEX_ENTRY = 12;
/** Positions are stored as u32 and must fit a signed 32-bit read too. */
export const MAX_SEGMENT_BYTES = 0x7fff_ffff;

const KEY_ID_LINE = /^[-._a-zA-Z0-9]{1,64}$/;

export function segmentFileName(baseOffset: number, ext: 'log' | 'index' | 'timeindex' | 'keys'): string {
  return `${String(baseOffset).padStart(20, '0')}.${ext}`;
}

export interface SegmentOptions {
  indexIntervalBytes: number;
  maxBatchBytes: number;
}

export interface RecoveryNote {
  file: string;
  /** What was found and done, for the recovery report. */
  action: 'truncated' | 'index-rebuilt' | 'scanned';
  detail: string;
  truncatedBytes?: number;
}

/** Growable parallel arrays: cheap to append, binary-searchable. */
class SparseIndex {
  keys: Float64Array;
  values: Float64Array;
  length = 0;
  /** Entries already in the index file. */
  persisted = 0;
  constructor() {
    this.keys = new Float64Array(64);
    this.values = new Float64Array(64);
  }
  push(key: number, value: number): void {
    if (this.length === this.keys.length) {
      const k = new Float64Array(this.keys.length * 2);
      const v = new Float64Array(this.keys.length * 2);
      k.set(this.keys);
      v.set(this.values);
      this.keys = k;
      this.values = v;
    }
    this.keys[this.length] = key;
    this.values[this.length] = value;
    this.length++;
  }
  /** Index of the last entry whose key is <= key, or -1. */
  floor(key: number): number {
    let lo = 0;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.keys[mid]! <= key) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }
  /** Index of the first entry whose key is >= key, or length. */
  ceil(key: number): number {
    let lo = 0;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.keys[mid]! < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
  clear(): void {
    this.length = 0;
    this.persisted = 0;
  }
}

/** What a scan of the log learned, batch by batch. */
interface ScanState {
  nextOffset: number;
  maxTimestamp: number;
  bytesSinceIndex: number;
}

export class Segment {
  readonly baseOffset: number;
  readonly dir: string;
  readonly #opts: SegmentOptions;
  #fd: number;
  #size = 0;
  /** relativeOffset -> position */
  readonly #index = new SparseIndex();
  /** maxTimestamp -> relativeOffset */
  readonly #timeIndex = new SparseIndex();
  #scan: ScanState;
  /** Key ids of the batches here (PLAINTEXT_KEY for batches in the clear), and whether the .keys file lags them. */
  readonly #keyIds = new Set<string>();
  #keysDirty = false;
  /** When this segment started taking writes, for time-based rolling. */
  readonly createdAt: number;
  #closed = false;
  /** Reads and syncs running on the libuv pool: the descriptor is closed only once none is. */
  #inFlight = 0;
  #retired = false;
  #closeWhenIdle = false;

  private constructor(dir: string, baseOffset: number, opts: SegmentOptions, fd: number, createdAt: number) {
    this.dir = dir;
    this.baseOffset = baseOffset;
    this.#opts = opts;
    this.#fd = fd;
    this.createdAt = createdAt;
    this.#scan = { nextOffset: baseOffset, maxTimestamp: -1, bytesSinceIndex: 0 };
  }

  get logPath(): string {
    return join(this.dir, segmentFileName(this.baseOffset, 'log'));
  }
  get size(): number {
    return this.#size;
  }
  /** The offset after the last batch in this segment. */
  get nextOffset(): number {
    return this.#scan.nextOffset;
  }
  get maxTimestamp(): number {
    return this.#scan.maxTimestamp;
  }
  get isEmpty(): boolean {
    return this.#size === 0;
  }
  /** The encryption key ids this segment's batches need, and PLAINTEXT_KEY if some are in the clear. */
  get keyIds(): ReadonlySet<string> {
    return this.#keyIds;
  }

  static create(dir: string, baseOffset: number, opts: SegmentOptions, now: number): Segment {
    const fd = openSync(join(dir, segmentFileName(baseOffset, 'log')), 'wx+');
    for (const ext of ['index', 'timeindex', 'keys'] as const) writeFileSync(join(dir, segmentFileName(baseOffset, ext)), '');
    return new Segment(dir, baseOffset, opts, fd, now);
  }

  /**
   * Opens an existing segment. With `scan` (the last two of a partition) it is scanned in full
   * (CRC included) and a bad tail is truncated; others are checked structurally and throw
   * BWK_ERR_LOG_CORRUPT if wrong.
   */
  static open(dir: string, baseOffset: number, opts: SegmentOptions, scan: boolean, notes: RecoveryNote[]): Segment {
    const path = join(dir, segmentFileName(baseOffset, 'log'));
    const fd = openSync(path, 'r+');
    const st = fstatSync(fd);
    const segment = new Segment(dir, baseOffset, opts, fd, Math.min(st.mtimeMs, Date.now()));
    segment.#size = st.size;
    try {
      if (scan) segment.#recoverByScan(notes);
      else if (!segment.#loadIndexes()) {
        const { end, problem } = segment.#rebuildFromScan(false);
        // An older segment was complete and synced when it rolled: anything wrong is corruption.
        if (problem !== undefined || end !== segment.#size) throw segment.#corrupt(end, problem ?? 'data after the last batch');
        notes.push({ file: segment.#indexPath('index'), action: 'index-rebuilt', detail: 'index or key list missing, stale or inconsistent with the log; rebuilt by scanning it' });
        segment.seal();
      }
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    return segment;
  }

  #indexPath(ext: 'index' | 'timeindex' | 'keys'): string {
    return join(this.dir, segmentFileName(this.baseOffset, ext));
  }

  #corrupt(position: number, detail: string): BulwarkError {
    return new BulwarkError('BWK_ERR_LOG_CORRUPT', { file: this.logPath, position, detail });
  }

  /** Records one batch in the in-memory indexes. */
  #track(position: number, baseOffset: number, lastOffset: number, maxTimestamp: number, size: number): void {
    const s = this.#scan;
    const rel = baseOffset - this.baseOffset;
    const indexed = this.#index.length === 0 || s.bytesSinceIndex >= this.#opts.indexIntervalBytes;
    if (indexed) {
      this.#index.push(rel, position);
      s.bytesSinceIndex = 0;
    }
    if (maxTimestamp > s.maxTimestamp) s.maxTimestamp = maxTimestamp;
    const t = this.#timeIndex;
    if (indexed && (t.length === 0 || s.maxTimestamp > t.keys[t.length - 1]!)) t.push(s.maxTimestamp, rel);
    s.bytesSinceIndex += size;
    s.nextOffset = lastOffset + 1;
  }

  /**
   * Walks every batch from the start. With `verifyCrc`, stops at the first batch that is not
   * whole and valid; returns the position where valid data ends and why it stopped.
   */
  #rebuildFromScan(verifyCrc: boolean): { end: number; problem: string | undefined } {
    this.#index.clear();
    this.#timeIndex.clear();
    this.#keyIds.clear();
    this.#keysDirty = true;
    this.#scan = { nextOffset: this.baseOffset, maxTimestamp: -1, bytesSinceIndex: 0 };
    const chunk = Buffer.allocUnsafe(Math.max(1 << 20, this.#opts.maxBatchBytes));
    let pos = 0;
    let problem: string | undefined;
    while (pos < this.#size) {
      const want = Math.min(chunk.length, this.#size - pos);
      const got = readSync(this.#fd, chunk, 0, want, pos);
      const buf = chunk.subarray(0, got);
      let p = 0;
      while (p < buf.length) {
        const framing = checkBatchFraming(buf, p, this.#opts.maxBatchBytes);
        if (framing !== undefined) {
          // A batch cut by the chunk's end continues in the next chunk (a valid batch always
          // fits in one: the chunk is at least maxBatchBytes). At the end of the file it is torn.
          if (isTruncation(framing) && p > 0 && pos + got < this.#size) break;
          problem = framing.detail;
          break;
        }
        const size = buf.readInt32BE(p + OFF.batchLength) + LOG_OVERHEAD;
        const batch = buf.subarray(p, p + size);
        const base = readInt64(batch, OFF.baseOffset);
        if (base !== this.#scan.nextOffset) {
          problem = `batch base offset ${base}, expected ${this.#scan.nextOffset}`;
          break;
        }
        if (verifyCrc && !crcMatches(batch)) {
          problem = 'CRC-32C mismatch';
          break;
        }
        this.#track(pos + p, base, base + batch.readInt32BE(OFF.lastOffsetDelta), readInt64(batch, OFF.maxTimestamp), size);
        this.#keyIds.add(storedKeyId(batch, 0) ?? PLAINTEXT_KEY);
        p += size;
      }
      if (problem !== undefined) return { end: pos + p, problem };
      if (p === 0) return { end: pos, problem: 'truncated batch' };
      pos += p;
    }
    return { end: pos, problem: undefined };
  }

  #recoverByScan(notes: RecoveryNote[]): void {
    const { end, problem } = this.#rebuildFromScan(true);
    if (problem !== undefined) {
      const cut = this.#size - end;
      ftruncateSync(this.#fd, end);
      this.#size = end;
      notes.push({ file: this.logPath, action: 'truncated', detail: `${problem} at byte ${end}; cut ${cut} bytes after offset ${this.#scan.nextOffset - 1}; indexes rebuilt`, truncatedBytes: cut });
    } else {
      notes.push({ file: this.logPath, action: 'scanned', detail: `${this.#index.length} index entries rebuilt, next offset ${this.#scan.nextOffset}` });
    }
    this.#writeIndexes(true);
  }

  /** Loads both index files and checks them against the log; false if they cannot be trusted. */
  #loadIndexes(): boolean {
    const indexPath = this.#indexPath('index');
    const timePath = this.#indexPath('timeindex');
    const keysPath = this.#indexPath('keys');
    if (!existsSync(indexPath) || !existsSync(timePath) || !existsSync(keysPath)) return false;
    const keyLines = readFileSync(keysPath, 'utf8').split('\n').filter((l) => l !== '');
    if (!keyLines.every((l) => l === PLAINTEXT_KEY || KEY_ID_LINE.test(l)) || (this.#size > 0 && keyLines.length === 0)) return false;
    this.#keyIds.clear();
    for (const l of keyLines) this.#keyIds.add(l);
    const idx = readFileSync(indexPath);
    const tix = readFileSync(timePath);
    if (idx.length % INDEX_ENTRY !== 0 || tix.length % TIME_INDEX_ENTRY !== 0) return false;
    if (this.#size > 0 && idx.length === 0) return false;
    this.#index.clear();
    this.#timeIndex.clear();
    let lastRel = -1;
    let lastPos = -1;
    for (let i = 0; i < idx.length; i += INDEX_ENTRY) {
      const rel = idx.readUInt32BE(i);
      const pos = idx.readUInt32BE(i + 4);
      if (rel <= lastRel || pos <= lastPos || pos >= this.#size) return false;
      this.#index.push(rel, pos);
      lastRel = rel;
      lastPos = pos;
    }
    let lastTs = -Infinity;
    for (let i = 0; i < tix.length; i += TIME_INDEX_ENTRY) {
      const ts = readInt64(tix, i);
      const rel = tix.readUInt32BE(i + 8);
      if (ts < lastTs) return false;
      this.#timeIndex.push(ts, rel);
      lastTs = ts;
    }
    this.#index.persisted = this.#index.length;
    this.#timeIndex.persisted = this.#timeIndex.length;
    // Walk the batch headers from the last index entry: they must chain to the end of the file.
    if (this.#size === 0) return true;
    let pos = lastPos;
    const header = Buffer.allocUnsafe(BATCH_HEADER_SIZE);
    let next = -1;
    let maxTs = this.#timeIndex.length > 0 ? this.#timeIndex.keys[this.#timeIndex.length - 1]! : -1;
    while (pos < this.#size) {
      const got = readSync(this.#fd, header, 0, BATCH_HEADER_SIZE, pos);
      const framing = checkBatchFraming(header.subarray(0, got), 0, this.#opts.maxBatchBytes);
      const size = got >= LOG_OVERHEAD ? header.readInt32BE(OFF.batchLength) + LOG_OVERHEAD : 0;
      if ((framing !== undefined && framing.kind !== 'truncated-batch') || got < BATCH_HEADER_SIZE || pos + size > this.#size) {
        throw this.#corrupt(pos, `segment is not whole: ${framing?.detail ?? 'batch runs past the end of the file'}`);
      }
      const base = readInt64(header, OFF.baseOffset);
      if (pos === lastPos && base !== this.baseOffset + lastRel) throw this.#corrupt(pos, `index says offset ${this.baseOffset + lastRel} starts here, the batch says ${base}`);
      next = base + header.readInt32BE(OFF.lastOffsetDelta) + 1;
      maxTs = Math.max(maxTs, readInt64(header, OFF.maxTimestamp));
      pos += size;
    }
    this.#scan = { nextOffset: next, maxTimestamp: maxTs, bytesSinceIndex: 0 };
    return true;
  }

  /** Writes index entries not yet in the files; `all` rewrites them whole. */
  #writeIndexes(all: boolean): void {
    for (const [ext, index, width] of [
      ['index', this.#index, INDEX_ENTRY],
      ['timeindex', this.#timeIndex, TIME_INDEX_ENTRY],
    ] as const) {
      const from = all ? 0 : index.persisted;
      if (from === index.length && !all) continue;
      const buf = Buffer.allocUnsafe((index.length - from) * width);
      for (let i = from, o = 0; i < index.length; i++, o += width) {
        if (ext === 'index') {
          buf.writeUInt32BE(index.keys[i]!, o);
          buf.writeUInt32BE(index.values[i]!, o + 4);
        } else {
          const ts = index.keys[i]!;
          const hi = Math.floor(ts / 0x1_0000_0000);
          buf.writeInt32BE(hi, o);
          buf.writeUInt32BE(ts - hi * 0x1_0000_0000, o + 4);
          buf.writeUInt32BE(index.values[i]!, o + 8);
        }
      }
      const path = this.#indexPath(ext);
      if (all) writeFileSync(path, buf);
      else {
        const fd = openSync(path, 'a');
        try {
          writeSync(fd, buf);
        } finally {
          closeSync(fd);
        }
      }
      index.persisted = index.length;
    }
    if (all || this.#keysDirty) {
      writeFileSync(this.#indexPath('keys'), [...this.#keyIds].sort().map((k) => `${k}\n`).join(''));
      this.#keysDirty = false;
    }
  }

  /**
   * Appends batches that the partition already validated and numbered. `batches` holds them back
   * to back; `starts` gives each one's position within it.
   */
  append(batches: Buffer, starts: readonly number[]): void {
    if (this.#closed) throw new BulwarkError('BWK_ERR_LOG_CLOSED', { partition: this.dir });
    if (this.#size + batches.length > MAX_SEGMENT_BYTES) throw new BulwarkError('BWK_ERR_LOG_SEGMENT_FULL', { file: this.logPath });
    const base = this.#size;
    let written = 0;
    while (written < batches.length) written += writeSync(this.#fd, batches, written, batches.length - written, base + written);
    this.#size += batches.length;
    for (let i = 0; i < starts.length; i++) {
      const p = starts[i]!;
      const size = batches.readInt32BE(p + OFF.batchLength) + LOG_OVERHEAD;
      const baseOffset = readInt64(batches, p + OFF.baseOffset);
      this.#track(base + p, baseOffset, baseOffset + batches.readInt32BE(p + OFF.lastOffsetDelta), readInt64(batches, p + OFF.maxTimestamp), size);
      const keyId = storedKeyId(batches, p) ?? PLAINTEXT_KEY;
      if (!this.#keyIds.has(keyId)) {
        this.#keyIds.add(keyId);
        this.#keysDirty = true;
      }
    }
    // Index files trail the log; flushing them every 256 entries keeps that to one small write
    // per ~1 MiB of log at the default interval.
    if (this.#index.length - this.#index.persisted >= 256) this.#writeIndexes(false);
  }

  /** Position of the batch holding `offset`, found from the index and a header walk. */
  locate(offset: number): number | undefined {
    if (offset < this.baseOffset || offset >= this.#scan.nextOffset) return undefined;
    const i = this.#index.floor(offset - this.baseOffset);
    let pos = i < 0 ? 0 : this.#index.values[i]!;
    const header = Buffer.allocUnsafe(BATCH_HEADER_SIZE);
    while (pos < this.#size) {
      const got = readSync(this.#fd, header, 0, BATCH_HEADER_SIZE, pos);
      const framing = checkBatchFraming(header.subarray(0, got), 0, this.#opts.maxBatchBytes);
      if ((framing !== undefined && framing.kind !== 'truncated-batch') || got < BATCH_HEADER_SIZE) throw this.#corrupt(pos, framing?.detail ?? 'truncated header');
      const base = readInt64(header, OFF.baseOffset);
      if (base > offset) throw this.#corrupt(pos, `index points past offset ${offset} (batch starts at ${base})`);
      const last = base + header.readInt32BE(OFF.lastOffsetDelta);
      if (last >= offset) return pos;
      pos += header.readInt32BE(OFF.batchLength) + LOG_OVERHEAD;
    }
    return undefined;
  }

  /** The first offset whose batch's max timestamp is >= timestamp, if any batch here has one. */
  offsetForTimestamp(timestamp: number): number | undefined {
    if (this.#scan.maxTimestamp < timestamp) return undefined;
    const t = this.#timeIndex;
    const i = t.ceil(timestamp);
    // Start from the entry before: batches between entries may already reach the timestamp.
    const startRel = i > 0 ? t.values[i - 1]! : 0;
    const idx = this.#index.floor(startRel);
    let pos = idx < 0 ? 0 : this.#index.values[idx]!;
    const header = Buffer.allocUnsafe(BATCH_HEADER_SIZE);
    while (pos < this.#size) {
      readSync(this.#fd, header, 0, BATCH_HEADER_SIZE, pos);
      const size = header.readInt32BE(OFF.batchLength) + LOG_OVERHEAD;
      if (readInt64(header, OFF.maxTimestamp) >= timestamp) return this.#firstRecordAtOrAfter(pos, size, timestamp) ?? readInt64(header, OFF.baseOffset);
      pos += size;
    }
    return undefined;
  }

  /**
   * Within a batch known to reach `timestamp`, the first record that does, as Kafka answers
   * ListOffsets. Sealed batches cannot be read here: their base offset stands for them.
   */
  #firstRecordAtOrAfter(pos: number, size: number, timestamp: number): number | undefined {
    const batch = Buffer.allocUnsafe(size);
    readSync(this.#fd, batch, 0, size, pos);
    if (batch.readInt16BE(OFF.attributes) & ATTR_ENCRYPTED) return undefined;
    try {
      return decodeRecords(batch).find((r) => r.timestamp >= timestamp)?.offset;
    } catch (err) {
      if (isBulwarkError(err, 'BWK_ERR_LOG_RECORDS_UNDECODABLE')) return undefined; // a codec we do not decode (snappy, lz4, zstd): the batch's base offset
      throw err;
    }
  }

  /** Reads up to `length` bytes at `position` (fewer at the end of the segment), into `into` if it is big enough. */
  read(position: number, length: number, into?: Buffer): Promise<Buffer> {
    const n = Math.max(0, Math.min(length, this.#size - position));
    const buf = into !== undefined && into.length >= n ? into : Buffer.allocUnsafe(n);
    if (n === 0) return Promise.resolve(buf);
    this.#inFlight++;
    return new Promise<Buffer>((resolve, reject) => {
      read(this.#fd, buf, 0, n, position, (err, got) => (err ? reject(err) : resolve(buf.subarray(0, got))));
    }).finally(() => this.#settled());
  }

  sync(): Promise<void> {
    if (this.#closed) return Promise.resolve(); // the partition flushes before it closes segments
    this.#inFlight++;
    return new Promise<void>((resolve, reject) => fdatasync(this.#fd, (err) => (err ? reject(err) : resolve()))).finally(() => this.#settled());
  }

  #settled(): void {
    if (--this.#inFlight > 0) return;
    if (this.#retired) this.#unlink();
    else if (this.#closeWhenIdle) {
      this.#closeWhenIdle = false;
      closeSync(this.#fd);
    }
  }

  /** fdatasync, blocking: at a roll that finds the previous rolled segment's sync still running (see Partition). */
  syncNow(): void {
    if (!this.#closed) fdatasyncSync(this.#fd);
  }

  /** Makes the segment whole on disk: indexes written in full, data synced. Used at roll and close. */
  seal(): void {
    this.#writeIndexes(true);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#writeIndexes(false);
    if (this.#inFlight > 0) this.#closeWhenIdle = true;
    else closeSync(this.#fd);
  }

  /**
   * Removes the segment's files. Reads already in flight finish first (retention can delete a
   * segment a consumer is reading); the partition has already stopped handing it out.
   */
  delete(): void {
    this.#retired = true;
    if (this.#inFlight === 0) this.#unlink();
  }

  #unlink(): void {
    if (!this.#closed || this.#closeWhenIdle) {
      this.#closed = true;
      this.#closeWhenIdle = false;
      closeSync(this.#fd);
    }
    for (const ext of ['log', 'index', 'timeindex', 'keys'] as const) {
      try {
        unlinkSync(join(this.dir, segmentFileName(this.baseOffset, ext)));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
  }
}
