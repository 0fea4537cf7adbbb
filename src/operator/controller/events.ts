// Kubernetes Events (core/v1) for what the operator does: `kubectl describe` shows them. The
// same (object, type, reason, message) within the dedup window raises the count of one Event
// instead of writing another; writes happen in the background, at most `maxPerSecond`, and a
// failure is logged, never thrown into a reconcile.
import { randomBytes } from 'node:crypto';
import { scrubString, type Clock, type Logger } from '../../lib/index.ts';
import { KINDS, kindPath } from '../kinds.ts';
import type { KubeClient } from './kube-client.ts';
import type { EventRecorder, EventType, KubeObject } from './types.ts';

export interface EventRecorderOptions {
  client: KubeClient;
  clock: Clock;
  log: Logger;
  /** reportingInstance: this replica (its pod name). */
  instance: string;
  /** Repeats within this window raise the count of the same Event (default 10 min). */
  dedupWindowMs?: number;
  /** Writes per second, beyond which events are dropped (logged) (default 10). */
  maxPerSecond?: number;
}

interface Recorded {
  namespace: string;
  name: string;
  count: number;
  first: string;
  lastAt: number;
}

const COMPONENT = 'bulwark-operator';
const MAX_MESSAGE = 1024;

export class KubeEventRecorder implements EventRecorder {
  readonly #o: EventRecorderOptions;
  readonly #seen = new Map<string, Recorded>();
  #chain: Promise<void> = Promise.resolve();
  #windowStart = 0;
  #inWindow = 0;
  /** Writes made (tests). */
  written = 0;

  constructor(opts: EventRecorderOptions) {
    this.#o = opts;
  }

  emit(obj: KubeObject, type: EventType, reason: string, message: string): void {
    const now = this.#o.clock.now();
    if (now - this.#windowStart >= 1000) {
      this.#windowStart = now;
      this.#inWindow = 0;
    }
    if (++this.#inWindow > (this.#o.maxPerSecond ?? 10)) {
      this.#o.log.debug({ reason, object: obj.metadata.name }, 'event dropped: too many events this second');
      return;
    }
    const text = scrubString(message).slice(0, MAX_MESSAGE);
    const namespace = obj.metadata.namespace ?? 'default';
    const dedupKey = [obj.metadata.uid ?? `${namespace}/${obj.kind}/${obj.metadata.name}`, type, reason, text].join('\u0000');
    this.#chain = this.#chain.then(() => this.#write(obj, namespace, dedupKey, type, reason, text, now)).catch((err) => this.#o.log.warn({ err, reason }, 'could not write an Event'));
  }

  /** Resolves when every event emitted so far has been written (or failed). */
  flush(): Promise<void> {
    return this.#chain;
  }

  async #write(obj: KubeObject, namespace: string, dedupKey: string, type: EventType, reason: string, message: string, now: number): Promise<void> {
    const ts = new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z');
    this.#prune(now);
    const seen = this.#seen.get(dedupKey);
    if (seen) {
      seen.count++;
      seen.lastAt = now;
      try {
        await this.#o.client.request('PATCH', kindPath(KINDS.event, seen.namespace, seen.name), { body: { count: seen.count, lastTimestamp: ts }, contentType: 'application/merge-patch+json' });
        this.written++;
        return;
      } catch {
        // Gone (Events expire after an hour): write a new one.
        this.#seen.delete(dedupKey);
      }
    }
    const name = `${obj.metadata.name}.${randomBytes(8).toString('hex')}`;
    const event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace },
      involvedObject: { apiVersion: obj.apiVersion, kind: obj.kind, name: obj.metadata.name, namespace: obj.metadata.namespace, uid: obj.metadata.uid, resourceVersion: obj.metadata.resourceVersion },
      type,
      reason,
      message,
      count: 1,
      firstTimestamp: ts,
      lastTimestamp: ts,
      source: { component: COMPONENT },
      reportingComponent: 'bulwark.dev/operator',
      reportingInstance: this.#o.instance,
    };
    await this.#o.client.request('POST', kindPath(KINDS.event, namespace), { body: event });
    this.written++;
    this.#seen.set(dedupKey, { namespace, name, count: 1, first: ts, lastAt: now });
  }

  #prune(now: number): void {
    const window = this.#o.dedupWindowMs ?? 600_000;
    for (const [k, r] of this.#seen) if (now - r.lastAt > window) this.#seen.delete(k);
  }
}
