// The broker's side of the policy: the store that persists and enforces snapshots, the sources
// that feed it (a watched directory, the internal listener), and the standalone root user.
export * from './store.ts';
export * from './directory-watcher.ts';
export * from './internal-listener.ts';
export * from './root-user.ts';
