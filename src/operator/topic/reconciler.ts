// The Topic reconciler: places a Topic's partitions on the brokers of its cluster and tells the
// truth about it in the status.
//
// Placement is the operator playing Kafka's controller, with etcd as the quorum: the leaders and
// epochs are decided once, from the Topic as read, and written to its status with a replace that
// carries the resourceVersion read (optimistic concurrency). When anyone wrote the Topic in
// between (another operator replica that still thinks it leads, a reconcile racing this one), the
// API server answers 409 and the Topic is read again: a placement already there is kept, never
// decided a second time, so no two writers can assign conflicting leaders. Server-side apply is
// not used for it: apply with force would let the later writer win blindly.
//
// Level-based (STYLE.md): read from the cache, stop when gone, gather, decide with pure functions
// (placement: src/cluster/placement.ts; status: status.ts), write only what changed. Readiness
// comes from the cluster-state reconciler's ClusterStateTracker.
import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import { kafkaTopicName, type TopicStatus } from '../../api/index.ts';
import { leaderLoad, placePartitions, type PartitionLeader } from '../../cluster/index.ts';
import { ClusterStateTracker, clusterTopics, nameConflicts, parseTopic, storedTopicName, type StoredTopic } from '../cluster-state/index.ts';
import { isConflict, KINDS, type KubeObject, type ObjectApi, type ObjectCache, type ObjectKey, type ReconcileContext, type Reconciler } from '../controller/index.ts';
import { statusChanged } from '../status/index.ts';
import { nextTopicStatus, PLACED, topicDecision, TopicReason, type TopicProblem } from './status.ts';

export interface TopicReconcilerOptions {
  tracker?: ClusterStateTracker;
  /** Randomness of topic ids (tests inject it). */
  randomBytes?: (n: number) => Buffer;
}

/** How often a placement is decided again after a conflict before the reconcile fails (and is retried with backoff). */
export const PLACEMENT_ATTEMPTS = 5;

/** Event reasons of the reconciler. */
export const TopicEventReason = { Placed: 'Placed', Stalled: 'Stalled' } as const;

type StoredCluster = KubeObject & { spec?: { replicas?: number } };

/**
 * Reads, decides and writes a Topic's status under optimistic concurrency. `decide` gets the
 * Topic as last read and returns the status to write, or undefined when there is nothing to write
 * (the placement is there). On a 409 the Topic is read again and `decide` runs again on it.
 */
export async function writeUnderConcurrency(api: ObjectApi, read: StoredTopic, decide: (topic: StoredTopic) => TopicStatus | undefined, attempts = PLACEMENT_ATTEMPTS): Promise<{ topic: StoredTopic | undefined; wrote: boolean; conflicts: number }> {
  let topic: StoredTopic | undefined = read;
  let conflicts = 0;
  for (let i = 0; i < attempts && topic; i++) {
    const status = decide(topic);
    if (!status) return { topic, wrote: false, conflicts };
    try {
      return { topic: await api.updateStatus<StoredTopic>({ ...topic, status }), wrote: true, conflicts };
    } catch (err) {
      if (!isConflict(err)) throw err;
      conflicts++;
      topic = await api.get<StoredTopic>(KINDS.topic, { namespace: topic.metadata.namespace ?? '', name: topic.metadata.name });
    }
  }
  if (!topic) return { topic, wrote: false, conflicts };
  throw new Error(`Topic ${topic.metadata.namespace}/${topic.metadata.name}: the status changed under ${attempts} placements in a row; trying again later`);
}

/** Whether a Topic's status already holds a placement for `partitions` partitions. */
export function placed(status: TopicStatus | undefined, partitions: number): boolean {
  return !!status?.topicId && (status.partitions?.length ?? 0) >= partitions;
}

export function topicReconciler(options: TopicReconcilerOptions = {}): Reconciler {
  const tracker = options.tracker ?? new ClusterStateTracker();
  const random = options.randomBytes ?? cryptoRandomBytes;
  // Placements this reconciler wrote that the cache may not show yet: the load of the next topic counts them.
  const written = new Map<string, { uid: string; partitions: PartitionLeader[] }>();
  // The cache, for the BrokerCluster mapping (a cluster created after its Topics makes them look again).
  let cache: ObjectCache | undefined;
  return {
    name: 'topic',
    primary: KINDS.topic,
    // One at a time: each placement counts the ones before it (the balance across topics).
    concurrency: 1,
    owns: [],
    watches: [{ kind: KINDS.brokerCluster, map: (o) => (cache ? clusterTopics(cache, o.metadata.namespace ?? '', o.metadata.name) : []).map((t) => ({ namespace: t.metadata.namespace ?? '', name: t.metadata.name })), ignoreStatusOnly: true }],
    triggers: (enqueue) => tracker.subscribe(enqueue),
    reconcile: async (key, ctx) => {
      cache = ctx.cache;
      const stored = ctx.cache.get<StoredTopic>(KINDS.topic, key);
      const id = `${key.namespace}/${key.name}`;
      if (!stored || stored.metadata.deletionTimestamp) {
        written.delete(id);
        return;
      }
      return reconcileTopic(key, stored, ctx, { tracker, random, written });
    },
  };
}

async function reconcileTopic(
  key: ObjectKey,
  stored: StoredTopic,
  ctx: ReconcileContext,
  env: { tracker: ClusterStateTracker; random: (n: number) => Buffer; written: Map<string, { uid: string; partitions: PartitionLeader[] }> },
): Promise<void> {
  const ns = key.namespace;
  const generation = stored.metadata.generation ?? 0;
  const parsed = parseTopic(stored);
  const clusterName = stored.spec?.clusterRef?.name ?? '';
  const cluster = ctx.cache.get<StoredCluster>(KINDS.brokerCluster, { namespace: ns, name: clusterName });
  const siblings = clusterTopics(ctx.cache, ns, clusterName);
  const winner = nameConflicts(siblings.some((t) => t.metadata.uid === stored.metadata.uid) ? siblings : [...siblings, stored]).get(key.name);

  // 1. Can it be carried out?
  let problem: TopicProblem | undefined;
  if (!parsed.ok) problem = { reason: TopicReason.InvalidSpec, message: parsed.message };
  else if (!cluster) problem = { reason: TopicReason.ClusterNotFound, message: `BrokerCluster ${clusterName} does not exist in namespace ${ns}` };
  else if (winner) problem = { reason: TopicReason.TopicNameConflict, message: `Topic ${winner} of BrokerCluster ${clusterName} already holds the Kafka topic name ${kafkaTopicName(parsed.topic)}: delete this Topic or give it another spec.topicName` };
  else if ((parsed.topic.spec.replicationFactor ?? 1) > 1)
    problem = { reason: TopicReason.ReplicationNotSupported, message: `spec.replicationFactor is ${parsed.topic.spec.replicationFactor}: replication is not built yet, so a Bulwark topic has one copy of each partition; set replicationFactor to 1 (or leave it out)` };
  if (problem && !(stored.status?.conditions ?? []).some((c) => c.type === 'Stalled' && c.status === 'True' && c.reason === problem!.reason)) ctx.events.emit(stored, 'Warning', TopicEventReason.Stalled, problem.message);

  const clusterKey = { namespace: ns, name: clusterName };
  const decide = (topic: StoredTopic): TopicStatus | undefined => {
    const t = parseTopic(topic);
    const g = topic.metadata.generation ?? 0;
    // 2. Placement: the partitions not placed yet, appended; what is placed stays.
    if (!problem && t.ok && !placed(topic.status, t.topic.spec.partitions)) {
      const replicas = cluster?.spec?.replicas ?? 1;
      const load = leaderLoad(
        clusterTopics(ctx.cache, ns, clusterName)
          .filter((o) => o.metadata.uid !== topic.metadata.uid)
          .map((o) => {
            const mine = env.written.get(`${ns}/${o.metadata.name}`);
            const cached = o.status?.partitions ?? [];
            return mine && mine.uid === o.metadata.uid && mine.partitions.length > cached.length ? mine.partitions : cached;
          }),
      );
      const partitions = placePartitions({ brokers: Array.from({ length: replicas }, (_, i) => i), name: kafkaTopicName(t.topic), existing: topic.status?.partitions ?? [], partitions: t.topic.spec.partitions, load });
      const fields = { topicName: kafkaTopicName(t.topic), topicId: topic.status?.topicId ?? env.random(16).toString('hex'), partitions };
      return nextTopicStatus(topic.status, PLACED, g, fields, ctx.clock.now());
    }
    // 3. The truth about it, from what the brokers hold.
    const decision = topicDecision({ name: key.name, generation: g, partitions: t.ok ? t.topic.spec.partitions : 0, ...(problem ? { problem } : {}), record: env.tracker.get(clusterKey), cluster: clusterName });
    const fields = t.ok && !problem ? { topicName: kafkaTopicName(t.topic) } : {};
    const next = nextTopicStatus(topic.status, decision, g, fields, ctx.clock.now());
    return statusChanged(topic.status, next) ? next : undefined;
  };

  const r = await writeUnderConcurrency(ctx.api, stored, decide);
  if (r.conflicts > 0) ctx.log.info({ topic: `${ns}/${key.name}`, conflicts: r.conflicts }, 'the Topic changed while its status was written: read again and decided again');
  if (r.wrote && r.topic?.status?.partitions && r.topic.status.partitions.length > (stored.status?.partitions?.length ?? 0)) {
    const partitions = r.topic.status.partitions;
    env.written.set(`${ns}/${key.name}`, { uid: stored.metadata.uid ?? '', partitions });
    const leaders = [...new Set(partitions.map((p) => p.leader))].sort((a, b) => a - b);
    ctx.events.emit(stored, 'Normal', TopicEventReason.Placed, `placed ${partitions.length - (stored.status?.partitions?.length ?? 0)} partition(s) of topic ${storedTopicName(r.topic)}: leaders on broker(s) ${leaders.join(', ')}`);
  }
}
