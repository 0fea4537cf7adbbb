// What each BrokerCluster's brokers hold, for the status of every resource compiled into it.
//
// The policy reconciler records, after each distribution, which generation of every User, Role,
// AccessToken and TopicGrant the snapshot was compiled from (and, for Users and tokens, a digest
// of the credentials it carried), the compiler's diagnostics for each, and on how many brokers
// the snapshot is in force. The reconciler of each kind reads it to write its own status (one
// writer per status), and is told which of its objects to look at again: only those whose entry
// changed, or all of a cluster's when its broker counts changed.
//
// In memory only: after a restart nothing is known until the first distribution, and the
// reconcilers leave statuses as they are until then (a restart rewrites nothing).
import type { Diagnostic } from '../../policy/index.ts';
import type { ObjectKey } from '../controller/index.ts';

/** What the snapshot holds of one resource. */
export interface MemberState {
  generation: number;
  /** Users: the fingerprint of the credentials compiled; AccessTokens: the token's hash. */
  digest?: string;
  diagnostics: readonly Diagnostic[];
}

export interface ClusterPolicyState {
  version: number;
  hash: string;
  /** Brokers the cluster has or is meant to have (the larger), and the ones with this snapshot in force. */
  brokers: number;
  inSync: number;
  /** By `Kind/name`. */
  members: ReadonlyMap<string, MemberState>;
}

export type MemberKind = 'User' | 'Role' | 'AccessToken' | 'TopicGrant';

export const memberKey = (kind: MemberKind, name: string) => `${kind}/${name}`;

const clusterId = (k: ObjectKey) => `${k.namespace}/${k.name}`;

function sameMember(a: MemberState | undefined, b: MemberState | undefined): boolean {
  if (!a || !b) return a === b;
  if (a.generation !== b.generation || a.digest !== b.digest || a.diagnostics.length !== b.diagnostics.length) return false;
  return a.diagnostics.every((d, i) => {
    const e = b.diagnostics[i]!;
    return d.severity === e.severity && d.reason === e.reason && d.message === e.message && d.path === e.path;
  });
}

export class PolicyTracker {
  readonly #clusters = new Map<string, ClusterPolicyState>();
  readonly #listeners = new Map<MemberKind, ((key: ObjectKey) => void)[]>();

  /** Called with the key of each object of `kind` whose policy state changed. */
  subscribe(kind: MemberKind, listener: (key: ObjectKey) => void): void {
    this.#listeners.set(kind, [...(this.#listeners.get(kind) ?? []), listener]);
  }

  get(cluster: ObjectKey): ClusterPolicyState | undefined {
    return this.#clusters.get(clusterId(cluster));
  }

  record(cluster: ObjectKey, next: ClusterPolicyState): void {
    const id = clusterId(cluster);
    const prev = this.#clusters.get(id);
    this.#clusters.set(id, next);
    const countsChanged = !prev || prev.brokers !== next.brokers || prev.inSync !== next.inSync;
    const changed = new Set<string>();
    for (const [key, m] of next.members) if (countsChanged || !sameMember(prev?.members.get(key), m)) changed.add(key);
    for (const key of prev?.members.keys() ?? []) if (!next.members.has(key)) changed.add(key);
    this.#notify(cluster.namespace, changed);
  }

  /** The cluster is gone: its members are told (their status says so). */
  forget(cluster: ObjectKey): void {
    const id = clusterId(cluster);
    const prev = this.#clusters.get(id);
    if (!prev) return;
    this.#clusters.delete(id);
    this.#notify(cluster.namespace, new Set(prev.members.keys()));
  }

  #notify(namespace: string, keys: Set<string>): void {
    for (const key of keys) {
      const slash = key.indexOf('/');
      const kind = key.slice(0, slash) as MemberKind;
      for (const l of this.#listeners.get(kind) ?? []) l({ namespace, name: key.slice(slash + 1) });
    }
  }
}
