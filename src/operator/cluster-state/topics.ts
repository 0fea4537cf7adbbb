// The Topics of a BrokerCluster as the operator reads them: parsed with the schema the CRD was
// generated from, their Kafka names, which of two Topics claiming one Kafka name wins, and the
// Kubernetes name a topic created through the Kafka API gets.
import { createHash } from 'node:crypto';
import { DNS_SUBDOMAIN, kafkaTopicName, parseResource, type Topic, type TopicStatus } from '../../api/index.ts';
import { KINDS, type KubeObject, type ObjectCache } from '../controller/index.ts';

export type StoredTopic = KubeObject & { spec?: { clusterRef?: { name?: string }; topicName?: string; partitions?: number; replicationFactor?: number; config?: Record<string, string> }; status?: TopicStatus };

/** Annotations on a Topic the operator created for a CreateTopics request. */
export const CREATED_BY_ANNOTATION = 'bulwark.dev/created-by';
export const CREATED_BY_KAFKA_API = 'kafka-api';
export const PRINCIPAL_ANNOTATION = 'bulwark.dev/principal';
/** The request it was created for: a request answered twice (the answer was lost) is recognised. */
export const TOPIC_REQUEST_ANNOTATION = 'bulwark.dev/topic-request';

/** The Topic parsed, or the errors that keep it from parsing (it passed admission: an older CRD). */
export function parseTopic(stored: StoredTopic): { ok: true; topic: Topic } | { ok: false; message: string } {
  const r = parseResource(stored, stored.metadata.namespace);
  if (!r.ok) return { ok: false, message: r.errors.map((e) => `${e.path}: ${e.message}`).join('; ') };
  if (r.value.kind !== 'Topic') return { ok: false, message: 'expected kind Topic' };
  return { ok: true, topic: r.value };
}

/** A stored Topic's Kafka name (status, then spec, then metadata.name: readable even when the spec does not parse). */
export function storedTopicName(t: StoredTopic): string {
  return t.status?.topicName ?? (typeof t.spec?.topicName === 'string' ? t.spec.topicName : t.metadata.name);
}

/** The Topics of one cluster, from the cache; not those being deleted. */
export function clusterTopics(cache: ObjectCache, namespace: string, cluster: string): StoredTopic[] {
  return cache.list<StoredTopic>(KINDS.topic, namespace).filter((t) => t.spec?.clusterRef?.name === cluster && !t.metadata.deletionTimestamp);
}

/** First come, first served: the older Topic keeps a Kafka name (then the smaller metadata.name). */
function older(a: StoredTopic, b: StoredTopic): number {
  const ta = a.metadata.creationTimestamp ?? '';
  const tb = b.metadata.creationTimestamp ?? '';
  if (ta !== tb) return ta < tb ? -1 : 1;
  return a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0;
}

/**
 * For each Topic of a cluster that loses its Kafka name to an older one, the name of the winner.
 * Topics not in the map hold their name.
 */
export function nameConflicts(topics: readonly StoredTopic[]): Map<string, string> {
  const byName = new Map<string, StoredTopic[]>();
  for (const t of topics) {
    const name = storedTopicName(t);
    byName.set(name, [...(byName.get(name) ?? []), t]);
  }
  const losers = new Map<string, string>();
  for (const group of byName.values()) {
    if (group.length < 2) continue;
    const [winner, ...rest] = [...group].sort(older);
    for (const t of rest) losers.set(t.metadata.name, winner!.metadata.name);
  }
  return losers;
}

/** The Topic of a cluster holding a Kafka name (the winner, when several claim it). */
export function topicNamed(topics: readonly StoredTopic[], kafkaName: string): StoredTopic | undefined {
  return topics.filter((t) => storedTopicName(t) === kafkaName).sort(older)[0];
}

/**
 * The Kubernetes name for a topic created through the Kafka API: the Kafka name itself when it is
 * a valid one (lowercase, digits, "-", "."), otherwise a lowercase form with a hash of the Kafka
 * name (so "Orders" and "orders" never share one). `salt` gives another name for the same topic
 * (used when the first belongs to a Topic of another cluster of the namespace).
 */
export function kubernetesTopicName(kafkaName: string, salt = ''): string {
  if (!salt && kafkaName.length <= 253 && DNS_SUBDOMAIN.test(kafkaName)) return kafkaName;
  const base = kafkaName.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/-+/g, '-').replace(/^-|-$/g, '').slice(0, 200) || 'topic';
  const hash = createHash('sha256').update(`${salt}\0${kafkaName}`).digest('hex').slice(0, 10);
  return `${base}-${hash}`;
}

export { kafkaTopicName };
