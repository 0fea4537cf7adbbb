// The composition root of the broker process: opens the broker (log, topics, security), then
// starts each listener against the small port it needs, and wires what crosses them (policy
// changes and token expiry close revoked Kafka sessions). No listener imports broker.ts.
//
// Start order: the probe listener first (alive, not ready, while the log recovers and the rest
// comes up), then policy sources (a policy directory is compiled before any client can
// connect), then the Kafka listeners, HTTP, metrics, the internal listener, timers. Stop order is the
// reverse (Broker.stop runs the closers registered here last to first), then the log closes.
import type { Server } from 'node:net';
import type { BrokerConfig } from '../config/index.ts';
import { TlsContext } from '../pki/index.ts';
import { Broker, type BrokerStartOptions } from './broker.ts';
import { startHttpServer } from './http/server.ts';
import { startKafkaListeners } from './kafka/server.ts';
import { PolicyDirectoryWatcher, startInternalListener } from './policy/index.ts';
import { registerClusterRoutes } from './cluster-routes.ts';
import { closeMetricsListener, startMetricsListener } from './metrics-listener.ts';
import { closeProbeListener, startProbeListener, type ProbeTarget } from './probes.ts';

/** Opens the data directory (recovering every partition), loads the policy, then starts every configured listener. */
export async function startBroker(config: BrokerConfig, opts: BrokerStartOptions = {}): Promise<Broker> {
  // The probe listener comes up before the log is recovered, which can take long after a crash:
  // /healthz says alive and /readyz "recovering" meanwhile, so a liveness probe does not kill a
  // broker that is busy recovering.
  let probeTarget: ProbeTarget = { stopping: false, readiness: () => ({ ready: false, reasons: ['starting: recovering the log'] }) };
  const current: ProbeTarget = {
    get stopping() {
      return probeTarget.stopping;
    },
    readiness: () => probeTarget.readiness(),
  };
  const probes = config.probes ? await startProbeListener(current, config.probes.host, config.probes.port) : undefined;
  let broker: Broker;
  try {
    broker = await Broker.open(config, opts);
  } catch (err) {
    if (probes) await closeProbeListener(probes);
    throw err;
  }
  probeTarget = broker;
  const logger = broker.logger;
  try {
    if (probes) {
      broker.addServer('probes', probes);
      broker.onStop(() => closeProbeListener(probes));
    }
    if (config.policy.dir) {
      const watcher = new PolicyDirectoryWatcher(config.policy.dir, broker.policy, { saltKey: broker.security.serverSecret, debounceMs: config.policy.reloadDebounceMs, logger: logger.child({ component: 'policy' }),
        ...(opts.onPolicyDirectoryChange ? { onContentChange: opts.onPolicyDirectoryChange } : {}),
      });
      await watcher.start();
      broker.onStop(() => watcher.close());
    }

    const kafka = await startKafkaListeners(broker);
    for (const [name, server] of kafka.servers) broker.addServer(name, server);
    // With port 0 the OS picked one: advertise the real port.
    if (config.kafka.port === 0 && config.kafka.advertisedPort === undefined) {
      broker.topics.advertise(config.brokerId, { host: config.kafka.advertisedHost ?? config.kafka.host, port: broker.kafkaPort! });
    }
    broker.policy.onChange(() => kafka.handlers.closeRevoked());
    // Token expiry needs no policy change: check open sessions on a short timer.
    const sessionTimer = setInterval(() => kafka.handlers.closeRevoked(), config.auth.sessionCheckIntervalMs);
    sessionTimer.unref();
    broker.onStop(() => clearInterval(sessionTimer));

    if (config.http.enabled) {
      const httpLog = logger.child({ component: 'http' });
      let tls: TlsContext | undefined;
      if (config.http.tls) {
        const context = new TlsContext(config.http.tls, { onError: (err) => httpLog.warn({ err }, 'TLS files not reloaded; still serving the previous certificate') });
        broker.onStop(() => context.close());
        tls = context;
      }
      const https = tls?.serverOptions() as Record<string, unknown> | undefined;
      const http = await startHttpServer(broker, config.http.host, config.http.port, { security: broker.security.http(), logger: httpLog, ...(https ? { https } : {}) });
      tls?.attach(http.server as unknown as Parameters<TlsContext['attach']>[0]);
      broker.addServer('http', http.server as unknown as Server);
      broker.onStop(() => http.close());
    }

    if (config.metrics) {
      const metrics = await startMetricsListener(broker.metrics.registry, config.metrics.host, config.metrics.port);
      broker.addServer('metrics', metrics);
      broker.onStop(() => closeMetricsListener(metrics));
    }

    if (config.internal.enabled) {
      const requests = broker.topics.requests;
      const internal = await startInternalListener(broker, logger.child({ component: 'internal' }), broker.topics.clustered ? (app) => registerClusterRoutes(app, broker.topics) : undefined);
      broker.addServer('internal', internal.server as unknown as Server);
      broker.onStop(() => internal.close());
      // Before the listener closes (closers run last to first): a long poll in flight answers now, not after its wait.
      if (requests) broker.onStop(() => requests.close());
    }

    const retentionTimer = setInterval(() => broker.store.enforceRetention(), config.log.retentionCheckIntervalMs);
    retentionTimer.unref();
    broker.onStop(() => clearInterval(retentionTimer));
    broker.markStarted();
    return broker;
  } catch (err) {
    await broker.stop();
    throw err;
  }
}
