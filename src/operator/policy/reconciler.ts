// The policy reconciler: one PolicySnapshot per BrokerCluster, compiled from the cluster and the
// Users, Roles, AccessTokens and TopicGrants of its namespace (with the derived credentials and
// token hashes their Secrets hold, never a password or token), pushed to every broker pod that
// runs, over mTLS as the operator.
//
// Its own reconciler, apart from the BrokerCluster's, so that a grant changed reaches the brokers
// without waiting for the cluster's objects to be applied again: an event on any input queues the
// cluster at once (never delayed), and changes that arrive while a push is in flight are coalesced
// into the next one by the work queue. It writes only the BrokerCluster's policy fields, under a
// field manager of its own, and records what every broker holds in the PolicyTracker, from which
// each kind's reconciler writes its own status.
import type { BrokerCluster, BulwarkResource } from '../../api/index.ts';
import { parseResource } from '../../api/index.ts';
import type { CompileResult, DerivedCredentials, SnapshotRef, TokenCredential } from '../../policy/index.ts';
import type { SecretObject } from '../certificates/index.ts';
import { objectNames, type ClusterBuildOptions, DEFAULT_BUILD_OPTIONS } from '../brokercluster/index.ts';
import { controllerOwnerKey, KINDS, type KubeObject, type ObjectCache, type ObjectKey, type ReconcileContext, type Reconciler, type ReconcileResult } from '../controller/index.ts';
import { statusChanged } from '../status/index.ts';
import { distributePolicy } from './distributor.ts';
import { brokerAccess } from './push-access.ts';
import { CLUSTER_LABEL, controlledBy, type DerivedRecord, readDerivedRecord, readTokenCredential, tokenSecretName, userSecretName } from './secrets.ts';
import { memberKey, type MemberKind, type MemberState, type PolicyTracker } from './tracker.ts';

/** The field manager of the BrokerCluster's policy fields (the BrokerCluster reconciler owns the rest of its status). */
export const POLICY_FIELD_MANAGER = 'bulwark-operator-policy';
/** How soon a cluster whose brokers do not all hold the snapshot is tried again (pod events also requeue it). */
export const POLICY_RETRY_MS = 2_000;

export interface PolicyReconcilerOptions {
  tracker: PolicyTracker;
  clusterDomain?: string;
}

interface PolicyStatus {
  policyVersion?: number;
  policyHash?: string;
  policyInSync?: string;
  [k: string]: unknown;
}

type Stored = KubeObject & { spec?: unknown; status?: PolicyStatus };

/**
 * Parsing is the costly part of a compile with thousands of resources: each object (a resource,
 * or the derived record in a User's Secret) is parsed once per resourceVersion.
 */
export class ParseCache<T> {
  readonly #byUid = new Map<string, { rv: string; value: T | undefined; seen: boolean }>();
  readonly #parseOne: (obj: KubeObject) => T | undefined;
  constructor(parseOne: (obj: KubeObject) => T | undefined) {
    this.#parseOne = parseOne;
  }
  parse(obj: KubeObject): T | undefined {
    const uid = obj.metadata.uid ?? `${obj.kind}/${obj.metadata.namespace}/${obj.metadata.name}`;
    const rv = obj.metadata.resourceVersion ?? '';
    const hit = this.#byUid.get(uid);
    if (hit && hit.rv === rv) {
      hit.seen = true;
      return hit.value;
    }
    const value = this.#parseOne(obj);
    this.#byUid.set(uid, { rv, value, seen: true });
    return value;
  }
  /** Forget what the last compile did not touch (deleted objects). */
  sweep(): void {
    for (const [uid, e] of this.#byUid) {
      if (!e.seen) this.#byUid.delete(uid);
      else e.seen = false;
    }
  }
}

interface ClusterMemory {
  /** What each broker run confirmed: a broker holding the current snapshot is not pushed to again. */
  confirmed: Map<string, SnapshotRef>;
  resources: ParseCache<BulwarkResource>;
  records: ParseCache<DerivedRecord>;
  /** When the last compile-and-push ended, and how long it took (performance.now() ms). */
  lastEnd: number;
  lastMs: number;
  /** Whether more input changes arrived while it ran than it started for: a burst is on. */
  burst: boolean;
  /**
   * The last compile and what it was compiled from (every custom resource's uid and generation,
   * every Secret's uid and resourceVersion): a reconcile with the same inputs (after the statuses
   * the operator writes, a pod event, a retry) pushes it again without compiling.
   */
  last?: { inputs: string; compiled: CompileResult };
}

/** More input events than this during one compile-and-push mean a burst (a bulk apply), not a person's change. */
const BURST_EVENTS = 3;

/** A Bulwark resource parsed with the schema its CRD was generated from; undefined when it does not parse. */
export const parseAny = (obj: KubeObject): BulwarkResource | undefined => {
  const r = parseResource(obj, obj.metadata.namespace);
  return r.ok ? r.value : undefined;
};

export function policyReconciler(options: PolicyReconcilerOptions): Reconciler {
  const { tracker } = options;
  const clusterDomain = options.clusterDomain ?? DEFAULT_BUILD_OPTIONS.clusterDomain;
  const memory = new Map<string, ClusterMemory>();
  // Input events by cluster (namespace/name): a compile-and-push during which many arrive is followed by a pause.
  const events = new Map<string, number>();
  const counted = (keys: ObjectKey[]) => {
    for (const k of keys) events.set(`${k.namespace}/${k.name}`, (events.get(`${k.namespace}/${k.name}`) ?? 0) + 1);
    return keys;
  };
  // The cache, for the Role mapping (a Role is compiled into every cluster of its namespace).
  let cache: ObjectCache | undefined;
  const byClusterRef = (o: KubeObject): ObjectKey[] => {
    const ref = (o as { spec?: { clusterRef?: { name?: string } } }).spec?.clusterRef?.name;
    return ref ? [{ namespace: o.metadata.namespace ?? '', name: ref }] : [];
  };

  return {
    name: 'policy',
    primary: KINDS.brokerCluster,
    owns: [],
    watches: [
      // Their status is written from this reconciler's results: a status write is not an input.
      { kind: KINDS.user, map: (o) => counted(byClusterRef(o)), ignoreStatusOnly: true },
      { kind: KINDS.accessToken, map: (o) => counted(byClusterRef(o)), ignoreStatusOnly: true },
      { kind: KINDS.topicGrant, map: (o) => counted(byClusterRef(o)), ignoreStatusOnly: true },
      { kind: KINDS.role, map: (o) => counted((cache?.list<KubeObject>(KINDS.brokerCluster, o.metadata.namespace) ?? []).map((c) => ({ namespace: c.metadata.namespace ?? '', name: c.metadata.name }))), ignoreStatusOnly: true },
      {
        kind: KINDS.secret,
        map: (o) => {
          const label = o.metadata.labels?.[CLUSTER_LABEL];
          if (label) return counted([{ namespace: o.metadata.namespace ?? '', name: label }]);
          const owner = controllerOwnerKey(o, KINDS.brokerCluster);
          return owner ? [owner] : [];
        },
      },
      { kind: KINDS.pod, map: brokerPodOwner },
    ],
    reconcile: async (key, ctx) => {
      cache = ctx.cache;
      const id = `${key.namespace}/${key.name}`;
      const stored = ctx.cache.get<Stored>(KINDS.brokerCluster, key);
      if (!stored || stored.metadata.deletionTimestamp) {
        memory.delete(id);
        events.delete(id);
        tracker.forget(key);
        return;
      }
      let mem = memory.get(id);
      if (!mem) {
        mem = { confirmed: new Map(), resources: new ParseCache(parseAny), records: new ParseCache((s) => readDerivedRecord(s as SecretObject)), lastEnd: -Infinity, lastMs: 0, burst: false };
        memory.set(id, mem);
      }
      // Coalescing under a burst: when changes poured in while the last compile-and-push ran (a
      // bulk apply of thousands), the next one waits twice as long as that one took, so pushes
      // (and the brokers' work on each) take at most a third of the time. A change that arrives
      // alone, or one after another as a person or a pipeline makes them, goes out at once.
      const wait = mem.burst ? mem.lastEnd + 2 * mem.lastMs - performance.now() : 0;
      if (wait > 0) return { requeueAfterMs: Math.ceil(wait) };
      const t0 = performance.now();
      const before = events.get(id) ?? 0;
      try {
        return await reconcilePolicy(key, stored, ctx, { tracker, clusterDomain, mem });
      } finally {
        mem.lastEnd = performance.now();
        mem.lastMs = mem.lastEnd - t0;
        mem.burst = (events.get(id) ?? 0) - before > BURST_EVENTS;
      }
    },
  };
}

async function reconcilePolicy(
  key: ObjectKey,
  stored: Stored,
  ctx: ReconcileContext,
  env: { tracker: PolicyTracker; clusterDomain: string; mem: ClusterMemory },
): Promise<ReconcileResult | void> {
  const ns = key.namespace;
  const clusterResult = parseResource(stored, ns);
  // A spec the API server took but the operator cannot read: the BrokerCluster reconciler says so in its status.
  if (!clusterResult.ok || clusterResult.value.kind !== 'BrokerCluster') return;
  const cluster = clusterResult.value as BrokerCluster;
  const names = objectNames(cluster.metadata.name);

  // 1. The inputs: the namespace's resources of this cluster (Roles: all of the namespace), their generations and credentials.
  const resources: BulwarkResource[] = [cluster];
  const generations = new Map<string, { kind: MemberKind; generation: number; digest?: string }>();
  const users = new Map<string, DerivedCredentials>();
  const tokens = new Map<string, TokenCredential>();
  const secret = (name: string) => ctx.cache.get<SecretObject>(KINDS.secret, { namespace: ns, name });
  const add = (kind: MemberKind, obj: KubeObject, digest?: string) => {
    generations.set(memberKey(kind, obj.metadata.name), { kind, generation: obj.metadata.generation ?? 0, ...(digest ? { digest } : {}) });
  };
  const ofCluster = (o: KubeObject) => (o as { spec?: { clusterRef?: { name?: string } } }).spec?.clusterRef?.name === cluster.metadata.name;
  // What the compile reads: of each custom resource its spec (uid@generation: the statuses the
  // operator writes after every push must not count as a change), of each Secret its data
  // (uid@resourceVersion: a Secret has no generation).
  const inputs: string[] = [`${stored.metadata.uid}@${stored.metadata.generation}`];
  const input = (o: KubeObject | undefined) => inputs.push(o ? `${o.metadata.uid}@${o.metadata.generation ?? `rv${o.metadata.resourceVersion}`}` : '-');
  for (const obj of ctx.cache.list<KubeObject>(KINDS.user, ns).filter(ofCluster)) {
    input(obj);
    const user = env.mem.resources.parse(obj);
    if (!user || user.kind !== 'User') continue;
    resources.push(user);
    let digest: string | undefined;
    if (user.spec.authentication.type !== 'tls') {
      const s = secret(userSecretName(obj.metadata.name));
      input(s);
      const record = s && controlledBy(s, obj.metadata.uid) ? env.mem.records.parse(s) : undefined;
      if (record && record.type === user.spec.authentication.type) {
        users.set(obj.metadata.name, record.credentials);
        digest = record.fingerprint;
      }
    }
    add('User', obj, digest);
  }
  for (const obj of ctx.cache.list<KubeObject>(KINDS.accessToken, ns).filter(ofCluster)) {
    input(obj);
    const token = env.mem.resources.parse(obj);
    if (!token || token.kind !== 'AccessToken') continue;
    resources.push(token);
    const s = secret(tokenSecretName(token));
    input(s);
    const credential = controlledBy(s, obj.metadata.uid) ? readTokenCredential(s) : undefined;
    if (credential) tokens.set(obj.metadata.name, credential);
    add('AccessToken', obj, credential?.sha256);
  }
  for (const obj of ctx.cache.list<KubeObject>(KINDS.topicGrant, ns).filter(ofCluster)) {
    input(obj);
    const grant = env.mem.resources.parse(obj);
    if (!grant || grant.kind !== 'TopicGrant') continue;
    resources.push(grant);
    add('TopicGrant', obj);
  }
  for (const obj of ctx.cache.list<KubeObject>(KINDS.role, ns)) {
    input(obj);
    const role = env.mem.resources.parse(obj);
    if (!role || role.kind !== 'Role') continue;
    resources.push(role);
    add('Role', obj);
  }
  env.mem.resources.sweep();
  env.mem.records.sweep();

  // 2. Where to push: the broker pods that run, with the operator's client certificate.
  const access = brokerAccess(ctx.cache, cluster, env.clusterDomain);
  const { targets } = access;

  // 3. Compile and push (compiled even with no broker to push to: the resources' statuses need the diagnostics).
  const previous = stored.status?.policyVersion !== undefined && stored.status.policyHash ? { version: stored.status.policyVersion, hash: stored.status.policyHash } : undefined;
  const fingerprint = inputs.join(',');
  const unchanged = env.mem.last?.inputs === fingerprint ? env.mem.last.compiled : undefined;
  const outcome = await distributePolicy({
    ...(unchanged ? { compiled: unchanged } : {}),
    cluster,
    resources,
    credentials: { users, tokens },
    ...(previous ? { previous } : {}),
    targets,
    port: access.port,
    tls: access.tls ?? { ca: '', cert: '', key: '' },
    confirmed: env.mem.confirmed,
  });
  env.mem.last = { inputs: fingerprint, compiled: outcome.compiled };
  for (const f of outcome.failures) ctx.log.info({ cluster: `${ns}/${cluster.metadata.name}`, pod: f.pod, reason: f.message }, 'policy snapshot not applied on a broker yet');
  const metrics = ctx.metrics;
  if (metrics) {
    if (!unchanged) metrics.policyCompileSeconds.observe(outcome.compileMs / 1000);
    if (outcome.pushed > 0) {
      metrics.policyPushSeconds.observe(outcome.pushMs / 1000);
      metrics.policyPushes.inc({ result: 'applied' }, outcome.pushed - outcome.failures.length);
      metrics.policyPushes.inc({ result: 'failed' }, outcome.failures.length);
    }
  }

  // 4. What every resource's status is written from.
  const diagnostics = new Map<string, typeof outcome.problems>();
  for (const d of outcome.problems) diagnostics.set(d.resource, [...(diagnostics.get(d.resource) ?? []), d]);
  const members = new Map<string, MemberState>();
  for (const [k, g] of generations) members.set(k, { generation: g.generation, ...(g.digest ? { digest: g.digest } : {}), diagnostics: diagnostics.get(k) ?? [] });
  // Every broker the cluster is meant to have counts, running or not yet: while a pod is being
  // created or replaced, a change is not yet on "every broker" (the pod gets the snapshot before
  // it reports Ready, and is counted then).
  const brokers = Math.max(cluster.spec.replicas, outcome.brokers);
  env.tracker.record(key, { version: outcome.snapshot.version, hash: outcome.snapshot.hash, brokers, inSync: outcome.inSync, members });

  // 5. The cluster's policy fields: version and hash once every running broker holds the snapshot; how many do, always.
  const allInSync = outcome.brokers > 0 && outcome.failures.length === 0;
  const status: PolicyStatus = {
    ...(allInSync ? { policyVersion: outcome.snapshot.version, policyHash: outcome.snapshot.hash } : previous ? { policyVersion: previous.version, policyHash: previous.hash } : {}),
    policyInSync: `${outcome.inSync}/${brokers}`,
  };
  const current: PolicyStatus = { policyVersion: stored.status?.policyVersion, policyHash: stored.status?.policyHash, policyInSync: stored.status?.policyInSync };
  if (statusChanged(current, status)) {
    await ctx.api.applyStatus({ apiVersion: stored.apiVersion, kind: stored.kind, metadata: { name: key.name, namespace: ns }, status }, { fieldManager: POLICY_FIELD_MANAGER });
  }
  if (!access.tls && access.pods > 0) ctx.log.info({ cluster: `${ns}/${cluster.metadata.name}` }, `waiting for the operator's client certificate (Secret ${names.operatorTlsSecret}) before pushing the policy`);
  return outcome.brokers > 0 && !allInSync ? { requeueAfterMs: POLICY_RETRY_MS } : undefined;
}

/** The BrokerCluster a broker pod belongs to, by its labels (pods are owned by the StatefulSet, not the cluster). */
export function brokerPodOwner(pod: KubeObject): ObjectKey[] {
  const labels = pod.metadata.labels ?? {};
  const instance = labels['app.kubernetes.io/instance'];
  return instance && labels['app.kubernetes.io/component'] === 'broker' && labels['app.kubernetes.io/name'] === 'bulwark' ? [{ namespace: pod.metadata.namespace ?? '', name: instance }] : [];
}

export type { ClusterBuildOptions };
