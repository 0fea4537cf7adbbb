// A broker process: the log, its topics, the listeners. `bulwark broker` and `bulwark dev` run
// one; tests run several in one process on different ports and data directories.
import type { AddressInfo, Server } from 'node:net';
import type { ClusterState } from '../cluster/index.ts';
import { BulwarkError, createLogger, type Logger } from '../lib/index.ts';
import { AesGcmBatchCipher, checkKeysAvailable, KeyRing, LogStore, PLAINTEXT_KEY, type AppendResult, type FetchResult, type PartitionConfig } from '../log/index.ts';
import type { BrokerConfig } from '../config/index.ts';
import type { BrokerCore } from './core.ts';
import { AppendWaiters } from './append-waiters.ts';
import { AuditLog, describeSyslogTarget, FileAuditSink, ProcessLogAuditSink, SyslogAuditSink, TopicAuditSink, type AuditSink } from '../audit/index.ts';
import { ensureRootUser, loadServerSecret, readServerSecretFile, withRootUser } from './policy/index.ts';
import { openAuthorization, openAuthorizationWarning } from '../policy/index.ts';
import { BrokerMetrics } from './metrics.ts';
import { PolicyStore } from './policy/index.ts';
import { BrokerSecurity } from './security.ts';
import { ProducerStates } from './producer-state.ts';
import { TopicManager } from './topics.ts';

export interface BrokerStartOptions {
  /** Where BULWARK_ROOT_PASSWORD is read from; process.env by default. */
  env?: NodeJS.ProcessEnv;
  /** Operational log (redacting: see lib/logger.ts); JSON lines to stderr by default. Components log through children of it. */
  logger?: Logger;
  /** With a policy directory: called when its content changes (local mode says when a BrokerCluster change needs a restart). */
  onPolicyDirectoryChange?: () => void;
}

export const AUDIT_TOPIC = '__audit';

/**
 * The broker's data plane and the state its listeners share: the log, its topics, produce and
 * fetch, readiness, and the security state (policy, authenticator, limits, audit). Listeners are
 * started by the composition root (index.ts) and register their servers and closers here.
 */
export class Broker implements BrokerCore {
  readonly config: BrokerConfig;
  readonly metrics: BrokerMetrics;
  readonly store: LogStore;
  readonly topics: TopicManager;
  readonly notifier = new AppendWaiters();
  readonly producers = new ProducerStates();
  readonly security: BrokerSecurity;
  readonly logger: Logger;
  /** Set on the start that generated the root password: shown once, then forgotten. */
  readonly generatedRootPassword: string | undefined;
  readonly #servers = new Map<string, Server>();
  #started = false;
  #stopping = false;
  readonly #closers: (() => Promise<void> | void)[] = [];

  private constructor(config: BrokerConfig, metrics: BrokerMetrics, store: LogStore, topics: TopicManager, security: BrokerSecurity, logger: Logger, generatedRootPassword: string | undefined) {
    this.config = config;
    this.metrics = metrics;
    this.store = store;
    this.topics = topics;
    this.security = security;
    this.logger = logger;
    this.generatedRootPassword = generatedRootPassword;
  }

  /**
   * Opens the data directory (recovering every partition) and the policy store, and builds the
   * security state. No listener is started: see startBroker (index.ts).
   */
  static async open(config: BrokerConfig, opts: BrokerStartOptions = {}): Promise<Broker> {
    const logger = opts.logger ?? createLogger();
    const env = opts.env ?? process.env;
    const metrics = new BrokerMetrics({ defaultMetrics: true });
    // Encryption at rest: every key file is read and checked before any data is touched.
    const ring = config.encryption ? KeyRing.fromDirectory(config.encryption.keyDir, config.encryption.activeKeyId) : undefined;
    const store = LogStore.open(config.dataDir, ring ? { cipher: new AesGcmBatchCipher(ring) } : {});
    const advertisedHost = config.kafka.advertisedHost ?? config.kafka.host;
    const topics = new TopicManager(store, { id: config.brokerId, host: advertisedHost, port: config.kafka.advertisedPort ?? config.kafka.port, rack: null }, config.clusterId, partitionDefaults(config), {
      clustered: operatorMode(config),
      logger: logger.child({ component: 'cluster' }),
    });
    const closers: (() => Promise<void> | void)[] = [];
    try {
      // Data sealed with a key that is gone (or encryption left out) would fail every fetch: refuse to start instead.
      const usage = store.keyUsage();
      checkKeysAvailable(usage, ring);
      metrics.keyUsage = () => store.keyUsage();
      if (ring) {
        const needed = [...usage.keys()].filter((k) => k !== PLAINTEXT_KEY).sort();
        logger.info(
          { activeKeyId: ring.activeKeyId, keyIds: ring.keyIds, neededKeyIds: needed, plaintextSegments: usage.get(PLAINTEXT_KEY)?.length ?? 0 },
          `encryption at rest on: new batches sealed with key ${ring.activeKeyId}; keys loaded: ${ring.keyIds.join(', ')}; the data on disk needs: ${needed.join(', ') || 'none yet'}`,
        );
      }
      const serverSecret = config.serverSecretFile ? readServerSecretFile(config.serverSecretFile) : loadServerSecret(config.dataDir);
      // Standalone (no operator pushing policy): the broker has its own root super user.
      let augment;
      let generated: string | undefined;
      if (config.auth.rootUser && !config.internal.enabled) {
        const root = await ensureRootUser(config.dataDir, serverSecret, env.BULWARK_ROOT_PASSWORD);
        generated = root.generatedPassword;
        augment = (s: Parameters<typeof withRootUser>[0]) => withRootUser(s, root.credentials);
      }
      const policy = PolicyStore.open(config.dataDir, augment ? { augment } : {});
      const auditLogger = logger.child({ component: 'audit' });
      // Failures and drops are logged without event contents (the events are in the sink, or lost).
      const sinkOptions = (kind: string) => ({
        onError: (err: unknown) => auditLogger.warn({ sink: kind, code: (err as { code?: string }).code }, `audit sink ${kind}: ${(err as Error).message}`),
        onDropped: (dropped: number) => auditLogger.warn({ sink: kind, dropped }, `audit sink ${kind} is falling behind: ${dropped} event(s) dropped so far (bulwark_audit_events_total{outcome="dropped"})`),
      });
      const sinks: AuditSink[] = [];
      if (config.audit.file) sinks.push(await FileAuditSink.open(config.audit.file, sinkOptions('file')));
      let broker: Broker | undefined;
      if (config.audit.topic) {
        if (!topics.topic(AUDIT_TOPIC)) topics.createTopic(AUDIT_TOPIC, 1, {}, false, true);
        sinks.push(new TopicAuditSink((batch) => broker!.produce(AUDIT_TOPIC, 0, batch), sinkOptions('topic')));
      }
      const syslog = config.audit.syslog;
      if (syslog) {
        const target = syslog.transport === 'unix' ? { transport: syslog.transport, path: syslog.path } : { transport: syslog.transport, host: syslog.host, port: syslog.port };
        sinks.push(new SyslogAuditSink({ target, facility: syslog.facility, appName: syslog.appName, hostname: syslog.hostname, maxQueuedEvents: syslog.maxQueuedEvents, ...sinkOptions('syslog') }));
        auditLogger.info({ target: describeSyslogTarget(target), facility: syslog.facility }, `audit events also go to syslog at ${describeSyslogTarget(target)}`);
      }
      // Nothing configured: the process log, so that no event is dropped without a trace.
      if (sinks.length === 0) sinks.push(new ProcessLogAuditSink((event) => auditLogger.info({ audit: event }, 'audit event')));
      const audit = new AuditLog({ sinks, logAllowed: config.audit.logAllowed });
      metrics.auditStats = () => audit.stats();
      closers.push(() => audit.close());
      const security = new BrokerSecurity({ config, policy, serverSecret, audit, metrics, logger: logger.child({ component: 'security' }) });
      const policyLog = logger.child({ component: 'policy' });
      // spec.authorization.mode authenticatedFullAccess: said at start and at every policy applied while it is on.
      let open = openAuthorization(policy.snapshot);
      const warnIfOpen = () => {
        if (open) policyLog.warn({ accessMode: open.mode, sources: open.sources, version: policy.applied.version }, openAuthorizationWarning(open));
      };
      warnIfOpen();
      metrics.authorizationFullAccess = () => open !== undefined;
      policy.onChange((change) => {
        audit.policy(change.received, change.previous, change.source);
        policyLog.info({ source: change.source, version: change.received.version, previousVersion: change.previous.version }, `policy ${change.source}: version ${change.received.version} (${change.received.hash.slice(0, 19)}…) in force, was ${change.previous.version}`);
        const wasOpen = open !== undefined;
        open = openAuthorization(change.snapshot);
        warnIfOpen();
        if (wasOpen && !open) policyLog.info({ accessMode: 'policy', version: change.received.version }, 'authorization mode policy: the grants are enforced again');
      });
      broker = new Broker(config, metrics, store, topics, security, logger, generated);
      broker.#closers.push(...closers);
      return broker;
    } catch (err) {
      for (const close of closers.reverse()) await close();
      await store.close();
      throw err;
    }
  }

  get partitionDefaults(): Partial<PartitionConfig> {
    return partitionDefaults(this.config);
  }

  get cluster(): ClusterState {
    return this.topics.state;
  }

  get policy(): PolicyStore {
    return this.security.policy;
  }

  /** Called by the composition root once every listener is up: readiness stops saying "starting". */
  markStarted(): void {
    this.#started = true;
  }

  /** A listening server, by listener name (`kafka`, each of `listeners[]`, `http`, `internal`). */
  addServer(name: string, server: Server): void {
    this.#servers.set(name, server);
  }

  /** The port a listener listens on (the OS's choice when configured as 0). */
  listenerPort(name: string): number | undefined {
    return (this.#servers.get(name)?.address() as AddressInfo | null)?.port;
  }

  get kafkaPort(): number | undefined {
    return this.listenerPort('kafka');
  }

  get internalPort(): number | undefined {
    return this.listenerPort('internal');
  }

  get httpPort(): number | undefined {
    return this.listenerPort('http');
  }

  /** Registers something to close when the broker stops (the group coordinator, connections). */
  onStop(close: () => Promise<void> | void): void {
    this.#closers.push(close);
  }

  #partition(topic: string, partition: number) {
    const route = this.topics.route(topic, partition);
    if (route?.led) return route.log;
    if (route) throw new BulwarkError('BWK_ERR_PARTITION_NOT_LED', { topic, partition, leader: route.leader });
    throw this.topics.topic(topic) ? new BulwarkError('BWK_ERR_PARTITION_NOT_FOUND', { topic, partition }) : new BulwarkError('BWK_ERR_TOPIC_NOT_FOUND', { topic });
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

  /** True once stop() has begun: liveness and readiness both fail from then on. */
  get stopping(): boolean {
    return this.#stopping;
  }

  /**
   * Operator mode (an internal listener and no policy directory): the policy comes only from the
   * operator's push, so until one arrived or a persisted one was loaded the broker would refuse
   * everyone. It is not ready then.
   */
  get awaitsPolicy(): boolean {
    return operatorMode(this.config) && this.policy.applied.source === 'empty';
  }

  readiness(): { ready: boolean; reasons: string[] } {
    const reasons: string[] = [];
    if (this.#stopping) reasons.push('stopping');
    if (!this.#started) reasons.push('starting');
    if (this.awaitsPolicy) reasons.push('no policy snapshot yet: waiting for the operator to push one');
    if (this.topics.awaitsState) reasons.push('no cluster state yet: waiting for the operator to push one');
    for (const t of this.cluster.topics) {
      for (const p of t.partitions) {
        const fenced = this.topics.partition(t.name, p.partition)?.fenced;
        if (fenced) reasons.push(fenced.message);
      }
    }
    return { ready: reasons.length === 0, reasons };
  }

  /** Stops the listeners (the closers they registered, in reverse order), then closes the log. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.notifier.releaseAll();
    for (const close of this.#closers.splice(0).reverse()) await close();
    await this.store.close();
  }
}

/**
 * Operator mode: an internal listener and no policy directory. The policy and the ClusterState
 * then come only from the operator's pushes; otherwise the broker is standalone, its own controller.
 */
export function operatorMode(config: Pick<BrokerConfig, 'internal' | 'policy'>): boolean {
  return config.internal.enabled && !config.policy.dir;
}

function partitionDefaults(config: BrokerConfig): Partial<PartitionConfig> {
  const l = config.log;
  return { segmentBytes: l.segmentBytes, segmentMs: l.segmentMs, retentionMs: l.retentionMs, retentionBytes: l.retentionBytes, flush: l.flush, maxBatchBytes: config.limits.maxMessageBytes };
}
