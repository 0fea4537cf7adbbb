// Revocation, as an operator does it: delete the AccessToken (or the User) from the policy
// directory, and the clients logged in with it are disconnected within a second of the file
// change (the directory's 100 ms debounce included), and cannot log in again. Take a grant away,
// and the very next request of an open session is refused, on the same connection.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Consumer } from 'kafkajs';
import { KafkaErrorCode } from '../src/kafka/error-codes.ts';
import { ApiKey } from '../src/kafka/index.ts';
import { generateToken } from '../src/policy/credentials.ts';
import { startTestBroker, type SecureTestBroker } from './harness/broker.ts';
import { kafkajs, type KafkajsLog } from './harness/clients.ts';
import { KafkaWireClient } from '../tools/kafka-wire/client.ts';
import { accessTokenYaml, brokerClusterYaml, roleYaml, topicGrantYaml, userYaml } from './harness/policy.ts';

const TOKEN = generateToken();
const SVC_PASSWORD = 'Revoked-Service-Pw!31';
const CAROL_PASSWORD = 'Grant-Removal-Pw!47';
const BUDGET_MS = 1000;

let b: SecureTestBroker;

/** The first time kafkajs logged that the broker closed one of its connections, at or after `since`. */
function kafkajsSawClose(logs: KafkajsLog[], since: number): number | undefined {
  return logs.find((l) => l.at >= since && /Kafka server has closed connection/.test(l.message))?.at;
}

/** What the broker's /metrics says about open connections on a listener. */
async function openConnections(listener: string): Promise<number> {
  return (await b.broker.metrics.connections.get()).values.find((v) => v.labels.listener === listener)?.value ?? 0;
}

async function until<T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A kafkajs consumer in a group, running until it has read `count` records. */
async function runningConsumer(consumer: Consumer, topic: string, count: number): Promise<{ crashes: Error[] }> {
  const crashes: Error[] = [];
  consumer.on(consumer.events.CRASH, (e) => void crashes.push(e.payload.error));
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let seen = 0;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`consumer read ${seen} of ${count} records in 20 s`)), 20_000);
    void consumer.run({
      eachMessage: async () => {
        if (++seen === count) {
          clearTimeout(timer);
          resolve();
        }
      },
    });
  });
  return { crashes };
}

describe('revocation', () => {
  before(async () => {
    b = await startTestBroker({
      security: {
        policy: {
          'cluster.yaml': brokerClusterYaml(),
          'roles.yaml': roleYaml('app-rw', [
            { topics: ['rev-*'], actions: ['read', 'write'] },
            { groups: ['rev-*'], actions: ['read'] },
          ]),
          'reporter.yaml': userYaml('reporter', { type: 'tls', roles: ['app-rw'] }),
          'reporter-token.yaml': accessTokenYaml('reporter-ci', 'reporter', TOKEN),
          'svc.yaml': userYaml('svc', { type: 'scram-sha-256', password: SVC_PASSWORD, roles: ['app-rw'] }),
          'carol.yaml': userYaml('carol', { type: 'scram-sha-512', password: CAROL_PASSWORD }),
          'carol-grant.yaml': topicGrantYaml('carol-orders', { users: ['carol'], topics: ['rev-orders'], actions: ['write'] }),
        },
      },
    });
    for (const topic of ['rev-reports', 'rev-svc', 'rev-orders']) b.broker.topics.createTopic(topic, 1);
  });
  after(() => b?.stop());

  test('deleting an AccessToken from the policy directory disconnects its clients within 1 s of the file change', async (t) => {
    const tls = { ca: [b.pki.ca.certPem], servername: 'localhost' };
    const sasl = { mechanism: 'plain' as const, username: 'token', password: TOKEN };
    // The application: a kafkajs producer and a consumer group member, logged in with the token.
    const { kafka, logs } = kafkajs(b.address('tls'), { sasl, ssl: tls, retries: 1 });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: 'rev-reports', messages: [{ value: 'report 1' }, { value: 'report 2' }] });
    await producer.disconnect();
    const consumer = kafka.consumer({ groupId: 'rev-reporters', sessionTimeout: 6000, heartbeatInterval: 200, retry: { retries: 1 } });
    // And a raw connection logged in with the same token, which shows exactly when the broker closes it.
    const raw = await KafkaWireClient.connect(b.port('tls'), { tls: { ca: b.pki.ca.certPem } });
    try {
      const { crashes } = await runningConsumer(consumer, 'rev-reports', 2);
      assert.equal((await raw.plain('token', TOKEN)).errorCode, KafkaErrorCode.NONE);
      assert.equal((await raw.produce('rev-reports', { value: 'report 3' })).errorCode, KafkaErrorCode.NONE);

      const changed = Date.now();
      b.policy.remove('reporter-token.yaml');
      const rawClosed = (await Promise.race([raw.closedAt, new Promise<number>((r) => setTimeout(() => r(Infinity), 5000))])) - changed;
      const kafkajsClosed = (await until('kafkajs to see its connection closed', () => kafkajsSawClose(logs, changed))) - changed;
      t.diagnostic(`raw connection closed ${rawClosed} ms, kafkajs connection closed ${kafkajsClosed} ms after the file was deleted (debounce ${b.broker.config.policy.reloadDebounceMs} ms)`);
      assert.ok(rawClosed < BUDGET_MS, `raw connection closed after ${rawClosed} ms`);
      assert.ok(kafkajsClosed < BUDGET_MS, `kafkajs connection closed after ${kafkajsClosed} ms`);

      // The token no longer logs in: the consumer's reconnection fails with an authentication error.
      const crash = await until('the consumer to give up', () => crashes[0], 15_000);
      assert.match(crash.message, /SASL PLAIN authentication failed: Authentication failed/);
      const again = await KafkaWireClient.connect(b.port('tls'), { tls: { ca: b.pki.ca.certPem } });
      assert.equal((await again.plain('token', TOKEN)).errorCode, KafkaErrorCode.SASL_AUTHENTICATION_FAILED);
      again.close();

      const closes = (await b.auditEvents()).filter((e) => e.type === 'connection');
      assert.ok(closes.some((e) => e.reason === 'TokenRevoked' && e.user === 'reporter' && e.tokenId === 'reporter-ci'), JSON.stringify(closes));
    } finally {
      raw.close();
      await consumer.disconnect();
    }
  });

  test('deleting a User from the policy directory disconnects its clients within 1 s of the file change', async (t) => {
    const { kafka, logs } = kafkajs(b.address('kafka'), { sasl: { mechanism: 'scram-sha-256', username: 'svc', password: SVC_PASSWORD }, retries: 0 });
    const producer = kafka.producer();
    await producer.connect();
    const raw = await KafkaWireClient.connect(b.port('tls'), { tls: { ca: b.pki.ca.certPem } });
    try {
      await producer.send({ topic: 'rev-svc', messages: [{ value: 'before' }] });
      assert.equal((await raw.plain('svc', SVC_PASSWORD)).errorCode, KafkaErrorCode.NONE);

      const changed = Date.now();
      b.policy.remove('svc.yaml');
      const rawClosed = (await Promise.race([raw.closedAt, new Promise<number>((r) => setTimeout(() => r(Infinity), 5000))])) - changed;
      const kafkajsClosed = (await until('kafkajs to see its connection closed', () => kafkajsSawClose(logs, changed))) - changed;
      t.diagnostic(`raw connection closed ${rawClosed} ms, kafkajs connection closed ${kafkajsClosed} ms after the file was deleted`);
      assert.ok(rawClosed < BUDGET_MS, `raw connection closed after ${rawClosed} ms`);
      assert.ok(kafkajsClosed < BUDGET_MS, `kafkajs connection closed after ${kafkajsClosed} ms`);

      await assert.rejects(producer.send({ topic: 'rev-svc', messages: [{ value: 'after' }] }), (e: Error) => /authentication failed/i.test(e.message) || e.name === 'KafkaJSSASLAuthenticationError' || /closed/i.test(e.message));
      assert.equal(b.broker.topics.partition('rev-svc', 0)!.nextOffset, 1, 'nothing was written after the user was deleted');
      const closes = (await b.auditEvents()).filter((e) => e.type === 'connection');
      assert.ok(closes.some((e) => e.reason === 'UserDeleted' && e.user === 'svc'), JSON.stringify(closes));
    } finally {
      raw.close();
      await producer.disconnect();
    }
    // kafkajs retried on the same connection after its failed login; the broker still closes its side.
    await until('the broker to have no connection open on the SCRAM listener', async () => ((await openConnections('kafka')) === 0 ? true : undefined));
  });

  test('removing a grant takes effect on the open session at once: the next request is denied, on the same connection', async () => {
    const raw = await KafkaWireClient.connect(b.port('tls'), { tls: { ca: b.pki.ca.certPem } });
    try {
      assert.equal((await raw.plain('carol', CAROL_PASSWORD)).errorCode, KafkaErrorCode.NONE);
      assert.equal((await raw.produce('rev-orders', { value: 'order 1' })).errorCode, KafkaErrorCode.NONE);

      const version = b.broker.policy.applied.version;
      b.policy.remove('carol-grant.yaml');
      await b.policyAfter(version);

      const denied = await raw.produce('rev-orders', { value: 'order 2' });
      assert.equal(denied.errorCode, KafkaErrorCode.TOPIC_AUTHORIZATION_FAILED);
      assert.equal(raw.isClosed, false, 'carol is still a user: her connection stays open');
      // Metadata on the same connection no longer lists the topic, and the answer came on the same socket.
      const meta = await raw.request(ApiKey.Metadata, 1, { topics: null });
      assert.deepEqual(meta.topics.map((x) => x.name), []);
      assert.equal(b.broker.topics.partition('rev-orders', 0)!.nextOffset, 1, 'the denied record was not written');

      // Give the grant back: allowed again, still without reconnecting.
      const v2 = b.broker.policy.applied.version;
      b.policy.write('carol-grant.yaml', topicGrantYaml('carol-orders', { users: ['carol'], topics: ['rev-orders'], actions: ['write'] }));
      await b.policyAfter(v2);
      assert.equal((await raw.produce('rev-orders', { value: 'order 3' })).errorCode, KafkaErrorCode.NONE);

      await new Promise((r) => setTimeout(r, 1100)); // identical denials are coalesced for a second
      const denials = (await b.auditEvents()).filter((e) => e.type === 'authorization' && e.decision === 'deny' && e.user === 'carol');
      assert.ok(denials.some((e) => e.action === 'write' && e.resourceName === 'rev-orders'), JSON.stringify(denials));
    } finally {
      raw.close();
    }
  });
});
