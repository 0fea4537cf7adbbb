// A Topic's status, decided from what was gathered: pure, table-tested.
//
// Stalled when the Topic cannot be carried out without a change from the user (a spec the
// operator cannot read, no such BrokerCluster, a Kafka name another Topic holds, replication it
// cannot give); Reconciling while its partitions are being placed or the cluster state holding
// its current generation is on its way to the brokers; Ready once every broker of the cluster
// applied a cluster state holding it.
import type { TopicStatus } from '../../api/index.ts';
import type { ClusterStateRecord } from '../cluster-state/index.ts';
import { applyDecision, CONDITION_READY, isConditionTrue, type StatusDecision } from '../status/index.ts';

export const TopicReason = {
  /** Every broker applied a cluster state holding this generation. */
  Applied: 'Applied',
  /** Partitions placed; a cluster state holding this generation is on its way to the brokers. */
  Propagating: 'Propagating',
  /** The cluster runs no broker yet. */
  WaitingForBrokers: 'WaitingForBrokers',
  /** The BrokerCluster named by spec.clusterRef does not exist. */
  ClusterNotFound: 'ClusterNotFound',
  /** The spec does not parse with the operator's schema (an older CRD let it in). */
  InvalidSpec: 'InvalidSpec',
  /** spec.replicationFactor is above 1: replication is not built yet. */
  ReplicationNotSupported: 'ReplicationNotSupported',
  /** An older Topic of the same cluster holds the same Kafka topic name. */
  TopicNameConflict: 'TopicNameConflict',
} as const;
export type TopicReason = (typeof TopicReason)[keyof typeof TopicReason];

export interface TopicProblem {
  reason: TopicReason;
  message: string;
}

export interface TopicDecision extends StatusDecision {
  /** Brokers holding this generation, of the cluster's: "2/3". */
  inSync?: string;
  /** The cluster state every broker applied, when Ready. */
  clusterStateVersion?: number;
}

const stalled = (p: TopicProblem): TopicDecision => ({ reason: p.reason, message: p.message, stalled: true, reconciling: false, ready: false });
const reconciling = (reason: TopicReason, message: string, inSync?: string): TopicDecision => ({ reason, message, stalled: false, reconciling: true, ready: false, ...(inSync ? { inSync } : {}) });

/** Placed, waiting for the cluster state (nothing known of it yet). */
export const PLACED: TopicDecision = reconciling(TopicReason.Propagating, 'partitions placed: waiting for the cluster state to reach the brokers');

/**
 * The decision. `record`: what the cluster's brokers hold (undefined: nothing known since the
 * operator started; the decision is then undefined and the conditions stay as they are).
 */
export function topicDecision(input: { name: string; generation: number; partitions: number; problem?: TopicProblem; record: ClusterStateRecord | undefined; cluster: string }): TopicDecision | undefined {
  if (input.problem) return stalled(input.problem);
  const r = input.record;
  if (!r) return undefined;
  const member = r.topics.get(input.name);
  if (!member || member.generation !== input.generation || member.partitions !== input.partitions) {
    return reconciling(TopicReason.Propagating, `putting generation ${input.generation} (${input.partitions} partition${input.partitions === 1 ? '' : 's'}) into the cluster state of BrokerCluster ${input.cluster}`, `0/${r.brokers}`);
  }
  const inSync = `${r.inSync}/${r.brokers}`;
  if (r.brokers === 0) return reconciling(TopicReason.WaitingForBrokers, `no broker of BrokerCluster ${input.cluster} runs yet`, inSync);
  if (r.inSync < r.brokers) return reconciling(TopicReason.Propagating, `applied on ${inSync} brokers`, inSync);
  return { reason: TopicReason.Applied, message: `applied on ${inSync} brokers`, stalled: false, reconciling: false, ready: true, inSync, clusterStateVersion: r.version };
}

/**
 * The next status: `fields` (the placement) over the old status, conditions from the decision.
 * With no decision the conditions stay (a restart rewrites nothing); a Topic with none yet is
 * Reconciling. clusterStateVersion names the state that first held this generation: a later
 * state that changes nothing for the topic does not rewrite it.
 */
export function nextTopicStatus(old: TopicStatus | undefined, decision: TopicDecision | undefined, generation: number, fields: Partial<TopicStatus>, nowMs: number): TopicStatus {
  const d = decision ?? (old?.conditions?.length ? undefined : PLACED);
  const base: TopicStatus = { ...(old ?? {}), ...fields };
  if (!d) return base;
  const wasReady = old?.observedGeneration === generation && isConditionTrue(old?.conditions, CONDITION_READY) && old.clusterStateVersion !== undefined;
  const { inSync: _i, clusterStateVersion: _v, ...rest } = base;
  const version = d.ready ? (wasReady ? old!.clusterStateVersion : d.clusterStateVersion) : undefined;
  return {
    ...rest,
    observedGeneration: generation,
    conditions: applyDecision(old?.conditions, d, generation, nowMs),
    ...(d.inSync ? { inSync: d.inSync } : {}),
    ...(version !== undefined ? { clusterStateVersion: version } : {}),
  };
}
