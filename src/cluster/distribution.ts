// The ClusterState contract between the operator (the client, playing Kafka's controller) and a
// broker's internal listener (the server), both sides in one place so they cannot drift. It sits
// beside the policy push (src/policy/distribution.ts) on the same listener, with the same mTLS
// rule: only the operator's certificate may call it.
//
//   PUT  /v1/cluster-state   body: a ClusterState as canonical JSON. Versions only move forward:
//                            200 {applied: true, version, hash, source[, unchanged: true]} when it
//                            is in force (unchanged: it already was); 409 {code:
//                            BWK_ERR_CLUSTER_STATE_REJECTED, message, reason, version, hash,
//                            source} when it is older, or the same version with other content
//                            (version/hash/source: what is in force); 400 when it is invalid, or
//                            not for this broker's cluster (clusterId), or does not list this
//                            broker. Persisted before it is used.
//   GET  /v1/cluster-state   200 {version, hash, source}: what is in force.
//
// Topics created or deleted through the Kafka API are forwarded to the operator, which records
// them as Topic resources. The broker cannot call the operator (it holds no credentials for it,
// and its NetworkPolicy does not need a way out), so the operator collects them: a long poll
// on the channel it already uses.
//
//   GET  /v1/topic-requests?waitMs=N  200 {requests: TopicRequest[]}: the requests this broker
//                            holds that no one has answered, at once when there are any, else
//                            as soon as one arrives or after waitMs (at most MAX_POLL_WAIT_MS)
//                            with none. A request is handed out again on every poll until it is
//                            answered (an operator that dies holding one loses nothing).
//   POST /v1/topic-requests/:id  body: a TopicAnswer. 200 {answered: true}; 404
//                            BWK_ERR_TOPIC_REQUEST_UNKNOWN when no such request is waiting (answered
//                            already, or its client gave up).
//
// A request is forwarded only after the broker authorized it: the operator trusts the broker's
// decision as it trusts the broker's enforcement of the policy. validateOnly requests are
// answered by the broker alone and never forwarded.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import {
  answerOutsideContract,
  callInternal,
  canonicalJson,
  errorFromAnswer,
  TOPIC_NAME,
  type DistributionError,
  type DistributionOptions,
  type DistributionTarget,
  type DistributionTls,
} from '../lib/index.ts';
import { clusterStateSchema, type ClusterState } from './state.ts';

// --- Routes -----------------------------------------------------------------------------------

export const CLUSTER_STATE_PATH = '/v1/cluster-state';
export const TOPIC_REQUESTS_PATH = '/v1/topic-requests';
export const CLUSTER_ROUTES = {
  push: { method: 'PUT', path: CLUSTER_STATE_PATH },
  read: { method: 'GET', path: CLUSTER_STATE_PATH },
  poll: { method: 'GET', path: TOPIC_REQUESTS_PATH },
  /** `${TOPIC_REQUESTS_PATH}/${encodeURIComponent(id)}` */
  answer: { method: 'POST', path: `${TOPIC_REQUESTS_PATH}/:id` },
} as const;
/** The error code of a 409: a valid ClusterState refused by the ordering rule. */
export const CLUSTER_STATE_REJECTED_CODE = 'BWK_ERR_CLUSTER_STATE_REJECTED';
/** The longest a poll waits for a request before answering with none. */
export const MAX_POLL_WAIT_MS = 30_000;
/** The most requests one poll answer carries. */
export const MAX_REQUESTS_PER_POLL = 100;

// --- Identity and the ordering rule -------------------------------------------------------------

/** A ClusterState's content hash: `sha256:` and the hex digest of its canonical JSON. */
export function clusterStateHash(state: ClusterState): string {
  return `sha256:${createHash('sha256').update(canonicalJson(state)).digest('hex')}`;
}

/** Where the ClusterState in force came from: the broker's own (standalone), its persisted copy, a push, or nothing yet. */
export const CLUSTER_STATE_SOURCES = ['self', 'disk', 'push', 'empty'] as const;
export type ClusterStateSource = (typeof CLUSTER_STATE_SOURCES)[number];

export const ClusterStateReason = { Unchanged: 'unchanged', StaleVersion: 'stale-version', VersionConflict: 'version-conflict' } as const;
export type ClusterStateReason = (typeof ClusterStateReason)[keyof typeof ClusterStateReason];

/** The ordering rule, pure: the same as the policy's (versions only move forward). */
export function decideClusterState(current: { version: number; hash: string }, next: { version: number; hash: string }): { apply: true } | { apply: false; reason: ClusterStateReason } {
  if (next.version === current.version && next.hash === current.hash) return { apply: false, reason: ClusterStateReason.Unchanged };
  if (next.version < current.version) return { apply: false, reason: ClusterStateReason.StaleVersion };
  if (next.version === current.version) return { apply: false, reason: ClusterStateReason.VersionConflict };
  return { apply: true };
}

// --- Bodies -------------------------------------------------------------------------------------

export const appliedClusterStateBody = z.object({ version: z.number().int().min(0), hash: z.string(), source: z.enum(CLUSTER_STATE_SOURCES) });
export const clusterStateAppliedBody = appliedClusterStateBody.extend({ applied: z.literal(true), unchanged: z.literal(true).optional() });
export const clusterStateRejectedBody = appliedClusterStateBody.extend({
  code: z.literal(CLUSTER_STATE_REJECTED_CODE),
  message: z.string(),
  reason: z.enum([ClusterStateReason.StaleVersion, ClusterStateReason.VersionConflict]),
});
export type AppliedClusterState = z.infer<typeof appliedClusterStateBody>;

/** A CreateTopics or DeleteTopics entry the broker authorized and forwards. */
export const topicRequestSchema = z.discriminatedUnion('op', [
  z.strictObject({
    id: z.string().min(1).max(64),
    op: z.literal('create'),
    topic: z.string().regex(TOPIC_NAME),
    partitions: z.number().int().min(1).max(10_000),
    replicationFactor: z.number().int().min(1).max(32),
    config: z.record(z.string(), z.string()),
    /** Who asked, for the Topic resource's annotation and the operator's log. */
    principal: z.string(),
  }),
  z.strictObject({ id: z.string().min(1).max(64), op: z.literal('delete'), topic: z.string().regex(TOPIC_NAME), principal: z.string() }),
]);
export type TopicRequest = z.infer<typeof topicRequestSchema>;
export const topicRequestsBody = z.object({ requests: z.array(topicRequestSchema).max(MAX_REQUESTS_PER_POLL) });

/**
 * The operator's answer. `done`: the Topic resource exists (create) or is gone (delete); the
 * broker then waits (within the client's timeout) for a ClusterState that shows it. `failed`:
 * the Kafka error the client gets (TOPIC_ALREADY_EXISTS, UNKNOWN_TOPIC_OR_PARTITION,
 * INVALID_REPLICATION_FACTOR, POLICY_VIOLATION, …), with a message for it.
 */
export const topicAnswerSchema = z.discriminatedUnion('outcome', [
  z.strictObject({ outcome: z.literal('done'), topicId: z.string().regex(/^[0-9a-f]{32}$/).optional() }),
  z.strictObject({ outcome: z.literal('failed'), errorCode: z.number().int().min(1).max(32767), message: z.string().max(1000) }),
]);
export type TopicAnswer = z.infer<typeof topicAnswerSchema>;

// --- The client (the operator) --------------------------------------------------------------------

export type ClusterStatePushResult =
  | { outcome: 'applied'; applied: AppliedClusterState; unchanged: boolean }
  | { outcome: 'rejected'; reason: ClusterStateReason; applied: AppliedClusterState; message: string }
  | { outcome: 'invalid'; error: DistributionError }
  | { outcome: 'error'; error: DistributionError }
  | { outcome: 'unreachable'; error: DistributionError };

/** Pushes a ClusterState to one broker. Never throws. */
export async function pushClusterState(target: DistributionTarget, tls: DistributionTls, state: ClusterState, opts: DistributionOptions = {}): Promise<ClusterStatePushResult> {
  const answer = await callInternal(CLUSTER_ROUTES.push, target, tls, canonicalJson(state), opts);
  if (!answer.ok) return { outcome: 'unreachable', error: answer.error };
  const { status, json } = answer;
  if (status === 200) {
    const parsed = clusterStateAppliedBody.safeParse(json);
    if (!parsed.success) return { outcome: 'error', error: answerOutsideContract(target, status, parsed.error) };
    const { applied: _, unchanged, ...applied } = parsed.data;
    return { outcome: 'applied', applied, unchanged: unchanged === true };
  }
  if (status === 409) {
    const parsed = clusterStateRejectedBody.safeParse(json);
    if (!parsed.success) return { outcome: 'error', error: answerOutsideContract(target, status, parsed.error) };
    const { code: _, message, reason, ...applied } = parsed.data;
    return { outcome: 'rejected', reason, applied, message };
  }
  const error = errorFromAnswer(target, status, json);
  return status === 400 ? { outcome: 'invalid', error } : { outcome: 'error', error };
}

export type ValueResult<T> = { outcome: 'ok'; value: T } | { outcome: 'error'; error: DistributionError } | { outcome: 'unreachable'; error: DistributionError };

async function exchange<T>(route: { method: string; path: string }, target: DistributionTarget, tls: DistributionTls, body: string | undefined, schema: z.ZodType<T>, opts: DistributionOptions): Promise<ValueResult<T>> {
  const answer = await callInternal(route, target, tls, body, opts);
  if (!answer.ok) return { outcome: 'unreachable', error: answer.error };
  if (answer.status !== 200) return { outcome: 'error', error: errorFromAnswer(target, answer.status, answer.json) };
  const parsed = schema.safeParse(answer.json);
  if (!parsed.success) return { outcome: 'error', error: answerOutsideContract(target, answer.status, parsed.error) };
  return { outcome: 'ok', value: parsed.data };
}

/** What one broker has in force. */
export function readClusterState(target: DistributionTarget, tls: DistributionTls, opts: DistributionOptions = {}): Promise<ValueResult<AppliedClusterState>> {
  return exchange(CLUSTER_ROUTES.read, target, tls, undefined, appliedClusterStateBody, opts);
}

/** Waits up to `waitMs` for topic requests on one broker. The deadline covers the wait: pass a timeoutMs above waitMs. */
export function pollTopicRequests(target: DistributionTarget, tls: DistributionTls, waitMs: number, opts: DistributionOptions = {}): Promise<ValueResult<TopicRequest[]>> {
  const wait = Math.max(0, Math.min(MAX_POLL_WAIT_MS, Math.floor(waitMs)));
  return exchange({ method: 'GET', path: `${TOPIC_REQUESTS_PATH}?waitMs=${wait}` }, target, tls, undefined, topicRequestsBody.transform((b) => b.requests), { timeoutMs: wait + 10_000, ...opts });
}

/** Answers one request. `ok` with false: the broker no longer waits for it (404). */
export async function answerTopicRequest(target: DistributionTarget, tls: DistributionTls, id: string, answer: TopicAnswer, opts: DistributionOptions = {}): Promise<ValueResult<boolean>> {
  const r = await exchange({ method: 'POST', path: `${TOPIC_REQUESTS_PATH}/${encodeURIComponent(id)}` }, target, tls, JSON.stringify(answer), z.object({ answered: z.literal(true) }).transform(() => true), opts);
  if (r.outcome === 'error' && r.error.status === 404) return { outcome: 'ok', value: false };
  return r;
}

/** Parses a ClusterState's text: the schema, nothing more (the broker checks it is for itself). */
export function parseClusterState(text: string): { ok: true; state: ClusterState } | { ok: false; detail: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { ok: false, detail: `not JSON: ${(err as Error).message}` };
  }
  const r = clusterStateSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    return { ok: false, detail: `${issue.path.join('.') || '(root)'}: ${issue.message}` };
  }
  return { ok: true, state: r.data };
}

/** Parses a pushed ClusterState and computes its hash. */
export function decodeClusterState(text: string): { ok: true; state: ClusterState; hash: string } | { ok: false; detail: string } {
  const r = parseClusterState(text);
  return r.ok ? { ...r, hash: clusterStateHash(r.state) } : r;
}
