// The contract between the machinery (informers, queue, leader election, runner) and each
// reconciler: what a reconciler declares, and what it is given to do its work.
import type { Clock, Logger } from '../../lib/index.ts';
import type { KindRef } from '../kinds.ts';
import type { OperatorMetrics } from './metrics.ts';

export interface ObjectKey {
  namespace: string;
  name: string;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  deletionTimestamp?: string;
  finalizers?: string[];
}

export type KubeObject = {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [k: string]: unknown;
};

export interface ReconcileResult {
  /** Run again after this long (a known wait: a certificate's renewal time, pods rolling). */
  requeueAfterMs?: number;
}

export interface ObjectCache {
  get<T extends KubeObject>(kind: KindRef, key: ObjectKey): T | undefined;
  list<T extends KubeObject>(kind: KindRef, namespace?: string, labels?: Record<string, string>): T[];
}

export interface StatusPatch {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string };
  status: unknown;
}

export interface ObjectApi {
  /** Server-side apply, field manager `bulwark-operator`, force: true. Returns the object as stored. */
  apply<T extends KubeObject>(obj: T): Promise<T>;
  /**
   * Server-side apply of `status` on the status subresource. `fieldManager`: a second writer of
   * one status (its own fields only) applies under its own manager, so neither removes the other's.
   */
  applyStatus<T extends KubeObject>(obj: StatusPatch, opts?: { fieldManager?: string }): Promise<T>;
  /** A live read; undefined when the object does not exist. */
  get<T extends KubeObject>(kind: KindRef, key: ObjectKey): Promise<T | undefined>;
  /** Deletes (background propagation); a missing object is fine. With `uid`, only that incarnation. */
  delete(kind: KindRef, key: ObjectKey, opts?: { uid?: string }): Promise<void>;
  /** JSON merge patch (RFC 7386), e.g. for finalizers. */
  patchMerge<T extends KubeObject>(kind: KindRef, key: ObjectKey, patch: unknown): Promise<T>;
  /** Creates the object; one that exists already is a KubeApiError 409 (AlreadyExists), never an overwrite. */
  create<T extends KubeObject>(obj: T): Promise<T>;
  /**
   * Replaces the whole status subresource, guarded by `metadata.resourceVersion` (optimistic
   * concurrency): a KubeApiError 409 (Conflict) when the object changed since it was read. For
   * status that must never be decided twice (a Topic's partition leaders): read, decide, write; on
   * 409 read again.
   */
  updateStatus<T extends KubeObject>(obj: T): Promise<T>;
}

export type EventType = 'Normal' | 'Warning';

export interface EventRecorder {
  /** A core/v1 Event about `obj`; repeats of the same (type, reason, message) raise its count. Never throws. */
  emit(obj: KubeObject, type: EventType, reason: string, message: string): void;
}

export interface ReconcileContext {
  cache: ObjectCache;
  /** The operator's metrics (absent in tests that call a reconciler directly). */
  metrics?: OperatorMetrics;
  api: ObjectApi;
  events: EventRecorder;
  log: Logger;
  clock: Clock;
}

export interface WatchedKind {
  kind: KindRef;
  /** The primary objects an event on `obj` concerns. */
  map(obj: KubeObject): ObjectKey[];
  /** Skip updates that changed only the object's status (not for kinds whose status is read, such as Pods). */
  ignoreStatusOnly?: boolean;
}

export interface Reconciler {
  /** Short, lowercase: `brokercluster`. Names its metrics, logs and queue. */
  readonly name: string;
  readonly primary: KindRef;
  /** Keys reconciled at once (default: the runner's, 4). Reconcilers that mostly wait on the API server take more. */
  readonly concurrency?: number;
  /** Kinds it owns: an event on one requeues its controller owner (ownerReference controller: true, kind = primary). */
  readonly owns: readonly KindRef[];
  /** Other kinds it reads, with their own mapping to primary keys (e.g. a Secret a spec names). */
  readonly watches?: readonly WatchedKind[];
  /**
   * Keys to reconcile that no watch sees (another reconciler's results, kept in memory): called
   * once at start with the function that queues a key.
   */
  readonly triggers?: (enqueue: (key: ObjectKey) => void) => void;
  /**
   * Leadership lost or shutting down: work the reconciler runs beside its reconciles (a long poll
   * of the brokers) must end, as only the leader acts. Called once the queues are paused.
   */
  readonly stopWorking?: () => void | Promise<void>;
  /** Level-based: read, decide, apply. Throwing means retry with backoff. */
  reconcile(key: ObjectKey, ctx: ReconcileContext): Promise<ReconcileResult | void>;
}

export function objectKey(obj: { metadata: { name: string; namespace?: string } }): ObjectKey {
  return { namespace: obj.metadata.namespace ?? '', name: obj.metadata.name };
}

export function keyString(key: ObjectKey): string {
  return `${key.namespace}/${key.name}`;
}

export function parseKey(s: string): ObjectKey {
  const i = s.indexOf('/');
  return { namespace: s.slice(0, i), name: s.slice(i + 1) };
}

/** The ownerReference an object the reconciler of `owner` makes carries: controller, and blocking the owner's deletion until the garbage collector deleted it. */
export function controllerReference(owner: { apiVersion: string; kind: string; metadata: { name: string; uid?: string | undefined } }): OwnerReference {
  return { apiVersion: owner.apiVersion, kind: owner.kind, name: owner.metadata.name, uid: owner.metadata.uid ?? '', controller: true, blockOwnerDeletion: true };
}

/** The controller owner of `obj` when it is of `owner`'s kind. */
export function controllerOwnerKey(obj: KubeObject, owner: KindRef): ObjectKey | undefined {
  const ref = obj.metadata.ownerReferences?.find((r) => r.controller === true);
  if (!ref || ref.kind !== owner.kind || ref.apiVersion.split('/')[0] !== owner.apiVersion.split('/')[0]) return undefined;
  return { namespace: obj.metadata.namespace ?? '', name: ref.name };
}
