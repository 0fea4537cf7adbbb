// The work queue between events and reconciles:
// - a key is never worked on twice at once; a key added while in flight runs once more after;
// - a key queued several times runs once (dedup);
// - an error retries the key with exponential backoff (capped, jittered), reset by a success;
// - addAfter(key, ms) runs a key after a known wait (the earliest wait wins);
// - at most `concurrency` keys are worked on at once;
// - paused, it keeps collecting keys but starts no work (a standby replica, or leadership lost).
import type { Clock, TimerHandle } from '../../lib/index.ts';

export interface WorkResult {
  requeueAfterMs?: number;
}

export interface WorkQueueOptions {
  clock: Clock;
  concurrency: number;
  work(key: string): Promise<WorkResult | void>;
  /** First retry delay and cap, ms (default 500 ms, 5 min). */
  backoffMs?: [number, number];
  /** [0, 1): jitter source (default Math.random). */
  random?: () => number;
  /** Told after each piece of work, for metrics and logs. */
  onDone?(key: string, outcome: { ok: true; ms: number } | { ok: false; ms: number; error: unknown; retryInMs: number }): void;
}

export class WorkQueue {
  readonly #o: WorkQueueOptions;
  readonly #ready = new Set<string>();
  readonly #inFlight = new Set<string>();
  readonly #dirty = new Set<string>();
  readonly #delayed = new Map<string, { at: number; timer: TimerHandle }>();
  readonly #failures = new Map<string, number>();
  #running = false;
  #shutDown = false;
  #idle: (() => void)[] = [];

  constructor(opts: WorkQueueOptions) {
    if (!(opts.concurrency >= 1)) throw new Error(`work queue: concurrency must be at least 1 (got ${opts.concurrency})`);
    this.#o = opts;
  }

  /** Keys waiting to run now. */
  get depth(): number {
    return this.#ready.size;
  }
  get inFlight(): number {
    return this.#inFlight.size;
  }
  /** Keys waiting for a delay (backoff or requeue-after). */
  get waiting(): number {
    return this.#delayed.size;
  }
  failures(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  add(key: string): void {
    if (this.#shutDown) return;
    if (this.#inFlight.has(key)) this.#dirty.add(key);
    else this.#ready.add(key);
    this.#pump();
  }

  addAfter(key: string, ms: number): void {
    if (this.#shutDown) return;
    if (ms <= 0) return this.add(key);
    const at = this.#o.clock.now() + ms;
    const existing = this.#delayed.get(key);
    if (existing && existing.at <= at) return;
    if (existing) this.#o.clock.clearTimeout(existing.timer);
    const timer = this.#o.clock.setTimeout(() => {
      this.#delayed.delete(key);
      this.add(key);
    }, ms);
    this.#delayed.set(key, { at, timer });
  }

  /** Start (or resume) working. */
  start(): void {
    this.#running = true;
    this.#pump();
  }

  /** Start no new work; resolves when the work in flight has finished. Keys keep being collected. */
  pause(): Promise<void> {
    this.#running = false;
    return this.#whenIdle();
  }

  /** Pause for good and drop every key and timer. */
  async shutDown(): Promise<void> {
    this.#shutDown = true;
    for (const { timer } of this.#delayed.values()) this.#o.clock.clearTimeout(timer);
    this.#delayed.clear();
    this.#ready.clear();
    this.#dirty.clear();
    await this.pause();
  }

  #whenIdle(): Promise<void> {
    if (this.#inFlight.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #pump(): void {
    while (this.#running && this.#inFlight.size < this.#o.concurrency && this.#ready.size > 0) {
      const key = this.#ready.values().next().value as string;
      this.#ready.delete(key);
      const delayed = this.#delayed.get(key);
      if (delayed) {
        // Running now answers the wait; the result sets the next one.
        this.#o.clock.clearTimeout(delayed.timer);
        this.#delayed.delete(key);
      }
      this.#inFlight.add(key);
      void this.#run(key);
    }
  }

  async #run(key: string): Promise<void> {
    const started = this.#o.clock.now();
    let result: WorkResult | void = undefined;
    let error: unknown;
    let failed = false;
    try {
      result = await this.#o.work(key);
    } catch (err) {
      failed = true;
      error = err;
    }
    this.#inFlight.delete(key);
    const ms = this.#o.clock.now() - started;
    if (failed) {
      const n = (this.#failures.get(key) ?? 0) + 1;
      this.#failures.set(key, n);
      const retryInMs = this.backoffFor(n);
      this.#o.onDone?.(key, { ok: false, ms, error, retryInMs });
      if (this.#dirty.delete(key)) this.#ready.add(key);
      else this.addAfter(key, retryInMs);
    } else {
      this.#failures.delete(key);
      this.#o.onDone?.(key, { ok: true, ms });
      if (this.#dirty.delete(key)) this.#ready.add(key);
      else if (result?.requeueAfterMs !== undefined && result.requeueAfterMs >= 0) this.addAfter(key, Math.max(1, result.requeueAfterMs));
    }
    if (this.#inFlight.size === 0) for (const resolve of this.#idle.splice(0)) resolve();
    this.#pump();
  }

  /** The delay before the n-th retry: base·2^(n-1), capped, then jittered into (½, 1]× of it. */
  backoffFor(n: number): number {
    const [first, cap] = this.#o.backoffMs ?? [500, 300_000];
    const base = Math.min(cap, first * 2 ** Math.min(n - 1, 40));
    const r = (this.#o.random ?? Math.random)();
    return Math.max(1, Math.round(base / 2 + (base / 2) * (1 - r)));
  }
}
