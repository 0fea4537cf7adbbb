// The ClusterState of a BrokerCluster, compiled from what etcd holds: the brokers the cluster has
// (ids = StatefulSet ordinals), and every Topic placed so far (its status: leaders and epochs).
// Pure: the reconciler gathers the inputs from the cache.
import { assignmentsOf, clusterStateHash, type ClusterState, type TopicState } from '../../cluster/index.ts';
import { kafkaClusterId, objectNames } from '../brokercluster/index.ts';
import type { TopicMember } from './tracker.ts';
import { nameConflicts, parseTopic, storedTopicName, type StoredTopic } from './topics.ts';

export type ClusterStateContent = Omit<ClusterState, 'version'>;

export interface ClusterStateInput {
  cluster: { name: string; namespace: string };
  /** Brokers 0..brokers-1. */
  brokers: number;
  /** The port clients reach a broker's Kafka listener on. */
  kafkaPort: number;
  /** The cluster's Topics (not being deleted). */
  topics: readonly StoredTopic[];
  /** The coordinator slots (placeCoordinators), kept in the BrokerCluster's status. */
  coordinators?: number[];
}

/** A broker's address: its pod's name under the headless Service. */
export function brokerHost(cluster: string, namespace: string, id: number): string {
  return `${cluster}-${id}.${objectNames(cluster).headlessService}.${namespace}.svc`;
}

export function compileClusterState(input: ClusterStateInput): { content: ClusterStateContent; members: Map<string, TopicMember> } {
  const { name, namespace } = input.cluster;
  const losers = nameConflicts(input.topics);
  const topics: TopicState[] = [];
  const members = new Map<string, TopicMember>();
  for (const t of input.topics) {
    const placed = t.status?.partitions;
    if (losers.has(t.metadata.name) || !t.status?.topicId || !placed || placed.length === 0) continue;
    const parsed = parseTopic(t);
    topics.push({ name: storedTopicName(t), id: t.status.topicId, partitions: assignmentsOf(placed), config: parsed.ok ? { ...(parsed.topic.spec.config ?? {}) } : {} });
    members.set(t.metadata.name, { generation: t.metadata.generation ?? 0, partitions: placed.length });
  }
  topics.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const brokers = Array.from({ length: input.brokers }, (_, id) => ({ id, host: brokerHost(name, namespace, id), port: input.kafkaPort, rack: null }));
  return { content: { clusterId: kafkaClusterId(namespace, name), controllerId: 0, brokers, topics, ...(input.coordinators && input.coordinators.length > 0 ? { coordinators: input.coordinators } : {}) }, members };
}

/** The version `content` gets: the one in force while the content is the same, the next when it changed. */
export function nextClusterStateVersion(previous: { version: number; hash: string } | undefined, content: ClusterStateContent): number {
  if (!previous) return 1;
  return clusterStateHash({ ...content, version: previous.version }) === previous.hash ? previous.version : previous.version + 1;
}
