// Policy distribution: the operator's side of the PolicySnapshot push (src/policy/distribution.ts),
// the policy reconciler, and what the other reconcilers read to write their status.
export { distributePolicy, nextVersion, pushTargets, type BrokerPod, type BrokerTarget, type DistributeInput, type DistributionOutcome } from './distributor.ts';
export { brokerPodOwner, ParseCache, parseAny, POLICY_FIELD_MANAGER, POLICY_RETRY_MS, policyReconciler, type PolicyReconcilerOptions } from './reconciler.ts';
export { memberKey, PolicyTracker, type ClusterPolicyState, type MemberKind, type MemberState } from './tracker.ts';
export { MemberReason, memberDecision, nextMemberStatus, WAITING_FOR_POLICY, type MemberDecision, type MemberInput, type MemberProblem, type MemberStatus } from './member-status.ts';
export { parseMember, ReadyDigests, storedMember, writeMemberStatus, type MemberStatusInput, type StoredMember } from './member.ts';
export * from './secrets.ts';
export { brokerAccess, type BrokerAccess } from './push-access.ts';
