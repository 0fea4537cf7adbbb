// The operator (`bulwark operator`): its machinery and the reconcilers it runs.
export * from './controller/index.ts';
export * from './status/index.ts';
export { NAMESPACE_SCOPED_READS } from './kinds.ts';
export { startOperator, type OperatorOptions, type OperatorHandle, type LeaderElectionSettings } from './start.ts';
export { defaultReconcilers, type ReconcilerOptions } from './reconcilers.ts';
