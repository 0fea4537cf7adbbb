// Time for the group coordinator: the current time and one-shot timers, injected so that
// session timeouts, rebalance timeouts and the initial rebalance delay can be driven by a test
// (ManualClock) instead of waiting for them.

/** An opaque handle returned by `setTimeout`, only ever passed back to `clearTimeout`. */
export type TimerHandle = object;

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  setTimeout(fire: () => void, delayMs: number): TimerHandle;
  clearTimeout(timer: TimerHandle): void;
}

/** Node's longest timer (2^31 - 1 ms, ~24.8 days): a longer delay is taken as 1 ms, with only a warning. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Wall-clock time and Node's timers. Timers are unref'd: held requests keep their sockets, not the
 * process, alive. A delay past MAX_TIMER_MS (a certificate renewal 60 days out) is waited in steps,
 * not fired at once.
 */
export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fire, delayMs) => {
    const handle: { timer?: NodeJS.Timeout } = {};
    const due = Date.now() + delayMs;
    const arm = (ms: number) => {
      handle.timer = setTimeout(() => {
        const left = due - Date.now();
        if (left > 0 && ms === MAX_TIMER_MS) arm(Math.min(left, MAX_TIMER_MS));
        else fire();
      }, ms).unref();
    };
    arm(Math.min(Math.max(delayMs, 0), MAX_TIMER_MS));
    return handle;
  },
  clearTimeout: (timer) => clearTimeout((timer as { timer?: NodeJS.Timeout }).timer),
};

interface ManualTimer {
  readonly at: number;
  readonly seq: number;
  readonly fire: () => void;
}

/** A clock that moves only when told to; timers fire in time order, ties in the order they were set. */
export class ManualClock implements Clock {
  #now: number;
  #seq = 0;
  readonly #timers = new Set<ManualTimer>();

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fire: () => void, delayMs: number): TimerHandle {
    const timer: ManualTimer = { at: this.#now + Math.max(0, delayMs), seq: this.#seq++, fire };
    this.#timers.add(timer);
    return timer;
  }

  clearTimeout(timer: TimerHandle): void {
    this.#timers.delete(timer as ManualTimer);
  }

  /** Timers not yet fired or cleared. */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way (including ones set by other timers). */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      let next: ManualTimer | undefined;
      for (const t of this.#timers) if (t.at <= target && (!next || t.at < next.at || (t.at === next.at && t.seq < next.seq))) next = t;
      if (!next) break;
      this.#timers.delete(next);
      this.#now = next.at;
      next.fire();
    }
    this.#now = target;
  }
}
