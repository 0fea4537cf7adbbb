// The status of a User, Role, AccessToken or TopicGrant: whether every broker of its cluster
// applied a snapshot compiled from its current generation (and, for Users and tokens, its current
// credentials). Pure: the decision from the tracker's state, table-tested.
import { applyDecision, type Condition, CONDITION_READY, isConditionTrue, type StatusDecision } from '../status/index.ts';
import type { ClusterPolicyState } from './tracker.ts';

export const MemberReason = {
  /** Every broker applied a snapshot with this generation. */
  Applied: 'Applied',
  /** A snapshot with this generation is on its way to the brokers. */
  Propagating: 'Propagating',
  /** The cluster runs no broker pod yet. */
  WaitingForBrokers: 'WaitingForBrokers',
  /** The BrokerCluster named by spec.clusterRef does not exist. */
  ClusterNotFound: 'ClusterNotFound',
} as const;

/** A problem the resource's own reconciler found (Stalled): a missing Secret, a weak password, an expired token. */
export interface MemberProblem {
  reason: string;
  message: string;
  /** Something the operator waits for (Reconciling), not a change the user must make (Stalled). */
  waiting?: boolean;
}

export interface MemberInput {
  /** `Kind/name` in the tracker. */
  key: string;
  generation: number;
  digest?: string;
  problem?: MemberProblem;
  /** The clusters it is compiled into, with what the tracker knows (undefined: nothing yet, e.g. just after a restart). */
  clusters: readonly { name: string; state: ClusterPolicyState | undefined }[];
}

export interface MemberDecision extends StatusDecision {
  /** The snapshot that holds this generation, when every broker applied it. */
  policyHash?: string;
}

const stalled = (reason: string, message: string): MemberDecision => ({ reason, message, stalled: true, reconciling: false, ready: false });
const reconciling = (reason: string, message: string): MemberDecision => ({ reason, message, stalled: false, reconciling: true, ready: false });

/** The decision, or undefined when the tracker knows nothing yet of a cluster (keep the status as it is). */
export function memberDecision(input: MemberInput): MemberDecision | undefined {
  if (input.problem) return input.problem.waiting ? reconciling(input.problem.reason, input.problem.message) : stalled(input.problem.reason, input.problem.message);
  if (input.clusters.length === 0) return { reason: MemberReason.Applied, message: 'no BrokerCluster in this namespace yet: nothing to apply it to', stalled: false, reconciling: false, ready: true };
  if (input.clusters.some((c) => c.state === undefined)) return undefined;
  let brokers = 0;
  let inSync = 0;
  const warnings: string[] = [];
  const hashes: string[] = [];
  for (const { name, state } of input.clusters) {
    const member = state!.members.get(input.key);
    if (!member || member.generation !== input.generation || member.digest !== input.digest) return reconciling(MemberReason.Propagating, `compiling generation ${input.generation} into the policy of BrokerCluster ${name}`);
    const error = member.diagnostics.find((d) => d.severity === 'error');
    if (error) return stalled(error.reason, member.diagnostics.filter((d) => d.severity === 'error').map((d) => d.message).join('; '));
    for (const d of member.diagnostics) if (d.severity === 'warning') warnings.push(d.message);
    if (state!.brokers === 0) return reconciling(MemberReason.WaitingForBrokers, `no broker of BrokerCluster ${name} runs yet`);
    brokers += state!.brokers;
    inSync += state!.inSync;
    hashes.push(state!.hash);
  }
  const clusters = input.clusters.length === 1 ? '' : ` of ${input.clusters.length} clusters`;
  if (inSync < brokers) return reconciling(MemberReason.Propagating, `applied on ${inSync}/${brokers} brokers${clusters}`);
  const warned = warnings.length > 0 ? `; warning: ${warnings.join('; ')}` : '';
  return { reason: MemberReason.Applied, message: `applied on ${inSync}/${brokers} brokers${clusters}${warned}`, stalled: false, reconciling: false, ready: true, ...(hashes.length === 1 ? { policyHash: hashes[0]! } : {}) };
}

export interface MemberStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  policyHash?: string;
  [k: string]: unknown;
}

/** Waiting for the first snapshot after the resource appeared (the tracker knows nothing of its cluster yet). */
export const WAITING_FOR_POLICY: MemberDecision = { reason: MemberReason.Propagating, message: 'waiting for the policy snapshot', stalled: false, reconciling: true, ready: false };

/**
 * The next status of a member resource. `fields`: the kind's own fields (secretName, expiresAt…).
 * With no decision (nothing known since the operator started), the conditions stay as they are,
 * so a restart rewrites nothing; a resource with no conditions yet is Reconciling.
 * policyHash names the snapshot that first held this generation and credentials: a later
 * snapshot that changes nothing for the resource does not rewrite its status. `sameCredentials`:
 * whether the digest is the one the stored status was written for (unknown after a restart: true).
 */
export function nextMemberStatus(
  old: MemberStatus | undefined,
  decision: MemberDecision | undefined,
  generation: number,
  fields: Record<string, unknown>,
  sameCredentials: boolean,
  nowMs: number,
): MemberStatus {
  const d = decision ?? (old?.conditions?.length ? undefined : WAITING_FOR_POLICY);
  const conditions = d ? applyDecision(old?.conditions, d, generation, nowMs) : old?.conditions;
  const wasReady = old?.observedGeneration === generation && isConditionTrue(old?.conditions, CONDITION_READY) && old.policyHash !== undefined;
  const policyHash = d?.ready ? (wasReady && sameCredentials ? old!.policyHash : d.policyHash) : old?.policyHash;
  return {
    ...fields,
    ...(d ? { observedGeneration: generation } : old?.observedGeneration !== undefined ? { observedGeneration: old.observedGeneration } : {}),
    ...(conditions ? { conditions } : {}),
    ...(policyHash ? { policyHash } : {}),
  };
}
