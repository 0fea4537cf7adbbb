// The operator's Prometheus metrics, in a registry of its own (tests run several operators in one process).
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export class OperatorMetrics {
  readonly registry = new Registry();
  readonly reconciles = new Counter({ name: 'bulwark_operator_reconcile_total', help: 'Reconciles run, by reconciler and result (success, error).', labelNames: ['reconciler', 'result'] as const, registers: [this.registry] });
  readonly reconcileErrors = new Counter({ name: 'bulwark_operator_reconcile_errors_total', help: 'Reconciles that failed (and were retried with backoff), by reconciler.', labelNames: ['reconciler'] as const, registers: [this.registry] });
  readonly reconcileSeconds = new Histogram({
    name: 'bulwark_operator_reconcile_duration_seconds',
    help: 'Time one reconcile took, by reconciler.',
    labelNames: ['reconciler'] as const,
    buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({ name: 'bulwark_operator_queue_depth', help: 'Keys waiting to be reconciled now, by reconciler.', labelNames: ['reconciler'] as const, registers: [this.registry] });
  readonly queueWaiting = new Gauge({ name: 'bulwark_operator_queue_waiting', help: 'Keys waiting for a backoff or a requeue-after, by reconciler.', labelNames: ['reconciler'] as const, registers: [this.registry] });
  readonly leader = new Gauge({ name: 'bulwark_operator_leader', help: '1 while this replica holds the leader Lease and acts, 0 on standby.', registers: [this.registry] });
  readonly informerRestarts = new Counter({ name: 'bulwark_operator_informer_restarts_total', help: 'Watch restarts, by kind and cause (ended, error, gone: 410, relisted).', labelNames: ['kind', 'cause'] as const, registers: [this.registry] });
  readonly informerRelists = new Counter({ name: 'bulwark_operator_informer_relists_total', help: 'Lists made after the first, by kind.', labelNames: ['kind'] as const, registers: [this.registry] });

  readonly credentialHashes = new Counter({
    name: 'bulwark_operator_credential_hashes_total',
    help: 'Derived credentials computed (SCRAM salted keys, argon2id hashes), by algorithm: once per password change, never again (not on restarts or leader changes).',
    labelNames: ['algorithm'] as const,
    registers: [this.registry],
  });
  readonly credentialHashSeconds = new Histogram({
    name: 'bulwark_operator_credential_hash_seconds',
    help: 'Time one derivation took (SCRAM salted keys, argon2id), by algorithm.',
    labelNames: ['algorithm'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });
  readonly policyCompileSeconds = new Histogram({ name: 'bulwark_operator_policy_compile_seconds', help: 'Time to gather, compile and seal one cluster\'s policy snapshot.', buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [this.registry] });
  readonly policyPushSeconds = new Histogram({ name: 'bulwark_operator_policy_push_seconds', help: 'Time to push one snapshot to every broker of a cluster (in parallel), until the last answered.', buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [this.registry] });
  readonly policyPushes = new Counter({ name: 'bulwark_operator_policy_pushes_total', help: 'Policy snapshots sent to a broker, by result (applied, unchanged, rejected, failed).', labelNames: ['result'] as const, registers: [this.registry] });

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'bulwark_operator_process_' });
    this.leader.set(0);
  }
}
