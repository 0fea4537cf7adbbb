// A broker's internal listener as far as the ClusterState contract goes (src/cluster/distribution.ts),
// for tests of the operator's side while the real route is built: HTTPS with a certificate the
// operator checks, mTLS admitting only the operator's certificate, PUT/GET /v1/cluster-state with
// the contract's ordering rule (decideClusterState), and the topic-request long poll with answers.
// Bodies are parsed with the contract's own schemas, so a push outside the contract fails here.
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { CLUSTER_STATE_PATH, CLUSTER_STATE_REJECTED_CODE, decodeClusterState, decideClusterState, TOPIC_REQUESTS_PATH, topicAnswerSchema, type ClusterState, type TopicAnswer, type TopicRequest } from '../../src/cluster/index.ts';

export interface ClusterStateServer {
  readonly port: number;
  /** Every state applied, in order. */
  readonly applied: ClusterState[];
  /** The state in force. */
  current(): ClusterState | undefined;
  /** Pushes refused (ordering rule) or invalid. */
  readonly refused: { status: number; reason: string }[];
  /** Queues a topic request for the operator; resolves with its answer. */
  request(req: TopicRequest): Promise<TopicAnswer>;
  /** Polls that arrived so far, and how many wait now. */
  polls(): { total: number; waiting: number };
  close(): Promise<void>;
}

export async function startClusterStateServer(opts: { host: string; port: number; cert: string; key: string; ca: string; operatorIdentity?: string }): Promise<ClusterStateServer> {
  const applied: ClusterState[] = [];
  const refused: { status: number; reason: string }[] = [];
  let inForce: { version: number; hash: string } = { version: 0, hash: '' };
  const pending = new Map<string, { req: TopicRequest; resolve: (a: TopicAnswer) => void }>();
  const waiters = new Set<() => void>();
  let total = 0;
  const send = (res: import('node:http').ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const server: Server = createServer({ cert: opts.cert, key: opts.key, ca: opts.ca, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    const peer = (req.socket as TLSSocket).getPeerCertificate();
    if (peer?.subject?.CN !== (opts.operatorIdentity ?? 'bulwark-operator')) return send(res, 403, { code: 'BWK_ERR_FORBIDDEN', message: 'not the operator' });
    const url = new URL(req.url ?? '/', 'https://x');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      if (req.method === 'PUT' && url.pathname === CLUSTER_STATE_PATH) {
        const d = decodeClusterState(body);
        if (!d.ok) {
          refused.push({ status: 400, reason: d.detail });
          return send(res, 400, { code: 'BWK_ERR_CLUSTER_STATE_INVALID', message: d.detail });
        }
        const decision = decideClusterState(inForce, { version: d.state.version, hash: d.hash });
        if (!decision.apply && decision.reason !== 'unchanged') {
          refused.push({ status: 409, reason: decision.reason });
          return send(res, 409, { code: CLUSTER_STATE_REJECTED_CODE, message: `version ${d.state.version} refused`, reason: decision.reason, ...inForce, source: 'push' });
        }
        if (decision.apply) {
          inForce = { version: d.state.version, hash: d.hash };
          applied.push(d.state);
        }
        return send(res, 200, { applied: true, ...inForce, source: 'push', ...(decision.apply ? {} : { unchanged: true }) });
      }
      if (req.method === 'GET' && url.pathname === CLUSTER_STATE_PATH) return send(res, 200, { ...inForce, source: applied.length ? 'push' : 'empty' });
      if (req.method === 'GET' && url.pathname === TOPIC_REQUESTS_PATH) {
        total++;
        const waitMs = Math.min(30_000, Number(url.searchParams.get('waitMs') ?? 0));
        const answer = () => send(res, 200, { requests: [...pending.values()].map((p) => p.req) });
        if (pending.size > 0) return answer();
        let timer: NodeJS.Timeout | undefined;
        const wake = () => {
          clearTimeout(timer);
          waiters.delete(wake);
          if (!res.writableEnded && !res.destroyed) answer();
        };
        waiters.add(wake);
        timer = setTimeout(wake, waitMs);
        res.on('close', () => {
          clearTimeout(timer);
          waiters.delete(wake);
        });
        return;
      }
      if (req.method === 'POST' && url.pathname.startsWith(`${TOPIC_REQUESTS_PATH}/`)) {
        const id = decodeURIComponent(url.pathname.slice(TOPIC_REQUESTS_PATH.length + 1));
        const p = pending.get(id);
        if (!p) return send(res, 404, { code: 'BWK_ERR_TOPIC_REQUEST_UNKNOWN', message: `no topic request ${id} is waiting for an answer` });
        const parsed = topicAnswerSchema.safeParse(JSON.parse(body || 'null'));
        if (!parsed.success) return send(res, 400, { code: 'BWK_ERR_INVALID_REQUEST', message: 'answer outside the contract' });
        pending.delete(id);
        p.resolve(parsed.data);
        return send(res, 200, { answered: true });
      }
      send(res, 404, { code: 'BWK_ERR_NOT_FOUND', message: 'no such route' });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    applied,
    refused,
    current: () => applied.at(-1),
    request: (req) =>
      new Promise<TopicAnswer>((resolve) => {
        pending.set(req.id, { req, resolve });
        for (const w of [...waiters]) w();
      }),
    polls: () => ({ total, waiting: waiters.size }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
