// Kafka's RecordBatch v2 ("magic 2"), as stored on disk and sent on the wire unchanged.
//
//   offset  size  field
//        0     8  baseOffset              assigned by the log on append (not covered by the CRC)
//        8     4  batchLength             bytes after this field: total size - 12
//       12     4  partitionLeaderEpoch    set by the leader on append (not covered by the CRC)
//       16     1  magic                   2
//       17     4  crc                     CRC-32C of bytes 21..end
//       21     2  attributes              bits 0-2 compression, 3 timestamp type, 4 transactional,
//                                         5 control, 8 Bulwark: records section encrypted at rest
//       23     4  lastOffsetDelta
//       27     8  baseTimestamp
//       35     8  maxTimestamp
//       43     8  producerId
//       51     2  producerEpoch
//       53     4  baseSequence
//       57     4  recordsCount
//       61     …  records (possibly compressed)
//
// Every length is checked against the bytes actually present before anything is allocated.
import { BulwarkError } from '../lib/index.ts';
import { crc32c } from './crc32c.ts';
import { gunzipSync } from 'node:zlib';

export const BATCH_HEADER_SIZE = 61;
/** Bytes of the header needed to know a batch's length. */
export const LOG_OVERHEAD = 12;
export const MAGIC_V2 = 2;
export const ATTR_COMPRESSION_MASK = 0x07;
export const ATTR_ENCRYPTED = 0x0100;
/** What a segment's key list (segment.ts, `.keys`) records for batches stored in the clear. */
export const PLAINTEXT_KEY = '(plaintext)';

/**
 * The key id a stored batch was sealed with (encryption.ts: keyIdLength u8 and the ASCII id right
 * after the header), or PLAINTEXT_KEY for a batch in the clear; undefined when the bytes given
 * (at least the header) do not hold a whole id.
 */
export function storedKeyId(buf: Buffer, pos: number): string | undefined {
  if (buf.length < pos + BATCH_HEADER_SIZE) return undefined;
  if (!(buf.readInt16BE(pos + OFF.attributes) & ATTR_ENCRYPTED)) return PLAINTEXT_KEY;
  if (buf.length < pos + BATCH_HEADER_SIZE + 1) return undefined;
  const n = buf.readUInt8(pos + BATCH_HEADER_SIZE);
  const at = pos + BATCH_HEADER_SIZE + 1;
  return n >= 1 && buf.length >= at + n ? buf.toString('ascii', at, at + n) : undefined;
}

export const OFF = {
  baseOffset: 0,
  batchLength: 8,
  partitionLeaderEpoch: 12,
  magic: 16,
  crc: 17,
  attributes: 21,
  lastOffsetDelta: 23,
  baseTimestamp: 27,
  maxTimestamp: 35,
  producerId: 43,
  producerEpoch: 51,
  baseSequence: 53,
  recordsCount: 57,
} as const;

/**
 * Offsets and timestamps are int64 on disk and plain numbers in memory: exact below 2^53, which
 * no offset or millisecond timestamp reaches, and far cheaper than bigint on the hot path.
 */
export function readInt64(buf: Buffer, pos: number): number {
  return buf.readInt32BE(pos) * 0x1_0000_0000 + buf.readUInt32BE(pos + 4);
}

export function writeInt64(buf: Buffer, value: number, pos: number): void {
  const hi = Math.floor(value / 0x1_0000_0000);
  buf.writeInt32BE(hi, pos);
  buf.writeUInt32BE(value - hi * 0x1_0000_0000, pos + 4);
}

export interface BatchHeader {
  baseOffset: number;
  /** Total size in bytes, header included. */
  size: number;
  magic: number;
  crc: number;
  attributes: number;
  lastOffsetDelta: number;
  baseTimestamp: number;
  maxTimestamp: number;
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
  recordsCount: number;
}

/** How bytes fail to frame a batch. The truncations may only mean the bytes end early (a read cut short, a torn tail). */
export type BatchProblemKind = 'truncated-header' | 'truncated-batch' | 'too-small' | 'too-large' | 'bad-magic';

/** Why bytes are not a valid batch: what to branch on (`kind`) and what to tell a person (`detail`). */
export interface BatchProblem {
  kind: BatchProblemKind;
  detail: string;
}

const TRUNCATED_HEADER: BatchProblem = { kind: 'truncated-header', detail: 'truncated header' };
const TRUNCATED_BATCH: BatchProblem = { kind: 'truncated-batch', detail: 'truncated batch' };

/** Whether the problem is only that the bytes end before the batch does. */
export function isTruncation(problem: BatchProblem): boolean {
  return problem.kind === 'truncated-header' || problem.kind === 'truncated-batch';
}

/** Checks the fixed header at `pos` against the bytes available (no CRC); undefined when it frames a batch. */
export function checkBatchFraming(buf: Buffer, pos: number, maxBatchBytes: number): BatchProblem | undefined {
  if (buf.length - pos < LOG_OVERHEAD) return TRUNCATED_HEADER;
  const batchLength = buf.readInt32BE(pos + OFF.batchLength);
  if (batchLength < BATCH_HEADER_SIZE - LOG_OVERHEAD) return { kind: 'too-small', detail: `batchLength ${batchLength} is smaller than a header` };
  if (batchLength + LOG_OVERHEAD > maxBatchBytes) return { kind: 'too-large', detail: `batchLength ${batchLength} exceeds the limit of ${maxBatchBytes} bytes` };
  if (buf.length - pos < BATCH_HEADER_SIZE) return TRUNCATED_HEADER;
  const magic = buf.readInt8(pos + OFF.magic);
  if (magic !== MAGIC_V2) return { kind: 'bad-magic', detail: `magic ${magic}, expected 2` };
  if (buf.length - pos < batchLength + LOG_OVERHEAD) return TRUNCATED_BATCH;
  return undefined;
}

export function batchSize(buf: Buffer, pos = 0): number {
  return buf.readInt32BE(pos + OFF.batchLength) + LOG_OVERHEAD;
}

export function computeBatchCrc(batch: Buffer): number {
  return crc32c(batch.subarray(OFF.attributes));
}

export function crcMatches(batch: Buffer): boolean {
  return batch.readUInt32BE(OFF.crc) === computeBatchCrc(batch);
}

export function readBatchHeader(buf: Buffer, pos = 0): BatchHeader {
  return {
    baseOffset: readInt64(buf, pos + OFF.baseOffset),
    size: buf.readInt32BE(pos + OFF.batchLength) + LOG_OVERHEAD,
    magic: buf.readInt8(pos + OFF.magic),
    crc: buf.readUInt32BE(pos + OFF.crc),
    attributes: buf.readInt16BE(pos + OFF.attributes),
    lastOffsetDelta: buf.readInt32BE(pos + OFF.lastOffsetDelta),
    baseTimestamp: readInt64(buf, pos + OFF.baseTimestamp),
    maxTimestamp: readInt64(buf, pos + OFF.maxTimestamp),
    producerId: buf.readBigInt64BE(pos + OFF.producerId),
    producerEpoch: buf.readInt16BE(pos + OFF.producerEpoch),
    baseSequence: buf.readInt32BE(pos + OFF.baseSequence),
    recordsCount: buf.readInt32BE(pos + OFF.recordsCount),
  };
}

// --- Records: building and reading (tests, benchmarks, the HTTP API) ---------------------------

export interface RecordHeader {
  key: string;
  value: Buffer | null;
}

export interface LogRecord {
  key: Buffer | null;
  value: Buffer | null;
  headers?: RecordHeader[];
  /** Milliseconds since the epoch; defaults to the batch's base timestamp. */
  timestamp?: number;
}

export interface BuildOptions {
  baseOffset?: number;
  baseTimestamp?: number;
  producerId?: bigint;
  producerEpoch?: number;
  baseSequence?: number;
}

function zigzag(n: number): number {
  return n >= 0 ? n * 2 : -n * 2 - 1;
}

function writeVarint(parts: number[], n: number): void {
  let z = zigzag(n);
  while (z >= 0x80) {
    parts.push((z % 0x80) | 0x80);
    z = Math.floor(z / 0x80);
  }
  parts.push(z);
}

/** Encodes records as an uncompressed RecordBatch v2 with a valid CRC. */
export function buildRecordBatch(records: readonly LogRecord[], opts: BuildOptions = {}): Buffer {
  if (records.length === 0) throw new RangeError('a batch holds at least one record');
  const baseTimestamp = opts.baseTimestamp ?? records[0]!.timestamp ?? Date.now();
  let maxTimestamp = baseTimestamp;
  const encoded: Buffer[] = [];
  records.forEach((r, i) => {
    const ts = r.timestamp ?? baseTimestamp;
    if (ts > maxTimestamp) maxTimestamp = ts;
    const body: number[] = [0]; // attributes
    writeVarint(body, ts - baseTimestamp);
    writeVarint(body, i);
    const chunks: Buffer[] = [];
    const pushBytes = (b: Buffer | null) => {
      const len: number[] = [];
      writeVarint(len, b === null ? -1 : b.length);
      chunks.push(Buffer.from(len));
      if (b) chunks.push(b);
    };
    const head = Buffer.from(body);
    pushBytes(r.key);
    pushBytes(r.value);
    const headers = r.headers ?? [];
    const hc: number[] = [];
    writeVarint(hc, headers.length);
    chunks.push(Buffer.from(hc));
    for (const h of headers) {
      pushBytes(Buffer.from(h.key, 'utf8'));
      pushBytes(h.value);
    }
    const payload = Buffer.concat([head, ...chunks]);
    const len: number[] = [];
    writeVarint(len, payload.length);
    encoded.push(Buffer.from(len), payload);
  });
  const recordsBytes = Buffer.concat(encoded);
  const batch = Buffer.alloc(BATCH_HEADER_SIZE + recordsBytes.length);
  writeInt64(batch, opts.baseOffset ?? 0, OFF.baseOffset);
  batch.writeInt32BE(batch.length - LOG_OVERHEAD, OFF.batchLength);
  batch.writeInt32BE(-1, OFF.partitionLeaderEpoch);
  batch.writeInt8(MAGIC_V2, OFF.magic);
  batch.writeInt16BE(0, OFF.attributes);
  batch.writeInt32BE(records.length - 1, OFF.lastOffsetDelta);
  writeInt64(batch, baseTimestamp, OFF.baseTimestamp);
  writeInt64(batch, maxTimestamp, OFF.maxTimestamp);
  batch.writeBigInt64BE(opts.producerId ?? -1n, OFF.producerId);
  batch.writeInt16BE(opts.producerEpoch ?? -1, OFF.producerEpoch);
  batch.writeInt32BE(opts.baseSequence ?? -1, OFF.baseSequence);
  batch.writeInt32BE(records.length, OFF.recordsCount);
  recordsBytes.copy(batch, BATCH_HEADER_SIZE);
  batch.writeUInt32BE(computeBatchCrc(batch), OFF.crc);
  return batch;
}

export interface DecodedRecord {
  offset: number;
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeader[];
}

const CODEC_NAMES = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];
/** Most bytes a gzip records section may inflate to: a small batch cannot make the broker allocate much. */
const MAX_INFLATED_BYTES = 64 * 1024 * 1024;

/**
 * Reads the records of one plaintext batch (uncompressed or gzip). Bounds-checked throughout;
 * a batch it cannot read (another codec, records that do not fit) throws
 * BWK_ERR_LOG_RECORDS_UNDECODABLE. The log never needs this: it stores batches whole.
 */
export function decodeRecords(batch: Buffer): DecodedRecord[] {
  const h = readBatchHeader(batch);
  const undecodable = (detail: string) => new BulwarkError('BWK_ERR_LOG_RECORDS_UNDECODABLE', { offset: h.baseOffset, detail });
  const compression = h.attributes & ATTR_COMPRESSION_MASK;
  let body = batch.subarray(BATCH_HEADER_SIZE, h.size);
  if (compression === 1) {
    try {
      body = gunzipSync(body, { maxOutputLength: MAX_INFLATED_BYTES });
    } catch (err) {
      throw undecodable(`gzip records section does not inflate within ${MAX_INFLATED_BYTES} bytes (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  } else if (compression !== 0) throw undecodable(`compressed with ${CODEC_NAMES[compression] ?? `codec ${compression}`}, which the broker does not decode`);
  if (h.recordsCount < 0 || h.recordsCount > body.length) throw undecodable(`recordsCount ${h.recordsCount} does not fit in ${body.length} bytes`);
  let pos = 0;
  const varint = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (pos >= body.length) throw undecodable('truncated varint');
      const b = body[pos++]!;
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) break;
      shift += 7;
      if (shift > 63) throw undecodable('varint too long');
    }
    return result % 2 === 0 ? result / 2 : -(result + 1) / 2;
  };
  const bytes = (): Buffer | null => {
    const len = varint();
    if (len < 0) return null;
    if (len > body.length - pos) throw undecodable(`length ${len} runs past the batch`);
    const b = body.subarray(pos, pos + len);
    pos += len;
    return b;
  };
  const out: DecodedRecord[] = [];
  for (let i = 0; i < h.recordsCount; i++) {
    const length = varint();
    const end = pos + length;
    if (length < 0 || end > body.length) throw undecodable(`record length ${length} runs past the batch`);
    pos += 1; // attributes
    const tsDelta = varint();
    const offsetDelta = varint();
    const key = bytes();
    const value = bytes();
    const headerCount = varint();
    if (headerCount < 0 || headerCount > end - pos) throw undecodable(`header count ${headerCount} does not fit`);
    const headers: RecordHeader[] = [];
    for (let j = 0; j < headerCount; j++) headers.push({ key: (bytes() ?? Buffer.alloc(0)).toString('utf8'), value: bytes() });
    if (pos !== end) throw undecodable('record length does not match its contents');
    out.push({ offset: h.baseOffset + offsetDelta, timestamp: h.baseTimestamp + tsDelta, key, value, headers });
  }
  return out;
}
