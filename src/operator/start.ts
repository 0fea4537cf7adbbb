// The operator's composition root: configuration → client → informers and queues (the runner)
// → leader election → health and metrics server. The reconcilers to run are given by the caller
// (the CLI passes defaultReconcilers(); tests pass their own).
import { hostname } from 'node:os';
import type { KubeConfig } from '@kubernetes/client-node';
import { createLogger, realClock, type Clock, type Logger } from '../lib/index.ts';
import { ControllerRunner, KubeClient, KubeEventRecorder, KubeObjectApi, LeaderElector, loadKubeConfig, OperatorMetrics, type Reconciler } from './controller/index.ts';
import { startHealthServer, type HealthServer } from './health-server.ts';
import { KINDS, kindId, type KindRef } from './kinds.ts';

export interface LeaderElectionSettings {
  /** Namespace of the Lease. */
  namespace: string;
  /** Lease name (default bulwark-operator). */
  name?: string;
  /** This replica (default: the hostname, i.e. the pod name). */
  identity?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  renewIntervalMs?: number;
  retryPeriodMs?: number;
}

export interface OperatorOptions {
  /** Where the API server and credentials come from: a KubeConfig, a kubeconfig file, in-cluster, or (none given) the default chain. */
  kubeConfig?: KubeConfig;
  kubeconfig?: string;
  /** A client made by the caller (tests that make the API server misbehave); the others are then ignored. */
  client?: KubeClient;
  inCluster?: boolean;
  reconcilers: readonly Reconciler[];
  /** Namespaces served; all when undefined or empty. */
  namespaces?: readonly string[];
  /** false: act at once, no Lease (a single replica, or tests). */
  leaderElection: LeaderElectionSettings | false;
  /** Health and metrics port (default 8080; 0 picks a free one) and address (default 0.0.0.0). */
  metricsPort?: number;
  metricsHost?: string;
  log?: Logger;
  clock?: Clock;
  concurrency?: number;
  resyncMs?: number;
  backoffMs?: [number, number];
  watchTimeoutSeconds?: [number, number];
}

export interface OperatorHandle {
  readonly metricsPort: number;
  readonly runner: ControllerRunner;
  readonly api: KubeObjectApi;
  readonly metrics: OperatorMetrics;
  readonly events: KubeEventRecorder;
  isLeader(): boolean;
  /** Every informer has listed. */
  synced(): Promise<void>;
  /** Stop reconciling (waiting for what is in flight), release the Lease, stop informers and the server. */
  stop(): Promise<void>;
}

export async function startOperator(options: OperatorOptions): Promise<OperatorHandle> {
  const log = options.log ?? createLogger();
  const clock = options.clock ?? realClock;
  const client = options.client ?? new KubeClient(options.kubeConfig ?? loadKubeConfig({ ...(options.kubeconfig ? { kubeconfig: options.kubeconfig } : {}), ...(options.inCluster ? { inCluster: true } : {}) }));
  const kinds = new Map<string, KindRef>(Object.values(KINDS).map((k) => [kindId(k), k]));
  for (const r of options.reconcilers) for (const k of [r.primary, ...r.owns, ...(r.watches ?? []).map((w) => w.kind)]) kinds.set(kindId(k), k);
  const api = new KubeObjectApi(client, [...kinds.values()]);
  const metrics = new OperatorMetrics();
  const identity = (options.leaderElection && options.leaderElection.identity) || hostname();
  const events = new KubeEventRecorder({ client, clock, log: log.child({ component: 'events' }), instance: identity });
  const runner = new ControllerRunner({
    client,
    api,
    reconcilers: options.reconcilers,
    ...(options.namespaces ? { namespaces: options.namespaces } : {}),
    events,
    metrics,
    clock,
    log: log.child({ component: 'controller' }),
    ...(options.concurrency ? { concurrency: options.concurrency } : {}),
    ...(options.resyncMs !== undefined ? { resyncMs: options.resyncMs } : {}),
    ...(options.backoffMs ? { backoffMs: options.backoffMs } : {}),
    ...(options.watchTimeoutSeconds ? { watchTimeoutSeconds: options.watchTimeoutSeconds } : {}),
  });

  let server: HealthServer | undefined;
  try {
    server = await startHealthServer({
      host: options.metricsHost ?? '0.0.0.0',
      port: options.metricsPort ?? 8080,
      metricsContentType: metrics.registry.contentType,
      metrics: () => {
        runner.collectMetrics();
        return metrics.registry.metrics();
      },
      ready: () => runner.synced,
    });
  } catch (err) {
    client.close();
    throw err;
  }
  runner.start();

  let elector: LeaderElector | undefined;
  const le = options.leaderElection;
  if (le) {
    elector = new LeaderElector({
      client,
      namespace: le.namespace,
      name: le.name ?? 'bulwark-operator',
      identity,
      clock,
      log: log.child({ component: 'leader-election' }),
      ...(le.leaseDurationMs ? { leaseDurationMs: le.leaseDurationMs } : {}),
      ...(le.renewDeadlineMs ? { renewDeadlineMs: le.renewDeadlineMs } : {}),
      ...(le.renewIntervalMs ? { renewIntervalMs: le.renewIntervalMs } : {}),
      ...(le.retryPeriodMs ? { retryPeriodMs: le.retryPeriodMs } : {}),
      onStartedLeading: () => void runner.startWorking(),
      onStoppedLeading: () => void runner.stopWorking(),
    });
    elector.start();
  } else {
    void runner.startWorking();
  }
  log.info({ identity, namespaces: options.namespaces?.length ? options.namespaces : 'all', reconcilers: options.reconcilers.map((r) => r.name), metricsPort: server.port, leaderElection: le ? `${le.namespace}/${le.name ?? 'bulwark-operator'}` : false }, 'operator started');

  let stopping: Promise<void> | undefined;
  return {
    metricsPort: server.port,
    runner,
    api,
    metrics,
    events,
    isLeader: () => runner.leading,
    synced: () => runner.waitForSync(),
    stop: () =>
      (stopping ??= (async () => {
        await runner.stopWorking();
        await elector?.stop();
        await runner.stop();
        await events.flush();
        await server.close();
        client.close();
        log.info('operator stopped');
      })()),
  };
}
