// Idempotent producers: a retried batch is appended once; a gap in sequences is refused.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { isBulwarkError } from '../src/lib/errors.ts';
import { buildRecordBatch } from '../src/log/index.ts';
import { startTestBroker, type TestBroker } from './harness/broker.ts';

let t: TestBroker;
before(async () => {
  t = await startTestBroker();
  t.broker.topics.createTopic('idem', 1);
});
after(() => t?.stop());

const batch = (seq: number, count: number, epoch = 0, producerId = 4242n) =>
  buildRecordBatch(Array.from({ length: count }, (_, i) => ({ key: null, value: Buffer.from(`s${seq + i}`) })), { producerId, producerEpoch: epoch, baseSequence: seq });

test('a retried batch is answered with its first offset and not appended again', async () => {
  const first = await t.broker.produce('idem', 0, batch(0, 3));
  await t.broker.produce('idem', 0, batch(3, 2));
  const retry = await t.broker.produce('idem', 0, batch(0, 3));
  assert.equal(retry.baseOffset, first.baseOffset);
  assert.equal(t.broker.topics.partition('idem', 0)!.nextOffset, 5);
});

test('pipelined batches (each sent before the last is acknowledged, as frames of one socket read are) are all accepted, in order', async () => {
  t.broker.topics.createTopic('idem-pipelined', 1);
  await t.broker.produce('idem-pipelined', 0, batch(0, 2, 0, 777n)); // the producer is known from here on
  const results = await Promise.all([2, 4, 6, 8].map((seq) => t.broker.produce('idem-pipelined', 0, batch(seq, 2, 0, 777n))));
  assert.deepEqual(
    results.map((r) => r.baseOffset),
    [2, 4, 6, 8],
  );
  const retry = await t.broker.produce('idem-pipelined', 0, batch(6, 2, 0, 777n));
  assert.equal(retry.baseOffset, 6, 'a retry of a pipelined batch is still a duplicate');
});

test('a gap in sequence numbers is refused; an older epoch is fenced', async () => {
  await assert.rejects(t.broker.produce('idem', 0, batch(9, 1)), (e) => isBulwarkError(e, 'BWK_ERR_PRODUCER_SEQUENCE') && /sequence 9, expected 5/.test(e.message));
  await t.broker.produce('idem', 0, batch(0, 1, 1)); // a new epoch starts again at 0
  await assert.rejects(t.broker.produce('idem', 0, batch(5, 1, 0)), (e) => isBulwarkError(e, 'BWK_ERR_PRODUCER_FENCED'));
});

test('kafkajs idempotent producer: InitProducerId, sequences, no duplicates', async () => {
  const kafka = new Kafka({ brokers: [t.bootstrap], logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  t.broker.topics.createTopic('idem-kjs', 1);
  for (let i = 0; i < 5; i++) await producer.send({ topic: 'idem-kjs', messages: [{ value: `m${i}` }, { value: `n${i}` }] });
  await producer.disconnect();
  assert.equal(t.broker.topics.partition('idem-kjs', 0)!.nextOffset, 10);
});
