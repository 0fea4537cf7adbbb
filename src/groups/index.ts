// The consumer-group coordinator (Kafka's classic group protocol) and the message shapes its
// callers exchange with it.
export { GroupCoordinator, groupCoordinatorOptionsSchema, MAX_GROUP_ID_LENGTH, type GroupCoordinatorConfig, type GroupCoordinatorOptions, type GroupOffsetStore } from './coordinator.ts';
export { GroupState, selectProtocol } from './group.ts';
export type * from './messages.ts';
