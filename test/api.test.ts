// The five kinds: their schemas, the CRDs generated from them, and the errors users see.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { API_GROUP_VERSION, KINDS, parseResource } from '../src/api/index.ts';
import { renderApiReference, renderCrds } from '../src/api/render.ts';

const root = join(import.meta.dirname, '..');

describe('generated CRDs', () => {
  test('crds/ matches the schemas in src/api (run `npm run gen:crds` after changing them)', () => {
    const expected = renderCrds();
    const onDisk = readdirSync(join(root, 'crds')).filter((f) => f.endsWith('.yaml')).sort();
    assert.deepEqual(onDisk, expected.map((e) => e.fileName).sort(), 'crds/ holds exactly the generated files');
    for (const { fileName, text } of expected) {
      assert.equal(readFileSync(join(root, 'crds', fileName), 'utf8'), text, `crds/${fileName} is stale: run npm run gen:crds`);
    }
  });

  test('docs/api-reference.md matches the schemas (run `npm run gen:crds`)', () => {
    assert.equal(readFileSync(join(root, 'docs', 'api-reference.md'), 'utf8'), renderApiReference());
  });

  for (const { fileName, text } of renderCrds()) {
    test(`${fileName} is namespaced, categorised, has status and the columns an admin scans`, () => {
      const crd = parse(text);
      assert.equal(crd.spec.scope, 'Namespaced');
      assert.deepEqual(crd.spec.names.categories, ['bulwark']);
      assert.ok(crd.spec.names.shortNames.every((s: string) => s.startsWith('bw')), 'short names never collide with built-ins');
      const v = crd.spec.versions[0];
      assert.deepEqual(v.subresources, { status: {} });
      const columns = v.additionalPrinterColumns.map((c: { name: string }) => c.name);
      for (const c of ['Ready', 'Age']) assert.ok(columns.includes(c), `${c} column`);
      if (crd.spec.names.kind !== 'BrokerCluster' && crd.spec.names.kind !== 'Role') assert.ok(columns.includes('Cluster'));
      const status = v.schema.openAPIV3Schema.properties.status.properties;
      assert.deepEqual(Object.keys(status.conditions.items.properties).sort(), ['lastTransitionTime', 'message', 'observedGeneration', 'reason', 'status', 'type']);
      assert.equal(status.conditions['x-kubernetes-list-type'], 'map');
      assert.ok(status.observedGeneration);
      assert.ok(!text.includes('default:'), 'no schema defaults: they would show up as GitOps diffs');
    });
  }
});

describe('parseResource', () => {
  const base = (kind: string, spec: unknown) => ({ apiVersion: API_GROUP_VERSION, kind, metadata: { name: 'x', namespace: 'ns' }, spec });

  test('every example in examples/ parses', () => {
    const dir = join(root, 'examples', 'policy');
    let count = 0;
    for (const f of readdirSync(dir)) {
      for (const doc of readFileSync(join(dir, f), 'utf8').split(/^---$/m).map((d) => parse(d))) {
        if (doc?.apiVersion !== API_GROUP_VERSION) continue;
        const r = parseResource(doc);
        assert.ok(r.ok, `${f}: ${JSON.stringify(!r.ok && r.errors)}`);
        count++;
      }
    }
    assert.ok(count >= 10);
  });

  // Each case: the document, and the field path the error must name.
  const invalid: [string, unknown, string][] = [
    ['unknown kind', { apiVersion: API_GROUP_VERSION, kind: 'Broker', metadata: { name: 'x' }, spec: {} }, 'kind'],
    ['wrong apiVersion', { apiVersion: 'bulwark.dev/v1', kind: 'User', metadata: { name: 'x' }, spec: {} }, 'apiVersion'],
    ['bad metadata.name', { ...base('Role', { rules: [] }), metadata: { name: 'Bad_Name' } }, 'metadata.name'],
    ['missing spec', { apiVersion: API_GROUP_VERSION, kind: 'Role', metadata: { name: 'x' } }, 'spec'],
    ['user without authentication', base('User', { clusterRef: { name: 'c' } }), 'spec.authentication'],
    ['unknown authentication type', base('User', { clusterRef: { name: 'c' }, authentication: { type: 'kerberos' } }), 'spec.authentication.type'],
    ['tls user with a password', base('User', { clusterRef: { name: 'c' }, authentication: { type: 'tls', passwordSecretRef: { name: 's', key: 'k' } } }), 'spec.authentication.passwordSecretRef'],
    ['reserved group', base('User', { clusterRef: { name: 'c' }, authentication: { type: 'tls' }, groups: ['system:masters'] }), 'spec.groups'],
    ['bad host', base('User', { clusterRef: { name: 'c' }, authentication: { type: 'tls' }, hosts: ['example.com'] }), 'spec.hosts[0]'],
    ['unknown field', base('User', { clusterRef: { name: 'c' }, authentication: { type: 'tls' }, admin: true }), 'spec'],
    ['role action on wrong type', base('Role', { rules: [{ resources: [{ type: 'group', pattern: '*' }], actions: ['write'] }] }), 'spec.rules[0].actions'],
    ['cluster with a name', base('Role', { rules: [{ resources: [{ type: 'cluster', pattern: 'prod' }], actions: ['describe'] }] }), 'spec.rules[0].resources[0].pattern'],
    ['pattern with a star inside', base('Role', { rules: [{ resources: [{ type: 'topic', pattern: 'a*b' }], actions: ['read'] }] }), 'spec.rules[0].resources[0].pattern'],
    ['grant with actions and role', base('TopicGrant', { clusterRef: { name: 'c' }, subjects: [{ kind: 'User', name: 'a' }], topics: ['t'], actions: ['read'], role: 'r', effect: 'Allow' }), 'spec'],
    ['grant with neither', base('TopicGrant', { clusterRef: { name: 'c' }, subjects: [{ kind: 'User', name: 'a' }], topics: ['t'], effect: 'Allow' }), 'spec'],
    ['grant effect', base('TopicGrant', { clusterRef: { name: 'c' }, subjects: [{ kind: 'User', name: 'a' }], topics: ['t'], actions: ['read'], effect: 'Maybe' }), 'spec.effect'],
    ['grant cluster action', base('TopicGrant', { clusterRef: { name: 'c' }, subjects: [{ kind: 'User', name: 'a' }], topics: ['t'], actions: ['clusterAction'], effect: 'Allow' }), 'spec.actions'],
    ['unknown built-in group', base('TopicGrant', { clusterRef: { name: 'c' }, subjects: [{ kind: 'Group', name: 'system:everyone' }], topics: ['t'], actions: ['read'], effect: 'Allow' }), 'spec.subjects'],
    ['token expiry twice', base('AccessToken', { clusterRef: { name: 'c' }, userRef: { name: 'u' }, expiresAt: '2030-01-01T00:00:00Z', lifetime: '24h' }), 'spec.lifetime'],
    ['token bad lifetime', base('AccessToken', { clusterRef: { name: 'c' }, userRef: { name: 'u' }, lifetime: '3 days' }), 'spec.lifetime'],
    ['cluster with no listeners', base('BrokerCluster', { replicas: 1, storage: { size: '1Gi' }, listeners: [] }), 'spec.listeners'],
    ['plain without tls', base('BrokerCluster', { replicas: 1, storage: { size: '1Gi' }, listeners: [{ name: 'k', protocol: 'kafka', port: 9092, authentication: ['plain'] }] }), 'spec.listeners[0].authentication'],
    ['duplicate ports', base('BrokerCluster', { replicas: 1, storage: { size: '1Gi' }, listeners: [{ name: 'a', protocol: 'kafka', port: 9092 }, { name: 'b', protocol: 'http', port: 9092 }] }), 'spec.listeners'],
    ['renewBefore too long', base('BrokerCluster', { replicas: 1, storage: { size: '1Gi' }, listeners: [{ name: 'a', protocol: 'kafka', port: 9092 }], tls: { duration: '24h', renewBefore: '48h' } }), 'spec.tls.renewBefore'],
    ['blocked env', base('BrokerCluster', { replicas: 1, storage: { size: '1Gi' }, listeners: [{ name: 'a', protocol: 'kafka', port: 9092 }], env: [{ name: 'LD_PRELOAD', value: '/x.so' }] }), 'spec.env[0].name'],
    ['replicas out of range', base('BrokerCluster', { replicas: 0, storage: { size: '1Gi' }, listeners: [{ name: 'a', protocol: 'kafka', port: 9092 }] }), 'spec.replicas'],
    ['bad storage size', base('BrokerCluster', { replicas: 1, storage: { size: 'lots' }, listeners: [{ name: 'a', protocol: 'kafka', port: 9092 }] }), 'spec.storage.size'],
  ];
  for (const [name, doc, path] of invalid) {
    test(`rejects ${name}, naming ${path}`, () => {
      const r = parseResource(doc);
      assert.equal(r.ok, false);
      const paths = (!r.ok && r.errors.map((e) => e.path)) || [];
      assert.ok(paths.includes(path), `expected an error at ${path}, got ${JSON.stringify(!r.ok && r.errors)}`);
    });
  }

  test('each kind has a definition with schema and status', () => {
    assert.deepEqual(KINDS.map((k) => k.kind), ['BrokerCluster', 'User', 'Role', 'AccessToken', 'TopicGrant']);
  });
});
