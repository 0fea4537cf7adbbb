// The BrokerCluster reconciler, level-based (STYLE.md, cert-manager section): read the cluster
// from the cache; stop when it is gone or being deleted (ownerReferences let the garbage
// collector delete what it owns: no finalizer); check the spec (env, what the broker refuses) and
// stop with Stalled when it cannot be carried out, applying nothing; gather the certificates and
// the server secret; build every owned object (objects.ts, pure); apply each with server-side
// apply; write the status only when it changed. The policy snapshot is the policy reconciler's
// (src/operator/policy/reconciler.ts), and so are the status's policy fields.
import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import { type BrokerCluster, type FieldError, parseResource } from '../../api/index.ts';
import { builtinCertificateSource, type CertificateOutcome, type CertificateReader, type CertificateSource, chooseCertificateSource, ROTATE_CA_ANNOTATION, type SecretObject } from '../certificates/index.ts';
import { KINDS, type KindRef, type KubeObject, type ObjectKey, type ReconcileContext, type Reconciler, type ReconcileResult } from '../controller/index.ts';
import { CONDITION_STALLED, findCondition, isConditionTrue, statusChanged } from '../status/index.ts';
import { envRefusals } from './env.ts';
import { CONFIG_HASH_ANNOTATION, clusterLabels, DEFAULT_BUILD_OPTIONS, objectNames, type ClusterBuildOptions } from './names.ts';
import { buildObjects, ownerReference, serverSecretObject, sha256Hex, specRefusals } from './objects.ts';
import { scaleDownBlock, type TopicLeaders } from './scale-down.ts';
import { BrokerClusterReason, type BrokerClusterStatus, CONDITION_AUTHORIZATION_OPEN, decideConditions, withoutPolicyFields, listenerAddresses, nextStatus, type ObservedStatefulSet, rolloutState } from './status.ts';

export interface BrokerClusterReconcilerOptions extends Partial<ClusterBuildOptions> {
  /** Certificate sources; the built-in CA by default. cert-manager mode needs `certManager`. */
  certificates?: { builtin?: CertificateSource; certManager?: CertificateSource };
  /** Randomness of the server secret (tests inject it). */
  randomBytes?: (n: number) => Buffer;
}

/** Event reasons of the reconciler (certificate events: CertificateEventReason). */
export const BrokerClusterEventReason = {
  Created: 'Created',
  RollingUpdate: 'RollingUpdate',
  ServerSecretCreated: 'ServerSecretCreated',
  Stalled: 'Stalled',
  StorageNotResized: 'StorageNotResized',
  /** spec.authorization.mode turned authenticatedFullAccess on (the condition AuthorizationOpen says so while it is). */
  AuthorizationOpen: 'AuthorizationOpen',
} as const;

type StoredCluster = KubeObject & { spec?: unknown; status?: BrokerClusterStatus };

export function brokerClusterReconciler(options: BrokerClusterReconcilerOptions = {}): Reconciler {
  const opts: ClusterBuildOptions = {
    brokerImage: options.brokerImage ?? DEFAULT_BUILD_OPTIONS.brokerImage,
    operatorNamespace: options.operatorNamespace ?? DEFAULT_BUILD_OPTIONS.operatorNamespace,
    operatorPodLabels: options.operatorPodLabels ?? DEFAULT_BUILD_OPTIONS.operatorPodLabels,
    operatorIdentity: options.operatorIdentity ?? DEFAULT_BUILD_OPTIONS.operatorIdentity,
    clusterDomain: options.clusterDomain ?? DEFAULT_BUILD_OPTIONS.clusterDomain,
  };
  const sources = { builtin: options.certificates?.builtin ?? builtinCertificateSource(), ...(options.certificates?.certManager ? { certManager: options.certificates.certManager } : {}) };
  const random = options.randomBytes ?? cryptoRandomBytes;

  // Clusters whose scale-down is refused: a change to one of their Topics (one deleted) is looked at again.
  const blocked = new Set<string>();
  return {
    name: 'brokercluster',
    primary: KINDS.brokerCluster,
    owns: [KINDS.serviceAccount, KINDS.configMap, KINDS.service, KINDS.statefulSet, KINDS.podDisruptionBudget, KINDS.networkPolicy, KINDS.secret, ...(sources.certManager ? [KINDS.certificate] : [])],
    watches: [
      {
        kind: KINDS.topic,
        map: (o) => {
          const ref = (o as { spec?: { clusterRef?: { name?: string } } }).spec?.clusterRef?.name;
          return ref && blocked.has(`${o.metadata.namespace}/${ref}`) ? [{ namespace: o.metadata.namespace ?? '', name: ref }] : [];
        },
      },
    ],
    reconcile: (key, ctx) => reconcileBrokerCluster(key, ctx, opts, sources, random, blocked),
  };
}

async function reconcileBrokerCluster(
  key: ObjectKey,
  ctx: ReconcileContext,
  opts: ClusterBuildOptions,
  sources: { builtin: CertificateSource; certManager?: CertificateSource },
  random: (n: number) => Buffer,
  blocked: Set<string>,
): Promise<ReconcileResult | void> {
  const stored = ctx.cache.get<StoredCluster>(KINDS.brokerCluster, key);
  blocked.delete(`${key.namespace}/${key.name}`);
  if (!stored || stored.metadata.deletionTimestamp) return;
  const now = ctx.clock.now();
  const writeStatus = async (status: BrokerClusterStatus) => {
    // The policy fields are the policy reconciler's: compared without them.
    if (!statusChanged(withoutPolicyFields(stored.status), status)) return;
    await ctx.api.applyStatus({ apiVersion: stored.apiVersion, kind: stored.kind, metadata: { name: key.name, namespace: key.namespace }, status });
  };

  // 1. Can the spec be carried out? If not: Stalled, and nothing is applied.
  const env = envRefusals(stored.spec as { env?: { name: string }[] });
  const parsed = parseResource(stored, key.namespace);
  const generation = stored.metadata.generation;
  const stall = async (reason: 'env' | 'spec', errors: FieldError[], cluster?: BrokerCluster) => {
    const decision = decideConditions({ replicas: 0, envRefusals: reason === 'env' ? errors : [], specRefusals: reason === 'spec' ? errors : [], certificates: { ready: false, message: '' }, rollout: { done: false, ready: 0, message: '' } });
    ctx.events.emit(stored, 'Warning', BrokerClusterEventReason.Stalled, decision.message);
    ctx.log.warn({ cluster: `${key.namespace}/${key.name}`, reason: decision.reason }, 'BrokerCluster stalled: nothing applied');
    const sts = ctx.cache.get<KubeObject & ObservedStatefulSet>(KINDS.statefulSet, { namespace: key.namespace, name: objectNames(key.name).statefulSet });
    await writeStatus(nextStatus(stored.status, generation, decision, { readyReplicas: sts?.status?.readyReplicas ?? 0, ...(cluster ? { listeners: listenerAddresses(cluster), cluster } : {}) }, now));
  };
  if (env.length > 0) return stall('env', env, parsed.ok ? (parsed.value as BrokerCluster) : undefined);
  if (!parsed.ok) return stall('spec', parsed.errors);
  const cluster = { ...(parsed.value as BrokerCluster), metadata: { ...parsed.value.metadata, uid: stored.metadata.uid ?? '' } };
  const refusals = specRefusals(cluster);
  if (refusals.length > 0) return stall('spec', refusals, cluster);
  const source = chooseCertificateSource(cluster, sources);
  if (!source) return stall('spec', [{ path: 'spec.tls.certManager', message: 'this operator runs without cert-manager support; leave certManager out to use the built-in CA' }], cluster);

  // 2. Gather: certificates (issued or renewed as the plan says), the server secret, the StatefulSet as it is.
  const ns = key.namespace;
  const names = objectNames(cluster.metadata.name);
  const owner = ownerReference(cluster);
  const readSecret = async (name: string): Promise<SecretObject | undefined> =>
    // A Secret the operator would otherwise generate anew (a CA, the server secret) is read live when the cache lacks it: a cache that lags must never cause a new CA.
    ctx.cache.get<SecretObject>(KINDS.secret, { namespace: ns, name }) ?? (await ctx.api.get<SecretObject>(KINDS.secret, { namespace: ns, name }));
  const reader: CertificateReader = {
    secret: readSecret,
    object: async <T extends KubeObject>(kind: KindRef, name: string) => ctx.cache.get<T>(kind, { namespace: ns, name }) ?? (await ctx.api.get<T>(kind, { namespace: ns, name })),
  };
  const rotateCa = stored.metadata.annotations?.[ROTATE_CA_ANNOTATION];
  const certs: CertificateOutcome = await source.reconcile({ cluster, identity: opts, now, labels: clusterLabels(cluster.metadata.name), ownerReferences: [owner], ...(rotateCa ? { rotateCa } : {}) }, reader);
  for (const obj of certs.objects) await ctx.api.apply(obj);
  for (const e of certs.events) ctx.events.emit(stored, 'Normal', e.reason, e.message);

  const existingServerSecret = await readSecret(names.serverSecret);
  const server = serverSecretObject(cluster, existingServerSecret?.data?.secret, random);
  await ctx.api.apply(server.secret);
  if (server.generated) ctx.events.emit(stored, 'Normal', BrokerClusterEventReason.ServerSecretCreated, `generated the cluster's server secret (Secret ${names.serverSecret})`);

  const existingSts = ctx.cache.get<KubeObject & ObservedStatefulSet & { spec?: { volumeClaimTemplates?: unknown[]; template?: { metadata?: { annotations?: Record<string, string> } } } }>(KINDS.statefulSet, { namespace: ns, name: names.statefulSet });
  const existingClaims = existingSts?.spec?.volumeClaimTemplates;

  // A scale-down that would take away a broker leading partitions is refused: the StatefulSet keeps its replicas.
  const scaleDown = scaleDownBlock(cluster.spec.replicas, existingSts?.spec?.replicas, clusterTopicLeaders(ctx, cluster));
  if (scaleDown) {
    blocked.add(`${key.namespace}/${key.name}`);
    if (!isConditionTrue(stored.status?.conditions, CONDITION_STALLED) || findCondition(stored.status?.conditions, CONDITION_STALLED)?.message !== scaleDown.message) ctx.events.emit(stored, 'Warning', BrokerClusterReason.ScaleDownBlocked, scaleDown.message);
  }
  const built = scaleDown ? { ...cluster, spec: { ...cluster.spec, replicas: scaleDown.keep } } : cluster;

  // 3. Decide (pure) and apply.
  const desired = buildObjects(built, opts, { serverSecretDigest: sha256Hex(server.bytes), ...(existingClaims ? { existingClaimTemplates: existingClaims } : {}) });
  for (const obj of [desired.serviceAccount, desired.configMap, desired.headlessService, desired.clientService, desired.podDisruptionBudget]) await ctx.api.apply(obj);
  if (desired.networkPolicy) await ctx.api.apply(desired.networkPolicy);
  else {
    const np = ctx.cache.get<KubeObject>(KINDS.networkPolicy, { namespace: ns, name: names.networkPolicy });
    if (np && isOwnedBy(np, cluster)) await ctx.api.delete(KINDS.networkPolicy, { namespace: ns, name: names.networkPolicy }, { uid: np.metadata.uid ?? '' });
  }
  if (existingClaims && storageRequest(existingClaims) !== undefined && storageRequest(existingClaims) !== cluster.spec.storage.size)
    ctx.events.emit(stored, 'Warning', BrokerClusterEventReason.StorageNotResized, `spec.storage.size is ${cluster.spec.storage.size} but the StatefulSet's volume claims ask for ${storageRequest(existingClaims)}: a StatefulSet's claim templates cannot change; resize the PersistentVolumeClaims themselves`);

  // The pods mount the certificate Secrets: while they are not there, the StatefulSet waits.
  let sts: ObservedStatefulSet | undefined = existingSts;
  if (certs.ready) {
    const before = existingSts?.spec?.template?.metadata?.annotations?.[CONFIG_HASH_ANNOTATION];
    sts = await ctx.api.apply(desired.statefulSet as KubeObject & ObservedStatefulSet);
    if (!existingSts) ctx.events.emit(stored, 'Normal', BrokerClusterEventReason.Created, `created StatefulSet ${names.statefulSet} with ${built.spec.replicas} broker pod(s)`);
    else if (before !== undefined && before !== desired.configHash) ctx.events.emit(stored, 'Normal', BrokerClusterEventReason.RollingUpdate, `the broker configuration changed: pods roll one at a time (config hash ${desired.configHash.slice(0, 12)})`);
  }

  // 4. Status, written only when it changed.
  const rollout = rolloutState(sts, built.spec.replicas);
  const decision = decideConditions({ replicas: built.spec.replicas, envRefusals: [], specRefusals: [], certificates: certs, rollout, ...(scaleDown ? { scaleDownBlocked: scaleDown } : {}) });
  const status = nextStatus(stored.status, generation, decision, { readyReplicas: rollout.ready, listeners: listenerAddresses(cluster), certificates: certs.certificates, cluster }, now);
  const open = findCondition(status.conditions, CONDITION_AUTHORIZATION_OPEN);
  if (open && !isConditionTrue(stored.status?.conditions, CONDITION_AUTHORIZATION_OPEN)) {
    ctx.events.emit(stored, 'Warning', BrokerClusterEventReason.AuthorizationOpen, open.message);
    ctx.log.warn({ cluster: `${key.namespace}/${key.name}` }, `BrokerCluster ${key.namespace}/${key.name}: ${open.message}`);
  }
  await writeStatus(status);
  return certs.requeueAfterMs !== undefined ? { requeueAfterMs: certs.requeueAfterMs } : undefined;
}

/** The placement of the cluster's Topics, from their statuses (the Topic reconciler writes it). */
function clusterTopicLeaders(ctx: ReconcileContext, cluster: BrokerCluster): TopicLeaders[] {
  type StoredTopic = KubeObject & { spec?: { clusterRef?: { name?: string }; topicName?: string }; status?: { topicName?: string; partitions?: { partition: number; leader: number }[] } };
  return ctx.cache
    .list<StoredTopic>(KINDS.topic, cluster.metadata.namespace)
    .filter((t) => t.spec?.clusterRef?.name === cluster.metadata.name && (t.status?.partitions?.length ?? 0) > 0)
    .map((t) => ({ name: t.status?.topicName ?? t.spec?.topicName ?? t.metadata.name, partitions: t.status!.partitions! }));
}

function isOwnedBy(obj: KubeObject, cluster: BrokerCluster): boolean {
  return obj.metadata.ownerReferences?.some((r) => r.controller === true && r.kind === 'BrokerCluster' && r.uid === cluster.metadata.uid) === true;
}

function storageRequest(claims: unknown[]): string | undefined {
  const data = claims.find((c) => (c as { metadata?: { name?: string } }).metadata?.name === 'data') as { spec?: { resources?: { requests?: { storage?: string } } } } | undefined;
  return data?.spec?.resources?.requests?.storage;
}
