export { accessTokenReconciler, AccessTokenEventReason, AccessTokenReason, type AccessTokenReconcilerOptions } from './reconciler.ts';
