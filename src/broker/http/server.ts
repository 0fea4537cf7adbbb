// The HTTP listener (fastify): health, metrics, topic administration, REST produce and consume,
// and the OpenAPI document describing all of it.
//
// Bodies and queries are parsed with zod at the edge; the same schemas generate the OpenAPI
// document, so the document cannot drift from what the server accepts. Routes throw catalog
// errors; the shared error handler (lib/http-errors.ts) answers { code, message } with the
// catalog's HTTP status and logs anything uncoded as a 500.
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import type { TLSSocket } from 'node:tls';
import type { Action, ResourceType } from '../../api/index.ts';
import type { Principal } from '../../policy/index.ts';
import { z } from 'zod';
import { BulwarkError, bulwarkErrorHandler, fastifyLogging, type Logger } from '../../lib/index.ts';
import { buildRecordBatch, decodeRecords, LOG_OVERHEAD, OFF } from '../../log/index.ts';
import type { BrokerCore } from '../core.ts';
import { isInternalTopic } from '../../cluster/index.ts';
import { CLUSTER_RESOURCE } from '../kafka/permissions.ts';

const encoding = z.enum(['utf8', 'base64']).default('utf8').describe('How keys and values are written in JSON: utf8 text or base64 bytes.');

const produceBody = z.strictObject({
  partition: z.number().int().min(0).optional().describe('Partition to write to; left out, records are spread by key hash (no key: partition 0).'),
  encoding,
  records: z
    .array(
      z.strictObject({
        key: z.string().max(1 << 20).nullable().optional().describe('Record key.'),
        value: z.string().max(64 << 20).nullable().describe('Record value.'),
        headers: z.record(z.string().max(1024), z.string().max(1 << 20)).optional().describe('Record headers (values in the chosen encoding).'),
        timestamp: z.number().int().min(0).optional().describe('Milliseconds since the epoch; left out, now.'),
      }),
    )
    .min(1)
    .max(10_000)
    .describe('Records to append, in order.'),
});

const createTopicBody = z.strictObject({
  name: z.string().min(1).max(249).describe('Topic name: [a-zA-Z0-9._-], up to 249 characters.'),
  partitions: z.number().int().min(1).max(10_000).default(1).describe('Number of partitions.'),
  config: z.record(z.string(), z.string()).default({}).describe('Topic configs (retention.ms, retention.bytes, segment.bytes, segment.ms, flush.messages, flush.ms, max.message.bytes).'),
});

const consumeQuery = z.strictObject({
  offset: z.coerce.number().int().min(0).default(0).describe('First offset to read.'),
  maxBytes: z.coerce.number().int().min(1).max(64 << 20).default(1 << 20).describe('Most bytes of record batches to read (at least one batch is returned).'),
  waitMs: z.coerce.number().int().min(0).max(30_000).default(0).describe('Wait up to this long for records when there are none.'),
  encoding,
  format: z.enum(['json', 'binary']).default('json').describe('json: decoded records; binary: the raw Kafka RecordBatch v2 bytes.'),
});

const RECORD_BATCH_MEDIA_TYPE = 'application/vnd.kafka.record-batch.v2';

function parse<T extends z.ZodType>(schema: T, input: unknown, where: string): z.infer<T> {
  const r = schema.safeParse(input ?? {});
  if (r.success) return r.data;
  const first = r.error.issues[0]!;
  const path = [where, ...first.path].join('.');
  throw new BulwarkError('BWK_ERR_HTTP_BODY_INVALID', { detail: `${path}: ${first.message}` });
}

function partitionFor(key: Buffer | null, count: number): number {
  if (key === null || count === 1) return 0;
  let h = 0;
  for (const b of key) h = (Math.imul(31, h) + b) | 0;
  return Math.abs(h) % count;
}

export function openApiDocument(): Record<string, unknown> {
  const schema = (s: z.ZodType) => z.toJSONSchema(s, { io: 'input', target: 'openapi-3.0' });
  const error = { description: 'A catalog error', content: { 'application/json': { schema: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } } } } };
  const queryParams = Object.entries((schema(consumeQuery) as { properties: Record<string, unknown> }).properties).map(([name, s]) => ({ name, in: 'query', schema: s }));
  return {
    openapi: '3.0.3',
    info: {
      title: 'Bulwark broker HTTP API',
      version: '0.1.0',
      description: 'Health, metrics, topic administration, and REST produce and consume. Every /v1 route but /v1/login needs Authorization: Bearer with an access token (bwk_…) or a session token from /v1/login; 401 without valid credentials, 403 when the policy does not allow the action (whether or not the topic exists).',
    },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
    paths: {
      '/healthz': { get: { summary: 'Liveness: the process serves HTTP.', responses: { 200: { description: 'alive' } } } },
      '/readyz': { get: { summary: 'Readiness: started, and no partition fenced.', responses: { 200: { description: 'ready' }, 503: { description: 'not ready, with reasons' } } } },
      '/metrics': { get: { summary: 'Prometheus metrics (needs describe on the cluster: the labels name topics). Prometheus scrapes the metrics listener instead.', responses: { 200: { description: 'text exposition format' }, 401: error, 403: error } } },
      '/v1/topics': {
        get: { summary: 'List topics.', responses: { 200: { description: 'topics' } } },
        post: { summary: 'Create a topic.', requestBody: { content: { 'application/json': { schema: schema(createTopicBody) } } }, responses: { 201: { description: 'created' }, 400: error, 409: error } },
      },
      '/v1/topics/{topic}': {
        get: { summary: 'Describe a topic: partitions, offsets, config.', responses: { 200: { description: 'topic' }, 404: error } },
        delete: { summary: 'Delete a topic and its data.', responses: { 204: { description: 'deleted' }, 404: error } },
      },
      '/v1/topics/{topic}/records': {
        post: {
          summary: 'Produce records: JSON, or one record whose value is the request body (application/octet-stream; key in the x-bulwark-key header, partition in ?partition=).',
          requestBody: { content: { 'application/json': { schema: schema(produceBody) }, 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
          responses: { 200: { description: 'offsets assigned, per partition' }, 400: error, 404: error },
        },
      },
      '/v1/topics/{topic}/partitions/{partition}/records': {
        get: {
          summary: 'Consume records from an offset: decoded JSON, or raw RecordBatch v2 bytes.',
          parameters: queryParams,
          responses: { 200: { description: `records (application/json or ${RECORD_BATCH_MEDIA_TYPE}); x-bulwark-next-offset says where to continue` }, 404: error, 416: error },
        },
      },
      '/openapi.json': { get: { summary: 'This document.', responses: { 200: { description: 'OpenAPI 3.0 document' } } } },
      '/v1/login': {
        post: {
          summary: 'Log in with a username and password (TLS listeners with password login): returns a short-lived session token (JWT) to send as Authorization: Bearer.',
          requestBody: { content: { 'application/json': { schema: schema(loginBody) } } },
          responses: { 200: { description: '{ token, tokenType, expiresAt }' }, 401: error },
        },
      },
    },
  };
}

/** What the HTTP listener needs from the broker's security: who is calling, and may they. */
export interface HttpSecurity {
  /** The caller's principal from the request's credentials (Bearer token or session, client certificate, anonymous); undefined when none is valid. */
  authenticate(req: { authorization: string | undefined; ip: string; socket: TLSSocket }): Promise<Principal | undefined>;
  /** POST /v1/login: a session token for a username and password, or undefined (one answer for every failure). */
  login(username: string, password: string, ip: string): Promise<{ token: string; expiresAt: Date } | undefined>;
  /** Whether the principal may; denials are audited unless `listing`. */
  allowed(principal: Principal, ip: string, action: Action, type: ResourceType, name: string, listing?: boolean): boolean;
  topicChanged(operation: 'created' | 'deleted', topic: string, partitions: number, principal: Principal): void;
  /** Whether the listener offers password login. */
  readonly passwordLogin: boolean;
  /** Whether a client address may use this listener at all (its allowedCidrs). */
  admit(ip: string): boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | undefined;
  }
}

/** Routes anyone may call: probes, the document, and login itself. */
const PUBLIC_ROUTES = new Set(['/healthz', '/readyz', '/openapi.json', '/v1/login']);

const topicParam = (req: FastifyRequest) => (req.params as { topic: string }).topic;

/**
 * What each route needs, in one table (as the Kafka listener's requiredPermissions): the action,
 * and the resource it acts on. A route missing here is refused (fail closed).
 */
const ROUTE_PERMISSIONS: Record<string, { action: Action; type: ResourceType; name: (req: FastifyRequest) => string } | 'listing'> = {
  // The metrics' labels name every topic: as much as a Kafka Metadata request for all topics,
  // which needs describe on the cluster too.
  'GET /metrics': { action: 'describe', type: 'cluster', name: () => CLUSTER_RESOURCE },
  'GET /v1/topics': 'listing',
  'POST /v1/topics': { action: 'create', type: 'topic', name: (req) => String((req.body as { name?: unknown } | undefined)?.name ?? '') },
  'GET /v1/topics/:topic': { action: 'describe', type: 'topic', name: topicParam },
  'DELETE /v1/topics/:topic': { action: 'delete', type: 'topic', name: topicParam },
  'POST /v1/topics/:topic/records': { action: 'write', type: 'topic', name: topicParam },
  'GET /v1/topics/:topic/partitions/:partition/records': { action: 'read', type: 'topic', name: topicParam },
};

const loginBody = z.strictObject({ username: z.string().min(1).max(255), password: z.string().min(1).max(4096) });

export interface HttpServerOptions {
  security: HttpSecurity;
  /** The broker's `http` child logger: fastify logs through it, and the error handler logs unexpected errors to it. */
  logger: Logger;
  /** Extra options for fastify's server: TLS (`https`). */
  https?: Record<string, unknown>;
}

export async function startHttpServer(core: BrokerCore, host: string, port: number, opts: HttpServerOptions): Promise<FastifyInstance> {
  const security = opts.security;
  const app = Fastify({ ...fastifyLogging(opts.logger), bodyLimit: core.config.limits.maxRequestBytes, ...(opts.https ? { https: opts.https } : {}) }) as unknown as FastifyInstance;
  app.setErrorHandler(bulwarkErrorHandler(opts.logger));
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.decorateRequest('principal', undefined);
  const ipOf = (req: FastifyRequest) => (req.ip.startsWith('::ffff:') && req.ip.includes('.') ? req.ip.slice(7) : req.ip);

  // The listener's address list comes first: a refused address learns nothing else.
  app.addHook('onRequest', async (req) => {
    if (!security.admit(ipOf(req))) throw new BulwarkError('BWK_ERR_FORBIDDEN');
    // Credentials over plaintext are refused as PLAIN is on a Kafka listener without TLS: a
    // Bearer token or Basic password seen on the wire is as good as stolen, so no route may
    // accept one here (the configuration already refuses bearer and password without TLS).
    if (req.headers.authorization !== undefined && !(req.raw.socket as TLSSocket).encrypted) throw new BulwarkError('BWK_ERR_HTTP_CREDENTIALS_NEED_TLS');
  });

  // Authentication, then the route's permission, before any handler runs.
  app.addHook('preHandler', async (req) => {
    const route = req.routeOptions.url ?? '';
    if (PUBLIC_ROUTES.has(route)) return;
    const principal = await security.authenticate({ authorization: req.headers.authorization, ip: ipOf(req), socket: req.raw.socket as TLSSocket });
    if (!principal) throw new BulwarkError('BWK_ERR_UNAUTHENTICATED');
    req.principal = principal;
    const needed = ROUTE_PERMISSIONS[`${req.method} ${route}`];
    if (needed === 'listing') return;
    // Refused whether the topic exists or not: no existence oracle.
    if (!needed || !security.allowed(principal, ipOf(req), needed.action, needed.type, needed.name(req))) {
      throw new BulwarkError('BWK_ERR_FORBIDDEN');
    }
  });

  app.post('/v1/login', async (req) => {
    if (!security.passwordLogin) throw new BulwarkError('BWK_ERR_HTTP_BODY_INVALID', { detail: 'password login is not enabled on this listener' });
    const body = parse(loginBody, req.body, 'body');
    const session = await security.login(body.username, body.password, ipOf(req));
    if (!session) throw new BulwarkError('BWK_ERR_UNAUTHENTICATED');
    return { token: session.token, tokenType: 'Bearer', expiresAt: session.expiresAt.toISOString() };
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const r = core.readiness();
    return reply.code(r.ready ? 200 : 503).send({ status: r.ready ? 'ready' : 'not ready', reasons: r.reasons });
  });
  app.get('/metrics', async (_req, reply) => reply.type(core.metrics.registry.contentType).send(await core.metrics.registry.metrics()));
  const doc = openApiDocument();
  app.get('/openapi.json', async () => doc);

  app.get('/v1/topics', async (req) => ({
    topics: core.cluster.topics.filter((t) => security.allowed(req.principal!, ipOf(req), 'describe', 'topic', t.name, true)).map((t) => ({ name: t.name, partitions: t.partitions.length })),
  }));
  app.post('/v1/topics', async (req, reply) => {
    const body = parse(createTopicBody, req.body, 'body');
    const r = core.topics.createTopic(body.name, body.partitions, body.config);
    if (!r.ok) throw r.reason === 'exists' ? new BulwarkError('BWK_ERR_TOPIC_EXISTS', { topic: body.name }) : new BulwarkError('BWK_ERR_TOPIC_INVALID', { topic: body.name, detail: r.message });
    security.topicChanged('created', r.topic.name, r.topic.partitions.length, req.principal!);
    return reply.code(201).send({ name: r.topic.name, partitions: r.topic.partitions.length, config: r.topic.config });
  });
  app.get<{ Params: { topic: string } }>('/v1/topics/:topic', async (req) => {
    const t = core.topics.topic(req.params.topic);
    if (!t) throw new BulwarkError('BWK_ERR_TOPIC_NOT_FOUND', { topic: req.params.topic });
    return {
      name: t.name,
      id: t.id,
      config: t.config,
      partitions: t.partitions.map((p) => {
        const log = core.topics.partition(t.name, p.partition);
        return { partition: p.partition, leader: p.leader, logStartOffset: log?.logStartOffset, highWatermark: log?.nextOffset, fenced: log?.fenced ? log.fenced.message : undefined };
      }),
    };
  });
  app.delete<{ Params: { topic: string } }>('/v1/topics/:topic', async (req, reply) => {
    if (isInternalTopic(req.params.topic)) throw new BulwarkError('BWK_ERR_TOPIC_INVALID', { topic: req.params.topic, detail: 'internal topics cannot be deleted' });
    if (!(await core.topics.deleteTopic(req.params.topic))) throw new BulwarkError('BWK_ERR_TOPIC_NOT_FOUND', { topic: req.params.topic });
    security.topicChanged('deleted', req.params.topic, 0, req.principal!);
    return reply.code(204).send();
  });

  app.post<{ Params: { topic: string }; Querystring: Record<string, string> }>('/v1/topics/:topic/records', async (req) => {
    const topic = core.topics.topic(req.params.topic);
    if (!topic) throw new BulwarkError('BWK_ERR_TOPIC_NOT_FOUND', { topic: req.params.topic });
    if (isInternalTopic(topic.name)) throw new BulwarkError('BWK_ERR_TOPIC_INVALID', { topic: topic.name, detail: 'internal topics are written by the broker only' });
    // Group records by partition, one batch per partition.
    const byPartition = new Map<number, Parameters<typeof buildRecordBatch>[0][number][]>();
    if (Buffer.isBuffer(req.body)) {
      const key = typeof req.headers['x-bulwark-key'] === 'string' ? Buffer.from(req.headers['x-bulwark-key']) : null;
      const partition = req.query.partition !== undefined ? parse(z.coerce.number().int().min(0), req.query.partition, 'query.partition') : partitionFor(key, topic.partitions.length);
      byPartition.set(partition, [{ key, value: req.body }]);
    } else {
      const body = parse(produceBody, req.body, 'body');
      const bytes = (s: string | null | undefined) => (s === null || s === undefined ? null : Buffer.from(s, body.encoding));
      for (const r of body.records) {
        const key = bytes(r.key);
        const partition = body.partition ?? partitionFor(key, topic.partitions.length);
        const list = byPartition.get(partition) ?? [];
        const headers = Object.entries(r.headers ?? {}).map(([k, v]) => ({ key: k, value: bytes(v) }));
        list.push({ key, value: bytes(r.value), headers, ...(r.timestamp !== undefined ? { timestamp: r.timestamp } : {}) });
        byPartition.set(partition, list);
      }
    }
    const offsets = [];
    for (const [partition, records] of byPartition) {
      if (partition >= topic.partitions.length) throw new BulwarkError('BWK_ERR_PARTITION_NOT_FOUND', { topic: topic.name, partition });
      const r = await core.produce(topic.name, partition, buildRecordBatch(records));
      offsets.push({ partition, baseOffset: r.baseOffset, lastOffset: r.lastOffset });
    }
    return { topic: topic.name, offsets };
  });

  app.get<{ Params: { topic: string; partition: string }; Querystring: Record<string, string> }>('/v1/topics/:topic/partitions/:partition/records', async (req, reply) => {
    const q = parse(consumeQuery, req.query, 'query');
    const partition = parse(z.coerce.number().int().min(0), req.params.partition, 'path.partition');
    if (!core.topics.topic(req.params.topic)) throw new BulwarkError('BWK_ERR_TOPIC_NOT_FOUND', { topic: req.params.topic });
    const r = await core.fetch(req.params.topic, partition, q.offset, q.maxBytes, q.waitMs);
    reply.header('x-bulwark-next-offset', String(r.nextFetchOffset)).header('x-bulwark-high-watermark', String(r.highWatermark));
    if (q.format === 'binary') return reply.type(RECORD_BATCH_MEDIA_TYPE).send(Buffer.from(r.records));
    const records = [];
    for (let p = 0; p < r.records.length; ) {
      const size = r.records.readInt32BE(p + OFF.batchLength) + LOG_OVERHEAD;
      for (const rec of decodeRecords(r.records.subarray(p, p + size))) {
        if (rec.offset < q.offset) continue;
        records.push({
          offset: rec.offset,
          timestamp: rec.timestamp,
          key: rec.key?.toString(q.encoding) ?? null,
          value: rec.value?.toString(q.encoding) ?? null,
          headers: Object.fromEntries(rec.headers.map((h) => [h.key, h.value?.toString(q.encoding) ?? null])),
        });
      }
      p += size;
    }
    return { topic: req.params.topic, partition, records, nextOffset: r.nextFetchOffset, highWatermark: r.highWatermark };
  });

  await app.listen({ host, port });
  return app;
}
