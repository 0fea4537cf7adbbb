// LoginBackoff: slows down password guessing from one source address.
//
// Keyed by source address, never by username: a per-user delay would let anyone slow down
// (lock out) anyone by failing logins in their name. IPv4-mapped IPv6 addresses count as their
// IPv4 address, and IPv6 addresses count per /64, the block one host or one customer usually
// holds, so rotating through a /64 does not reset the count.
//
// Policy (defaults): failures within a window count; the first `freeFailures` (3) cost nothing,
// then each attempt waits `baseDelayMs` (100 ms), doubling per further failure up to
// `maxDelayMs` (5 s). A success resets the address; `windowMs` (15 min) without a failure
// forgets it. The caller waits `delayFor` before answering the attempt and reports the result
// with `record`.
//
// Memory is bounded: at most `maxEntries` (100k) addresses, kept in a Map in order of last
// failure; the oldest go first when it is full, and expired ones are swept from the old end as
// failures arrive. Pure apart from that Map: the clock is passed in.
import { isIPv6 } from 'node:net';
import { normalizeAddress, parseCidr } from '../lib/index.ts';
import { BulwarkError } from '../lib/index.ts';

export interface LoginBackoffOptions {
  freeFailures?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  windowMs?: number;
  maxEntries?: number;
}

export const LOGIN_BACKOFF_DEFAULTS = { freeFailures: 3, baseDelayMs: 100, maxDelayMs: 5000, windowMs: 15 * 60_000, maxEntries: 100_000 } as const;

interface Entry {
  failures: number;
  lastFailure: number;
}

/** How many expired entries one `record` sweeps at most: keeps every call O(1). */
const SWEEP = 4;

export class LoginBackoff {
  readonly #opts: Required<LoginBackoffOptions>;
  readonly #entries = new Map<string, Entry>();

  constructor(opts: LoginBackoffOptions = {}) {
    const o = { ...LOGIN_BACKOFF_DEFAULTS, ...opts };
    for (const [key, value] of Object.entries(o)) {
      if (!Number.isSafeInteger(value) || value < 0) throw new BulwarkError('BWK_ERR_CONFIG_INVALID', { detail: `loginBackoff.${key} must be a non-negative integer` });
    }
    if (o.maxEntries < 1 || o.windowMs < 1) throw new BulwarkError('BWK_ERR_CONFIG_INVALID', { detail: 'loginBackoff.maxEntries and windowMs must be at least 1' });
    this.#opts = o;
  }

  /** Addresses currently tracked. */
  get size(): number {
    return this.#entries.size;
  }

  /** Milliseconds to wait before answering a login attempt from `ip`. */
  delayFor(ip: string, now: number): number {
    const entry = this.#live(backoffKey(ip), now);
    if (entry === undefined) return 0;
    const over = entry.failures - this.#opts.freeFailures;
    if (over < 0) return 0;
    return Math.min(this.#opts.maxDelayMs, this.#opts.baseDelayMs * 2 ** Math.min(over, 30));
  }

  record(ip: string, ok: boolean, now: number): void {
    const key = backoffKey(ip);
    if (ok) {
      // A success halves the count instead of clearing it: an attacker who owns one account
      // must not be able to wipe their address's backoff between guesses at another.
      const entry = this.#live(key, now);
      if (entry === undefined) return;
      const failures = Math.floor(entry.failures / 2);
      if (failures === 0) this.#entries.delete(key);
      else entry.failures = failures;
      return;
    }
    const entry = this.#live(key, now);
    this.#entries.delete(key); // re-inserted at the young end
    this.#entries.set(key, { failures: Math.min((entry?.failures ?? 0) + 1, 1_000_000), lastFailure: now });
    this.#sweep(now);
  }

  /** The entry, unless it has expired (then it is dropped). */
  #live(key: string, now: number): Entry | undefined {
    const entry = this.#entries.get(key);
    if (entry !== undefined && now - entry.lastFailure >= this.#opts.windowMs) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }

  #sweep(now: number): void {
    let swept = 0;
    for (const [key, entry] of this.#entries) {
      if (this.#entries.size > this.#opts.maxEntries) this.#entries.delete(key);
      else if (swept < SWEEP && now - entry.lastFailure >= this.#opts.windowMs) {
        this.#entries.delete(key);
        swept++;
      } else break;
    }
  }
}

/** The address a failure counts against: IPv4 as is, IPv6 by its /64. */
export function backoffKey(ip: string): string {
  const address = normalizeAddress(ip);
  if (!isIPv6(address)) return address;
  const block = parseCidr(`${address.split('%')[0]}/64`);
  return block ? `${block.bits.toString(16)}/64` : address;
}
