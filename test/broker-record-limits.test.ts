// Limits on one record (limits.maxRecordKeyBytes, maxRecordHeaders, maxRecordHeaderBytes) on a
// real broker, with kcat (keys with -K, headers with -H) and kafkajs: records within the limits
// are written and read back with their headers; a record over one is refused with INVALID_RECORD
// and a message naming the record and the limit, and nothing of its batch is written.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { CompressionTypes } from 'kafkajs';
import { KafkaErrorCode } from '../src/kafka/error-codes.ts';
import { ApiKey } from '../src/kafka/index.ts';
import { buildRecordBatch } from '../src/log/index.ts';
import { isBulwarkError } from '../src/lib/index.ts';
import { compileRecordLimits } from '../src/broker/limits/index.ts';
import { KafkaWireClient } from '../tools/kafka-wire/client.ts';
import { startTestBroker, type TestBroker } from './harness/broker.ts';
import { kafkajs, kcat } from './harness/clients.ts';

const LIMITS = { maxRecordKeyBytes: 64, maxRecordHeaders: 3, maxRecordHeaderBytes: 100 };
const TOPIC = 'record-limits';

let b: TestBroker;
/** Whether a kafkajs error is, or wraps, the broker's INVALID_RECORD. */
const invalidRecord = (err: unknown): boolean => {
  const e = err as { type?: string; cause?: unknown; errors?: unknown[] } | undefined;
  return e?.type === 'INVALID_RECORD' || (e?.cause !== undefined && invalidRecord(e.cause)) || (e?.errors ?? []).some(invalidRecord);
};
const written = () => b.broker.topics.partition(TOPIC, 0)!.nextOffset;
/** kcat -P of one record: key by -K, headers by -H. */
const kcatProduce = (key: string, headers: string[], value = 'v') =>
  kcat(['-b', b.bootstrap, '-P', '-t', TOPIC, '-p', '0', '-K', '\t', ...headers.flatMap((h) => ['-H', h]), '-X', 'compression.codec=none'], { input: `${key}\t${value}\n` });

describe('record limits (limits.maxRecordKeyBytes, maxRecordHeaders, maxRecordHeaderBytes)', () => {
  before(async () => {
    await promisify(execFile)('kcat', ['-V']);
    b = await startTestBroker({ config: { limits: LIMITS } });
    b.broker.topics.createTopic(TOPIC, 1);
  });
  after(() => b?.stop());

  test('kcat: a record at every limit is written and read back with its key and headers', async () => {
    const before = written();
    const headers = ['a=' + 'x'.repeat(99), 'b=' + 'y'.repeat(99), 'c=z']; // 100 bytes each (key + value), 3 of them
    const r = await kcatProduce('k'.repeat(64), headers, 'at-the-limits');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(written(), before + 1);
    const read = await kcat(['-b', b.bootstrap, '-C', '-t', TOPIC, '-p', '0', '-o', String(before), '-c', '1', '-e', '-f', '%k|%h|%s\\n']);
    assert.equal(read.stdout.trim(), `${'k'.repeat(64)}|${headers.join(',')}|at-the-limits`);
  });

  test('kcat: a key one byte too long, a fourth header, or a header one byte too large is refused with INVALID_RECORD ("Broker failed to validate record"), and nothing is written', async () => {
    const before = written();
    for (const [key, headers] of [
      ['k'.repeat(65), []],
      ['k', ['a=1', 'b=2', 'c=3', 'd=4']],
      ['k', ['a=' + 'x'.repeat(100)]],
    ] as [string, string[]][]) {
      const r = await kcatProduce(key, headers);
      assert.notEqual(r.code, 0, `key ${key.length} bytes, headers ${headers.length}: refused`);
      assert.match(r.stderr, /Broker: Broker failed to validate record/);
    }
    assert.equal(written(), before, 'nothing of a refused batch is written');
  });

  test('kafkajs: the send fails with INVALID_RECORD; a batch with one bad record writes none of it; gzip batches are checked too', async () => {
    const { kafka } = kafkajs(b.bootstrap, { retries: 0 });
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    try {
      const before = written();
      const fine = { key: 'ok', value: 'v', headers: { trace: 'abc' } };
      for (const compression of [CompressionTypes.None, CompressionTypes.GZIP]) {
        await assert.rejects(
          producer.send({ topic: TOPIC, acks: -1, compression, messages: [fine, { key: 'x'.repeat(65), value: 'v' }] }),
          invalidRecord,
        );
        await assert.rejects(
          producer.send({ topic: TOPIC, acks: -1, compression, messages: [{ value: 'v', headers: { big: 'h'.repeat(98) } }] }),
          invalidRecord,
        );
      }
      assert.equal(written(), before);
      await producer.send({ topic: TOPIC, acks: -1, compression: CompressionTypes.GZIP, messages: [fine, { key: 'k'.repeat(64), value: 'v' }] });
      assert.equal(written(), before + 2);
    } finally {
      await producer.disconnect();
    }
  });

  test('the Produce answer names the record and the limit it broke', async () => {
    const c = await KafkaWireClient.connect(b.port());
    try {
      const produce = async (records: Buffer) => {
        const r = await c.request(ApiKey.Produce, 8, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: TOPIC, partitionData: [{ index: 0, records }] }] });
        return r.responses[0]!.partitionResponses[0]!;
      };
      const key = buildRecordBatch([{ key: Buffer.from('ok'), value: null }, { key: Buffer.alloc(200), value: null }]);
      const refused = await produce(key);
      assert.deepEqual(
        [refused.errorCode, refused.errorMessage],
        [KafkaErrorCode.INVALID_RECORD, 'record 1 of the batch is refused: its key of 200 bytes exceeds limits.maxRecordKeyBytes (64)'],
      );
      const many = buildRecordBatch([{ key: null, value: null, headers: Array.from({ length: 5 }, (_, i) => ({ key: `h${i}`, value: null })) }]);
      assert.equal((await produce(many)).errorMessage, 'record 0 of the batch is refused: its 5 headers exceeds limits.maxRecordHeaders (3)');
      const header = buildRecordBatch([{ key: null, value: null, headers: [{ key: 'ok', value: Buffer.from('v') }, { key: 'big', value: Buffer.alloc(98) }] }]);
      assert.equal((await produce(header)).errorMessage, 'record 0 of the batch is refused: its header 1 of 101 bytes (key and value) exceeds limits.maxRecordHeaderBytes (100)');
    } finally {
      c.close();
    }
  });
});

describe('compileRecordLimits', () => {
  const batch = (records: Parameters<typeof buildRecordBatch>[0]) => buildRecordBatch(records);
  test('with no limit set there is no check at all (Produce pays nothing)', () => {
    assert.equal(compileRecordLimits({ maxRecordKeyBytes: null, maxRecordHeaders: null, maxRecordHeaderBytes: null }, 1 << 20), undefined);
  });

  test('counts records across the batches of one partition, and refuses codecs it cannot read', () => {
    const check = compileRecordLimits(LIMITS, 1 << 20)!;
    const two = Buffer.concat([batch([{ key: null, value: null }, { key: null, value: null }]), batch([{ key: Buffer.alloc(65), value: null }])]);
    assert.throws(() => check(two), (e) => isBulwarkError(e, 'BWK_ERR_RECORD_LIMIT_EXCEEDED') && /^record 2 of the batch/.test(e.message));
    const lz4 = Buffer.from(batch([{ key: null, value: null }]));
    lz4.writeInt16BE(3, 21); // attributes: lz4
    assert.throws(() => check(lz4), (e) => isBulwarkError(e, 'BWK_ERR_RECORD_LIMITS_UNCHECKABLE') && /compressed with lz4/.test(e.message));
    // A gzip bomb is not inflated past the bound.
    const gz = Buffer.from(batch([{ key: null, value: null }]));
    const bomb = Buffer.concat([gz.subarray(0, 61), gzipSync(Buffer.alloc(4 << 20))]);
    bomb.writeInt32BE(bomb.length - 12, 8);
    bomb.writeInt16BE(1, 21);
    assert.throws(() => check(bomb), (e) => isBulwarkError(e, 'BWK_ERR_RECORD_LIMITS_UNCHECKABLE') && /gzip/.test(e.message));
  });
});
