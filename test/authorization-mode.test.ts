// BrokerCluster spec.authorization.mode: authenticatedFullAccess (SwiftMQ's password-check-only
// mode). What an admin checks: with it on, a user with no grant at all produces and consumes with
// real clients, while Deny grants, token scopes, disabled users and anonymous clients are still
// refused; the broker says so in its log at start and at every policy applied, in a metric, and
// in the audit event of each request it allowed; `bulwark policy check` warns. Off (the default),
// the same user is denied. The operator's condition AuthorizationOpen is in
// test/operator-access.test.ts.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { Action, ResourceType } from '../src/api/index.ts';
import { buildAuthorizer, compilePolicy, openAuthorization, Reason, type PolicySnapshot } from '../src/policy/index.ts';
import { startTestBroker, type SecureTestBroker } from './harness/broker.ts';
import { kafkajs, kafkajsRoundTrip, kcat, kcatRoundTrip, kcatScram } from './harness/clients.ts';
import { brokerClusterYaml, CLUSTER, topicGrantYaml, userYaml } from './harness/policy.ts';
import { CLUSTER as RES_CLUSTER, grant, NS, resource, role, user } from './harness/resources.ts';

const root = join(import.meta.dirname, '..');
const SOURCE = `BrokerCluster/${CLUSTER} spec.authorization.mode: authenticatedFullAccess`;

describe('the compiled mode', () => {
  const cluster = (mode?: string) => resource('BrokerCluster', RES_CLUSTER, { replicas: 1, storage: { size: '1Gi' }, listeners: [{ name: 'kafka', protocol: 'kafka', port: 9092 }], authentication: { allowAnonymous: true }, ...(mode ? { authorization: { mode } } : {}) });
  const compile = (mode?: string) =>
    compilePolicy({
      cluster: { namespace: NS, name: RES_CLUSTER },
      resources: [
        cluster(mode),
        user('nobody'),
        user('off', { disabled: true }),
        user('denied'),
        grant('no-secrets', { subjects: [{ kind: 'User', name: 'denied' }], topics: ['secret-*'], actions: ['all'], effect: 'Deny' }),
        role('reader', [{ resources: [{ type: 'topic', pattern: 'public-*' }], actions: ['read'] }]),
        resource('AccessToken', 'narrow', { clusterRef: { name: RES_CLUSTER }, userRef: { name: 'nobody' }, roles: ['reader'] }),
      ],
      credentials: { tokens: new Map([['narrow', { sha256: 'a'.repeat(64) }]]) },
    }).snapshot;
  const ask = (s: PolicySnapshot, user: string, action: Action, type: ResourceType, name: string, tokenId?: string) =>
    buildAuthorizer(s).authorize({ principal: { user, ...(tokenId ? { tokenId } : {}) }, action, resource: { type, name } });

  test('on: every authenticated user may do everything, and the decision names the mode', () => {
    const s = compile('authenticatedFullAccess');
    assert.deepEqual(openAuthorization(s), { mode: 'authenticatedFullAccess', sources: [`BrokerCluster/${RES_CLUSTER} spec.authorization.mode: authenticatedFullAccess`] });
    for (const [type, name, action] of [['topic', 'orders', 'write'], ['group', 'g1', 'read'], ['cluster', 'kafka-cluster', 'alter'], ['transactionalId', 'tx', 'write'], ['user', 'alice', 'create'], ['accessToken', 't', 'delete']] as const) {
      const d = ask(s, 'nobody', action, type, name);
      assert.equal(d.allowed, true, `${action} on ${type}`);
      assert.equal(d.rule?.source, `BrokerCluster/${RES_CLUSTER} spec.authorization.mode: authenticatedFullAccess`);
    }
  });

  test('on: Deny grants, token scopes, disabled users and anonymous clients still refuse', () => {
    const s = compile('authenticatedFullAccess');
    assert.equal(ask(s, 'denied', 'write', 'topic', 'secret-plans').reason, Reason.DeniedByRule);
    assert.equal(ask(s, 'denied', 'write', 'topic', 'orders').allowed, true);
    assert.equal(ask(s, 'nobody', 'write', 'topic', 'public-news', 'narrow').reason, Reason.OutsideTokenScope);
    assert.equal(ask(s, 'nobody', 'read', 'topic', 'public-news', 'narrow').allowed, true);
    assert.equal(ask(s, 'off', 'read', 'topic', 'orders').reason, Reason.UserDisabled);
    assert.equal(ask(s, 'system:anonymous', 'read', 'topic', 'orders').reason, Reason.NoMatchingGrant);
    assert.equal(ask(s, 'stranger', 'read', 'topic', 'orders').reason, Reason.UnknownUser);
  });

  test('off (policy, or left out): no rule is added and nothing is open', () => {
    for (const mode of [undefined, 'policy']) {
      const s = compile(mode);
      assert.equal(openAuthorization(s), undefined);
      assert.ok(!s.rules.some((r) => r.subject === 'Group:system:authenticated'));
      assert.equal(ask(s, 'nobody', 'write', 'topic', 'orders').reason, Reason.NoMatchingGrant);
    }
  });
});

/** The BrokerCluster of the broker's policy directory, with or without the mode. */
const clusterYaml = (mode?: 'authenticatedFullAccess' | 'policy') => brokerClusterYaml({ allowAnonymous: true, ...(mode ? { mode } : {}) });

describe('a broker with authenticatedFullAccess, then without', () => {
  const NOBODY = 'Nobody-Has-Grants-1!';
  const DENIED = 'Denied-Secrets-Pw-2!';
  const nobody = kcatScram('SCRAM-SHA-512', 'nobody', NOBODY);
  let b: SecureTestBroker;

  before(async () => {
    b = await startTestBroker({
      security: {
        policy: {
          'cluster.yaml': clusterYaml('authenticatedFullAccess'),
          'users.yaml': userYaml('nobody', { type: 'scram-sha-512', password: NOBODY }) + '---\n' + userYaml('denied', { type: 'scram-sha-512', password: DENIED }),
          'deny.yaml': topicGrantYaml('no-secrets', { users: ['denied'], topics: ['secret-*'], actions: ['all'], effect: 'Deny' }),
        },
      },
      config: { audit: { logAllowed: true } },
    });
    for (const t of ['open-orders', 'open-events', 'secret-plans', 'closed-orders']) b.broker.topics.createTopic(t, 1);
  });
  after(() => b?.stop());

  const gauge = async () => (await b.broker.metrics.registry.getSingleMetric('bulwark_authorization_full_access')!.get()).values[0]?.value;
  const warnings = () => b.logs.map((l) => JSON.parse(l) as { level: number; msg: string; accessMode?: string }).filter((l) => l.level === 40 && l.accessMode === 'authenticatedFullAccess');

  test('on: a user with no grant produces and consumes with kcat and kafkajs; the log, the metric and the audit events say why', async () => {
    const kc = await kcatRoundTrip(b.bootstrap, nobody, 'open-orders', ['o1', 'o2']);
    assert.equal(kc.produced.code, 0, kc.produced.stderr);
    assert.deepEqual(kc.values, ['o1', 'o2']);
    const { kafka } = kafkajs(b.bootstrap, { sasl: { mechanism: 'scram-sha-512', username: 'nobody', password: NOBODY } });
    const seen = await kafkajsRoundTrip(kafka, 'open-events', 'nobody-group', ['e1', 'e2']);
    assert.deepEqual(seen.sort(), ['e1', 'e2']);

    // Loud: a warning at start (the policy directory applied), naming the mode and where it comes from.
    const w = warnings();
    assert.ok(w.length >= 1, b.logs.join('\n'));
    assert.match(w[0]!.msg, /authorization mode authenticatedFullAccess \(BrokerCluster\/secure spec\.authorization\.mode: authenticatedFullAccess\): every authenticated user may do every action on every resource/);
    assert.equal(await gauge(), 1);
    const allowed = (await b.auditEvents()).filter((e) => e.type === 'authorization' && e.user === 'nobody' && e.decision === 'allow' && e.action === 'write' && e.resourceName === 'open-orders');
    assert.ok(allowed.length >= 1);
    assert.equal(allowed[0]!.reason, 'AllowedByRule');
    assert.equal(allowed[0]!.ruleSource, SOURCE);
  });

  test('on: a Deny grant still refuses, and anonymous clients get nothing from it', async () => {
    const denied = await kcat(['-b', b.bootstrap, ...kcatScram('SCRAM-SHA-512', 'denied', DENIED), '-P', '-t', 'secret-plans'], { input: 'leak\n' });
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /Topic authorization failed|not authorized/i);
    const anonymous = await kcat(['-b', b.address('anon'), '-P', '-t', 'open-orders'], { input: 'anon\n' });
    assert.notEqual(anonymous.code, 0);
    assert.match(anonymous.stderr, /Topic authorization failed|not authorized/i);
  });

  test('bulwark policy check warns about it, and passes', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [join(root, 'bin', 'bulwark.js'), 'policy', 'check', b.policy.path], { cwd: root });
    assert.match(stdout, /^warning: .*cluster\.yaml \(document 1\): spec\.authorization\.mode: authenticatedFullAccess: every authenticated user may do every action on every resource/m);
    assert.match(stdout, /policy OK: /);
  });

  test('every policy applied while it is on says it again; turned off, the same user is denied', async () => {
    const version = b.broker.policy.applied.version;
    const before = warnings().length;
    // Another change with the mode still on: warned again.
    b.policy.write('extra.yaml', userYaml('extra', { type: 'scram-sha-512', password: 'Extra-User-Passw0rd!' }));
    const v2 = await b.policyAfter(version);
    assert.equal(warnings().length, before + 1);

    b.policy.write('cluster.yaml', clusterYaml());
    await b.policyAfter(v2);
    assert.equal(warnings().length, before + 1, 'no warning once off');
    assert.ok(b.logs.some((l) => l.includes('authorization mode policy: the grants are enforced again')));
    assert.equal(await gauge(), 0);
    const refused = await kcat(['-b', b.bootstrap, ...nobody, '-P', '-t', 'closed-orders'], { input: 'nope\n' });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /Topic authorization failed|not authorized/i);
  });
});
