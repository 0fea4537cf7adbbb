// The internal listener: HTTPS with client certificates required, for the operator. It is the
// server side of the push contract in src/policy/distribution.ts (routes, bodies, the ordering
// rule), whose client the operator uses:
//
//   PUT /v1/policy   body: a PolicySnapshot (canonical JSON). Verified whole (schema and content
//                    hash), then versions only move forward: 200 {applied, version, hash, source}
//                    when it is now in force (or already was: unchanged), 409
//                    BWK_ERR_POLICY_PUSH_REJECTED with its reason when it is older or conflicts,
//                    400 when it is invalid. Persisted before it is enforced.
//   GET  /v1/policy  the applied {version, hash, source}: what the operator writes to status.
//
// In operator mode the same listener serves the cluster contract (src/cluster/distribution.ts;
// src/broker/cluster-routes.ts).
//
// Only certificates whose common name is in `internal.clients` may call it; any other verified
// certificate gets 403, and a connection without one never completes the handshake.
import Fastify, { type FastifyInstance } from 'fastify';
import { certificateIdentity } from '../../auth/index.ts';
import type { TLSSocket } from 'node:tls';
import { BulwarkError, bulwarkErrorHandler, fastifyLogging, type Logger } from '../../lib/index.ts';
import {
  ApplyReason,
  decodeSnapshot,
  MAX_SNAPSHOT_BYTES,
  POLICY_ROUTES,
  PUSH_REJECTED_CODE,
  type AppliedState,
  type PushAppliedBody,
  type PushRejectedBody,
} from '../../policy/index.ts';
import type { BrokerConfig } from '../../config/index.ts';
import { TlsContext } from '../../pki/index.ts';
import type { PolicyStore } from './store.ts';

/** What the internal listener needs from the broker. */
export interface InternalListenerContext {
  readonly config: Pick<BrokerConfig, 'internal'>;
  readonly policy: PolicyStore;
  onStop(close: () => Promise<void> | void): void;
}

/**
 * `logger`: the broker's `internal` child; the shared error handler logs uncoded errors to it.
 * `routes`: more routes for the same callers (the cluster contract: src/broker/cluster-routes.ts).
 */
export async function startInternalListener(broker: InternalListenerContext, logger: Logger, routes?: (app: FastifyInstance) => void): Promise<FastifyInstance> {
  const cfg = broker.config.internal;
  const tls = new TlsContext(cfg.tls!, { onError: (err) => logger.warn({ err }, 'TLS files not reloaded; still serving the previous certificate') });
  const app = Fastify({ ...fastifyLogging(logger), bodyLimit: MAX_SNAPSHOT_BYTES, https: tls.serverOptions() as Record<string, unknown> }) as unknown as FastifyInstance;
  app.setErrorHandler(bulwarkErrorHandler(logger));
  tls.attach(app.server as unknown as Parameters<TlsContext['attach']>[0]);
  broker.onStop(() => tls.close());
  const allowed = new Set(cfg.clients);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => done(null, body));

  app.addHook('onRequest', async (req) => {
    const socket = req.raw.socket as TLSSocket;
    const identity = socket.authorized ? certificateIdentity(socket.getPeerCertificate(), { source: 'commonName', prefix: '' }) : undefined;
    if (identity === undefined || !allowed.has(identity)) throw new BulwarkError('BWK_ERR_FORBIDDEN');
  });

  app.get(POLICY_ROUTES.read.path, async (): Promise<AppliedState> => broker.policy.applied);
  app.put(POLICY_ROUTES.push.path, async (req, reply) => {
    if (typeof req.body !== 'string') throw new BulwarkError('BWK_ERR_SNAPSHOT_INVALID', { detail: 'send the snapshot as application/json' });
    const snapshot = decodeSnapshot(req.body);
    const r = broker.policy.apply(snapshot, 'push');
    if (r.applied) return { applied: true, ...broker.policy.applied } satisfies PushAppliedBody;
    if (r.reason === ApplyReason.Unchanged) return { applied: true, unchanged: true, ...broker.policy.applied } satisfies PushAppliedBody;
    const detail = r.reason === ApplyReason.StaleVersion ? `version ${r.current.version} is in force; versions only move forward` : `version ${r.current.version} is in force with another hash`;
    // The rejection carries the contract's extra fields (reason, what is in force), so it is sent here rather than thrown.
    const err = new BulwarkError(PUSH_REJECTED_CODE, { version: snapshot.version, detail });
    const rejected = { code: PUSH_REJECTED_CODE, message: err.message, reason: r.reason, ...broker.policy.applied } satisfies PushRejectedBody;
    return reply.code(err.status).send(rejected);
  });
  routes?.(app);
  await app.listen({ host: cfg.host, port: cfg.port });
  return app;
}
