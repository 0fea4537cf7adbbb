// A BrokerCluster, where its files are mounted and who the pod is → one broker's configuration.
// Pure: no files are read and nothing is defaulted from the environment. The operator renders
// each pod's configuration with it; local mode (`bulwark broker --policy-dir`) renders the
// BrokerCluster found in the directory with it; `bulwark policy check` runs it to report a
// BrokerCluster the broker would refuse.
//
// Field by field (docs/broker.md "BrokerCluster → broker configuration" keeps this table for users):
//   spec.listeners (kafka)      → kafka (the one named "kafka", else the first; reported as "kafka") and listeners[]
//   spec.listeners (http)       → http (one at most; reported as "http"); none → http.enabled false
//   .tls.enabled/clientAuth/minVersion → <listener>.tls, with the files from mounts.tls[<listener name>]
//   .authentication             → <listener>.authentication (left out or empty: [], nobody can authenticate)
//   .allowedCidrs               → <listener>.allowedCidrs (each parsed here, named if it is not a CIDR)
//   .port                       → <listener>.port, unless pod.ports names the listener
//   spec.internalPort           → internal.port, when mounts.internalTls is given (the operator's pods)
//   (pod.probePort)             → probes (the kubelet's /healthz and /readyz), on bindHost
//   (pod.metricsPort)           → metrics (Prometheus' /metrics; the NetworkPolicy admits spec.networkPolicy.metricsPeers), on bindHost
//   (mounts.serverSecretFile)   → serverSecretFile (the cluster's shared server secret)
//   spec.limits.max*            → limits.max* (with the CRD's documented defaults: 1 MiB records)
//   spec.audit                  → audit.logAllowed, audit.file (one file sink), audit.topic (topic __audit only)
//   spec.topics                 → topics.autoCreate, topics.defaultPartitions
//   spec.encryption             → encryption { keyDir: mounts.encryptionKeysDir, activeKeyId } when enabled
//   spec.authentication.oauthBearer → auth.oauthBearer (caRef → caFile: mounts.oauthBearerCaFile)
//   spec.authentication (but oauthBearer), spec.authorization, spec.limits.users, spec.limitGroups
//                               → the policy snapshot (src/policy/compile.ts), not the broker config
//   spec.replicas, image, storage, tls (certificates), networkPolicy, env, resources
//                               → the operator's objects (StatefulSet, PVCs, Certificates, NetworkPolicy)
// A field the broker cannot honour is refused with BWK_ERR_CONFIG_INVALID naming it, never dropped.
import { isAbsolute, join } from 'node:path';
import { DEFAULT_OAUTH_BEARER_ALGORITHMS, HTTP_MECHANISMS, KAFKA_MECHANISMS, type BrokerCluster, type FieldError, type HttpMechanism, type KafkaMechanism } from '../api/index.ts';
import { BulwarkError, parseCidr } from '../lib/index.ts';
import { brokerConfigProblems, type BrokerConfigInput, type ClusterConfigSource, type ListenerTls } from './broker.ts';

/** The one audit topic the broker writes (src/broker/broker.ts AUDIT_TOPIC; a test keeps them equal). */
export const BROKER_AUDIT_TOPIC = '__audit';
/** What the CRD documents for limits left out (src/api/broker-cluster.ts). */
export const CLUSTER_LIMIT_DEFAULTS = { maxMessageBytes: 1 << 20, maxRequestBytes: 100 << 20, maxConnections: 10_000, maxConnectionsPerIp: 1_000 } as const;
export const DEFAULT_INTERNAL_PORT = 9443;

/** A listener's TLS files, as a kubernetes.io/tls Secret mounts them (tls.crt, tls.key, ca.crt). */
export interface TlsMount {
  certFile: string;
  keyFile: string;
  /** Needed by a listener whose tls.clientAuth is optional or required. */
  caFile?: string;
}

/** Where the pod's files are. */
export interface BrokerMounts {
  dataDir: string;
  /** TLS files of each listener that has tls.enabled, by listener name. */
  tls: Readonly<Record<string, TlsMount>>;
  /** The internal listener's files (mTLS, clientAuth required). Left out, no internal listener: local mode, where policyDir is the policy. */
  internalTls?: TlsMount & { caFile: string };
  /** A directory of CR YAML the broker compiles its policy from (local mode). */
  policyDir?: string;
  /** Where the encryption keys Secret is mounted (one file per key id); needed by spec.encryption.enabled. */
  encryptionKeysDir?: string;
  /** The cluster's shared server secret (fake SCRAM salts, JWT key), e.g. /etc/bulwark/server-secret/secret. Left out, each broker makes its own. */
  serverSecretFile?: string;
  /** The PEM CA file of spec.authentication.oauthBearer.caRef; needed when caRef is given. */
  oauthBearerCaFile?: string;
}

/** Who this broker is. */
export interface PodIdentity {
  /** Left out, the configuration's own (file, environment, or 0). */
  brokerId?: number;
  clusterId?: string;
  /** The address every listener binds: 0.0.0.0 in a pod, 127.0.0.1 in local mode. */
  bindHost: string;
  /** The host Kafka clients are told to connect to (the pod's DNS name). Left out, bindHost. */
  advertisedHost?: string;
  /** Ports that replace the BrokerCluster's, by listener name (local mode's --listener-port; 0 lets the OS choose). */
  ports?: Readonly<Record<string, number>>;
  /** Port of the internal listener, replacing spec.internalPort. */
  internalPort?: number;
  /** Certificate identities allowed to push policy on the internal listener. */
  internalClients?: readonly string[];
  /** Port of the probe listener (GET /healthz, /readyz; plain HTTP, no authentication) on bindHost. Left out, none. */
  probePort?: number;
  /** Port of the metrics listener (GET /metrics; plain HTTP, no authentication) on bindHost. Left out, none. */
  metricsPort?: number;
}

/** The configuration keys a BrokerCluster owns (nobody else may set them), and the field each comes from. */
export const CLUSTER_OWNED_KEYS: readonly { key: string; field: string }[] = [
  { key: 'kafka.authentication', field: 'spec.listeners' },
  { key: 'kafka.tls', field: 'spec.listeners' },
  { key: 'kafka.allowedCidrs', field: 'spec.listeners' },
  { key: 'listeners', field: 'spec.listeners' },
  { key: 'http.enabled', field: 'spec.listeners' },
  { key: 'http.authentication', field: 'spec.listeners' },
  { key: 'http.tls', field: 'spec.listeners' },
  { key: 'http.allowedCidrs', field: 'spec.listeners' },
  { key: 'internal', field: 'spec.internalPort' },
  { key: 'limits.maxMessageBytes', field: 'spec.limits.maxMessageBytes' },
  { key: 'limits.maxRequestBytes', field: 'spec.limits.maxRequestBytes' },
  { key: 'limits.maxConnections', field: 'spec.limits.maxConnections' },
  { key: 'limits.maxConnectionsPerIp', field: 'spec.limits.maxConnectionsPerIp' },
  { key: 'audit', field: 'spec.audit' },
  { key: 'topics', field: 'spec.topics' },
  { key: 'encryption', field: 'spec.encryption' },
  { key: 'auth.oauthBearer', field: 'spec.authentication.oauthBearer' },
];

type Listener = BrokerCluster['spec']['listeners'][number];

/**
 * Why the broker cannot run this BrokerCluster as it is, each naming the field; [] when it can.
 * With `mounts`, also the TLS files a listener needs and that are not mounted.
 */
export function brokerClusterRefusals(cluster: BrokerCluster, mounts?: BrokerMounts): FieldError[] {
  const spec = cluster.spec;
  const out: FieldError[] = [];
  const refuse = (path: string, message: string) => out.push({ path, message });
  const kafka = spec.listeners.filter((l) => l.protocol === 'kafka');
  if (kafka.length === 0) refuse('spec.listeners', 'the broker serves at least one kafka listener; add one with protocol kafka');
  let http = 0;
  spec.listeners.forEach((l, i) => {
    const at = `spec.listeners[${i}]`;
    if (l.protocol === 'http' && ++http > 1) refuse(at, 'the broker serves one http listener; remove this one or make it a kafka listener');
    const words: readonly string[] = l.protocol === 'kafka' ? KAFKA_MECHANISMS : HTTP_MECHANISMS;
    (l.authentication ?? []).forEach((m, j) => {
      if (!words.includes(m)) refuse(`${at}.authentication[${j}]`, `${m} is not a ${l.protocol} mechanism (expected ${words.join(', ')})`);
    });
    if (l.protocol === 'kafka' && l.authentication?.includes('oauthbearer') && !spec.authentication?.oauthBearer) refuse(`${at}.authentication`, 'oauthbearer needs spec.authentication.oauthBearer (issuer, audience, jwksUrl)');
    (l.allowedCidrs ?? []).forEach((c, j) => {
      if (!parseCidr(c)) refuse(`${at}.allowedCidrs[${j}]`, `${c} is not an IP address or CIDR block`);
    });
    if (mounts && l.tls?.enabled) {
      const files = mounts.tls[l.name];
      if (!files) refuse(`${at}.tls.enabled`, `no TLS files are mounted for listener ${l.name}`);
      else if ((l.tls.clientAuth ?? 'none') !== 'none' && !files.caFile) refuse(`${at}.tls.clientAuth`, `clientAuth ${l.tls.clientAuth} needs the CA that signs client certificates (ca.crt), and none is mounted for listener ${l.name}`);
    }
  });
  const sinks = spec.audit?.sinks ?? [];
  sinks.forEach((s, i) => {
    if (s.type === 'file' && sinks.findIndex((t) => t.type === 'file') !== i) refuse(`spec.audit.sinks[${i}]`, 'the broker writes one audit file; keep one file sink');
    if (s.type === 'topic' && s.topic !== BROKER_AUDIT_TOPIC) refuse(`spec.audit.sinks[${i}].topic`, `the broker writes audit events to the topic ${BROKER_AUDIT_TOPIC} only; use that name`);
  });
  if (mounts && spec.encryption?.enabled && !mounts.encryptionKeysDir) refuse('spec.encryption.keysSecretRef', 'no encryption key directory is mounted for it');
  if (mounts && spec.authentication?.oauthBearer?.caRef && !mounts.oauthBearerCaFile) refuse('spec.authentication.oauthBearer.caRef', 'no CA file is mounted for it');
  return out;
}

/** One broker's configuration from a BrokerCluster; throws BWK_ERR_CONFIG_INVALID naming every field it cannot honour. */
export function renderBrokerConfig(cluster: BrokerCluster, mounts: BrokerMounts, pod: PodIdentity): BrokerConfigInput {
  const refusals = brokerClusterRefusals(cluster, mounts);
  if (refusals.length > 0) throw refusalError(cluster, refusals);
  const spec = cluster.spec;
  const tls = (l: Listener): ListenerTls | undefined => {
    if (!l.tls?.enabled) return undefined;
    const files = mounts.tls[l.name]!;
    const clientAuth = l.tls.clientAuth ?? 'none';
    return { certFile: files.certFile, keyFile: files.keyFile, ...(clientAuth !== 'none' ? { caFile: files.caFile! } : {}), clientAuth, minVersion: l.tls.minVersion ?? 'TLSv1.2' };
  };
  const common = (l: Listener) => {
    const t = tls(l);
    return { host: pod.bindHost, port: pod.ports?.[l.name] ?? l.port, ...(t ? { tls: t } : {}), ...(l.allowedCidrs ? { allowedCidrs: [...l.allowedCidrs] } : {}) };
  };
  const kafkaListener = (l: Listener) => ({
    ...common(l),
    ...(pod.advertisedHost ? { advertisedHost: pod.advertisedHost } : {}),
    authentication: [...new Set(l.authentication ?? [])] as KafkaMechanism[],
  });
  const kafka = spec.listeners.filter((l) => l.protocol === 'kafka');
  const primary = kafka.find((l) => l.name === 'kafka') ?? kafka[0]!;
  const http = spec.listeners.find((l) => l.protocol === 'http');
  const sinks = spec.audit?.sinks ?? [];
  const auditFile = sinks.find((s) => s.type === 'file')?.path;
  const limits = spec.limits ?? {};
  const oauth = spec.authentication?.oauthBearer;

  return {
    ...(pod.brokerId !== undefined ? { brokerId: pod.brokerId } : {}),
    ...(pod.clusterId !== undefined ? { clusterId: pod.clusterId } : {}),
    dataDir: mounts.dataDir,
    kafka: kafkaListener(primary),
    listeners: kafka.filter((l) => l !== primary).map((l) => ({ name: l.name, ...kafkaListener(l) })),
    http: http
      ? { enabled: true, ...common(http), authentication: [...new Set(http.authentication ?? [])] as HttpMechanism[] }
      : { enabled: false },
    internal: mounts.internalTls
      ? {
          enabled: true,
          host: pod.bindHost,
          port: pod.internalPort ?? spec.internalPort ?? DEFAULT_INTERNAL_PORT,
          tls: { certFile: mounts.internalTls.certFile, keyFile: mounts.internalTls.keyFile, caFile: mounts.internalTls.caFile, clientAuth: 'required', minVersion: 'TLSv1.2' },
          ...(pod.internalClients ? { clients: [...pod.internalClients] } : {}),
        }
      : { enabled: false },
    ...(mounts.policyDir ? { policy: { dir: mounts.policyDir } } : {}),
    ...(pod.probePort !== undefined ? { probes: { host: pod.bindHost, port: pod.probePort } } : {}),
    ...(pod.metricsPort !== undefined ? { metrics: { host: pod.bindHost, port: pod.metricsPort } } : {}),
    ...(mounts.serverSecretFile ? { serverSecretFile: mounts.serverSecretFile } : {}),
    ...(spec.encryption?.enabled ? { encryption: { keyDir: mounts.encryptionKeysDir!, activeKeyId: spec.encryption.activeKeyId! } } : {}),
    ...(oauth
      ? {
          auth: {
            oauthBearer: {
              issuer: oauth.issuer,
              audience: oauth.audience,
              jwksUrl: oauth.jwksUrl,
              usernameClaim: oauth.usernameClaim ?? 'sub',
              algorithms: [...(oauth.algorithms ?? DEFAULT_OAUTH_BEARER_ALGORITHMS)],
              ...(oauth.caRef ? { caFile: mounts.oauthBearerCaFile! } : {}),
            },
          },
        }
      : {}),
    audit: {
      file: auditFile === undefined ? null : isAbsolute(auditFile) ? auditFile : join(mounts.dataDir, auditFile),
      topic: sinks.some((s) => s.type === 'topic'),
      logAllowed: spec.audit?.logAllowed ?? false,
    },
    topics: { autoCreate: spec.topics?.autoCreate ?? false, defaultPartitions: spec.topics?.defaultPartitions ?? 1 },
    limits: {
      maxMessageBytes: limits.maxMessageBytes ?? CLUSTER_LIMIT_DEFAULTS.maxMessageBytes,
      maxRequestBytes: limits.maxRequestBytes ?? CLUSTER_LIMIT_DEFAULTS.maxRequestBytes,
      maxConnections: limits.maxConnections ?? CLUSTER_LIMIT_DEFAULTS.maxConnections,
      maxConnectionsPerIp: limits.maxConnectionsPerIp ?? CLUSTER_LIMIT_DEFAULTS.maxConnectionsPerIp,
    },
  };
}

/** The layer `loadBrokerConfig` puts under the file, the environment and the flags (local mode). */
export function clusterConfigSource(cluster: BrokerCluster, mounts: Omit<BrokerMounts, 'dataDir'>, pod: PodIdentity): ClusterConfigSource {
  return {
    name: `${cluster.metadata.namespace}/${cluster.metadata.name}`,
    owns: CLUSTER_OWNED_KEYS,
    render: ({ dataDir }) => renderBrokerConfig(cluster, { ...mounts, dataDir }, pod),
  };
}

/**
 * Every reason the broker would refuse this BrokerCluster, wherever it runs: the refusals above,
 * then the broker configuration's own rules on a rendering with every TLS file in place (the
 * operator always mounts them). For `bulwark policy check`.
 */
export function checkBrokerCluster(cluster: BrokerCluster): FieldError[] {
  const refusals = brokerClusterRefusals(cluster);
  if (refusals.length > 0) return refusals;
  const files = (name: string): TlsMount => ({ certFile: `/tls/${name}/tls.crt`, keyFile: `/tls/${name}/tls.key`, caFile: `/tls/${name}/ca.crt` });
  const mounts: BrokerMounts = { dataDir: '/data', tls: Object.fromEntries(cluster.spec.listeners.map((l) => [l.name, files(l.name)])), encryptionKeysDir: '/keys', oauthBearerCaFile: '/oauth-bearer-ca/ca.crt' };
  const checked = brokerConfigProblems(renderBrokerConfig(cluster, mounts, { bindHost: '0.0.0.0' }));
  return checked.ok ? [] : checked.problems.map((message) => ({ path: 'spec', message: `the broker configuration it renders is refused: ${message}` }));
}

function refusalError(cluster: BrokerCluster, refusals: readonly FieldError[]): BulwarkError {
  const name = `${cluster.metadata.namespace}/${cluster.metadata.name}`;
  return new BulwarkError('BWK_ERR_CONFIG_INVALID', { detail: `BrokerCluster ${name}: ${refusals.map((r) => `${r.path}: ${r.message}`).join('; ')}` });
}
