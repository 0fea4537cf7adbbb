// Connection, producer and consumer limits, after SwiftMQ's resource limit groups and Rivven's
// connection limits. Checked when something is about to be created, never afterwards: a limit
// lowered by a policy swap refuses new connections, producers and consumers, and leaves the
// existing ones alone.
//
//   admit(connId, ip)                  at accept time: broker-wide and per-address caps
//   bindUser(connId, user, limits)     after authentication: Limits.maxConnections
//   claimProducer(connId, user, max)   at a connection's first Produce: Limits.maxProducers
//                                      (a connection counts as one producer until it closes)
//   claimConsumer(memberKey, user, max) when a consumer-group member joins: Limits.maxConsumers
//   releaseConsumer(memberKey)         when it leaves or is expired
//   release(connId)                    when the connection closes (frees all of the above but
//                                      consumer members, which outlive their connection in Kafka)
//
// Everything is a counter in a Map keyed by the thing counted; counters that reach zero are
// deleted, so memory is proportional to what is open. A limit left out is no limit.
import type { Limits } from '../../api/index.ts';
import { normalizeAddress } from '../../lib/index.ts';

/** Why something was refused. Stable names: audit logs and metrics carry them. */
export const LimitReason = {
  TooManyConnections: 'TooManyConnections',
  TooManyConnectionsFromIp: 'TooManyConnectionsFromIp',
  TooManyUserConnections: 'TooManyUserConnections',
  TooManyProducers: 'TooManyProducers',
  TooManyConsumers: 'TooManyConsumers',
} as const;
export type LimitReason = (typeof LimitReason)[keyof typeof LimitReason];

export type Admission<R extends LimitReason = LimitReason> = { ok: true } | { ok: false; reason: R };

/** Whatever identifies a connection to its listener: a number, a string, or the connection object. */
export type ConnectionKey = number | string | object;

export interface ConnectionLimits {
  /** Most client connections open at once on this broker. Left out: no limit. */
  maxConnections?: number;
  /** Most client connections from one address. Left out: no limit. */
  maxConnectionsPerIp?: number;
}

interface OpenConnection {
  ip: string;
  user: string | undefined;
  /** The user this connection is counted as a producer for, once it has produced. */
  producerUser: string | undefined;
}

const OK: { ok: true } = { ok: true };

function increment(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

function decrement(map: Map<string, number>, key: string): void {
  const n = (map.get(key) ?? 0) - 1;
  if (n > 0) map.set(key, n);
  else map.delete(key);
}

export class ConnectionLimiter {
  readonly #maxConnections: number;
  readonly #maxPerIp: number;
  readonly #connections = new Map<ConnectionKey, OpenConnection>();
  readonly #perIp = new Map<string, number>();
  readonly #perUser = new Map<string, number>();
  readonly #producers = new Map<string, number>();
  readonly #consumerMembers = new Map<string, string>();
  readonly #consumers = new Map<string, number>();

  constructor(limits: ConnectionLimits = {}) {
    for (const [key, value] of Object.entries(limits)) {
      if (value !== undefined && (!Number.isInteger(value) || value < 0)) throw new RangeError(`${key} must be an integer >= 0`);
    }
    this.#maxConnections = limits.maxConnections ?? Infinity;
    this.#maxPerIp = limits.maxConnectionsPerIp ?? Infinity;
  }

  /** At accept time. Addresses are counted normalized: `::ffff:10.0.0.1` and `10.0.0.1` are one address. */
  admit(connId: ConnectionKey, ip: string): Admission<'TooManyConnections' | 'TooManyConnectionsFromIp'> {
    if (this.#connections.has(connId)) throw new Error('connection admitted twice'); // a wiring bug: fail loudly
    const address = normalizeAddress(ip);
    if (this.#connections.size >= this.#maxConnections) return { ok: false, reason: LimitReason.TooManyConnections };
    if ((this.#perIp.get(address) ?? 0) >= this.#maxPerIp) return { ok: false, reason: LimitReason.TooManyConnectionsFromIp };
    this.#connections.set(connId, { ip: address, user: undefined, producerUser: undefined });
    increment(this.#perIp, address);
    return OK;
  }

  /**
   * After authentication. Binding again to the same user (re-authentication) is a no-op; binding
   * to another user moves the connection. A connection that was never admitted is refused.
   */
  bindUser(connId: ConnectionKey, user: string, limits: Limits): Admission<'TooManyUserConnections'> {
    const conn = this.#connections.get(connId);
    // Fail closed: a connection the limiter does not know about is not let in uncounted.
    if (!conn) return { ok: false, reason: LimitReason.TooManyUserConnections };
    if (conn.user === user) return OK;
    const max = limits.maxConnections ?? Infinity;
    if ((this.#perUser.get(user) ?? 0) >= max) return { ok: false, reason: LimitReason.TooManyUserConnections };
    if (conn.user !== undefined) decrement(this.#perUser, conn.user);
    conn.user = user;
    increment(this.#perUser, user);
    return OK;
  }

  /** At a connection's first Produce; later calls for the same connection are free. `max`: Limits.maxProducers. */
  claimProducer(connId: ConnectionKey, user: string, max: number | undefined): Admission<'TooManyProducers'> {
    const conn = this.#connections.get(connId);
    if (!conn) return { ok: false, reason: LimitReason.TooManyProducers };
    if (conn.producerUser === user) return OK;
    if ((this.#producers.get(user) ?? 0) >= (max ?? Infinity)) return { ok: false, reason: LimitReason.TooManyProducers };
    if (conn.producerUser !== undefined) decrement(this.#producers, conn.producerUser);
    conn.producerUser = user;
    increment(this.#producers, user);
    return OK;
  }

  /** When a consumer-group member joins (`memberKey`: group and member id). A member that rejoins is free. `max`: Limits.maxConsumers. */
  claimConsumer(memberKey: string, user: string, max: number | undefined): Admission<'TooManyConsumers'> {
    const owner = this.#consumerMembers.get(memberKey);
    if (owner === user) return OK;
    if ((this.#consumers.get(user) ?? 0) >= (max ?? Infinity)) return { ok: false, reason: LimitReason.TooManyConsumers };
    if (owner !== undefined) decrement(this.#consumers, owner);
    this.#consumerMembers.set(memberKey, user);
    increment(this.#consumers, user);
    return OK;
  }

  releaseConsumer(memberKey: string): void {
    const owner = this.#consumerMembers.get(memberKey);
    if (owner === undefined) return;
    this.#consumerMembers.delete(memberKey);
    decrement(this.#consumers, owner);
  }

  /** When the connection closes, whatever state it reached. Idempotent. */
  release(connId: ConnectionKey): void {
    const conn = this.#connections.get(connId);
    if (!conn) return;
    this.#connections.delete(connId);
    decrement(this.#perIp, conn.ip);
    if (conn.user !== undefined) decrement(this.#perUser, conn.user);
    if (conn.producerUser !== undefined) decrement(this.#producers, conn.producerUser);
  }

  /** Current counts, for metrics and tests. */
  counts(user?: string): { connections: number; addresses: number; userConnections: number; producers: number; consumers: number } {
    return {
      connections: this.#connections.size,
      addresses: this.#perIp.size,
      userConnections: user === undefined ? 0 : (this.#perUser.get(user) ?? 0),
      producers: user === undefined ? 0 : (this.#producers.get(user) ?? 0),
      consumers: user === undefined ? 0 : (this.#consumers.get(user) ?? 0),
    };
  }
}
