// The audit log: who authenticated, what was allowed or denied, which policy came into force,
// which topics were created or deleted, and which connections the broker closed.
//
// Format: JSON lines, one event per line, each `{"time": ISO-8601, "type": ..., ...fields}`:
//   authentication  outcome (success|failure), listener, mechanism, user (when known), tokenId,
//                   clientIp, reason
//   authorization   decision (allow|deny), user, tokenId, action, resourceType, resourceName,
//                   reason, ruleSource, clientIp, listener, count (identical denials coalesced),
//                   lastTime (when count > 1). Allows are logged only with `logAllowed`.
//   policy          version, hash, source, previousVersion, previousHash, userCount, tokenCount,
//                   ruleCount
//   topic           operation (created|deleted), topic, partitions, user, tokenId, clientIp
//   connection      the broker closed a connection: reason (TokenRevoked, UserDeleted, ...),
//                   user, tokenId, clientIp, listener
//
// Every event goes through `redact` before it is serialized, once, and the same line is handed
// to every sink: a field whose name looks secret is dropped, token- and JWT-shaped text is
// scrubbed from every string, binary values are dropped, long strings are cut.
//
// Sinks queue lines in memory and write them in batches, one write per event-loop turn (file: one
// appending write; topic: one RecordBatch). Recording an event never waits for I/O and never
// throws into the request that caused it.
import { realClock, type Clock, type TimerHandle } from '../lib/index.ts';
import { redact } from '../lib/index.ts';
import type { AuthorizeRequest, Decision, PolicySnapshot } from '../policy/index.ts';
import type { AuditEvent, AuditEventInput, AuthenticationEvent, AuthorizationEvent, ConnectionEvent, Fields, TopicEvent } from './events.ts';
import type { AuditSink, AuditSinkStats } from './sinks.ts';

export interface AuditLogOptions {
  sinks: readonly AuditSink[];
  /** Also record allowed requests. Default false: denials only. */
  logAllowed?: boolean;
  clock?: Clock;
  /** Identical denials within this many ms become one event with a count. Default 1000; 0 turns coalescing off. */
  coalesceWindowMs?: number;
  /** Most distinct denials being coalesced at once; past that, denials are recorded one by one. Default 10,000. */
  maxCoalesced?: number;
}

interface PendingDenial {
  event: AuthorizationEvent & { time: string };
  firstMs: number;
  lastMs: number;
}

export class AuditLog {
  readonly sinks: readonly AuditSink[];
  /** Whether allowed requests are recorded; when false, `authorization` returns at once for them. */
  readonly logsAllowed: boolean;
  readonly #clock: Clock;
  readonly #windowMs: number;
  readonly #maxCoalesced: number;
  /** Denials waiting for their window to close, in order of first occurrence. */
  readonly #pending = new Map<string, PendingDenial>();
  #timer: TimerHandle | undefined;
  #closed = false;

  constructor(opts: AuditLogOptions) {
    this.sinks = opts.sinks;
    this.logsAllowed = opts.logAllowed ?? false;
    this.#clock = opts.clock ?? realClock;
    this.#windowMs = opts.coalesceWindowMs ?? 1000;
    this.#maxCoalesced = opts.maxCoalesced ?? 10_000;
  }

  authentication(fields: Fields<AuthenticationEvent>): void {
    this.#record({ type: 'authentication', ...fields });
  }

  /** Records a decision of the authorizer. Denials are coalesced; allows are skipped unless `logAllowed`. */
  authorization(request: AuthorizeRequest, decision: Decision, context: { listener?: string } = {}): void {
    if ((decision.allowed && !this.logsAllowed) || this.sinks.length === 0) return;
    const event: AuthorizationEvent = {
      type: 'authorization',
      decision: decision.allowed ? 'allow' : 'deny',
      user: request.principal.user,
      tokenId: request.principal.tokenId,
      action: request.action,
      resourceType: request.resource.type,
      resourceName: request.resource.name,
      reason: decision.reason,
      ruleSource: decision.rule?.source,
      clientIp: request.host,
      listener: context.listener,
      count: 1,
    };
    if (decision.allowed || this.#windowMs <= 0 || this.#closed) return this.#record(event);
    this.#coalesce(event);
  }

  /** Records that a policy snapshot came into force. */
  policy(applied: PolicySnapshot, previous: { version: number; hash: string } | undefined, source: string): void {
    this.#record({
      type: 'policy',
      version: applied.version,
      hash: applied.hash,
      source,
      previousVersion: previous?.version ?? null,
      previousHash: previous?.hash ?? null,
      userCount: applied.users.length,
      tokenCount: applied.tokens.length,
      ruleCount: applied.rules.length,
    });
  }

  topic(fields: Fields<TopicEvent>): void {
    this.#record({ type: 'topic', ...fields });
  }

  connection(fields: Fields<ConnectionEvent>): void {
    this.#record({ type: 'connection', ...fields });
  }

  /** Records the coalesced denials whose window has closed, then flushes every sink. */
  async flush(): Promise<void> {
    this.#expire(this.#clock.now(), false);
    await Promise.all(this.sinks.map((s) => s.flush()));
  }

  /** Records every pending denial, then flushes and closes every sink. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#expire(this.#clock.now(), true);
    }
    await Promise.all(this.sinks.map((s) => s.close()));
  }

  /** Counters of every sink, by position in `sinks`. */
  stats(): (AuditSinkStats & { kind: string })[] {
    return this.sinks.map((s) => ({ kind: s.kind, ...s.stats() }));
  }

  #record(fields: AuditEventInput, nowMs = this.#clock.now()): void {
    if (this.sinks.length === 0) return;
    this.#emit({ time: new Date(nowMs).toISOString(), ...fields }, nowMs);
  }

  #emit(event: AuditEvent, timeMs: number): void {
    const line = JSON.stringify(redact(event as unknown as Record<string, unknown>));
    for (const sink of this.sinks) sink.write(line, timeMs);
  }

  /**
   * A client retrying a forbidden request can cause thousands of denials a second; each distinct
   * denial is held for one window and recorded once with how many times it happened.
   */
  #coalesce(event: AuthorizationEvent): void {
    const now = this.#clock.now();
    const key = [event.user, event.tokenId, event.action, event.resourceType, event.resourceName, event.reason, event.ruleSource, event.clientIp, event.listener].join('\u0001');
    const pending = this.#pending.get(key);
    if (pending) {
      pending.event.count++;
      pending.lastMs = now;
      return;
    }
    if (this.#pending.size >= this.#maxCoalesced) return this.#record(event, now);
    this.#pending.set(key, { event: { time: new Date(now).toISOString(), ...event }, firstMs: now, lastMs: now });
    this.#timer ??= this.#clock.setTimeout(() => this.#onWindow(), this.#windowMs);
  }

  #onWindow(): void {
    this.#timer = undefined;
    const now = this.#clock.now();
    this.#expire(now, false);
    const first = this.#pending.values().next();
    if (!first.done) this.#timer = this.#clock.setTimeout(() => this.#onWindow(), Math.max(1, first.value.firstMs + this.#windowMs - now));
  }

  #expire(nowMs: number, all: boolean): void {
    for (const [key, p] of this.#pending) {
      if (!all && p.firstMs + this.#windowMs > nowMs) break; // in order of first occurrence
      this.#pending.delete(key);
      if (p.event.count > 1) p.event.lastTime = new Date(p.lastMs).toISOString();
      this.#emit(p.event, p.firstMs);
    }
    if (all && this.#timer !== undefined) {
      this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }
}
