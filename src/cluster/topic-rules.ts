// Rules every topic obeys, wherever it is created: the configs Bulwark understands and the
// names reserved for Bulwark's own topics.
import { TOPIC_CONFIG_KEYS } from '../lib/index.ts';
import type { TopicConfig } from './state.ts';

/** Topic config keys Bulwark understands, with Kafka's names (defined in lib/, which the Topic kind in api/ shares). */
export { TOPIC_CONFIG_KEYS };

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

