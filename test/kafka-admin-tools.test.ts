// Kafka's own admin tools against a broker with SASL and a policy: kafka-acls.sh
// (org.apache.kafka.tools.AclCommand) lists the policy as Kafka ACL bindings and gets a refusal
// pointing to the custom resources for --add and --remove; kafka-consumer-groups.sh
// (org.apache.kafka.tools.consumer.group.ConsumerGroupCommand) deletes groups and their offsets
// as Kafka does, refusing while a consumer is in the group. The tools are the Java classes from
// the Kafka jars on Maven Central (scripts/kafka-peer.sh resolves them into ~/.cache/bulwark);
// the consumer is kafkajs. The policy is test/fixtures/kafka-admin-policy/policy.yaml.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { startTestBroker, type TestBroker } from './harness/broker.ts';
import { javaArgs, kafkaPeerEnv } from '../tools/kafka/peer-env.ts';

const run = promisify(execFile);
const POLICY_DIR = join(import.meta.dirname, 'fixtures', 'kafka-admin-policy');
const USERS = { admin: 'Admin-Tools-Passw0rd!', viewer: 'Viewer-Tools-Passw0rd!' } as const;
type UserName = keyof typeof USERS;

let t: TestBroker;
let dir: string;
let java: (cls: string, args: string[]) => Promise<{ stdout: string; stderr: string; code: number }>;

/** A tool run as a user: --bootstrap-server and --command-config (SASL/SCRAM-SHA-512) filled in. */
const tool = (cls: string, user: UserName, args: string[]) => java(cls, ['--bootstrap-server', t.bootstrap, '--command-config', join(dir, `${user}.properties`), ...args]);
const acls = (user: UserName, ...args: string[]) => tool('org.apache.kafka.tools.AclCommand', user, args);
const groups = (user: UserName, ...args: string[]) => tool('org.apache.kafka.tools.consumer.group.ConsumerGroupCommand', user, args);

/** kafka-acls.sh --list output as "RESOURCE | principal host operation permission" lines, sorted. */
function bindings(stdout: string): string[] {
  const out: string[] = [];
  let resource = '';
  for (const line of stdout.split('\n')) {
    const r = /^Current ACLs for resource `ResourcePattern\(resourceType=(\w+), name=(.*), patternType=(\w+)\)`:/.exec(line);
    if (r) resource = `${r[1]} ${r[2]} ${r[3]}`;
    const a = /^\s+\(principal=(.*), host=(.*), operation=(\w+), permissionType=(\w+)\)/.exec(line);
    if (a) out.push(`${resource} | ${a[1]} ${a[2]} ${a[3]} ${a[4]}`);
  }
  return out.sort();
}

function kafkajs(user: UserName) {
  return new Kafka({ clientId: `admin-tools-${user}`, brokers: [t.bootstrap], logLevel: logLevel.NOTHING, sasl: { mechanism: 'scram-sha-512', username: user, password: USERS[user] } });
}

/** Consumes `count` records of a topic in a group and commits them; returns the running consumer. */
async function consume(user: UserName, groupId: string, topic: string, count: number): Promise<Consumer> {
  const consumer = kafkajs(user).consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 500 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let seen = 0;
  const done = new Promise<void>((resolve) => {
    void consumer.run({
      autoCommit: false,
      eachMessage: async ({ topic: tp, partition, message }) => {
        await consumer.commitOffsets([{ topic: tp, partition, offset: String(Number(message.offset) + 1) }]);
        if (++seen === count) resolve();
      },
    });
  });
  await done;
  return consumer;
}

describe('Kafka admin tools (kafka-acls.sh, kafka-consumer-groups.sh)', () => {
  before(async () => {
    // Resolves the jars once (~45 MB from Maven Central) into ~/.cache/bulwark/kafka.
    const env = await kafkaPeerEnv();
    java = (cls, args) =>
      run(env.JAVA, javaArgs(env, cls, args), { timeout: 120_000, maxBuffer: 8 << 20 }).then(
        (r) => ({ ...r, code: 0 }),
        (err: { stdout?: string; stderr?: string; code?: number }) => ({ stdout: err.stdout ?? '', stderr: err.stderr ?? '', code: typeof err.code === 'number' ? err.code : -1 }),
      );
    dir = mkdtempSync(join(tmpdir(), 'bulwark-admin-tools-'));
    for (const [user, password] of Object.entries(USERS)) {
      writeFileSync(
        join(dir, `${user}.properties`),
        ['security.protocol=SASL_PLAINTEXT', 'sasl.mechanism=SCRAM-SHA-512', `sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="${user}" password="${password}";`, ''].join('\n'),
      );
    }
    t = await startTestBroker({
      config: {
        kafka: { authentication: ['scram-sha-256', 'scram-sha-512'] },
        http: { enabled: false },
        policy: { dir: POLICY_DIR },
        auth: { rootUser: false },
        groups: { initialRebalanceDelayMs: 0 },
      },
    });
    for (const name of ['orders-1', 'orders-2']) assert.ok(t.broker.topics.createTopic(name, 1).ok);
    const producer = kafkajs('viewer').producer();
    await producer.connect();
    for (const topic of ['orders-1', 'orders-2']) await producer.send({ topic, messages: [{ value: 'a' }, { value: 'b' }, { value: 'c' }] });
    await producer.disconnect();
  }, { timeout: 20 * 60_000 });
  after(async () => {
    await t?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  describe('kafka-acls.sh', () => {
    test('--list shows the policy in force as Kafka ACL bindings: prefixes as PREFIXED, "*" as the literal wildcard, groups, hosts and denials as written', async () => {
      const r = await acls('admin', '--list');
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(bindings(r.stdout), [
        'CLUSTER kafka-cluster LITERAL | User:admin * ALTER ALLOW',
        'CLUSTER kafka-cluster LITERAL | User:admin * DESCRIBE ALLOW',
        'GROUP * LITERAL | User:admin * ALL ALLOW',
        'GROUP orders-app LITERAL | User:viewer * READ ALLOW',
        'TOPIC * LITERAL | User:admin * ALL ALLOW',
        'TOPIC audit LITERAL | Group:ops 10.0.0.0/8 READ ALLOW',
        'TOPIC orders- PREFIXED | User:viewer * READ ALLOW',
        'TOPIC orders- PREFIXED | User:viewer * WRITE ALLOW',
        'TOPIC orders-secret LITERAL | Group:interns * ALL DENY',
      ]);
    });

    test('filters: --topic with --resource-pattern-type match lists every binding that applies to the topic; --principal narrows to one principal', async () => {
      const matching = await acls('admin', '--list', '--topic', 'orders-secret', '--resource-pattern-type', 'match');
      assert.equal(matching.code, 0, matching.stderr);
      assert.deepEqual(bindings(matching.stdout), [
        'TOPIC * LITERAL | User:admin * ALL ALLOW',
        'TOPIC orders- PREFIXED | User:viewer * READ ALLOW',
        'TOPIC orders- PREFIXED | User:viewer * WRITE ALLOW',
        'TOPIC orders-secret LITERAL | Group:interns * ALL DENY',
      ]);
      const literal = await acls('admin', '--list', '--topic', 'orders-secret');
      assert.deepEqual(bindings(literal.stdout), ['TOPIC orders-secret LITERAL | Group:interns * ALL DENY']);
      const viewer = await acls('admin', '--list', '--principal', 'User:viewer');
      assert.equal(viewer.code, 0, viewer.stderr);
      assert.deepEqual(bindings(viewer.stdout), ['GROUP orders-app LITERAL | User:viewer * READ ALLOW', 'TOPIC orders- PREFIXED | User:viewer * READ ALLOW', 'TOPIC orders- PREFIXED | User:viewer * WRITE ALLOW']);
    });

    test('a user who may not describe the cluster cannot read who may do what', async () => {
      const r = await acls('viewer', '--list');
      assert.match(r.stdout + r.stderr, /ClusterAuthorizationException/);
      assert.deepEqual(bindings(r.stdout), []);
    });

    test('--add and --remove are refused with a message pointing to the custom resources, and change nothing', async () => {
      const before = bindings((await acls('admin', '--list')).stdout);
      const add = await acls('admin', '--add', '--allow-principal', 'User:viewer', '--operation', 'Read', '--topic', 'audit');
      assert.match(add.stdout + add.stderr, /PolicyViolationException: CreateAcls refused: Kafka ACLs on this broker are a read-only view of the Bulwark policy\. Grant or revoke access with the custom resources \(Role, the User's spec\.roles, TopicGrant\)/);
      const remove = await acls('admin', '--remove', '--force', '--topic', 'orders-secret');
      assert.match(remove.stdout + remove.stderr, /PolicyViolationException: DeleteAcls refused: .*custom resources/);
      assert.deepEqual(bindings((await acls('admin', '--list')).stdout), before);
      // Without alter on the cluster, only the authorization failure.
      const viewerAdd = await acls('viewer', '--add', '--allow-principal', 'User:viewer', '--operation', 'Read', '--topic', 'audit');
      assert.match(viewerAdd.stdout + viewerAdd.stderr, /ClusterAuthorizationException/);
      assert.doesNotMatch(viewerAdd.stdout + viewerAdd.stderr, /custom resources/);
    });
  });

  describe('kafka-consumer-groups.sh', () => {
    test('--delete refuses a group with a member (NON_EMPTY_GROUP), --delete-offsets refuses its subscribed topic, and both work once it is empty', async () => {
      const consumer = await consume('viewer', 'orders-app', 'orders-1', 3);
      try {
        const busy = await groups('admin', '--delete', '--group', 'orders-app');
        assert.match(busy.stdout + busy.stderr, /GroupNotEmptyException/);
        const subscribed = await groups('admin', '--delete-offsets', '--group', 'orders-app', '--topic', 'orders-1');
        assert.match(subscribed.stdout + subscribed.stderr, /GroupSubscribedToTopicException|consumer group is actively subscribed/i);
        const described = await groups('admin', '--describe', '--group', 'orders-app');
        assert.match(described.stdout, /orders-app\s+orders-1\s+0\s+3\s+3\s+0/, described.stdout + described.stderr);
      } finally {
        await consumer.disconnect();
      }

      // viewer may read the group, not delete it.
      const denied = await groups('viewer', '--delete', '--group', 'orders-app');
      assert.match(denied.stdout + denied.stderr, /GroupAuthorizationException/);

      const offsets = await groups('admin', '--delete-offsets', '--group', 'orders-app', '--topic', 'orders-1');
      assert.equal(offsets.code, 0, offsets.stdout + offsets.stderr);
      assert.match(offsets.stdout, /orders-1\s+0\s+Successful/);
      assert.equal(t.broker.store.offsets.get('orders-app', 'orders-1', 0), undefined, 'the offset is gone');

      // Committed offsets make the group exist while it has no member; deleting it removes them all.
      await (await consume('viewer', 'orders-app', 'orders-1', 3)).disconnect();
      assert.ok(t.broker.store.offsets.forGroup('orders-app').length > 0);
      const deleted = await groups('admin', '--delete', '--group', 'orders-app');
      assert.equal(deleted.code, 0, deleted.stdout + deleted.stderr);
      assert.match(deleted.stdout, /Deletion of requested consumer groups \('orders-app'\) was successful/);
      assert.deepEqual(t.broker.store.offsets.forGroup('orders-app'), []);
      const listed = await groups('admin', '--list');
      assert.doesNotMatch(listed.stdout, /orders-app/);
      const again = await groups('admin', '--delete', '--group', 'orders-app');
      assert.match(again.stdout + again.stderr, /GroupIdNotFoundException/);
    });
  });
});
