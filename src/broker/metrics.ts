// Prometheus metrics of one broker, in a registry of its own (several brokers can share a
// process in tests).
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export class BrokerMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: 'bulwark_kafka_requests_total', help: 'Kafka requests handled, by API and error.', labelNames: ['api', 'error'] as const, registers: [this.registry] });
  readonly requestSeconds = new Histogram({
    name: 'bulwark_kafka_request_seconds',
    help: 'Time to handle a Kafka request, by API.',
    labelNames: ['api'] as const,
    buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [this.registry],
  });
  readonly producedBytes = new Counter({ name: 'bulwark_produced_bytes_total', help: 'Record batch bytes appended, by topic.', labelNames: ['topic'] as const, registers: [this.registry] });
  readonly producedRecords = new Counter({ name: 'bulwark_produced_records_total', help: 'Records appended, by topic.', labelNames: ['topic'] as const, registers: [this.registry] });
  readonly fetchedBytes = new Counter({ name: 'bulwark_fetched_bytes_total', help: 'Record batch bytes served to consumers, by topic.', labelNames: ['topic'] as const, registers: [this.registry] });
  readonly connections = new Gauge({ name: 'bulwark_connections', help: 'Open client connections, by listener.', labelNames: ['listener'] as const, registers: [this.registry] });
  readonly authentications = new Counter({ name: 'bulwark_authentications_total', help: 'Logins, by listener, mechanism and outcome (success, failure).', labelNames: ['listener', 'mechanism', 'outcome'] as const, registers: [this.registry] });
  readonly authorizationDenials = new Counter({ name: 'bulwark_authorization_denials_total', help: 'Permissions denied, by resource type and action (listings filtered quietly are not counted).', labelNames: ['type', 'action'] as const, registers: [this.registry] });
  readonly throttledSeconds = new Counter({ name: 'bulwark_throttle_seconds_total', help: 'Time answers were delayed by quotas (throttle_time_ms), in seconds.', registers: [this.registry] });
  readonly sessionsClosed = new Counter({ name: 'bulwark_sessions_closed_total', help: 'Connections the broker closed because the policy no longer accepts their principal, by reason.', labelNames: ['reason'] as const, registers: [this.registry] });
  readonly protocolErrors = new Counter({ name: 'bulwark_protocol_errors_total', help: 'Connections closed for malformed or oversized frames.', registers: [this.registry] });
  readonly idleConnectionsClosed = new Counter({ name: 'bulwark_idle_connections_closed_total', help: 'Kafka connections closed after limits.connectionsMaxIdleMs without traffic, by listener.', labelNames: ['listener'] as const, registers: [this.registry] });
  /** Set by the broker once its log is open: which encryption keys the segments on disk need. */
  keyUsage: (() => ReadonlyMap<string, readonly string[]>) | undefined;
  readonly keySegments: Gauge<'key_id'> = new Gauge({
    name: 'bulwark_log_key_segments',
    help: 'Log segments on disk holding batches sealed with each encryption key id ("(plaintext)": batches in the clear). A key id not listed may be retired.',
    labelNames: ['key_id'] as const,
    registers: [this.registry],
    collect: () => {
      this.keySegments.reset();
      for (const [keyId, files] of this.keyUsage?.() ?? []) this.keySegments.set({ key_id: keyId }, files.length);
    },
  });

  /** Set by the broker once its audit log exists: each sink's counters. */
  auditStats: (() => readonly { kind: string; written: number; dropped: number; failed: number }[]) | undefined;
  readonly auditEvents: Counter<'sink' | 'outcome'> = new Counter({
    name: 'bulwark_audit_events_total',
    help: 'Audit events by sink (file, topic, syslog, log) and outcome: written, dropped (the sink fell behind; its queue was full), failed (a write or send failed).',
    labelNames: ['sink', 'outcome'] as const,
    registers: [this.registry],
    collect: () => {
      this.auditEvents.reset();
      for (const s of this.auditStats?.() ?? []) for (const outcome of ['written', 'dropped', 'failed'] as const) this.auditEvents.inc({ sink: s.kind, outcome }, s[outcome]);
    },
  });

  /** Set by the broker once its policy is open: whether spec.authorization.mode authenticatedFullAccess is in force. */
  authorizationFullAccess: (() => boolean) | undefined;
  readonly authorizationFullAccessGauge: Gauge = new Gauge({
    name: 'bulwark_authorization_full_access',
    help: '1 while the policy in force lets every authenticated user do everything (BrokerCluster spec.authorization.mode authenticatedFullAccess), else 0.',
    registers: [this.registry],
    collect: () => {
      this.authorizationFullAccessGauge.set(this.authorizationFullAccess?.() ? 1 : 0);
    },
  });

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'bulwark_process_' });
  }
}
