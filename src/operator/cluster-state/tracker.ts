// What each BrokerCluster's brokers hold of its ClusterState, for the status of every Topic.
//
// The cluster-state reconciler records, after each push, the version in force, on how many
// brokers, and for every Topic the generation and the number of partitions the state carried.
// The Topic reconciler reads it to write the Topic's status (one writer per status), and is told
// which Topics to look at again: those whose entry changed, or all of a cluster's when its broker
// counts changed. In memory only: after a restart nothing is known until the first push.
import type { ObjectKey } from '../controller/index.ts';

/** What the ClusterState holds of one Topic (by metadata.name). */
export interface TopicMember {
  generation: number;
  partitions: number;
}

export interface ClusterStateRecord {
  version: number;
  /** Brokers the cluster has or is meant to have (the larger), and the ones with this state in force. */
  brokers: number;
  inSync: number;
  topics: ReadonlyMap<string, TopicMember>;
}

const id = (k: ObjectKey) => `${k.namespace}/${k.name}`;

export class ClusterStateTracker {
  readonly #clusters = new Map<string, ClusterStateRecord>();
  readonly #listeners: ((key: ObjectKey) => void)[] = [];

  /** Called with the key of each Topic whose entry changed. */
  subscribe(listener: (key: ObjectKey) => void): void {
    this.#listeners.push(listener);
  }

  get(cluster: ObjectKey): ClusterStateRecord | undefined {
    return this.#clusters.get(id(cluster));
  }

  record(cluster: ObjectKey, next: ClusterStateRecord): void {
    const prev = this.#clusters.get(id(cluster));
    this.#clusters.set(id(cluster), next);
    const counts = !prev || prev.brokers !== next.brokers || prev.inSync !== next.inSync || prev.version !== next.version;
    const changed = new Set<string>();
    for (const [name, m] of next.topics) {
      const p = prev?.topics.get(name);
      if (counts || !p || p.generation !== m.generation || p.partitions !== m.partitions) changed.add(name);
    }
    for (const name of prev?.topics.keys() ?? []) if (!next.topics.has(name)) changed.add(name);
    this.#notify(cluster.namespace, changed);
  }

  forget(cluster: ObjectKey): void {
    const prev = this.#clusters.get(id(cluster));
    if (!prev) return;
    this.#clusters.delete(id(cluster));
    this.#notify(cluster.namespace, new Set(prev.topics.keys()));
  }

  #notify(namespace: string, names: Set<string>): void {
    for (const name of names) for (const l of this.#listeners) l({ namespace, name });
  }
}
