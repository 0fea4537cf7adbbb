// What the listeners (Kafka, HTTP) need from the broker: one surface, so both apply the same
// rules to topics, produce and fetch.
import type { ClusterState } from '../cluster/index.ts';
import type { AppendResult, FetchResult } from '../log/index.ts';
import type { BrokerConfig } from '../config/index.ts';
import type { BrokerMetrics } from './metrics.ts';
import type { TopicManager } from './topics.ts';

export interface BrokerCore {
  readonly config: BrokerConfig;
  readonly metrics: BrokerMetrics;
  readonly topics: TopicManager;
  readonly cluster: ClusterState;
  /** Appends record batches to a partition; throws coded errors (BWK_ERR_LOG_*, BWK_ERR_PARTITION_NOT_FOUND). */
  produce(topic: string, partition: number, records: Buffer): Promise<AppendResult>;
  /**
   * Reads from a partition, waiting up to maxWaitMs for data when there is none. The records
   * may be read into `into`; the caller must be done with them before reusing it.
   */
  fetch(topic: string, partition: number, offset: number, maxBytes: number, maxWaitMs?: number, into?: Buffer): Promise<FetchResult>;
  /** Whether the broker can serve: started, and no partition fenced. */
  readiness(): { ready: boolean; reasons: string[] };
}
