// The built-in roles (admin, reader, producer, consumer): what each allows when a TopicGrant
// applies it (narrowed to the grant's topics and groups) and when a User or an AccessToken names
// it (every name), the reserved names, and the table in docs/concepts.md kept in step with the
// code. Real clients on a real broker: broker-builtin-roles.test.ts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Environment } from '@marcbachmann/cel-js';
import { API_GROUP_VERSION, BUILTIN_ROLE_NAMES, BUILTIN_ROLES, buildCrd, KINDS, parseResource, type Action, type BulwarkResource, type ResourceType } from '../src/api/index.ts';
import { renderBuiltinRoles, withBuiltinRoles } from '../src/api/render.ts';
import { buildAuthorizer, compilePolicy, loadPolicyDirectory } from '../src/policy/index.ts';
import { CLUSTER, grant, NS, resource, role, user } from './harness/resources.ts';
import { brokerClusterYaml, PolicyDir, roleYaml, userYaml } from './harness/policy.ts';

const root = join(import.meta.dirname, '..');
const compile = (resources: BulwarkResource[], tokens: [string, string][] = []) =>
  compilePolicy({ cluster: { namespace: NS, name: CLUSTER }, resources, credentials: { tokens: new Map(tokens.map(([id, hex]) => [id, { sha256: hex.repeat(64) }])) } });

type Ask = [Action, ResourceType, string];
/** Every decision worth asking, on names inside and outside what a grant names. */
const QUESTIONS: Ask[] = [
  ...(['read', 'write', 'describe', 'describeConfigs', 'alterConfigs', 'create', 'delete', 'alter'] as const).flatMap((a): Ask[] => [[a, 'topic', 'orders'], [a, 'topic', 'payments']]),
  ...(['read', 'describe', 'delete'] as const).flatMap((a): Ask[] => [[a, 'group', 'billing-1'], [a, 'group', 'other']]),
  ['write', 'transactionalId', 'tx-1'],
  ['describe', 'transactionalId', 'tx-1'],
  ['describe', 'cluster', 'kafka-cluster'],
  ['alter', 'cluster', 'kafka-cluster'],
  ['create', 'cluster', 'kafka-cluster'],
  ['idempotentWrite', 'cluster', 'kafka-cluster'],
  ['create', 'user', 'someone'],
  ['describe', 'accessToken', 'some-token'],
];

/** What `alice` may do, as "action type:name" lines, over QUESTIONS. */
function allowed(resources: BulwarkResource[]): string[] {
  const { snapshot } = compile([user('alice'), ...resources]);
  const authz = buildAuthorizer(snapshot);
  return QUESTIONS.filter(([action, type, name]) => authz.authorize({ principal: { user: 'alice' }, action, resource: { type, name } }).allowed).map(([a, t, n]) => `${a} ${t}:${n}`);
}

describe('built-in roles in a TopicGrant: narrowed to its topics and consumerGroups', () => {
  const viaGrant = (name: string, extra: Record<string, unknown> = { consumerGroups: ['billing-*'] }) =>
    allowed([grant('g', { subjects: [{ kind: 'User', name: 'alice' }], topics: ['orders'], role: name, ...extra })]);

  test('admin: every action on the grant\'s topic and groups, nothing else (not the cluster, not other topics)', () => {
    assert.deepEqual(viaGrant('admin'), [
      'read topic:orders', 'write topic:orders', 'describe topic:orders', 'describeConfigs topic:orders', 'alterConfigs topic:orders',
      'create topic:orders', 'delete topic:orders', 'alter topic:orders',
      'read group:billing-1', 'describe group:billing-1', 'delete group:billing-1',
    ]);
  });

  test('reader: read, describe and describeConfigs on the topic; describe (not read) on the groups', () => {
    assert.deepEqual(viaGrant('reader'), ['read topic:orders', 'describe topic:orders', 'describeConfigs topic:orders', 'describe group:billing-1']);
  });

  test('producer: write and describe on the topic; nothing on groups; transactional ids are not a grant\'s', () => {
    assert.deepEqual(viaGrant('producer'), ['write topic:orders', 'describe topic:orders']);
  });

  test('consumer: read and describe on the topic and on the groups', () => {
    assert.deepEqual(viaGrant('consumer'), ['read topic:orders', 'describe topic:orders', 'read group:billing-1', 'describe group:billing-1']);
  });

  test('without consumerGroups, consumer allows nothing on groups, and the compiler says so', () => {
    assert.deepEqual(viaGrant('consumer', {}), ['read topic:orders', 'describe topic:orders']);
    const { diagnostics } = compile([user('alice'), grant('g', { subjects: [{ kind: 'User', name: 'alice' }], topics: ['orders'], role: 'consumer' })]);
    assert.deepEqual(diagnostics.map((d) => [d.severity, d.resource, d.reason, d.path]), [['warning', 'TopicGrant/g', 'RoleNotApplicable', 'spec.consumerGroups']]);
    assert.match(diagnostics[0]!.message, /names no consumerGroups/);
  });

  test('a grant naming a built-in role compiles without a Role and without diagnostics; its rules name the built-in', () => {
    for (const name of BUILTIN_ROLE_NAMES) {
      const { snapshot, diagnostics } = compile([user('alice'), grant('g', { subjects: [{ kind: 'User', name: 'alice' }], topics: ['orders'], consumerGroups: ['billing-*'], role: name })]);
      assert.deepEqual(diagnostics, [], name);
      assert.ok(snapshot.rules.length > 0 && snapshot.rules.every((r) => r.source === `TopicGrant/g via built-in role ${name}`), name);
    }
  });

  test('a Deny naming a built-in role takes away its actions (not what they imply)', () => {
    const got = allowed([
      grant('all', { subjects: [{ kind: 'User', name: 'alice' }], topics: ['*'], consumerGroups: ['*'], actions: ['all'] }),
      grant('no-consuming', { subjects: [{ kind: 'User', name: 'alice' }], topics: ['orders'], consumerGroups: ['billing-*'], role: 'consumer', effect: 'Deny' }),
    ]);
    assert.ok(!got.includes('read topic:orders') && !got.includes('read group:billing-1'));
    assert.ok(got.includes('write topic:orders') && got.includes('describe topic:orders') && got.includes('read topic:payments'));
  });
});

describe('built-in roles named by a User or an AccessToken: every name', () => {
  const viaUser = (name: string) => {
    const { snapshot, diagnostics } = compile([user('alice', { roles: [name] })]);
    assert.deepEqual(diagnostics, [], name);
    const authz = buildAuthorizer(snapshot);
    return QUESTIONS.filter(([action, type, n]) => authz.authorize({ principal: { user: 'alice' }, action, resource: { type, name: n } }).allowed).map(([a, t, n]) => `${a} ${t}:${n}`);
  };

  test('admin: everything, the cluster and the admin objects included', () => {
    assert.deepEqual(viaUser('admin'), QUESTIONS.map(([a, t, n]) => `${a} ${t}:${n}`));
  });

  test('reader: read, describe and describeConfigs on every topic, describe on every group; no write, no cluster', () => {
    assert.deepEqual(viaUser('reader'), [
      'read topic:orders', 'read topic:payments', 'describe topic:orders', 'describe topic:payments', 'describeConfigs topic:orders', 'describeConfigs topic:payments',
      'describe group:billing-1', 'describe group:other',
    ]);
  });

  test('producer: write and describe on every topic and transactional id; no read, no idempotentWrite (never asked, KIP-679)', () => {
    assert.deepEqual(viaUser('producer'), ['write topic:orders', 'write topic:payments', 'describe topic:orders', 'describe topic:payments', 'write transactionalId:tx-1', 'describe transactionalId:tx-1']);
  });

  test('consumer: read and describe on every topic and group', () => {
    assert.deepEqual(viaUser('consumer'), [
      'read topic:orders', 'read topic:payments', 'describe topic:orders', 'describe topic:payments',
      'read group:billing-1', 'read group:other', 'describe group:billing-1', 'describe group:other',
    ]);
  });

  test('a token narrowed to a built-in role gets no more than it', () => {
    const token = resource('AccessToken', 'ci', { clusterRef: { name: CLUSTER }, userRef: { name: 'alice' }, roles: ['reader'] });
    const { snapshot, diagnostics } = compile([user('alice', { roles: ['admin'] }), token], [['ci', 'a']]);
    assert.deepEqual(diagnostics, []);
    assert.equal(snapshot.tokens.length, 1);
    const authz = buildAuthorizer(snapshot);
    const ask = (action: Action, type: ResourceType, name: string) => authz.authorize({ principal: { user: 'alice', tokenId: 'ci' }, action, resource: { type, name } }).allowed;
    assert.equal(ask('read', 'topic', 'orders'), true);
    assert.equal(ask('write', 'topic', 'orders'), false);
    assert.equal(ask('describe', 'cluster', 'kafka-cluster'), false);
  });
});

describe('the built-in names are reserved', () => {
  test('each built-in role is a valid Role spec (the CRD\'s schema and rules)', () => {
    for (const b of BUILTIN_ROLES) {
      const r = parseResource({ apiVersion: API_GROUP_VERSION, kind: 'Role', metadata: { name: `copy-of-${b.name}`, namespace: NS }, spec: b.spec });
      assert.ok(r.ok, `${b.name}: ${JSON.stringify(!r.ok && r.errors)}`);
    }
    assert.deepEqual(BUILTIN_ROLES.map((b) => b.name), [...BUILTIN_ROLE_NAMES]);
  });

  test('the Role CRD refuses the names (a CEL rule on metadata.name); other names pass', () => {
    const crd = buildCrd(KINDS.find((k) => k.kind === 'Role')!) as { spec: { versions: { schema: { openAPIV3Schema: { 'x-kubernetes-validations': { rule: string; message: string }[] } } }[] } };
    const rules = crd.spec.versions[0]!.schema.openAPIV3Schema['x-kubernetes-validations'];
    assert.equal(rules.length, 1);
    const check = new Environment({ unlistedVariablesAreDyn: true }).parse(rules[0]!.rule) as unknown as (ctx: Record<string, unknown>) => unknown;
    for (const name of BUILTIN_ROLE_NAMES) assert.equal(check({ self: { metadata: { name } } }), false, name);
    for (const name of ['orders-reader', 'consumers', 'admin2', 'readers']) assert.equal(check({ self: { metadata: { name } } }), true, name);
    assert.match(rules[0]!.message, /admin, reader, producer, consumer are built-in roles/);
    // Topic has a rule of its own on metadata.name (a name too long for Kafka needs spec.topicName).
    for (const kind of KINDS.filter((k) => k.kind !== 'Role' && k.kind !== 'Topic')) assert.equal((buildCrd(kind) as { spec: { versions: { schema: { openAPIV3Schema: Record<string, unknown> } }[] } }).spec.versions[0]!.schema.openAPIV3Schema['x-kubernetes-validations'], undefined, kind.kind);
  });

  test('a Role that took a built-in name before the rule is an error, and still applies where it is named (never the wider built-in)', () => {
    const { snapshot, diagnostics } = compile([
      user('alice', { roles: ['admin'] }),
      role('admin', [{ resources: [{ type: 'topic', pattern: 'orders' }], actions: ['read'] }]),
      grant('g', { subjects: [{ kind: 'User', name: 'alice' }], topics: ['payments'], role: 'admin' }),
    ]);
    assert.deepEqual(diagnostics.map((d) => [d.severity, d.resource, d.reason, d.path]), [
      ['error', 'Role/admin', 'RoleNameReserved', 'metadata.name'],
      ['warning', 'User/alice', 'RoleNameReserved', 'spec.roles'],
      ['warning', 'TopicGrant/g', 'RoleNameReserved', 'spec.role'],
      ['warning', 'TopicGrant/g', 'RoleNotApplicable', 'spec.role'],
    ]);
    const authz = buildAuthorizer(snapshot);
    const ask = (action: Action, type: ResourceType, name: string) => authz.authorize({ principal: { user: 'alice' }, action, resource: { type, name } }).allowed;
    assert.equal(ask('read', 'topic', 'orders'), true);
    assert.equal(ask('write', 'topic', 'orders'), false, 'the built-in admin did not take its place');
    assert.equal(ask('read', 'topic', 'payments'), false);
    assert.equal(ask('describe', 'cluster', 'kafka-cluster'), false);
  });

  test('bulwark policy check (local mode) refuses such a directory, naming the Role\'s file and field', async () => {
    const dir = new PolicyDir({
      'cluster.yaml': brokerClusterYaml(),
      'roles.yaml': roleYaml('consumer', [{ topics: ['*'], groups: ['*'], actions: ['read'] }]),
      'alice.yaml': userYaml('alice', { type: 'tls', roles: ['consumer'] }),
    });
    try {
      const loaded = await loadPolicyDirectory(dir.path, { saltKey: Buffer.alloc(32, 1) });
      const errors = loaded.problems.filter((p) => p.severity === 'error');
      assert.equal(errors.length, 1, JSON.stringify(loaded.problems));
      assert.equal(errors[0]!.path, 'metadata.name');
      assert.match(errors[0]!.file, /roles\.yaml$/);
      assert.match(errors[0]!.message, /consumer is the name of a built-in role/);
    } finally {
      dir.dispose();
    }
  });
});

describe('docs', () => {
  test('docs/concepts.md has the table of built-in roles as the code defines them (run `npm run gen:crds`)', () => {
    const text = readFileSync(join(root, 'docs', 'concepts.md'), 'utf8');
    assert.equal(withBuiltinRoles(text), text, 'the built-in roles table in docs/concepts.md is stale: run npm run gen:crds');
    const table = renderBuiltinRoles();
    for (const name of BUILTIN_ROLE_NAMES) assert.match(table, new RegExp(`^\\| \`${name}\` \\|`, 'm'));
  });

  test('the fields that name a Role say the built-in names are accepted', () => {
    const reference = readFileSync(join(root, 'docs', 'api-reference.md'), 'utf8');
    for (const field of ['spec.roles', 'spec.role']) {
      const rows = reference.split('\n').filter((l) => l.startsWith(`| \`${field}\``));
      assert.ok(rows.length > 0 && rows.every((l) => /built-in (role|admin)/.test(l)), field);
    }
  });
});
