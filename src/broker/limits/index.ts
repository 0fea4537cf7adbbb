// Limits of the broker: rate quotas with throttling, connection/producer/consumer caps, and host
// access lists. Pure classes with the time passed in; the listeners call them.
export { TokenBucket, DEFAULT_MAX_THROTTLE_MS } from './token-bucket.ts';
export { QuotaManager, quotaOptionsSchema, topicQuotaSchema, type QuotaOptions, type TopicQuota } from './quotas.ts';
export { ConnectionLimiter, LimitReason, type Admission, type ConnectionKey, type ConnectionLimits } from './connections.ts';
export { HostAccess, HostReason } from './host-access.ts';
export { compileRecordLimits, type RecordLimitCheck, type RecordLimits } from './record-limits.ts';
