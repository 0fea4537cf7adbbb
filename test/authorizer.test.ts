// The authorizer: table tests of the rules users rely on, and property tests against a naive
// reference model that scans every rule.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { IMPLIED, type Action, type BulwarkResource } from '../src/api/index.ts';
import { compileHostMatcher } from '../src/lib/cidr.ts';
import { buildAuthorizer, compilePolicy, encodeSnapshot, matchesPattern, parsePattern, Reason, type PolicySnapshot } from '../src/policy/index.ts';
import { CLUSTER, grant, NS, resource, role, user } from './harness/resources.ts';

const compile = (resources: BulwarkResource[], opts: Partial<Parameters<typeof compilePolicy>[0]> = {}) =>
  compilePolicy({ cluster: { namespace: NS, name: CLUSTER }, resources, ...opts }).snapshot;

const cluster = (spec: Record<string, unknown> = {}) =>
  resource('BrokerCluster', CLUSTER, { replicas: 1, storage: { size: '1Gi' }, listeners: [{ name: 'kafka', protocol: 'kafka', port: 9092 }], ...spec });

function ask(snapshot: PolicySnapshot, who: string, action: Action, topic: string, extra: { host?: string; tokenId?: string; now?: number } = {}) {
  const authz = buildAuthorizer(snapshot, extra.now !== undefined ? { now: () => extra.now! } : {});
  return authz.authorize({
    principal: { user: who, ...(extra.tokenId ? { tokenId: extra.tokenId } : {}) },
    action,
    resource: { type: 'topic', name: topic },
    ...(extra.host ? { host: extra.host } : {}),
  });
}

describe('authorize', () => {
  const alice = user('alice', { groups: ['eng'] });

  test('nothing is allowed unless granted', () => {
    const d = ask(compile([alice]), 'alice', 'read', 'orders');
    assert.deepEqual(d, { allowed: false, reason: Reason.NoMatchingGrant });
  });

  test('literal, prefix and * patterns', () => {
    const s = compile([
      alice,
      grant('lit', { subjects: [{ kind: 'User', name: 'alice' }], topics: ['orders'], actions: ['read'] }),
      grant('pre', { subjects: [{ kind: 'User', name: 'alice' }], topics: ['logs-*'], actions: ['write'] }),
      grant('any', { subjects: [{ kind: 'User', name: 'alice' }], topics: ['*'], actions: ['describeConfigs'] }),
    ]);
    assert.equal(ask(s, 'alice', 'read', 'orders').allowed, true);
    assert.equal(ask(s, 'alice', 'read', 'orders2').allowed, false);
    assert.equal(ask(s, 'alice', 'write', 'logs-').allowed, true);
    assert.equal(ask(s, 'alice', 'write', 'logs-app').allowed, true);
    assert.equal(ask(s, 'alice', 'write', 'log').allowed, false);
    assert.equal(ask(s, 'alice', 'describeConfigs', 'anything').allowed, true);
  });

  test('implications follow Kafka: read implies describe, alterConfigs implies describeConfigs, but a deny of read keeps describe', () => {
    const s = compile([
      alice,
      grant('a', { subjects: [{ kind: 'User', name: 'alice' }], topics: ['t'], actions: ['read', 'alterConfigs'] }),
      grant('w', { subjects: [{ kind: 'User', name: 'alice' }], topics: ['u'], actions: ['write'] }),
      grant('d', { subjects: [{ kind: 'User', name: 'alice' }], topics: ['u'], actions: ['write'], effect: 'Deny' }),
    ]);
    assert.equal(ask(s, 'alice', 'describe', 't').allowed, true);
    assert.equal(ask(s, 'alice', 'describeConfigs', 't').allowed, true);
    assert.equal(ask(s, 'alice', 'write', 't').allowed, false);
    assert.equal(ask(s, 'alice', 'write', 'u').allowed, false);
    assert.equal(ask(s, 'alice', 'describe', 'u').allowed, true);
  });

  test('deny beats allow from any source, and the answer names the deny', () => {
    const s = compile([
      alice,
      role('all', [{ resources: [{ type: 'topic', pattern: '*' }], actions: ['all'] }]),
      user('bob', { roles: ['all'], groups: ['eng'] }),
      grant('deny-eng', { subjects: [{ kind: 'Group', name: 'eng' }], topics: ['secret'], actions: ['read'], effect: 'Deny' }),
    ]);
    const d = ask(s, 'bob', 'read', 'secret');
    assert.equal(d.allowed, false);
    assert.equal(d.reason, Reason.DeniedByRule);
    assert.equal(d.rule?.source, 'TopicGrant/deny-eng');
    assert.equal(ask(s, 'bob', 'read', 'public').rule?.source, 'User/bob via Role/all');
  });

  test('super users bypass every grant; disabled users are refused everything', () => {
    const s = compile([
      cluster({ authorization: { superUsers: ['root'] } }),
      user('root'),
      user('off', { disabled: true }),
      grant('deny', { subjects: [{ kind: 'User', name: 'root' }, { kind: 'User', name: 'off' }], topics: ['*'], actions: ['all'], effect: 'Deny' }),
      grant('allow', { subjects: [{ kind: 'User', name: 'off' }], topics: ['*'], actions: ['all'] }),
    ]);
    assert.equal(ask(s, 'root', 'delete', 'x').reason, Reason.SuperUser);
    assert.equal(ask(s, 'off', 'read', 'x').reason, Reason.UserDisabled);
  });

  test('the anonymous principal exists only when the cluster enables it', () => {
    const grants = [grant('pub', { subjects: [{ kind: 'Group', name: 'system:unauthenticated' }], topics: ['public'], actions: ['read'] })];
    assert.equal(ask(compile([cluster(), ...grants]), 'system:anonymous', 'read', 'public').reason, Reason.AnonymousDisabled);
    const on = compile([cluster({ authentication: { allowAnonymous: true } }), ...grants]);
    assert.equal(ask(on, 'system:anonymous', 'read', 'public').allowed, true);
    assert.equal(ask(on, 'system:anonymous', 'read', 'private').allowed, false);
  });

  test('system:authenticated covers every user, not the anonymous one', () => {
    const s = compile([
      cluster({ authentication: { allowAnonymous: true } }),
      alice,
      grant('all-users', { subjects: [{ kind: 'Group', name: 'system:authenticated' }], topics: ['status'], actions: ['read'] }),
    ]);
    assert.equal(ask(s, 'alice', 'read', 'status').allowed, true);
    assert.equal(ask(s, 'system:anonymous', 'read', 'status').allowed, false);
    assert.equal(ask(s, 'nobody', 'read', 'status').reason, Reason.UnknownUser);
  });

  test('host-restricted grants apply only from their hosts', () => {
    const s = compile([
      alice,
      grant('office', { subjects: [{ kind: 'User', name: 'alice' }], topics: ['t'], actions: ['read'], hosts: ['10.0.0.0/8', '2001:db8::/32'] }),
      grant('no-guest', { subjects: [{ kind: 'User', name: 'alice' }], topics: ['t'], actions: ['read'], hosts: ['10.9.0.0/16'], effect: 'Deny' }),
    ]);
    assert.equal(ask(s, 'alice', 'read', 't', { host: '10.1.2.3' }).allowed, true);
    assert.equal(ask(s, 'alice', 'read', 't', { host: '::ffff:10.1.2.3' }).allowed, true);
    assert.equal(ask(s, 'alice', 'read', 't', { host: '2001:db8:1::5' }).allowed, true);
    assert.equal(ask(s, 'alice', 'read', 't', { host: '10.9.1.1' }).reason, Reason.DeniedByRule);
    assert.equal(ask(s, 'alice', 'read', 't', { host: '192.168.1.1' }).allowed, false);
    assert.equal(ask(s, 'alice', 'read', 't').allowed, false, 'unknown host matches no host-restricted allow');
  });

  test('a token never has more access than its user, is narrowed by its roles, and expires', () => {
    const s = compile(
      [
        alice,
        role('orders-reader', [{ resources: [{ type: 'topic', pattern: 'orders-*' }], actions: ['read'] }]),
        grant('alice-all', { subjects: [{ kind: 'User', name: 'alice' }], topics: ['orders-*', 'payments'], actions: ['read', 'write'] }),
        resource('AccessToken', 'narrow', { clusterRef: { name: CLUSTER }, userRef: { name: 'alice' }, roles: ['orders-reader'], expiresAt: '2030-01-01T00:00:00Z' }),
        resource('AccessToken', 'full', { clusterRef: { name: CLUSTER }, userRef: { name: 'alice' } }),
      ],
      { credentials: { tokens: new Map([['narrow', { sha256: 'a'.repeat(64) }], ['full', { sha256: 'b'.repeat(64) }]]) } },
    );
    const before = Date.parse('2029-12-31T23:59:59Z');
    assert.equal(ask(s, 'alice', 'read', 'orders-1', { tokenId: 'narrow', now: before }).allowed, true);
    assert.equal(ask(s, 'alice', 'write', 'orders-1', { tokenId: 'narrow', now: before }).reason, Reason.OutsideTokenScope);
    assert.equal(ask(s, 'alice', 'read', 'payments', { tokenId: 'narrow', now: before }).reason, Reason.OutsideTokenScope);
    assert.equal(ask(s, 'alice', 'write', 'payments', { tokenId: 'full', now: before }).allowed, true);
    assert.equal(ask(s, 'alice', 'read', 'orders-1', { tokenId: 'narrow', now: Date.parse('2030-01-01T00:00:00Z') }).reason, Reason.TokenExpired);
    assert.equal(ask(s, 'alice', 'read', 'orders-1', { tokenId: 'nope' }).reason, Reason.UnknownToken);
    assert.equal(ask(s, 'bob', 'read', 'orders-1', { tokenId: 'full' }).reason, Reason.UnknownUser);
  });

  test('shared long prefixes: the radix tree finds every matching prefix', () => {
    const prefixes = Array.from({ length: 200 }, (_, i) => `tenant-0000-region-eu-${String(i).padStart(4, '0')}-*`);
    const s = compile([alice, grant('many', { subjects: [{ kind: 'User', name: 'alice' }], topics: [...prefixes.slice(0, 200), 'tenant-0000-*'].slice(-256), actions: ['read'] })]);
    assert.equal(ask(s, 'alice', 'read', 'tenant-0000-region-eu-0150-orders').allowed, true);
    assert.equal(ask(s, 'alice', 'read', 'tenant-0001-region-eu-0150-orders').allowed, false);
  });
});

// --- Properties -------------------------------------------------------------------------------

const USERS = ['u0', 'u1', 'u2'];
const GROUPS = ['g0', 'g1'];
const NAMES = ['a', 'ab', 'abc', 'abd', 'b', 'ba', 'c'];
const PATTERNS = ['*', 'a', 'ab', 'abc', 'b', 'a*', 'ab*', 'abc*', 'b*', 'c*'];
const TOPIC_ACTIONS: Action[] = ['read', 'write', 'create', 'delete', 'alter', 'describe', 'describeConfigs', 'alterConfigs', 'all'];
const HOSTS = ['10.0.0.1', '192.168.0.1'];

const arbSubject = fc.oneof(
  fc.constantFrom(...USERS).map((name) => ({ kind: 'User', name })),
  fc.constantFrom(...GROUPS, 'system:authenticated').map((name) => ({ kind: 'Group', name })),
);
const arbGrant = (effect?: 'Allow' | 'Deny') =>
  fc.record({
    subjects: fc.uniqueArray(arbSubject, { minLength: 1, maxLength: 2, selector: (s) => `${s.kind}:${s.name}` }),
    topics: fc.uniqueArray(fc.constantFrom(...PATTERNS), { minLength: 1, maxLength: 2 }),
    actions: fc.uniqueArray(fc.constantFrom(...TOPIC_ACTIONS), { minLength: 1, maxLength: 3 }),
    effect: effect ? fc.constant(effect) : fc.constantFrom('Allow', 'Deny'),
    hosts: fc.option(fc.constantFrom(['10.0.0.0/8'], ['192.168.0.0/16']), { nil: undefined }),
  });
const arbUsers = fc.tuple(...USERS.map(() => fc.subarray(GROUPS)));
const arbRequest = fc.record({ user: fc.constantFrom(...USERS), action: fc.constantFrom(...TOPIC_ACTIONS), topic: fc.constantFrom(...NAMES), host: fc.constantFrom(...HOSTS) });

type GrantSpec = Record<string, unknown>;
const build = (groups: string[][], grants: GrantSpec[]) => [
  ...USERS.map((u, i) => user(u, { groups: groups[i] })),
  ...grants.map((g, i) => grant(`g${i}`, Object.fromEntries(Object.entries(g).filter(([, v]) => v !== undefined)))),
];
const decide = (resources: BulwarkResource[], r: { user: string; action: Action; topic: string; host: string }) =>
  buildAuthorizer(compile(resources)).authorize({ principal: { user: r.user }, action: r.action, resource: { type: 'topic', name: r.topic }, host: r.host }).allowed;

/** The reference model: scan every rule, no index, no masks. */
function reference(snapshot: PolicySnapshot, r: { user: string; action: Action; topic: string; host: string }): boolean {
  const u = snapshot.users.find((x) => x.name === r.user)!;
  const subjects = new Set([`User:${u.name}`, ...u.groups.map((g) => `Group:${g}`), 'Group:system:authenticated']);
  const applies = snapshot.rules.filter(
    (rule) => subjects.has(rule.subject) && rule.resourceType === 'topic' && matchesPattern(parsePattern(rule.pattern), r.topic) && (rule.hosts.length === 0 || compileHostMatcher(rule.hosts)(r.host)),
  );
  const grants = (rule: (typeof applies)[number], withImplied: boolean) =>
    rule.actions.some((a) => a === r.action || a === 'all' || (withImplied && IMPLIED[a].includes(r.action)));
  if (applies.some((rule) => rule.effect === 'Deny' && grants(rule, false))) return false;
  return applies.some((rule) => rule.effect === 'Allow' && grants(rule, true));
}

describe('properties', () => {
  const runs = { numRuns: 300 };

  test('the index agrees with the reference model on every request', () => {
    fc.assert(
      fc.property(arbUsers, fc.array(arbGrant(), { maxLength: 8 }), arbRequest, (groups, grants, req) => {
        const resources = build(groups, grants);
        assert.equal(decide(resources, req), reference(compile(resources), req));
      }),
      runs,
    );
  });

  test('deny always wins: a matching deny means denied, whatever else is granted', () => {
    fc.assert(
      fc.property(arbUsers, fc.array(arbGrant(), { maxLength: 8 }), arbRequest, (groups, grants, req) => {
        const everything = { subjects: [{ kind: 'User', name: req.user }], topics: ['*'], actions: ['all'], effect: 'Allow' };
        const deny = { subjects: [{ kind: 'User', name: req.user }], topics: [req.topic], actions: [req.action], effect: 'Deny' };
        assert.equal(decide(build(groups, [...grants, everything, deny]), req), false);
      }),
      runs,
    );
  });

  test('with no grant, the answer is deny', () => {
    fc.assert(fc.property(arbUsers, arbRequest, (groups, req) => assert.equal(decide(build(groups, []), req), false)), runs);
  });

  test('adding an allow never removes access', () => {
    fc.assert(
      fc.property(arbUsers, fc.array(arbGrant(), { maxLength: 6 }), arbGrant('Allow'), arbRequest, (groups, grants, extra, req) => {
        if (decide(build(groups, grants), req)) assert.equal(decide(build(groups, [...grants, extra]), req), true);
      }),
      runs,
    );
  });

  test('adding a deny never adds access', () => {
    fc.assert(
      fc.property(arbUsers, fc.array(arbGrant(), { maxLength: 6 }), arbGrant('Deny'), arbRequest, (groups, grants, extra, req) => {
        if (decide(build(groups, [...grants, extra]), req)) assert.equal(decide(build(groups, grants), req), true);
      }),
      runs,
    );
  });

  test('compiling is deterministic: same resources in any order give the same bytes', () => {
    fc.assert(
      fc.property(arbUsers, fc.array(arbGrant(), { maxLength: 8 }), fc.func(fc.integer()), (groups, grants, key) => {
        const resources = build(groups, grants);
        const shuffled = [...resources].sort((a, b) => key(a.metadata.name) - key(b.metadata.name));
        assert.equal(encodeSnapshot(compile(resources)), encodeSnapshot(compile(shuffled)));
      }),
      runs,
    );
  });

  test('prefix matching agrees with the reference on long random names', () => {
    const arbName = fc.string({ unit: fc.constantFrom('a', 'b', '-'), minLength: 1, maxLength: 24 });
    fc.assert(
      fc.property(fc.uniqueArray(arbName, { minLength: 1, maxLength: 30 }), arbName, (prefixes, topic) => {
        const resources = [user('u0'), ...prefixes.map((p, i) => grant(`p${i}`, { subjects: [{ kind: 'User', name: 'u0' }], topics: [`${p}*`], actions: ['read'] }))];
        const expected = prefixes.some((p) => topic.startsWith(p));
        assert.equal(decide(resources, { user: 'u0', action: 'read', topic, host: HOSTS[0]! }), expected);
      }),
      runs,
    );
  });
});
