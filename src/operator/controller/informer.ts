// An informer: list a kind (in one namespace or all), then watch from the list's
// resourceVersion, keeping a cache by namespace/name and telling handlers what changed.
// - Bookmarks move the resourceVersion on, so a restarted watch resumes where it was.
// - A watch that ends (the server's timeout) resumes from the last resourceVersion.
// - A watch or list that fails is retried with capped, jittered backoff.
// - 410 Gone (the resourceVersion was compacted away) means relist: the fresh list is compared
//   with the cache, and every difference is reported as add, update or delete, so nothing is
//   missed across the gap.
import type { Clock, Logger } from '../../lib/index.ts';
import { kindId, kindPath, type KindRef } from '../kinds.ts';
import { isGone, KubeApiError, type KubeClient, type WatchEvent } from './kube-client.ts';
import type { KubeObjectApi } from './object-api.ts';
import { keyString, type KubeObject } from './types.ts';

export interface InformerHandlers {
  add?(obj: KubeObject): void;
  update?(obj: KubeObject, old: KubeObject): void;
  delete?(obj: KubeObject): void;
}

export interface InformerOptions {
  client: KubeClient;
  api: KubeObjectApi;
  kind: KindRef;
  /** One namespace; all of them when undefined. */
  namespace?: string;
  clock: Clock;
  log: Logger;
  /** Called each time the watch restarts (for metrics); `relist` when it had to list again. */
  onRestart?(cause: 'ended' | 'error' | 'gone', relist: boolean): void;
  /** Server-side watch timeout range, seconds (default 300-600). */
  watchTimeoutSeconds?: [number, number];
  /** Backoff after a failure: first and cap, ms (default 500, 30000). */
  backoffMs?: [number, number];
}

export class Informer {
  readonly kind: KindRef;
  readonly namespace: string | undefined;
  readonly #o: InformerOptions;
  readonly #cache = new Map<string, KubeObject>();
  readonly #handlers: InformerHandlers[] = [];
  #resourceVersion = '';
  #stopped = false;
  #watchAbort: AbortController | undefined;
  #failures = 0;
  #lastFailureStatus: number | undefined;
  #synced!: () => void;
  readonly synced: Promise<void>;
  #isSynced = false;
  #wake: (() => void) | undefined;
  /** Lists made (first one included): tests read it. */
  lists = 0;

  constructor(opts: InformerOptions) {
    this.#o = opts;
    this.kind = opts.kind;
    this.namespace = opts.namespace;
    this.synced = new Promise((resolve) => (this.#synced = resolve));
  }

  get id(): string {
    return `${kindId(this.kind)}@${this.namespace ?? '*'}`;
  }

  get isSynced(): boolean {
    return this.#isSynced;
  }

  get resourceVersion(): string {
    return this.#resourceVersion;
  }

  addHandlers(h: InformerHandlers): void {
    this.#handlers.push(h);
  }

  get(namespace: string, name: string): KubeObject | undefined {
    return this.#cache.get(`${namespace}/${name}`);
  }

  list(): KubeObject[] {
    return [...this.#cache.values()];
  }

  start(): void {
    void this.#run();
  }

  stop(): void {
    this.#stopped = true;
    this.#watchAbort?.abort();
    this.#wake?.();
  }

  /** The HTTP status of the last failed list or watch (403: the operator may not read this kind here); undefined once one succeeds. */
  get lastFailureStatus(): number | undefined {
    return this.#lastFailureStatus;
  }

  /** Ends the current watch as a failure would (tests: prove a restart relists on 410). */
  restartWatch(): void {
    this.#watchAbort?.abort();
  }

  async #run(): Promise<void> {
    let needList = true;
    while (!this.#stopped) {
      try {
        if (needList) {
          await this.#relist();
          needList = false;
        }
        this.#lastFailureStatus = undefined;
        const cause = await this.#watchOnce();
        if (this.#stopped) break;
        this.#failures = 0;
        this.#o.onRestart?.(cause, false);
      } catch (err) {
        if (this.#stopped) break;
        const gone = isGone(err);
        needList = needList || gone;
        if (gone) {
          this.#o.log.info({ informer: this.id, resourceVersion: this.#resourceVersion }, 'watch resourceVersion too old (410 Gone): relisting');
          this.#o.onRestart?.('gone', true);
          continue; // Relist at once: nothing is wrong with the server.
        }
        this.#failures++;
        this.#lastFailureStatus = err instanceof KubeApiError ? err.status : undefined;
        this.#o.onRestart?.('error', needList);
        const [first, cap] = this.#o.backoffMs ?? [500, 30_000];
        const base = Math.min(cap, first * 2 ** (this.#failures - 1));
        const delay = base / 2 + Math.random() * (base / 2);
        this.#o.log.warn({ informer: this.id, err, retryInMs: Math.round(delay) }, 'informer failed; retrying');
        await this.#sleep(delay);
      }
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = this.#o.clock.setTimeout(() => {
        this.#wake = undefined;
        resolve();
      }, ms);
      this.#wake = () => {
        this.#o.clock.clearTimeout(t);
        resolve();
      };
    });
  }

  async #relist(): Promise<void> {
    this.lists++;
    const list = await this.#o.api.list(this.kind, this.namespace);
    const fresh = new Map(list.items.map((item) => {
      const o = cached(item);
      return [keyString({ namespace: o.metadata.namespace ?? '', name: o.metadata.name }), o];
    }));
    const old = new Map(this.#cache);
    this.#cache.clear();
    for (const [k, o] of fresh) this.#cache.set(k, o);
    this.#resourceVersion = list.metadata.resourceVersion;
    for (const [k, o] of fresh) {
      const before = old.get(k);
      if (!before) this.#emit('add', o);
      else if (before.metadata.resourceVersion !== o.metadata.resourceVersion) this.#emit('update', o, before);
    }
    for (const [k, o] of old) if (!fresh.has(k)) this.#emit('delete', o);
    if (!this.#isSynced) {
      this.#isSynced = true;
      this.#synced();
    }
  }

  async #watchOnce(): Promise<'ended' | 'error'> {
    const abort = new AbortController();
    this.#watchAbort = abort;
    const [lo, hi] = this.#o.watchTimeoutSeconds ?? [300, 600];
    let gone: unknown;
    await this.#o.client.watch(
      kindPath(this.kind, this.namespace),
      { resourceVersion: this.#resourceVersion, allowWatchBookmarks: true, timeoutSeconds: Math.floor(lo + Math.random() * (hi - lo)) },
      (e) => {
        if (gone) return;
        gone = this.#apply(e);
        if (gone) abort.abort();
      },
      abort.signal,
      (hi + 60) * 1000,
    );
    if (gone) throw gone;
    return abort.signal.aborted && !this.#stopped ? 'error' : 'ended';
  }

  /** Applies one event; returns an error to end the watch with. */
  #apply(e: WatchEvent): unknown {
    if (e.type === 'ERROR') {
      const status = e.object as { code?: number; reason?: string; message?: string };
      const err = Object.assign(new Error(`watch error: ${status.code ?? '?'} ${status.reason ?? ''}`), { status: status.code });
      return status.code === 410 ? goneError(kindPath(this.kind, this.namespace)) : err;
    }
    const obj = cached({ ...(e.object as KubeObject), apiVersion: this.kind.apiVersion, kind: this.kind.kind });
    if (obj.metadata?.resourceVersion) this.#resourceVersion = obj.metadata.resourceVersion;
    if (e.type === 'BOOKMARK') return undefined;
    const k = keyString({ namespace: obj.metadata.namespace ?? '', name: obj.metadata.name });
    const old = this.#cache.get(k);
    if (e.type === 'DELETED') {
      this.#cache.delete(k);
      this.#emit('delete', obj);
    } else {
      this.#cache.set(k, obj);
      if (old) this.#emit('update', obj, old);
      else this.#emit('add', obj);
    }
    return undefined;
  }

  #emit(what: 'add' | 'update' | 'delete', obj: KubeObject, old?: KubeObject): void {
    for (const h of this.#handlers) {
      try {
        if (what === 'add') h.add?.(obj);
        else if (what === 'update') h.update?.(obj, old!);
        else h.delete?.(obj);
      } catch (err) {
        this.#o.log.error({ informer: this.id, err }, 'informer handler threw');
      }
    }
  }
}

function goneError(path: string): KubeApiError {
  return new KubeApiError('WATCH', path, 410, 'Expired', 'resourceVersion too old');
}

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * What the cache keeps of an object: all of it but `metadata.managedFields` and kubectl's
 * last-applied annotation, which no reconciler reads and which are a third of a small object's
 * size (server-side apply lists every field it set). At 10,000 Users with their Secrets and
 * grants, that is the difference between the operator fitting its 512 MiB or not.
 */
export function cached<T extends KubeObject>(obj: T): T {
  const { managedFields, annotations } = obj.metadata as { managedFields?: unknown; annotations?: Record<string, string> };
  if (managedFields === undefined && annotations?.[LAST_APPLIED] === undefined) return obj;
  const { managedFields: _, ...metadata } = obj.metadata as unknown as Record<string, unknown> & { annotations?: Record<string, string> };
  if (annotations?.[LAST_APPLIED] !== undefined) {
    const { [LAST_APPLIED]: __, ...rest } = annotations;
    metadata.annotations = rest;
  }
  return { ...obj, metadata } as T;
}
