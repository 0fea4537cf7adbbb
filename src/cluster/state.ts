// The ClusterState: brokers, topics, partition leaders and epochs. Pure data and pure functions;
// the operator (clustered) or the broker itself (standalone) owns the one current value and
// pushes it to every broker, which answers Metadata and FindCoordinator from it and takes writes
// only for partitions it leads at the current epoch.
import { z } from 'zod';
import { TOPIC_NAME } from '../lib/index.ts';

export interface BrokerInfo {
  id: number;
  host: string;
  port: number;
  rack: string | null;
}

export interface PartitionAssignment {
  partition: number;
  leader: number;
  leaderEpoch: number;
  replicas: number[];
  isr: number[];
}

export interface TopicConfig {
  /** Kafka-style config keys this topic sets (retention.ms, segment.bytes, flush.messages, …). */
  [key: string]: string;
}

export interface TopicState {
  name: string;
  /** Stable id (Kafka's topic UUID), as 32 hex digits. */
  id: string;
  partitions: PartitionAssignment[];
  config: TopicConfig;
}

export interface ClusterState {
  clusterId: string;
  /** Monotonic: a newer state replaces an older one, never the reverse. */
  version: number;
  controllerId: number;
  brokers: BrokerInfo[];
  topics: TopicState[];
}

const brokerId = z.number().int().min(0);

/** The ClusterState as it crosses a boundary (a file, a push): parsed, never cast. */
export const clusterStateSchema = z.strictObject({
  clusterId: z.string().min(1),
  version: z.number().int().min(0),
  controllerId: brokerId,
  brokers: z.array(z.strictObject({ id: brokerId, host: z.string().min(1), port: z.number().int().min(0).max(65535), rack: z.string().nullable() })),
  topics: z.array(
    z.strictObject({
      name: z.string().regex(TOPIC_NAME),
      id: z.string().regex(/^[0-9a-f]{32}$/),
      partitions: z.array(z.strictObject({ partition: z.number().int().min(0), leader: brokerId, leaderEpoch: z.number().int().min(0), replicas: z.array(brokerId), isr: z.array(brokerId) })),
      config: z.record(z.string(), z.string()),
    }),
  ),
}) satisfies z.ZodType<ClusterState>;

export function findTopic(state: ClusterState, name: string): TopicState | undefined {
  return state.topics.find((t) => t.name === name);
}

/** Why a topic name is not acceptable; undefined when it is. */
export function topicNameProblem(name: string): string | undefined {
  if (!TOPIC_NAME.test(name)) return 'topic names are 1 to 249 characters of [a-zA-Z0-9._-]';
  if (name === '.' || name === '..') return 'topic name cannot be "." or ".."';
  if (name.startsWith('__')) return 'topic names starting with "__" are reserved for Bulwark';
  return undefined;
}

/**
 * Places a new topic's partitions on brokers, round robin from a start that depends on the name,
 * leaders spread evenly; replicas are the next brokers in id order.
 */
export function assignPartitions(brokers: readonly BrokerInfo[], name: string, partitions: number, replicationFactor: number): PartitionAssignment[] {
  const ids = brokers.map((b) => b.id).sort((a, b) => a - b);
  if (ids.length === 0) throw new RangeError('no brokers to assign partitions to');
  if (replicationFactor < 1 || replicationFactor > ids.length) throw new RangeError(`replication factor ${replicationFactor} needs 1..${ids.length} brokers`);
  let start = 0;
  for (let i = 0; i < name.length; i++) start = (start * 31 + name.charCodeAt(i)) >>> 0;
  return Array.from({ length: partitions }, (_, p) => {
    const replicas = Array.from({ length: replicationFactor }, (_, r) => ids[(start + p + r) % ids.length]!);
    return { partition: p, leader: replicas[0]!, leaderEpoch: 0, replicas, isr: [...replicas] };
  });
}

/** The broker coordinating a group: the leader of the group's slot, as Kafka hashes group ids. */
export function coordinatorFor(state: ClusterState, groupId: string): BrokerInfo {
  let h = 0;
  for (let i = 0; i < groupId.length; i++) h = (Math.imul(31, h) + groupId.charCodeAt(i)) | 0;
  const ids = state.brokers.map((b) => b.id).sort((a, b) => a - b);
  const id = ids[Math.abs(h) % ids.length]!;
  return state.brokers.find((b) => b.id === id)!;
}
