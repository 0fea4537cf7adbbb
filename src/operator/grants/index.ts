export { roleReconciler, topicGrantReconciler } from './reconciler.ts';
