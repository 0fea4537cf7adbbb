// Rate quotas: per-user request, produce-byte and fetch-byte rates (from the user's Limits), and
// per-topic produce and fetch byte rates (from the broker's configuration), after Kafka's quota
// model and Rivven's rate limits. A request is always let through; each charge returns the
// throttle in ms its response carries (throttle_time_ms), the largest of the buckets it touched.
//
// - A rate left out of the Limits means unlimited: no bucket, and a charge costs a map lookup.
// - A user's buckets remember the Limits object they were built from. After a policy swap the
//   user's next charge compares rates: unchanged rates keep the buckets (and any debt), changed
//   ones rebuild them with the new rates.
// - A topic bucket is shared by every client of that topic. Its rates come from the most
//   specific pattern of the configuration: the exact name, else the longest prefix, else `*`.
// - Buckets live in IdleMaps: dropped after 5 minutes unused (once full again), at most
//   `maxEntries` of each kind. No timers.
import { z } from 'zod';
import type { Limits } from '../../api/index.ts';
import { BulwarkError } from '../../lib/index.ts';
import { IdleMap } from './idle-map.ts';
import { DEFAULT_MAX_THROTTLE_MS, TokenBucket } from './token-bucket.ts';

const TOPIC_PATTERN = /^(\*|[a-zA-Z0-9._-]{1,249}\*?)$/;
const byteRate = z.number().int().min(0).max(10_000_000_000);

export const topicQuotaSchema = z.strictObject({
  /** `orders` (exact), `orders-*` (prefix) or `*` (every topic). */
  topic: z.string().regex(TOPIC_PATTERN, 'a topic name, a prefix ending in *, or *'),
  produceBytesPerSecond: byteRate.optional(),
  fetchBytesPerSecond: byteRate.optional(),
});
export type TopicQuota = z.infer<typeof topicQuotaSchema>;

export const quotaOptionsSchema = z.strictObject({
  topics: z
    .array(topicQuotaSchema)
    .max(10_000)
    .default([])
    .refine((list) => new Set(list.map((q) => q.topic)).size === list.length, 'each topic pattern may appear once'),
  /** How many seconds of its rate a bucket may hold (the burst a quiet client may send at once). */
  burstSeconds: z.number().gt(0).max(3600).default(1),
  maxThrottleMs: z.number().int().min(0).max(300_000).default(DEFAULT_MAX_THROTTLE_MS),
  idleMs: z.number().int().min(0).default(5 * 60_000),
  /** Most buckets of each kind (user, topic) kept; the least recently used go first. */
  maxEntries: z.number().int().min(1).max(10_000_000).default(100_000),
});
export type QuotaOptions = z.input<typeof quotaOptionsSchema>;

interface UserBuckets {
  limits: Limits;
  request: TokenBucket | undefined;
  produce: TokenBucket | undefined;
  fetch: TokenBucket | undefined;
}

interface TopicBuckets {
  produce: TokenBucket | undefined;
  fetch: TokenBucket | undefined;
}

type Rates = { produce: number | undefined; fetch: number | undefined };

const rested = (nowMs: number, ...buckets: (TokenBucket | undefined)[]) => buckets.every((b) => !b || b.isRested(nowMs));

export class QuotaManager {
  readonly #users: IdleMap<string, UserBuckets>;
  readonly #topics: IdleMap<string, TopicBuckets>;
  readonly #exact = new Map<string, Rates>();
  /** Prefix patterns, longest first, so the first match is the most specific. */
  readonly #prefixes: { prefix: string; rates: Rates }[] = [];
  readonly #any: Rates | undefined;
  readonly #burstSeconds: number;
  readonly #maxThrottleMs: number;

  /** Validates the options once, at start-up; a bad entry is a BWK_ERR_CONFIG_INVALID naming its key. */
  constructor(options: QuotaOptions = {}) {
    const parsed = quotaOptionsSchema.safeParse(options);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new BulwarkError('BWK_ERR_CONFIG_INVALID', { detail: `quotas.${issue.path.join('.')}: ${issue.message}` });
    }
    const o = parsed.data;
    this.#burstSeconds = o.burstSeconds;
    this.#maxThrottleMs = o.maxThrottleMs;
    this.#users = new IdleMap({ idleMs: o.idleMs, maxEntries: o.maxEntries, canDrop: (u, now) => rested(now, u.request, u.produce, u.fetch) });
    this.#topics = new IdleMap({ idleMs: o.idleMs, maxEntries: o.maxEntries, canDrop: (t, now) => rested(now, t.produce, t.fetch) });
    let any: Rates | undefined;
    for (const q of o.topics) {
      const rates = { produce: q.produceBytesPerSecond, fetch: q.fetchBytesPerSecond };
      if (q.topic === '*') any = rates;
      else if (q.topic.endsWith('*')) this.#prefixes.push({ prefix: q.topic.slice(0, -1), rates });
      else this.#exact.set(q.topic, rates);
    }
    this.#prefixes.sort((a, b) => b.prefix.length - a.prefix.length);
    this.#any = any;
  }

  /** Buckets currently held, for metrics and tests. */
  get size(): { users: number; topics: number } {
    return { users: this.#users.size, topics: this.#topics.size };
  }

  /** Charges one request to the user's request rate. */
  chargeRequest(user: string, limits: Limits, nowMs: number): number {
    if (limits.requestsPerSecond === undefined) return 0;
    return this.#user(user, limits, nowMs).request?.charge(1, nowMs) ?? 0;
  }

  /** Charges produced bytes (record batch bytes) to the user and to the topic. */
  chargeProduce(user: string, limits: Limits, topic: string, bytes: number, nowMs: number): number {
    const u = limits.produceBytesPerSecond === undefined ? 0 : (this.#user(user, limits, nowMs).produce?.charge(bytes, nowMs) ?? 0);
    const t = this.#topic(topic, nowMs)?.produce?.charge(bytes, nowMs) ?? 0;
    return Math.max(u, t);
  }

  /** Charges fetched bytes (record batch bytes returned) to the user and to the topic. */
  chargeFetch(user: string, limits: Limits, topic: string, bytes: number, nowMs: number): number {
    const u = limits.fetchBytesPerSecond === undefined ? 0 : (this.#user(user, limits, nowMs).fetch?.charge(bytes, nowMs) ?? 0);
    const t = this.#topic(topic, nowMs)?.fetch?.charge(bytes, nowMs) ?? 0;
    return Math.max(u, t);
  }

  /** The rates that apply to `topic`: its most specific pattern's, or undefined when none matches. */
  topicRates(topic: string): Readonly<Rates> | undefined {
    const exact = this.#exact.get(topic);
    if (exact) return exact;
    for (const p of this.#prefixes) if (topic.startsWith(p.prefix)) return p.rates;
    return this.#any;
  }

  #bucket(rate: number | undefined): TokenBucket | undefined {
    return rate === undefined ? undefined : new TokenBucket(rate, this.#burstSeconds, this.#maxThrottleMs);
  }

  #user(user: string, limits: Limits, nowMs: number): UserBuckets {
    let u = this.#users.get(user, nowMs);
    if (u && u.limits !== limits) {
      const old = u.limits;
      // Same rates under a new Limits object (a policy swap that did not touch this user): keep
      // the buckets, so a swap neither forgives debt nor refills a burst.
      if (old.requestsPerSecond === limits.requestsPerSecond && old.produceBytesPerSecond === limits.produceBytesPerSecond && old.fetchBytesPerSecond === limits.fetchBytesPerSecond) u.limits = limits;
      else u = undefined;
    }
    if (!u) {
      u = { limits, request: this.#bucket(limits.requestsPerSecond), produce: this.#bucket(limits.produceBytesPerSecond), fetch: this.#bucket(limits.fetchBytesPerSecond) };
      this.#users.set(user, u, nowMs);
    }
    return u;
  }

  #topic(topic: string, nowMs: number): TopicBuckets | undefined {
    // Without topic quotas the lookup costs nothing and no map entry is made.
    if (this.#exact.size === 0 && this.#prefixes.length === 0 && !this.#any) return undefined;
    let t = this.#topics.get(topic, nowMs);
    if (!t) {
      // A topic no pattern matches gets an entry without buckets: the patterns are scanned once per topic.
      const rates = this.topicRates(topic);
      t = { produce: this.#bucket(rates?.produce), fetch: this.#bucket(rates?.fetch) };
      this.#topics.set(topic, t, nowMs);
    }
    return t;
  }
}
