// What a BrokerCluster's objects are called, how they are labelled, and where a broker pod finds
// its files. One place, so that the builders, the certificates and the docs (docs/operator.md)
// agree on every name.
import type { BrokerCluster } from '../../api/index.ts';
import { DEFAULT_INTERNAL_PORT } from '../../config/index.ts';

/** Options of the operator that shape what it builds. */
export interface ClusterBuildOptions {
  /** Broker image when spec.image is left out: the operator's own image and version. */
  brokerImage: string;
  /** Namespace the operator runs in (its pods are the only ones allowed to the internal port). */
  operatorNamespace: string;
  /** Labels of the operator's pods, for the NetworkPolicy's internal-port rule. */
  operatorPodLabels: Readonly<Record<string, string>>;
  /** Common name of the operator's client certificate: the identity the internal listener admits. */
  operatorIdentity: string;
  /** DNS suffix of the cluster's Services. */
  clusterDomain: string;
}

export const DEFAULT_BUILD_OPTIONS: ClusterBuildOptions = {
  brokerImage: 'bulwark:latest',
  operatorNamespace: 'bulwark-system',
  operatorPodLabels: { 'app.kubernetes.io/name': 'bulwark', 'app.kubernetes.io/component': 'operator' },
  operatorIdentity: 'bulwark-operator',
  clusterDomain: 'cluster.local',
};

export const CONFIG_HASH_ANNOTATION = 'bulwark.dev/config-hash';

/**
 * Longest BrokerCluster name the operator accepts: the StatefulSet's pods carry a
 * controller-revision-hash label of `<name>-<10 chars>` (63 at most), and `<name>-brokers` is a
 * DNS label in every certificate name.
 */
export const MAX_CLUSTER_NAME = 47;

/**
 * The Kafka cluster id of a BrokerCluster: in every broker's configuration and in every
 * ClusterState the operator pushes (a broker refuses a state for another cluster).
 */
export function kafkaClusterId(namespace: string, name: string): string {
  return `${namespace}.${name}`.slice(0, 64);
}

export function objectNames(clusterName: string) {
  return {
    serviceAccount: `${clusterName}-broker`,
    configMap: `${clusterName}-config`,
    headlessService: `${clusterName}-brokers`,
    clientService: clusterName,
    statefulSet: clusterName,
    podDisruptionBudget: clusterName,
    networkPolicy: clusterName,
    serverSecret: `${clusterName}-server-secret`,
    caSecret: `${clusterName}-ca`,
    serverTlsSecret: `${clusterName}-tls`,
    internalTlsSecret: `${clusterName}-internal-tls`,
    operatorTlsSecret: `${clusterName}-operator-tls`,
  } as const;
}
export type ObjectNames = ReturnType<typeof objectNames>;

/** The labels every owned object carries; the selector of the broker pods is the first two and component. */
export function clusterLabels(clusterName: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'bulwark',
    'app.kubernetes.io/instance': clusterName,
    'app.kubernetes.io/component': 'broker',
    'app.kubernetes.io/managed-by': 'bulwark-operator',
  };
}

export function podSelectorLabels(clusterName: string): Record<string, string> {
  return { 'app.kubernetes.io/name': 'bulwark', 'app.kubernetes.io/instance': clusterName, 'app.kubernetes.io/component': 'broker' };
}

// --- Where a broker pod finds its files ------------------------------------------------------------

export const MOUNTS = {
  config: '/etc/bulwark/config',
  configFile: '/etc/bulwark/config/broker.json',
  data: '/var/lib/bulwark',
  /** Each TLS listener's certificate at <listenerTls>/<listener name>/{tls.crt,tls.key,ca.crt}: a directory of its own, so no listener name can collide with internal. */
  listenerTls: '/etc/bulwark/tls/listeners',
  internalTls: '/etc/bulwark/tls/internal',
  serverSecret: '/etc/bulwark/server-secret',
  serverSecretFile: '/etc/bulwark/server-secret/secret',
  /** spec.encryption.keysSecretRef, read-only: one file per key id. */
  encryptionKeys: '/etc/bulwark/encryption-keys',
  /** spec.authentication.oauthBearer.caRef, read-only: the one key as ca.crt. */
  oauthBearerCa: '/etc/bulwark/oauth-bearer-ca',
  oauthBearerCaFile: '/etc/bulwark/oauth-bearer-ca/ca.crt',
  tmp: '/tmp',
} as const;

export const SERVER_SECRET_KEY = 'secret';
/** Default port of the kubelet's probe listener (plain HTTP /healthz, /readyz). */
export const DEFAULT_PROBE_PORT = 9095;
/** Default port of the metrics listener Prometheus scrapes (plain HTTP /metrics). */
export const DEFAULT_METRICS_PORT = 9096;
/**
 * Who may reach the metrics port when spec.networkPolicy.metricsPeers is left out: pods labelled
 * bulwark.dev/metrics-scraper=true, in any namespace (label the Prometheus pods).
 */
export const METRICS_SCRAPER_LABEL = 'bulwark.dev/metrics-scraper';
/** Long enough for the broker to stop its listeners and flush every partition on SIGTERM. */
export const TERMINATION_GRACE_SECONDS = 60;
/** The restricted profile's numeric user, group and fsGroup (the distroless "nonroot" user). */
export const BROKER_UID = 65532;

export function internalPort(cluster: BrokerCluster): number {
  return cluster.spec.internalPort ?? DEFAULT_INTERNAL_PORT;
}

/** The probe port: 9095, or the first port above it no listener uses. */
export function probePort(cluster: BrokerCluster): number {
  const taken = new Set([...cluster.spec.listeners.map((l) => l.port), internalPort(cluster)]);
  let port = DEFAULT_PROBE_PORT;
  while (taken.has(port)) port++;
  return port;
}

/** The metrics port: 9096, or the first port above it that no listener, the internal listener or the probe port uses. */
export function metricsPort(cluster: BrokerCluster): number {
  const taken = new Set([...cluster.spec.listeners.map((l) => l.port), internalPort(cluster), probePort(cluster)]);
  let port = DEFAULT_METRICS_PORT;
  while (taken.has(port)) port++;
  return port;
}

/** Service DNS names of a cluster: `<name>.<ns>.svc` and friends. */
export function serviceHost(clusterName: string, namespace: string): string {
  return `${clusterName}.${namespace}.svc`;
}
