// Limits on what one record may carry: its key's size, how many headers, and each header's size
// (key and value). Checked on Produce, before anything is appended, so a client is told which
// record broke which limit (INVALID_RECORD with the message) and nothing of the partition's data
// is written.
//
// The log stores batches whole and never reads records; this check does, once per Produce batch,
// with a cursor over the records section (no record objects). With every limit left out it is
// not compiled at all: Produce pays nothing. A batch whose records the broker cannot read
// (snappy, lz4, zstd) cannot be checked, and is refused rather than let through (fail closed).
import { gunzipSync } from 'node:zlib';
import { BATCH_HEADER_SIZE, LOG_OVERHEAD, OFF } from '../../log/index.ts';
import { BulwarkError } from '../../lib/index.ts';

export interface RecordLimits {
  /** Largest record key, in bytes. */
  maxRecordKeyBytes: number | null;
  /** Most headers on one record. */
  maxRecordHeaders: number | null;
  /** Largest header, its key and value bytes together. */
  maxRecordHeaderBytes: number | null;
}

/** Checks every record of a Produce partition's batches; throws BWK_ERR_RECORD_LIMIT_EXCEEDED or BWK_ERR_RECORD_LIMITS_UNCHECKABLE. */
export type RecordLimitCheck = (records: Buffer) => void;

const COMPRESSION_MASK = 0x07;
const CODEC_NAMES = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];

/** The check for these limits; undefined when none is set (nothing to check). */
export function compileRecordLimits(limits: RecordLimits, maxInflatedBytes: number): RecordLimitCheck | undefined {
  const maxKey = limits.maxRecordKeyBytes ?? Infinity;
  const maxHeaders = limits.maxRecordHeaders ?? Infinity;
  const maxHeader = limits.maxRecordHeaderBytes ?? Infinity;
  if (maxKey === Infinity && maxHeaders === Infinity && maxHeader === Infinity) return undefined;

  return (records) => {
    let batchStart = 0;
    let firstRecord = 0; // index of the batch's first record among the request's, for the message
    while (batchStart + BATCH_HEADER_SIZE <= records.length) {
      const end = batchStart + LOG_OVERHEAD + records.readInt32BE(batchStart + OFF.batchLength);
      // Framing problems are the log's to report (BWK_ERR_LOG_BATCH_INVALID), with its own words.
      if (end > records.length || end < batchStart + BATCH_HEADER_SIZE) return;
      const codec = records.readInt16BE(batchStart + OFF.attributes) & COMPRESSION_MASK;
      const count = records.readInt32BE(batchStart + OFF.recordsCount);
      let body = records.subarray(batchStart + BATCH_HEADER_SIZE, end);
      if (codec === 1) {
        try {
          body = gunzipSync(body, { maxOutputLength: maxInflatedBytes });
        } catch {
          throw new BulwarkError('BWK_ERR_RECORD_LIMITS_UNCHECKABLE', { detail: `its gzip records section does not inflate within ${maxInflatedBytes} bytes` });
        }
      } else if (codec !== 0) {
        throw new BulwarkError('BWK_ERR_RECORD_LIMITS_UNCHECKABLE', { detail: `it is compressed with ${CODEC_NAMES[codec] ?? `codec ${codec}`}, which the broker does not decode; use gzip or no compression` });
      }
      checkRecords(body, count, firstRecord);
      firstRecord += Math.max(0, count);
      batchStart = end;
    }
  };

  function checkRecords(body: Buffer, count: number, firstRecord: number): void {
    let pos = 0;
    // A records section that does not parse is malformed: refused as such, not waved through.
    const malformed = () => new BulwarkError('BWK_ERR_RECORD_LIMITS_UNCHECKABLE', { detail: 'its records section is malformed' });
    // Lengths and counts (varints of at most 5 bytes here: a request is under 2 GiB), decoded
    // with integer operations; a closure-free loop over float math was 15 times slower.
    const varint = (): number => {
      let raw = 0;
      for (let shift = 0; shift < 35; shift += 7) {
        if (pos >= body.length) throw malformed();
        const b = body[pos++]!;
        raw += (b & 0x7f) * 2 ** shift;
        if (b < 0x80) return raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2;
      }
      throw malformed();
    };
    /** Skips a varint whose value is not needed (timestamp and offset deltas, up to 10 bytes). */
    const skipVarint = (): void => {
      for (let i = 0; i < 10; i++) {
        if (pos >= body.length) throw malformed();
        if (body[pos++]! < 0x80) return;
      }
      throw malformed();
    };
    /** Skips a length-prefixed field; its length (-1: null). */
    const field = (): number => {
      const len = varint();
      if (len > body.length - pos) throw malformed();
      if (len > 0) pos += len;
      return len;
    };
    const exceeded = (record: number, detail: string, limit: keyof RecordLimits, max: number) =>
      new BulwarkError('BWK_ERR_RECORD_LIMIT_EXCEEDED', { record: firstRecord + record, detail, limit, max });
    for (let i = 0; i < count; i++) {
      const length = varint();
      const end = pos + length;
      if (length < 0 || end > body.length) throw malformed();
      pos += 1; // attributes
      skipVarint(); // timestamp delta
      skipVarint(); // offset delta
      const keyBytes = field();
      if (keyBytes > maxKey) throw exceeded(i, `its key of ${keyBytes} bytes`, 'maxRecordKeyBytes', maxKey);
      field(); // value
      const headers = varint();
      if (headers > maxHeaders) throw exceeded(i, `its ${headers} headers`, 'maxRecordHeaders', maxHeaders);
      for (let h = 0; h < headers; h++) {
        const keyLen = field();
        const valueLen = field();
        const bytes = Math.max(0, keyLen) + Math.max(0, valueLen);
        if (bytes > maxHeader) throw exceeded(i, `its header ${h} of ${bytes} bytes (key and value)`, 'maxRecordHeaderBytes', maxHeader);
      }
      if (pos !== end) throw malformed();
    }
  }
}
