/** Kafka topic names: up to 249 characters of [a-zA-Z0-9._-]. Shared by the API and the log. */
export const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;

/** Topic config keys Bulwark understands, with Kafka's names. Shared by the Topic kind (src/api) and the topic rules (src/cluster). */
export const TOPIC_CONFIG_KEYS = ['retention.ms', 'retention.bytes', 'segment.bytes', 'segment.ms', 'flush.messages', 'flush.ms', 'max.message.bytes'] as const;
