// Resource limits, after SwiftMQ's resource limit groups and Rivven's rate limits. Used inline
// on a User and as named limit groups on a BrokerCluster; absent means "inherit".
import { z } from 'zod';

const count = (description: string, max = 1_000_000) => z.number().int().min(0).max(max).optional().describe(description);

export const limits = z
  .strictObject({
    maxConnections: count('Most connections open at once for this user, across listeners.'),
    maxProducers: count('Most connections of this user that are producing at once.'),
    maxConsumers: count('Most consumer-group members this user may have at once.'),
    maxTokens: count('Most AccessTokens this user may hold.', 10_000),
    requestsPerSecond: count('Request rate (token bucket, refilled per second); excess requests are throttled with throttle_time_ms.', 10_000_000),
    produceBytesPerSecond: count('Produce byte rate for this user; excess is throttled with throttle_time_ms.', 10_000_000_000),
    fetchBytesPerSecond: count('Fetch byte rate for this user; excess is throttled with throttle_time_ms.', 10_000_000_000),
  })
  .describe('Limits on connections, clients and rates. A field left out inherits from the limit group, then from the cluster.');
export type Limits = z.infer<typeof limits>;
