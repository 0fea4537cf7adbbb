// The operator's machinery against a real kube-apiserver and etcd: server-side apply, status,
// informers (410 Gone relists and misses nothing), events, and the runner repairing drift on
// owned objects. The API server runs without its watch cache, so a watch from a compacted
// resourceVersion reaches etcd and gets 410, as it does on a busy cluster.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { captureLogs, createLogger, realClock } from '../src/lib/index.ts';
import {
  FIELD_MANAGER,
  Informer,
  KINDS,
  KubeClient,
  KubeEventRecorder,
  KubeObjectApi,
  loadKubeConfig,
  setCondition,
  startOperator,
  type Condition,
  type KubeObject,
  type OperatorHandle,
  type Reconciler,
  type WatchEvent,
} from '../src/operator/index.ts';
import { ensureBinaries, startControlPlane, type ControlPlane } from './harness/controlplane.ts';

const root = join(import.meta.dirname, '..');
const log = createLogger({ level: 'silent' });
let cp: ControlPlane;
let client: KubeClient;
let api: KubeObjectApi;

const until = async <T>(what: string, f: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

type ConfigMap = KubeObject & { data?: Record<string, string> };
const configMap = (ns: string, name: string, data: Record<string, string>): ConfigMap => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns }, data });

before(async () => {
  await ensureBinaries();
  cp = await startControlPlane({ apiserverArgs: ['--watch-cache=false'] });
  await cp.kubectl(['apply', '-f', join(root, 'crds')], { check: true });
  await cp.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/roles.bulwark.dev'], { check: true });
  client = new KubeClient(loadKubeConfig({ kubeconfig: cp.kubeconfigPath }));
  api = new KubeObjectApi(client, Object.values(KINDS));
}, { timeout: 30 * 60_000 });
after(async () => {
  client?.close();
  await cp?.stop();
});

describe('server-side apply', () => {
  test('applying the same object twice changes nothing: the resourceVersion stays', async () => {
    const ns = await cp.createNamespace('ssa');
    const first = await api.apply(configMap(ns, 'same', { a: '1' }));
    const second = await api.apply(configMap(ns, 'same', { a: '1' }));
    assert.equal(second.metadata.resourceVersion, first.metadata.resourceVersion);
    const managers = (second.metadata as { managedFields?: { manager: string; operation: string }[] }).managedFields ?? [];
    assert.deepEqual(managers.map((m) => `${m.manager}/${m.operation}`), [`${FIELD_MANAGER}/Apply`]);
  });

  test("a field another manager owns is left alone, unless the operator sets it (then the operator's value wins)", async () => {
    const ns = await cp.createNamespace('ssa');
    await api.apply(configMap(ns, 'shared', { ours: '1' }));
    const other = await cp.kubectl(['apply', '--server-side', '--field-manager=someone-else', '-f', '-'], { input: JSON.stringify(configMap(ns, 'shared', { theirs: 'x' })) });
    assert.equal(other.code, 0, other.stderr);
    const again = await api.apply(configMap(ns, 'shared', { ours: '2' }));
    assert.deepEqual(again.data, { ours: '2', theirs: 'x' });
    const taken = await api.apply(configMap(ns, 'shared', { ours: '2', theirs: 'mine' }));
    assert.deepEqual(taken.data, { ours: '2', theirs: 'mine' });
  });

  test('status is applied on the status subresource, and an unchanged status is a no-op', async () => {
    const ns = await cp.createNamespace('ssa');
    const role: KubeObject = { apiVersion: 'bulwark.dev/v1alpha1', kind: 'Role', metadata: { name: 'r', namespace: ns }, spec: { rules: [{ resources: [{ type: 'topic', pattern: '*' }], actions: ['read'] }] } };
    const created = await api.apply(role);
    const status = { observedGeneration: created.metadata.generation, conditions: setCondition(undefined, { type: 'Ready', status: 'True', reason: 'Compiled', message: 'ok', observedGeneration: created.metadata.generation! }, Date.now()) };
    const s1 = await api.applyStatus<KubeObject & { status?: unknown }>({ apiVersion: role.apiVersion, kind: role.kind, metadata: { name: 'r', namespace: ns }, status });
    assert.deepEqual(s1.status, status);
    assert.notEqual(s1.metadata.resourceVersion, created.metadata.resourceVersion);
    const s2 = await api.applyStatus({ apiVersion: role.apiVersion, kind: role.kind, metadata: { name: 'r', namespace: ns }, status });
    assert.equal(s2.metadata.resourceVersion, s1.metadata.resourceVersion);
    // The status write did not touch the spec, and an apply of the spec leaves the status.
    const respec = await api.apply<KubeObject & { status?: unknown }>(role);
    assert.deepEqual(respec.status, status);
  });

  test('get answers undefined for a missing object; delete of a missing object is fine', async () => {
    const ns = await cp.createNamespace('ssa');
    assert.equal(await api.get(KINDS.configMap, { namespace: ns, name: 'nope' }), undefined);
    await api.delete(KINDS.configMap, { namespace: ns, name: 'nope' });
    await api.apply(configMap(ns, 'gone', { a: '1' }));
    await api.delete(KINDS.configMap, { namespace: ns, name: 'gone' });
    assert.equal(await api.get(KINDS.configMap, { namespace: ns, name: 'gone' }), undefined);
  });
});

/** A client whose watches wait at a gate: the test can hold the informer's watch down while things change. */
class GatedClient extends KubeClient {
  gate: Promise<void> = Promise.resolve();
  watches = 0;
  failures = 0;
  override async watch(path: string, query: Record<string, string | number | boolean | undefined> | undefined, onEvent: (e: WatchEvent) => void, signal: AbortSignal, idleTimeoutMs?: number): Promise<void> {
    await this.gate;
    this.watches++;
    if (this.failures > 0) {
      this.failures--;
      throw new Error('connect ECONNREFUSED (test)');
    }
    return super.watch(path, query, onEvent, signal, idleTimeoutMs);
  }
}

async function etcd<T>(path: string, body: unknown): Promise<T> {
  const r = await fetch(`${cp.etcdUrl}${path}`, { method: 'POST', body: JSON.stringify(body) });
  const text = await r.text();
  assert.equal(r.status, 200, text);
  return JSON.parse(text) as T;
}

describe('informers', () => {
  test('list then watch, cache by namespace/name, and a relist on 410 Gone that reports every change missed', async () => {
    const ns = await cp.createNamespace('inf');
    await api.apply(configMap(ns, 'keep', { v: '1' }));
    await api.apply(configMap(ns, 'change', { v: '1' }));
    await api.apply(configMap(ns, 'remove', { v: '1' }));
    const gated = new GatedClient(loadKubeConfig({ kubeconfig: cp.kubeconfigPath }));
    const restarts: string[] = [];
    const inf = new Informer({ client: gated, api: new KubeObjectApi(gated, Object.values(KINDS)), kind: KINDS.configMap, namespace: ns, clock: realClock, log, backoffMs: [50, 200], onRestart: (cause, relist) => restarts.push(`${cause}${relist ? '+relist' : ''}`) });
    const seen: string[] = [];
    inf.addHandlers({ add: (o) => seen.push(`add ${o.metadata.name}`), update: (o) => seen.push(`update ${o.metadata.name}`), delete: (o) => seen.push(`delete ${o.metadata.name}`) });
    inf.start();
    try {
      await inf.synced;
      assert.deepEqual(inf.list().map((o) => o.metadata.name).sort(), ['change', 'keep', 'remove']);
      assert.equal(inf.get(ns, 'keep')?.kind, 'ConfigMap', 'objects from a list carry their kind');
      await until('the watch', () => gated.watches === 1 || undefined);

      // A change while watching arrives through the watch.
      await api.apply(configMap(ns, 'live', { v: '1' }));
      await until('the live add', () => seen.includes('add live') || undefined);
      assert.equal(inf.lists, 1);

      // Hold the watch down; change things; compact etcd past the informer's resourceVersion.
      let open!: () => void;
      gated.gate = new Promise((r) => (open = r));
      inf.restartWatch();
      seen.length = 0;
      await api.apply(configMap(ns, 'change', { v: '2' }));
      await api.delete(KINDS.configMap, { namespace: ns, name: 'remove' });
      await api.apply(configMap(ns, 'new', { v: '1' }));
      const { header } = await etcd<{ header: { revision: string } }>('/v3/kv/range', { key: Buffer.from('/').toString('base64') });
      await etcd('/v3/kv/compaction', { revision: header.revision, physical: true });
      open();

      await until('the relist', () => inf.lists === 2 || undefined);
      await until('every missed change reported', () => seen.length >= 3 || undefined);
      assert.deepEqual(seen.sort(), ['add new', 'delete remove', 'update change']);
      assert.ok(restarts.includes('gone+relist'), `restarts: ${restarts.join(', ')}`);
      assert.equal((inf.get(ns, 'change') as ConfigMap).data?.v, '2');
      assert.equal(inf.get(ns, 'remove'), undefined);

      // And it watches again from the fresh list.
      await api.apply(configMap(ns, 'after', { v: '1' }));
      await until('a change after the relist', () => seen.includes('add after') || undefined);

      // Watches that fail are retried with backoff, from where they were: no relist, nothing missed.
      const errorsBefore = restarts.filter((r) => r === 'error').length;
      gated.failures = 3;
      inf.restartWatch();
      await api.apply(configMap(ns, 'during-failures', { v: '1' }));
      await until('the change made while watches failed', () => seen.includes('add during-failures') || undefined);
      assert.equal(restarts.filter((r) => r === 'error').length, errorsBefore + 1 + 3, `restarts: ${restarts.join(', ')}`);
      assert.equal(inf.lists, 2);
    } finally {
      inf.stop();
      gated.close();
    }
  });

  test('a watch the server ends resumes from the last resourceVersion without relisting; bookmarks are not changes', async () => {
    const ns = await cp.createNamespace('inf');
    const inf = new Informer({ client, api, kind: KINDS.configMap, namespace: ns, clock: realClock, log, watchTimeoutSeconds: [1, 2] });
    const seen: string[] = [];
    inf.addHandlers({ add: (o) => seen.push(`add ${o.metadata.name}`), update: (o) => seen.push(`update ${o.metadata.name}`), delete: (o) => seen.push(`delete ${o.metadata.name}`) });
    inf.start();
    try {
      await inf.synced;
      await new Promise((r) => setTimeout(r, 3500)); // at least one server-side timeout
      await api.apply(configMap(ns, 'x', { v: '1' }));
      await until('the add after a resumed watch', () => seen.includes('add x') || undefined);
      assert.equal(inf.lists, 1, 'no relist after the server ended the watch');
      assert.deepEqual(seen, ['add x']);
    } finally {
      inf.stop();
    }
  });

  test("the cache keeps objects without managedFields and kubectl's last-applied annotation, listed or watched (memory at 10k Users)", async () => {
    const ns = await cp.createNamespace('inf');
    const withAnnotations = (name: string) => ({ ...configMap(ns, name, { v: '1' }), metadata: { ...configMap(ns, name, {}).metadata, annotations: { keep: 'me' } } });
    const listed = await cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify(withAnnotations('listed')) });
    assert.equal(listed.code, 0, listed.stderr);
    const inf = new Informer({ client, api, kind: KINDS.configMap, namespace: ns, clock: realClock, log });
    inf.start();
    try {
      await inf.synced;
      const watched = await cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify(withAnnotations('watched')) });
      assert.equal(watched.code, 0, watched.stderr);
      for (const name of ['listed', 'watched']) {
        const fromServer = await api.get(KINDS.configMap, { namespace: ns, name });
        const meta = fromServer!.metadata as { managedFields?: unknown[]; annotations?: Record<string, string> };
        assert.ok(meta.managedFields?.length, `${name}: the server has managedFields`);
        assert.ok(meta.annotations?.['kubectl.kubernetes.io/last-applied-configuration'], `${name}: the server has the last-applied annotation`);
        const inCache = await until(`${name} in the cache`, () => inf.get(ns, name));
        assert.equal((inCache.metadata as { managedFields?: unknown }).managedFields, undefined, name);
        assert.deepEqual(inCache.metadata.annotations, { keep: 'me' }, name);
        assert.deepEqual((inCache as { data?: unknown }).data, { v: '1' }, name);
        assert.equal(inCache.metadata.resourceVersion, fromServer!.metadata.resourceVersion, name);
      }
    } finally {
      inf.stop();
    }
  });
});

describe('events', () => {
  test('an Event names the object, and repeats raise its count instead of adding Events', async () => {
    const ns = await cp.createNamespace('ev');
    const cm = await api.apply(configMap(ns, 'subject', { a: '1' }));
    const events = new KubeEventRecorder({ client, clock: realClock, log, instance: 'test' });
    events.emit(cm, 'Normal', 'Applied', 'applied the thing');
    events.emit(cm, 'Normal', 'Applied', 'applied the thing');
    events.emit(cm, 'Normal', 'Applied', 'applied the thing');
    events.emit(cm, 'Warning', 'Refused', 'password=hunter2 is not allowed');
    await events.flush();
    const list = await client.request<{ items: { reason: string; type: string; count: number; message: string; involvedObject: { kind: string; name: string; uid: string } }[] }>('GET', `/api/v1/namespaces/${ns}/events`);
    const applied = list.items.filter((e) => e.reason === 'Applied');
    assert.equal(applied.length, 1);
    assert.equal(applied[0]!.count, 3);
    assert.deepEqual(applied[0]!.involvedObject, { ...applied[0]!.involvedObject, kind: 'ConfigMap', name: 'subject', uid: cm.metadata.uid });
    const refused = list.items.find((e) => e.reason === 'Refused')!;
    assert.equal(refused.type, 'Warning');
    assert.doesNotMatch(refused.message, /hunter2/, 'an Event message is scrubbed like a log line');
  });
});

describe('the runner', () => {
  let op: OperatorHandle;
  let ns: string;
  const calls: string[] = [];
  let inFlight = 0;
  let overlap = false;

  type Role = KubeObject & { spec: { rules: unknown[] }; status?: { conditions?: Condition[] } };
  const roleRules: Reconciler = {
    name: 'role-rules',
    primary: KINDS.role,
    owns: [KINDS.configMap],
    async reconcile(key, ctx) {
      calls.push(`${key.namespace}/${key.name}`);
      if (++inFlight > 1) overlap = true;
      try {
        const role = ctx.cache.get<Role>(KINDS.role, key);
        if (!role) return;
        await ctx.api.apply({
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: `${key.name}-rules`, namespace: key.namespace, ownerReferences: [{ apiVersion: role.apiVersion, kind: role.kind, name: role.metadata.name, uid: role.metadata.uid!, controller: true, blockOwnerDeletion: true }] },
          data: { rules: JSON.stringify(role.spec.rules) },
        });
        const conditions = setCondition(role.status?.conditions, { type: 'Ready', status: 'True', reason: 'Rendered', message: 'rules rendered', observedGeneration: role.metadata.generation! }, ctx.clock.now());
        await ctx.api.applyStatus({ apiVersion: role.apiVersion, kind: role.kind, metadata: { name: key.name, namespace: key.namespace }, status: { observedGeneration: role.metadata.generation, conditions } });
        ctx.events.emit(role, 'Normal', 'Rendered', 'rules rendered');
      } finally {
        inFlight--;
      }
    },
  };

  before(async () => {
    ns = await cp.createNamespace('run');
    op = await startOperator({ kubeconfig: cp.kubeconfigPath, reconcilers: [roleRules], namespaces: [ns], leaderElection: false, metricsPort: 0, metricsHost: '127.0.0.1', log, resyncMs: 0, concurrency: 1 });
    await op.synced();
  });
  after(() => op?.stop());

  const cm = () => api.get<ConfigMap>(KINDS.configMap, { namespace: ns, name: 'readers-rules' });

  test('a new primary object is reconciled: owned object applied, status Ready, an Event', async () => {
    const r = await cp.kubectl(['apply', '-n', ns, '-f', '-'], { input: JSON.stringify({ apiVersion: 'bulwark.dev/v1alpha1', kind: 'Role', metadata: { name: 'readers' }, spec: { rules: [{ resources: [{ type: 'topic', pattern: '*' }], actions: ['read'] }] } }) });
    assert.equal(r.code, 0, r.stderr);
    const owned = await until('the owned ConfigMap', cm);
    assert.match(owned.data!.rules!, /"read"/);
    const role = await until('Ready', async () => {
      const x = await api.get<Role>(KINDS.role, { namespace: ns, name: 'readers' });
      return x?.status?.conditions?.find((c) => c.type === 'Ready' && c.status === 'True') ? x : undefined;
    });
    assert.equal(role.metadata.name, 'readers');
  });

  test('editing an owned object is repaired', async () => {
    const r = await cp.kubectl(['patch', 'configmap', 'readers-rules', '-n', ns, '--type=merge', '-p', '{"data":{"rules":"tampered"}}']);
    assert.equal(r.code, 0, r.stderr);
    await until('repaired', async () => ((await cm())?.data?.rules?.includes('read') ? true : undefined));
  });

  test('deleting an owned object is repaired', async () => {
    const before = (await cm())!.metadata.uid;
    await api.delete(KINDS.configMap, { namespace: ns, name: 'readers-rules' });
    const back = await until('recreated', async () => {
      const x = await cm();
      return x && x.metadata.uid !== before ? x : undefined;
    });
    assert.match(back.data!.rules!, /"read"/);
  });

  test('a key is never reconciled twice at once, and the readiness and metrics endpoints answer', async () => {
    for (let i = 0; i < 5; i++) await cp.kubectl(['annotate', 'roles.bulwark.dev', 'readers', '-n', ns, `bump=${i}`, '--overwrite'], { check: true });
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(overlap, false);
    const base = `http://127.0.0.1:${op.metricsPort}`;
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    const text = await (await fetch(`${base}/metrics`)).text();
    assert.match(text, /bulwark_operator_reconcile_total\{reconciler="role-rules",result="success"\} [1-9]/);
    assert.match(text, /bulwark_operator_reconcile_duration_seconds_count\{reconciler="role-rules"\} [1-9]/);
    assert.match(text, /bulwark_operator_queue_depth\{reconciler="role-rules"\} 0/);
    assert.match(text, /bulwark_operator_leader 1/);
    assert.match(text, /bulwark_operator_informer_restarts_total|# TYPE bulwark_operator_informer_restarts_total counter/);
    const events = await client.request<{ items: { reason: string; count: number; involvedObject: { name: string } }[] }>('GET', `/api/v1/namespaces/${ns}/events`);
    const rendered = events.items.filter((e) => e.reason === 'Rendered' && e.involvedObject.name === 'readers');
    assert.equal(rendered.length, 1, 'one Event, its count raised');
    assert.ok(rendered[0]!.count >= 2);
  });

  test('a reconcile that fails is retried with backoff, and counted', async () => {
    let fails = 2;
    const flaky: Reconciler = {
      name: 'flaky',
      primary: KINDS.role,
      owns: [],
      async reconcile() {
        if (fails-- > 0) throw new Error('not yet');
      },
    };
    const lines = captureLogs();
    const op2 = await startOperator({ kubeconfig: cp.kubeconfigPath, reconcilers: [flaky], namespaces: [ns], leaderElection: false, metricsPort: 0, metricsHost: '127.0.0.1', log: lines.logger, resyncMs: 0, backoffMs: [50, 200] });
    try {
      await until('two failures then a success', async () => {
        const text = await (await fetch(`http://127.0.0.1:${op2.metricsPort}/metrics`)).text();
        return /bulwark_operator_reconcile_total\{reconciler="flaky",result="success"\} 1/.test(text) && /bulwark_operator_reconcile_errors_total\{reconciler="flaky"\} 2/.test(text) ? true : undefined;
      });
      assert.ok(lines.messages().includes('reconcile failed; retrying'));
    } finally {
      await op2.stop();
    }
  });

  test('serving all namespaces, Secrets are read only per namespace where a primary object is, synced before its reconcile; resync reconciles again', async () => {
    const found: string[] = [];
    const secretReader: Reconciler = {
      name: 'secret-reader',
      primary: KINDS.role,
      owns: [],
      watches: [{ kind: KINDS.secret, map: (o) => [{ namespace: o.metadata.namespace!, name: 'topic-reader' }] }],
      async reconcile(key, ctx) {
        if (key.name !== 'topic-reader') return;
        found.push(ctx.cache.get(KINDS.secret, { namespace: key.namespace, name: 'creds' }) ? 'found' : 'missing');
      },
    };
    const ns2 = await cp.createNamespace('lazy');
    await cp.kubectl(['create', 'secret', 'generic', 'creds', '-n', ns2, '--from-literal=password=x'], { check: true });
    const op3 = await startOperator({ kubeconfig: cp.kubeconfigPath, reconcilers: [secretReader], leaderElection: false, metricsPort: 0, metricsHost: '127.0.0.1', log, resyncMs: 400 });
    try {
      await op3.synced();
      const secretInformers = () => op3.runner.informers().filter((i) => i.kind === KINDS.secret).map((i) => i.namespace);
      assert.ok(!secretInformers().includes(undefined), 'no cluster-wide Secret informer');
      assert.ok(!secretInformers().includes(ns2), 'none yet where no primary object is');
      await cp.kubectl(['apply', '-n', ns2, '-f', '-'], { input: JSON.stringify({ apiVersion: 'bulwark.dev/v1alpha1', kind: 'Role', metadata: { name: 'topic-reader' }, spec: { rules: [{ resources: [{ type: 'topic', pattern: '*' }], actions: ['read'] }] } }), check: true });
      await until('the reconcile', () => (found.length > 0 ? true : undefined));
      assert.equal(found[0], 'found', 'the Secret informer of the namespace had synced before the reconcile');
      assert.ok(secretInformers().includes(ns2));
      assert.ok(!secretInformers().includes(undefined));
      const n = found.length;
      await until('a resync', () => (found.length >= n + 2 ? true : undefined), 5000);
    } finally {
      await op3.stop();
    }
  });
});
