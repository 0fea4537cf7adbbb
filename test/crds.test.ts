// The CRDs against a real kube-apiserver and etcd: they install, document themselves, reject
// invalid resources with a message naming the field, accept every example, and server-side
// apply is a no-op the second time (what Argo CD and Flux need to see no drift).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { KINDS } from '../src/api/index.ts';
import { IMMUTABLE_CASES, INVALID_CASES, invalidDocument } from './fixtures/invalid-resources.ts';
import { ensureBinaries, startControlPlane, type ControlPlane } from './harness/controlplane.ts';
import { argocdHealth, kstatus } from './harness/gitops-check.ts';

const root = join(import.meta.dirname, '..');
const skip = process.env.BULWARK_SKIP_CONTROLPLANE === '1' ? 'BULWARK_SKIP_CONTROLPLANE=1' : false;
let cp: ControlPlane;
const plural = (kind: string) => KINDS.find((k) => k.kind === kind)!.plural;
const path = (ns: string, kind: string, name = '') => `/apis/bulwark.dev/v1alpha1/namespaces/${ns}/${plural(kind)}${name ? `/${name}` : ''}`;

describe('CRDs on a real API server', { skip }, () => {
  before(async () => {
    await ensureBinaries();
    cp = await startControlPlane();
    await cp.kubectl(['apply', '-f', join(root, 'crds')], { check: true });
    await cp.kubectl(['wait', '--for=condition=Established', '--timeout=60s', ...KINDS.map((k) => `crd/${k.plural}.bulwark.dev`)], { check: true });
    // Established is not yet published: the API server serves a new CRD's discovery and OpenAPI
    // a moment later, and kubectl explain needs both. Wait for them, as a user would retry.
    for (const k of KINDS) {
      const deadline = Date.now() + 60_000;
      while ((await cp.kubectl(['explain', `${k.plural}.spec`, '--api-version=bulwark.dev/v1alpha1'])).code !== 0) {
        if (Date.now() > deadline) throw new Error(`kubectl explain ${k.plural} still fails 60 s after the CRD is Established`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }, { timeout: 60 * 60_000 });
  after(() => cp?.stop());

  test('all six CRDs are Established, with their names accepted', async () => {
    for (const k of KINDS) {
      const r = await cp.request('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${k.plural}.bulwark.dev`);
      const status = r.json<{ status: { conditions: { type: string; status: string }[] } }>().status;
      assert.equal(status.conditions.find((c) => c.type === 'Established')?.status, 'True', k.kind);
      assert.equal(status.conditions.find((c) => c.type === 'NamesAccepted')?.status, 'True', k.kind);
    }
  });

  test('a new resource reads as not yet observed: kstatus (Flux) InProgress, Argo CD Progressing, until the operator writes its status', async () => {
    await cp.kubectl(['create', 'namespace', 'fresh'], { check: true });
    const doc = { apiVersion: 'bulwark.dev/v1alpha1', kind: 'Role', metadata: { name: 'fresh', namespace: 'fresh' }, spec: { rules: [{ resources: [{ type: 'topic', pattern: 'orders' }], actions: ['read'] }] } };
    await cp.kubectl(['apply', '--server-side', '-f', '-'], { input: JSON.stringify(doc), check: true });
    const obj = JSON.parse((await cp.kubectl(['-n', 'fresh', 'get', 'roles.bulwark.dev', 'fresh', '-o', 'json'], { check: true })).stdout);
    assert.equal(obj.metadata.generation, 1);
    assert.deepEqual(obj.status, { observedGeneration: 0 });
    assert.equal((await kstatus([obj]))[0]!.status, 'InProgress');
    assert.equal((await argocdHealth([obj]))[0]!.status, 'Progressing');
    const diff = await cp.kubectl(['diff', '--server-side', '-f', '-'], { input: JSON.stringify(doc) });
    assert.equal(diff.code, 0, `the default shows as no difference to kubectl diff: ${diff.stdout}`);
  });

  test('kubectl explain shows the field documentation', async () => {
    const r = await cp.kubectl(['explain', 'topicgrants.spec.effect']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /A Deny beats every Allow/);
    const listeners = await cp.kubectl(['explain', 'brokerclusters.spec.listeners.authentication']);
    assert.match(listeners.stdout.replace(/\s+/g, ' '), /plain \(requires TLS/);
    const user = await cp.kubectl(['explain', 'bwuser.spec.hosts']);
    assert.match(user.stdout, /Host access list/);
  });

  test('every example in examples/ is accepted as is, and shows in kubectl get', async () => {
    await cp.kubectl(['create', 'namespace', 'streaming'], { check: true });
    const r = await cp.kubectl(['apply', '-f', join(root, 'examples', 'policy')]);
    assert.equal(r.code, 0, r.stderr);
    const all = await cp.kubectl(['get', 'bulwark', '-n', 'streaming', '-o', 'name']);
    const names = all.stdout.trim().split('\n').sort();
    assert.deepEqual(names.filter((n) => n.startsWith('user')).length, 5);
    assert.ok(names.includes('brokercluster.bulwark.dev/events'));
    assert.ok(names.includes('accesstoken.bulwark.dev/dana-ci'));
    assert.ok(names.includes('topicgrant.bulwark.dev/interns-no-pii'));
    assert.ok(names.includes('role.bulwark.dev/orders-producer'));

    const users = await cp.kubectl(['get', 'bwuser', '-n', 'streaming']);
    assert.match(users.stdout.split('\n')[0]!, /^NAME\s+CLUSTER\s+AUTH\s+READY\s+AGE$/);
    assert.match(users.stdout, /\ndana\s+events\s+password\s/);
    const grants = await cp.kubectl(['get', 'bwgrant', '-n', 'streaming']);
    assert.match(grants.stdout, /\ninterns-no-pii\s+events\s+Deny\s/);
    const tokens = await cp.kubectl(['get', 'bwtoken', '-n', 'streaming']);
    assert.match(tokens.stdout.split('\n')[0]!, /^NAME\s+CLUSTER\s+USER\s+EXPIRES\s+READY\s+AGE$/);
  });

  test('server-side apply of an example, twice, changes nothing the second time', async () => {
    const ns = await cp.createNamespace('ssa');
    const file = join(root, 'examples', 'policy', 'cluster.yaml');
    // The example names its namespace; apply it into ours by rewriting that one field.
    const text = readFileSync(file, 'utf8').replace('namespace: streaming', `namespace: ${ns}`);
    const first = await cp.kubectl(['apply', '--server-side', '--field-manager=argocd', '-f', '-'], { input: text });
    assert.equal(first.code, 0, first.stderr);
    // The operator's first status write, as it follows every create. (Without one, the object
    // reads with the status default, {observedGeneration: 0}, which the next write of any kind
    // stores once.)
    await cp.kubectl(['-n', ns, 'patch', 'brokerclusters.bulwark.dev', 'events', '--subresource=status', '--type=merge', '-p', '{"status":{"observedGeneration":1}}'], { check: true });
    const before = (await cp.request('GET', path(ns, 'BrokerCluster', 'events'))).json<{ metadata: { resourceVersion: string; generation: number } }>().metadata;
    const second = await cp.kubectl(['apply', '--server-side', '--field-manager=argocd', '-f', '-'], { input: text });
    assert.equal(second.code, 0, second.stderr);
    const afterMeta = (await cp.request('GET', path(ns, 'BrokerCluster', 'events'))).json<{ metadata: { resourceVersion: string; generation: number } }>().metadata;
    assert.equal(afterMeta.resourceVersion, before.resourceVersion, 'the second apply wrote the object again');
    assert.equal(afterMeta.generation, before.generation);
    const diff = await cp.kubectl(['diff', '--server-side', '--field-manager=argocd', '-f', '-'], { input: text });
    assert.equal(diff.code, 0, `kubectl diff found drift:\n${diff.stdout}`);
  });

  test(`rejects ${INVALID_CASES.length} invalid resources, each with a message naming the field`, async () => {
    assert.ok(INVALID_CASES.length >= 30);
    const ns = await cp.createNamespace('invalid');
    const failures: string[] = [];
    await Promise.all(
      INVALID_CASES.map(async (c, i) => {
        const r = await cp.request('POST', `${path(ns, c.kind)}?fieldValidation=Strict`, invalidDocument(c, `case-${i}`, ns));
        const field = c.apiPath ?? c.path;
        // 422 for schema and CEL errors; 400 for unknown fields under strict field validation.
        if ((r.status !== 422 && r.status !== 400) || !r.body.includes(field)) failures.push(`${c.name}: expected 422 naming ${field}, got ${r.status}: ${r.body.slice(0, 400)}`);
      }),
    );
    assert.deepEqual(failures, []);
  });

  test('rejects changes to immutable fields', async () => {
    const ns = await cp.createNamespace('immutable');
    for (const [i, c] of IMMUTABLE_CASES.entries()) {
      const name = `case-${i}`;
      const created = await cp.request('POST', path(ns, c.kind), { apiVersion: 'bulwark.dev/v1alpha1', kind: c.kind, metadata: { name, namespace: ns }, spec: c.spec });
      assert.equal(created.status, 201, `${c.name}: ${created.body}`);
      const current = created.json<{ metadata: Record<string, unknown> }>();
      const updated = await cp.request('PUT', path(ns, c.kind, name), { apiVersion: 'bulwark.dev/v1alpha1', kind: c.kind, metadata: current.metadata, spec: c.update });
      assert.equal(updated.status, 422, `${c.name}: ${updated.body}`);
      assert.ok(updated.body.includes(c.message), `${c.name}: ${updated.body}`);
    }
  });
});
