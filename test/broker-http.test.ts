// The broker's HTTP API over real sockets: health, metrics, topics, REST produce and consume.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startBroker, type Broker } from '../src/broker/index.ts';
import { loadBrokerConfig } from '../src/config/index.ts';
import { createLogger } from '../src/lib/index.ts';
import { decodeRecords } from '../src/log/index.ts';
import { OPEN_POLICY_DIR } from './harness/broker.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'bulwark-http-'));
let broker: Broker;
let base: string;
const start = async () => {
  broker = await startBroker(loadBrokerConfig({ overrides: { dataDir, http: { port: 0, authentication: ['anonymous'] }, metrics: { port: 0 }, kafka: { port: 0 }, policy: { dir: OPEN_POLICY_DIR } } }), { logger: createLogger({ level: 'silent' }) });
  base = `http://127.0.0.1:${broker.httpPort}`;
};
// Responses are checked field by field below; `any` keeps those checks readable.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;
const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: Json }> => {
  const isBuffer = Buffer.isBuffer(body);
  const res = await fetch(base + path, {
    method,
    headers: body === undefined ? headers : { 'content-type': isBuffer ? 'application/octet-stream' : 'application/json', ...headers },
    body: body === undefined ? undefined : isBuffer ? body : JSON.stringify(body),
  });
  const type = res.headers.get('content-type') ?? '';
  return { status: res.status, headers: res.headers, body: type.includes('json') ? await res.json() : Buffer.from(await res.arrayBuffer()) };
};

describe('HTTP API', () => {
  before(start);
  after(async () => {
    await broker?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('health and readiness', async () => {
    assert.deepEqual((await call('GET', '/healthz')).body, { status: 'ok' });
    const ready = await call('GET', '/readyz');
    assert.equal(ready.status, 200);
  });

  test('create, list, describe a topic; clear errors for bad ones', async () => {
    const created = await call('POST', '/v1/topics', { name: 'orders', partitions: 3, config: { 'retention.ms': '3600000' } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal((await call('POST', '/v1/topics', { name: 'orders' })).status, 409);
    const bad = await call('POST', '/v1/topics', { name: 'bad name' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.code, 'BWK_ERR_TOPIC_INVALID');
    const badConfig = await call('POST', '/v1/topics', { name: 'x', config: { 'cleanup.policy': 'compact' } });
    assert.match(badConfig.body.message, /unknown config cleanup\.policy/);
    const badBody = await call('POST', '/v1/topics', { name: 'x', partitions: 'many' });
    assert.equal(badBody.body.code, 'BWK_ERR_HTTP_BODY_INVALID');
    assert.match(badBody.body.message, /body\.partitions/);
    assert.deepEqual((await call('GET', '/v1/topics')).body, { topics: [{ name: 'orders', partitions: 3 }] });
    const described = await call('GET', '/v1/topics/orders');
    assert.equal(described.body.partitions.length, 3);
    assert.equal((await call('GET', '/v1/topics/nope')).status, 404);
  });

  test('produce JSON and consume it back, as JSON and as raw record batches', async () => {
    const produced = await call('POST', '/v1/topics/orders/records', {
      partition: 1,
      records: [
        { key: 'a', value: 'first', headers: { trace: 't1' } },
        { key: null, value: 'second' },
      ],
    });
    assert.equal(produced.status, 200, JSON.stringify(produced.body));
    assert.deepEqual(produced.body.offsets, [{ partition: 1, baseOffset: 0, lastOffset: 1 }]);
    const consumed = await call('GET', '/v1/topics/orders/partitions/1/records?offset=0');
    assert.deepEqual(
      consumed.body.records.map((r: { offset: number; key: string; value: string; headers: object }) => [r.offset, r.key, r.value, r.headers]),
      [
        [0, 'a', 'first', { trace: 't1' }],
        [1, null, 'second', {}],
      ],
    );
    assert.equal(consumed.body.nextOffset, 2);
    const fromOne = await call('GET', '/v1/topics/orders/partitions/1/records?offset=1');
    assert.deepEqual(fromOne.body.records.map((r: { value: string }) => r.value), ['second']);
    const raw = await call('GET', '/v1/topics/orders/partitions/1/records?offset=0&format=binary');
    assert.equal(raw.headers.get('content-type'), 'application/vnd.kafka.record-batch.v2');
    assert.equal(raw.headers.get('x-bulwark-next-offset'), '2');
    assert.deepEqual(decodeRecords(raw.body as Buffer).map((r) => r.value?.toString()), ['first', 'second']);
  });

  test('binary produce: the body is the value, base64 for JSON bytes', async () => {
    const bytes = Buffer.from([0, 1, 2, 255]);
    const r = await call('POST', '/v1/topics/orders/records?partition=2', bytes, { 'x-bulwark-key': 'k' });
    assert.deepEqual(r.body.offsets, [{ partition: 2, baseOffset: 0, lastOffset: 0 }]);
    const back = await call('GET', '/v1/topics/orders/partitions/2/records?encoding=base64');
    assert.equal(Buffer.from(back.body.records[0].value, 'base64').equals(bytes), true);
    assert.equal(back.body.records[0].key, Buffer.from('k').toString('base64'));
  });

  test('consume errors: past the end, missing partition', async () => {
    assert.equal((await call('GET', '/v1/topics/orders/partitions/1/records?offset=99')).status, 416);
    assert.equal((await call('GET', '/v1/topics/orders/partitions/7/records')).body.code, 'BWK_ERR_PARTITION_NOT_FOUND');
    assert.equal((await call('GET', '/v1/topics/orders/partitions/1/records?maxBytes=0')).body.code, 'BWK_ERR_HTTP_BODY_INVALID');
  });

  test('long poll: a consume waiting at the end gets the next record', async () => {
    const waiting = call('GET', '/v1/topics/orders/partitions/0/records?offset=0&waitMs=5000');
    await new Promise((r) => setTimeout(r, 100));
    await call('POST', '/v1/topics/orders/records', { partition: 0, records: [{ value: 'late' }] });
    const r = await waiting;
    assert.deepEqual(r.body.records.map((x: { value: string }) => x.value), ['late']);
  });

  test('metrics count what was produced (on the metrics listener; the API\'s /metrics needs describe on the cluster); OpenAPI describes the API', async () => {
    const metrics = await (await fetch(`http://127.0.0.1:${broker.listenerPort('metrics')}/metrics`)).text();
    assert.match(metrics, /bulwark_produced_records_total\{topic="orders"\} 4/);
    assert.match(metrics, /bulwark_process_/);
    // The open policy grants anonymous every topic, not the cluster.
    assert.equal((await call('GET', '/metrics')).status, 403);
    const doc = (await call('GET', '/openapi.json')).body;
    assert.equal(doc.openapi, '3.0.3');
    assert.ok(doc.paths['/v1/topics/{topic}/records'].post.requestBody.content['application/json'].schema.properties.records);
  });

  test('topics and records survive a restart; deleting a topic removes it', async () => {
    await broker.stop();
    await start();
    const consumed = await call('GET', '/v1/topics/orders/partitions/1/records');
    assert.equal(consumed.body.records.length, 2);
    assert.equal((await call('DELETE', '/v1/topics/orders')).status, 204);
    assert.equal((await call('GET', '/v1/topics/orders')).status, 404);
  });
});
