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
import { z } from 'zod';
import { boundMessage, callInternal, errorBody, errorFromAnswer, answerOutsideContract, UNEXPECTED_ANSWER_CODE, describeTarget, type DistributionError, type DistributionOptions, type DistributionTarget, type DistributionTls } from '../lib/index.ts';
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

export type AppliedState = z.infer<typeof appliedStateBody>;
export type PushAppliedBody = z.infer<typeof pushAppliedBody>;
export type PushRejectedBody = z.infer<typeof pushRejectedBody>;
export type ErrorBody = z.infer<typeof errorBody>;

// --- The client ---------------------------------------------------------------------------------

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
  const answer = await callInternal(POLICY_ROUTES.push, target, tls, body, opts);
  if (!answer.ok) return { outcome: 'unreachable', error: answer.error };
  const { status, json } = answer;
  if (status === 200) {
    const parsed = pushAppliedBody.safeParse(json);
    if (!parsed.success) return { outcome: 'error', error: answerOutsideContract(target, status, parsed.error) };
    const { applied: _, unchanged, ...applied } = parsed.data;
    // "Applied" must mean this snapshot: anything else is a broker outside the contract.
    if (applied.version !== snapshot.version || applied.hash !== snapshot.hash)
      return { outcome: 'error', error: { code: UNEXPECTED_ANSWER_CODE, status, message: `${describeTarget(target)} answered 200 for version ${snapshot.version} but reports version ${applied.version} (${applied.hash}) in force` } };
    return { outcome: 'applied', applied, unchanged: unchanged === true };
  }
  if (status === 409) {
    const parsed = pushRejectedBody.safeParse(json);
    if (!parsed.success) return { outcome: 'error', error: answerOutsideContract(target, status, parsed.error) };
    const { code: _, message, reason, ...applied } = parsed.data;
    return { outcome: 'rejected', reason, applied, message: boundMessage(message) };
  }
  const error = errorFromAnswer(target, status, json);
  return status === 400 ? { outcome: 'invalid', error } : { outcome: 'error', error };
}

/** Reads what one broker has applied: the version and hash the operator writes to status. Never throws. */
export async function readApplied(target: DistributionTarget, tls: DistributionTls, opts: DistributionOptions = {}): Promise<ReadResult> {
  const answer = await callInternal(POLICY_ROUTES.read, target, tls, undefined, opts);
  if (!answer.ok) return { outcome: 'unreachable', error: answer.error };
  if (answer.status !== 200) return { outcome: 'error', error: errorFromAnswer(target, answer.status, answer.json) };
  const parsed = appliedStateBody.safeParse(answer.json);
  if (!parsed.success) return { outcome: 'error', error: answerOutsideContract(target, answer.status, parsed.error) };
  return { outcome: 'ok', applied: parsed.data };
}

export { DEFAULT_TIMEOUT_MS, errorBody, UNEXPECTED_ANSWER_CODE, type DistributionError, type DistributionOptions, type DistributionTarget, type DistributionTls } from '../lib/index.ts';
