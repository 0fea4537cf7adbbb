// A partition: an ordered run of segments in one directory, `<topic>-<partition>/`.
//
// On-disk contract: the directory holds segments (segment.ts) and nothing else of ours. Segment
// base offsets ascend, and each segment's next offset is the next segment's base offset: no gap.
// The log start offset is the first segment's base offset; the log end offset (next offset) is
// the last segment's next offset.
//
// What "acknowledged" guarantees (append's promise resolving), per flush policy:
//   { mode: 'batch' }          the batch's bytes reached the disk (fdatasync) before the ack. A
//                              power loss or kernel crash loses nothing acknowledged. Concurrent
//                              appends share syncs (group commit): one fdatasync covers every
//                              batch written before it started.
//   { mode: 'messages', n }    the batch was written to the OS (page cache) before the ack, and an
//                              fdatasync runs once n messages are unsynced. A crash of the broker
//                              process (even SIGKILL) loses nothing acknowledged; a power loss or
//                              kernel crash can lose up to n-1 acknowledged messages.
//   { mode: 'interval', ms }   as above, with an fdatasync every ms milliseconds: a power loss can
//                              lose up to ms milliseconds of acknowledged messages.
// A rolled segment is fdatasynced in the background while the next one takes writes; a roll that
// finds the previous rolled segment's sync still running waits for it. So only the last two
// segments can ever have a torn tail. (Syncing at roll on the event loop, with a background sync
// every 32 MiB to keep it short, cost 30% of ingest throughput: a write during an fdatasync
// waits on the file system's journal; bench/broker-ingest.ts, 16 KiB batches.)
//
// Recovery: opening scans the last two segments (CRC of every batch), truncates a torn tail and
// rebuilds their indexes; a torn tail in the one before the active one takes the active one with
// it (its offsets would follow a gap). Older segments are checked structurally. Corruption
// anywhere else fences the partition: it then refuses every read and write with
// BWK_ERR_LOG_PARTITION_FENCED instead of skipping data.
//
// Concurrency: all calls come from the event loop. Appends are synchronous up to the write, so
// they are numbered and written in call order; only syncs and reads are asynchronous.
import { mkdirSync, readdirSync, unlinkSync } from 'node:fs';
import { BulwarkError, isBulwarkError } from '../lib/index.ts';
import { ATTR_ENCRYPTED, checkBatchFraming, crcMatches, isTruncation, LOG_OVERHEAD, OFF, readInt64, writeInt64, type BatchProblem } from './record-batch.ts';
import { MAX_SEGMENT_BYTES, Segment, type RecoveryNote } from './segment.ts';

const EMPTY = Buffer.alloc(0);

export type FlushPolicy = { mode: 'batch' } | { mode: 'messages'; messages: number } | { mode: 'interval'; ms: number };

export interface PartitionConfig {
  /** Roll to a new segment past this size. Default 1 GiB. */
  segmentBytes: number;
  /** Roll to a new segment after this long. Default 7 days. */
  segmentMs: number;
  /** Bytes of log between two offset-index entries. Default 4096. */
  indexIntervalBytes: number;
  /** Largest batch accepted (and read back). Default 8 MiB. */
  maxBatchBytes: number;
  flush: FlushPolicy;
  /** Delete whole segments whose newest record is older than this. null keeps forever. */
  retentionMs: number | null;
  /** Delete the oldest segments while the partition is larger than this. null: no limit. */
  retentionBytes: number | null;
}

export const DEFAULT_PARTITION_CONFIG: PartitionConfig = {
  segmentBytes: 1 << 30,
  segmentMs: 7 * 24 * 3600_000,
  indexIntervalBytes: 4096,
  maxBatchBytes: 8 << 20,
  flush: { mode: 'batch' },
  retentionMs: 7 * 24 * 3600_000,
  retentionBytes: null,
};

export function validatePartitionConfig(c: PartitionConfig): void {
  const bad = (detail: string) => new BulwarkError('BWK_ERR_LOG_CONFIG_INVALID', { detail });
  if (!Number.isInteger(c.segmentBytes) || c.segmentBytes < 1024 || c.segmentBytes > MAX_SEGMENT_BYTES) throw bad(`segmentBytes must be an integer in [1024, ${MAX_SEGMENT_BYTES}]`);
  if (!(c.segmentMs > 0)) throw bad('segmentMs must be positive');
  if (!Number.isInteger(c.indexIntervalBytes) || c.indexIntervalBytes < 1) throw bad('indexIntervalBytes must be a positive integer');
  if (!Number.isInteger(c.maxBatchBytes) || c.maxBatchBytes < 128 || c.maxBatchBytes > MAX_SEGMENT_BYTES) throw bad(`maxBatchBytes must be an integer in [128, ${MAX_SEGMENT_BYTES}]`);
  if (c.flush.mode === 'messages' && !(Number.isInteger(c.flush.messages) && c.flush.messages >= 1)) throw bad('flush.messages must be a positive integer');
  if (c.flush.mode === 'interval' && !(c.flush.ms >= 1)) throw bad('flush.ms must be at least 1');
  if (c.retentionMs !== null && !(c.retentionMs > 0)) throw bad('retentionMs must be positive or null');
  if (c.retentionBytes !== null && !(c.retentionBytes > 0)) throw bad('retentionBytes must be positive or null');
}

/** Seals and opens batches for encryption at rest (encryption.ts); absent for plaintext topics. */
export interface BatchCipher {
  seal(batch: Buffer, topic: string, partition: number): Buffer;
  open(batch: Buffer, topic: string, partition: number): Buffer;
}

export interface AppendResult {
  baseOffset: number;
  lastOffset: number;
  /** Log end offset after the append. */
  nextOffset: number;
}

export interface FetchResult {
  /** Whole batches, back to back, as read (decrypted if sealed). Empty at the end of the log. */
  records: Buffer;
  /** Offset after the last batch returned (the offset to fetch next). */
  nextFetchOffset: number;
  highWatermark: number;
  logStartOffset: number;
}

export interface RecoveryReport {
  partition: string;
  notes: RecoveryNote[];
  /** Set when the partition opened fenced. */
  fenced?: BulwarkError;
}

export interface PartitionOptions {
  config?: Partial<PartitionConfig>;
  now?: () => number;
  cipher?: BatchCipher;
}

// Module-level, not a closure per batch: under tsx every closure creation also names itself
// (esbuild keepNames), which cost ~2.8 us per batch in bench/log.ts.
function invalidBatch(position: number, detail: string): BulwarkError {
  return new BulwarkError('BWK_ERR_LOG_BATCH_INVALID', { position, detail });
}

/** A batch whose framing fails: too large is its own error (Kafka's MESSAGE_TOO_LARGE), the rest are malformed. */
function framingError(position: number, problem: BatchProblem): BulwarkError {
  return problem.kind === 'too-large' ? new BulwarkError('BWK_ERR_LOG_BATCH_TOO_LARGE', { position, detail: problem.detail }) : invalidBatch(position, problem.detail);
}

export class Partition {
  readonly topic: string;
  readonly partition: number;
  readonly dir: string;
  readonly config: PartitionConfig;
  readonly #now: () => number;
  readonly #cipher: BatchCipher | undefined;
  #segments: Segment[] = [];
  #fenced: BulwarkError | undefined;
  #closed = false;
  // Group commit bookkeeping: appends are numbered; a sync covers every append numbered before it started.
  #appendSeq = 0;
  #syncedSeq = 0;
  #syncing: Promise<void> | undefined;
  #unsyncedMessages = 0;
  /** The last rolled segment while its background fdatasync runs (see #maybeRoll). */
  #rolledSyncing: Segment | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Where the last fetch ended, so the next one from there needs no lookup. */
  #hint: { segment: Segment | undefined; offset: number; position: number } = { segment: undefined, offset: -1, position: 0 };

  private constructor(dir: string, topic: string, partition: number, config: PartitionConfig, opts: PartitionOptions) {
    this.dir = dir;
    this.topic = topic;
    this.partition = partition;
    this.config = config;
    this.#now = opts.now ?? Date.now;
    this.#cipher = opts.cipher;
  }

  get name(): string {
    return `${this.topic}-${this.partition}`;
  }
  get logStartOffset(): number {
    return this.#segments[0]!.baseOffset;
  }
  /** The log end offset: the offset the next appended record gets. */
  get nextOffset(): number {
    return this.#active.nextOffset;
  }
  get sizeBytes(): number {
    return this.#segments.reduce((n, s) => n + s.size, 0);
  }
  get segmentCount(): number {
    return this.#segments.length;
  }
  get fenced(): BulwarkError | undefined {
    return this.#fenced;
  }
  get #active(): Segment {
    return this.#segments[this.#segments.length - 1]!;
  }

  /** Opens (or creates) the partition in `dir`, recovering it; the report says what was repaired. */
  static open(dir: string, topic: string, partition: number, opts: PartitionOptions = {}): { partition: Partition; report: RecoveryReport } {
    const config = { ...DEFAULT_PARTITION_CONFIG, ...opts.config };
    validatePartitionConfig(config);
    mkdirSync(dir, { recursive: true });
    const p = new Partition(dir, topic, partition, config, opts);
    const report: RecoveryReport = { partition: p.name, notes: [] };
    const segOpts = { indexIntervalBytes: config.indexIntervalBytes, maxBatchBytes: config.maxBatchBytes };
    const files = readdirSync(dir);
    const bases = files
      .filter((f) => /^\d{20}\.log$/.test(f))
      .map((f) => Number(f.slice(0, 20)))
      .sort((a, b) => a - b);
    // Index files whose log is gone (a crash during retention) are leftovers.
    for (const f of files) {
      const m = /^(\d{20})\.(index|timeindex|keys)$/.exec(f);
      if (m && !bases.includes(Number(m[1]))) unlinkSync(`${dir}/${f}`);
    }
    try {
      // The last two are scanned in full: the one before the active one may have rolled while its sync ran.
      bases.forEach((base, i) => p.#segments.push(Segment.open(dir, base, segOpts, i >= bases.length - 2, report.notes)));
      for (let i = 1; i < p.#segments.length; i++) {
        const prev = p.#segments[i - 1]!;
        const next = p.#segments[i]!;
        if (prev.nextOffset === next.baseOffset) continue;
        if (i === p.#segments.length - 1 && report.notes.some((n) => n.action === 'truncated' && n.file === prev.logPath)) {
          // Its predecessor lost a torn tail, so nothing here can be kept: offsets would skip.
          report.notes.push({ file: next.logPath, action: 'truncated', detail: `deleted: its offsets from ${next.baseOffset} follow the torn tail cut from ${prev.logPath}`, truncatedBytes: next.size });
          p.#segments.pop();
          next.delete();
          break;
        }
        throw new BulwarkError('BWK_ERR_LOG_CORRUPT', { file: next.logPath, position: 0, detail: `offsets ${prev.nextOffset}..${next.baseOffset - 1} are missing between segments` });
      }
    } catch (err) {
      if (!isBulwarkError(err, 'BWK_ERR_LOG_CORRUPT')) throw err;
      p.#fence(err);
      report.fenced = p.#fenced;
      return { partition: p, report };
    }
    if (p.#segments.length === 0) p.#segments.push(Segment.create(dir, 0, segOpts, p.#now()));
    if (config.flush.mode === 'interval') {
      p.#timer = setInterval(() => void p.flush().catch(() => {}), config.flush.ms);
      p.#timer.unref();
    }
    return { partition: p, report };
  }

  #fence(cause: BulwarkError): void {
    this.#fenced ??= new BulwarkError('BWK_ERR_LOG_PARTITION_FENCED', { partition: this.name, detail: cause.message }, { cause });
  }

  #check(): void {
    if (this.#closed) throw new BulwarkError('BWK_ERR_LOG_CLOSED', { partition: this.name });
    if (this.#fenced) throw this.#fenced;
  }

  /**
   * Appends one or more RecordBatch v2 batches (as a Produce request carries them). Every batch is
   * validated before anything is written, then numbered from the log end offset (the bytes in
   * `records` are updated in place), written, and acknowledged per the flush policy.
   */
  append(records: Buffer, leaderEpoch = 0): Promise<AppendResult> {
    this.#check();
    const starts: number[] = [];
    let messages = 0;
    for (let p = 0; p < records.length; ) {
      const framing = checkBatchFraming(records, p, this.config.maxBatchBytes);
      if (framing !== undefined) throw framingError(p, framing);
      const size = records.readInt32BE(p + OFF.batchLength) + LOG_OVERHEAD;
      const batch = records.subarray(p, p + size);
      if (!crcMatches(batch)) throw invalidBatch(p, 'CRC-32C mismatch');
      const count = batch.readInt32BE(OFF.recordsCount);
      if (count < 1 || batch.readInt32BE(OFF.lastOffsetDelta) !== count - 1) throw invalidBatch(p, `recordsCount ${count} and lastOffsetDelta ${batch.readInt32BE(OFF.lastOffsetDelta)} disagree`);
      if (batch.readInt16BE(OFF.attributes) & ATTR_ENCRYPTED) throw invalidBatch(p, 'attribute bit 8 is reserved');
      starts.push(p);
      messages += count;
      p += size;
    }
    if (starts.length === 0) throw new BulwarkError('BWK_ERR_LOG_BATCH_INVALID', { position: 0, detail: 'no batches' });

    const baseOffset = this.nextOffset;
    let next = baseOffset;
    for (const p of starts) {
      writeInt64(records, next, p + OFF.baseOffset);
      records.writeInt32BE(leaderEpoch, p + OFF.partitionLeaderEpoch);
      next += records.readInt32BE(p + OFF.lastOffsetDelta) + 1;
    }
    let toWrite = records;
    let positions = starts;
    if (this.#cipher) {
      const sealed = starts.map((p) => this.#cipher!.seal(records.subarray(p, p + records.readInt32BE(p + OFF.batchLength) + LOG_OVERHEAD), this.topic, this.partition));
      positions = [];
      let at = 0;
      for (const s of sealed) {
        positions.push(at);
        at += s.length;
      }
      toWrite = Buffer.concat(sealed, at);
    }
    this.#maybeRoll(toWrite.length);
    this.#active.append(toWrite, positions);
    const seq = ++this.#appendSeq;
    this.#unsyncedMessages += messages;
    const result: AppendResult = { baseOffset, lastOffset: next - 1, nextOffset: next };
    const flush = this.config.flush;
    if (flush.mode === 'batch') return this.#syncThrough(seq).then(() => result);
    if (flush.mode === 'messages' && this.#unsyncedMessages >= flush.messages) void this.#syncThrough(seq).catch(() => {});
    return Promise.resolve(result);
  }

  #maybeRoll(incoming: number): void {
    const active = this.#active;
    if (active.isEmpty) return;
    const tooBig = active.size + incoming > this.config.segmentBytes;
    const tooOld = this.#now() - active.createdAt >= this.config.segmentMs;
    if (!tooBig && !tooOld) return;
    active.seal();
    // Recovery repairs the last two segments' tails, so the one rolled before this must be whole
    // on disk before this one stops being the last two's: wait for its sync (blocking the event
    // loop) if it still runs, which takes two rolls within one fdatasync.
    this.#rolledSyncing?.syncNow();
    this.#rolledSyncing = undefined;
    if (this.#syncedSeq < this.#appendSeq) {
      this.#rolledSyncing = active;
      active.sync().then(
        () => {
          if (this.#rolledSyncing === active) this.#rolledSyncing = undefined;
        },
        (err: NodeJS.ErrnoException) => {
          if (this.#closed) return;
          this.#fence(new BulwarkError('BWK_ERR_LOG_CORRUPT', { file: active.logPath, position: active.size, detail: `fdatasync after the roll failed (${err.code ?? err.message}): the segment may not be whole on disk` }));
        },
      );
    }
    this.#segments.push(Segment.create(this.dir, active.nextOffset, { indexIntervalBytes: this.config.indexIntervalBytes, maxBatchBytes: this.config.maxBatchBytes }, this.#now()));
  }

  /** Resolves once every append numbered up to `seq` is on disk; concurrent callers share syncs. */
  async #syncThrough(seq: number): Promise<void> {
    while (this.#syncedSeq < seq) {
      if (this.#syncing) {
        await this.#syncing;
        continue;
      }
      this.#syncing = this.#runSync();
      await this.#syncing;
    }
  }

  async #runSync(): Promise<void> {
    try {
      // Let the appends already on their way (other connections' requests in this turn of the
      // event loop) join this sync: with 16 in flight, 8 batches per sync became 16 (bench/log.ts).
      await new Promise((resolve) => setImmediate(resolve));
      const target = this.#appendSeq;
      const covered = this.#unsyncedMessages;
      // Unsynced writes are in the active segment and, after a roll, in the one rolled before it
      // (whose own background sync may still run; a second fdatasync waits for the same pages).
      const rolled = this.#rolledSyncing;
      await Promise.all([rolled?.sync(), this.#active.sync()]);
      this.#syncedSeq = Math.max(this.#syncedSeq, target);
      // Appends made during the sync stay counted.
      this.#unsyncedMessages = Math.max(0, this.#unsyncedMessages - covered);
    } finally {
      this.#syncing = undefined;
    }
  }

  /** Syncs everything appended so far. */
  flush(): Promise<void> {
    if (this.#closed || this.#fenced) return Promise.resolve();
    return this.#syncThrough(this.#appendSeq);
  }

  /**
   * Reads whole batches from `offset`, up to `maxBytes` (at least one batch, however large, as
   * Kafka does). Returns the bytes as read, without re-encoding, unless they are sealed. `into`
   * lets a caller that is done with its previous result reuse the buffer (a fresh 1 MiB buffer
   * per fetch cost 25-40% of fetch throughput in bench/log.ts).
   */
  async fetch(offset: number, maxBytes: number, into?: Buffer): Promise<FetchResult> {
    this.#check();
    const hw = this.nextOffset;
    const start = this.logStartOffset;
    if (offset === hw) return { records: EMPTY, nextFetchOffset: offset, highWatermark: hw, logStartOffset: start };
    if (offset < start || offset > hw) throw new BulwarkError('BWK_ERR_LOG_OFFSET_OUT_OF_RANGE', { offset, partition: this.name, start, end: hw });
    const segment = this.#segmentFor(offset);
    let position: number | undefined;
    // A consumer reading on asks for where its last fetch ended: no index lookup, no header read.
    if (this.#hint.segment === segment && this.#hint.offset === offset) position = this.#hint.position;
    else {
      try {
        position = segment.locate(offset);
      } catch (err) {
        throw this.#fenceOn(err);
      }
    }
    if (position === undefined) return { records: EMPTY, nextFetchOffset: offset, highWatermark: hw, logStartOffset: start };
    let buf = await segment.read(position, Math.max(maxBytes, LOG_OVERHEAD), into);
    const firstSize = buf.length >= LOG_OVERHEAD ? buf.readInt32BE(OFF.batchLength) + LOG_OVERHEAD : 0;
    if (firstSize < LOG_OVERHEAD || firstSize > this.config.maxBatchBytes)
      throw this.#fenceOn(new BulwarkError('BWK_ERR_LOG_CORRUPT', { file: segment.logPath, position, detail: `batch length ${firstSize - LOG_OVERHEAD}` }));
    if (firstSize > buf.length && position + buf.length < segment.size) buf = await segment.read(position, firstSize); // one batch larger than maxBytes
    let end = 0;
    let nextFetchOffset = offset;
    let expectBase = -1;
    while (end < buf.length) {
      const framing = checkBatchFraming(buf, end, this.config.maxBatchBytes);
      if (framing !== undefined && isTruncation(framing)) break; // maxBytes ended inside it
      const base = framing === undefined ? readInt64(buf, end + OFF.baseOffset) : -1;
      if (framing !== undefined || (expectBase >= 0 && base !== expectBase))
        throw this.#fenceOn(new BulwarkError('BWK_ERR_LOG_CORRUPT', { file: segment.logPath, position: position + end, detail: framing?.detail ?? `base offset ${base}, expected ${expectBase}` }));
      const last = base + buf.readInt32BE(end + OFF.lastOffsetDelta);
      // The first batch must hold the offset asked for: anything else means an index or hint
      // pointed at the wrong place, and serving it would skip records.
      if (end === 0 && (base > offset || last < offset))
        throw this.#fenceOn(new BulwarkError('BWK_ERR_LOG_CORRUPT', { file: segment.logPath, position, detail: `looked up offset ${offset}, found batch ${base}..${last}` }));
      expectBase = last + 1;
      nextFetchOffset = expectBase;
      end += buf.readInt32BE(end + OFF.batchLength) + LOG_OVERHEAD;
    }
    if (end > 0 && nextFetchOffset < segment.nextOffset) this.#hint = { segment, offset: nextFetchOffset, position: position + end };
    let records = buf.subarray(0, end);
    if (this.#cipher && end > 0) records = this.#openAll(records);
    return { records, nextFetchOffset, highWatermark: hw, logStartOffset: start };
  }

  #openAll(records: Buffer): Buffer {
    const out: Buffer[] = [];
    for (let p = 0; p < records.length; ) {
      const size = records.readInt32BE(p + OFF.batchLength) + LOG_OVERHEAD;
      const batch = records.subarray(p, p + size);
      out.push(batch.readInt16BE(OFF.attributes) & ATTR_ENCRYPTED ? this.#cipher!.open(batch, this.topic, this.partition) : batch);
      p += size;
    }
    return Buffer.concat(out);
  }

  #fenceOn(err: unknown): unknown {
    if (isBulwarkError(err, 'BWK_ERR_LOG_CORRUPT')) {
      this.#fence(err);
      return this.#fenced;
    }
    return err;
  }

  #segmentFor(offset: number): Segment {
    let lo = 0;
    let hi = this.#segments.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.#segments[mid]!.baseOffset <= offset) lo = mid;
      else hi = mid - 1;
    }
    return this.#segments[lo]!;
  }

  /** The segments' log files by the key id they need (PLAINTEXT_KEY: batches in the clear). */
  keyUsage(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const s of this.#segments) for (const id of s.keyIds) out.set(id, [...(out.get(id) ?? []), s.logPath]);
    return out;
  }

  /** ListOffsets: earliest, latest, or the first offset whose timestamp is >= the given one. */
  listOffset(spec: 'earliest' | 'latest' | { timestamp: number }): number | null {
    this.#check();
    if (spec === 'earliest') return this.logStartOffset;
    if (spec === 'latest') return this.nextOffset;
    for (const s of this.#segments) {
      if (s.maxTimestamp < spec.timestamp) continue;
      const found = s.offsetForTimestamp(spec.timestamp);
      if (found !== undefined) return found;
    }
    return null;
  }

  /** Deletes whole segments past retention, never the active one. Returns how many it deleted. */
  enforceRetention(): number {
    this.#check();
    const { retentionMs, retentionBytes } = this.config;
    let deleted = 0;
    let size = this.sizeBytes;
    const now = this.#now();
    while (this.#segments.length > 1) {
      const oldest = this.#segments[0]!;
      const expired = retentionMs !== null && oldest.maxTimestamp >= 0 && oldest.maxTimestamp < now - retentionMs;
      const oversize = retentionBytes !== null && size - oldest.size >= retentionBytes;
      if (!expired && !oversize) break;
      this.#segments.shift();
      size -= oldest.size;
      oldest.delete();
      deleted++;
    }
    return deleted;
  }

  /** Rebuild-free full check: every batch of every segment framed, contiguous, CRC valid. */
  async verify(): Promise<{ batches: number; bytes: number }> {
    this.#check();
    let batches = 0;
    let bytes = 0;
    let expected = this.logStartOffset;
    for (const s of this.#segments) {
      for (let pos = 0; pos < s.size; ) {
        const head = await s.read(pos, LOG_OVERHEAD);
        const size = head.readInt32BE(OFF.batchLength) + LOG_OVERHEAD;
        const batch = await s.read(pos, size);
        const framing = checkBatchFraming(batch, 0, this.config.maxBatchBytes);
        const base = framing === undefined ? readInt64(batch, OFF.baseOffset) : -1;
        if (framing !== undefined || !crcMatches(batch) || base !== expected)
          throw this.#fenceOn(new BulwarkError('BWK_ERR_LOG_CORRUPT', { file: s.logPath, position: pos, detail: framing?.detail ?? (base !== expected ? `base offset ${base}, expected ${expected}` : 'CRC-32C mismatch') }));
        expected = base + batch.readInt32BE(OFF.lastOffsetDelta) + 1;
        batches++;
        bytes += size;
        pos += size;
      }
    }
    return { batches, bytes };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    if (this.#timer) clearInterval(this.#timer);
    if (!this.#fenced) await this.flush();
    this.#closed = true;
    for (const s of this.#segments) s.close();
  }
}
