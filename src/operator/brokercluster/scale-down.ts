// Scaling a BrokerCluster down removes the brokers with the highest ids (StatefulSet ordinals).
// A broker that leads partitions cannot go until they move, and moving partitions is later work:
// the scale-down is refused (the StatefulSet keeps its replicas) and says which brokers block it.
// Pure, table-tested.

/** The placement a Topic's status records, as far as this check reads it. */
export interface TopicLeaders {
  /** The Kafka topic name. */
  name: string;
  partitions: readonly { partition: number; leader: number }[];
}

export interface ScaleDownBlock {
  /** The replicas the StatefulSet keeps. */
  keep: number;
  message: string;
}

/** Why going from `current` to `desired` replicas is refused; undefined when it is not a scale-down, or nothing blocks it. */
export function scaleDownBlock(desired: number, current: number | undefined, topics: readonly TopicLeaders[]): ScaleDownBlock | undefined {
  if (current === undefined || desired >= current) return undefined;
  const led = new Map<number, { partitions: number; topics: Set<string> }>();
  for (const t of topics) {
    for (const p of t.partitions) {
      if (p.leader < desired) continue;
      const e = led.get(p.leader) ?? { partitions: 0, topics: new Set<string>() };
      e.partitions++;
      e.topics.add(t.name);
      led.set(p.leader, e);
    }
  }
  if (led.size === 0) return undefined;
  const blockers = [...led.entries()].sort(([a], [b]) => a - b).map(([id, e]) => {
    const names = [...e.topics].sort();
    const shown = names.length > 5 ? `${names.slice(0, 5).join(', ')} and ${names.length - 5} more` : names.join(', ');
    return `broker ${id} leads ${e.partitions} partition${e.partitions === 1 ? '' : 's'} (topic${names.length === 1 ? '' : 's'} ${shown})`;
  });
  return {
    keep: current,
    message: `scaling down from ${current} to ${desired} brokers is refused: ${blockers.join('; ')}. Moving partitions to other brokers is not built yet: delete those topics, or set spec.replicas back to ${current}. The StatefulSet keeps ${current} replicas meanwhile`,
  };
}
