// The Role and TopicGrant reconcilers: nothing to create, only the truth to tell. Their status
// says whether every broker holds a snapshot compiled from their current generation, or why they
// cannot take effect (a Role that does not exist is a Stalled reason on the grant that names it,
// while the compiler fails closed around it).
import { KINDS, type ObjectKey, type ReconcileContext, type Reconciler } from '../controller/index.ts';
import { MemberReason, parseMember, PolicyTracker, ReadyDigests, storedMember, writeMemberStatus } from '../policy/index.ts';

export function topicGrantReconciler(options: { tracker?: PolicyTracker } = {}): Reconciler {
  const tracker = options.tracker ?? new PolicyTracker();
  const digests = new ReadyDigests();
  return {
    name: 'topicgrant',
    // Status writes only: waits on the API server.
    concurrency: 16,
    primary: KINDS.topicGrant,
    owns: [],
    watches: [{ kind: KINDS.brokerCluster, map: () => [] }],
    triggers: (enqueue) => tracker.subscribe('TopicGrant', enqueue),
    reconcile: async (key: ObjectKey, ctx: ReconcileContext) => {
      const stored = storedMember(ctx, KINDS.topicGrant, key);
      if (!stored) return void digests.forget(key);
      const parsed = parseMember(stored, 'TopicGrant');
      const clusterName = 'value' in parsed ? parsed.value.spec.clusterRef.name : '';
      const problem =
        'problem' in parsed
          ? parsed.problem
          : !ctx.cache.get(KINDS.brokerCluster, { namespace: key.namespace, name: clusterName })
            ? { reason: MemberReason.ClusterNotFound, message: `BrokerCluster ${clusterName} does not exist in namespace ${key.namespace}` }
            : undefined;
      return writeMemberStatus(ctx, { kind: 'TopicGrant', stored, tracker, clusters: [clusterName], digests, ...(problem ? { problem } : {}) });
    },
  };
}

/** A Role is compiled into every cluster of its namespace: Ready when all their brokers hold it. */
export function roleReconciler(options: { tracker?: PolicyTracker } = {}): Reconciler {
  const tracker = options.tracker ?? new PolicyTracker();
  const digests = new ReadyDigests();
  return {
    name: 'role',
    primary: KINDS.role,
    owns: [],
    watches: [{ kind: KINDS.brokerCluster, map: () => [] }],
    triggers: (enqueue) => tracker.subscribe('Role', enqueue),
    reconcile: async (key: ObjectKey, ctx: ReconcileContext) => {
      const stored = storedMember(ctx, KINDS.role, key);
      if (!stored) return void digests.forget(key);
      const parsed = parseMember(stored, 'Role');
      const clusters = ctx.cache.list(KINDS.brokerCluster, key.namespace).map((c) => c.metadata.name);
      const problem = 'problem' in parsed ? parsed.problem : undefined;
      if (!problem && clusters.length === 0) {
        // Nothing to apply it to: Ready, and saying so.
        return writeMemberStatus(ctx, { kind: 'Role', stored, tracker, clusters: [], digests });
      }
      return writeMemberStatus(ctx, { kind: 'Role', stored, tracker, clusters, digests, ...(problem ? { problem } : {}) });
    },
  };
}
