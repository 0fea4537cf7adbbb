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
  /**
   * Which broker coordinates which consumer groups: a group belongs to slot
   * groupSlot(groupId, coordinators.length), coordinated by broker coordinators[slot]. The
   * operator keeps a slot on its broker when brokers are added, so a group keeps its coordinator,
   * and with it the committed offsets that broker holds. Left out (standalone, or an older
   * operator): groups are spread over the brokers present, by id.
   */
  coordinators?: number[];
}

/** Coordinator slots in a cluster, as Kafka's default number of __consumer_offsets partitions. */
export const COORDINATOR_SLOTS = 50;

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
  coordinators: z.array(brokerId).min(1).max(1000).optional(),
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

/** A group's coordinator slot: Java's String.hashCode of the group id, as Kafka places groups on __consumer_offsets partitions. */
export function groupSlot(groupId: string, slots: number): number {
  let h = 0;
  for (let i = 0; i < groupId.length; i++) h = (Math.imul(31, h) + groupId.charCodeAt(i)) | 0;
  return Math.abs(h) % slots;
}

/**
 * The broker coordinating a group: the broker of the group's slot when the state has
 * coordinator slots (and that broker is listed), else the group's slot over the brokers by id.
 */
export function coordinatorFor(state: ClusterState, groupId: string): BrokerInfo {
  const slots = state.coordinators;
  if (slots && slots.length > 0) {
    const id = slots[groupSlot(groupId, slots.length)]!;
    const b = state.brokers.find((x) => x.id === id);
    if (b) return b;
  }
  const ids = state.brokers.map((b) => b.id).sort((a, b) => a - b);
  const id = ids[groupSlot(groupId, ids.length)]!;
  return state.brokers.find((b) => b.id === id)!;
}

/**
 * Coordinator slots for `brokers` (ids 0..brokers-1), kept from `previous` where its broker
 * remains: slots are spread round robin the first time, never moved when brokers are added
 * (a moved group would lose sight of its committed offsets), and the slots of removed brokers
 * go round robin to the brokers that remain.
 */
export function placeCoordinators(brokers: number, previous: readonly number[] | undefined, slots = COORDINATOR_SLOTS): number[] {
  if (brokers < 1) return [];
  const kept = previous && previous.length === slots ? previous : undefined;
  let next = 0;
  return Array.from({ length: slots }, (_, i) => {
    const was = kept?.[i];
    if (was !== undefined && was < brokers) return was;
    if (!kept) return i % brokers;
    return next++ % brokers;
  });
}
