// limits.connectionsMaxIdleMs (Kafka's connections.max.idle.ms) on a real broker: a logged-in
// client that goes quiet is disconnected after the idle time, counted and logged, and reconnects
// on its next send; a client that keeps talking is never cut off.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { KafkaErrorCode } from '../src/kafka/error-codes.ts';
import { KafkaWireClient } from '../tools/kafka-wire/client.ts';
import { startTestBroker, type SecureTestBroker } from './harness/broker.ts';
import { kafkajs } from './harness/clients.ts';
import { brokerClusterYaml, roleYaml, userYaml } from './harness/policy.ts';

const IDLE_MS = 1000;
const PASSWORD = 'Idle-Timeout-Pw!58';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let b: SecureTestBroker;
const idleClosed = async () => (await b.broker.metrics.idleConnectionsClosed.get()).values.reduce((n, v) => n + v.value, 0);

describe('idle connections (limits.connectionsMaxIdleMs)', () => {
  before(async () => {
    b = await startTestBroker({
      security: {
        policy: {
          'cluster.yaml': brokerClusterYaml(),
          'roles.yaml': roleYaml('idle-rw', [{ topics: ['idle-*'], actions: ['read', 'write', 'describe'] }]),
          'quiet.yaml': userYaml('quiet', { type: 'scram-sha-256', password: PASSWORD, roles: ['idle-rw'] }),
        },
      },
      config: { limits: { connectionsMaxIdleMs: IDLE_MS } },
    });
    b.broker.topics.createTopic('idle-events', 1);
  });
  after(() => b?.stop());

  test('a logged-in kafkajs producer left quiet is disconnected after the idle time, counted and logged, and reconnects on its next send', async () => {
    const { kafka } = kafkajs(b.bootstrap, { sasl: { mechanism: 'scram-sha-256', username: 'quiet', password: PASSWORD } });
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    const before = await idleClosed();
    await producer.send({ topic: 'idle-events', acks: -1, messages: [{ value: 'first' }] });
    const quietFrom = Date.now();

    const deadline = quietFrom + IDLE_MS * 5;
    while ((await idleClosed()) === before && Date.now() < deadline) await sleep(50);
    const closedAfter = Date.now() - quietFrom;
    assert.ok((await idleClosed()) > before, 'the broker closed the quiet connection');
    assert.ok(closedAfter >= IDLE_MS * 0.9, `closed after ${closedAfter} ms, not before the idle time of ${IDLE_MS} ms`);
    const line = b.logs.find((l) => l.includes('closed an idle connection') && l.includes('"user":"quiet"'));
    assert.ok(line, 'the broker logs which user it disconnected');
    assert.match(line, /"listener":"kafka"/);

    // The client notices on its next request and reconnects by itself: the idle close costs it nothing.
    await producer.send({ topic: 'idle-events', acks: -1, messages: [{ value: 'second' }] });
    await producer.disconnect();
    assert.equal(b.broker.topics.partition('idle-events', 0)?.nextOffset, 2);
  });

  test('a connection that keeps sending requests stays open past the idle time; once it stops, it is closed', async () => {
    const c = await KafkaWireClient.connect(b.port('kafka'));
    assert.equal((await c.scram('SCRAM-SHA-256', 'quiet', PASSWORD)).errorCode, KafkaErrorCode.NONE);
    const started = Date.now();
    let quietFrom = started;
    while (Date.now() - started < IDLE_MS * 3) {
      assert.equal((await c.produce('idle-events', { value: 'tick' })).errorCode, KafkaErrorCode.NONE);
      quietFrom = Date.now();
      await sleep(IDLE_MS / 4);
    }
    assert.equal(c.isClosed, false, 'a busy connection is not idle');
    assert.equal(await c.closesWithin(IDLE_MS * 4), true, 'a quiet one is closed');
    const closedAfter = (await c.closedAt) - quietFrom;
    assert.ok(closedAfter >= IDLE_MS * 0.9, `closed after ${closedAfter} ms`);
  });
});
