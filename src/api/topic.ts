// The Topic kind: a Kafka topic of a BrokerCluster, declared for GitOps or recorded by the
// operator when a client creates one through the Kafka API. The spec is the user's; the status
// is the operator's placement (which broker leads each partition, at which epoch) and whether
// every broker holds it.
import { z } from 'zod';
import { TOPIC_CONFIG_KEYS } from '../lib/index.ts';
import { baseStatus, cel, clusterRef, TOPIC_NAME } from './common.ts';

/** The most partitions a Topic may have. */
export const MAX_TOPIC_PARTITIONS = 10_000;

const configKeys = TOPIC_CONFIG_KEYS.map((k) => `'${k}'`).join(', ');

export const topicSpec = cel(
  z.strictObject({
    clusterRef,
    topicName: cel(
      z.string().min(1).max(249).regex(TOPIC_NAME),
      'The Kafka topic name, when it is not metadata.name: Kafka names allow capitals and "_", Kubernetes names do not. 1 to 249 characters of [a-zA-Z0-9._-]; not "." or "..", and not starting with "__" (reserved for Bulwark). Immutable.',
      { rule: 'self == oldSelf', message: 'topicName is immutable' },
      { rule: "self != '.' && self != '..'", message: 'topicName cannot be "." or ".."' },
      { rule: "!self.startsWith('__')", message: 'topic names starting with "__" are reserved for Bulwark' },
    ).optional(),
    partitions: cel(
      z.number().int().min(1).max(MAX_TOPIC_PARTITIONS),
      'Number of partitions. It may grow (new partitions are placed on the brokers), never shrink.',
      { rule: 'self >= oldSelf', message: 'partitions cannot shrink: a Kafka topic\'s partitions can only be added' },
    ),
    replicationFactor: z
      .number()
      .int()
      .min(1)
      .max(32)
      .optional()
      .describe('Copies of each partition. Left out, 1. Only 1 is carried out for now: a Topic asking for more is Stalled (ReplicationNotSupported).'),
    config: z
      .record(z.string().min(1).max(64), z.string().min(1).max(20).describe('An integer, as a string.'))
      .optional()
      .meta({
        description: `Topic configs, Kafka's names and meanings: ${TOPIC_CONFIG_KEYS.join(', ')}. Values are integers written as strings ("604800000"). Left out, the broker's defaults.`,
        maxProperties: TOPIC_CONFIG_KEYS.length,
        'x-kubernetes-validations': [
          { rule: `self.all(k, k in [${configKeys}])`, message: `unknown config key: Bulwark knows ${TOPIC_CONFIG_KEYS.join(', ')}` },
          { rule: "self.all(k, self[k].matches('^-?[0-9]{1,19}$'))", message: 'config values are integers, written as strings' },
        ],
      }),
  }),
  'A Kafka topic of a BrokerCluster: its partitions, replication factor and configs.',
  { rule: 'has(self.topicName) == has(oldSelf.topicName)', message: 'topicName is immutable: it cannot be added or removed', fieldPath: '.topicName' },
);

export const topicPartitionStatus = z
  .strictObject({
    partition: z.number().int().min(0).max(MAX_TOPIC_PARTITIONS - 1).describe('The partition number.'),
    leader: z.number().int().min(0).max(63).describe('The broker that leads it: its id is the ordinal of its pod (<cluster>-<id>).'),
    leaderEpoch: z.number().int().min(0).max(2_147_483_647).describe('The leader epoch: it moves forward each time the partition gets a new leader; a broker takes writes only at the current epoch.'),
  })
  .describe('Where one partition lives.');

export const topicStatus = z
  .strictObject({
    ...baseStatus,
    topicName: z.string().max(249).optional().describe('The Kafka topic name.'),
    topicId: z.string().regex(/^[0-9a-f]{32}$/).max(32).optional().describe('The topic\'s id (Kafka\'s topic UUID), as 32 hex digits: assigned once, when the topic is first placed.'),
    partitions: z
      .array(topicPartitionStatus)
      .max(MAX_TOPIC_PARTITIONS)
      .optional()
      .describe('The leader and leader epoch of each partition, written by the operator under optimistic concurrency (one writer wins; the other re-reads).'),
    clusterStateVersion: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional().describe('Version of the cluster state that first held this generation, applied by every broker.'),
    inSync: z.string().max(32).optional().describe('Brokers that applied a cluster state holding this generation, of the brokers of the cluster: 3/3.'),
  })
  .describe('Observed state of the Topic.');

export type TopicSpec = z.infer<typeof topicSpec>;
export type TopicStatus = z.infer<typeof topicStatus>;
export type TopicPartitionStatus = z.infer<typeof topicPartitionStatus>;

/** The Kafka name of a Topic: spec.topicName, else metadata.name. */
export function kafkaTopicName(topic: { metadata: { name: string }; spec: { topicName?: string | undefined } }): string {
  return topic.spec.topicName ?? topic.metadata.name;
}
