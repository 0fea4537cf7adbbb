// A broker process: the log, its topics, the listeners. `bulwark broker` and `bulwark dev` run
// one; tests run several in one process on different ports and data directories.
import type { FastifyInstance } from 'fastify';
import type { AddressInfo, Server } from 'node:net';
import type { ClusterState } from '../cluster/index.ts';
import { BulwarkError } from '../lib/errors.ts';
import { LogStore, type AppendResult, type FetchResult, type PartitionConfig } from '../log/index.ts';
import type { BrokerConfig } from './config.ts';
import type { BrokerCore } from './core.ts';
import { DataNotifier } from './data-notifier.ts';
import { startHttpServer } from './http/server.ts';
import { BrokerMetrics } from './metrics.ts';
import { ProducerStates } from './producer-state.ts';
import { TopicManager } from './topics.ts';

/** Starts the Kafka listener; set by kafka/server.ts so the broker does not import it eagerly in tests of HTTP alone. */
export type KafkaListenerFactory = (broker: Broker) => Promise<Server>;

export class Broker implements BrokerCore {
  readonly config: BrokerConfig;
  readonly metrics: BrokerMetrics;
  readonly store: LogStore;
  readonly topics: TopicManager;
  readonly notifier = new DataNotifier();
  readonly producers = new ProducerStates();
  #http: FastifyInstance | undefined;
  #kafka: Server | undefined;
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

  /** Opens the data directory (recovering every partition), then starts the listeners. */
  static async start(config: BrokerConfig, kafka?: KafkaListenerFactory): Promise<Broker> {
    const broker = new Broker(config);
    try {
      if (kafka) {
        broker.#kafka = await kafka(broker);
        // With port 0 the OS picked one: advertise the real port.
        const actual = (broker.#kafka.address() as AddressInfo).port;
        if (config.kafka.port === 0 && config.kafka.advertisedPort === undefined) broker.topics.state.brokers[0]!.port = actual;
      }
      if (config.http.enabled) broker.#http = await startHttpServer(broker, config.http.host, config.http.port);
      broker.#retentionTimer = setInterval(() => broker.store.enforceRetention(), config.log.retentionCheckIntervalMs);
      broker.#retentionTimer.unref();
      broker.#started = true;
      return broker;
    } catch (err) {
      await broker.stop();
      throw err;
    }
  }

  get kafkaPort(): number | undefined {
    return (this.#kafka?.address() as AddressInfo | null)?.port;
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
    const result = await p.append(records);
    this.producers.record(key, records);
    this.metrics.producedBytes.inc({ topic }, records.length);
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
    this.notifier.releaseAll();
    for (const close of this.#closers.splice(0).reverse()) await close();
    await this.#http?.close();
    if (this.#kafka) await new Promise<void>((resolve) => this.#kafka!.close(() => resolve()));
    await this.store.close();
  }
}
