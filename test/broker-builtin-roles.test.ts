// The built-in roles with real clients on a real broker in local mode: TopicGrants naming
// `producer`, `consumer`, `reader` and `admin` and no Role resource in the policy directory, and
// kafkajs and kcat doing what an application with that role does, and being refused the rest.
// What each role compiles to, rule by rule: builtin-roles.test.ts.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { startTestBroker, type SecureTestBroker } from './harness/broker.ts';
import { kafkajsConsume, kafkajsProduce, kcat, kcatScram } from './harness/clients.ts';
import { brokerClusterYaml, topicGrantYaml, userYaml } from './harness/policy.ts';

const PASSWORDS = { prod: 'Builtin-Producer-Pw1!', cons: 'Builtin-Consumer-Pw2!', look: 'Builtin-Reader-Pw3!', boss: 'Builtin-Admin-Pw4!' };
type Name = keyof typeof PASSWORDS;
const TOPIC = 'br-orders';

let b: SecureTestBroker;
const kcatAs = (user: Name) => ['-b', b.address('kafka'), ...kcatScram('SCRAM-SHA-256', user, PASSWORDS[user])];

/** kafkajs as a user; `errors` collects the types of the broker errors it logs while handling them itself. */
function kafkaAs(user: Name, errors: string[] = []): Kafka {
  return new Kafka({
    brokers: [b.address('kafka')],
    clientId: `builtin-${user}`,
    sasl: { mechanism: 'scram-sha-256', username: user, password: PASSWORDS[user] },
    retry: { retries: 0 },
    logLevel: logLevel.DEBUG,
    logCreator: () => (entry) => void errors.push(...errorTypes(entry.log.error)),
  });
}

/** The kafkajs error types (GROUP_AUTHORIZATION_FAILED…) in an error and the errors it wraps. */
function errorTypes(err: unknown, depth = 0): string[] {
  if (!err || typeof err !== 'object' || depth > 5) return [];
  const x = err as { type?: unknown; cause?: unknown; originalError?: unknown; errors?: unknown };
  return [
    ...(typeof x.type === 'string' ? [x.type] : []),
    ...errorTypes(x.cause, depth + 1),
    ...errorTypes(x.originalError, depth + 1),
    ...(Array.isArray(x.errors) ? x.errors.flatMap((e) => errorTypes(e, depth + 1)) : []),
  ];
}

/** A kafkajs group consumer that is expected to fail: the error types it crashed with or logged. */
async function refusedGroupConsumer(user: Name, groupId: string): Promise<string[]> {
  const errors: string[] = [];
  const consumer = kafkaAs(user, errors).consumer({ groupId, sessionTimeout: 6000, retry: { retries: 0, restartOnFailure: async () => false } });
  const crashed = new Promise<Error>((resolve) => consumer.on(consumer.events.CRASH, (e) => resolve(e.payload.error)));
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [TOPIC], fromBeginning: true });
    await consumer.run({ eachMessage: async () => assert.fail(`${user} consumed in ${groupId}`) });
    const crash = await Promise.race([crashed, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${user}'s consumer in ${groupId} did not fail in 15 s`)), 15_000))]);
    return [...errorTypes(crash), ...errors];
  } finally {
    await consumer.disconnect();
  }
}

const kcatConsume = (user: Name, extra: string[] = []) => kcat([...kcatAs(user), '-C', '-t', TOPIC, '-o', 'beginning', '-e', '-f', '%s\\n', ...extra]);
const lines = (text: string) => text.split('\n').filter((l) => l !== '');

describe('built-in roles with kafkajs and kcat', () => {
  before(async () => {
    await promisify(execFile)('kcat', ['-V']);
    b = await startTestBroker({
      security: {
        policy: {
          'cluster.yaml': brokerClusterYaml(),
          // Users with no roles of their own: everything they get is a TopicGrant naming a built-in role.
          'users.yaml': (Object.keys(PASSWORDS) as Name[]).map((u) => userYaml(u, { type: 'scram-sha-256', password: PASSWORDS[u] })).join('---\n'),
          'grants.yaml': [
            topicGrantYaml('prod-orders', { users: ['prod'], topics: [TOPIC], role: 'producer' }),
            topicGrantYaml('cons-orders', { users: ['cons'], topics: [TOPIC], consumerGroups: ['br-app-*'], role: 'consumer' }),
            topicGrantYaml('look-orders', { users: ['look'], topics: [TOPIC], consumerGroups: ['br-app-*'], role: 'reader' }),
            topicGrantYaml('boss-scratch', { users: ['boss'], topics: ['br-scratch-*'], role: 'admin' }),
          ].join('---\n'),
        },
      },
    });
    b.broker.topics.createTopic(TOPIC, 1);
  });
  after(() => b?.stop());

  test('the policy directory holds no Role, and every grant compiled: the broker enforces them', () => {
    const sources = new Set(b.broker.policy.snapshot.rules.map((r) => r.source).filter((source) => source.startsWith('TopicGrant/')));
    assert.deepEqual([...sources].sort(), [
      'TopicGrant/boss-scratch via built-in role admin',
      'TopicGrant/cons-orders via built-in role consumer',
      'TopicGrant/look-orders via built-in role reader',
      'TopicGrant/prod-orders via built-in role producer',
    ]);
  });

  test('producer: kafkajs (idempotent) and kcat produce; neither consumes, alone or in a group', async () => {
    const producer = kafkaAs('prod').producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, retry: { retries: 3 } });
    await producer.connect();
    try {
      const sent = await producer.send({ topic: TOPIC, acks: -1, messages: [{ value: 'js-1' }, { value: 'js-2' }] });
      assert.equal(sent[0]!.errorCode, 0);
    } finally {
      await producer.disconnect();
    }
    const produced = await kcat([...kcatAs('prod'), '-P', '-t', TOPIC], { input: 'kcat-1\n' });
    assert.equal(produced.code, 0, produced.stderr);
    assert.equal(b.broker.topics.partition(TOPIC, 0)!.nextOffset, 3);

    const consumed = await kcatConsume('prod');
    assert.notEqual(consumed.code, 0);
    assert.match(consumed.stderr, /Topic authorization failed|not authorized/i);
    assert.equal(consumed.stdout, '');
    const errors = await refusedGroupConsumer('prod', 'br-app-prod');
    assert.ok(errors.includes('GROUP_AUTHORIZATION_FAILED'), JSON.stringify(errors));
  });

  test('consumer: kafkajs and kcat consume in groups the grant names and commit offsets; producing, and other groups, are refused', async () => {
    const seen = await kafkajsConsume(kafkaAs('cons'), TOPIC, 'br-app-js', (s) => s.length >= 3);
    assert.deepEqual(seen, ['js-1', 'js-2', 'kcat-1']);
    // kcat's balanced consumer (-G): FindCoordinator, JoinGroup, SyncGroup, OffsetFetch, Fetch, OffsetCommit.
    const inGroup = await kcat([...kcatAs('cons'), '-G', 'br-app-kcat', '-X', 'auto.offset.reset=earliest', '-e', '-f', '%s\\n', TOPIC]);
    assert.equal(inGroup.code, 0, inGroup.stderr);
    assert.deepEqual(lines(inGroup.stdout), ['js-1', 'js-2', 'kcat-1']);

    const produced = await kcat([...kcatAs('cons'), '-P', '-t', TOPIC], { input: 'nope\n' });
    assert.notEqual(produced.code, 0);
    assert.match(produced.stderr, /Topic authorization failed|not authorized/i);
    await assert.rejects(kafkajsProduce(kafkaAs('cons'), TOPIC, ['nope']), (err) => errorTypes(err).includes('TOPIC_AUTHORIZATION_FAILED'));
    const elsewhere = await refusedGroupConsumer('cons', 'other-app');
    assert.ok(elsewhere.includes('GROUP_AUTHORIZATION_FAILED'), JSON.stringify(elsewhere));
    assert.equal(b.broker.topics.partition(TOPIC, 0)!.nextOffset, 3, 'nothing was written');
  });

  test('reader: reads records (kcat) and configs and describes groups (kafkajs admin); joining a group and producing are refused', async () => {
    const consumed = await kcatConsume('look');
    assert.equal(consumed.code, 0, consumed.stderr);
    assert.deepEqual(lines(consumed.stdout), ['js-1', 'js-2', 'kcat-1']);

    const admin = kafkaAs('look').admin();
    await admin.connect();
    try {
      const configs = await admin.describeConfigs({ resources: [{ type: 2, name: TOPIC }], includeSynonyms: false });
      assert.equal(configs.resources[0]!.errorCode, 0);
      assert.ok(configs.resources[0]!.configEntries.some((c) => c.configName === 'retention.ms'));
      const groups = await admin.describeGroups(['br-app-js']);
      assert.equal(groups.groups[0]!.groupId, 'br-app-js');
      const offsets = await admin.fetchOffsets({ groupId: 'br-app-js', topics: [TOPIC] });
      assert.equal(offsets[0]!.partitions[0]!.offset, '3', 'the group\'s committed offset, as kafka-consumer-groups.sh --describe shows it');
    } finally {
      await admin.disconnect();
    }

    const errors = await refusedGroupConsumer('look', 'br-app-look');
    assert.ok(errors.includes('GROUP_AUTHORIZATION_FAILED'), JSON.stringify(errors));
    const produced = await kcat([...kcatAs('look'), '-P', '-t', TOPIC], { input: 'nope\n' });
    assert.notEqual(produced.code, 0);
    assert.match(produced.stderr, /Topic authorization failed|not authorized/i);
  });

  test('admin: creates, writes and deletes topics the grant names (kafkajs admin), and nothing outside them', async () => {
    const admin = kafkaAs('boss').admin();
    await admin.connect();
    try {
      assert.equal(await admin.createTopics({ topics: [{ topic: 'br-scratch-1' }] }), true);
      await kafkajsProduce(kafkaAs('boss'), 'br-scratch-1', ['scratch']);
      await admin.deleteTopics({ topics: ['br-scratch-1'] });
      assert.equal(b.broker.topics.topic('br-scratch-1'), undefined);
      await assert.rejects(admin.createTopics({ topics: [{ topic: 'br-elsewhere' }] }), (err) => errorTypes(err).includes('TOPIC_AUTHORIZATION_FAILED'));
      assert.equal(b.broker.topics.topic('br-elsewhere'), undefined);
    } finally {
      await admin.disconnect();
    }
    const consumed = await kcatConsume('boss');
    assert.notEqual(consumed.code, 0, 'admin in a grant is admin of its topics only');
  });
});
