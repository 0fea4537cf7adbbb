// Partition placement, pure: which broker leads each partition of a topic. The operator (playing
// Kafka's controller) runs it and records the result in the Topic's status; the ClusterState
// carries it to the brokers.
//
// Rules:
// - stable: a partition already placed never moves here (only a leader change, later work,
//   moves one, and bumps its leader epoch); a topic that grows keeps its partitions and gets the
//   new ones appended;
// - balanced: each new partition goes to the broker leading the fewest partitions of this
//   topic, then the fewest of all topics of the cluster, then the next in an order that starts
//   at a place the topic's name picks (so single-partition topics do not all land on broker 0).
import type { PartitionAssignment } from './state.ts';

/** A partition's leader and epoch: what a Topic's status records for it. */
export interface PartitionLeader {
  partition: number;
  leader: number;
  leaderEpoch: number;
}

/** Partitions led by each broker, over the placements given (other topics of the cluster). */
export function leaderLoad(placements: Iterable<readonly PartitionLeader[]>): Map<number, number> {
  const load = new Map<number, number>();
  for (const partitions of placements) for (const p of partitions) load.set(p.leader, (load.get(p.leader) ?? 0) + 1);
  return load;
}

function nameStart(name: string, n: number): number {
  let h = 0;
  for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
  return h % n;
}

export interface PlacementInput {
  /** Broker ids that may lead new partitions (0..replicas-1). */
  brokers: readonly number[];
  /** The topic's Kafka name. */
  name: string;
  /** What is placed already (kept as it is). */
  existing: readonly PartitionLeader[];
  /** How many partitions the topic has now. */
  partitions: number;
  /** Partitions each broker leads for the other topics of the cluster. */
  load: ReadonlyMap<number, number>;
}

/** The topic's partitions: the existing ones unchanged, then new ones up to `partitions`. Never fewer than exist. */
export function placePartitions(input: PlacementInput): PartitionLeader[] {
  const out = [...input.existing].sort((a, b) => a.partition - b.partition);
  if (out.length >= input.partitions) return out;
  const ids = [...new Set(input.brokers)].sort((a, b) => a - b);
  if (ids.length === 0) throw new RangeError('no brokers to place partitions on');
  const start = nameStart(input.name, ids.length);
  const own = new Map<number, number>();
  for (const p of out) own.set(p.leader, (own.get(p.leader) ?? 0) + 1);
  const order = (id: number) => (ids.indexOf(id) - start + ids.length) % ids.length;
  for (let partition = out.length; partition < input.partitions; partition++) {
    let best = ids[0]!;
    for (const id of ids) {
      const a = [own.get(id) ?? 0, input.load.get(id) ?? 0, order(id)];
      const b = [own.get(best) ?? 0, input.load.get(best) ?? 0, order(best)];
      if (a[0]! < b[0]! || (a[0] === b[0] && (a[1]! < b[1]! || (a[1] === b[1] && a[2]! < b[2]!)))) best = id;
    }
    own.set(best, (own.get(best) ?? 0) + 1);
    out.push({ partition, leader: best, leaderEpoch: 0 });
  }
  return out;
}

/** The ClusterState form of a placement, replication factor 1: the leader is the one replica and the ISR. */
export function assignmentsOf(partitions: readonly PartitionLeader[]): PartitionAssignment[] {
  return [...partitions].sort((a, b) => a.partition - b.partition).map((p) => ({ partition: p.partition, leader: p.leader, leaderEpoch: p.leaderEpoch, replicas: [p.leader], isr: [p.leader] }));
}
