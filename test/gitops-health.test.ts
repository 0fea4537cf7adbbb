// What Argo CD and Flux say about Bulwark's resources. Every status recorded from a real operator
// run (test/fixtures/gitops/<kind>-<expected>-<what>.json, written by test/harness/record-status.ts)
// goes through gitops/argocd/health.lua in gopher-lua the way Argo CD runs it, and through kstatus
// (sigs.k8s.io/cli-utils, what Flux waits on): both must give what a user expects. Then edge cases
// made from those statuses, the generated argocd-cm.yaml, and the install command of docs/gitops.md
// on a real API server.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { KIND_NAMES } from '../src/api/index.ts';
import { healthKey, renderArgocdConfig, WRITE_COMMAND } from '../scripts/lib/argocd-health.ts';
import { startControlPlane, type ControlPlane } from './harness/controlplane.ts';
import { argocdHealth, ensureGitopsCheck, kstatus } from './harness/gitops-check.ts';
import { EXPECTED, FIXTURES_DIR, type Expected } from './harness/record-status.ts';

const root = join(import.meta.dirname, '..');
const ARGOCD: Record<Expected, string> = { healthy: 'Healthy', progressing: 'Progressing', degraded: 'Degraded' };
const KSTATUS: Record<Expected, string> = { healthy: 'Current', progressing: 'InProgress', degraded: 'Failed' };

type Obj = { kind: string; metadata: { name: string; generation?: number }; status?: { observedGeneration?: number; conditions?: { type: string; status: string; reason: string; message: string; observedGeneration?: number }[] } };
interface Fixture {
  file: string;
  kind: string;
  expected: Expected;
  obj: Obj;
}

const fixtures: Fixture[] = readdirSync(FIXTURES_DIR)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((file) => {
    const m = /^([a-z]+)-(healthy|progressing|degraded)-[a-z0-9-]+\.json$/.exec(file);
    if (!m) throw new Error(`test/fixtures/gitops/${file}: not <kind>-<healthy|progressing|degraded>-<what>.json`);
    const obj = JSON.parse(readFileSync(join(FIXTURES_DIR, file), 'utf8')) as Obj;
    return { file, kind: obj.kind, expected: m[2] as Expected, obj };
  });
const clone = (o: Obj): Obj => structuredClone(o);
const conditionOf = (o: Obj, type: string) => o.status!.conditions!.find((c) => c.type === type)!;

before(async () => {
  await ensureGitopsCheck(); // minutes on a cold cache: outside the tests' timeouts
}, { timeout: 900_000 });

describe('statuses recorded from the operator', () => {
  test('every kind is recorded healthy (e2e/docs) and progressing or degraded; BrokerCluster and Topic all three; none carries managedFields', () => {
    const byKind = new Map<string, Set<Expected>>();
    for (const f of fixtures) {
      assert.equal(f.file.split('-')[0], f.kind.toLowerCase(), `${f.file} names its kind`);
      assert.equal(f.obj.metadata && 'managedFields' in f.obj.metadata, false, f.file);
      byKind.set(f.kind, (byKind.get(f.kind) ?? new Set()).add(f.expected));
    }
    for (const kind of KIND_NAMES) {
      const seen = byKind.get(kind) ?? new Set();
      assert.ok(seen.has('progressing') || seen.has('degraded'), `${kind}: a progressing or degraded status is recorded`);
      assert.ok(seen.has('healthy'), `${kind}: a healthy status is recorded`);
    }
    for (const kind of ['BrokerCluster', 'Topic']) assert.deepEqual([...byKind.get(kind)!].sort(), [...EXPECTED].sort(), kind);
  });

  test('Argo CD (health.lua in gopher-lua) says what each status is', async () => {
    const got = await argocdHealth(fixtures.map((f) => f.obj));
    for (const [i, f] of fixtures.entries()) {
      assert.equal(got[i]!.status, ARGOCD[f.expected], `${f.file}: ${got[i]!.message}`);
      const stalled = f.obj.status?.conditions?.find((c) => c.type === 'Stalled' && c.status === 'True');
      // What a user reads in the UI: the reason and the operator's message.
      if (stalled) assert.equal(got[i]!.message, `${stalled.reason}: ${stalled.message}`, f.file);
      if (f.expected === 'healthy') assert.equal(got[i]!.message, conditionOf(f.obj, 'Ready').message, f.file);
    }
  });

  test('kstatus (Flux) agrees: Current, InProgress or Failed', async () => {
    const got = await kstatus(fixtures.map((f) => f.obj));
    for (const [i, f] of fixtures.entries()) assert.equal(got[i]!.status, KSTATUS[f.expected], `${f.file}: ${got[i]!.message}`);
  });
});

describe('edge cases made from the recorded statuses', () => {
  test('a spec change the operator has not observed yet (generation bumped) is Progressing and InProgress, whatever the status said', async () => {
    const bumped = fixtures.map((f) => {
      const o = clone(f.obj);
      o.metadata.generation = (o.metadata.generation ?? 1) + 1;
      return o;
    });
    const [argo, k] = await Promise.all([argocdHealth(bumped), kstatus(bumped)]);
    for (const [i, o] of bumped.entries()) {
      assert.deepEqual([argo[i]!.status, argo[i]!.message], ['Progressing', `waiting for the operator to observe generation ${o.metadata.generation}`], fixtures[i]!.file);
      assert.equal(k[i]!.status, 'InProgress', fixtures[i]!.file);
    }
  });

  test('no status at all (just created): Argo CD waits; kstatus says Current, as it does for any custom resource without conditions', async () => {
    const fresh = KIND_NAMES.map((kind) => {
      const f = fixtures.find((x) => x.kind === kind)!;
      const { status: _s, ...o } = clone(f.obj);
      return { ...o, metadata: { ...o.metadata, generation: 1 } };
    });
    const [argo, k] = await Promise.all([argocdHealth(fresh), kstatus(fresh)]);
    for (const [i, kind] of KIND_NAMES.entries()) {
      assert.deepEqual([argo[i]!.status, argo[i]!.message], ['Progressing', 'waiting for the operator to observe generation 1'], kind);
      // kstatus's fallback (docs/gitops.md, "Flux"): no observedGeneration and no condition is Current.
      assert.equal(k[i]!.status, 'Current', kind);
    }
  });

  test('status.observedGeneration missing but conditions present: Argo CD still waits', async () => {
    const o = clone(fixtures.find((f) => f.file === 'topic-healthy-applied.json')!.obj);
    delete o.status!.observedGeneration;
    assert.equal((await argocdHealth([o]))[0]!.status, 'Progressing');
  });

  test('Ready False with neither Reconciling nor Stalled True is Progressing and InProgress, not Degraded', async () => {
    const o = clone(fixtures.find((f) => f.file === 'topic-healthy-applied.json')!.obj);
    Object.assign(conditionOf(o, 'Ready'), { status: 'False', reason: 'Propagating', message: 'applied on 2/3 brokers' });
    const [argo, k] = await Promise.all([argocdHealth([o]), kstatus([o])]);
    assert.deepEqual([argo[0]!.status, argo[0]!.message], ['Progressing', 'Propagating: applied on 2/3 brokers']);
    assert.equal(k[0]!.status, 'InProgress');
  });

  test('a Ready condition computed from an older generation is not Healthy', async () => {
    const o = clone(fixtures.find((f) => f.file === 'brokercluster-healthy-ready.json')!.obj);
    for (const c of o.status!.conditions!) c.observedGeneration = o.metadata.generation! - 1;
    assert.equal((await argocdHealth([o]))[0]!.status, 'Progressing');
  });

  test('Stalled wins over Reconciling in Argo CD: a stalled resource is Degraded even if it also says it reconciles', async () => {
    const o = clone(fixtures.find((f) => f.file === 'topic-degraded-replication-not-supported.json')!.obj);
    conditionOf(o, 'Reconciling').status = 'True';
    // The operator never writes both (applyDecision); kstatus would take the first in list order.
    assert.equal((await argocdHealth([o]))[0]!.status, 'Degraded');
  });
});

describe('the Argo CD configuration', () => {
  test(`gitops/argocd/argocd-cm.yaml is what ${WRITE_COMMAND} writes`, () => {
    for (const { path, text } of renderArgocdConfig()) {
      let onDisk: string | undefined;
      try {
        onDisk = readFileSync(join(root, path), 'utf8');
      } catch {
        onDisk = undefined;
      }
      assert.ok(onDisk === text, `${path} is stale: run \`${WRITE_COMMAND}\``);
    }
  });

  test('argocd-cm.yaml holds health.lua under resource.customizations.health.bulwark.dev_<Kind> for every kind, and nothing else', () => {
    const cm = parse(readFileSync(join(root, 'gitops', 'argocd', 'argocd-cm.yaml'), 'utf8')) as { kind: string; metadata: { name: string }; data: Record<string, string> };
    const script = readFileSync(join(root, 'gitops', 'argocd', 'health.lua'), 'utf8');
    assert.equal(cm.kind, 'ConfigMap');
    assert.equal(cm.metadata.name, 'argocd-cm');
    assert.deepEqual(Object.keys(cm.data).sort(), KIND_NAMES.map(healthKey).sort());
    for (const v of Object.values(cm.data)) assert.equal(v, script);
  });
});

describe('docs/gitops.md: installing the checks into an existing argocd-cm', { timeout: 180_000 }, () => {
  let cp: ControlPlane;
  before(async () => {
    cp = await startControlPlane();
  }, { timeout: 300_000 });
  after(async () => cp?.stop());

  test('the kubectl command of the docs adds the six keys and keeps the keys already there', async () => {
    const docs = readFileSync(join(root, 'docs', 'gitops.md'), 'utf8');
    const line = docs.split('\n').find((l) => l.startsWith('kubectl -n argocd patch configmap argocd-cm'));
    assert.ok(line, 'docs/gitops.md shows the kubectl patch command');
    const args = line.split(/\s+/).slice(1).map((a) => (a.startsWith('gitops/') ? join(root, a) : a));
    await cp.kubectl(['create', 'namespace', 'argocd'], { check: true });
    await cp.kubectl(['-n', 'argocd', 'create', 'configmap', 'argocd-cm', '--from-literal=url=https://argocd.example.com'], { check: true });
    const r = await cp.kubectl(args);
    assert.equal(r.code, 0, r.stderr);
    const live = JSON.parse((await cp.kubectl(['-n', 'argocd', 'get', 'configmap', 'argocd-cm', '-o', 'json'], { check: true })).stdout) as { data: Record<string, string> };
    const script = readFileSync(join(root, 'gitops', 'argocd', 'health.lua'), 'utf8');
    assert.equal(live.data.url, 'https://argocd.example.com', 'an existing key is kept');
    for (const kind of KIND_NAMES) assert.equal(live.data[healthKey(kind)], script, kind);
  });
});
