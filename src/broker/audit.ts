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
import { open, type FileHandle } from 'node:fs/promises';
import { BulwarkError } from '../lib/errors.ts';
import { buildRecordBatch } from '../log/index.ts';
import type { AuthorizeRequest, Decision, PolicySnapshot } from '../policy/index.ts';
import { realClock, type Clock, type TimerHandle } from './kafka/groups/index.ts';

// --- Events -----------------------------------------------------------------------------------

/** Why the broker closed a connection on its own. */
export const ConnectionCloseReason = {
  TokenRevoked: 'TokenRevoked',
  TokenExpired: 'TokenExpired',
  UserDeleted: 'UserDeleted',
  UserDisabled: 'UserDisabled',
  HostNotAllowed: 'HostNotAllowed',
} as const;
export type ConnectionCloseReason = (typeof ConnectionCloseReason)[keyof typeof ConnectionCloseReason];

export interface AuthenticationEvent {
  type: 'authentication';
  outcome: 'success' | 'failure';
  listener: string;
  mechanism: string;
  /** The authenticated user, or on failure the name the client claimed, when known. */
  user?: string;
  tokenId?: string;
  clientIp: string;
  reason?: string;
  /** Which check failed, in words safe for logs (never a secret). */
  detail?: string;
}

export interface AuthorizationEvent {
  type: 'authorization';
  decision: 'allow' | 'deny';
  user: string;
  tokenId?: string;
  action: string;
  resourceType: string;
  resourceName: string;
  reason: string;
  /** The `source` of the rule that decided, when one did. */
  ruleSource?: string;
  clientIp?: string;
  listener?: string;
  /** How many identical decisions this event stands for (denials are coalesced). */
  count: number;
  /** Time of the last of them, when count > 1. */
  lastTime?: string;
}

export interface PolicyEvent {
  type: 'policy';
  version: number;
  hash: string;
  source: string;
  previousVersion: number | null;
  previousHash: string | null;
  userCount: number;
  tokenCount: number;
  ruleCount: number;
}

export interface TopicEvent {
  type: 'topic';
  operation: 'created' | 'deleted';
  topic: string;
  partitions?: number;
  /** Who did it. */
  user: string;
  tokenId?: string;
  clientIp?: string;
}

export interface ConnectionEvent {
  type: 'connection';
  reason: ConnectionCloseReason;
  user?: string;
  tokenId?: string;
  clientIp?: string;
  listener?: string;
}

/** An event as recorded, before the log stamps its time. */
export type AuditEventInput = AuthenticationEvent | AuthorizationEvent | PolicyEvent | TopicEvent | ConnectionEvent;
export type AuditEvent = AuditEventInput & { time: string };
type Fields<E> = Omit<E, 'type'>;

// --- Redaction --------------------------------------------------------------------------------

/** Field names that carry secrets, lowercased with - and _ removed. Over-matching is the safe side. */
const SECRET_KEY = /pass|pwd|secret|token|authbytes|authdata|authorization|authheader|proof|salt|nonce|cookie|credential|signature|privat|sha256|argon2|phc|keys?$/;
/** Names SECRET_KEY matches that are identifiers or counts, not secrets. */
const NOT_SECRET = new Set(['tokenid', 'tokencount']);

const TOKEN_SHAPED = /bwk_[A-Za-z0-9_-]*/g;
/** A JWS or JWE in compact form: a base64url JSON header (always `eyJ`, for `{"`) and 2-4 more parts. */
const JWT_SHAPED = /eyJ[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*){2,4}/g;
const HTTP_CREDENTIALS = /\b(Bearer|Basic|Digest)\s+[A-Za-z0-9._~+/=-]+/gi;
/** `password=...`, `"secret": "..."` inside free text; quoted values whole. */
const INLINE_SECRET = /(["']?)\b(password|passwd|pwd|secret|token|access_token|refresh_token)\1(\s*[:=]\s*)("(?:[^"\\]|\\.)*"|'[^']*'|[^\s"',;&}]*)/gi;

/** SCRAM's client proof in a client-final message (`c=biws,r=...,p=...`). */
const SCRAM_PROOF = /(^|,)p=[A-Za-z0-9+/=]*/g;

const MAX_STRING = 1024;
/** Strings are cut to this before scrubbing so a huge client-supplied value costs bounded work. */
const MAX_SCRUBBED = 8192;
const MAX_DEPTH = 4;
const MAX_ARRAY = 64;

export function isSecretKey(key: string): boolean {
  const k = key.toLowerCase().replace(/[-_]/g, '');
  return !NOT_SECRET.has(k) && SECRET_KEY.test(k);
}

/** Removes token-shaped and JWT-shaped text and inline credentials from a string, and bounds its length. */
export function scrubString(text: string): string {
  let s = text.length > MAX_SCRUBBED ? text.slice(0, MAX_SCRUBBED) : text;
  // A SASL PLAIN message (authzid NUL authcid NUL password) or other binary text: nothing after
  // the first NUL is kept, since the password is what follows it.
  const nul = s.indexOf('\u0000');
  if (nul !== -1) s = `${s.slice(0, nul)}[REDACTED]`;
  s = s
    .replace(JWT_SHAPED, '[REDACTED-JWT]')
    .replace(TOKEN_SHAPED, 'bwk_[REDACTED]')
    .replace(HTTP_CREDENTIALS, '$1 [REDACTED]')
    .replace(INLINE_SECRET, '$1$2$1$3[REDACTED]')
    .replace(SCRAM_PROOF, '$1p=[REDACTED]');
  return s.length > MAX_STRING ? `${s.slice(0, MAX_STRING)}…[cut]` : s;
}

function redactValue(value: unknown, depth: number): unknown {
  switch (typeof value) {
    case 'string':
      return scrubString(value);
    case 'number':
    case 'boolean':
      return value;
    case 'bigint':
      return value.toString();
    case 'object':
      break;
    default:
      return undefined; // undefined, functions, symbols
  }
  if (value === null) return null;
  // Bytes are never logged: in this process they are frames, SASL messages and keys.
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return undefined;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (value instanceof Error) return scrubString(`${value.name}: ${value.message}`);
  if (depth >= MAX_DEPTH) return '[too deep]';
  if (Array.isArray(value)) return value.slice(0, MAX_ARRAY).map((v) => redactValue(v, depth + 1) ?? null);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (isSecretKey(k)) continue;
    const r = redactValue(v, depth + 1);
    if (r !== undefined) out[k] = r;
  }
  return out;
}

/**
 * The one redaction every audit event goes through before it is serialized: drops fields whose
 * name looks secret (password, secret, token but not tokenId, authBytes, proof, key, salt,
 * storedKey, serverKey, authorization, ...) at any depth, drops binary values, and scrubs
 * `bwk_` tokens, JWTs, HTTP credentials, inline `password=` pairs and SASL PLAIN messages from
 * every string.
 */
export function redact(event: Record<string, unknown>): Record<string, unknown> {
  return redactValue(event, 0) as Record<string, unknown>;
}

// --- Sinks ------------------------------------------------------------------------------------

export interface AuditSinkStats {
  /** Events written (file) or appended (topic). */
  written: number;
  /** Events dropped because the queue was full or the sink closed. */
  dropped: number;
  /** Events lost to a failed write or append. */
  failed: number;
}

/** Where audit lines go. Implementations queue and batch; `write` never blocks and never throws. */
export interface AuditSink {
  readonly kind: string;
  /** Queues one serialized event (no trailing newline). False when it was dropped. */
  write(line: string, timeMs: number): boolean;
  /** Resolves when everything queued before the call has been written (or has failed). */
  flush(): Promise<void>;
  /** Flushes, then releases the sink's resources. Later writes are dropped. */
  close(): Promise<void>;
  stats(): AuditSinkStats;
}

export interface AuditQueueOptions {
  /** Most events waiting to be written. Default 10,000. */
  maxQueuedEvents?: number;
  /** Most bytes of events waiting to be written. Default 4 MiB. */
  maxQueuedBytes?: number;
  /** Told about each failed write or append (say, to log it). Never given event contents. */
  onError?: (err: unknown) => void;
}

interface QueuedLine {
  line: string;
  timeMs: number;
}

/**
 * The queue and batching every sink shares. The queue is bounded: when a sink falls behind (a
 * slow disk, an unavailable topic) new events are dropped and counted rather than held. The
 * broker stays available and its memory bounded at the cost of completeness of the audit log;
 * the `dropped` counter (exported as a metric) makes every loss visible.
 */
abstract class QueuedAuditSink implements AuditSink {
  abstract readonly kind: string;
  #queue: QueuedLine[] = [];
  #queuedBytes = 0;
  #scheduled = false;
  /** Drains, reopens and closes run one after another on this chain; it never rejects. */
  #chain: Promise<void> = Promise.resolve();
  #closing: Promise<void> | undefined;
  #written = 0;
  #dropped = 0;
  #failed = 0;
  readonly #maxEvents: number;
  readonly #maxBytes: number;
  protected readonly onError: (err: unknown) => void;

  constructor(opts: AuditQueueOptions) {
    this.#maxEvents = opts.maxQueuedEvents ?? 10_000;
    this.#maxBytes = opts.maxQueuedBytes ?? 4 << 20;
    this.onError = opts.onError ?? (() => {});
  }

  /** Writes a batch; returns how many of its events failed (or throws: all of them failed). */
  protected abstract deliver(batch: QueuedLine[]): Promise<number>;
  /** Releases resources after the last drain. */
  protected abstract finish(): Promise<void>;

  write(line: string, timeMs: number): boolean {
    // Length in UTF-16 units: close enough to bytes for a bound, and free to compute.
    if (this.#closing || this.#queue.length >= this.#maxEvents || this.#queuedBytes + line.length > this.#maxBytes) {
      this.#dropped++;
      return false;
    }
    this.#queue.push({ line, timeMs });
    this.#queuedBytes += line.length;
    if (!this.#scheduled) {
      this.#scheduled = true;
      // One batch per event-loop turn: everything recorded while handling this turn's requests.
      setImmediate(() => {
        this.#scheduled = false;
        void this.flush();
      });
    }
    return true;
  }

  flush(): Promise<void> {
    return this.exclusive(() => this.#drain());
  }

  close(): Promise<void> {
    this.#closing ??= this.exclusive(async () => {
      await this.#drain();
      await this.finish();
    });
    return this.#closing;
  }

  stats(): AuditSinkStats {
    return { written: this.#written, dropped: this.#dropped, failed: this.#failed };
  }

  /** Writes everything queued; for subclasses, inside `exclusive`. */
  protected drainQueued(): Promise<void> {
    return this.#drain();
  }

  /** Runs `fn` after every drain, reopen or close queued before it. Rejections reach the caller only. */
  protected exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(fn);
    this.#chain = run.then(
      () => {},
      () => {},
    );
    return run;
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue;
      this.#queue = [];
      this.#queuedBytes = 0;
      let failed: number;
      try {
        failed = await this.deliver(batch);
      } catch (err) {
        failed = batch.length;
        this.onError(err);
      }
      this.#written += batch.length - failed;
      this.#failed += failed;
    }
  }
}

/**
 * Appends JSON lines to a file opened with O_APPEND (mode 0600: the audit log names users and
 * addresses). One write per batch, no fsync per event; `close()` fsyncs. `reopen()` is for log
 * rotation: after logrotate renames the file, call it (on SIGHUP) and the sink continues in a new
 * file at the same path.
 */
export class FileAuditSink extends QueuedAuditSink {
  readonly kind = 'file';
  readonly path: string;
  #file: FileHandle;
  /** A write failed part-way: the next one starts with a newline so its first line parses. */
  #torn = false;

  private constructor(path: string, file: FileHandle, opts: AuditQueueOptions) {
    super(opts);
    this.path = path;
    this.#file = file;
  }

  /** Opens (creating if needed) the file. Throws BWK_ERR_AUDIT_FILE_UNWRITABLE when it cannot. */
  static async open(path: string, opts: AuditQueueOptions = {}): Promise<FileAuditSink> {
    return new FileAuditSink(path, await openAppend(path), opts);
  }

  /** Writes what is queued to the current file, then continues in a newly opened file at the same path. */
  reopen(): Promise<void> {
    return this.exclusive(async () => {
      await this.drainQueued(); // what was recorded before the rotation belongs in the rotated file
      const next = await openAppend(this.path); // on failure, keep writing to the file we have
      const old = this.#file;
      this.#file = next;
      this.#torn = false;
      try {
        await old.sync();
      } finally {
        await old.close();
      }
    });
  }

  protected async deliver(batch: QueuedLine[]): Promise<number> {
    let text = '';
    for (const q of batch) text += `${q.line}\n`;
    const bytes = Buffer.from(this.#torn ? `\n${text}` : text, 'utf8');
    let offset = 0;
    try {
      while (offset < bytes.length) offset += (await this.#file.write(bytes, offset, bytes.length - offset, null)).bytesWritten;
    } catch (err) {
      this.#torn = offset > 0 || this.#torn;
      throw err;
    }
    this.#torn = false;
    return 0;
  }

  protected async finish(): Promise<void> {
    try {
      await this.#file.sync();
    } finally {
      await this.#file.close();
    }
  }
}

async function openAppend(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'a', 0o600);
  } catch (err) {
    throw new BulwarkError('BWK_ERR_AUDIT_FILE_UNWRITABLE', { path, detail: (err as NodeJS.ErrnoException).code ?? 'unknown error' }, { cause: err });
  }
}

export interface TopicAuditSinkOptions extends AuditQueueOptions {
  /** Most events per RecordBatch. Default 1,000. */
  maxBatchEvents?: number;
  /** Most bytes of events per RecordBatch, below the topic's max message bytes. Default 512 KiB. */
  maxBatchBytes?: number;
}

/**
 * Appends events to a topic (the broker passes a function that appends to `__audit`), each
 * turn's events as one RecordBatch (more if they exceed `maxBatchBytes`), one record per event:
 * null key, the JSON line as value, the event time as timestamp. A failed append is counted and
 * reported to `onError`, and its events are lost; it never reaches a request.
 */
export class TopicAuditSink extends QueuedAuditSink {
  readonly kind = 'topic';
  readonly #append: (batch: Buffer) => Promise<unknown>;
  readonly #maxBatchEvents: number;
  readonly #maxBatchBytes: number;

  constructor(append: (batch: Buffer) => Promise<unknown>, opts: TopicAuditSinkOptions = {}) {
    super(opts);
    this.#append = append;
    this.#maxBatchEvents = opts.maxBatchEvents ?? 1000;
    this.#maxBatchBytes = opts.maxBatchBytes ?? 512 * 1024;
  }

  protected async deliver(batch: QueuedLine[]): Promise<number> {
    let failed = 0;
    for (let start = 0; start < batch.length; ) {
      let end = start;
      let bytes = 0;
      while (end < batch.length && end - start < this.#maxBatchEvents && (end === start || bytes + batch[end]!.line.length <= this.#maxBatchBytes)) bytes += batch[end++]!.line.length;
      const chunk = batch.slice(start, end);
      start = end;
      try {
        await this.#append(buildRecordBatch(chunk.map((q) => ({ key: null, value: Buffer.from(q.line, 'utf8'), timestamp: q.timeMs }))));
      } catch (err) {
        failed += chunk.length;
        this.onError(err);
      }
    }
    return failed;
  }

  protected async finish(): Promise<void> {}
}

// --- The log ----------------------------------------------------------------------------------

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
