// The cluster-state reconciler: one ClusterState per BrokerCluster (its brokers, and every Topic
// placed so far with its leaders and epochs), compiled from the cache and pushed to every broker
// pod that runs, the way the policy is pushed. The operator plays Kafka's controller; etcd, behind
// the API server, holds the metadata (Topic statuses), so nothing here needs to survive a restart
// but the version, which the BrokerCluster's status keeps.
//
// It runs only once the informers have listed (the runner starts reconciling then): a state
// compiled from a cache still filling would lack topics, and brokers drop what a newer state lacks.
// Changes that arrive while a push is in flight are coalesced into the next one by the work queue.
// It writes only the BrokerCluster's cluster-state fields, under a field manager of its own, and
// records what every broker holds in the ClusterStateTracker, from which the Topic reconciler
// writes each Topic's status. It also keeps the topic-request long polls (one per running broker).
import { parseResource, type BrokerCluster } from '../../api/index.ts';
import { placeCoordinators, type pushClusterState } from '../../cluster/index.ts';
import { DEFAULT_BUILD_OPTIONS, objectNames } from '../brokercluster/index.ts';
import { controllerOwnerKey, KINDS, type KubeObject, type ObjectKey, type Reconciler } from '../controller/index.ts';
import { brokerAccess, brokerPodOwner } from '../policy/index.ts';
import { jsonEqual, statusChanged } from '../status/index.ts';
import { compileClusterState } from './compile.ts';
import { distributeClusterState, type ClusterStateRef } from './distributor.ts';
import { TopicRequestPollers } from './topic-requests.ts';
import type { ClusterStateTracker } from './tracker.ts';
import { clusterTopics } from './topics.ts';

/** The field manager of the BrokerCluster's cluster-state fields. */
export const CLUSTER_STATE_FIELD_MANAGER = 'bulwark-operator-cluster-state';
/** How soon a cluster whose brokers do not all hold the state is tried again (pod events also requeue it). */
export const CLUSTER_STATE_RETRY_MS = 2_000;

export interface ClusterStateStatus {
  clusterStateVersion?: number;
  clusterStateHash?: string;
  clusterStateInSync?: string;
  coordinators?: number[];
  [k: string]: unknown;
}

export interface ClusterStateReconcilerOptions {
  tracker: ClusterStateTracker;
  clusterDomain?: string;
  /** The topic-request long polls; false: none (tests of the push alone). */
  pollers?: TopicRequestPollers | false;
  push?: typeof pushClusterState;
}

type Stored = KubeObject & { spec?: unknown; status?: ClusterStateStatus };

/** The status fields written under CLUSTER_STATE_FIELD_MANAGER, as they are in `s`. */
function ownedStatus(s: ClusterStateStatus | undefined): ClusterStateStatus {
  return { clusterStateVersion: s?.clusterStateVersion, clusterStateHash: s?.clusterStateHash, clusterStateInSync: s?.clusterStateInSync, ...(s?.coordinators ? { coordinators: s.coordinators } : {}) };
}
type StoredSts = KubeObject & { spec?: { replicas?: number } };

/** The Kafka listener's port: what the ClusterState tells clients to connect to (0 when the cluster has none). */
export function kafkaPort(cluster: BrokerCluster): number {
  return cluster.spec.listeners.find((l) => l.protocol === 'kafka')?.port ?? 0;
}

export function clusterStateReconciler(options: ClusterStateReconcilerOptions): Reconciler {
  const { tracker } = options;
  const clusterDomain = options.clusterDomain ?? DEFAULT_BUILD_OPTIONS.clusterDomain;
  const confirmed = new Map<string, Map<string, ClusterStateRef>>();
  /** The coordinator slots last placed, by cluster. */
  const slots = new Map<string, number[]>();
  let pollers: TopicRequestPollers | undefined;
  const byClusterRef = (o: KubeObject): ObjectKey[] => {
    const ref = (o as { spec?: { clusterRef?: { name?: string } } }).spec?.clusterRef?.name;
    return ref ? [{ namespace: o.metadata.namespace ?? '', name: ref }] : [];
  };
  const ownerCluster = (o: KubeObject): ObjectKey[] => {
    const k = controllerOwnerKey(o, KINDS.brokerCluster);
    return k ? [k] : [];
  };

  return {
    name: 'clusterstate',
    primary: KINDS.brokerCluster,
    owns: [],
    watches: [
      // A Topic's placement is in its status: status writes are inputs here.
      { kind: KINDS.topic, map: byClusterRef },
      { kind: KINDS.pod, map: brokerPodOwner },
      { kind: KINDS.statefulSet, map: ownerCluster },
      { kind: KINDS.secret, map: ownerCluster },
    ],
    stopWorking: async () => {
      // Another leader may place slots meanwhile: its status is the truth when this one leads again.
      slots.clear();
      await pollers?.stopAll();
    },
    reconcile: async (key, ctx) => {
      if (options.pollers !== false) pollers ??= options.pollers ?? new TopicRequestPollers({ log: ctx.log.child({ component: 'topic-requests' }) });
      const id = `${key.namespace}/${key.name}`;
      const stored = ctx.cache.get<Stored>(KINDS.brokerCluster, key);
      const env = { cache: ctx.cache, api: ctx.api, log: ctx.log };
      if (!stored || stored.metadata.deletionTimestamp) {
        confirmed.delete(id);
        slots.delete(id);
        tracker.forget(key);
        pollers?.sync(key, [], 0, undefined, env);
        return;
      }
      const parsed = parseResource(stored, key.namespace);
      // A spec the operator cannot read: the BrokerCluster reconciler says so in its status.
      if (!parsed.ok || parsed.value.kind !== 'BrokerCluster') return;
      const cluster = parsed.value;
      const sts = ctx.cache.get<StoredSts>(KINDS.statefulSet, { namespace: key.namespace, name: objectNames(key.name).statefulSet });
      // A scale-down the BrokerCluster reconciler refuses keeps the StatefulSet (and so the brokers) as they are.
      const brokers = Math.max(cluster.spec.replicas, sts?.spec?.replicas ?? 0);
      // Group coordinators stay where they were: a moved group would not find its committed
      // offsets. Where they were is this process's last decision when it made one (the cache can
      // still hold a status from before it, and placing from that would move groups back), else
      // the status (after a restart, or a change of leader).
      const coordinators = placeCoordinators(brokers, slots.get(id) ?? stored.status?.coordinators);
      slots.set(id, coordinators);
      let s = stored.status;
      if (coordinators.length > 0 && !jsonEqual(coordinators, s?.coordinators)) {
        // Recorded before any broker acts on it: an operator that stops after the push and before
        // the status write below would leave the status naming the old slots, and the next leader
        // would place from those and move groups again. Under this field manager every field it
        // owns is applied, or the apply would drop it. What it returns is what the write below
        // compares with (the cache may not have it yet).
        s = (await ctx.api.applyStatus<Stored>({ apiVersion: stored.apiVersion, kind: stored.kind, metadata: { name: key.name, namespace: key.namespace }, status: { ...ownedStatus(s), coordinators } }, { fieldManager: CLUSTER_STATE_FIELD_MANAGER })).status;
      }
      const { content, members } = compileClusterState({
        cluster: { name: key.name, namespace: key.namespace },
        brokers,
        kafkaPort: kafkaPort(cluster),
        topics: clusterTopics(ctx.cache, key.namespace, key.name),
        coordinators,
      });

      const access = brokerAccess(ctx.cache, cluster, clusterDomain);
      pollers?.sync(key, access.targets, access.port, access.tls, env);
      const previous = s?.clusterStateVersion !== undefined && s.clusterStateHash ? { version: s.clusterStateVersion, hash: s.clusterStateHash } : undefined;
      let mine = confirmed.get(id);
      if (!mine) confirmed.set(id, (mine = new Map()));
      const outcome = await distributeClusterState({
        content,
        ...(previous ? { previous } : {}),
        targets: access.targets,
        port: access.port,
        tls: access.tls ?? { ca: '', cert: '', key: '' },
        confirmed: mine,
        ...(options.push ? { push: options.push } : {}),
      });
      for (const f of outcome.failures) ctx.log.info({ cluster: id, pod: f.pod, reason: f.message }, 'cluster state not applied on a broker yet');

      // Every broker the cluster is meant to have counts, running or not yet.
      const count = Math.max(brokers, outcome.brokers);
      tracker.record(key, { version: outcome.state.version, brokers: count, inSync: outcome.inSync, topics: members });
      const allInSync = outcome.brokers > 0 && outcome.failures.length === 0;
      const status: ClusterStateStatus = {
        ...(allInSync ? { clusterStateVersion: outcome.state.version, clusterStateHash: outcome.hash } : previous ? { clusterStateVersion: previous.version, clusterStateHash: previous.hash } : {}),
        clusterStateInSync: `${outcome.inSync}/${count}`,
        ...(coordinators.length > 0 ? { coordinators } : {}),
      };
      if (statusChanged(ownedStatus(s), status)) {
        await ctx.api.applyStatus({ apiVersion: stored.apiVersion, kind: stored.kind, metadata: { name: key.name, namespace: key.namespace }, status }, { fieldManager: CLUSTER_STATE_FIELD_MANAGER });
      }
      return outcome.brokers > 0 && !allInSync ? { requeueAfterMs: CLUSTER_STATE_RETRY_MS } : undefined;
    },
  };
}
