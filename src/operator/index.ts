// The operator (`bulwark operator`): its machinery and the reconcilers it runs.
export * from './controller/index.ts';
export * from './status/index.ts';
