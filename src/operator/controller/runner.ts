// The controller runner: informers for every kind the reconcilers read, events mapped to the
// keys of primary objects, one work queue per reconciler, and work only while leader.
//
// Informer scope (least privilege): Secrets and ConfigMaps are read per namespace only: for each
// namespace served (`namespaces`), or, serving all namespaces, for each namespace where a primary
// object appears (started then; a reconcile in that namespace waits for them to sync). Every
// other kind is watched cluster-wide when serving all namespaces, else per namespace served.
import type { Clock, Logger } from '../../lib/index.ts';
import { kindId, NAMESPACE_SCOPED_READS, type KindRef } from '../kinds.ts';
import { Informer } from './informer.ts';
import type { KubeClient } from './kube-client.ts';
import type { OperatorMetrics } from './metrics.ts';
import type { KubeObjectApi } from './object-api.ts';
import { controllerOwnerKey, keyString, objectKey, parseKey, type EventRecorder, type KubeObject, type ObjectCache, type ObjectKey, type Reconciler, type ReconcileContext } from './types.ts';
import { CONDITION_READY, CONDITION_RECONCILING, CONDITION_STALLED, jsonEqual, setCondition, statusChanged, type Condition } from '../status/index.ts';
import { WorkQueue } from './work-queue.ts';

export interface ControllerRunnerOptions {
  client: KubeClient;
  api: KubeObjectApi;
  reconcilers: readonly Reconciler[];
  /** Namespaces served; all when undefined or empty. */
  namespaces?: readonly string[];
  events: EventRecorder;
  metrics: OperatorMetrics;
  clock: Clock;
  log: Logger;
  /** Keys reconciled at once, per reconciler (default 4). */
  concurrency?: number;
  /** Every primary object is reconciled again this often (default 10 min; 0 turns it off). */
  resyncMs?: number;
  /** Retry backoff of a failing key: first delay and cap, ms (default 500 ms, 5 min). */
  backoffMs?: [number, number];
  /** Informer watch timeouts (tests shorten them). */
  watchTimeoutSeconds?: [number, number];
}

function labelsMatch(obj: KubeObject, labels: Record<string, string> | undefined): boolean {
  if (!labels) return true;
  const have = obj.metadata.labels ?? {};
  return Object.entries(labels).every(([k, v]) => have[k] === v);
}

/** Whether an update of a primary object changed only its status (generation and the metadata reconcilers read are the same). */
export function statusOnlyChange(o: KubeObject, old: KubeObject): boolean {
  const a = o.metadata;
  const b = old.metadata;
  if (a.generation === undefined || a.generation !== b.generation || a.deletionTimestamp !== b.deletionTimestamp || a.uid !== b.uid) return false;
  const same = (x: unknown, y: unknown) => jsonEqual(x ?? null, y ?? null);
  return same(a.labels, b.labels) && same(a.annotations, b.annotations) && same(a.finalizers, b.finalizers) && same(a.ownerReferences, b.ownerReferences);
}

/** How long a reconcile waits for a namespace's Secret and ConfigMap informers before asking why they have not synced. */
const NAMESPACE_SYNC_WAIT_MS = 5_000;
/** How soon a namespace the operator may not read is tried again (its informers retry on their own). */
const FORBIDDEN_RETRY_MS = 30_000;
/** The reason on an object whose namespace the operator may not read (the same for every kind). */
export const OPERATOR_FORBIDDEN = 'OperatorForbidden';

export class ControllerRunner implements ObjectCache {
  readonly #o: ControllerRunnerOptions;
  readonly #namespaces: readonly string[] | undefined;
  /** kindId → informers of that kind (one cluster-wide, or one per namespace). */
  readonly #informers = new Map<string, Map<string, Informer>>();
  /** The informers `ready` waits for: every one started at start(). */
  readonly #initial: Informer[] = [];
  readonly #queues = new Map<string, WorkQueue>();
  readonly #kinds = new Map<string, KindRef>();
  readonly #handlers = new Map<string, ((inf: Informer) => void)[]>();
  readonly #collectors: (() => void)[] = [];
  #leading = false;
  #started = false;
  #stopped = false;
  #resync: ReturnType<Clock['setTimeout']> | undefined;

  constructor(opts: ControllerRunnerOptions) {
    this.#o = opts;
    this.#namespaces = opts.namespaces && opts.namespaces.length > 0 ? [...opts.namespaces] : undefined;
    const names = new Set<string>();
    for (const r of opts.reconcilers) {
      if (names.has(r.name)) throw new Error(`reconciler name ${JSON.stringify(r.name)} is registered twice`);
      names.add(r.name);
    }
  }

  /** Every informer started at start() has listed. */
  get synced(): boolean {
    return this.#started && this.#initial.every((i) => i.isSynced);
  }

  get leading(): boolean {
    return this.#leading;
  }

  /** Informers by id (tests). */
  informers(): Informer[] {
    return [...this.#informers.values()].flatMap((m) => [...m.values()]);
  }

  queue(reconciler: string): WorkQueue | undefined {
    return this.#queues.get(reconciler);
  }

  start(): void {
    if (this.#started) throw new Error('controller runner: already started');
    this.#started = true;
    const { metrics } = this.#o;
    for (const r of this.#o.reconcilers) {
      const queue = new WorkQueue({
        clock: this.#o.clock,
        concurrency: r.concurrency ?? this.#o.concurrency ?? 4,
        ...(this.#o.backoffMs ? { backoffMs: this.#o.backoffMs } : {}),
        work: (key) => this.#reconcile(r, key),
        onDone: (key, outcome) => {
          metrics.reconciles.inc({ reconciler: r.name, result: outcome.ok ? 'success' : 'error' });
          metrics.reconcileSeconds.observe({ reconciler: r.name }, outcome.ms / 1000);
          if (!outcome.ok) {
            metrics.reconcileErrors.inc({ reconciler: r.name });
            this.#o.log.warn({ reconciler: r.name, key, err: outcome.error, retryInMs: outcome.retryInMs }, 'reconcile failed; retrying');
          }
        },
      });
      this.#queues.set(r.name, queue);
      metrics.queueDepth.labels({ reconciler: r.name }).set(0);
      // Gauges read the queues when scraped.
      const depth = metrics.queueDepth;
      const waiting = metrics.queueWaiting;
      this.#collectors.push(() => {
        depth.set({ reconciler: r.name }, queue.depth);
        waiting.set({ reconciler: r.name }, queue.waiting);
      });

      const enqueue = (key: ObjectKey | undefined) => key && queue.add(keyString(key));
      r.triggers?.((key) => enqueue(key));
      this.#watch(r.primary, (inf) =>
        inf.addHandlers({
          add: (o) => {
            this.#ensureNamespaceInformers(o.metadata.namespace);
            enqueue(objectKey(o));
          },
          update: (o, old) => {
            // A write to the status alone (this reconciler's own, or another's fields) asks nothing of
            // it: requeue when the spec (generation) or the metadata it acts on changed.
            if (o.metadata.resourceVersion !== old.metadata.resourceVersion && !statusOnlyChange(o, old)) enqueue(objectKey(o));
          },
          delete: (o) => enqueue(objectKey(o)),
        }),
      );
      for (const kind of r.owns) {
        this.#watch(kind, (inf) =>
          inf.addHandlers({
            add: (o) => enqueue(controllerOwnerKey(o, r.primary)),
            update: (o, old) => {
              const a = controllerOwnerKey(o, r.primary);
              const b = controllerOwnerKey(old, r.primary);
              enqueue(a);
              if (b && (!a || keyString(a) !== keyString(b))) enqueue(b);
            },
            delete: (o) => enqueue(controllerOwnerKey(o, r.primary)),
          }),
        );
      }
      for (const w of r.watches ?? []) {
        const mapped = (o: KubeObject) => {
          try {
            for (const k of w.map(o)) enqueue(k);
          } catch (err) {
            this.#o.log.error({ reconciler: r.name, kind: w.kind.kind, err }, 'watch mapping threw');
          }
        };
        this.#watch(w.kind, (inf) =>
          inf.addHandlers({
            add: mapped,
            update: (o, old) => {
              if (w.ignoreStatusOnly && statusOnlyChange(o, old)) return;
              mapped(o);
              mapped(old);
            },
            delete: mapped,
          }),
        );
      }
    }
    // The informers known now are the ones readiness waits for.
    for (const kid of this.#kinds.keys()) {
      const kind = this.#kinds.get(kid)!;
      if (NAMESPACE_SCOPED_READS.includes(kind)) {
        for (const ns of this.#namespaces ?? []) this.#initial.push(this.#informer(kind, ns));
      } else if (this.#namespaces) {
        for (const ns of this.#namespaces) this.#initial.push(this.#informer(kind, ns));
      } else this.#initial.push(this.#informer(kind, undefined));
    }
    this.#scheduleResync();
  }

  /** Refreshes the queue gauges (called before a scrape). */
  collectMetrics(): void {
    for (const c of this.#collectors) c();
  }

  /** Resolves when every informer started so far has listed. */
  async waitForSync(): Promise<void> {
    await Promise.all(this.informers().map((i) => i.synced));
  }

  /** Leadership gained: work every primary key once (level-based), then as events come. */
  async startWorking(): Promise<void> {
    this.#leading = true;
    this.#o.metrics.leader.set(1);
    await Promise.all(this.#initial.map((i) => i.synced));
    if (!this.#leading || this.#stopped) return;
    for (const r of this.#o.reconcilers) {
      const q = this.#queues.get(r.name)!;
      for (const o of this.list(r.primary)) q.add(keyString(objectKey(o)));
      q.start();
    }
    this.#o.log.info({ reconcilers: this.#o.reconcilers.map((r) => r.name) }, 'leading: reconciling');
  }

  /** Leadership lost or shutting down: start nothing more; resolves when the reconciles in flight finish. */
  async stopWorking(): Promise<void> {
    const was = this.#leading;
    this.#leading = false;
    this.#o.metrics.leader.set(0);
    await Promise.all([...this.#queues.values()].map((q) => q.pause()));
    await Promise.all(this.#o.reconcilers.map(async (r) => r.stopWorking?.()));
    if (was) this.#o.log.info('standing by: not reconciling');
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#resync) this.#o.clock.clearTimeout(this.#resync);
    await this.stopWorking();
    await Promise.all([...this.#queues.values()].map((q) => q.shutDown()));
    for (const i of this.informers()) i.stop();
  }

  // ObjectCache

  get<T extends KubeObject>(kind: KindRef, key: ObjectKey): T | undefined {
    const byNs = this.#informers.get(kindId(kind));
    if (!byNs) throw new Error(`cache: ${kind.kind} is not watched by any reconciler (add it to owns or watches)`);
    const inf = byNs.get(key.namespace) ?? byNs.get('*');
    return inf?.get(key.namespace, key.name) as T | undefined;
  }

  list<T extends KubeObject>(kind: KindRef, namespace?: string, labels?: Record<string, string>): T[] {
    const byNs = this.#informers.get(kindId(kind));
    if (!byNs) throw new Error(`cache: ${kind.kind} is not watched by any reconciler (add it to owns or watches)`);
    const infs = namespace === undefined ? [...byNs.values()] : [byNs.get(namespace) ?? byNs.get('*')].filter((i): i is Informer => i !== undefined);
    return infs.flatMap((i) => i.list()).filter((o) => (namespace === undefined || o.metadata.namespace === namespace) && labelsMatch(o, labels)) as T[];
  }

  // Internals

  #watch(kind: KindRef, attach: (inf: Informer) => void): void {
    const kid = kindId(kind);
    this.#kinds.set(kid, kind);
    const list = this.#handlers.get(kid) ?? [];
    list.push(attach);
    this.#handlers.set(kid, list);
  }

  /** The informer of `kind` for `namespace` (undefined: cluster-wide), started with its handlers on first use. */
  #informer(kind: KindRef, namespace: string | undefined): Informer {
    const kid = kindId(kind);
    const byNs = this.#informers.get(kid) ?? new Map<string, Informer>();
    this.#informers.set(kid, byNs);
    const slot = namespace ?? '*';
    let inf = byNs.get(slot);
    if (inf) return inf;
    inf = new Informer({
      client: this.#o.client,
      api: this.#o.api,
      kind,
      ...(namespace === undefined ? {} : { namespace }),
      clock: this.#o.clock,
      log: this.#o.log,
      ...(this.#o.watchTimeoutSeconds ? { watchTimeoutSeconds: this.#o.watchTimeoutSeconds } : {}),
      onRestart: (cause, relist) => {
        this.#o.metrics.informerRestarts.inc({ kind: kind.kind, cause });
        if (relist) this.#o.metrics.informerRelists.inc({ kind: kind.kind });
      },
    });
    for (const attach of this.#handlers.get(kid) ?? []) attach(inf);
    byNs.set(slot, inf);
    if (!this.#stopped) inf.start();
    return inf;
  }

  /** Serving all namespaces: Secret and ConfigMap informers for a namespace where a primary object is. */
  #ensureNamespaceInformers(namespace: string | undefined): Informer[] {
    if (namespace === undefined || this.#stopped) return [];
    const out: Informer[] = [];
    for (const kind of this.#kinds.values()) {
      if (!NAMESPACE_SCOPED_READS.includes(kind)) continue;
      if (this.#namespaces && !this.#namespaces.includes(namespace)) continue;
      out.push(this.#informer(kind, namespace));
    }
    return out;
  }

  /**
   * Serving all namespaces: stops the Secret and ConfigMap informers of a namespace where no
   * primary object is left (deleted, or the namespace itself deleted), so they neither hold a
   * watch nor retry for ever on a namespace the operator may not read.
   */
  #releaseNamespaceInformers(namespace: string): void {
    if (this.#namespaces || this.#o.reconcilers.some((r) => this.list(r.primary, namespace).length > 0)) return;
    for (const kind of this.#kinds.values()) {
      if (!NAMESPACE_SCOPED_READS.includes(kind)) continue;
      const byNs = this.#informers.get(kindId(kind));
      const inf = byNs?.get(namespace);
      if (!inf) continue;
      inf.stop();
      byNs!.delete(namespace);
    }
  }

  async #reconcile(r: Reconciler, key: string): Promise<{ requeueAfterMs?: number } | void> {
    const k = parseKey(key);
    const ctx: ReconcileContext = { cache: this, metrics: this.#o.metrics, api: this.#o.api, events: this.#o.events, log: this.#o.log.child({ reconciler: r.name, key }), clock: this.#o.clock };
    // A key with no primary object behind it (deleted; or a watched object, such as a pod, that
    // only names one) needs nothing from its namespace: no informers are started for it.
    if (!this.get(r.primary, k)) {
      this.#releaseNamespaceInformers(k.namespace);
      return r.reconcile(k, ctx);
    }
    const scoped = this.#ensureNamespaceInformers(k.namespace);
    const synced = Promise.all(scoped.map((i) => i.synced));
    // An informer that may not list its kind here (403: no RoleBinding in this namespace) never
    // syncs: say so on the object instead of waiting without a word.
    const waited = await Promise.race([synced.then(() => true), new Promise<false>((resolve) => this.#o.clock.setTimeout(() => resolve(false), NAMESPACE_SYNC_WAIT_MS))]);
    if (!waited) {
      const forbidden = scoped.filter((i) => !i.isSynced && i.lastFailureStatus === 403).map((i) => i.kind.plural);
      if (forbidden.length > 0) {
        await this.#stallForbidden(r, k, forbidden);
        return { requeueAfterMs: FORBIDDEN_RETRY_MS };
      }
      await synced;
    }
    return r.reconcile(k, ctx);
  }

  /** Stalled (and not Ready) with reason OperatorForbidden on the primary, its other status fields and conditions kept. */
  async #stallForbidden(r: Reconciler, key: ObjectKey, plurals: string[]): Promise<void> {
    const obj = this.get<KubeObject & { status?: { conditions?: Condition[] } & Record<string, unknown> }>(r.primary, key);
    if (!obj) return;
    const message = `the operator may not read ${plurals.join(' and ')} in namespace ${key.namespace}: bind the ClusterRole bulwark-operator-namespaced to its ServiceAccount there with a RoleBinding (docs/operator.md, RBAC)`;
    const now = this.#o.clock.now();
    const generation = obj.metadata.generation;
    let conditions = obj.status?.conditions;
    conditions = setCondition(conditions, { type: CONDITION_STALLED, status: 'True', reason: OPERATOR_FORBIDDEN, message, ...(generation === undefined ? {} : { observedGeneration: generation }) }, now);
    conditions = setCondition(conditions, { type: CONDITION_READY, status: 'False', reason: OPERATOR_FORBIDDEN, message, ...(generation === undefined ? {} : { observedGeneration: generation }) }, now);
    conditions = setCondition(conditions, { type: CONDITION_RECONCILING, status: 'False', reason: OPERATOR_FORBIDDEN, message, ...(generation === undefined ? {} : { observedGeneration: generation }) }, now);
    const status = { ...(obj.status ?? {}), conditions };
    this.#o.log.warn({ reconciler: r.name, key: keyString(key), kinds: plurals }, 'the operator may not read what this namespace needs: stalled');
    if (!statusChanged(obj.status, status)) return;
    await this.#o.api.applyStatus({ apiVersion: obj.apiVersion, kind: obj.kind, metadata: { name: key.name, namespace: key.namespace }, status });
    this.#o.events.emit(obj, 'Warning', OPERATOR_FORBIDDEN, message);
  }

  #scheduleResync(): void {
    const every = this.#o.resyncMs ?? 600_000;
    if (every <= 0 || this.#stopped) return;
    this.#resync = this.#o.clock.setTimeout(() => {
      if (this.#leading) {
        for (const r of this.#o.reconcilers) {
          const q = this.#queues.get(r.name)!;
          for (const o of this.list(r.primary)) q.add(keyString(objectKey(o)));
        }
      }
      this.#scheduleResync();
    }, every);
  }
}
