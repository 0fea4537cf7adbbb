// The broker's configuration: its schema, and (render.ts) how a BrokerCluster becomes one.
export * from './broker.ts';
export * from './render.ts';
export * from './local-mounts.ts';
