// The broker's side of the cluster contract (src/cluster/distribution.ts) on the internal
// listener, for the operator only (the listener's mTLS rule): the ClusterState push and read, and
// the long poll of the topic requests this broker forwards. Registered in operator mode only; a
// standalone broker is its own controller and has no such routes (404).
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import {
  CLUSTER_ROUTES,
  CLUSTER_STATE_REJECTED_CODE,
  ClusterStateReason,
  decodeClusterState,
  MAX_POLL_WAIT_MS,
  TOPIC_REQUESTS_PATH,
  topicAnswerSchema,
  type AppliedClusterState,
  type TopicRequest,
} from '../cluster/index.ts';
import { BulwarkError } from '../lib/index.ts';
import type { TopicManager } from './topics.ts';

const waitQuery = z.object({ waitMs: z.coerce.number().int().min(0).optional() });

export function registerClusterRoutes(app: FastifyInstance, topics: TopicManager): void {
  const requests = topics.requests;
  if (!requests) throw new Error('cluster routes are for a broker in operator mode');

  app.get(CLUSTER_ROUTES.read.path, async (): Promise<AppliedClusterState> => topics.applied);

  app.put(CLUSTER_ROUTES.push.path, async (req, reply) => {
    if (typeof req.body !== 'string') throw new BulwarkError('BWK_ERR_CLUSTER_STATE_INVALID', { detail: 'send the cluster state as application/json' });
    const decoded = decodeClusterState(req.body);
    if (!decoded.ok) throw new BulwarkError('BWK_ERR_CLUSTER_STATE_INVALID', { detail: decoded.detail });
    const r = await topics.applyPushed(decoded.state, decoded.hash);
    if (r.applied) return { applied: true, ...(r.unchanged ? { unchanged: true } : {}), ...topics.applied };
    const current = topics.applied;
    const detail = r.reason === ClusterStateReason.StaleVersion ? `version ${current.version} is in force; versions only move forward` : `version ${current.version} is in force with another hash`;
    // The rejection carries the contract's extra fields (reason, what is in force), so it is sent here rather than thrown.
    const err = new BulwarkError(CLUSTER_STATE_REJECTED_CODE, { version: decoded.state.version, detail });
    return reply.code(err.status).send({ code: CLUSTER_STATE_REJECTED_CODE, message: err.message, reason: r.reason, ...current });
  });

  app.get(TOPIC_REQUESTS_PATH, async (req, reply): Promise<{ requests: TopicRequest[] }> => {
    const q = waitQuery.safeParse(req.query);
    if (!q.success) throw new BulwarkError('BWK_ERR_HTTP_BODY_INVALID', { detail: 'waitMs must be a whole number of milliseconds' });
    // The operator hanging up ends the wait.
    const gone = new AbortController();
    reply.raw.once('close', () => gone.abort());
    return { requests: await requests.poll(Math.min(q.data.waitMs ?? 0, MAX_POLL_WAIT_MS), gone.signal) };
  });

  app.post<{ Params: { id: string } }>(`${TOPIC_REQUESTS_PATH}/:id`, async (req) => {
    let json: unknown;
    try {
      json = JSON.parse(typeof req.body === 'string' ? req.body : '');
    } catch {
      throw new BulwarkError('BWK_ERR_HTTP_BODY_INVALID', { detail: 'send the answer as application/json' });
    }
    const answer = topicAnswerSchema.safeParse(json);
    if (!answer.success) {
      const issue = answer.error.issues[0]!;
      throw new BulwarkError('BWK_ERR_HTTP_BODY_INVALID', { detail: `${issue.path.join('.') || '(root)'}: ${issue.message}` });
    }
    if (!requests.answer(req.params.id, answer.data)) throw new BulwarkError('BWK_ERR_TOPIC_REQUEST_UNKNOWN', { id: req.params.id.slice(0, 64) });
    return { answered: true };
  });
}
