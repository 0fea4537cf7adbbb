// Pushes a BrokerCluster's ClusterState to every broker pod that runs, exactly as the policy is
// pushed (src/operator/policy/distributor.ts): over mTLS as the operator, with the shared client of
// src/cluster/distribution.ts; a broker run that confirmed this very state is not sent it again;
// a broker holding a newer version (pushed by an earlier operator that never recorded it) makes the
// next version exceed it.
import { clusterStateHash, pushClusterState, type ClusterState, type ClusterStatePushResult } from '../../cluster/index.ts';
import type { DistributionTls } from '../../lib/index.ts';
import type { BrokerTarget } from '../policy/index.ts';
import { nextClusterStateVersion, type ClusterStateContent } from './compile.ts';

export interface ClusterStateRef {
  version: number;
  hash: string;
}

export interface ClusterStateDistribution {
  content: ClusterStateContent;
  /** What every broker last held, as recorded in the BrokerCluster's status. */
  previous?: ClusterStateRef;
  targets: readonly BrokerTarget[];
  port: number;
  tls: DistributionTls;
  push?: typeof pushClusterState;
  timeoutMs?: number;
  /** What each broker run (BrokerTarget.instance) confirmed, kept between reconciles. Updated here. */
  confirmed?: Map<string, ClusterStateRef>;
}

export interface ClusterStateOutcome {
  state: ClusterState;
  hash: string;
  brokers: number;
  inSync: number;
  failures: { pod: string; message: string }[];
  /** Pushes sent (not counting brokers that had confirmed this state). */
  pushed: number;
}

export async function distributeClusterState(input: ClusterStateDistribution): Promise<ClusterStateOutcome> {
  const push = input.push ?? pushClusterState;
  const seal = (version: number) => {
    const state = { ...input.content, version };
    return { state, hash: clusterStateHash(state) };
  };
  let sealed = seal(nextClusterStateVersion(input.previous, input.content));
  let pushed = 0;
  const confirmed = input.confirmed;
  const send = async (t: BrokerTarget): Promise<ClusterStatePushResult> => {
    const c = t.instance === undefined ? undefined : confirmed?.get(t.instance);
    if (c && c.version === sealed.state.version && c.hash === sealed.hash) return { outcome: 'applied', applied: { version: c.version, hash: c.hash, source: 'push' }, unchanged: true };
    pushed++;
    const r = await push({ host: t.host, port: input.port, servername: t.servername }, input.tls, sealed.state, { timeoutMs: input.timeoutMs ?? 5_000 });
    if (r.outcome === 'applied' && t.instance !== undefined) confirmed?.set(t.instance, { version: r.applied.version, hash: r.applied.hash });
    return r;
  };
  let results = await Promise.all(input.targets.map(send));
  const newest = Math.max(0, ...results.map((r) => (r.outcome === 'rejected' ? r.applied.version : 0)));
  if (newest >= sealed.state.version) {
    sealed = seal(newest + 1);
    results = await Promise.all(input.targets.map(send));
  }
  if (confirmed) {
    const live = new Set(input.targets.map((t) => t.instance));
    for (const instance of confirmed.keys()) if (!live.has(instance)) confirmed.delete(instance);
  }
  const failures = results.flatMap((r, i) => (r.outcome === 'applied' ? [] : [{ pod: input.targets[i]!.pod, message: describeFailure(r) }]));
  return { state: sealed.state, hash: sealed.hash, brokers: input.targets.length, inSync: results.length - failures.length, failures, pushed };
}

function describeFailure(r: Exclude<ClusterStatePushResult, { outcome: 'applied' }>): string {
  if (r.outcome === 'rejected') return `rejected (${r.reason}): ${r.message}`;
  return `${r.outcome}: ${r.error.code}: ${r.error.message}`;
}
