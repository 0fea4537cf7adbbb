// Topics of a standalone broker: the broker is its own controller (DESIGN.md), keeping the same
// ClusterState the operator would push, with one broker in it.
//
// On-disk contract: <dataDir>/__cluster/state.json holds the ClusterState, written whole to a
// temp file, fsynced and renamed over the old one, so a crash leaves the old or the new state,
// never a mix. Partition data lives in the LogStore beside it.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { assignPartitions, clusterStateSchema, findTopic, topicConfigProblem, topicNameProblem, type BrokerInfo, type ClusterState, type TopicConfig, type TopicState } from '../cluster/index.ts';
import { BulwarkError, writeFileAtomic } from '../lib/index.ts';
import type { LogStore, Partition, PartitionConfig, RecoveryReport } from '../log/index.ts';

export type TopicResult = { ok: true; topic: TopicState } | { ok: false; reason: 'exists' | 'invalid-name' | 'invalid-partitions' | 'invalid-config'; message: string };

export function partitionConfigFor(config: TopicConfig, defaults: Partial<PartitionConfig>): Partial<PartitionConfig> {
  const out: Partial<PartitionConfig> = { ...defaults };
  const num = (k: string) => (config[k] !== undefined ? Number(config[k]) : undefined);
  const retentionMs = num('retention.ms');
  if (retentionMs !== undefined) out.retentionMs = retentionMs < 0 ? null : retentionMs;
  const retentionBytes = num('retention.bytes');
  if (retentionBytes !== undefined) out.retentionBytes = retentionBytes < 0 ? null : retentionBytes;
  if (num('segment.bytes') !== undefined) out.segmentBytes = num('segment.bytes')!;
  if (num('segment.ms') !== undefined) out.segmentMs = num('segment.ms')!;
  if (num('max.message.bytes') !== undefined) out.maxBatchBytes = num('max.message.bytes')!;
  const flushMessages = num('flush.messages');
  const flushMs = num('flush.ms');
  if (flushMessages === 1) out.flush = { mode: 'batch' };
  else if (flushMessages !== undefined) out.flush = { mode: 'messages', messages: flushMessages };
  else if (flushMs !== undefined) out.flush = { mode: 'interval', ms: flushMs };
  return out;
}

export class TopicManager {
  readonly #store: LogStore;
  readonly #defaults: Partial<PartitionConfig>;
  readonly #path: string;
  #state: ClusterState;
  readonly reports: RecoveryReport[] = [];

  constructor(store: LogStore, self: BrokerInfo, clusterId: string, defaults: Partial<PartitionConfig>) {
    this.#store = store;
    this.#defaults = defaults;
    const dir = join(store.dataDir, '__cluster');
    mkdirSync(dir, { recursive: true });
    this.#path = join(dir, 'state.json');
    const saved = existsSync(this.#path) ? readSavedState(this.#path) : undefined;
    this.#state = { clusterId: saved?.clusterId ?? clusterId, version: saved?.version ?? 0, controllerId: self.id, brokers: [self], topics: saved?.topics ?? [] };
    for (const t of this.#state.topics) {
      for (const p of t.partitions) this.reports.push(this.#store.openPartition(t.name, p.partition, partitionConfigFor(t.config, defaults)).report);
    }
  }

  /** This broker's address as clients should reach it (with port 0, the port the OS chose). */
  advertise(brokerId: number, address: { host: string; port: number }): void {
    this.#state = { ...this.#state, brokers: this.#state.brokers.map((b) => (b.id === brokerId ? { ...b, ...address } : b)) };
  }

  get state(): ClusterState {
    return this.#state;
  }

  topic(name: string): TopicState | undefined {
    return findTopic(this.#state, name);
  }

  partition(topic: string, partition: number): Partition | undefined {
    return this.#store.partition(topic, partition);
  }

  /** `internal`: a topic of Bulwark's own (__audit), which may take the prefix reserved from clients. */
  createTopic(name: string, partitions: number, config: TopicConfig = {}, validateOnly = false, internal = false): TopicResult {
    const nameProblem = internal && name.startsWith('__') ? topicNameProblem(name.replace(/^__/, 'xx')) : topicNameProblem(name);
    if (nameProblem) return { ok: false, reason: 'invalid-name', message: nameProblem };
    if (this.topic(name)) return { ok: false, reason: 'exists', message: `topic ${name} already exists` };
    if (!Number.isInteger(partitions) || partitions < 1 || partitions > 10_000) return { ok: false, reason: 'invalid-partitions', message: 'partitions must be 1 to 10000' };
    const problem = topicConfigProblem(config);
    if (problem) return { ok: false, reason: 'invalid-config', message: problem };
    const topic: TopicState = { name, id: randomUUID().replaceAll('-', ''), partitions: assignPartitions(this.#state.brokers, name, partitions, 1), config: { ...config } };
    if (validateOnly) return { ok: true, topic };
    for (const p of topic.partitions) this.#store.openPartition(name, p.partition, partitionConfigFor(config, this.#defaults));
    this.#save({ ...this.#state, version: this.#state.version + 1, topics: [...this.#state.topics, topic] });
    return { ok: true, topic };
  }

  async deleteTopic(name: string): Promise<boolean> {
    const topic = this.topic(name);
    if (!topic) return false;
    this.#save({ ...this.#state, version: this.#state.version + 1, topics: this.#state.topics.filter((t) => t.name !== name) });
    for (const p of topic.partitions) await this.#store.deletePartition(name, p.partition);
    return true;
  }

  #save(next: ClusterState): void {
    writeFileAtomic(this.#path, [Buffer.from(JSON.stringify(next, null, 1))]);
    this.#state = next;
  }

}

/** The saved ClusterState, parsed: a file that is not one refuses to start rather than guessing. */
function readSavedState(path: string): ClusterState {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new BulwarkError('BWK_ERR_LOG_CORRUPT', { file: path, position: 0, detail: `not JSON: ${(err as Error).message}` });
  }
  const r = clusterStateSchema.safeParse(parsed);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new BulwarkError('BWK_ERR_LOG_CORRUPT', { file: path, position: 0, detail: `not a cluster state: ${issue.path.join('.') || '(root)'}: ${issue.message}` });
  }
  return r.data;
}
