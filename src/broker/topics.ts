// Topics and the ClusterState in force, in the two modes DESIGN.md ("Clusters") gives, over one
// structure:
// - standalone (`bulwark broker`, `bulwark dev`): the broker is its own controller, keeping the
//   ClusterState the operator would push, with one broker in it; CreateTopics and DeleteTopics
//   change it here.
// - clustered (operator mode: an internal listener and no policy directory): the ClusterState
//   comes only from the operator's push (PUT /v1/cluster-state, src/cluster/distribution.ts).
//   Applying one opens the partitions this broker leads, closes (keeping their data) those it no
//   longer leads, and deletes the local data of a topic that was in the previous state and is
//   gone, or whose topic id changed. Data of a topic no state in force ever listed is kept on
//   disk, not served, with a warning: nothing is lost to an upgrade or an operator's bug.
//   Bulwark's own topics (__audit) are local to each broker there, outside the ClusterState.
//
// On-disk contract (both written whole to a temp file, fsynced and renamed over the old one, so a
// crash leaves the old or the new state, never a mix):
//   <dataDir>/__cluster/state.json   standalone: the ClusterState this broker controls
//   <dataDir>/__cluster/pushed.json  clustered: the last pushed ClusterState applied, canonical
//                                    JSON, written before it is used and loaded at start
// The two are separate files so a standalone broker turned into a cluster member starts from no
// pushed state (its old topics' data is then "never listed": kept). Partition data lives in the
// LogStore beside them.
//
// Routing: the Kafka listener looks every partition up in `route()`, a Map built when a state is
// applied (one Map lookup and an array index per partition, no scan, no allocation), which says
// whether this broker leads it, at which leader epoch, with the open partition.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  assignPartitions,
  clusterStateHash,
  coordinatorFor,
  decideClusterState,
  parseClusterState,
  isInternalTopic,
  topicConfigProblem,
  topicNameProblem,
  type AppliedClusterState,
  type BrokerInfo,
  type ClusterState,
  type ClusterStateReason,
  type ClusterStateSource,
  type TopicConfig,
  type TopicState,
} from '../cluster/index.ts';
import { BulwarkError, canonicalJson, writeFileAtomic, type Logger } from '../lib/index.ts';
import type { LogStore, Partition, PartitionConfig, RecoveryReport } from '../log/index.ts';
import { TopicRequestQueue } from './topic-requests.ts';

export type TopicResult = { ok: true; topic: TopicState } | { ok: false; reason: 'exists' | 'invalid-name' | 'invalid-partitions' | 'invalid-config'; message: string };

/** Where a partition is served: here (with the open log and the leader epoch), or by another broker. */
export type PartitionRoute = { readonly led: true; readonly log: Partition; readonly leader: number; readonly leaderEpoch: number } | { readonly led: false; readonly leader: number; readonly leaderEpoch: number };

export type ClusterStateApplyResult = { applied: true; unchanged: boolean } | { applied: false; reason: Exclude<ClusterStateReason, 'unchanged'> };

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

/**
 * Why a pushed ClusterState cannot be applied by this broker, or undefined. Pure: the schema has
 * been checked; this checks it is for this broker and consistent.
 */
export function clusterStateProblem(state: ClusterState, self: { clusterId: string; brokerId: number }): string | undefined {
  if (state.clusterId !== self.clusterId) return `clusterId: the state is for cluster ${JSON.stringify(state.clusterId)}; this broker belongs to ${JSON.stringify(self.clusterId)}`;
  const ids = new Set<number>();
  for (const [i, b] of state.brokers.entries()) {
    if (ids.has(b.id)) return `brokers.${i}.id: broker ${b.id} is listed twice`;
    ids.add(b.id);
  }
  if (!ids.has(self.brokerId)) return `brokers: this broker (id ${self.brokerId}) is not listed`;
  const names = new Set<string>();
  const topicIds = new Set<string>();
  for (const [i, t] of state.topics.entries()) {
    if (names.has(t.name)) return `topics.${i}.name: topic ${t.name} is listed twice`;
    if (topicIds.has(t.id)) return `topics.${i}.id: topic id ${t.id} is used twice`;
    names.add(t.name);
    topicIds.add(t.id);
    if (isInternalTopic(t.name)) return `topics.${i}.name: topic names starting with "__" are reserved for the broker's own topics`;
    const nameProblem = topicNameProblem(t.name);
    if (nameProblem) return `topics.${i}.name: ${nameProblem}`;
    const configProblem = topicConfigProblem(t.config);
    if (configProblem) return `topics.${i}.config: ${configProblem}`;
    if (t.partitions.length === 0) return `topics.${i}.partitions: a topic has at least one partition`;
    for (const [j, p] of t.partitions.entries()) {
      if (p.partition !== j) return `topics.${i}.partitions.${j}.partition: partitions are listed in order from 0, found ${p.partition}`;
      if (!ids.has(p.leader)) return `topics.${i}.partitions.${j}.leader: broker ${p.leader} is not in brokers`;
    }
  }
  for (const [i, id] of (state.coordinators ?? []).entries()) {
    if (!ids.has(id)) return `coordinators.${i}: broker ${id} is not in brokers`;
  }
  return undefined;
}

export interface TopicManagerOptions {
  /** Operator mode: the ClusterState comes from pushes only (see the header). */
  clustered?: boolean;
  logger?: Logger;
}

export class TopicManager {
  readonly #store: LogStore;
  readonly #defaults: Partial<PartitionConfig>;
  readonly #selfId: number;
  readonly #clusterId: string;
  readonly #path: string;
  readonly #log: Logger | undefined;
  /** Clustered only: the requests forwarded to the operator. */
  readonly requests: TopicRequestQueue | undefined;
  readonly clustered: boolean;
  #state: ClusterState;
  #hash: string | undefined;
  #source: ClusterStateSource;
  /** Clustered: Bulwark's own topics, local to this broker and outside the ClusterState. */
  #local: TopicState[] = [];
  #byName = new Map<string, TopicState>();
  #routes = new Map<string, PartitionRoute[]>();
  readonly #waiters = new Set<() => void>();
  #applying: Promise<unknown> = Promise.resolve();
  #unlistedWarned = '';
  readonly reports: RecoveryReport[] = [];

  constructor(store: LogStore, self: BrokerInfo, clusterId: string, defaults: Partial<PartitionConfig>, opts: TopicManagerOptions = {}) {
    this.#store = store;
    this.#defaults = defaults;
    this.#selfId = self.id;
    this.#clusterId = clusterId;
    this.#log = opts.logger;
    this.clustered = opts.clustered ?? false;
    const dir = join(store.dataDir, '__cluster');
    mkdirSync(dir, { recursive: true });
    if (!this.clustered) {
      this.#path = join(dir, 'state.json');
      const saved = existsSync(this.#path) ? readStateFile(this.#path) : undefined;
      // Its own controller, alone: every partition is led here, whatever broker id saved it.
      const topics = (saved?.topics ?? []).map((t) => ({ ...t, partitions: t.partitions.map((p) => ({ ...p, leader: self.id, replicas: [self.id], isr: [self.id] })) }));
      this.#state = { clusterId: saved?.clusterId ?? clusterId, version: saved?.version ?? 0, controllerId: self.id, brokers: [self], topics };
      this.#source = 'self';
      for (const t of this.#state.topics) {
        for (const p of t.partitions) this.reports.push(this.#store.openPartition(t.name, p.partition, partitionConfigFor(t.config, defaults)).report);
      }
      this.#index();
      return;
    }
    this.requests = new TopicRequestQueue();
    this.#path = join(dir, 'pushed.json');
    // Until a state is in force: this broker alone, no controller, nothing to serve.
    this.#state = { clusterId, version: 0, controllerId: -1, brokers: [self], topics: [] };
    this.#source = 'empty';
    // Its hash is computed when first asked for (`applied`), not at start.
    const saved = existsSync(this.#path) ? readStateFile(this.#path) : undefined;
    const problem = saved && clusterStateProblem(saved, { clusterId, brokerId: self.id });
    if (saved && problem) {
      this.#log?.warn({ file: this.#path, version: saved.version }, `the persisted cluster state is not for this broker (${problem}); waiting for the operator to push one`);
    } else if (saved) {
      this.#openLed(saved);
      this.#state = saved;
      this.#source = 'disk';
    }
    this.#index();
    this.#warnUnlisted();
  }

  /** This broker's address as clients should reach it (standalone, with port 0: the port the OS chose). */
  advertise(brokerId: number, address: { host: string; port: number }): void {
    if (this.clustered) return;
    this.#state = { ...this.#state, brokers: this.#state.brokers.map((b) => (b.id === brokerId ? { ...b, ...address } : b)) };
  }

  get state(): ClusterState {
    return this.#state;
  }

  /** What is in force, as the internal listener reports it. */
  get applied(): AppliedClusterState {
    this.#hash ??= clusterStateHash(this.#state);
    return { version: this.#state.version, hash: this.#hash, source: this.#source };
  }

  /** Operator mode with no ClusterState in force yet (neither pushed nor persisted). */
  get awaitsState(): boolean {
    return this.clustered && this.#source === 'empty';
  }

  topic(name: string): TopicState | undefined {
    return this.#byName.get(name);
  }

  /** Where a partition is served; undefined when the topic or the partition does not exist. */
  route(topic: string, partition: number): PartitionRoute | undefined {
    return this.#routes.get(topic)?.[partition];
  }

  /** The open partition, when this broker serves it. */
  partition(topic: string, partition: number): Partition | undefined {
    return this.#store.partition(topic, partition);
  }

  /** The broker coordinating a consumer group (or transactional id). */
  coordinator(groupId: string): BrokerInfo {
    return coordinatorFor(this.#state, groupId);
  }

  coordinates(groupId: string): boolean {
    return coordinatorFor(this.#state, groupId).id === this.#selfId;
  }

  /** Checks a topic as CreateTopics would create it, without creating it (the placement shown is this broker's guess). */
  validateTopic(name: string, partitions: number, config: TopicConfig): TopicResult {
    const problem = this.#problem(name, partitions, config, false);
    if (problem) return problem;
    return { ok: true, topic: { name, id: randomUUID().replaceAll('-', ''), partitions: assignPartitions(this.#state.brokers, name, partitions, 1), config: { ...config } } };
  }

  #problem(name: string, partitions: number, config: TopicConfig, internal: boolean): Extract<TopicResult, { ok: false }> | undefined {
    const nameProblem = internal && name.startsWith('__') ? topicNameProblem(name.replace(/^__/, 'xx')) : topicNameProblem(name);
    if (nameProblem) return { ok: false, reason: 'invalid-name', message: nameProblem };
    if (this.topic(name)) return { ok: false, reason: 'exists', message: `topic ${name} already exists` };
    if (!Number.isInteger(partitions) || partitions < 1 || partitions > 10_000) return { ok: false, reason: 'invalid-partitions', message: 'partitions must be 1 to 10000' };
    const problem = topicConfigProblem(config);
    if (problem) return { ok: false, reason: 'invalid-config', message: problem };
    return undefined;
  }

  /**
   * Standalone: creates a topic. `internal`: a topic of Bulwark's own (__audit), which may take
   * the prefix reserved from clients; in a cluster only those are created here, locally, led by
   * this broker.
   */
  createTopic(name: string, partitions: number, config: TopicConfig = {}, validateOnly = false, internal = false): TopicResult {
    if (this.clustered && !internal) throw new BulwarkError('BWK_ERR_TOPICS_MANAGED_BY_OPERATOR', { operation: 'create', topic: name });
    const problem = this.#problem(name, partitions, config, internal);
    if (problem) return problem;
    const brokers = this.clustered ? this.#state.brokers.filter((b) => b.id === this.#selfId) : this.#state.brokers;
    const topic: TopicState = { name, id: randomUUID().replaceAll('-', ''), partitions: assignPartitions(brokers, name, partitions, 1), config: { ...config } };
    if (validateOnly) return { ok: true, topic };
    for (const p of topic.partitions) this.#store.openPartition(name, p.partition, partitionConfigFor(config, this.#defaults));
    if (this.clustered) {
      this.#local = [...this.#local, topic];
      this.#index();
    } else {
      this.#save({ ...this.#state, version: this.#state.version + 1, topics: [...this.#state.topics, topic] });
    }
    return { ok: true, topic };
  }

  /** Standalone: deletes a topic and its data. */
  async deleteTopic(name: string): Promise<boolean> {
    if (this.clustered) throw new BulwarkError('BWK_ERR_TOPICS_MANAGED_BY_OPERATOR', { operation: 'delete', topic: name });
    const topic = this.topic(name);
    if (!topic) return false;
    this.#save({ ...this.#state, version: this.#state.version + 1, topics: this.#state.topics.filter((t) => t.name !== name) });
    for (const p of topic.partitions) await this.#store.deletePartition(name, p.partition);
    return true;
  }

  /**
   * Clustered: applies a pushed ClusterState (parsed with the contract's schema). Throws
   * BWK_ERR_CLUSTER_STATE_INVALID when it is not for this broker; follows the ordering rule;
   * persists it before using it. Pushes are applied one at a time, in arrival order.
   */
  applyPushed(state: ClusterState, hash: string): Promise<ClusterStateApplyResult> {
    const run = this.#applying.then(() => this.#apply(state, hash));
    this.#applying = run.catch(() => undefined);
    return run;
  }

  /** Resolves true once the state in force satisfies `test` (at once if it does), false after timeoutMs. */
  waitFor(test: (state: ClusterState) => boolean, timeoutMs: number): Promise<boolean> {
    if (test(this.#state)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (v: boolean) => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve(v);
      };
      const check = () => {
        if (test(this.#state)) done(true);
      };
      const timer = setTimeout(() => done(false), Math.max(0, timeoutMs));
      this.#waiters.add(check);
    });
  }

  async #apply(state: ClusterState, hash: string): Promise<ClusterStateApplyResult> {
    if (!this.clustered) throw new Error('a standalone broker is its own controller: it takes no pushed cluster state');
    const problem = clusterStateProblem(state, { clusterId: this.#clusterId, brokerId: this.#selfId });
    if (problem) throw new BulwarkError('BWK_ERR_CLUSTER_STATE_INVALID', { detail: problem });
    const decision = decideClusterState(this.applied, { version: state.version, hash });
    if (!decision.apply) return decision.reason === 'unchanged' ? { applied: true, unchanged: true } : { applied: false, reason: decision.reason };
    writeFileAtomic(this.#path, [Buffer.from(canonicalJson(state))]);
    const previous = this.#source === 'empty' ? [] : this.#state.topics;
    const next = new Map(state.topics.map((t) => [t.name, t]));
    // A topic gone from the state, or recreated under another id: its data goes.
    const removed = previous.filter((t) => next.get(t.name)?.id !== t.id);
    for (const t of removed) {
      for (const p of t.partitions) await this.#store.deletePartition(t.name, p.partition);
    }
    // Partitions led elsewhere now: closed, their data kept.
    for (const t of previous) {
      const now = next.get(t.name);
      if (!now || now.id !== t.id) continue;
      for (const p of t.partitions) {
        if (now.partitions[p.partition]?.leader !== this.#selfId && this.#store.partition(t.name, p.partition)) await this.#store.closePartition(t.name, p.partition);
      }
    }
    this.#openLed(state);
    const from = this.#state.version;
    this.#state = state;
    this.#hash = hash;
    this.#source = 'push';
    this.#index();
    const led = state.topics.reduce((n, t) => n + t.partitions.filter((p) => p.leader === this.#selfId).length, 0);
    this.#log?.info(
      { version: state.version, previousVersion: from, topics: state.topics.length, ledPartitions: led, deletedTopics: removed.map((t) => t.name) },
      `cluster state version ${state.version} in force (was ${from}): ${state.brokers.length} broker(s), ${state.topics.length} topic(s), ${led} partition(s) led here${removed.length > 0 ? `; deleted the local data of ${removed.map((t) => t.name).join(', ')}` : ''}`,
    );
    this.#warnUnlisted();
    for (const check of [...this.#waiters]) check();
    return { applied: true, unchanged: false };
  }

  /** Opens, recovering them, the partitions of `state` this broker leads that are not open yet. */
  #openLed(state: ClusterState): void {
    for (const t of state.topics) {
      for (const p of t.partitions) {
        if (p.leader !== this.#selfId || this.#store.partition(t.name, p.partition)) continue;
        this.reports.push(this.#store.openPartition(t.name, p.partition, partitionConfigFor(t.config, this.#defaults)).report);
      }
    }
  }

  /** Rebuilds the lookups of the hot path from the state in force. */
  #index(): void {
    const byName = new Map<string, TopicState>();
    const routes = new Map<string, PartitionRoute[]>();
    for (const t of [...this.#state.topics, ...this.#local]) {
      byName.set(t.name, t);
      routes.set(
        t.name,
        t.partitions.map((p): PartitionRoute => {
          const log = p.leader === this.#selfId ? this.#store.partition(t.name, p.partition) : undefined;
          return log ? { led: true, log, leader: p.leader, leaderEpoch: p.leaderEpoch } : { led: false, leader: p.leader, leaderEpoch: p.leaderEpoch };
        }),
      );
    }
    this.#byName = byName;
    this.#routes = routes;
  }

  /** Clustered: says (once per set) which topics have data here that the state in force does not list. */
  #warnUnlisted(): void {
    const names = [...new Set(this.#store.onDisk().map((p) => p.topic))].filter((n) => !this.#byName.has(n) && !isInternalTopic(n));
    const key = names.join('\0');
    if (key === this.#unlistedWarned) return;
    this.#unlistedWarned = key;
    if (names.length === 0) return;
    this.#log?.warn(
      { topics: names, version: this.#state.version },
      `local data of ${names.length} topic(s) the cluster state does not list is kept on disk and not served: ${names.join(', ')}. Delete it by hand once you know it is not needed`,
    );
  }

  #save(next: ClusterState): void {
    writeFileAtomic(this.#path, [Buffer.from(JSON.stringify(next, null, 1))]);
    this.#state = next;
    this.#hash = undefined;
    this.#index();
  }
}

/** A ClusterState file of this broker (state.json or pushed.json), parsed: one that is not refuses to start rather than guessing. */
function readStateFile(path: string): ClusterState {
  const r = parseClusterState(readFileSync(path, 'utf8'));
  if (!r.ok) throw new BulwarkError('BWK_ERR_LOG_CORRUPT', { file: path, position: 0, detail: `not a cluster state: ${r.detail}` });
  return r.state;
}
