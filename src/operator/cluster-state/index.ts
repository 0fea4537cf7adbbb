// ClusterState distribution: the operator's side of the ClusterState push and the topic-request
// long poll (src/cluster/distribution.ts), the reconciler that runs them, and what the Topic
// reconciler reads to write Topic statuses.
export { brokerHost, compileClusterState, nextClusterStateVersion, type ClusterStateContent, type ClusterStateInput } from './compile.ts';
export { distributeClusterState, type ClusterStateDistribution, type ClusterStateOutcome, type ClusterStateRef } from './distributor.ts';
export { CLUSTER_STATE_FIELD_MANAGER, CLUSTER_STATE_RETRY_MS, clusterStateReconciler, kafkaPort, type ClusterStateReconcilerOptions, type ClusterStateStatus } from './reconciler.ts';
export { answerFor, createRefusal, TopicRequestPollers, type TopicRequestEnv, type TopicRequestPollersOptions } from './topic-requests.ts';
export { ClusterStateTracker, type ClusterStateRecord, type TopicMember } from './tracker.ts';
export * from './topics.ts';
