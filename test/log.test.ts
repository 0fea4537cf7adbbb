// The log engine on real files: append, fetch, list offsets, roll, retention, recovery,
// corruption, bad input, encryption at rest, committed offsets.
import { crc32c } from '@node-rs/crc32';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFileSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { isBulwarkError } from '../src/lib/errors.ts';
import { AesGcmBatchCipher, buildRecordBatch, decodeRecords, KeyRing, OffsetStore, Partition, type PartitionOptions } from '../src/log/index.ts';
import { BATCH_HEADER_SIZE, OFF } from '../src/log/record-batch.ts';
import { useTempDirs } from './harness/temp.ts';

const tempDir = useTempDirs('log');

const value = (n: number, size = 20) => Buffer.from(`v${n}-`.padEnd(size, 'x'));
const batchOf = (from: number, count: number, size = 20, timestamp = 1_000_000) =>
  buildRecordBatch(Array.from({ length: count }, (_, i) => ({ key: Buffer.from(`k${String(from + i).padStart(6, '0')}`), value: value(from + i, size) })), { baseTimestamp: timestamp });
const open = (dir: string, opts: PartitionOptions = {}) => Partition.open(dir, 'orders', 0, { config: { flush: { mode: 'messages', messages: 1_000_000 } }, ...opts });

/** All record values from `offset` to the end, by fetching as a consumer would. */
async function readAll(p: Partition, from = p.logStartOffset): Promise<{ offset: number; value: string }[]> {
  const out: { offset: number; value: string }[] = [];
  let offset = from;
  while (offset < p.nextOffset) {
    const r = await p.fetch(offset, 4096);
    for (let pos = 0; pos < r.records.length; ) {
      const size = r.records.readInt32BE(pos + OFF.batchLength) + 12;
      for (const rec of decodeRecords(r.records.subarray(pos, pos + size))) if (rec.offset >= offset) out.push({ offset: rec.offset, value: rec.value!.toString() });
      pos += size;
    }
    assert.ok(r.nextFetchOffset > offset, 'fetch made progress');
    offset = r.nextFetchOffset;
  }
  return out;
}

const code = (c: string) => (e: unknown) => isBulwarkError(e) && e.code === c;

describe('append and fetch', () => {
  test('numbers batches contiguously and returns them whole, unchanged', async () => {
    const { partition: p } = open(tempDir());
    assert.deepEqual(await p.append(batchOf(0, 3)), { baseOffset: 0, lastOffset: 2, nextOffset: 3 });
    assert.deepEqual(await p.append(Buffer.concat([batchOf(3, 2), batchOf(5, 4)])), { baseOffset: 3, lastOffset: 8, nextOffset: 9 });
    const all = await readAll(p);
    assert.deepEqual(all.map((r) => r.offset), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual(all.map((r) => r.value), Array.from({ length: 9 }, (_, i) => value(i).toString()));
    // Fetching from the middle of a batch returns that batch whole, as Kafka does.
    const mid = await p.fetch(4, 1 << 20);
    assert.equal(mid.records.readInt32BE(0) * 2 ** 32 + mid.records.readUInt32BE(4), 3);
    assert.equal(mid.nextFetchOffset, 9);
    await p.close();
  });

  test('maxBytes bounds a fetch to whole batches, but always returns at least one', async () => {
    const { partition: p } = open(tempDir());
    for (let i = 0; i < 10; i++) await p.append(batchOf(i * 10, 10, 100));
    const one = (await p.fetch(0, 10)).records;
    assert.equal(one.length, one.readInt32BE(8) + 12, 'exactly one whole batch');
    const some = await p.fetch(0, one.length * 3 + 5);
    assert.equal(some.records.length, one.length * 3);
    assert.equal(some.nextFetchOffset, 30);
    await p.close();
  });

  test('the end of the log is empty; outside the log is a coded error', async () => {
    const { partition: p } = open(tempDir());
    await p.append(batchOf(0, 5));
    assert.equal((await p.fetch(5, 1000)).records.length, 0);
    await assert.rejects(p.fetch(6, 1000), code('BWK_ERR_LOG_OFFSET_OUT_OF_RANGE'));
    await assert.rejects(p.fetch(-1, 1000), code('BWK_ERR_LOG_OFFSET_OUT_OF_RANGE'));
    await p.close();
  });

  test('list offsets: earliest, latest and by timestamp', async () => {
    const { partition: p } = open(tempDir(), { config: { indexIntervalBytes: 1, flush: { mode: 'batch' } } });
    for (let i = 0; i < 5; i++) await p.append(batchOf(i * 2, 2, 20, 1000 + i * 100));
    assert.equal(p.listOffset('earliest'), 0);
    assert.equal(p.listOffset('latest'), 10);
    assert.equal(p.listOffset({ timestamp: 0 }), 0);
    assert.equal(p.listOffset({ timestamp: 1250 }), 6);
    assert.equal(p.listOffset({ timestamp: 1300 }), 6);
    assert.equal(p.listOffset({ timestamp: 99_999 }), null);
    await p.close();
  });
});

describe('segments', () => {
  test('roll by size, and a reopened partition carries on where it stopped', async () => {
    const dir = tempDir();
    const { partition: p } = open(dir, { config: { segmentBytes: 2048, flush: { mode: 'batch' } } });
    for (let i = 0; i < 40; i++) await p.append(batchOf(i * 5, 5, 40));
    assert.ok(p.segmentCount > 5, `${p.segmentCount} segments`);
    await p.close();
    const { partition: q, report } = open(dir, { config: { segmentBytes: 2048 } });
    assert.equal(report.fenced, undefined);
    assert.equal(q.nextOffset, 200);
    assert.deepEqual((await readAll(q)).map((r) => r.offset), Array.from({ length: 200 }, (_, i) => i));
    assert.deepEqual(await q.append(batchOf(200, 1)), { baseOffset: 200, lastOffset: 200, nextOffset: 201 });
    await q.close();
  });

  test('roll by time', async () => {
    let now = 0;
    const { partition: p } = open(tempDir(), { now: () => now, config: { segmentMs: 1000 } });
    await p.append(batchOf(0, 1));
    now = 500;
    await p.append(batchOf(1, 1));
    assert.equal(p.segmentCount, 1);
    now = 1000;
    await p.append(batchOf(2, 1));
    assert.equal(p.segmentCount, 2);
    await p.close();
  });

  test('retention deletes whole old segments by bytes and by time, never the active one', async () => {
    let now = 10_000_000;
    const dir = tempDir();
    const { partition: p } = open(dir, { now: () => now, config: { segmentBytes: 1024, retentionBytes: 3000, retentionMs: null } });
    for (let i = 0; i < 30; i++) await p.append(batchOf(i * 4, 4, 40, now));
    const before = p.segmentCount;
    const deleted = p.enforceRetention();
    assert.ok(deleted > 0 && p.segmentCount === before - deleted);
    assert.ok(p.sizeBytes < 3000 + 1024);
    assert.ok(p.logStartOffset > 0);
    await assert.rejects(p.fetch(0, 100), code('BWK_ERR_LOG_OFFSET_OUT_OF_RANGE'));
    assert.equal(readdirSync(dir).filter((f) => f.endsWith('.log')).length, p.segmentCount);
    await p.close();

    const { partition: q } = open(dir, { now: () => now, config: { segmentBytes: 1024, retentionMs: 60_000, retentionBytes: null } });
    now += 120_000;
    q.enforceRetention();
    assert.equal(q.segmentCount, 1, 'only the active segment survives time retention');
    assert.equal(q.nextOffset, 120);
    await q.close();
  });
});

describe('recovery', () => {
  async function writeSome(dir: string, batches = 10, config = {}) {
    const { partition: p } = open(dir, { config: { flush: { mode: 'batch' }, ...config } });
    for (let i = 0; i < batches; i++) await p.append(batchOf(i * 3, 3));
    await p.close();
    return readdirSync(dir).filter((f) => f.endsWith('.log')).sort();
  }

  test('a torn tail is truncated, reported with the file and byte, and the log carries on', async () => {
    const dir = tempDir();
    const [log] = await writeSome(dir);
    const path = join(dir, log!);
    const size = statSync(path).size;
    appendFileSync(path, batchOf(30, 3).subarray(0, 40)); // half a batch: a write cut short
    const { partition: p, report } = open(dir);
    const cut = report.notes.find((n) => n.action === 'truncated');
    assert.ok(cut, JSON.stringify(report));
    assert.equal(cut.truncatedBytes, 40);
    assert.match(cut.detail, new RegExp(`at byte ${size}`));
    assert.equal(statSync(path).size, size);
    assert.equal(p.nextOffset, 30);
    await p.append(batchOf(30, 3));
    assert.equal((await readAll(p)).length, 33);
    await p.close();
  });

  test('a batch whose CRC fails at the tail is cut with everything after it', async () => {
    const dir = tempDir();
    const [log] = await writeSome(dir);
    const path = join(dir, log!);
    const bytes = readFileSync(path);
    const batchSize = bytes.readInt32BE(OFF.batchLength) + 12;
    bytes[batchSize * 8 + BATCH_HEADER_SIZE + 2]! ^= 0xff; // flip a byte inside the 9th batch's records
    writeFileSync(path, bytes);
    const { partition: p, report } = open(dir);
    assert.match(report.notes.find((n) => n.action === 'truncated')!.detail, /CRC-32C mismatch/);
    assert.equal(p.nextOffset, 24);
    await p.close();
  });

  test('missing or garbled indexes of older segments are rebuilt from the log', async () => {
    const dir = tempDir();
    const logs = await writeSome(dir, 30, { segmentBytes: 1024 });
    assert.ok(logs.length >= 3);
    unlinkSync(join(dir, logs[0]!.replace('.log', '.index')));
    writeFileSync(join(dir, logs[1]!.replace('.log', '.index')), randomBytes(24));
    const { partition: p, report } = open(dir, { config: { segmentBytes: 1024 } });
    assert.equal(report.notes.filter((n) => n.action === 'index-rebuilt').length, 2);
    assert.deepEqual((await readAll(p)).map((r) => r.offset), Array.from({ length: 90 }, (_, i) => i));
    await p.close();
  });

  test('a torn tail in the segment before the active one is cut, and the active one, which follows the gap, is deleted', async () => {
    // A rolled segment syncs in the background while the next takes writes, so a power loss can
    // tear it as well as the active one.
    const dir = tempDir();
    const logs = await writeSome(dir, 30, { segmentBytes: 1024 });
    assert.ok(logs.length >= 3);
    const before = join(dir, logs.at(-2)!);
    const last = join(dir, logs.at(-1)!);
    const bytes = readFileSync(before);
    const cutAt = bytes.length - 5;
    writeFileSync(before, bytes.subarray(0, cutAt)); // its last batch lost its last 5 bytes
    const lastBatch = (() => {
      let pos = 0;
      while (pos + bytes.readInt32BE(pos + OFF.batchLength) + 12 < bytes.length) pos += bytes.readInt32BE(pos + OFF.batchLength) + 12;
      return { pos, base: Number(bytes.readBigInt64BE(pos)) };
    })();
    const { partition: p, report } = open(dir, { config: { segmentBytes: 1024 } });
    assert.equal(report.fenced, undefined, JSON.stringify(report));
    const truncated = report.notes.filter((n) => n.action === 'truncated');
    assert.deepEqual(
      truncated.map((n) => basename(n.file)),
      [logs.at(-2), logs.at(-1)],
    );
    assert.match(truncated[0]!.detail, new RegExp(`at byte ${lastBatch.pos}`));
    assert.match(truncated[1]!.detail, /deleted: its offsets .* follow the torn tail/);
    assert.equal(existsSync(last), false, 'the active segment is gone');
    assert.equal(p.nextOffset, lastBatch.base, 'the log ends where the torn batch began');
    assert.deepEqual((await readAll(p)).map((r) => r.offset), Array.from({ length: lastBatch.base }, (_, i) => i));
    await p.append(batchOf(lastBatch.base, 3));
    assert.equal(p.nextOffset, lastBatch.base + 3, 'and it carries on');
    await p.close();
  });

  test('a corrupt segment in the middle fences the partition: reported, never skipped', async () => {
    const dir = tempDir();
    const logs = await writeSome(dir, 30, { segmentBytes: 1024 });
    const middle = join(dir, logs[1]!);
    const bytes = readFileSync(middle);
    bytes.writeInt32BE(0x7fff0000, OFF.batchLength); // an impossible length in its first batch
    writeFileSync(middle, bytes);
    // Drop its index so the damage is found when the segment is checked at open.
    unlinkSync(middle.replace('.log', '.index'));
    const { partition: p, report } = open(dir, { config: { segmentBytes: 1024 } });
    assert.ok(report.fenced);
    assert.equal(report.fenced.code, 'BWK_ERR_LOG_PARTITION_FENCED');
    assert.match(report.fenced.message, new RegExp(`${logs[1]} at byte 0`));
    assert.throws(() => p.append(batchOf(90, 1)), code('BWK_ERR_LOG_PARTITION_FENCED'));
    await assert.rejects(p.fetch(0, 100), code('BWK_ERR_LOG_PARTITION_FENCED'));
    await p.close();
  });

  test('corruption met while fetching fences the partition too', async () => {
    const dir = tempDir();
    const logs = await writeSome(dir, 30, { segmentBytes: 1024 });
    const { partition: p } = open(dir, { config: { segmentBytes: 1024 } });
    const first = join(dir, logs[0]!);
    const bytes = readFileSync(first);
    const size = bytes.readInt32BE(OFF.batchLength) + 12;
    bytes.writeInt8(7, size + OFF.magic); // second batch's magic byte
    writeFileSync(first, bytes);
    await assert.rejects(p.fetch(0, 1 << 20), (e) => isBulwarkError(e, 'BWK_ERR_LOG_PARTITION_FENCED') && /magic 7/.test(e.message));
    assert.ok(p.fenced);
    await p.close();
  });
});

describe('bad input', () => {
  const cases: [string, () => Buffer, RegExp, code?: 'BWK_ERR_LOG_BATCH_TOO_LARGE'][] = [
    ['a CRC mismatch', () => { const b = batchOf(0, 2); b[b.length - 1]! ^= 1; return b; }, /byte 0 .*CRC-32C mismatch/],
    ['a second batch cut short', () => Buffer.concat([batchOf(0, 2), batchOf(2, 2).subarray(0, 30)]), /byte \d+ .*truncated/],
    ['a length claiming 2 GiB', () => { const b = batchOf(0, 1); b.writeInt32BE(0x7fffffff, OFF.batchLength); return b; }, /exceeds the limit/, 'BWK_ERR_LOG_BATCH_TOO_LARGE'],
    ['a negative length', () => { const b = batchOf(0, 1); b.writeInt32BE(-5, OFF.batchLength); return b; }, /smaller than a header/],
    ['magic 1', () => { const b = batchOf(0, 1); b.writeInt8(1, OFF.magic); return b; }, /magic 1/],
    ['no batches at all', () => Buffer.alloc(0), /no batches/],
    ['a count that disagrees with lastOffsetDelta', () => { const b = batchOf(0, 3); b.writeInt32BE(7, OFF.recordsCount); b.writeUInt32BE(crc32c(b.subarray(OFF.attributes)) >>> 0, OFF.crc); return b; }, /recordsCount 7/],
  ];
  for (const [name, make, message, code = 'BWK_ERR_LOG_BATCH_INVALID'] of cases) {
    test(`rejects ${name}, writing nothing`, async () => {
      const { partition: p } = open(tempDir());
      await p.append(batchOf(0, 1));
      assert.throws(() => p.append(make()), (e) => isBulwarkError(e, code) && message.test(e.message));
      assert.equal(p.nextOffset, 1);
      await p.close();
    });
  }

  test('bad configuration names the setting', () => {
    assert.throws(() => open(tempDir(), { config: { segmentBytes: 10 } }), (e) => isBulwarkError(e, 'BWK_ERR_LOG_CONFIG_INVALID') && /segmentBytes/.test(e.message));
    assert.throws(() => open(tempDir(), { config: { flush: { mode: 'messages', messages: 0 } } }), (e) => isBulwarkError(e, 'BWK_ERR_LOG_CONFIG_INVALID') && /flush\.messages/.test(e.message));
  });
});

describe('encryption at rest', () => {
  function keysDir(keys: Record<string, Buffer>): string {
    const d = tempDir();
    for (const [id, key] of Object.entries(keys)) writeFileSync(join(d, id), key.toString('base64'));
    mkdirSync(join(d, '..data')); // a Kubernetes Secret volume's own entries are ignored
    return d;
  }
  const k1 = randomBytes(32);
  const k2 = randomBytes(32);

  test('round-trips, and the disk holds no plaintext', async () => {
    const dir = tempDir();
    const cipher = new AesGcmBatchCipher(KeyRing.fromDirectory(keysDir({ k1 }), 'k1'));
    const { partition: p } = open(dir, { cipher });
    await p.append(batchOf(0, 5, 64));
    const original = batchOf(0, 5, 64);
    const fetched = (await p.fetch(0, 1 << 20)).records;
    assert.deepEqual(fetched.subarray(OFF.attributes), original.subarray(OFF.attributes), 'the client gets the batch it produced');
    await p.close();
    const disk = readFileSync(join(dir, readdirSync(dir).find((f) => f.endsWith('.log'))!));
    assert.equal(disk.indexOf(value(0, 64)), -1, 'plaintext on disk');
  });

  test('tampered ciphertext is detected and never served', async () => {
    const dir = tempDir();
    const cipher = new AesGcmBatchCipher(KeyRing.fromDirectory(keysDir({ k1 }), 'k1'));
    const { partition: p } = open(dir, { cipher });
    await p.append(batchOf(0, 5, 64));
    await p.close();
    const log = join(dir, readdirSync(dir).find((f) => f.endsWith('.log'))!);
    const bytes = readFileSync(log);
    bytes[bytes.length - 30]! ^= 0x01;
    // Recompute the CRC so only authentication can catch it.
    bytes.writeUInt32BE(crc32c(bytes.subarray(OFF.attributes)) >>> 0, OFF.crc);
    writeFileSync(log, bytes);
    const { partition: q } = open(dir, { cipher });
    await assert.rejects(q.fetch(0, 1 << 20), (e) => isBulwarkError(e, 'BWK_ERR_LOG_DECRYPT_FAILED') && /offset 0 of orders-0/.test(e.message) && /k1/.test(e.message));
    await q.close();
  });

  test('a batch moved to another partition fails authentication', async () => {
    const dir = tempDir();
    const cipher = new AesGcmBatchCipher(KeyRing.fromDirectory(keysDir({ k1 }), 'k1'));
    const { partition: p } = open(dir, { cipher });
    await p.append(batchOf(0, 5, 64));
    await p.close();
    const other = tempDir();
    for (const f of readdirSync(dir)) copyFileSync(join(dir, f), join(other, f));
    const { partition: moved } = Partition.open(other, 'orders', 1, { cipher });
    await assert.rejects(moved.fetch(0, 1 << 20), code('BWK_ERR_LOG_DECRYPT_FAILED'));
    await moved.close();
  });

  test('keys rotate: new batches use the active key, old ones still decrypt, a missing key is named', async () => {
    const dir = tempDir();
    const { partition: p } = open(dir, { cipher: new AesGcmBatchCipher(KeyRing.fromDirectory(keysDir({ k1 }), 'k1')) });
    await p.append(batchOf(0, 2));
    await p.close();
    const both = keysDir({ k1, k2 });
    const { partition: q } = open(dir, { cipher: new AesGcmBatchCipher(KeyRing.fromDirectory(both, 'k2')) });
    await q.append(batchOf(2, 2));
    assert.deepEqual((await readAll(q)).map((r) => r.offset), [0, 1, 2, 3]);
    await q.close();
    const { partition: r } = open(dir, { cipher: new AesGcmBatchCipher(KeyRing.fromDirectory(keysDir({ k2 }), 'k2')) });
    await assert.rejects(r.fetch(0, 1 << 20), (e) => isBulwarkError(e, 'BWK_ERR_LOG_KEY_MISSING') && /k1/.test(e.message));
    assert.equal((await r.fetch(2, 1 << 20)).nextFetchOffset, 4);
    await r.close();
  });

  test('each segment lists the key ids its batches need (.keys); a segment without the list gets it back at open', async () => {
    const dir = tempDir();
    const small = { segmentBytes: 1024, flush: { mode: 'messages' as const, messages: 1_000_000 } };
    const { partition: p } = Partition.open(dir, 'orders', 0, { config: small });
    await p.append(batchOf(0, 1, 600)); // in the clear, before encryption was on
    await p.close();
    const { partition: q } = Partition.open(dir, 'orders', 0, { config: small, cipher: new AesGcmBatchCipher(KeyRing.fromDirectory(keysDir({ k1 }), 'k1')) });
    for (let i = 1; i < 3; i++) await q.append(batchOf(i, 1, 600));
    await q.close();
    const { partition: r } = Partition.open(dir, 'orders', 0, { config: small, cipher: new AesGcmBatchCipher(KeyRing.fromDirectory(keysDir({ k1, k2 }), 'k2')) });
    for (let i = 3; i < 5; i++) await r.append(batchOf(i, 1, 600));
    const usage = (x: Partition) => Object.fromEntries([...x.keyUsage()].map(([id, files]) => [id, files.map((f) => basename(f))]));
    const expected = {
      '(plaintext)': ['00000000000000000000.log'],
      k1: ['00000000000000000001.log', '00000000000000000002.log'],
      k2: ['00000000000000000003.log', '00000000000000000004.log'],
    };
    assert.deepEqual(usage(r), expected);
    await r.close();
    assert.equal(readFileSync(join(dir, '00000000000000000001.keys'), 'utf8'), 'k1\n');
    // A data directory from before key lists (or a lost one): the older segments are scanned once and their lists written.
    for (const f of readdirSync(dir).filter((f) => f.endsWith('.keys'))) unlinkSync(join(dir, f));
    const { partition: s, report } = Partition.open(dir, 'orders', 0, { config: small, cipher: new AesGcmBatchCipher(KeyRing.fromDirectory(keysDir({ k1, k2 }), 'k2')) });
    assert.deepEqual(usage(s), expected);
    assert.ok(report.notes.some((n) => n.action === 'index-rebuilt' && /key list/.test(n.detail)));
    assert.equal(readFileSync(join(dir, '00000000000000000000.keys'), 'utf8'), '(plaintext)\n');
    assert.deepEqual((await readAll(s)).map((x) => x.offset), [0, 1, 2, 3, 4]);
    await s.close();
  });

  test('a key file that is not 32 bytes is refused, naming the file', () => {
    const d = keysDir({ short: randomBytes(16) });
    assert.throws(() => KeyRing.fromDirectory(d, 'short'), (e) => isBulwarkError(e, 'BWK_ERR_LOG_KEY_INVALID') && e.message.includes(join(d, 'short')));
  });
});

describe('committed offsets', () => {
  test('survive a reopen; the last commit wins; -1 deletes', async () => {
    const dir = tempDir();
    const s = OffsetStore.open(dir);
    await s.commit([{ group: 'g', topic: 't', partition: 0, offset: 5, metadata: null }]);
    await Promise.all([
      s.commit([{ group: 'g', topic: 't', partition: 0, offset: 9, metadata: 'm' }]),
      s.commit([{ group: 'g', topic: 't', partition: 1, offset: 3, metadata: null }]),
      s.commit([{ group: 'h', topic: 't', partition: 0, offset: 1, metadata: null }]),
    ]);
    await s.commit([{ group: 'h', topic: 't', partition: 0, offset: -1, metadata: null }]);
    s.close();
    const r = OffsetStore.open(dir);
    assert.equal(r.get('g', 't', 0)?.offset, 9);
    assert.equal(r.get('g', 't', 0)?.metadata, 'm');
    assert.equal(r.get('g', 't', 1)?.offset, 3);
    assert.equal(r.get('h', 't', 0), undefined);
    assert.deepEqual(r.groups(), ['g']);
    r.close();
  });

  test('a torn tail is cut and the rest kept', async () => {
    const dir = tempDir();
    const s = OffsetStore.open(dir);
    await s.commit([{ group: 'g', topic: 't', partition: 0, offset: 5, metadata: null }]);
    s.close();
    appendFileSync(join(dir, 'offsets.log'), Buffer.from([0, 0, 0, 50, 1, 2, 3]));
    const r = OffsetStore.open(dir);
    assert.equal(r.truncatedBytes, 7);
    assert.equal(r.get('g', 't', 0)?.offset, 5);
    r.close();
  });

  test('compaction keeps every live offset', async () => {
    const dir = tempDir();
    const s = OffsetStore.open(dir);
    for (let i = 0; i < 1500; i++) await s.commit([{ group: 'g', topic: 't', partition: i % 3, offset: i, metadata: null }]);
    s.close();
    assert.ok(statSync(join(dir, 'offsets.log')).size < 200 * 1500 / 4, 'the file was compacted');
    const r = OffsetStore.open(dir);
    assert.deepEqual([0, 1, 2].map((p) => r.get('g', 't', p)?.offset), [1497, 1498, 1499]);
    r.close();
  });
});

describe('log store', async () => {
  const { LogStore } = await import('../src/log/index.ts');
  test('finds partitions on disk, reopens them, and deletes them whole', async () => {
    const dir = tempDir();
    const store = LogStore.open(dir);
    await store.openPartition('orders-eu', 0).partition.append(batchOf(0, 2));
    await store.openPartition('orders-eu', 1).partition.append(batchOf(0, 3));
    await store.offsets.commit([{ group: 'g', topic: 'orders-eu', partition: 0, offset: 2, metadata: null }]);
    assert.throws(() => store.openPartition('bad/name', 0), code('BWK_ERR_LOG_CONFIG_INVALID'));
    await store.close();
    const again = LogStore.open(dir);
    assert.deepEqual(again.onDisk(), [{ topic: 'orders-eu', partition: 0 }, { topic: 'orders-eu', partition: 1 }]);
    assert.equal(again.openPartition('orders-eu', 1).partition.nextOffset, 3);
    assert.equal(again.offsets.get('g', 'orders-eu', 0)?.offset, 2);
    await again.deletePartition('orders-eu', 1);
    assert.deepEqual(again.onDisk(), [{ topic: 'orders-eu', partition: 0 }]);
    await again.close();
  });
});
