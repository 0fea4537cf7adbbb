// Pushes a BrokerCluster's PolicySnapshot to the internal listener of every broker pod that runs,
// over mTLS as the operator, with the push client of src/policy (the contract both sides share).
//
// Versions only move forward: the version is kept while the content hash is unchanged and bumped
// when it changes; a broker that already holds a newer version (an earlier operator incarnation
// pushed it and never recorded it in status) makes the next version exceed it. Pods are pushed to
// before they are Ready: a broker reports Ready only once it holds a snapshot (src/broker/probes.ts).
import type { BrokerCluster, BulwarkResource } from '../../api/index.ts';
import { compilePolicy, pushSnapshot, sealSnapshot, type CompileInput, type CompileResult, type Diagnostic, type DistributionTls, type PolicySnapshot, type PushResult, type SnapshotRef } from '../../policy/index.ts';

/** The part of a Pod the distributor reads. */
export interface BrokerPod {
  metadata: { name: string; namespace?: string; uid?: string; deletionTimestamp?: string };
  status?: { podIP?: string; phase?: string; containerStatuses?: { name: string; containerID?: string; state?: { running?: unknown } }[] };
}

export interface BrokerTarget {
  pod: string;
  /** This run of the broker: the pod's uid and the container's id (a restarted container is a new one). */
  instance?: string;
  host: string;
  /** The name the broker's internal certificate is checked against. */
  servername: string;
}

export interface DistributionOutcome {
  snapshot: PolicySnapshot;
  /** Pods that run a broker container now. */
  brokers: number;
  /** Of those, the ones whose broker has this snapshot in force. */
  inSync: number;
  /** Why the others do not, by pod (no secret in these messages: they come from the push client). */
  failures: { pod: string; message: string }[];
  /** Compiler warnings and errors about the resources, as text. */
  diagnostics: string[];
  /** The same, structured: the resources' statuses are written from them. */
  problems: Diagnostic[];
  /** Time to compile and seal, and then to push until every broker answered. */
  compileMs: number;
  pushMs: number;
  /** Pushes sent (brokers that already confirmed this snapshot are not sent it again). */
  pushed: number;
  /** The compile this outcome was sealed from: the caller may hand it back while the inputs stay the same. */
  compiled: CompileResult;
}

/** The version a snapshot with content hash `hash` gets, given what was last distributed. */
export function nextVersion(previous: SnapshotRef | undefined, hash: string): number {
  if (!previous) return 1;
  return previous.hash === hash ? previous.version : previous.version + 1;
}

/** The pods a snapshot can be pushed to: an IP, not being deleted, the broker container running. */
export function pushTargets(pods: readonly BrokerPod[], servername: (pod: string) => string): BrokerTarget[] {
  return pods
    .filter((p) => !p.metadata.deletionTimestamp && p.status?.podIP && p.status.containerStatuses?.some((c) => c.name === 'broker' && c.state?.running !== undefined))
    .map((p) => {
      const container = p.status!.containerStatuses!.find((c) => c.name === 'broker')!;
      const instance = p.metadata.uid && container.containerID ? `${p.metadata.uid}/${container.containerID}` : undefined;
      return { pod: p.metadata.name, ...(instance ? { instance } : {}), host: p.status!.podIP!, servername: servername(p.metadata.name) };
    })
    .sort((a, b) => a.pod.localeCompare(b.pod));
}

export interface DistributeInput {
  cluster: BrokerCluster;
  /** The Bulwark resources of the cluster's namespace (the BrokerCluster included). */
  resources: readonly BulwarkResource[];
  /** Derived user credentials and token hashes (never a password or token). */
  credentials?: CompileInput['credentials'];
  previous?: SnapshotRef;
  targets: readonly BrokerTarget[];
  port: number;
  tls: DistributionTls;
  push?: typeof pushSnapshot;
  timeoutMs?: number;
  /**
   * What each broker run (BrokerTarget.instance) last confirmed, kept by the caller between
   * reconciles: a broker that confirmed this very snapshot is not pushed to again. Updated here.
   */
  confirmed?: Map<string, SnapshotRef>;
  /**
   * The compile of these very inputs, when the caller knows none changed since (its own status
   * write, a pod event): it is sealed and pushed as is, and nothing is compiled.
   */
  compiled?: CompileResult;
}

export async function distributePolicy(input: DistributeInput): Promise<DistributionOutcome> {
  const push = input.push ?? pushSnapshot;
  const t0 = performance.now();
  const compile =
    input.compiled ??
    compilePolicy({
      cluster: { namespace: input.cluster.metadata.namespace!, name: input.cluster.metadata.name },
      resources: input.resources,
      ...(input.credentials ? { credentials: input.credentials } : {}),
    });
  const { snapshot: compiled, diagnostics } = compile;
  let snapshot = sealSnapshot(compiled, nextVersion(input.previous, compiled.hash));
  const compileMs = performance.now() - t0;
  let pushed = 0;
  const confirmed = input.confirmed;
  const holds = (t: BrokerTarget) => {
    const c = t.instance === undefined ? undefined : confirmed?.get(t.instance);
    return c !== undefined && c.version === snapshot.version && c.hash === snapshot.hash;
  };
  const send = async (t: BrokerTarget): Promise<PushResult> => {
    if (holds(t)) return { outcome: 'applied', applied: { version: snapshot.version, hash: snapshot.hash, source: 'push' }, unchanged: true };
    pushed++;
    const r = await push({ host: t.host, port: input.port, servername: t.servername }, input.tls, snapshot, { timeoutMs: input.timeoutMs ?? 5_000 });
    if (r.outcome === 'applied' && t.instance !== undefined) confirmed?.set(t.instance, { version: r.applied.version, hash: r.applied.hash });
    return r;
  };
  let results = await Promise.all(input.targets.map(send));
  const newest = Math.max(0, ...results.map((r) => (r.outcome === 'rejected' ? r.applied.version : 0)));
  if (newest >= snapshot.version) {
    snapshot = sealSnapshot(compiled, newest + 1);
    results = await Promise.all(input.targets.map(send));
  }
  if (confirmed) {
    const live = new Set(input.targets.map((t) => t.instance));
    for (const instance of confirmed.keys()) if (!live.has(instance)) confirmed.delete(instance);
  }
  const failures = results.flatMap((r, i) => (r.outcome === 'applied' ? [] : [{ pod: input.targets[i]!.pod, message: describeFailure(r) }]));
  return {
    snapshot,
    brokers: input.targets.length,
    inSync: results.length - failures.length,
    failures,
    diagnostics: diagnostics.map((d) => `${d.severity}: ${d.resource}${d.path ? ` ${d.path}` : ''}: ${d.message}`),
    problems: diagnostics,
    compileMs,
    pushMs: performance.now() - t0 - compileMs,
    pushed,
    compiled: compile,
  };
}

function describeFailure(r: Exclude<PushResult, { outcome: 'applied' }>): string {
  if (r.outcome === 'rejected') return `rejected (${r.reason}): ${r.message}`;
  return `${r.outcome}: ${r.error.code}: ${r.error.message}`;
}
