// Errors as clients and operators meet them, over real sockets: an unexpected failure is a coded
// 500 that leaves a log line; a batch a Kafka client compressed is readable over HTTP (gzip) or
// refused with a coded 409 that says what to ask for instead; a batch over the size limit is
// Kafka's MESSAGE_TOO_LARGE.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import kafkajs, { CompressionTypes, Kafka, logLevel, Partitioners } from 'kafkajs';
import { readBatchHeader } from '../src/log/index.ts';
import { startTestBroker, type TestBroker } from './harness/broker.ts';

let t: TestBroker;
const kafka = () => new Kafka({ brokers: [t.bootstrap], clientId: 'bulwark-errors-test', logLevel: logLevel.NOTHING, retry: { retries: 0 } });
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;
const get = async (path: string): Promise<{ status: number; body: Json }> => {
  const res = await fetch(t.http + path);
  const type = res.headers.get('content-type') ?? '';
  return { status: res.status, body: type.includes('json') ? await res.json() : Buffer.from(await res.arrayBuffer()) };
};
const logLines = () => t.logs.flatMap((l) => l.split('\n')).filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, Json>);

async function produce(topic: string, compression: CompressionTypes, values: string[]): Promise<void> {
  const producer = kafka().producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: true });
  await producer.connect();
  try {
    await producer.send({ topic, compression, messages: values.map((value) => ({ value, partition: 0 })) });
  } finally {
    await producer.disconnect();
  }
}

describe('errors on the wire and in the log', () => {
  before(async () => {
    t = await startTestBroker({ config: { topics: { autoCreate: true } } });
  });
  after(async () => {
    await t?.stop();
  });

  test('an unexpected error is a 500 BWK_ERR_INTERNAL that leaves a log line with the request id and route, and no secret', async () => {
    const topics = t.broker.topics;
    const original = topics.topic.bind(topics);
    topics.topic = (name: string) => {
      if (name === 'boom') throw new Error('disk on fire; password=hunter2 Bearer bwk_abc123');
      return original(name);
    };
    try {
      const r = await get('/v1/topics/boom');
      assert.equal(r.status, 500);
      assert.deepEqual(r.body, { code: 'BWK_ERR_INTERNAL', message: 'internal error' });
    } finally {
      topics.topic = original;
    }
    const line = logLines().find((l) => l.msg === 'request failed');
    assert.ok(line, t.logs.join(''));
    assert.equal(line.level, 50);
    assert.equal(line.component, 'http');
    assert.equal(line.route, '/v1/topics/:topic');
    assert.equal(line.method, 'GET');
    assert.ok(line.reqId);
    assert.match(line.err.message, /disk on fire/);
    const text = t.logs.join('');
    for (const secret of ['hunter2', 'bwk_abc123']) assert.ok(!text.includes(secret), `${secret} reached the log`);
  });

  test('records a Kafka client produced with gzip are shown as JSON over HTTP', async () => {
    await produce('gzipped', CompressionTypes.GZIP, ['one', 'two', 'three']);
    const r = await get('/v1/topics/gzipped/partitions/0/records?offset=0');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(
      r.body.records.map((x: Json) => x.value),
      ['one', 'two', 'three'],
    );
  });

  test('a batch compressed with a codec the broker does not decode: 409 BWK_ERR_LOG_RECORDS_UNDECODABLE as JSON, the raw batch as binary', async () => {
    // A stand-in snappy codec (kafkajs ships none): the batch says snappy, which is all that matters here.
    kafkajs.CompressionCodecs[CompressionTypes.Snappy] = () => ({ compress: async (encoder: { buffer: Buffer }) => encoder.buffer, decompress: async (buffer: Buffer) => buffer });
    await produce('snappy', CompressionTypes.Snappy, ['a', 'b']);
    const before = logLines().filter((l) => l.level >= 50).length;
    const json = await get('/v1/topics/snappy/partitions/0/records?offset=0');
    assert.equal(json.status, 409, JSON.stringify(json.body));
    assert.equal(json.body.code, 'BWK_ERR_LOG_RECORDS_UNDECODABLE');
    assert.match(json.body.message, /snappy.*format=binary/);
    assert.equal(logLines().filter((l) => l.level >= 50).length, before, 'a coded refusal is not logged as an error');
    const raw = await get('/v1/topics/snappy/partitions/0/records?offset=0&format=binary');
    assert.equal(raw.status, 200);
    assert.equal(readBatchHeader(raw.body as Buffer).attributes & 0x07, 2);
  });

  test("a batch over the topic's max.message.bytes is Kafka's MESSAGE_TOO_LARGE, not CORRUPT_MESSAGE", async () => {
    const created = await fetch(`${t.http}/v1/topics`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'small', config: { 'max.message.bytes': '1024' } }) });
    assert.equal(created.status, 201, await created.text());
    await assert.rejects(produce('small', CompressionTypes.None, ['x'.repeat(4096)]), (err: Json) => {
      const causes = [err, ...(err.errors ?? []), err.originalError].filter(Boolean);
      return causes.some((e: Json) => e.type === 'MESSAGE_TOO_LARGE');
    });
  });
});
