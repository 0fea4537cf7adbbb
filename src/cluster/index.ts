export * from './state.ts';
export { TOPIC_NAME } from '../lib/index.ts';
export * from './topic-rules.ts';
export * from './distribution.ts';
export * from './placement.ts';
