// Topic requests a broker of a cluster forwards to the operator (src/cluster/distribution.ts): a
// CreateTopics or DeleteTopics entry the broker authorized and validated waits here until the
// operator, long-polling GET /v1/topic-requests, takes it and answers it with POST
// /v1/topic-requests/:id, or until the Kafka client's timeout passes.
//
// A request is handed out on every poll until it is answered (an operator that dies holding one
// loses nothing); one whose client gave up is forgotten, and an answer for it gets 404. Nothing
// here is persisted: a request lives as long as the Kafka request waiting for it.
import { randomUUID } from 'node:crypto';
import { MAX_POLL_WAIT_MS, MAX_REQUESTS_PER_POLL, type TopicAnswer, type TopicRequest } from '../cluster/index.ts';

/** A TopicRequest before it has an id. */
export type TopicRequestInput = WithoutId<TopicRequest>;
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

/** What the waiting Kafka request learns: the operator's answer, or that none came in time. */
export type TopicRequestOutcome = { answered: true; answer: TopicAnswer } | { answered: false; reason: 'timeout' | 'stopping' };

interface Pending {
  request: TopicRequest;
  settle: (outcome: TopicRequestOutcome) => void;
}

export class TopicRequestQueue {
  readonly #pending = new Map<string, Pending>();
  readonly #pollers = new Set<() => void>();
  #closed = false;

  /** Queues a request and resolves with the operator's answer, or after `timeoutMs` without one. */
  submit(input: TopicRequestInput, timeoutMs: number): Promise<TopicRequestOutcome> {
    if (this.#closed) return Promise.resolve({ answered: false, reason: 'stopping' });
    const id = randomUUID().replaceAll('-', '');
    const request = { ...input, id } as TopicRequest;
    return new Promise((resolve) => {
      const timer = setTimeout(() => settle({ answered: false, reason: 'timeout' }), Math.max(0, timeoutMs));
      const settle = (outcome: TopicRequestOutcome) => {
        clearTimeout(timer);
        this.#pending.delete(id);
        resolve(outcome);
      };
      this.#pending.set(id, { request, settle });
      for (const wake of [...this.#pollers]) wake();
    });
  }

  /** Whether a create of this topic is waiting (auto-creation forwards one request per name at a time). */
  creating(topic: string): boolean {
    for (const p of this.#pending.values()) if (p.request.op === 'create' && p.request.topic === topic) return true;
    return false;
  }

  /** The unanswered requests, at once when there are any, else when one arrives or after waitMs (none). */
  async poll(waitMs: number, signal?: AbortSignal): Promise<TopicRequest[]> {
    const now = this.#waiting();
    if (now.length > 0 || this.#closed || signal?.aborted) return now;
    const wait = Math.max(0, Math.min(MAX_POLL_WAIT_MS, waitMs));
    if (wait === 0) return [];
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#pollers.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, wait);
      this.#pollers.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
    return this.#waiting();
  }

  /** Settles a waiting request with the operator's answer; false when none waits under that id. */
  answer(id: string, answer: TopicAnswer): boolean {
    const p = this.#pending.get(id);
    if (!p) return false;
    p.settle({ answered: true, answer });
    return true;
  }

  /** The broker stops: pollers get what is waiting (or nothing) now, and waiting requests give up. */
  close(): void {
    this.#closed = true;
    for (const wake of [...this.#pollers]) wake();
    for (const p of [...this.#pending.values()]) p.settle({ answered: false, reason: 'stopping' });
  }

  #waiting(): TopicRequest[] {
    const out: TopicRequest[] = [];
    for (const p of this.#pending.values()) {
      if (out.length === MAX_REQUESTS_PER_POLL) break;
      out.push(p.request);
    }
    return out;
  }
}
