// The broker's data directory.
//
// On-disk contract:
//   <dataDir>/<topic>-<partition>/   one partition (partition.ts); the partition number is what
//                                    follows the last "-", so topic names may contain "-".
//   <dataDir>/__group_offsets/       committed consumer-group offsets (offset-store.ts)
// Topic configuration is not stored here: the broker (its ClusterState) owns it and passes each
// partition's config when it opens it.
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BulwarkError, TOPIC_NAME } from '../lib/index.ts';

import { mergeKeyUsage, type KeyUsage } from './key-usage.ts';
import { OffsetStore } from './offset-store.ts';
import { Partition, type BatchCipher, type PartitionConfig, type RecoveryReport } from './partition.ts';

export interface LogStoreOptions {
  cipher?: BatchCipher;
  now?: () => number;
}

export class LogStore {
  readonly dataDir: string;
  readonly offsets: OffsetStore;
  readonly #opts: LogStoreOptions;
  readonly #partitions = new Map<string, Partition>();

  private constructor(dataDir: string, offsets: OffsetStore, opts: LogStoreOptions) {
    this.dataDir = dataDir;
    this.offsets = offsets;
    this.#opts = opts;
  }

  static open(dataDir: string, opts: LogStoreOptions = {}): LogStore {
    mkdirSync(dataDir, { recursive: true });
    return new LogStore(dataDir, OffsetStore.open(join(dataDir, '__group_offsets')), opts);
  }

  /** Partitions that have a directory here, whether open or not. */
  onDisk(): { topic: string; partition: number }[] {
    return readdirSync(this.dataDir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => /^(.+)-(\d+)$/.exec(e.name))
      .filter((m): m is RegExpExecArray => m !== null && TOPIC_NAME.test(m[1]!))
      .map((m) => ({ topic: m[1]!, partition: Number(m[2]) }))
      .sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
  }

  partition(topic: string, partition: number): Partition | undefined {
    return this.#partitions.get(`${topic}-${partition}`);
  }

  /** Opens (creating if needed) a partition with its topic's config, recovering it. */
  openPartition(topic: string, partition: number, config: Partial<PartitionConfig> = {}): { partition: Partition; report: RecoveryReport } {
    if (!TOPIC_NAME.test(topic) || topic === '.' || topic === '..') throw new BulwarkError('BWK_ERR_LOG_CONFIG_INVALID', { detail: `topic name ${JSON.stringify(topic)} is not valid` });
    if (!Number.isInteger(partition) || partition < 0) throw new BulwarkError('BWK_ERR_LOG_CONFIG_INVALID', { detail: `partition ${partition} is not valid` });
    const key = `${topic}-${partition}`;
    if (this.#partitions.has(key)) throw new Error(`partition ${key} is already open`);
    const opened = Partition.open(join(this.dataDir, key), topic, partition, { config, ...this.#opts });
    this.#partitions.set(key, opened.partition);
    return opened;
  }

  /** Closes a partition and keeps its data (a broker of a cluster that no longer leads it). */
  async closePartition(topic: string, partition: number): Promise<void> {
    const key = `${topic}-${partition}`;
    const p = this.#partitions.get(key);
    this.#partitions.delete(key);
    await p?.close();
  }

  /** Closes a partition and deletes its data. */
  async deletePartition(topic: string, partition: number): Promise<void> {
    const key = `${topic}-${partition}`;
    await this.#partitions.get(key)?.close();
    this.#partitions.delete(key);
    const dir = join(this.dataDir, key);
    if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
  }

  /** Applies retention to every open, unfenced partition; returns the segments deleted. */
  enforceRetention(): number {
    let deleted = 0;
    for (const p of this.#partitions.values()) if (!p.fenced) deleted += p.enforceRetention();
    return deleted;
  }

  /** Which encryption keys the open partitions' segments need (key-usage.ts). */
  keyUsage(): KeyUsage {
    const usage: KeyUsage = new Map();
    for (const p of this.#partitions.values()) if (!p.fenced) mergeKeyUsage(usage, p.keyUsage());
    return usage;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#partitions.values()].map((p) => p.close()));
    this.#partitions.clear();
    this.offsets.close();
  }
}
