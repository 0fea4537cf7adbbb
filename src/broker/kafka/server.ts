// The Kafka listener: accepts connections, decodes each request with the protocol codec,
// hands it to its handler, and encodes the answer. Handlers read the ClusterState (Metadata,
// FindCoordinator), the log (Produce, Fetch, ListOffsets), the topic manager (CreateTopics,
// DeleteTopics, DescribeConfigs) and the group coordinator (the group APIs).
//
// A malformed frame, an unknown API or an unsupported version closes that connection only;
// ApiVersions of an unknown version gets Kafka's v0 fallback answer and the connection stays.
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { BulwarkError, ERRORS, isBulwarkError, type ErrorSpec, type Logger } from '../../lib/index.ts';
import type { BrokerCore } from '../core.ts';
import type { AppendWaiters } from '../append-waiters.ts';
import type { BrokerSecurity } from '../security.ts';
import type { OffsetStore } from '../../log/index.ts';
import type { BrokerConfig, KafkaListenerConfig } from '../../config/index.ts';
import { TlsContext } from '../../pki/index.ts';
import { CLUSTER_RESOURCE, requiredPermissions, Verdict, type PermissionContext } from './permissions.ts';
import { describeAcls, invalidFilter } from './acl-bindings.ts';
import { authenticate, handshake } from './sasl.ts';
import { KafkaSession } from './session.ts';
import { BufferPool, ByteBudget, SizeClassPool } from './buffer-pool.ts';
import { KafkaConnection, POOLED_FRAME_BYTES, type DirectReads } from './connection.ts';
import { DIRECT_READS, directSocket } from './direct-socket.ts';
import { compileRecordLimits, type RecordLimitCheck } from '../limits/index.ts';
import { KafkaErrorCode } from '../../kafka/index.ts';
import { GroupCoordinator } from '../../groups/index.ts';
import {
  advertisedApiVersions,
  ApiKey,
  apiVersionsFallback,
  decodeRequest,
  encodeResponse,
  isProtocolError,
  ProtocolErrorKind,
  type DecodedRequest,
  type FetchRequest,
  type ListOffsetsRequest,
  type MetadataRequest,
  type ProduceRequest,
  type CreateTopicsRequest,
  type DeleteTopicsRequest,
  type DeleteGroupsRequest,
  type DescribeAclsRequest,
  type OffsetDeleteRequest,
  type DescribeConfigsRequest,
  type OffsetCommitRequest,
  type OffsetFetchRequest,
} from '../../kafka/index.ts';
import { isInternalTopic, topicNameProblem, TOPIC_CONFIG_KEYS, type BrokerInfo } from '../../cluster/index.ts';

/** Requests a client may send before it has authenticated. */
const BEFORE_AUTHENTICATION: ReadonlySet<number> = new Set([ApiKey.ApiVersions, ApiKey.SaslHandshake, ApiKey.SaslAuthenticate]);
const API_NAMES = Object.fromEntries(Object.entries(ApiKey).map(([name, key]) => [key, name])) as Record<number, string>;
const EMPTY = Buffer.alloc(0);
const READ_BUFFER_BYTES = 1 << 20;
const READ_BUFFER_POOL = 16;
/** Idle Produce frame copies kept per size class (~1 MiB batches: 2 MiB each), and in all. */
const PRODUCE_FRAME_POOL = 8;
const PRODUCE_FRAME_POOL_BYTES = 32 << 20;
/** Large Produce frames allocated ahead of their bytes, all connections together (connection.ts). */
const DIRECT_FRAME_BUDGET_BYTES = 64 << 20;

/** The Kafka error of a topic CreateTopics cannot create. */
const createTopicErrorCode = {
  exists: KafkaErrorCode.TOPIC_ALREADY_EXISTS,
  'invalid-name': KafkaErrorCode.INVALID_TOPIC_EXCEPTION,
  'invalid-partitions': KafkaErrorCode.INVALID_PARTITIONS,
  'invalid-config': KafkaErrorCode.INVALID_REQUEST,
} as const;

/** Producer ids of one broker are its id modulo this: as many brokers as a cluster may have (a Topic's leader is 0..63). */
const PRODUCER_ID_STRIDE = 64;

/** How long a topic auto-created in a cluster (forwarded to the operator) may wait for its answer. */
const AUTO_CREATE_WAIT_MS = 30_000;

/** A request's current leader epoch against the one in force (-1: the client does not say). */
function leaderEpochError(current: number, inForce: number): KafkaErrorCode | undefined {
  if (current === -1 || current === inForce) return undefined;
  return current < inForce ? KafkaErrorCode.FENCED_LEADER_EPOCH : KafkaErrorCode.UNKNOWN_LEADER_EPOCH;
}

/** A coded error from the log or the topics, as the Kafka error code the catalog gives it; anything else is UNKNOWN_SERVER_ERROR. */
export function kafkaErrorOf(err: unknown): KafkaErrorCode {
  if (!isBulwarkError(err)) return KafkaErrorCode.UNKNOWN_SERVER_ERROR;
  return (ERRORS[err.code] as ErrorSpec).kafka ?? KafkaErrorCode.UNKNOWN_SERVER_ERROR;
}

/** What the Kafka listeners need from the broker: the data plane, security, offsets and waits for data. */
export interface KafkaListenerContext extends BrokerCore {
  readonly security: BrokerSecurity;
  readonly store: { readonly offsets: OffsetStore };
  readonly notifier: AppendWaiters;
  /** The broker's logger; the listener logs through its `kafka` child. */
  readonly logger: Logger;
  onStop(close: () => Promise<void> | void): void;
}

export class KafkaHandlers {
  readonly #broker: KafkaListenerContext;
  readonly groups: GroupCoordinator;
  #nextProducerId: number;
  /** Fetch reads, returned once the response is encoded (it copies them). */
  readonly #reads = new BufferPool(READ_BUFFER_BYTES, READ_BUFFER_POOL);
  /** Fetch responses (one read buffer per partition, and framing), up to 8 partitions' worth pooled; the connection returns each once the socket has written it. */
  readonly responses = new BufferPool(READ_BUFFER_BYTES + 64 * 1024, READ_BUFFER_POOL, 4);
  /** Copies of large Produce frames, shared by every connection; each returns once its handler settles (connection.ts). */
  readonly #produceFrames: SizeClassPool;
  readonly #directFrames = new ByteBudget(DIRECT_FRAME_BUDGET_BYTES);
  /** What DescribeConfigs reports for a topic config the topic does not set: built once, from the broker's config. */
  readonly #topicConfigDefaults: ReadonlyMap<string, string>;
  /** The per-record limits (key, header count and size), or undefined when none is set. */
  readonly #recordLimits: RecordLimitCheck | undefined;
  readonly #log: Logger;

  constructor(broker: KafkaListenerContext) {
    this.#broker = broker;
    this.#log = broker.logger.child({ component: 'kafka' });
    this.#produceFrames = new SizeClassPool(POOLED_FRAME_BYTES, broker.config.limits.maxRequestBytes, PRODUCE_FRAME_POOL, PRODUCE_FRAME_POOL_BYTES);
    this.groups = new GroupCoordinator(broker.store.offsets, {
      initialRebalanceDelayMs: broker.config.groups.initialRebalanceDelayMs,
      minSessionTimeoutMs: broker.config.groups.minSessionTimeoutMs,
      maxSessionTimeoutMs: broker.config.groups.maxSessionTimeoutMs,
    });
    this.#topicConfigDefaults = topicConfigDefaults(broker.config);
    this.#recordLimits = compileRecordLimits(broker.config.limits, broker.config.limits.maxRequestBytes);
    // Producer ids unique across restarts without persisting a counter (they start from the
    // clock), and across the brokers of a cluster: each hands out only the ids congruent to its
    // own id modulo PRODUCER_ID_STRIDE, so two brokers never give one id to two producers that
    // then write to one partition (whose duplicate check would drop one's batches).
    this.#nextProducerId = Math.floor((Date.now() * 1000) / PRODUCER_ID_STRIDE) * PRODUCER_ID_STRIDE + (broker.config.brokerId % PRODUCER_ID_STRIDE);
  }

  /** Open sessions of every Kafka listener, for closing the revoked. */
  readonly sessions = new Set<KafkaSession>();

  /**
   * A new connection on a listener: admission, then the identity the connection itself carries
   * (certificate, anonymous). `socket` is the accepted socket, or a maker of one that reads
   * directly (direct-socket.ts).
   */
  accept(listener: KafkaListenerConfig & { name: string }, socket: Socket | ((reads: DirectReads) => Socket)): void {
    const b = this.#broker;
    const conn: KafkaConnection = new KafkaConnection(socket, (frame) => this.handle(frame, session), {
      maxFrameBytes: b.config.limits.maxRequestBytes,
      onProtocolViolation: () => b.metrics.protocolErrors.inc(),
      onWritten: (bytes) => this.responses.release(bytes),
      producePool: this.#produceFrames,
      directFrames: this.#directFrames,
      // Before login nothing is read ahead: an unauthenticated client would get the broker to
      // allocate up to maxRequestBytes for six bytes sent.
      mayReadAhead: () => session.principal !== undefined,
      ...(b.config.limits.connectionsMaxIdleMs !== null ? { idleTimeoutMs: b.config.limits.connectionsMaxIdleMs } : {}),
      onIdle: () => {
        b.metrics.idleConnectionsClosed.inc({ listener: listener.name });
        this.#log.info({ listener: listener.name, user: session.principal?.user, idleMs: b.config.limits.connectionsMaxIdleMs }, 'closed an idle connection');
      },
    });
    const session: KafkaSession = new KafkaSession(listener, conn);
    const refused = b.security.admit(session);
    if (refused) {
      conn.close();
      return;
    }
    this.sessions.add(session);
    b.metrics.connections.inc({ listener: listener.name });
    // An unauthenticated connection holds a slot of the connection caps: it gets a deadline.
    const deadline = setTimeout(() => {
      if (!session.principal) conn.close();
    }, b.config.auth.authenticationTimeoutMs);
    deadline.unref();
    conn.socket.on('close', () => {
      clearTimeout(deadline);
      this.sessions.delete(session);
      b.security.released(session);
      b.metrics.connections.dec({ listener: listener.name });
    });
    b.security.connectionIdentity(session, conn.socket as TLSSocket);
  }

  /** Closes the sessions whose principal the policy in force no longer accepts (deleted user, revoked or expired token). */
  closeRevoked(): void {
    for (const session of this.sessions) {
      const reason = this.#broker.security.revoked(session);
      if (reason) {
        this.sessions.delete(session);
        session.connection.close();
      }
    }
  }

  /** Handles one request frame; null means no response (Produce with acks=0). */
  async handle(frame: Buffer, session: KafkaSession): Promise<Buffer | null> {
    let req: DecodedRequest;
    try {
      req = decodeRequest(frame);
    } catch (err) {
      if (isProtocolError(err, ProtocolErrorKind.UnsupportedVersion) && err.header?.apiKey === ApiKey.ApiVersions && err.header.correlationId !== undefined) {
        return apiVersionsFallback(err.header.correlationId);
      }
      this.#broker.metrics.protocolErrors.inc();
      throw err; // the connection closes
    }
    const principal = session.principal;
    if (!principal && !BEFORE_AUTHENTICATION.has(req.apiKey)) {
      // Kafka closes a connection that skips authentication; so do we, before touching anything.
      throw new BulwarkError('BWK_ERR_KAFKA_REQUEST_BEFORE_AUTHENTICATION', { api: API_NAMES[req.apiKey] ?? String(req.apiKey) });
    }
    if (session.sessionExpiresAt !== undefined && req.apiKey !== ApiKey.SaslHandshake && req.apiKey !== ApiKey.SaslAuthenticate && this.#broker.security.saslHooks.now() >= session.sessionExpiresAt) {
      // KIP-368: the login's lifetime ended without a re-authentication; Kafka closes here too.
      this.#broker.security.sessionExpired(session);
      throw new BulwarkError('BWK_ERR_KAFKA_SESSION_EXPIRED', { api: API_NAMES[req.apiKey] ?? String(req.apiKey) });
    }
    const api = API_NAMES[req.apiKey] ?? String(req.apiKey);
    const end = this.#broker.metrics.requestSeconds.startTimer({ api });
    try {
      const security = this.#broker.security;
      let verdict = Verdict.ALLOW_NOTHING_ASKED;
      let throttleMs = 0;
      if (principal) {
        const permissions = requiredPermissions(req, this.#permissionContext);
        if (permissions.length > 0) verdict = new Verdict(permissions, security.authorize(session, permissions));
        throttleMs = security.chargeRequest(principal);
        if (req.apiKey === ApiKey.Produce) throttleMs = Math.max(throttleMs, this.#chargeProduce(session, req.body, verdict));
      }
      const out = await this.#dispatch(req, session, verdict, throttleMs);
      this.#broker.metrics.requests.inc({ api, error: 'none' });
      return out;
    } catch (err) {
      // The connection closes; a coded error is the client's doing, anything else is a bug to find.
      if (!isBulwarkError(err)) this.#log.error({ err, api, correlationId: req.header.correlationId }, 'request failed; connection closed');
      throw err;
    } finally {
      end();
    }
  }

  /** A partition's error code; an uncoded error is logged, as the client learns only UNKNOWN_SERVER_ERROR. */
  #errorCodeOf(err: unknown, api: string, topic: string, partition: number): KafkaErrorCode {
    if (!isBulwarkError(err)) this.#log.error({ err, api, topic, partition }, 'partition request failed');
    return kafkaErrorOf(err);
  }

  #chargeProduce(session: KafkaSession, body: ProduceRequest, verdict: Verdict): number {
    let throttle = 0;
    for (const t of body.topicData) {
      if (!verdict.allows('topic', t.name, 'write')) continue;
      let bytes = 0;
      for (const p of t.partitionData) bytes += p.records?.length ?? 0;
      throttle = Math.max(throttle, this.#broker.security.chargeProduce(session.principal!, t.name, bytes));
    }
    return throttle;
  }

  readonly #permissionContext: PermissionContext = {
    topicNames: () => this.#broker.cluster.topics.map((t) => t.name),
    groupIds: () => this.groups.listGroups({ statesFilter: [] }).groups.map((g) => g.groupId),
  };

  async #dispatch(req: DecodedRequest, session: KafkaSession, verdict: Verdict, t: number): Promise<Buffer | null> {
    const h = req.header;
    // A throttled client gets its answer late, with the delay in throttle_time_ms, which every
    // client honours by waiting before its next request (Kafka's behaviour before KIP-219).
    if (t > 0) {
      this.#broker.metrics.throttledSeconds.inc(t / 1000);
      await new Promise((resolve) => setTimeout(resolve, t));
    }
    switch (req.apiKey) {
      case ApiKey.ApiVersions:
        return encodeResponse(req.header, { errorCode: KafkaErrorCode.NONE, apiKeys: advertisedApiVersions(), throttleTimeMs: 0 });
      case ApiKey.Metadata:
        return encodeResponse(req.header, { ...this.#metadata(req.body, h.apiVersion, verdict, session), throttleTimeMs: t });
      case ApiKey.Produce: {
        const body = await this.#produce(req.body, verdict, session);
        return req.body.acks === 0 ? null : encodeResponse(req.header, { ...body, throttleTimeMs: t });
      }
      case ApiKey.Fetch: {
        // Records are read into pooled buffers and copied into the response, after which the
        // buffers go back: a fresh 1 MiB read buffer per fetch made consume GC-bound (bench/broker.ts).
        const borrowed: Buffer[] = [];
        try {
          const body = await this.#fetch(req.body, borrowed, verdict);
          // Fetch bytes are known only now: the throttle they earn delays this answer.
          const fetchThrottle = this.#broker.security.chargeFetch(session.principal!, body.responses);
          if (fetchThrottle > t) await new Promise((resolve) => setTimeout(resolve, fetchThrottle - t));
          return encodeResponse(req.header, { ...body, throttleTimeMs: Math.max(t, fetchThrottle) }, (size) => this.responses.take(size));
        } finally {
          for (const b of borrowed) this.#reads.release(b);
        }
      }
      case ApiKey.ListOffsets:
        return encodeResponse(req.header, { ...this.#listOffsets(req.body, verdict), throttleTimeMs: t });
      case ApiKey.CreateTopics:
        return encodeResponse(req.header, { ...(this.#broker.topics.clustered ? await this.#forwardCreateTopics(req.body, verdict, session) : this.#createTopics(req.body, verdict, session)), throttleTimeMs: t });
      case ApiKey.DeleteTopics:
        return encodeResponse(req.header, { ...(await (this.#broker.topics.clustered ? this.#forwardDeleteTopics(req.body, verdict, session) : this.#deleteTopics(req.body, verdict, session))), throttleTimeMs: t });
      case ApiKey.DescribeConfigs:
        return encodeResponse(req.header, { ...this.#describeConfigs(req.body, verdict), throttleTimeMs: t });
      case ApiKey.FindCoordinator: {
        const allowed = req.body.keyType === 1 ? verdict.allows('transactionalId', req.body.key, 'describe') : verdict.allows('group', req.body.key, 'describe');
        if (!allowed) {
          const errorCode = req.body.keyType === 1 ? KafkaErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED : KafkaErrorCode.GROUP_AUTHORIZATION_FAILED;
          return encodeResponse(req.header, { throttleTimeMs: t, errorCode, errorMessage: null, nodeId: -1, host: '', port: -1 });
        }
        return encodeResponse(req.header, { ...this.#findCoordinator(req.body.key, session), throttleTimeMs: t });
      }
      case ApiKey.InitProducerId: {
        if (req.body.transactionalId !== null && !verdict.allows('transactionalId', req.body.transactionalId, 'write')) {
          return encodeResponse(req.header, { throttleTimeMs: t, errorCode: KafkaErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, producerId: -1, producerEpoch: -1 });
        }
        return encodeResponse(req.header, { throttleTimeMs: t, errorCode: KafkaErrorCode.NONE, producerId: (this.#nextProducerId += PRODUCER_ID_STRIDE) - PRODUCER_ID_STRIDE, producerEpoch: 0 });
      }
      case ApiKey.JoinGroup: {
        if (!verdict.allows('group', req.body.groupId, 'read')) {
          return encodeResponse(req.header, { throttleTimeMs: t, errorCode: KafkaErrorCode.GROUP_AUTHORIZATION_FAILED, generationId: -1, protocolName: '', leader: '', memberId: '', members: [] });
        }
        if (this.#notCoordinator(req.body.groupId)) {
          return encodeResponse(req.header, { throttleTimeMs: t, errorCode: KafkaErrorCode.NOT_COORDINATOR, generationId: -1, protocolName: '', leader: '', memberId: '', members: [] });
        }
        if (!session.consuming && !this.#broker.security.claimConsumer(session)) {
          // The user is at its maxConsumers: Kafka's "group is full" is the closest answer clients know.
          return encodeResponse(req.header, { throttleTimeMs: t, errorCode: KafkaErrorCode.GROUP_MAX_SIZE_REACHED, generationId: -1, protocolName: '', leader: '', memberId: '', members: [] });
        }
        const r = await this.groups.joinGroup(req.body, { clientId: h.clientId ?? '', clientHost: session.ip, requireKnownMemberId: h.apiVersion >= 4 });
        return encodeResponse(req.header, { throttleTimeMs: t, ...r });
      }
      case ApiKey.SyncGroup:
        if (!verdict.allows('group', req.body.groupId, 'read')) return encodeResponse(req.header, { throttleTimeMs: t, errorCode: KafkaErrorCode.GROUP_AUTHORIZATION_FAILED, assignment: EMPTY });
        if (this.#notCoordinator(req.body.groupId)) return encodeResponse(req.header, { throttleTimeMs: t, errorCode: KafkaErrorCode.NOT_COORDINATOR, assignment: EMPTY });
        return encodeResponse(req.header, { throttleTimeMs: t, ...(await this.groups.syncGroup(req.body)) });
      case ApiKey.Heartbeat:
        if (!verdict.allows('group', req.body.groupId, 'read')) return encodeResponse(req.header, { throttleTimeMs: t, errorCode: KafkaErrorCode.GROUP_AUTHORIZATION_FAILED });
        if (this.#notCoordinator(req.body.groupId)) return encodeResponse(req.header, { throttleTimeMs: t, errorCode: KafkaErrorCode.NOT_COORDINATOR });
        return encodeResponse(req.header, { throttleTimeMs: t, ...this.groups.heartbeat(req.body) });
      case ApiKey.LeaveGroup:
        if (!verdict.allows('group', req.body.groupId, 'read')) return encodeResponse(req.header, { throttleTimeMs: t, errorCode: KafkaErrorCode.GROUP_AUTHORIZATION_FAILED, members: [] });
        if (this.#notCoordinator(req.body.groupId)) return encodeResponse(req.header, { throttleTimeMs: t, errorCode: KafkaErrorCode.NOT_COORDINATOR, members: [] });
        return encodeResponse(req.header, { throttleTimeMs: t, ...this.groups.leaveGroup(req.body) });
      case ApiKey.OffsetCommit:
        return encodeResponse(req.header, { throttleTimeMs: t, ...(await this.#offsetCommit(req.body, verdict)) });
      case ApiKey.OffsetFetch:
        return encodeResponse(req.header, { throttleTimeMs: t, ...this.#offsetFetch(req.body, verdict) });
      case ApiKey.ListGroups: {
        // In a cluster each broker lists the groups it coordinates, as Kafka's do (admin clients ask every broker).
        const listed = this.groups.listGroups(req.body);
        const all = this.#broker.topics.clustered ? { ...listed, groups: listed.groups.filter((g) => !this.#notCoordinator(g.groupId)) } : listed;
        const seeAll = verdict.allows('cluster', CLUSTER_RESOURCE, 'describe');
        return encodeResponse(req.header, { throttleTimeMs: t, ...all, groups: seeAll ? all.groups : all.groups.filter((g) => verdict.allows('group', g.groupId, 'describe')) });
      }
      case ApiKey.DescribeGroups: {
        const allowed = req.body.groups.filter((g) => verdict.allows('group', g, 'describe') && !this.#notCoordinator(g));
        const described = allowed.length > 0 ? this.groups.describeGroups({ ...req.body, groups: allowed }).groups : [];
        const byId = new Map(described.map((g) => [g.groupId, g]));
        const groups = req.body.groups.map(
          (g) =>
            byId.get(g) ?? {
              errorCode: verdict.allows('group', g, 'describe') ? KafkaErrorCode.NOT_COORDINATOR : KafkaErrorCode.GROUP_AUTHORIZATION_FAILED,
              groupId: g,
              groupState: '',
              protocolType: '',
              protocolData: '',
              members: [],
              authorizedOperations: -2147483648,
            },
        );
        return encodeResponse(req.header, { throttleTimeMs: t, groups });
      }
      case ApiKey.DescribeAcls:
        return encodeResponse(req.header, { throttleTimeMs: t, ...this.#describeAcls(req.body, verdict) });
      case ApiKey.CreateAcls: {
        const result = this.#aclChangeRefusal(verdict, 'CreateAcls');
        return encodeResponse(req.header, { throttleTimeMs: t, results: req.body.creations.map(() => result) });
      }
      case ApiKey.DeleteAcls: {
        const result = this.#aclChangeRefusal(verdict, 'DeleteAcls');
        return encodeResponse(req.header, { throttleTimeMs: t, filterResults: req.body.filters.map(() => ({ ...result, matchingAcls: [] })) });
      }
      case ApiKey.DeleteGroups:
        return encodeResponse(req.header, { throttleTimeMs: t, results: await this.#deleteGroups(req.body, verdict, session) });
      case ApiKey.OffsetDelete:
        return encodeResponse(req.header, { throttleTimeMs: t, ...(await this.#offsetDelete(req.body, verdict)) });
      case ApiKey.SaslHandshake:
        return encodeResponse(req.header, handshake(session, req.body, h.apiVersion));
      case ApiKey.SaslAuthenticate: {
        const answer = await authenticate(session, req.body, this.#broker.security.saslHooks);
        if (answer.close) session.connection.closeAfterWrite();
        return encodeResponse(req.header, answer.body);
      }
    }
  }

  /**
   * Whether a topic exists, creating it when auto-creation is on and the principal may create it.
   * In a cluster the creation is forwarded to the operator and not waited for: the answer is
   * LEADER_NOT_AVAILABLE meanwhile, as Kafka's, and clients retry.
   */
  #topicFor(name: string, allowAutoCreate: boolean, mayCreate: boolean, session: KafkaSession): { ok: true } | { ok: false; errorCode: number } {
    const topics = this.#broker.topics;
    if (topics.topic(name)) return { ok: true };
    if (allowAutoCreate && mayCreate && this.#broker.config.topics.autoCreate && topics.clustered) {
      if (topicNameProblem(name)) return { ok: false, errorCode: KafkaErrorCode.INVALID_TOPIC_EXCEPTION };
      this.#forwardAutoCreate(name, session);
      return { ok: false, errorCode: KafkaErrorCode.LEADER_NOT_AVAILABLE };
    }
    if (allowAutoCreate && mayCreate && this.#broker.config.topics.autoCreate) {
      const created = topics.createTopic(name, this.#broker.config.topics.defaultPartitions);
      if (created.ok) {
        this.#broker.security.topicChanged('created', name, this.#broker.config.topics.defaultPartitions, session.principal);
        return { ok: true };
      }
      return { ok: false, errorCode: created.reason === 'invalid-name' ? KafkaErrorCode.INVALID_TOPIC_EXCEPTION : KafkaErrorCode.UNKNOWN_TOPIC_OR_PARTITION };
    }
    return { ok: false, errorCode: KafkaErrorCode.UNKNOWN_TOPIC_OR_PARTITION };
  }

  /** One forwarded auto-creation per topic name at a time; its outcome is logged (and audited when done). */
  #forwardAutoCreate(name: string, session: KafkaSession): void {
    const b = this.#broker;
    const requests = b.topics.requests!;
    if (requests.creating(name)) return;
    const partitions = b.config.topics.defaultPartitions;
    const principal = session.principal;
    void requests.submit({ op: 'create', topic: name, partitions, replicationFactor: 1, config: {}, principal: principal?.user ?? '' }, AUTO_CREATE_WAIT_MS).then((outcome) => {
      if (outcome.answered) {
        const answer = outcome.answer;
        if (answer.outcome === 'done') {
          b.security.topicChanged('created', name, partitions, principal);
          this.#log.info({ topic: name, partitions, user: principal?.user }, `topic ${name} auto-created by the operator`);
        } else {
          this.#log.warn({ topic: name, errorCode: answer.errorCode }, `the operator refused to auto-create topic ${name}: ${answer.message}`);
        }
      } else if (outcome.reason === 'timeout') {
        this.#log.warn({ topic: name, waitedMs: AUTO_CREATE_WAIT_MS }, `the operator did not answer the auto-creation of topic ${name} within ${AUTO_CREATE_WAIT_MS} ms`);
      }
    });
  }

  #mayCreate(verdict: Verdict, name: string): boolean {
    return verdict.allows('cluster', CLUSTER_RESOURCE, 'create') || verdict.allows('topic', name, 'create');
  }

  #metadata(body: MetadataRequest, version: number, verdict: Verdict, session: KafkaSession) {
    const b = this.#broker;
    // v0: an empty list means all topics; v1+: null means all, empty means none.
    const all = body.topics === null || (version === 0 && body.topics.length === 0);
    // Every topic: only those the principal may describe. Named topics it may not describe get
    // TOPIC_AUTHORIZATION_FAILED whether they exist or not: no existence oracle.
    const names = all ? b.cluster.topics.map((t) => t.name).filter((n) => verdict.allows('topic', n, 'describe')) : body.topics!.map((t) => t.name ?? '');
    const autoCreate = version < 4 || body.allowAutoTopicCreation !== false;
    const topics = names.map((name) => {
      if (!all && !verdict.allows('topic', name, 'describe')) return { errorCode: KafkaErrorCode.TOPIC_AUTHORIZATION_FAILED, name, isInternal: false, partitions: [] };
      const found = all ? ({ ok: true } as const) : this.#topicFor(name, autoCreate, this.#mayCreate(verdict, name), session);
      const topic = b.topics.topic(name);
      if (!found.ok || !topic) return { errorCode: found.ok ? KafkaErrorCode.UNKNOWN_TOPIC_OR_PARTITION : found.errorCode, name, isInternal: false, partitions: [] };
      return {
        errorCode: KafkaErrorCode.NONE,
        name,
        isInternal: false,
        partitions: topic.partitions.map((p) => ({
          errorCode: KafkaErrorCode.NONE,
          partitionIndex: p.partition,
          leaderId: p.leader,
          leaderEpoch: p.leaderEpoch,
          replicaNodes: p.replicas,
          isrNodes: p.isr,
          offlineReplicas: [],
        })),
      };
    });
    return {
      throttleTimeMs: 0,
      brokers: b.cluster.brokers.map((x) => ({ nodeId: x.id, ...this.#endpoint(x, session), rack: x.rack })),
      clusterId: b.cluster.clusterId,
      controllerId: b.cluster.controllerId,
      topics,
    };
  }

  /**
   * A broker's address as seen through the listener the client came in on. This broker: that
   * listener's own address. Another broker of the cluster: its host from the ClusterState, and,
   * since every broker of a cluster has the same listeners, the port of this listener; the
   * ClusterState's port is that of the `kafka` listener (which tests, on OS-chosen ports, rely on).
   */
  #endpoint(x: BrokerInfo, session: KafkaSession): { host: string; port: number } {
    const l = session.listener;
    if (x.id === this.#broker.config.brokerId) return { host: l.advertisedHost ?? l.host, port: l.advertisedPort ?? session.localPort };
    if (l.name === 'kafka') return { host: x.host, port: x.port };
    return { host: x.host, port: l.advertisedPort ?? (l.port !== 0 ? l.port : x.port) };
  }

  async #produce(body: ProduceRequest, verdict: Verdict, session: KafkaSession) {
    const b = this.#broker;
    if (body.acks !== 0 && body.acks !== 1 && body.acks !== -1) {
      return {
        responses: body.topicData.map((t) => ({ name: t.name, partitionResponses: t.partitionData.map((p) => ({ index: p.index, errorCode: KafkaErrorCode.INVALID_REQUIRED_ACKS, baseOffset: -1 })) })),
        throttleTimeMs: 0,
      };
    }
    // A connection counts against the user's producer cap from its first produce that may write.
    const mayWrite = body.topicData.some((t) => verdict.allows('topic', t.name, 'write'));
    const producerRefused = mayWrite && !session.producing && !b.security.claimProducer(session);
    const responses = await Promise.all(
      body.topicData.map(async (t) => {
        // Write is checked before existence: an unauthorized client cannot tell missing from forbidden.
        const allowed = verdict.allows('topic', t.name, 'write');
        // Bulwark's own topics (__audit) are written by the broker only, whatever the policy says.
        if (allowed && isInternalTopic(t.name)) {
          return { name: t.name, partitionResponses: t.partitionData.map((p) => ({ index: p.index, errorCode: KafkaErrorCode.INVALID_TOPIC_EXCEPTION, baseOffset: -1, errorMessage: 'internal topics are written by the broker only' })) };
        }
        const topic = allowed && !producerRefused ? this.#topicFor(t.name, true, this.#mayCreate(verdict, t.name), session) : undefined;
        const partitionResponses = await Promise.all(
          t.partitionData.map(async (p) => {
            if (!allowed) return { index: p.index, errorCode: KafkaErrorCode.TOPIC_AUTHORIZATION_FAILED, baseOffset: -1 };
            if (producerRefused) return { index: p.index, errorCode: KafkaErrorCode.THROTTLING_QUOTA_EXCEEDED, baseOffset: -1, errorMessage: 'this user has reached its maximum number of producers' };
            if (!topic!.ok) return { index: p.index, errorCode: topic!.errorCode, baseOffset: -1 };
            try {
              if (p.records) this.#recordLimits?.(p.records);
              const r = await b.produce(t.name, p.index, p.records ?? EMPTY);
              return { index: p.index, errorCode: KafkaErrorCode.NONE, baseOffset: r.baseOffset, logStartOffset: b.topics.partition(t.name, p.index)?.logStartOffset ?? -1 };
            } catch (err) {
              return { index: p.index, errorCode: this.#errorCodeOf(err, 'Produce', t.name, p.index), baseOffset: -1, errorMessage: isBulwarkError(err) ? err.message : null };
            }
          }),
        );
        return { name: t.name, partitionResponses };
      }),
    );
    return { responses, throttleTimeMs: 0 };
  }

  #borrow(size: number, borrowed: Buffer[]): Buffer | undefined {
    if (size > READ_BUFFER_BYTES) return undefined; // rare large reads allocate their own
    const buf = this.#reads.take(READ_BUFFER_BYTES);
    borrowed.push(buf);
    return buf;
  }

  async #fetch(body: FetchRequest, borrowed: Buffer[], verdict: Verdict) {
    const b = this.#broker;
    let budget = body.maxBytes > 0 ? body.maxBytes : Number.MAX_SAFE_INTEGER;
    const readAll = async () => {
      let total = 0;
      const responses = [];
      for (const t of body.topics) {
        const partitions = [];
        const allowed = verdict.allows('topic', t.topic, 'read');
        for (const p of t.partitions) {
          const base = { partitionIndex: p.partition, highWatermark: -1, lastStableOffset: -1, logStartOffset: -1, abortedTransactions: [], preferredReadReplica: -1, records: EMPTY };
          if (!allowed) {
            partitions.push({ ...base, errorCode: KafkaErrorCode.TOPIC_AUTHORIZATION_FAILED });
            continue;
          }
          // One Map lookup and an array index (topics.ts, "Routing"): the leader, its epoch, the open log.
          const route = b.topics.route(t.topic, p.partition);
          if (!route) {
            partitions.push({ ...base, errorCode: KafkaErrorCode.UNKNOWN_TOPIC_OR_PARTITION });
            continue;
          }
          const fenced = leaderEpochError(p.currentLeaderEpoch, route.leaderEpoch);
          if (fenced !== undefined || !route.led) {
            partitions.push({ ...base, errorCode: fenced ?? KafkaErrorCode.NOT_LEADER_OR_FOLLOWER });
            continue;
          }
          const log = route.log;
          try {
            // Kafka returns at least one batch even past maxBytes, but only for the first partition with data.
            const max = Math.min(p.partitionMaxBytes, total === 0 ? Math.max(budget, 1) : budget);
            const r = max > 0 ? await b.fetch(t.topic, p.partition, p.fetchOffset, max, 0, this.#borrow(max, borrowed)) : await b.fetch(t.topic, p.partition, p.fetchOffset, 1).then((x) => ({ ...x, records: EMPTY }));
            total += r.records.length;
            budget -= r.records.length;
            partitions.push({ ...base, errorCode: KafkaErrorCode.NONE, highWatermark: r.highWatermark, lastStableOffset: r.highWatermark, logStartOffset: r.logStartOffset, records: r.records });
          } catch (err) {
            partitions.push({ ...base, errorCode: this.#errorCodeOf(err, 'Fetch', t.topic, p.partition), highWatermark: log.nextOffset, lastStableOffset: log.nextOffset, logStartOffset: log.logStartOffset });
          }
        }
        responses.push({ topic: t.topic, partitions });
      }
      return { total, responses };
    };
    let result = await readAll();
    if (result.total < Math.max(body.minBytes, 1) && body.maxWaitMs > 0) {
      const keys = body.topics.filter((t) => verdict.allows('topic', t.topic, 'read')).flatMap((t) => t.partitions.map((p) => `${t.topic}\0${p.partition}`));
      await b.notifier.wait(keys, Math.min(body.maxWaitMs, b.config.limits.maxFetchWaitMs));
      budget = body.maxBytes > 0 ? body.maxBytes : Number.MAX_SAFE_INTEGER;
      result = await readAll();
    }
    return { throttleTimeMs: 0, errorCode: KafkaErrorCode.NONE, sessionId: 0, responses: result.responses };
  }

  #listOffsets(body: ListOffsetsRequest, verdict: Verdict) {
    const b = this.#broker;
    return {
      throttleTimeMs: 0,
      topics: body.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) => {
          if (!verdict.allows('topic', t.name, 'describe')) return { partitionIndex: p.partitionIndex, errorCode: KafkaErrorCode.TOPIC_AUTHORIZATION_FAILED, oldStyleOffsets: [], timestamp: -1, offset: -1, leaderEpoch: -1 };
          const route = b.topics.route(t.name, p.partitionIndex);
          if (!route) return { partitionIndex: p.partitionIndex, errorCode: KafkaErrorCode.UNKNOWN_TOPIC_OR_PARTITION, oldStyleOffsets: [], timestamp: -1, offset: -1, leaderEpoch: -1 };
          const fenced = leaderEpochError(p.currentLeaderEpoch, route.leaderEpoch);
          if (fenced !== undefined || !route.led) return { partitionIndex: p.partitionIndex, errorCode: fenced ?? KafkaErrorCode.NOT_LEADER_OR_FOLLOWER, oldStyleOffsets: [], timestamp: -1, offset: -1, leaderEpoch: -1 };
          try {
            const spec = p.timestamp === -1 ? 'latest' : p.timestamp === -2 ? 'earliest' : { timestamp: p.timestamp };
            const offset = route.log.listOffset(spec) ?? -1;
            return { partitionIndex: p.partitionIndex, errorCode: KafkaErrorCode.NONE, oldStyleOffsets: offset >= 0 ? [offset] : [], timestamp: -1, offset, leaderEpoch: route.leaderEpoch };
          } catch (err) {
            return { partitionIndex: p.partitionIndex, errorCode: this.#errorCodeOf(err, 'ListOffsets', t.name, p.partitionIndex), oldStyleOffsets: [], timestamp: -1, offset: -1, leaderEpoch: -1 };
          }
        }),
      })),
    };
  }

  #createTopics(body: CreateTopicsRequest, verdict: Verdict, session: KafkaSession) {
    const b = this.#broker;
    return {
      throttleTimeMs: 0,
      topics: body.topics.map((t) => {
        const fail = (errorCode: number, errorMessage: string | null) => ({ name: t.name, errorCode, errorMessage });
        if (!this.#mayCreate(verdict, t.name)) return fail(KafkaErrorCode.TOPIC_AUTHORIZATION_FAILED, null);
        if (t.replicationFactor > b.cluster.brokers.length) return fail(KafkaErrorCode.INVALID_REPLICATION_FACTOR, `replication factor ${t.replicationFactor} is larger than the ${b.cluster.brokers.length} broker(s)`);
        if (t.assignments.length > 0) return fail(KafkaErrorCode.INVALID_REQUEST, 'manual replica assignments are not supported; give numPartitions');
        const partitions = t.numPartitions === -1 ? b.config.topics.defaultPartitions : t.numPartitions;
        const config = Object.fromEntries(t.configs.filter((c) => c.value !== null).map((c) => [c.name, c.value as string]));
        const r = b.topics.createTopic(t.name, partitions, config, body.validateOnly);
        if (r.ok) {
          if (!body.validateOnly) b.security.topicChanged('created', t.name, partitions, session.principal);
          return { name: t.name, errorCode: KafkaErrorCode.NONE, errorMessage: null };
        }
        return fail(createTopicErrorCode[r.reason], r.message);
      }),
    };
  }

  /**
   * CreateTopics in a cluster: authorized and validated here as standalone (validateOnly is
   * answered here), then forwarded to the operator (topic-requests.ts), whose answer is awaited
   * within the request's timeout, and then a ClusterState showing the topic.
   */
  async #forwardCreateTopics(body: CreateTopicsRequest, verdict: Verdict, session: KafkaSession) {
    const b = this.#broker;
    const deadline = Date.now() + Math.max(0, body.timeoutMs);
    const topics = await Promise.all(
      body.topics.map(async (t) => {
        const fail = (errorCode: number, errorMessage: string | null) => ({ name: t.name, errorCode, errorMessage });
        if (!this.#mayCreate(verdict, t.name)) return fail(KafkaErrorCode.TOPIC_AUTHORIZATION_FAILED, null);
        // -1: the broker's default, which is 1 (no replication yet).
        const replicationFactor = t.replicationFactor === -1 ? 1 : t.replicationFactor;
        if (replicationFactor < 1 || replicationFactor > b.cluster.brokers.length) return fail(KafkaErrorCode.INVALID_REPLICATION_FACTOR, `replication factor ${replicationFactor} must be 1 to the ${b.cluster.brokers.length} broker(s) of the cluster`);
        if (t.assignments.length > 0) return fail(KafkaErrorCode.INVALID_REQUEST, 'manual replica assignments are not supported; give numPartitions');
        const partitions = t.numPartitions === -1 ? b.config.topics.defaultPartitions : t.numPartitions;
        const config = Object.fromEntries(t.configs.filter((c) => c.value !== null).map((c) => [c.name, c.value as string]));
        const r = b.topics.validateTopic(t.name, partitions, config);
        if (!r.ok) return fail(createTopicErrorCode[r.reason], r.message);
        if (body.validateOnly) return { name: t.name, errorCode: KafkaErrorCode.NONE, errorMessage: null };
        const outcome = await b.topics.requests!.submit({ op: 'create', topic: t.name, partitions, replicationFactor, config, principal: session.principal?.user ?? '' }, deadline - Date.now());
        if (!outcome.answered) return fail(KafkaErrorCode.REQUEST_TIMED_OUT, outcome.reason === 'stopping' ? 'the broker is stopping' : `the operator did not answer within ${body.timeoutMs} ms; topic ${t.name} was not created`);
        if (outcome.answer.outcome === 'failed') return fail(outcome.answer.errorCode, outcome.answer.message);
        const topicId = outcome.answer.topicId;
        const shown = await b.topics.waitFor((s) => s.topics.some((x) => x.name === t.name && (topicId === undefined || x.id === topicId)), deadline - Date.now());
        if (!shown) return fail(KafkaErrorCode.REQUEST_TIMED_OUT, `the operator created topic ${t.name}, but no cluster state showing it reached this broker within ${body.timeoutMs} ms`);
        b.security.topicChanged('created', t.name, partitions, session.principal);
        return { name: t.name, errorCode: KafkaErrorCode.NONE, errorMessage: null };
      }),
    );
    return { throttleTimeMs: 0, topics };
  }

  /** DeleteTopics in a cluster: authorized here, forwarded to the operator, then awaited until the ClusterState no longer shows the topic. */
  async #forwardDeleteTopics(body: DeleteTopicsRequest, verdict: Verdict, session: KafkaSession) {
    const b = this.#broker;
    const deadline = Date.now() + Math.max(0, body.timeoutMs);
    const responses = await Promise.all(
      body.topicNames.map(async (name) => {
        if (!verdict.allows('topic', name, 'delete')) return { name, errorCode: KafkaErrorCode.TOPIC_AUTHORIZATION_FAILED };
        if (isInternalTopic(name)) return { name, errorCode: KafkaErrorCode.INVALID_TOPIC_EXCEPTION };
        if (!b.cluster.topics.some((x) => x.name === name)) return { name, errorCode: KafkaErrorCode.UNKNOWN_TOPIC_OR_PARTITION };
        const outcome = await b.topics.requests!.submit({ op: 'delete', topic: name, principal: session.principal?.user ?? '' }, deadline - Date.now());
        if (!outcome.answered) return { name, errorCode: KafkaErrorCode.REQUEST_TIMED_OUT };
        if (outcome.answer.outcome === 'failed') return { name, errorCode: outcome.answer.errorCode };
        const gone = await b.topics.waitFor((s) => !s.topics.some((x) => x.name === name), deadline - Date.now());
        if (!gone) return { name, errorCode: KafkaErrorCode.REQUEST_TIMED_OUT };
        b.security.topicChanged('deleted', name, 0, session.principal);
        return { name, errorCode: KafkaErrorCode.NONE };
      }),
    );
    return { throttleTimeMs: 0, responses };
  }

  /** The policy in force as Kafka ACL bindings (acl-bindings.ts), for principals that may describe the cluster. */
  #describeAcls(body: DescribeAclsRequest, verdict: Verdict) {
    if (!verdict.allows('cluster', CLUSTER_RESOURCE, 'describe')) return { errorCode: KafkaErrorCode.CLUSTER_AUTHORIZATION_FAILED, errorMessage: null, resources: [] };
    const invalid = invalidFilter(body);
    if (invalid !== undefined) return { errorCode: KafkaErrorCode.INVALID_REQUEST, errorMessage: `invalid ACL filter: ${invalid}`, resources: [] };
    const resources = describeAcls(this.#broker.security.policy.snapshot.rules, body);
    return { errorCode: KafkaErrorCode.NONE, errorMessage: null, resources: resources.map((r) => ({ type: r.resourceType, name: r.resourceName, patternType: r.patternType, acls: r.acls })) };
  }

  /** CreateAcls and DeleteAcls change nothing: grants are custom resources. Who may not alter the cluster learns only that. */
  #aclChangeRefusal(verdict: Verdict, api: 'CreateAcls' | 'DeleteAcls') {
    if (!verdict.allows('cluster', CLUSTER_RESOURCE, 'alter')) return { errorCode: KafkaErrorCode.CLUSTER_AUTHORIZATION_FAILED, errorMessage: null };
    const refusal = new BulwarkError('BWK_ERR_KAFKA_ACLS_READ_ONLY', { api });
    return { errorCode: kafkaErrorOf(refusal), errorMessage: refusal.message };
  }

  async #deleteGroups(body: DeleteGroupsRequest, verdict: Verdict, session: KafkaSession) {
    const allowed = body.groupsNames.filter((g) => verdict.allows('group', g, 'delete') && !this.#notCoordinator(g));
    const results = allowed.length > 0 ? await this.groups.deleteGroups(allowed) : [];
    const deleted = results.filter((r) => r.errorCode === KafkaErrorCode.NONE).map((r) => r.groupId);
    if (deleted.length > 0) this.#log.info({ user: session.principal?.user, groups: deleted }, 'consumer groups deleted');
    let next = 0;
    // In the request's order; allowed groups' answers come back in theirs.
    return body.groupsNames.map((groupId) =>
      !verdict.allows('group', groupId, 'delete') ? { groupId, errorCode: KafkaErrorCode.GROUP_AUTHORIZATION_FAILED } : this.#notCoordinator(groupId) ? { groupId, errorCode: KafkaErrorCode.NOT_COORDINATOR } : results[next++]!,
    );
  }

  async #offsetDelete(body: OffsetDeleteRequest, verdict: Verdict) {
    if (!verdict.allows('group', body.groupId, 'delete')) return { errorCode: KafkaErrorCode.GROUP_AUTHORIZATION_FAILED, topics: [] };
    if (this.#notCoordinator(body.groupId)) return { errorCode: KafkaErrorCode.NOT_COORDINATOR, topics: [] };
    // Kafka's order: read on the topic first (no existence oracle), then the topic must exist.
    const refused = (name: string) => (!verdict.allows('topic', name, 'read') ? KafkaErrorCode.TOPIC_AUTHORIZATION_FAILED : !this.#broker.topics.topic(name) ? KafkaErrorCode.UNKNOWN_TOPIC_OR_PARTITION : undefined);
    const asked = body.topics.filter((t) => refused(t.name) === undefined);
    const r = await this.groups.offsetDelete({ groupId: body.groupId, topics: asked });
    if (r.errorCode !== KafkaErrorCode.NONE) return r;
    const answered = new Map(r.topics.map((x) => [x.name, x]));
    return {
      errorCode: KafkaErrorCode.NONE,
      topics: body.topics.map((x) => {
        const code = refused(x.name);
        return code === undefined ? answered.get(x.name)! : { name: x.name, partitions: x.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: code })) };
      }),
    };
  }

  async #deleteTopics(body: DeleteTopicsRequest, verdict: Verdict, session: KafkaSession) {
    const responses = [];
    for (const name of body.topicNames) {
      if (!verdict.allows('topic', name, 'delete')) {
        responses.push({ name, errorCode: KafkaErrorCode.TOPIC_AUTHORIZATION_FAILED });
        continue;
      }
      if (isInternalTopic(name)) {
        responses.push({ name, errorCode: KafkaErrorCode.INVALID_TOPIC_EXCEPTION });
        continue;
      }
      const deleted = await this.#broker.topics.deleteTopic(name);
      if (deleted) this.#broker.security.topicChanged('deleted', name, 0, session.principal);
      responses.push({ name, errorCode: deleted ? KafkaErrorCode.NONE : KafkaErrorCode.UNKNOWN_TOPIC_OR_PARTITION });
    }
    return { throttleTimeMs: 0, responses };
  }

  #describeConfigs(body: DescribeConfigsRequest, verdict: Verdict) {
    const b = this.#broker;
    const defaults = this.#topicConfigDefaults;
    return {
      throttleTimeMs: 0,
      results: body.resources.map((r) => {
        const base = { resourceType: r.resourceType, resourceName: r.resourceName };
        if (r.resourceType === 2 && !verdict.allows('topic', r.resourceName, 'describeConfigs')) return { ...base, errorCode: KafkaErrorCode.TOPIC_AUTHORIZATION_FAILED, errorMessage: null, configs: [] };
        if (r.resourceType !== 2 && !verdict.allows('cluster', CLUSTER_RESOURCE, 'describeConfigs')) return { ...base, errorCode: KafkaErrorCode.CLUSTER_AUTHORIZATION_FAILED, errorMessage: null, configs: [] };
        if (r.resourceType !== 2) return { ...base, errorCode: KafkaErrorCode.INVALID_REQUEST, errorMessage: 'only topic configs (resource type 2) are described', configs: [] };
        const topic = b.topics.topic(r.resourceName);
        if (!topic) return { ...base, errorCode: KafkaErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: `topic ${r.resourceName} does not exist`, configs: [] };
        const keys = r.configurationKeys ?? [...TOPIC_CONFIG_KEYS];
        return {
          ...base,
          errorCode: KafkaErrorCode.NONE,
          errorMessage: null,
          configs: keys
            .filter((k) => defaults.has(k))
            .map((name) => {
              const set = Object.hasOwn(topic.config, name) ? topic.config[name] : undefined;
              // configSource: 1 topic config, 5 default broker config.
              return { name, value: set ?? defaults.get(name)!, readOnly: false, isDefault: set === undefined, configSource: set === undefined ? 5 : 1, isSensitive: false, synonyms: [] };
            }),
        };
      }),
    };
  }

  /** The group's (or transactional id's) coordinator from the ClusterState; standalone, this broker. */
  #findCoordinator(key: string, session: KafkaSession) {
    if (this.#broker.topics.awaitsState) return { throttleTimeMs: 0, errorCode: KafkaErrorCode.COORDINATOR_NOT_AVAILABLE, errorMessage: 'no cluster state yet', nodeId: -1, host: '', port: -1 };
    const c = this.#broker.topics.coordinator(key);
    return { throttleTimeMs: 0, errorCode: KafkaErrorCode.NONE, errorMessage: null, nodeId: c.id, ...this.#endpoint(c, session) };
  }

  /** In a cluster, whether another broker coordinates this group: the group APIs then answer NOT_COORDINATOR. */
  #notCoordinator(groupId: string): boolean {
    const topics = this.#broker.topics;
    return topics.clustered && !topics.coordinates(groupId);
  }

  async #offsetCommit(body: OffsetCommitRequest, verdict: Verdict) {
    const denied = (code: number) => ({ topics: body.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: code })) })) });
    if (!verdict.allows('group', body.groupId, 'read')) return denied(KafkaErrorCode.GROUP_AUTHORIZATION_FAILED);
    // The coordinator owns the group's committed offsets (its OffsetStore): no other broker takes them.
    if (this.#notCoordinator(body.groupId)) return denied(KafkaErrorCode.NOT_COORDINATOR);
    const allowed = body.topics.filter((t) => verdict.allows('topic', t.name, 'read'));
    const committed = allowed.length > 0 ? await this.groups.offsetCommit({ ...body, topics: allowed }) : { topics: [] };
    const byName = new Map(committed.topics.map((t) => [t.name, t]));
    return {
      topics: body.topics.map((t) => byName.get(t.name) ?? { name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: KafkaErrorCode.TOPIC_AUTHORIZATION_FAILED })) }),
    };
  }

  #offsetFetch(body: OffsetFetchRequest, verdict: Verdict) {
    const refused = !verdict.allows('group', body.groupId, 'describe') ? KafkaErrorCode.GROUP_AUTHORIZATION_FAILED : this.#notCoordinator(body.groupId) ? KafkaErrorCode.NOT_COORDINATOR : undefined;
    if (refused !== undefined) {
      const code = refused;
      return { errorCode: code, topics: (body.topics ?? []).map((t) => ({ name: t.name, partitions: t.partitionIndexes.map((i) => ({ partitionIndex: i, committedOffset: -1, committedLeaderEpoch: -1, metadata: '', errorCode: code })) })) };
    }
    const r = this.groups.offsetFetch(body);
    return {
      ...r,
      topics: r.topics.flatMap((t) => {
        if (verdict.allows('topic', t.name, 'describe')) return [t];
        // Asked for by name: say it is forbidden; listed from the group's commits: leave it out.
        if (body.topics === null) return [];
        return [{ name: t.name, partitions: t.partitions.map((p) => ({ ...p, committedOffset: -1, metadata: '', errorCode: KafkaErrorCode.TOPIC_AUTHORIZATION_FAILED })) }];
      }),
    };
  }
}

export interface KafkaListeners {
  /** Each listener's server, by name ("kafka" first). */
  servers: Map<string, Server>;
  handlers: KafkaHandlers;
}

/** The broker-wide value of each topic config Bulwark understands (Kafka's names). */
function topicConfigDefaults(config: BrokerConfig): ReadonlyMap<string, string> {
  const { log, limits } = config;
  const never = String(2 ** 53 - 1);
  return new Map([
    ['retention.ms', String(log.retentionMs ?? -1)],
    ['retention.bytes', String(log.retentionBytes ?? -1)],
    ['segment.bytes', String(log.segmentBytes)],
    ['segment.ms', String(log.segmentMs)],
    ['max.message.bytes', String(limits.maxMessageBytes)],
    ['flush.messages', log.flush.mode === 'batch' ? '1' : log.flush.mode === 'messages' ? String(log.flush.messages) : never],
    ['flush.ms', log.flush.mode === 'interval' ? String(log.flush.ms) : never],
  ]);
}

/** Every Kafka listener of the config: `kafka`, then `listeners`. */
export function kafkaListenerConfigs(config: BrokerConfig): (KafkaListenerConfig & { name: string })[] {
  return [{ name: 'kafka', ...config.kafka }, ...config.listeners];
}

/** How long a stopping broker waits for its Kafka connections to write their last answers before cutting them off. */
export const KAFKA_DRAIN_MS = 5_000;

/** Starts the broker's Kafka listeners; resolves once all listen. */
export async function startKafkaListeners(broker: KafkaListenerContext): Promise<KafkaListeners> {
  const handlers = new KafkaHandlers(broker);
  const servers = new Map<string, Server>();
  // Set when the broker stops: a connection whose TLS handshake ends after that is not taken on.
  let stopping = false;
  broker.onStop(async () => {
    stopping = true;
    // Graceful: accept nothing more, let every connection write the answers to the requests it
    // already read (a produce in flight is appended and acknowledged), then close it. A
    // connection still busy after the drain time is cut off.
    const closed = [...servers.values()].map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
    const open = [...handlers.sessions].filter((s) => !s.connection.closed);
    const ended = Promise.all(open.map((s) => new Promise<void>((resolve) => (s.connection.socket.destroyed ? resolve() : s.connection.socket.once('close', () => resolve())))));
    for (const s of open) s.connection.drain();
    // A JoinGroup or SyncGroup parked until the group settles is answered now
    // (COORDINATOR_NOT_AVAILABLE, as Kafka's shutting-down coordinator does), not after the drain time.
    await handlers.groups.close();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([ended, new Promise<void>((resolve) => (timer = setTimeout(resolve, KAFKA_DRAIN_MS)))]);
    clearTimeout(timer);
    for (const s of handlers.sessions) s.connection.close();
    await Promise.all(closed);
  });
  for (const listener of kafkaListenerConfigs(broker.config)) {
    const accept = (socket: Socket) => (stopping ? socket.destroy() : handlers.accept(listener, socket));
    let server: Server;
    if (listener.tls) {
      const log = broker.logger.child({ component: 'kafka', listener: listener.name });
      const tls = new TlsContext(listener.tls, { onError: (err) => log.warn({ err }, 'TLS files not reloaded; still serving the previous certificate') });
      const tlsServer = createTlsServer(tls.serverOptions(), accept);
      // A failed handshake (no client certificate when required, bad version) is the client's problem only.
      tlsServer.on('tlsClientError', () => broker.metrics.protocolErrors.inc());
      tls.attach(tlsServer);
      broker.onStop(() => tls.close());
      server = tlsServer;
    } else {
      // Plaintext: read into the connection's own buffers where possible (direct-socket.ts).
      server = createServer({ pauseOnConnect: DIRECT_READS }, (raw) => {
        if (stopping) return void raw.destroy();
        const direct = directSocket(raw);
        if (direct) return handlers.accept(listener, direct);
        accept(raw);
        raw.resume();
      });
    }
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listener.port, listener.host, () => resolve());
    });
    servers.set(listener.name, server);
  }
  return { servers, handlers };
}
