// The Kafka listener: accepts connections, decodes each request with the protocol codec,
// hands it to its handler, and encodes the answer. Handlers read the ClusterState (Metadata,
// FindCoordinator), the log (Produce, Fetch, ListOffsets), the topic manager (CreateTopics,
// DeleteTopics, DescribeConfigs) and the group coordinator (the group APIs).
//
// A malformed frame, an unknown API or an unsupported version closes that connection only;
// ApiVersions of an unknown version gets Kafka's v0 fallback answer and the connection stays.
import { createServer, type Server, type Socket } from 'node:net';
import { isBulwarkError } from '../../lib/errors.ts';
import type { Broker } from '../broker.ts';
import { BufferPool } from './buffer-pool.ts';
import { KafkaConnection } from './connection.ts';
import { ErrorCode } from './error-codes.ts';
import { GroupCoordinator } from './groups/index.ts';
import {
  advertisedApiVersions,
  ApiKey,
  apiVersionsFallback,
  decodeRequest,
  encodeResponse,
  isProtocolError,
  type DecodedRequest,
  type FetchRequest,
  type ListOffsetsRequest,
  type MetadataRequest,
  type ProduceRequest,
  type CreateTopicsRequest,
  type DeleteTopicsRequest,
  type DescribeConfigsRequest,
} from './protocol/index.ts';
import { TOPIC_CONFIG_KEYS } from '../topics.ts';

const API_NAMES = Object.fromEntries(Object.entries(ApiKey).map(([name, key]) => [key, name])) as Record<number, string>;
const EMPTY = Buffer.alloc(0);
const READ_BUFFER_BYTES = 1 << 20;
const READ_BUFFER_POOL = 16;

/** A coded error from the log or the topics, as the Kafka error code a client understands. */
export function kafkaErrorOf(err: unknown): number {
  if (!isBulwarkError(err)) return ErrorCode.UNKNOWN_SERVER_ERROR;
  switch (err.code) {
    case 'BWK_ERR_LOG_BATCH_INVALID':
      return /exceeds the limit/.test(err.message) ? ErrorCode.MESSAGE_TOO_LARGE : ErrorCode.CORRUPT_MESSAGE;
    case 'BWK_ERR_LOG_OFFSET_OUT_OF_RANGE':
      return ErrorCode.OFFSET_OUT_OF_RANGE;
    case 'BWK_ERR_TOPIC_NOT_FOUND':
    case 'BWK_ERR_PARTITION_NOT_FOUND':
      return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
    case 'BWK_ERR_LOG_PARTITION_FENCED':
    case 'BWK_ERR_LOG_CORRUPT':
    case 'BWK_ERR_LOG_DECRYPT_FAILED':
    case 'BWK_ERR_LOG_KEY_MISSING':
      return ErrorCode.KAFKA_STORAGE_ERROR;
    case 'BWK_ERR_LOG_CLOSED':
      return ErrorCode.NOT_LEADER_OR_FOLLOWER;
    case 'BWK_ERR_PRODUCER_SEQUENCE':
      return ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER;
    case 'BWK_ERR_PRODUCER_FENCED':
      return ErrorCode.INVALID_PRODUCER_EPOCH;
    default:
      return ErrorCode.UNKNOWN_SERVER_ERROR;
  }
}

export class KafkaHandlers {
  readonly #broker: Broker;
  readonly groups: GroupCoordinator;
  #nextProducerId: number;
  /** Fetch reads, returned once the response is encoded (it copies them). */
  readonly #reads = new BufferPool(READ_BUFFER_BYTES, READ_BUFFER_POOL);
  /** Fetch responses; the connection returns each once the socket has written it. */
  readonly responses = new BufferPool(READ_BUFFER_BYTES + 64 * 1024, READ_BUFFER_POOL);

  constructor(broker: Broker) {
    this.#broker = broker;
    this.groups = new GroupCoordinator(broker.store.offsets, {
      initialRebalanceDelayMs: broker.config.groups.initialRebalanceDelayMs,
      minSessionTimeoutMs: broker.config.groups.minSessionTimeoutMs,
      maxSessionTimeoutMs: broker.config.groups.maxSessionTimeoutMs,
    });
    // Producer ids unique across restarts without persisting a counter: start from the clock.
    this.#nextProducerId = Date.now() * 1000;
  }

  /** Handles one request frame; null means no response (Produce with acks=0). */
  async handle(frame: Buffer, socket: Socket): Promise<Buffer | null> {
    let req: DecodedRequest;
    try {
      req = decodeRequest(frame);
    } catch (err) {
      if (isProtocolError(err) && err.header?.apiKey === ApiKey.ApiVersions && err.header.correlationId !== undefined && /UNSUPPORTED_VERSION/.test(err.reason)) {
        return apiVersionsFallback(err.header.correlationId);
      }
      this.#broker.metrics.protocolErrors.inc();
      throw err; // the connection closes
    }
    const api = API_NAMES[req.apiKey] ?? String(req.apiKey);
    const end = this.#broker.metrics.requestSeconds.startTimer({ api });
    try {
      const out = await this.#dispatch(req, socket);
      this.#broker.metrics.requests.inc({ api, error: 'none' });
      return out;
    } finally {
      end();
    }
  }

  async #dispatch(req: DecodedRequest, socket: Socket): Promise<Buffer | null> {
    const h = req.header;
    switch (req.apiKey) {
      case ApiKey.ApiVersions:
        return encodeResponse(req.header, { errorCode: ErrorCode.NONE, apiKeys: advertisedApiVersions(), throttleTimeMs: 0 });
      case ApiKey.Metadata:
        return encodeResponse(req.header, this.#metadata(req.body, h.apiVersion));
      case ApiKey.Produce: {
        const body = await this.#produce(req.body);
        return req.body.acks === 0 ? null : encodeResponse(req.header, body);
      }
      case ApiKey.Fetch: {
        // Records are read into pooled buffers and copied into the response, after which the
        // buffers go back: a fresh 1 MiB read buffer per fetch made consume GC-bound (bench/broker.ts).
        const borrowed: Buffer[] = [];
        try {
          return encodeResponse(req.header, await this.#fetch(req.body, borrowed), (size) => this.responses.take(size));
        } finally {
          for (const b of borrowed) this.#reads.release(b);
        }
      }
      case ApiKey.ListOffsets:
        return encodeResponse(req.header, this.#listOffsets(req.body));
      case ApiKey.CreateTopics:
        return encodeResponse(req.header, this.#createTopics(req.body));
      case ApiKey.DeleteTopics:
        return encodeResponse(req.header, await this.#deleteTopics(req.body));
      case ApiKey.DescribeConfigs:
        return encodeResponse(req.header, this.#describeConfigs(req.body));
      case ApiKey.FindCoordinator:
        return encodeResponse(req.header, this.#findCoordinator());
      case ApiKey.InitProducerId:
        return encodeResponse(req.header, { throttleTimeMs: 0, errorCode: ErrorCode.NONE, producerId: this.#nextProducerId++, producerEpoch: 0 });
      case ApiKey.JoinGroup: {
        const r = await this.groups.joinGroup(req.body, { clientId: h.clientId ?? '', clientHost: socket.remoteAddress ?? '', requireKnownMemberId: h.apiVersion >= 4 });
        return encodeResponse(req.header, { throttleTimeMs: 0, ...r });
      }
      case ApiKey.SyncGroup:
        return encodeResponse(req.header, { throttleTimeMs: 0, ...(await this.groups.syncGroup(req.body)) });
      case ApiKey.Heartbeat:
        return encodeResponse(req.header, { throttleTimeMs: 0, ...this.groups.heartbeat(req.body) });
      case ApiKey.LeaveGroup:
        return encodeResponse(req.header, { throttleTimeMs: 0, ...this.groups.leaveGroup(req.body) });
      case ApiKey.OffsetCommit:
        return encodeResponse(req.header, { throttleTimeMs: 0, ...(await this.groups.offsetCommit(req.body)) });
      case ApiKey.OffsetFetch:
        return encodeResponse(req.header, { throttleTimeMs: 0, ...this.groups.offsetFetch(req.body) });
      case ApiKey.ListGroups:
        return encodeResponse(req.header, { throttleTimeMs: 0, ...this.groups.listGroups(req.body) });
      case ApiKey.DescribeGroups:
        return encodeResponse(req.header, { throttleTimeMs: 0, ...this.groups.describeGroups(req.body) });
      case ApiKey.SaslHandshake:
        // Authentication arrives with the next issue: no mechanism is enabled yet.
        return encodeResponse(req.header, { errorCode: ErrorCode.UNSUPPORTED_SASL_MECHANISM, mechanisms: [] });
      case ApiKey.SaslAuthenticate:
        return encodeResponse(req.header, { errorCode: ErrorCode.ILLEGAL_SASL_STATE, errorMessage: 'no SASL mechanism is enabled on this listener', authBytes: EMPTY, sessionLifetimeMs: 0 });
    }
  }

  #topicFor(name: string, allowAutoCreate: boolean): { ok: true } | { ok: false; errorCode: number } {
    const topics = this.#broker.topics;
    if (topics.topic(name)) return { ok: true };
    if (allowAutoCreate && this.#broker.config.topics.autoCreate) {
      const created = topics.createTopic(name, this.#broker.config.topics.defaultPartitions);
      if (created.ok) return { ok: true };
      return { ok: false, errorCode: created.reason === 'invalid-name' ? ErrorCode.INVALID_TOPIC_EXCEPTION : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION };
    }
    return { ok: false, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION };
  }

  #metadata(body: MetadataRequest, version: number) {
    const b = this.#broker;
    // v0: an empty list means all topics; v1+: null means all, empty means none.
    const all = body.topics === null || (version === 0 && body.topics.length === 0);
    const names = all ? b.cluster.topics.map((t) => t.name) : body.topics!.map((t) => t.name ?? '');
    const autoCreate = version < 4 || body.allowAutoTopicCreation !== false;
    const topics = names.map((name) => {
      const found = all ? ({ ok: true } as const) : this.#topicFor(name, autoCreate);
      const topic = b.topics.topic(name);
      if (!found.ok || !topic) return { errorCode: found.ok ? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION : found.errorCode, name, isInternal: false, partitions: [] };
      return {
        errorCode: ErrorCode.NONE,
        name,
        isInternal: false,
        partitions: topic.partitions.map((p) => ({
          errorCode: ErrorCode.NONE,
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
      brokers: b.cluster.brokers.map((x) => ({ nodeId: x.id, host: x.host, port: x.port, rack: x.rack })),
      clusterId: b.cluster.clusterId,
      controllerId: b.cluster.controllerId,
      topics,
    };
  }

  async #produce(body: ProduceRequest) {
    const b = this.#broker;
    if (body.acks !== 0 && body.acks !== 1 && body.acks !== -1) {
      return {
        responses: body.topicData.map((t) => ({ name: t.name, partitionResponses: t.partitionData.map((p) => ({ index: p.index, errorCode: ErrorCode.INVALID_REQUIRED_ACKS, baseOffset: -1 })) })),
        throttleTimeMs: 0,
      };
    }
    const responses = await Promise.all(
      body.topicData.map(async (t) => {
        const topic = this.#topicFor(t.name, true);
        const partitionResponses = await Promise.all(
          t.partitionData.map(async (p) => {
            if (!topic.ok) return { index: p.index, errorCode: topic.errorCode, baseOffset: -1 };
            try {
              const r = await b.produce(t.name, p.index, p.records ?? EMPTY);
              return { index: p.index, errorCode: ErrorCode.NONE, baseOffset: r.baseOffset, logStartOffset: b.topics.partition(t.name, p.index)?.logStartOffset ?? -1 };
            } catch (err) {
              return { index: p.index, errorCode: kafkaErrorOf(err), baseOffset: -1, errorMessage: isBulwarkError(err) ? err.message : null };
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

  async #fetch(body: FetchRequest, borrowed: Buffer[]) {
    const b = this.#broker;
    let budget = body.maxBytes > 0 ? body.maxBytes : Number.MAX_SAFE_INTEGER;
    const readAll = async () => {
      let total = 0;
      const responses = [];
      for (const t of body.topics) {
        const partitions = [];
        for (const p of t.partitions) {
          const log = b.topics.partition(t.topic, p.partition);
          const base = { partitionIndex: p.partition, highWatermark: -1, lastStableOffset: -1, logStartOffset: -1, abortedTransactions: [], preferredReadReplica: -1, records: EMPTY };
          if (!log) {
            partitions.push({ ...base, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION });
            continue;
          }
          try {
            // Kafka returns at least one batch even past maxBytes, but only for the first partition with data.
            const max = Math.min(p.partitionMaxBytes, total === 0 ? Math.max(budget, 1) : budget);
            const r = max > 0 ? await b.fetch(t.topic, p.partition, p.fetchOffset, max, 0, this.#borrow(max, borrowed)) : await b.fetch(t.topic, p.partition, p.fetchOffset, 1).then((x) => ({ ...x, records: EMPTY }));
            total += r.records.length;
            budget -= r.records.length;
            partitions.push({ ...base, errorCode: ErrorCode.NONE, highWatermark: r.highWatermark, lastStableOffset: r.highWatermark, logStartOffset: r.logStartOffset, records: r.records });
          } catch (err) {
            partitions.push({ ...base, errorCode: kafkaErrorOf(err), highWatermark: log.nextOffset, lastStableOffset: log.nextOffset, logStartOffset: log.logStartOffset });
          }
        }
        responses.push({ topic: t.topic, partitions });
      }
      return { total, responses };
    };
    let result = await readAll();
    if (result.total < Math.max(body.minBytes, 1) && body.maxWaitMs > 0) {
      const keys = body.topics.flatMap((t) => t.partitions.map((p) => `${t.topic}\0${p.partition}`));
      await b.notifier.wait(keys, Math.min(body.maxWaitMs, b.config.limits.maxFetchWaitMs));
      budget = body.maxBytes > 0 ? body.maxBytes : Number.MAX_SAFE_INTEGER;
      result = await readAll();
    }
    return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, sessionId: 0, responses: result.responses };
  }

  #listOffsets(body: ListOffsetsRequest) {
    const b = this.#broker;
    return {
      throttleTimeMs: 0,
      topics: body.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) => {
          const log = b.topics.partition(t.name, p.partitionIndex);
          if (!log) return { partitionIndex: p.partitionIndex, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, oldStyleOffsets: [], timestamp: -1, offset: -1, leaderEpoch: -1 };
          try {
            const spec = p.timestamp === -1 ? 'latest' : p.timestamp === -2 ? 'earliest' : { timestamp: p.timestamp };
            const offset = log.listOffset(spec) ?? -1;
            return { partitionIndex: p.partitionIndex, errorCode: ErrorCode.NONE, oldStyleOffsets: offset >= 0 ? [offset] : [], timestamp: -1, offset, leaderEpoch: 0 };
          } catch (err) {
            return { partitionIndex: p.partitionIndex, errorCode: kafkaErrorOf(err), oldStyleOffsets: [], timestamp: -1, offset: -1, leaderEpoch: -1 };
          }
        }),
      })),
    };
  }

  #createTopics(body: CreateTopicsRequest) {
    const b = this.#broker;
    return {
      throttleTimeMs: 0,
      topics: body.topics.map((t) => {
        const fail = (errorCode: number, errorMessage: string) => ({ name: t.name, errorCode, errorMessage });
        if (t.replicationFactor > b.cluster.brokers.length) return fail(ErrorCode.INVALID_REPLICATION_FACTOR, `replication factor ${t.replicationFactor} is larger than the ${b.cluster.brokers.length} broker(s)`);
        if (t.assignments.length > 0) return fail(ErrorCode.INVALID_REQUEST, 'manual replica assignments are not supported; give numPartitions');
        const partitions = t.numPartitions === -1 ? b.config.topics.defaultPartitions : t.numPartitions;
        const config = Object.fromEntries(t.configs.filter((c) => c.value !== null).map((c) => [c.name, c.value as string]));
        const r = b.topics.createTopic(t.name, partitions, config, body.validateOnly);
        if (r.ok) return { name: t.name, errorCode: ErrorCode.NONE, errorMessage: null };
        const code = { exists: ErrorCode.TOPIC_ALREADY_EXISTS, 'invalid-name': ErrorCode.INVALID_TOPIC_EXCEPTION, 'invalid-partitions': ErrorCode.INVALID_PARTITIONS, 'invalid-config': ErrorCode.INVALID_REQUEST }[r.reason];
        return fail(code, r.message);
      }),
    };
  }

  async #deleteTopics(body: DeleteTopicsRequest) {
    const responses = [];
    for (const name of body.topicNames) {
      const deleted = await this.#broker.topics.deleteTopic(name);
      responses.push({ name, errorCode: deleted ? ErrorCode.NONE : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION });
    }
    return { throttleTimeMs: 0, responses };
  }

  #describeConfigs(body: DescribeConfigsRequest) {
    const b = this.#broker;
    const defaults: Record<string, string> = {
      'retention.ms': String(b.config.log.retentionMs ?? -1),
      'retention.bytes': String(b.config.log.retentionBytes ?? -1),
      'segment.bytes': String(b.config.log.segmentBytes),
      'segment.ms': String(b.config.log.segmentMs),
      'max.message.bytes': String(b.config.limits.maxMessageBytes),
      'flush.messages': b.config.log.flush.mode === 'batch' ? '1' : b.config.log.flush.mode === 'messages' ? String(b.config.log.flush.messages) : String(2 ** 53 - 1),
      'flush.ms': b.config.log.flush.mode === 'interval' ? String(b.config.log.flush.ms) : String(2 ** 53 - 1),
    };
    return {
      throttleTimeMs: 0,
      results: body.resources.map((r) => {
        const base = { resourceType: r.resourceType, resourceName: r.resourceName };
        if (r.resourceType !== 2) return { ...base, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: 'only topic configs (resource type 2) are described', configs: [] };
        const topic = b.topics.topic(r.resourceName);
        if (!topic) return { ...base, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: `topic ${r.resourceName} does not exist`, configs: [] };
        const keys = r.configurationKeys ?? [...TOPIC_CONFIG_KEYS];
        return {
          ...base,
          errorCode: ErrorCode.NONE,
          errorMessage: null,
          configs: keys
            .filter((k) => k in defaults)
            .map((name) => {
              const set = topic.config[name];
              // configSource: 1 topic config, 5 default broker config.
              return { name, value: set ?? defaults[name]!, readOnly: false, isDefault: set === undefined, configSource: set === undefined ? 5 : 1, isSensitive: false, synonyms: [] };
            }),
        };
      }),
    };
  }

  /** Standalone, this broker coordinates every group (and transactional id). */
  #findCoordinator() {
    const self = this.#broker.cluster.brokers.find((x) => x.id === this.#broker.config.brokerId)!;
    return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, errorMessage: null, nodeId: self.id, host: self.host, port: self.port };
  }
}

/** Starts the Kafka listener for a broker; resolves once it listens. */
export async function startKafkaListener(broker: Broker): Promise<Server> {
  const handlers = new KafkaHandlers(broker);
  const connections = new Set<KafkaConnection>();
  const server = createServer((socket) => {
    if (connections.size >= broker.config.limits.maxConnections) return socket.destroy();
    const conn = new KafkaConnection(socket, (frame) => handlers.handle(frame, socket), {
      maxFrameBytes: broker.config.limits.maxRequestBytes,
      onProtocolViolation: () => broker.metrics.protocolErrors.inc(),
      onWritten: (bytes) => handlers.responses.release(bytes),
    });
    connections.add(conn);
    broker.metrics.connections.inc({ listener: 'kafka' });
    socket.on('close', () => {
      connections.delete(conn);
      broker.metrics.connections.dec({ listener: 'kafka' });
    });
  });
  broker.onStop(async () => {
    for (const c of connections) c.close();
    await handlers.groups.close();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(broker.config.kafka.port, broker.config.kafka.host, () => resolve());
  });
  return server;
}
