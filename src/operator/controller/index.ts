// The operator's machinery: the reconciler contract, and the informers, work queue, leader
// election, server-side apply client, events and runner that carry it out.
export type { KindRef } from '../kinds.ts';
export { KINDS, kindId, kindPath } from '../kinds.ts';
export * from './types.ts';
export * from './work-queue.ts';
export * from './kube-client.ts';
export * from './object-api.ts';
export * from './informer.ts';
export * from './leader-election.ts';
export * from './events.ts';
export * from './metrics.ts';
export * from './runner.ts';
