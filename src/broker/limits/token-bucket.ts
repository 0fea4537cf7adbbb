// A token bucket that lets a request through and says afterwards how long its client should wait,
// as Kafka's quotas do (KIP-124/KIP-219): the broker never delays or rejects the request itself,
// it answers with throttle_time_ms and mutes the connection for that long.
//
// The bucket holds up to `ratePerSecond * burstSeconds` tokens and refills continuously. A charge
// always succeeds and may leave the bucket in debt; the throttle is the time until the debt is
// repaid. The reported throttle is capped (30 s by default) so no client is told to wait for
// minutes, but the debt itself is not forgiven: the next request pays what is still owed, so the
// average rate holds even for a client that sends one huge request and ignores the throttle.
// No timers: the refill is computed from the time of the previous charge. O(1) per charge.

export const DEFAULT_MAX_THROTTLE_MS = 30_000;

export class TokenBucket {
  readonly ratePerSecond: number;
  readonly capacity: number;
  readonly #maxThrottleMs: number;
  #tokens: number;
  #at: number | undefined;

  constructor(ratePerSecond: number, burstSeconds = 1, maxThrottleMs = DEFAULT_MAX_THROTTLE_MS) {
    if (!Number.isFinite(ratePerSecond) || ratePerSecond < 0) throw new RangeError(`ratePerSecond must be a finite number >= 0, got ${ratePerSecond}`);
    if (!Number.isFinite(burstSeconds) || burstSeconds <= 0) throw new RangeError(`burstSeconds must be a finite number > 0, got ${burstSeconds}`);
    if (!Number.isFinite(maxThrottleMs) || maxThrottleMs < 0) throw new RangeError(`maxThrottleMs must be a finite number >= 0, got ${maxThrottleMs}`);
    this.ratePerSecond = ratePerSecond;
    this.capacity = ratePerSecond * burstSeconds;
    this.#maxThrottleMs = maxThrottleMs;
    this.#tokens = this.capacity; // a new client starts with a full burst
  }

  /** Takes `amount` tokens at `nowMs` and returns the throttle in ms (0 while within budget). */
  charge(amount: number, nowMs: number): number {
    this.#refill(nowMs);
    if (amount > 0) this.#tokens -= amount;
    return this.#throttle();
  }

  /** Tokens available at `nowMs` (negative: debt). Does not charge. */
  available(nowMs: number): number {
    this.#refill(nowMs);
    return this.#tokens;
  }

  /**
   * True when dropping the bucket at `nowMs` would change nothing for its client: it is full, so
   * a new bucket would behave the same. A zero-rate bucket never refills, but a new one throttles
   * every charge just as fully, so it may go too.
   */
  isRested(nowMs: number): boolean {
    this.#refill(nowMs);
    return this.#tokens >= this.capacity || this.ratePerSecond === 0;
  }

  #refill(nowMs: number): void {
    // A clock that steps backwards refills nothing rather than draining the bucket.
    if (this.#at !== undefined && nowMs > this.#at) this.#tokens = Math.min(this.capacity, this.#tokens + ((nowMs - this.#at) * this.ratePerSecond) / 1000);
    if (this.#at === undefined || nowMs > this.#at) this.#at = nowMs;
  }

  #throttle(): number {
    if (this.#tokens >= 0) return 0;
    // A zero rate never repays any debt: everything past the (empty) burst waits the longest.
    if (this.ratePerSecond === 0) return this.#maxThrottleMs;
    return Math.min(this.#maxThrottleMs, Math.ceil((-this.#tokens * 1000) / this.ratePerSecond));
  }
}
