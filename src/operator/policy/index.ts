// Policy distribution: the operator's side of the PolicySnapshot push (src/policy/distribution.ts).
export { distributePolicy, nextVersion, pushTargets, type BrokerPod, type BrokerTarget, type DistributeInput, type DistributionOutcome } from './distributor.ts';
