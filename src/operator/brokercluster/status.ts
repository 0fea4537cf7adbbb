// The BrokerCluster's status, decided from what was gathered: pure, table-tested.
//
// Conditions (kstatus): Ready, Reconciling, Stalled, always all three, each with
// observedGeneration; lastTransitionTime moves only when a status flips (setCondition). The
// reasons are the constants below, documented in docs/operator.md.
import type { BrokerCluster, FieldError } from '../../api/index.ts';
import type { CertificateState } from '../certificates/index.ts';
import { applyDecision, type Condition, removeCondition, setCondition, type StatusDecision } from '../status/index.ts';

export { applyDecision, type StatusDecision };
import { serviceHost } from './names.ts';

export const BrokerClusterReason = {
  /** Every broker pod runs the current template and is ready. */
  Ready: 'Ready',
  /** The StatefulSet is creating or rolling pods, or pods are not ready yet. */
  RollingOut: 'RollingOut',
  /** The certificates the pods mount are not there yet (cert-manager issuing). */
  WaitingForCertificates: 'WaitingForCertificates',
  /** spec.env names a variable the operator refuses. */
  InvalidEnv: 'InvalidEnv',
  /** The broker (or the operator) cannot run the spec as it is: the message names the fields. */
  InvalidSpec: 'InvalidSpec',
  /** spec.replicas went down while a broker that would go still leads partitions: the StatefulSet keeps its replicas. */
  ScaleDownBlocked: 'ScaleDownBlocked',
  /** Reconciling and Stalled are False: nothing left to do. */
  Reconciled: 'Reconciled',
  /** Stalled is False while work is in flight. */
  Progressing: 'Progressing',
} as const;
export type BrokerClusterReason = (typeof BrokerClusterReason)[keyof typeof BrokerClusterReason];

/**
 * Present, and True, only while spec.authorization.mode is authenticatedFullAccess: every
 * authenticated user may do everything. Absent otherwise.
 */
export const CONDITION_AUTHORIZATION_OPEN = 'AuthorizationOpen';
export const AuthorizationOpenReason = { AuthenticatedFullAccess: 'AuthenticatedFullAccess' } as const;

/** The AuthorizationOpen condition for a cluster's spec.authorization.mode; undefined when the grants are enforced. */
export function authorizationOpenCondition(cluster: BrokerCluster, generation: number | undefined): Omit<Condition, 'lastTransitionTime'> | undefined {
  if (cluster.spec.authorization?.mode !== 'authenticatedFullAccess') return undefined;
  return {
    type: CONDITION_AUTHORIZATION_OPEN,
    status: 'True',
    reason: AuthorizationOpenReason.AuthenticatedFullAccess,
    message:
      'spec.authorization.mode is authenticatedFullAccess: every authenticated user may do every action on every resource, whatever the grants (Deny grants, token scopes, disabled users and host lists still refuse); anonymous clients get nothing from it. Leave the field out (or set policy) to enforce the grants.',
    ...(generation === undefined ? {} : { observedGeneration: generation }),
  };
}

/** The StatefulSet fields readiness is read from. */
export interface ObservedStatefulSet {
  metadata: { generation?: number };
  spec?: { replicas?: number };
  status?: { observedGeneration?: number; replicas?: number; readyReplicas?: number; updatedReplicas?: number; currentRevision?: string; updateRevision?: string };
}

export type RolloutState = { done: true; ready: number } | { done: false; ready: number; message: string };

/** Ready = the StatefulSet's controller saw the latest spec, and every pod is updated and ready, with no revision left over. */
export function rolloutState(sts: ObservedStatefulSet | undefined, replicas: number): RolloutState {
  if (!sts) return { done: false, ready: 0, message: 'the StatefulSet is being created' };
  const s = sts.status ?? {};
  const ready = s.readyReplicas ?? 0;
  if ((s.observedGeneration ?? 0) < (sts.metadata.generation ?? 1)) return { done: false, ready, message: 'the StatefulSet controller has not seen the latest spec yet' };
  if ((sts.spec?.replicas ?? replicas) !== replicas) return { done: false, ready, message: `scaling to ${replicas} pods` };
  const updated = s.updatedReplicas ?? 0;
  if (updated !== replicas || ready !== replicas || (s.replicas ?? 0) !== replicas || !s.updateRevision || s.currentRevision !== s.updateRevision)
    return { done: false, ready, message: `${ready}/${replicas} pods ready, ${updated}/${replicas} on the current template` };
  return { done: true, ready };
}

/** What Ready's message says about the brokers: one Kafka cluster, whatever their number. */
export function replicasNote(replicas: number): string {
  return replicas > 1 ? `${replicas} brokers, one Kafka cluster (topics and partition leaders in the cluster state)` : '1 broker';
}

/** The cluster's conditions, in order of what blocks it: refusals, certificates, the rollout. */
export function decideConditions(input: {
  replicas: number;
  envRefusals: readonly FieldError[];
  specRefusals: readonly FieldError[];
  certificates: { ready: boolean; message: string; reason?: string };
  rollout: RolloutState;
  /** A scale-down refused (scale-down.ts): the message names the brokers that block it. */
  scaleDownBlocked?: { message: string };
}): StatusDecision {
  const list = (errors: readonly FieldError[]) => errors.map((e) => `${e.path}: ${e.message}`).join('; ');
  if (input.envRefusals.length > 0) return { reason: BrokerClusterReason.InvalidEnv, message: `nothing is rolled out until spec.env is fixed: ${list(input.envRefusals)}`, stalled: true, reconciling: false, ready: false };
  if (input.specRefusals.length > 0) return { reason: BrokerClusterReason.InvalidSpec, message: `nothing is rolled out until the spec is fixed: ${list(input.specRefusals)}`, stalled: true, reconciling: false, ready: false };
  if (input.scaleDownBlocked) return { reason: BrokerClusterReason.ScaleDownBlocked, message: input.scaleDownBlocked.message, stalled: true, reconciling: false, ready: false };
  if (!input.certificates.ready) return { reason: BrokerClusterReason.WaitingForCertificates, message: input.certificates.message, stalled: false, reconciling: true, ready: false };
  const note = replicasNote(input.replicas);
  if (!input.rollout.done) return { reason: BrokerClusterReason.RollingOut, message: `${input.rollout.message}; ${note}`, stalled: false, reconciling: true, ready: false };
  return { reason: BrokerClusterReason.Ready, message: `${input.rollout.ready}/${input.replicas} pods ready; ${note}`, stalled: false, reconciling: false, ready: true };
}

/** Where clients bootstrap from: the client Service and each listener's port. */
export function listenerAddresses(cluster: BrokerCluster): { name: string; protocol: 'kafka' | 'http'; tls: boolean; bootstrap: string }[] {
  const host = serviceHost(cluster.metadata.name, cluster.metadata.namespace);
  return cluster.spec.listeners.map((l) => ({ name: l.name, protocol: l.protocol, tls: l.tls?.enabled === true, bootstrap: `${host}:${l.port}` }));
}

export interface BrokerClusterStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  readyReplicas?: number;
  listeners?: ReturnType<typeof listenerAddresses>;
  certificates?: CertificateState[];
  /** The policy snapshot every running broker applied, and how many hold it (the policy reconciler's fields). */
  policyVersion?: number;
  policyHash?: string;
  policyInSync?: string;
  /** The cluster state every running broker applied, and how many hold it (the cluster-state reconciler's fields). */
  clusterStateVersion?: number;
  clusterStateHash?: string;
  clusterStateInSync?: string;
  [k: string]: unknown;
}

/**
 * The status without the policy reconciler's fields (policyVersion, policyHash, policyInSync) and
 * the cluster-state reconciler's (clusterStateVersion, clusterStateHash, clusterStateInSync): the
 * part this reconciler writes.
 */
export function withoutPolicyFields(status: BrokerClusterStatus | undefined): BrokerClusterStatus {
  const { policyVersion: _v, policyHash: _h, policyInSync: _s, clusterStateVersion: _cv, clusterStateHash: _ch, clusterStateInSync: _cs, ...mine } = status ?? {};
  return mine;
}

/**
 * The next status: this reconciler's fields replaced, other conditions kept. The policy fields
 * are left out: the policy reconciler applies them under its own field manager, and sending them
 * here (from a cache that may lag) would take them back.
 */
export function nextStatus(
  old: BrokerClusterStatus | undefined,
  generation: number | undefined,
  decision: StatusDecision,
  facts: { readyReplicas: number; listeners?: BrokerClusterStatus['listeners']; certificates?: CertificateState[]; cluster?: BrokerCluster },
  nowMs: number,
): BrokerClusterStatus {
  const { certificates: oldCertificates, listeners: oldListeners, ...rest } = withoutPolicyFields(old);
  const certificates = facts.certificates ?? oldCertificates;
  const listeners = facts.listeners ?? oldListeners;
  let conditions = applyDecision(old?.conditions, decision, generation, nowMs);
  // AuthorizationOpen follows the spec the cluster parsed to; a spec that does not parse leaves it as it was.
  if (facts.cluster) {
    const open = authorizationOpenCondition(facts.cluster, generation);
    conditions = open ? setCondition(conditions, open, nowMs) : removeCondition(conditions, CONDITION_AUTHORIZATION_OPEN);
  }
  return {
    ...rest,
    ...(generation === undefined ? {} : { observedGeneration: generation }),
    conditions,
    readyReplicas: facts.readyReplicas,
    ...(listeners ? { listeners } : {}),
    ...(certificates ? { certificates } : {}),
  };
}
