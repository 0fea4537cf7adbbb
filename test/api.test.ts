// The six kinds: their schemas, the CRDs generated from them, and the errors users see.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { API_GROUP_VERSION, KINDS, parseResource } from '../src/api/index.ts';
import { renderApiReference, renderCrdBundle, renderCrds } from '../src/api/render.ts';
import { INVALID_CASES, invalidDocument } from './fixtures/invalid-resources.ts';

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

  test('the Helm chart installs the same CRDs: helm/bulwark/crds/ is crds/ (run `npm run gen:crds`)', () => {
    const expected = renderCrds();
    const inChart = readdirSync(join(root, 'helm', 'bulwark', 'crds')).sort();
    assert.deepEqual(inChart, expected.map((e) => e.fileName).sort(), 'helm/bulwark/crds/ holds exactly the generated files');
    for (const { fileName, text } of expected) {
      assert.equal(readFileSync(join(root, 'helm', 'bulwark', 'crds', fileName), 'utf8'), text, `helm/bulwark/crds/${fileName} is stale: run npm run gen:crds`);
    }
  });

  test('manifests/base/crds.yaml holds the same CRDs, for kustomize (run `npm run gen:crds`)', () => {
    const onDisk = readFileSync(join(root, 'manifests', 'base', 'crds.yaml'), 'utf8');
    assert.equal(onDisk, renderCrdBundle(), 'manifests/base/crds.yaml is stale: run npm run gen:crds');
    assert.deepEqual(
      parseAllDocuments(onDisk).map((d) => d.toJS().metadata.name),
      renderCrds().map((c) => parse(c.text).metadata.name),
    );
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
      assert.ok(!JSON.stringify(v.schema.openAPIV3Schema.properties.spec).includes('"default"'), 'no defaults in spec: they would show up as GitOps diffs');
      assert.deepEqual(v.schema.openAPIV3Schema.properties.status.default, { observedGeneration: 0 }, 'a new object reads as not yet observed (kstatus: InProgress)');
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

  const malformed: [string, unknown, string][] = [
    ['unknown kind', { apiVersion: API_GROUP_VERSION, kind: 'Broker', metadata: { name: 'x' }, spec: {} }, 'kind'],
    ['wrong apiVersion', { apiVersion: 'bulwark.dev/v1', kind: 'User', metadata: { name: 'x' }, spec: {} }, 'apiVersion'],
    ['bad metadata.name', { ...base('Role', { rules: [] }), metadata: { name: 'Bad_Name' } }, 'metadata.name'],
    ['missing spec', { apiVersion: API_GROUP_VERSION, kind: 'Role', metadata: { name: 'x' } }, 'spec'],
  ];
  const cases = [...malformed, ...INVALID_CASES.map((c) => [c.name, invalidDocument(c, 'x', 'ns'), c.path] as [string, unknown, string])];
  for (const [name, doc, path] of cases) {
    test(`rejects ${name}, naming ${path}`, () => {
      const r = parseResource(doc);
      assert.equal(r.ok, false);
      const paths = (!r.ok && r.errors.map((e) => e.path)) || [];
      assert.ok(paths.includes(path), `expected an error at ${path}, got ${JSON.stringify(!r.ok && r.errors)}`);
    });
  }

  test('each kind has a definition with schema and status', () => {
    assert.deepEqual(KINDS.map((k) => k.kind), ['BrokerCluster', 'User', 'Role', 'AccessToken', 'TopicGrant', 'Topic']);
  });
});
