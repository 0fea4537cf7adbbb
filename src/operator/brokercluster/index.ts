// The BrokerCluster reconciler and the pure builders of what it owns.
export { brokerClusterReconciler, BrokerClusterEventReason, type BrokerClusterReconcilerOptions } from './reconciler.ts';
export * from './names.ts';
export * from './env.ts';
export * from './objects.ts';
export * from './status.ts';
export * from './scale-down.ts';
