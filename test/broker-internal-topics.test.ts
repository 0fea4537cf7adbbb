// Bulwark's own topics and what the audit log says about refusals a user would go looking for.
// - __audit can be read by whoever is granted it (root here), but nobody writes or deletes it,
//   not even a super user: only the broker appends to it.
// - A producer refused at Metadata (kcat asks for the topic before producing) leaves a denial
//   in the audit log, while topics filtered out of an all-topics listing do not.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { KafkaErrorCode } from '../src/kafka/error-codes.ts';
import { ApiKey } from '../src/kafka/index.ts';
import { startTestBroker, type SecureTestBroker } from './harness/broker.ts';
import { kcat, kcatScram } from './harness/clients.ts';
import { KafkaWireClient } from '../tools/kafka-wire/client.ts';
import { brokerClusterYaml, roleYaml, userYaml } from './harness/policy.ts';

const ROOT_PASSWORD = 'Root-Internal-Pw!k7R2';
const APP_PASSWORD = 'Internal-App-Passw0rd!';
let b: SecureTestBroker;

before(async () => {
  b = await startTestBroker({
    security: {
      policy: {
        'cluster.yaml': brokerClusterYaml(),
        'roles.yaml': roleYaml('app-rw', [{ topics: ['app-*'], actions: ['read', 'write', 'describe'] }]),
        'app.yaml': userYaml('app', { type: 'password', password: APP_PASSWORD, roles: ['app-rw'] }),
      },
    },
    env: { BULWARK_ROOT_PASSWORD: ROOT_PASSWORD },
  });
  b.broker.topics.createTopic('secret-plans', 1);
});
after(() => b?.stop());

test('__audit: the root super user reads it, but cannot produce to it or delete it', async () => {
  const root = await KafkaWireClient.connect(b.port('tls'), { tls: { ca: b.pki.ca.certPem } });
  try {
    await root.plain('root', ROOT_PASSWORD);
    const produced = await root.produce('__audit', { value: 'forged event' });
    assert.equal(produced.errorCode, KafkaErrorCode.INVALID_TOPIC_EXCEPTION);
    const deleted = await root.request(ApiKey.DeleteTopics, 1, { topicNames: ['__audit'], timeoutMs: 1000 });
    assert.equal(deleted.responses[0]!.errorCode, KafkaErrorCode.INVALID_TOPIC_EXCEPTION);
    assert.ok(b.broker.topics.topic('__audit'), '__audit still exists');
  } finally {
    root.close();
  }
  // Reading is a matter of grants: root may.
  const read = await kcat(['-b', b.bootstrap, ...kcatScram('SCRAM-SHA-512', 'root', ROOT_PASSWORD), '-C', '-t', '__audit', '-o', 'beginning', '-c', '1', '-e']);
  assert.equal(read.code, 0, read.stderr);
  assert.equal((JSON.parse(read.stdout.trim().split('\n')[0]!) as { type: string }).type, 'policy');
  assert.ok(!read.stdout.includes('forged event'));
});

test('a producer refused at Metadata leaves a denial in the audit log; an all-topics listing filters quietly', async () => {
  const before = (await b.auditEvents()).length;
  const app = await KafkaWireClient.connect(b.port('tls'), { tls: { ca: b.pki.ca.certPem } });
  try {
    await app.plain('app', APP_PASSWORD);
    const all = await app.request(ApiKey.Metadata, 8, { topics: null, allowAutoTopicCreation: false, includeClusterAuthorizedOperations: false, includeTopicAuthorizedOperations: false });
    assert.ok(!all.topics.some((t) => t.name === 'secret-plans'), 'the listing leaves out what app may not describe');
    const named = await app.request(ApiKey.Metadata, 8, { topics: [{ name: 'secret-plans' }], allowAutoTopicCreation: true, includeClusterAuthorizedOperations: false, includeTopicAuthorizedOperations: false });
    assert.equal(named.topics[0]!.errorCode, KafkaErrorCode.TOPIC_AUTHORIZATION_FAILED);
  } finally {
    app.close();
  }
  // Identical denials are held for a second to be coalesced before they are written.
  await new Promise((resolve) => setTimeout(resolve, 1200));
  const denials = (await b.auditEvents())
    .slice(before)
    .filter((e) => e.type === 'authorization' && e.decision === 'deny' && e.user === 'app');
  // Exactly one: describe on the named topic. Neither the listing nor the create alternatives are events.
  assert.deepEqual(
    denials.map((e) => [e.action, e.resourceType, e.resourceName]),
    [['describe', 'topic', 'secret-plans']],
  );
});
