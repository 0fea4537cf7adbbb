// Leader election against a real API server: of two replicas only the leader reconciles; a
// leader that cannot renew stops acting before its Lease could lapse; a leader killed with
// SIGKILL is replaced within the lease duration; one stopped with SIGTERM releases the Lease
// and is replaced at once. The process tests run `bulwark operator` itself.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createLogger } from '../src/lib/index.ts';
import { KINDS, KubeClient, loadKubeConfig, startOperator, type KubeRequest, type OperatorHandle, type Reconciler } from '../src/operator/index.ts';
import { ensureBinaries, startControlPlane, type ControlPlane } from './harness/controlplane.ts';

const root = join(import.meta.dirname, '..');
const log = createLogger({ level: 'silent' });
let cp: ControlPlane;

interface Lease {
  metadata: { resourceVersion: string };
  spec: { holderIdentity?: string; leaseDurationSeconds?: number; leaseTransitions?: number; renewTime?: string; acquireTime?: string };
}
const lease = async (ns: string, name = 'bulwark-operator'): Promise<Lease | undefined> => {
  const r = await cp.request('GET', `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/${name}`);
  return r.status === 200 ? r.json<Lease>() : undefined;
};
const until = async <T>(what: string, f: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 20_000, stepMs = 50): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
};

before(async () => {
  await ensureBinaries();
  cp = await startControlPlane();
  await cp.kubectl(['apply', '-f', join(root, 'crds')], { check: true });
  await cp.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/roles.bulwark.dev'], { check: true });
}, { timeout: 30 * 60_000 });
after(() => cp?.stop());

/** A client whose Lease writes and reads can be made to fail, as when the API server is unreachable. */
class BreakableClient extends KubeClient {
  leaseBroken = false;
  override request<T = unknown>(method: string, path: string, req?: KubeRequest): Promise<T> {
    if (this.leaseBroken && path.includes('/leases/')) return Promise.reject(new Error('connect ECONNREFUSED (test)'));
    return super.request<T>(method, path, req);
  }
}

const timing = { leaseDurationMs: 3000, renewDeadlineMs: 2000, renewIntervalMs: 400, retryPeriodMs: 200 };

describe('two replicas in one process', () => {
  let ns: string;
  const reconciled: Record<string, number> = { a: 0, b: 0 };
  const counting = (who: string): Reconciler => ({
    name: 'count',
    primary: KINDS.role,
    owns: [],
    async reconcile() {
      reconciled[who]!++;
    },
  });
  const ops: OperatorHandle[] = [];
  const clients: Record<string, BreakableClient> = {};

  before(async () => {
    ns = await cp.createNamespace('le');
    for (const who of ['a', 'b']) {
      clients[who] = new BreakableClient(loadKubeConfig({ kubeconfig: cp.kubeconfigPath }));
      ops.push(await startOperator({ client: clients[who], reconcilers: [counting(who)], namespaces: [ns], leaderElection: { namespace: ns, identity: who, ...timing }, metricsPort: 0, metricsHost: '127.0.0.1', log, resyncMs: 0 }));
      // a starts first, so it is the leader.
      if (who === 'a') await until('a leads', () => ops[0]!.isLeader());
    }
  });
  after(async () => {
    for (const op of ops) await op.stop();
  });

  test('only the leader reconciles', async () => {
    for (let i = 0; i < 3; i++) await cp.kubectl(['apply', '-n', ns, '-f', '-'], { input: JSON.stringify({ apiVersion: 'bulwark.dev/v1alpha1', kind: 'Role', metadata: { name: `r${i}` }, spec: { rules: [{ resources: [{ type: 'topic', pattern: '*' }], actions: ['read'] }] } }), check: true });
    await until('a reconciled all three', () => reconciled['a']! >= 3);
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(reconciled['b'], 0, 'the standby reconciled nothing');
    assert.equal(ops[1]!.isLeader(), false);
    const l = await lease(ns);
    assert.equal(l?.spec.holderIdentity, 'a');
    assert.equal(l?.spec.leaseDurationSeconds, 3);
    const text = await (await fetch(`http://127.0.0.1:${ops[1]!.metricsPort}/metrics`)).text();
    assert.match(text, /bulwark_operator_leader 0/);
    assert.equal((await fetch(`http://127.0.0.1:${ops[1]!.metricsPort}/readyz`)).status, 200, 'a standby is ready');
  });

  test('a leader that cannot renew stops acting before its Lease lapses; then the other takes over and reconciles everything', async () => {
    const before = await lease(ns);
    const transitions = before!.spec.leaseTransitions ?? 0;
    clients['a']!.leaseBroken = true;
    const brokenAt = Date.now();
    await until('a stops leading', () => !ops[0]!.isLeader(), 10_000, 20);
    const aStoppedAt = Date.now();
    await until('b leads', () => ops[1]!.isLeader(), 10_000, 20);
    const bStartedAt = Date.now();
    assert.ok(aStoppedAt - brokenAt <= timing.renewDeadlineMs + 200, `a stopped ${aStoppedAt - brokenAt} ms after its last chance to renew`);
    assert.ok(aStoppedAt < bStartedAt, 'never two leaders at once');
    await until('b reconciled the roles (level-based start)', () => reconciled['b']! >= 3);
    const after = await lease(ns);
    assert.equal(after?.spec.holderIdentity, 'b');
    assert.equal(after?.spec.leaseTransitions, transitions + 1);
    clients['a']!.leaseBroken = false;
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(ops[0]!.isLeader(), false, 'a, healthy again, stands by while b renews');
  });
});

describe('bulwark operator processes', () => {
  let ns: string;
  const procs: ChildProcess[] = [];
  const exits = new Map<ChildProcess, Promise<number | null>>();

  const operator = (identity: string): ChildProcess => {
    const p = spawn(process.execPath, ['--import', 'tsx', join(root, 'src/cli/entry.ts'), 'operator', '--kubeconfig', cp.kubeconfigPath, '--leader-election-namespace', ns, '--identity', identity, '--metrics-port', '0', '--namespaces', ns, '--lease-duration', '4', '--renew-deadline', '3', '--retry-period', '0.5'], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    exits.set(p, new Promise((resolve) => p.on('exit', (code) => resolve(code))));
    (p as ChildProcess & { output: () => string }).output = () => stderr;
    procs.push(p);
    return p;
  };

  before(async () => {
    ns = await cp.createNamespace('le-proc');
  });
  after(() => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  });

  test('SIGKILL the leader: the standby takes over within the lease duration; SIGTERM: the Lease is released and taken over within about a second', async () => {
    const a = operator('op-a');
    await until('op-a leads', async () => (await lease(ns))?.spec.holderIdentity === 'op-a', 60_000);
    const b = operator('op-b');
    await until('op-b is up (it logged its start)', () => (b as ChildProcess & { output: () => string }).output().includes('operator started'), 60_000);
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal((await lease(ns))?.spec.holderIdentity, 'op-a');

    a.kill('SIGKILL');
    const killedAt = Date.now();
    await until('op-b leads', async () => (await lease(ns))?.spec.holderIdentity === 'op-b', 20_000);
    const takeover = Date.now() - killedAt;
    assert.ok(takeover <= 4000 + 500 + 500, `takeover after SIGKILL took ${takeover} ms (lease 4 s, standby poll 0.5 s)`);

    const c = operator('op-c');
    await until('op-c is up', () => (c as ChildProcess & { output: () => string }).output().includes('operator started'), 60_000);
    await new Promise((r) => setTimeout(r, 500));
    b.kill('SIGTERM');
    const termAt = Date.now();
    await until('op-c leads', async () => (await lease(ns))?.spec.holderIdentity === 'op-c', 10_000, 20);
    const handover = Date.now() - termAt;
    assert.ok(handover <= 1500, `takeover after SIGTERM took ${handover} ms`);
    assert.equal(await exits.get(b), 0, (b as ChildProcess & { output: () => string }).output());
    const out = (b as ChildProcess & { output: () => string }).output();
    assert.match(out, /released the Lease/);
    console.log(`# takeover after SIGKILL: ${takeover} ms; after SIGTERM: ${handover} ms`);
    c.kill('SIGTERM');
    assert.equal(await exits.get(c), 0);
  });
});
