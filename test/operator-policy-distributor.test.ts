// The operator's policy distributor: which pods get the snapshot, which version it carries, and
// what happens when a broker already holds a newer one. The push itself is the shared client of
// src/policy (test/policy-distribution*.test.ts proves it against a real internal listener); the
// e2e scenario proves the whole path on the test node.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { BrokerCluster } from '../src/api/index.ts';
import { distributePolicy, nextVersion, pushTargets, type BrokerPod } from '../src/operator/policy/index.ts';
import type { PushResult } from '../src/policy/index.ts';
import { resource } from './harness/resources.ts';

const cluster = resource('BrokerCluster', 'c1', {
  replicas: 2,
  storage: { size: '1Gi' },
  listeners: [{ name: 'kafka', protocol: 'kafka', port: 9092, authentication: ['anonymous'] }],
  authentication: { allowAnonymous: true },
}) as BrokerCluster;

const pod = (name: string, ip: string | undefined, running = true, deleting = false): BrokerPod => ({
  metadata: { name, ...(deleting ? { deletionTimestamp: '2026-12-06T00:00:00Z' } : {}) },
  status: { ...(ip ? { podIP: ip } : {}), containerStatuses: [{ name: 'broker', state: running ? { running: {} } : {} }] },
});

describe('operator policy distribution', () => {
  test('the version stays while the content is the same and moves forward when it changes', () => {
    assert.equal(nextVersion(undefined, 'sha256:a'), 1);
    assert.equal(nextVersion({ version: 7, hash: 'sha256:a' }, 'sha256:a'), 7);
    assert.equal(nextVersion({ version: 7, hash: 'sha256:a' }, 'sha256:b'), 8);
  });

  test('only pods with an address and a running broker container, not being deleted, are pushed to', () => {
    const targets = pushTargets([pod('c1-1', '10.0.0.2'), pod('c1-0', '10.0.0.1'), pod('c1-2', undefined), pod('c1-3', '10.0.0.4', false), pod('c1-4', '10.0.0.5', true, true)], (p) => `${p}.c1-brokers.team.svc`);
    assert.deepEqual(targets, [
      { pod: 'c1-0', host: '10.0.0.1', servername: 'c1-0.c1-brokers.team.svc' },
      { pod: 'c1-1', host: '10.0.0.2', servername: 'c1-1.c1-brokers.team.svc' },
    ]);
  });

  test('a broker holding a newer version than the operator recorded makes the next push exceed it', async () => {
    const seen: number[] = [];
    const push = async (_t: unknown, _tls: unknown, snapshot: { version: number; hash: string }): Promise<PushResult> => {
      seen.push(snapshot.version);
      if (snapshot.version <= 41) return { outcome: 'rejected', reason: 'stale-version', applied: { version: 41, hash: 'sha256:old', source: 'push' }, message: 'stale' };
      return { outcome: 'applied', applied: { version: snapshot.version, hash: snapshot.hash, source: 'push' }, unchanged: false };
    };
    const out = await distributePolicy({
      cluster,
      resources: [cluster],
      previous: { version: 3, hash: 'sha256:other' },
      targets: [{ pod: 'c1-0', host: '10.0.0.1', servername: 'c1-0' }],
      port: 9443,
      tls: { ca: '', cert: '', key: '' },
      push: push as never,
    });
    assert.deepEqual(seen, [4, 42]);
    assert.equal(out.snapshot.version, 42);
    assert.equal(out.inSync, 1);
    assert.deepEqual(out.failures, []);
  });

  test('an unreachable broker is reported by pod, and the others still get the snapshot', async () => {
    const push = async (t: { host: string }, _tls: unknown, snapshot: { version: number; hash: string }): Promise<PushResult> =>
      t.host === '10.0.0.2'
        ? { outcome: 'unreachable', error: { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 10.0.0.2:9443' } }
        : { outcome: 'applied', applied: { version: snapshot.version, hash: snapshot.hash, source: 'push' }, unchanged: false };
    const out = await distributePolicy({
      cluster,
      resources: [cluster],
      targets: [{ pod: 'c1-0', host: '10.0.0.1', servername: 'a' }, { pod: 'c1-1', host: '10.0.0.2', servername: 'b' }],
      port: 9443,
      tls: { ca: '', cert: '', key: '' },
      push: push as never,
    });
    assert.equal(out.snapshot.version, 1);
    assert.equal(out.brokers, 2);
    assert.equal(out.inSync, 1);
    assert.deepEqual(out.failures, [{ pod: 'c1-1', message: 'unreachable: ECONNREFUSED: connect ECONNREFUSED 10.0.0.2:9443' }]);
    assert.equal(out.snapshot.settings.allowAnonymous, true, 'the snapshot is compiled from the BrokerCluster');
  });

  test('a broker run that confirmed the current snapshot is not pushed to again; a restarted container is', async () => {
    let pushes = 0;
    const push = async (_t: unknown, _tls: unknown, snapshot: { version: number; hash: string }): Promise<PushResult> => {
      pushes++;
      return { outcome: 'applied', applied: { version: snapshot.version, hash: snapshot.hash, source: 'push' }, unchanged: false };
    };
    const confirmed = new Map<string, { version: number; hash: string }>();
    const run = async (instance: string, previous?: { version: number; hash: string }) =>
      distributePolicy({ cluster, resources: [cluster], ...(previous ? { previous } : {}), targets: [{ pod: 'c1-0', instance, host: '10.0.0.1', servername: 'a' }], port: 9443, tls: { ca: '', cert: '', key: '' }, push: push as never, confirmed });
    const first = await run('uid-1/containerd://aaa');
    assert.equal(pushes, 1);
    const again = await run('uid-1/containerd://aaa', { version: first.snapshot.version, hash: first.snapshot.hash });
    assert.equal(pushes, 1, 'nothing to send: that broker run holds this snapshot');
    assert.equal(again.inSync, 1);
    await run('uid-1/containerd://bbb', { version: first.snapshot.version, hash: first.snapshot.hash });
    assert.equal(pushes, 2, 'a restarted container is pushed to');
    assert.deepEqual([...confirmed.keys()], ['uid-1/containerd://bbb'], 'runs that are gone are forgotten');
  });
});
