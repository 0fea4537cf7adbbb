// The Topic reconciler: partition placement under optimistic concurrency, and the Topic's status.
export { placed, PLACEMENT_ATTEMPTS, topicReconciler, TopicEventReason, writeUnderConcurrency, type TopicReconcilerOptions } from './reconciler.ts';
export { nextTopicStatus, PLACED, topicDecision, TopicReason, type TopicDecision, type TopicProblem } from './status.ts';
