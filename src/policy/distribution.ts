// The snapshot push contract between the operator (the client) and a broker's internal listener
// (the server), both sides in one place so they cannot drift:
//
//   PUT /v1/policy   body: a PolicySnapshot as its canonical JSON (application/json).
//                    200 {applied: true, version, hash, source[, unchanged: true]}: it is in force
//                        now (unchanged: it already was);
//                    409 {code: BWK_ERR_POLICY_PUSH_REJECTED, message, reason, version, hash,
//                        source}: refused by the ordering rule; version/hash/source are what is
//                        in force;
//                    400 {code, message}: the snapshot itself is invalid (schema, or content not
//                        matching its hash); nothing is applied.
//   GET  /v1/policy  200 {version, hash, source}: what is applied, as received.
//   Any other answer is {code, message}: 403 BWK_ERR_FORBIDDEN for a verified certificate that
//   is not an allowed client; a connection without a certificate the broker's CA signed never
//   completes the TLS handshake.
//
// The ordering rule (`decideApply`): versions only move forward. The same version with the same
// hash is already in force (not an error); an older version is refused (stale-version); the same
// version with another hash is refused (version-conflict). A broker given nothing reports
// version 0 (`emptySnapshot`), so the first snapshot pushed has version 1 or more.
//
// `pushSnapshot` and `readApplied` are the client: HTTPS with a client certificate, TLS material
// passed in as PEM, a deadline, and a result that is a value, never a throw. Error messages name
// the broker and what went wrong, never the snapshot's contents or any key material.
import { request } from 'node:https';
import { z } from 'zod';
import { compileSettings } from './compile.ts';
import { encodeSnapshot, policySnapshot, sealSnapshot, type PolicySnapshot } from './snapshot.ts';

// --- Routes -----------------------------------------------------------------------------------

export const POLICY_PATH = '/v1/policy';
export const POLICY_ROUTES = {
  push: { method: 'PUT', path: POLICY_PATH },
  read: { method: 'GET', path: POLICY_PATH },
} as const;
export const SNAPSHOT_CONTENT_TYPE = 'application/json';
/** The largest snapshot body the internal listener reads. */
export const MAX_SNAPSHOT_BYTES = 512 << 20;
/** The error code of a 409: a valid snapshot refused by the ordering rule. */
export const PUSH_REJECTED_CODE = 'BWK_ERR_POLICY_PUSH_REJECTED';

// --- The ordering rule --------------------------------------------------------------------------

/** Why a snapshot was not applied. Stable names: the 409 body carries them, the operator matches on them. */
export const ApplyReason = {
  /** The same version and hash is already in force: nothing to do, not an error. */
  Unchanged: 'unchanged',
  /** Older than the version in force: versions only move forward. */
  StaleVersion: 'stale-version',
  /** The version in force, with another hash. */
  VersionConflict: 'version-conflict',
} as const;
export type ApplyReason = (typeof ApplyReason)[keyof typeof ApplyReason];
/** The reasons a push is refused (409); `unchanged` is a success. */
export const REJECT_REASONS = [ApplyReason.StaleVersion, ApplyReason.VersionConflict] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

/** A snapshot's identity: what a broker reports and what the ordering rule compares. */
export interface SnapshotRef {
  version: number;
  hash: string;
}

export type ApplyDecision =
  /** Apply it. `forced`: the ordering rule alone would have refused it. */
  | { apply: true; forced: boolean }
  | { apply: false; reason: ApplyReason };

/**
 * The ordering rule, pure. `force` (a policy directory, the only source then) lets a snapshot
 * replace one of a higher or equal version; an identical one is still `unchanged`.
 */
export function decideApply(current: SnapshotRef, next: SnapshotRef, opts: { force?: boolean } = {}): ApplyDecision {
  if (next.version === current.version && next.hash === current.hash) return { apply: false, reason: ApplyReason.Unchanged };
  const refused = next.version < current.version ? ApplyReason.StaleVersion : next.version === current.version ? ApplyReason.VersionConflict : undefined;
  if (refused === undefined) return { apply: true, forced: false };
  return opts.force ? { apply: true, forced: true } : { apply: false, reason: refused };
}

/** The snapshot of a broker that has been given no policy: version 0, no users, no grants, the compiler's default settings. */
export function emptySnapshot(): PolicySnapshot {
  return sealSnapshot({ cluster: { namespace: '', name: '' }, settings: compileSettings(undefined), users: [], tokens: [], rules: [] }, 0);
}

// --- Bodies -------------------------------------------------------------------------------------

/** Where the policy in force came from: its persisted copy, a push, a policy directory, or nothing yet. */
export const POLICY_SOURCES = ['disk', 'push', 'dir', 'empty'] as const;
export type PolicySource = (typeof POLICY_SOURCES)[number];

/** GET 200: what is applied, as received. */
export const appliedStateBody = z.object({
  version: policySnapshot.shape.version,
  hash: policySnapshot.shape.hash,
  source: z.enum(POLICY_SOURCES),
});
/** PUT 200: the pushed snapshot is in force. */
export const pushAppliedBody = appliedStateBody.extend({
  applied: z.literal(true),
  /** Present when it already was in force before this push. */
  unchanged: z.literal(true).optional(),
});
/** PUT 409: a valid snapshot refused by the ordering rule; version/hash/source are what is in force. */
export const pushRejectedBody = appliedStateBody.extend({
  code: z.literal(PUSH_REJECTED_CODE),
  message: z.string(),
  reason: z.enum(REJECT_REASONS),
});
/** Every other answer: a coded error (src/lib/errors.ts). */
export const errorBody = z.object({ code: z.string(), message: z.string() });

export type AppliedState = z.infer<typeof appliedStateBody>;
export type PushAppliedBody = z.infer<typeof pushAppliedBody>;
export type PushRejectedBody = z.infer<typeof pushRejectedBody>;
export type ErrorBody = z.infer<typeof errorBody>;

// --- The client ---------------------------------------------------------------------------------

/** A broker's internal listener. `servername`: the name its certificate is checked against, when `host` is not it. */
export interface DistributionTarget {
  host: string;
  port: number;
  servername?: string;
}

/** The client's TLS material, as PEM: the CA that signed the brokers' certificates, and the operator's certificate and key. */
export interface DistributionTls {
  ca: string | Buffer;
  cert: string | Buffer;
  key: string | Buffer;
}

export interface DistributionOptions {
  /** Deadline for the whole exchange, connection and TLS handshake included. Default 10 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * A failure, coded. `code` is the broker's (BWK_ERR_…) when it answered with an error body;
 * BWK_ERR_INTERNAL when its answer was outside this contract; otherwise the transport's: Node's
 * code (ECONNREFUSED, ECONNRESET, EPROTO, ERR_SSL_…, UNABLE_TO_VERIFY_LEAF_SIGNATURE, …),
 * ETIMEDOUT for the deadline, ABORT_ERR for the signal. `status` is set when the broker answered.
 */
export interface DistributionError {
  code: string;
  message: string;
  status?: number;
}

/** The code of an answer outside this contract (a 5xx from the broker carries it too). */
export const UNEXPECTED_ANSWER_CODE = 'BWK_ERR_INTERNAL';

/** What became of a push. Only `applied` means the snapshot is in force on that broker. */
export type PushResult =
  | { outcome: 'applied'; applied: AppliedState; unchanged: boolean }
  | { outcome: 'rejected'; reason: RejectReason; applied: AppliedState; message: string }
  /** The broker refused the snapshot itself (400): pushing it again will not help. */
  | { outcome: 'invalid'; error: DistributionError }
  /** The broker answered, but not with a decision: 403 (this client is not allowed), 5xx, or an answer outside the contract. */
  | { outcome: 'error'; error: DistributionError }
  /** No HTTP answer: refused or reset connection, failed TLS handshake (no or untrusted client certificate), DNS, timeout. */
  | { outcome: 'unreachable'; error: DistributionError };

export type ReadResult = { outcome: 'ok'; applied: AppliedState } | { outcome: 'error'; error: DistributionError } | { outcome: 'unreachable'; error: DistributionError };

/** Pushes a snapshot to one broker. Never throws; the result says what the broker did. */
export async function pushSnapshot(target: DistributionTarget, tls: DistributionTls, snapshot: PolicySnapshot, opts: DistributionOptions = {}): Promise<PushResult> {
  const body = encodeSnapshot(snapshot);
  const size = Buffer.byteLength(body);
  if (size > MAX_SNAPSHOT_BYTES)
    return { outcome: 'invalid', error: { code: 'BWK_ERR_SNAPSHOT_INVALID', message: `policy snapshot version ${snapshot.version} is ${size} bytes; the internal listener reads at most ${MAX_SNAPSHOT_BYTES}` } };
  const answer = await call(POLICY_ROUTES.push, target, tls, body, opts);
  if (!answer.ok) return { outcome: 'unreachable', error: answer.error };
  const { status, json } = answer;
  if (status === 200) {
    const parsed = pushAppliedBody.safeParse(json);
    if (!parsed.success) return { outcome: 'error', error: unexpected(target, status, parsed.error) };
    const { applied: _, unchanged, ...applied } = parsed.data;
    // "Applied" must mean this snapshot: anything else is a broker outside the contract.
    if (applied.version !== snapshot.version || applied.hash !== snapshot.hash)
      return { outcome: 'error', error: { code: UNEXPECTED_ANSWER_CODE, status, message: `${where(target)} answered 200 for version ${snapshot.version} but reports version ${applied.version} (${applied.hash}) in force` } };
    return { outcome: 'applied', applied, unchanged: unchanged === true };
  }
  if (status === 409) {
    const parsed = pushRejectedBody.safeParse(json);
    if (!parsed.success) return { outcome: 'error', error: unexpected(target, status, parsed.error) };
    const { code: _, message, reason, ...applied } = parsed.data;
    return { outcome: 'rejected', reason, applied, message: bounded(message) };
  }
  const error = failure(target, status, json);
  return status === 400 ? { outcome: 'invalid', error } : { outcome: 'error', error };
}

/** Reads what one broker has applied: the version and hash the operator writes to status. Never throws. */
export async function readApplied(target: DistributionTarget, tls: DistributionTls, opts: DistributionOptions = {}): Promise<ReadResult> {
  const answer = await call(POLICY_ROUTES.read, target, tls, undefined, opts);
  if (!answer.ok) return { outcome: 'unreachable', error: answer.error };
  if (answer.status !== 200) return { outcome: 'error', error: failure(target, answer.status, answer.json) };
  const parsed = appliedStateBody.safeParse(answer.json);
  if (!parsed.success) return { outcome: 'error', error: unexpected(target, answer.status, parsed.error) };
  return { outcome: 'ok', applied: parsed.data };
}

/** The largest answer read: the contract's bodies are a few hundred bytes. */
const MAX_ANSWER_BYTES = 64 << 10;
const MAX_MESSAGE_CHARS = 1000;

type Answer = { ok: true; status: number; json: unknown } | { ok: false; error: DistributionError };

const where = (t: DistributionTarget) => `broker ${t.host}:${t.port}`;
const bounded = (s: string) => (s.length > MAX_MESSAGE_CHARS ? `${s.slice(0, MAX_MESSAGE_CHARS)}…` : s);

function failure(target: DistributionTarget, status: number, json: unknown): DistributionError {
  const parsed = errorBody.safeParse(json);
  if (!parsed.success) return { code: UNEXPECTED_ANSWER_CODE, status, message: `${where(target)} answered HTTP ${status} without a coded error` };
  return { code: parsed.data.code, status, message: bounded(parsed.data.message) };
}

function unexpected(target: DistributionTarget, status: number, error: z.ZodError): DistributionError {
  const first = error.issues[0];
  const at = first ? `${first.path.join('.') || '<root>'}: ${first.message}` : 'not JSON';
  return { code: UNEXPECTED_ANSWER_CODE, status, message: bounded(`${where(target)} answered HTTP ${status} outside the contract (${at})`) };
}

/** One HTTPS exchange with a deadline. Resolves, never rejects. */
function call(route: { method: string; path: string }, target: DistributionTarget, tls: DistributionTls, body: string | undefined, opts: DistributionOptions): Promise<Answer> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const name = `${route.method} ${route.path} on ${where(target)}`;
  return new Promise((resolve) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    let req: ReturnType<typeof request> | undefined;
    const settle = (answer: Answer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      resolve(answer);
    };
    const fail = (code: string, message: string) => {
      settle({ ok: false, error: { code, message: bounded(`${name}: ${message}`) } });
      req?.destroy();
    };
    const onAbort = () => fail('ABORT_ERR', 'aborted');
    try {
      req = request(
        {
          host: target.host,
          port: target.port,
          ...(target.servername !== undefined ? { servername: target.servername } : {}),
          method: route.method,
          path: route.path,
          ca: tls.ca,
          cert: tls.cert,
          key: tls.key,
          rejectUnauthorized: true,
          agent: false,
          headers: body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': SNAPSHOT_CONTENT_TYPE, 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_ANSWER_BYTES) {
              // Far larger than any answer of the contract: read as one outside it.
              settle({ ok: true, status: res.statusCode ?? 0, json: undefined });
              req?.destroy();
            } else chunks.push(chunk);
          });
          res.on('error', (err: NodeJS.ErrnoException) => fail(err.code ?? 'ECONNRESET', err.message));
          res.on('end', () => {
            let json: unknown;
            try {
              json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            } catch {
              json = undefined;
            }
            settle({ ok: true, status: res.statusCode ?? 0, json });
          });
        },
      );
    } catch (err) {
      // Unusable TLS material (a PEM that does not parse) fails here; OpenSSL's message does not quote it.
      return fail((err as NodeJS.ErrnoException).code ?? 'ERR_TLS_MATERIAL', (err as Error).message);
    }
    // Node's messages name the peer and the TLS alert, never the certificate or key.
    req.on('error', (err: NodeJS.ErrnoException) => fail(err.code ?? 'ECONNRESET', err.message));
    timer = setTimeout(() => fail('ETIMEDOUT', `no answer within ${timeoutMs} ms`), timeoutMs);
    if (opts.signal?.aborted) return onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    req.end(body);
  });
}
