// A broker process: the log, its topics, the listeners. `bulwark broker` and `bulwark dev` run
// one; tests run several in one process on different ports and data directories.
import type { FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import type { ClusterState } from '../cluster/index.ts';
import { BulwarkError } from '../lib/errors.ts';
import { LogStore, type AppendResult, type FetchResult, type PartitionConfig } from '../log/index.ts';
import type { BrokerConfig } from './config.ts';
import type { BrokerCore } from './core.ts';
import { DataNotifier } from './data-notifier.ts';
import { startHttpServer } from './http/server.ts';
import { AuditLog, FileAuditSink, TopicAuditSink, type AuditSink } from './audit.ts';
import { ensureRootUser, loadServerSecret, withRootUser } from './bootstrap.ts';
import type { KafkaListeners } from './kafka/server.ts';
import { BrokerMetrics } from './metrics.ts';
import { PolicyDirectoryWatcher } from './policy-directory.ts';
import { startInternalListener } from './internal-listener.ts';
import { PolicyStore } from './policy-store.ts';
import { TlsContext } from './tls.ts';
import { BrokerSecurity } from './security.ts';
import { ProducerStates } from './producer-state.ts';
import { TopicManager } from './topics.ts';

/** Starts the Kafka listeners; set by kafka/server.ts so the broker does not import it eagerly in tests of HTTP alone. */
export type KafkaListenerFactory = (broker: Broker) => Promise<KafkaListeners>;

export interface BrokerStartOptions {
  /** Where BULWARK_ROOT_PASSWORD is read from; process.env by default. */
  env?: NodeJS.ProcessEnv;
  /** Operational messages (never secrets); stderr by default. */
  log?: (message: string) => void;
}

export const AUDIT_TOPIC = '__audit';

export class Broker implements BrokerCore {
  readonly config: BrokerConfig;
  readonly metrics: BrokerMetrics;
  readonly store: LogStore;
  readonly topics: TopicManager;
  readonly notifier = new DataNotifier();
  readonly producers = new ProducerStates();
  #http: FastifyInstance | undefined;
  #kafka: KafkaListeners | undefined;
  #security: BrokerSecurity | undefined;
  #internal: FastifyInstance | undefined;
  #sessionTimer: NodeJS.Timeout | undefined;
  /** Set on the start that generated the root password: shown once, then forgotten. */
  generatedRootPassword: string | undefined;
  #retentionTimer: NodeJS.Timeout | undefined;
  #started = false;
  readonly #closers: (() => Promise<void> | void)[] = [];

  private constructor(config: BrokerConfig) {
    this.config = config;
    this.metrics = new BrokerMetrics({ defaultMetrics: true });
    this.store = LogStore.open(config.dataDir);
    const advertisedHost = config.kafka.advertisedHost ?? config.kafka.host;
    this.topics = new TopicManager(this.store, { id: config.brokerId, host: advertisedHost, port: config.kafka.advertisedPort ?? config.kafka.port, rack: null }, config.clusterId, this.partitionDefaults);
  }

  get partitionDefaults(): Partial<PartitionConfig> {
    const l = this.config.log;
    return { segmentBytes: l.segmentBytes, segmentMs: l.segmentMs, retentionMs: l.retentionMs, retentionBytes: l.retentionBytes, flush: l.flush, maxBatchBytes: this.config.limits.maxMessageBytes };
  }

  get cluster(): ClusterState {
    return this.topics.state;
  }

  get security(): BrokerSecurity {
    if (!this.#security) throw new Error('the broker has not started');
    return this.#security;
  }

  get policy(): PolicyStore {
    return this.security.policy;
  }

  /** Opens the data directory (recovering every partition), loads the policy, then starts the listeners. */
  static async start(config: BrokerConfig, kafka?: KafkaListenerFactory, opts: BrokerStartOptions = {}): Promise<Broker> {
    const broker = new Broker(config);
    const log = opts.log ?? ((m: string) => process.stderr.write(`bulwark: ${m}\n`));
    try {
      await broker.#startSecurity(opts.env ?? process.env, log);
      if (kafka) {
        broker.#kafka = await kafka(broker);
        // With port 0 the OS picked one: advertise the real port.
        const actual = broker.kafkaPort!;
        if (config.kafka.port === 0 && config.kafka.advertisedPort === undefined) broker.topics.state.brokers[0]!.port = actual;
        const handlers = broker.#kafka.handlers;
        broker.policy.onChange(() => handlers.closeRevoked());
        // Token expiry needs no policy change: check open sessions on a short timer.
        broker.#sessionTimer = setInterval(() => handlers.closeRevoked(), config.auth.sessionCheckIntervalMs);
        broker.#sessionTimer.unref();
      }
      if (config.http.enabled) {
        let https: Record<string, unknown> | undefined;
        let tls: TlsContext | undefined;
        if (config.http.tls) {
          tls = new TlsContext(config.http.tls, { onError: (err) => log(`listener http: TLS files not reloaded: ${err.message}`) });
          https = tls.serverOptions() as Record<string, unknown>;
        }
        broker.#http = await startHttpServer(broker, config.http.host, config.http.port, { security: broker.security.http(), ...(https ? { https } : {}) });
        if (tls) {
          tls.attach(broker.#http.server as unknown as Parameters<TlsContext['attach']>[0]);
          broker.onStop(() => tls.close());
        }
      }
      if (config.internal.enabled) broker.#internal = await startInternalListener(broker, log);
      broker.#retentionTimer = setInterval(() => broker.store.enforceRetention(), config.log.retentionCheckIntervalMs);
      broker.#retentionTimer.unref();
      broker.#started = true;
      return broker;
    } catch (err) {
      await broker.stop();
      throw err;
    }
  }

  async #startSecurity(env: NodeJS.ProcessEnv, log: (m: string) => void): Promise<void> {
    const config = this.config;
    const serverSecret = loadServerSecret(config.dataDir);
    // Standalone (no operator pushing policy): the broker has its own root super user.
    let augment;
    if (config.auth.rootUser && !config.internal.enabled) {
      const root = await ensureRootUser(config.dataDir, serverSecret, env.BULWARK_ROOT_PASSWORD);
      this.generatedRootPassword = root.generatedPassword;
      augment = (s: Parameters<typeof withRootUser>[0]) => withRootUser(s, root.credentials);
    }
    const policy = PolicyStore.open(config.dataDir, augment ? { augment } : {});
    const sinks: AuditSink[] = [];
    if (config.audit.file) sinks.push(await FileAuditSink.open(config.audit.file));
    if (config.audit.topic) {
      if (!this.topics.topic(AUDIT_TOPIC)) this.topics.createTopic(AUDIT_TOPIC, 1, {}, false, true);
      sinks.push(new TopicAuditSink((batch) => this.produce(AUDIT_TOPIC, 0, batch)));
    }
    const audit = new AuditLog({ sinks, logAllowed: config.audit.logAllowed });
    this.onStop(() => audit.close());
    this.#security = new BrokerSecurity({ config, policy, serverSecret, audit, metrics: this.metrics, log });
    policy.onChange((change) => {
      audit.policy(change.received, change.previous, change.source);
      log(`policy ${change.source}: version ${change.received.version} (${change.received.hash.slice(0, 19)}…) in force, was ${change.previous.version}`);
    });
    if (config.policy.dir) {
      const watcher = new PolicyDirectoryWatcher(config.policy.dir, policy, { saltKey: serverSecret, debounceMs: config.policy.reloadDebounceMs, log });
      await watcher.start();
      this.onStop(() => watcher.close());
    }
  }

  get kafkaPort(): number | undefined {
    return this.listenerPort('kafka');
  }

  /** The port a Kafka listener listens on (the OS's choice when configured as 0). */
  listenerPort(name: string): number | undefined {
    return (this.#kafka?.servers.get(name)?.address() as AddressInfo | null)?.port;
  }

  get internalPort(): number | undefined {
    return (this.#internal?.server.address() as AddressInfo | null)?.port;
  }

  get httpPort(): number | undefined {
    return (this.#http?.server.address() as AddressInfo | null)?.port;
  }

  /** Registers something to close when the broker stops (the group coordinator, connections). */
  onStop(close: () => Promise<void> | void): void {
    this.#closers.push(close);
  }

  #partition(topic: string, partition: number) {
    const p = this.topics.partition(topic, partition);
    if (!p) throw this.topics.topic(topic) ? new BulwarkError('BWK_ERR_PARTITION_NOT_FOUND', { topic, partition }) : new BulwarkError('BWK_ERR_TOPIC_NOT_FOUND', { topic });
    return p;
  }

  async produce(topic: string, partition: number, records: Buffer): Promise<AppendResult> {
    const p = this.#partition(topic, partition);
    const key = `${topic}\0${partition}`;
    const seq = this.producers.check(key, records);
    if (seq.kind === 'duplicate') return { baseOffset: seq.baseOffset, lastOffset: seq.baseOffset, nextOffset: p.nextOffset };
    if (seq.kind === 'out-of-order') throw new BulwarkError('BWK_ERR_PRODUCER_SEQUENCE', { topic, partition, expected: seq.expected, got: seq.got });
    if (seq.kind === 'fenced-epoch') throw new BulwarkError('BWK_ERR_PRODUCER_FENCED', { topic, partition });
    // `records` is read only before the first await: the Kafka listener reuses a large Produce
    // frame's buffer once its handler settles, which can be before this append is acknowledged
    // (src/broker/kafka/connection.ts). append numbers the batches in place, synchronously.
    const appended = p.append(records);
    // Recorded now, as Kafka does at append, not once the append is acknowledged: the next
    // request of a pipelining producer can be checked before this one's await returns (two
    // Produce frames in one socket read are dispatched in the same turn).
    this.producers.record(key, this.producers.batchesOf(records));
    const bytes = records.length;
    const result = await appended;
    this.metrics.producedBytes.inc({ topic }, bytes);
    this.metrics.producedRecords.inc({ topic }, result.lastOffset - result.baseOffset + 1);
    this.notifier.notify(`${topic}\0${partition}`);
    return result;
  }

  async fetch(topic: string, partition: number, offset: number, maxBytes: number, maxWaitMs = 0, into?: Buffer): Promise<FetchResult> {
    const p = this.#partition(topic, partition);
    let r = await p.fetch(offset, maxBytes, into);
    if (r.records.length === 0 && maxWaitMs > 0 && offset === p.nextOffset) {
      await this.notifier.wait([`${topic}\0${partition}`], Math.min(maxWaitMs, this.config.limits.maxFetchWaitMs));
      r = await p.fetch(offset, maxBytes, into);
    }
    this.metrics.fetchedBytes.inc({ topic }, r.records.length);
    return r;
  }

  readiness(): { ready: boolean; reasons: string[] } {
    const reasons: string[] = [];
    if (!this.#started) reasons.push('starting');
    for (const t of this.cluster.topics) {
      for (const p of t.partitions) {
        const fenced = this.topics.partition(t.name, p.partition)?.fenced;
        if (fenced) reasons.push(fenced.message);
      }
    }
    return { ready: reasons.length === 0, reasons };
  }

  async stop(): Promise<void> {
    if (this.#retentionTimer) clearInterval(this.#retentionTimer);
    if (this.#sessionTimer) clearInterval(this.#sessionTimer);
    this.notifier.releaseAll();
    for (const close of this.#closers.splice(0).reverse()) await close();
    await this.#http?.close();
    await this.#internal?.close();
    await this.store.close();
  }
}
