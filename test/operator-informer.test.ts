// The informer's bookkeeping, on a scripted watch stream (the real API server's behaviour is in
// operator-machinery.test.ts): bookmarks move the resourceVersion without reporting a change,
// the next watch starts from it, and a failed watch is retried with backoff, without a relist.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { createLogger, realClock } from '../src/lib/index.ts';
import { Informer, KINDS, KubeClient, KubeObjectApi, type KubeObject, type KubeRequest, type WatchEvent } from '../src/operator/index.ts';

const log = createLogger({ level: 'silent' });
const cm = (name: string, rv: string): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'ns', resourceVersion: rv } });

/** Watches play scripted steps: events to send, then end or fail. */
class ScriptedClient extends KubeClient {
  readonly watchedFrom: string[] = [];
  constructor(readonly steps: ({ events: WatchEvent[] } | { fail: Error })[]) {
    const kc = new KubeConfig();
    kc.loadFromOptions({ clusters: [{ name: 'c', server: 'https://127.0.0.1:1' }], users: [{ name: 'u' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });
    super(kc);
  }
  override async watch(_path: string, query: KubeRequest['query'], onEvent: (e: WatchEvent) => void, signal: AbortSignal): Promise<void> {
    this.watchedFrom.push(String(query?.['resourceVersion']));
    const step = this.steps.shift();
    if (!step) return new Promise((resolve) => signal.addEventListener('abort', () => resolve()));
    if ('fail' in step) throw step.fail;
    for (const e of step.events) onEvent(e);
  }
}

class ListApi extends KubeObjectApi {
  lists = 0;
  override async list<T extends KubeObject>(): Promise<{ metadata: { resourceVersion: string }; items: T[] }> {
    this.lists++;
    return { metadata: { resourceVersion: '10' }, items: [cm('a', '9') as T] };
  }
}

test('bookmarks move the resourceVersion and report nothing; a failed watch is retried from where it was, without a relist', async () => {
  const client = new ScriptedClient([
    { events: [{ type: 'BOOKMARK', object: { kind: 'ConfigMap', apiVersion: 'v1', metadata: { resourceVersion: '15' } } }] },
    { events: [{ type: 'ADDED', object: cm('b', '16') }, { type: 'BOOKMARK', object: { metadata: { resourceVersion: '20' } } }] },
    { fail: new Error('connect ECONNREFUSED') },
    { events: [{ type: 'MODIFIED', object: cm('a', '21') }, { type: 'DELETED', object: cm('b', '22') }] },
  ]);
  const api = new ListApi(client, Object.values(KINDS));
  const restarts: string[] = [];
  const inf = new Informer({ client, api, kind: KINDS.configMap, namespace: 'ns', clock: realClock, log, backoffMs: [10, 20], onRestart: (cause, relist) => restarts.push(`${cause}${relist ? '+relist' : ''}`) });
  const seen: string[] = [];
  inf.addHandlers({ add: (o) => seen.push(`add ${o.metadata.name}`), update: (o) => seen.push(`update ${o.metadata.name}`), delete: (o) => seen.push(`delete ${o.metadata.name}`) });
  inf.start();
  try {
    await inf.synced;
    for (let i = 0; i < 200 && client.watchedFrom.length < 5; i++) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(client.watchedFrom, ['10', '15', '20', '20', '22']);
    assert.deepEqual(seen, ['add a', 'add b', 'update a', 'delete b']);
    assert.deepEqual(restarts, ['ended', 'ended', 'error', 'ended']);
    assert.equal(api.lists, 1);
    assert.equal(inf.resourceVersion, '22');
    assert.deepEqual(inf.list().map((o) => `${o.metadata.name}@${o.metadata.resourceVersion}`), ['a@21']);
  } finally {
    inf.stop();
  }
});
