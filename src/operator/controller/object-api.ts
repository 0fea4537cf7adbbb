// Writes through server-side apply under one field manager: applying the same object twice
// changes nothing (the API server keeps its resourceVersion), and fields other managers own are
// left alone unless the operator sets them (then `force` takes them: the operator's spec wins).
import { kindPath, type KindRef } from '../kinds.ts';
import { isNotFound, type KubeClient } from './kube-client.ts';
import type { KubeObject, ObjectApi, ObjectKey, StatusPatch } from './types.ts';

export const FIELD_MANAGER = 'bulwark-operator';
const APPLY = 'application/apply-patch+yaml';

export interface KubeList<T> {
  metadata: { resourceVersion: string; continue?: string };
  items: T[];
}

/** Plural of a kind the operator writes, from its kind name (apply needs the path). */
function refOf(obj: { apiVersion: string; kind: string }, kinds: readonly KindRef[]): KindRef {
  const found = kinds.find((k) => k.apiVersion === obj.apiVersion && k.kind === obj.kind);
  if (!found) throw new Error(`apply: ${obj.apiVersion} ${obj.kind} is not a kind the operator knows`);
  return found;
}

export class KubeObjectApi implements ObjectApi {
  readonly #client: KubeClient;
  readonly #kinds: readonly KindRef[];

  constructor(client: KubeClient, kinds: readonly KindRef[]) {
    this.#client = client;
    this.#kinds = kinds;
  }

  async apply<T extends KubeObject>(obj: T): Promise<T> {
    const kind = refOf(obj, this.#kinds);
    const ns = requireNamespace(obj.metadata, 'apply');
    // Only what the operator means to own goes in; never resourceVersion (apply would turn it into a precondition).
    const { resourceVersion: _rv, uid: _uid, creationTimestamp: _ct, ...metadata } = obj.metadata;
    const body = { ...obj, metadata };
    return this.#client.request<T>('PATCH', kindPath(kind, ns, obj.metadata.name), { body, contentType: APPLY, query: { fieldManager: FIELD_MANAGER, force: true } });
  }

  async applyStatus<T extends KubeObject>(obj: StatusPatch, opts: { fieldManager?: string } = {}): Promise<T> {
    const kind = refOf(obj, this.#kinds);
    const body = { apiVersion: obj.apiVersion, kind: obj.kind, metadata: { name: obj.metadata.name, namespace: obj.metadata.namespace }, status: obj.status };
    return this.#client.request<T>('PATCH', `${kindPath(kind, obj.metadata.namespace, obj.metadata.name)}/status`, { body, contentType: APPLY, query: { fieldManager: opts.fieldManager ?? FIELD_MANAGER, force: true } });
  }

  async get<T extends KubeObject>(kind: KindRef, key: ObjectKey): Promise<T | undefined> {
    try {
      return await this.#client.request<T>('GET', kindPath(kind, key.namespace, key.name));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async delete(kind: KindRef, key: ObjectKey, opts: { uid?: string } = {}): Promise<void> {
    const body = { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Background', ...(opts.uid ? { preconditions: { uid: opts.uid } } : {}) };
    try {
      await this.#client.request('DELETE', kindPath(kind, key.namespace, key.name), { body });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  async patchMerge<T extends KubeObject>(kind: KindRef, key: ObjectKey, patch: unknown): Promise<T> {
    return this.#client.request<T>('PATCH', kindPath(kind, key.namespace, key.name), { body: patch, contentType: 'application/merge-patch+json' });
  }

  async create<T extends KubeObject>(obj: T): Promise<T> {
    const kind = refOf(obj, this.#kinds);
    const ns = requireNamespace(obj.metadata, 'create');
    const { resourceVersion: _rv, uid: _uid, creationTimestamp: _ct, ...metadata } = obj.metadata;
    return this.#client.request<T>('POST', kindPath(kind, ns), { body: { ...obj, metadata }, query: { fieldManager: FIELD_MANAGER } });
  }

  async updateStatus<T extends KubeObject>(obj: T): Promise<T> {
    const kind = refOf(obj, this.#kinds);
    const ns = requireNamespace(obj.metadata, 'updateStatus');
    if (!obj.metadata.resourceVersion) throw new Error(`updateStatus: metadata.resourceVersion is required (object ${obj.metadata.name}): it is the precondition`);
    return this.#client.request<T>('PUT', `${kindPath(kind, ns, obj.metadata.name)}/status`, { body: obj, query: { fieldManager: FIELD_MANAGER } });
  }

  /** One page-by-page list (a namespace, or all of them), with the collection's resourceVersion. */
  async list<T extends KubeObject>(kind: KindRef, namespace?: string, opts: { labelSelector?: string; signal?: AbortSignal } = {}): Promise<KubeList<T>> {
    const items: T[] = [];
    let cont: string | undefined;
    let resourceVersion = '';
    do {
      const page = await this.#client.request<KubeList<T>>('GET', kindPath(kind, namespace), { query: { limit: 500, continue: cont, labelSelector: opts.labelSelector }, signal: opts.signal });
      // Objects in a list carry no apiVersion/kind: put them back, the cache hands out whole objects.
      for (const item of page.items) items.push({ ...item, apiVersion: kind.apiVersion, kind: kind.kind });
      resourceVersion = page.metadata.resourceVersion;
      cont = page.metadata.continue || undefined;
    } while (cont);
    return { metadata: { resourceVersion }, items };
  }
}

function requireNamespace(meta: { name: string; namespace?: string }, what: string): string {
  if (!meta.namespace) throw new Error(`${what}: metadata.namespace is required (object ${meta.name})`);
  return meta.namespace;
}
