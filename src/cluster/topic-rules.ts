// Rules every topic obeys, wherever it is created: the configs Bulwark understands and the
// names reserved for Bulwark's own topics.
import type { TopicConfig } from './state.ts';

/** Topic config keys Bulwark understands, with Kafka's names. */
export const TOPIC_CONFIG_KEYS = ['retention.ms', 'retention.bytes', 'segment.bytes', 'segment.ms', 'flush.messages', 'flush.ms', 'max.message.bytes'] as const;

/** What is wrong with a topic's configs, if anything. */
export function topicConfigProblem(config: TopicConfig): string | undefined {
  for (const [k, v] of Object.entries(config)) {
    if (!(TOPIC_CONFIG_KEYS as readonly string[]).includes(k)) return `unknown config ${k}; Bulwark knows ${TOPIC_CONFIG_KEYS.join(', ')}`;
    if (!/^-?\d{1,19}$/.test(v)) return `config ${k} must be an integer`;
  }
  return undefined;
}

/** Bulwark's own topics (`__audit`): clients may read them if granted, never write or delete them. */
export function isInternalTopic(name: string): boolean {
  return name.startsWith('__');
}

