// The objects a BrokerCluster owns, built from the parsed cluster, the operator's options and
// the inputs gathered for it. Pure: the same inputs give the same objects, byte for byte, so
// applying them again changes nothing (server-side apply compares what the operator owns).
//
// Every object carries clusterLabels() and a controller ownerReference to the BrokerCluster; the
// garbage collector deletes them with it. docs/operator.md describes each one.
import { createHash } from 'node:crypto';
import type { BrokerCluster, FieldError } from '../../api/index.ts';
import { brokerClusterRefusals, renderBrokerConfig, type BrokerConfigInput, type BrokerMounts } from '../../config/index.ts';
import { controllerReference, type KubeObject, type OwnerReference } from '../controller/index.ts';
import { certificateSecretNames } from '../certificates/index.ts';
import { OPERATOR_ENV } from './env.ts';
import {
  BROKER_UID,
  clusterLabels,
  CONFIG_HASH_ANNOTATION,
  internalPort,
  kafkaClusterId,
  MAX_CLUSTER_NAME,
  METRICS_SCRAPER_LABEL,
  metricsPort,
  MOUNTS,
  objectNames,
  type ClusterBuildOptions,
  podSelectorLabels,
  probePort,
  SERVER_SECRET_KEY,
  TERMINATION_GRACE_SECONDS,
} from './names.ts';

/** What the builders need besides the cluster and the options: gathered by the reconciler. */
export interface BuildInputs {
  /** sha256 of the server secret's bytes (never the bytes): a new secret needs a restart, so it is in the config hash. */
  serverSecretDigest: string;
  /** The StatefulSet's volumeClaimTemplates as they exist: they cannot change once created, so these are kept. */
  existingClaimTemplates?: unknown[];
}

export interface DesiredObjects {
  serviceAccount: KubeObject;
  configMap: KubeObject;
  headlessService: KubeObject;
  clientService: KubeObject;
  statefulSet: KubeObject;
  podDisruptionBudget: KubeObject;
  /** Left out when spec.networkPolicy.enabled is not true. */
  networkPolicy?: KubeObject;
  /** The rendered broker configuration and its hash (the pod template's bulwark.dev/config-hash). */
  config: BrokerConfigInput;
  configHash: string;
}

/** Names a listener cannot take: they name the operator's own ports in the Services. */
export const RESERVED_LISTENER_NAMES = ['internal', 'probe', 'metrics'] as const;

export function ownerReference(cluster: BrokerCluster): OwnerReference {
  return controllerReference(cluster);
}

function meta(cluster: BrokerCluster, name: string, extra: { annotations?: Record<string, string> } = {}) {
  return {
    name,
    namespace: cluster.metadata.namespace,
    labels: clusterLabels(cluster.metadata.name),
    ...(extra.annotations ? { annotations: extra.annotations } : {}),
    ownerReferences: [ownerReference(cluster)],
  };
}

/** Where the pod's files are mounted, as renderBrokerConfig takes them. */
export function brokerMounts(cluster: BrokerCluster): BrokerMounts {
  const files = (dir: string) => ({ certFile: `${dir}/tls.crt`, keyFile: `${dir}/tls.key`, caFile: `${dir}/ca.crt` });
  return {
    dataDir: MOUNTS.data,
    tls: Object.fromEntries(cluster.spec.listeners.filter((l) => l.tls?.enabled).map((l) => [l.name, files(`${MOUNTS.listenerTls}/${l.name}`)])),
    internalTls: files(MOUNTS.internalTls),
    serverSecretFile: MOUNTS.serverSecretFile,
    ...(cluster.spec.encryption?.enabled ? { encryptionKeysDir: MOUNTS.encryptionKeys } : {}),
    ...(cluster.spec.authentication?.oauthBearer?.caRef ? { oauthBearerCaFile: MOUNTS.oauthBearerCaFile } : {}),
  };
}

/**
 * Why the operator cannot build this cluster's objects, each naming the field: the broker's own
 * refusals (renderBrokerConfig), and the operator's (name length, reserved listener names).
 */
export function specRefusals(cluster: BrokerCluster): FieldError[] {
  const out: FieldError[] = [];
  if (cluster.metadata.name.length > MAX_CLUSTER_NAME)
    out.push({ path: 'metadata.name', message: `a BrokerCluster name has at most ${MAX_CLUSTER_NAME} characters (its pods' names and DNS labels are built from it); ${cluster.metadata.name.length} given` });
  cluster.spec.listeners.forEach((l, i) => {
    if ((RESERVED_LISTENER_NAMES as readonly string[]).includes(l.name)) out.push({ path: `spec.listeners[${i}].name`, message: `${l.name} is reserved for the operator's own port; choose another listener name` });
  });
  out.push(...brokerClusterRefusals(cluster, brokerMounts(cluster)));
  return out;
}

/** The broker configuration every pod of the cluster runs (each pod adds its own id and advertised host by flags). */
export function renderClusterConfig(cluster: BrokerCluster, options: ClusterBuildOptions): BrokerConfigInput {
  return renderBrokerConfig(cluster, brokerMounts(cluster), {
    bindHost: '0.0.0.0',
    clusterId: kafkaClusterId(cluster.metadata.namespace, cluster.metadata.name),
    internalClients: [options.operatorIdentity],
    probePort: probePort(cluster),
    metricsPort: metricsPort(cluster),
  });
}

/** sha256 of what a running broker reads only at start: its configuration and the server secret. Renewed certificates are reloaded, so they are not in it. */
export function configHash(configJson: string, serverSecretDigest: string): string {
  return createHash('sha256').update(configJson).update('\0').update(serverSecretDigest).digest('hex');
}

/** Container port names are IANA service names: 15 characters at most. */
const IANA_SVC_NAME = /^(?=.{1,15}$)(?=.*[a-z])[a-z0-9]([a-z0-9]|-(?!-))*[a-z0-9]$|^[a-z]$/;

/** Every object of the cluster. Throws BWK_ERR_CONFIG_INVALID when renderBrokerConfig refuses (check specRefusals first). */
export function buildObjects(cluster: BrokerCluster, options: ClusterBuildOptions, inputs: BuildInputs): DesiredObjects {
  const name = cluster.metadata.name;
  const ns = cluster.metadata.namespace;
  const names = objectNames(name);
  const certs = certificateSecretNames(name);
  const config = renderClusterConfig(cluster, options);
  const configJson = JSON.stringify(config, null, 2) + '\n';
  const hash = configHash(configJson, inputs.serverSecretDigest);
  const selector = podSelectorLabels(name);
  const probe = probePort(cluster);
  const internal = internalPort(cluster);
  const metrics = metricsPort(cluster);
  const listenerPorts = cluster.spec.listeners.map((l) => ({ name: l.name, port: l.port, targetPort: l.port, protocol: 'TCP' }));

  const serviceAccount: KubeObject = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(cluster, names.serviceAccount), automountServiceAccountToken: false };
  const configMap: KubeObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: meta(cluster, names.configMap), data: { 'broker.json': configJson } };
  const headlessService: KubeObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(cluster, names.headlessService),
    spec: {
      clusterIP: 'None',
      publishNotReadyAddresses: true,
      selector,
      ports: [...listenerPorts, { name: 'internal', port: internal, targetPort: internal, protocol: 'TCP' }],
    },
  };
  const clientService: KubeObject = { apiVersion: 'v1', kind: 'Service', metadata: meta(cluster, names.clientService), spec: { type: 'ClusterIP', selector, ports: listenerPorts } };

  const tlsListeners = cluster.spec.listeners.filter((l) => l.tls?.enabled);
  // The keys Secret is read at start-up; activeKeyId is in the rendered config, so changing it rolls the pods.
  const keysSecret = cluster.spec.encryption?.enabled ? cluster.spec.encryption.keysSecretRef?.name : undefined;
  // The JWKS endpoint's CA, one key mounted as ca.crt; the broker reads it at each JWKS fetch, so a changed CA needs no roll.
  const oauthCa = cluster.spec.authentication?.oauthBearer?.caRef;
  const oauthCaItems = oauthCa ? [{ key: oauthCa.key, path: 'ca.crt' }] : [];
  const env = [
    { name: OPERATOR_ENV[0], valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
    { name: OPERATOR_ENV[1], valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } } },
    ...(cluster.spec.env ?? []).map((v) => ({ ...v })),
  ];
  const portName = (n: string) => (IANA_SVC_NAME.test(n) ? { name: n } : {});
  const httpProbe = (path: string) => ({ httpGet: { path, port: probe, scheme: 'HTTP' } });
  const resources = cluster.spec.resources ? structuredClone(cluster.spec.resources) : {};
  const claimTemplates = inputs.existingClaimTemplates ?? [
    {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'data', labels: clusterLabels(name) },
      spec: {
        accessModes: ['ReadWriteOnce'],
        ...(cluster.spec.storage.storageClassName ? { storageClassName: cluster.spec.storage.storageClassName } : {}),
        resources: { requests: { storage: cluster.spec.storage.size } },
      },
    },
  ];

  const statefulSet: KubeObject = {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: meta(cluster, names.statefulSet),
    spec: {
      replicas: cluster.spec.replicas,
      serviceName: names.headlessService,
      podManagementPolicy: 'OrderedReady',
      updateStrategy: { type: 'RollingUpdate' },
      selector: { matchLabels: selector },
      template: {
        metadata: { labels: clusterLabels(name), annotations: { [CONFIG_HASH_ANNOTATION]: hash } },
        spec: {
          serviceAccountName: names.serviceAccount,
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: TERMINATION_GRACE_SECONDS,
          securityContext: { runAsNonRoot: true, runAsUser: BROKER_UID, runAsGroup: BROKER_UID, fsGroup: BROKER_UID, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: 'broker',
              image: cluster.spec.image ?? options.brokerImage,
              imagePullPolicy: 'IfNotPresent',
              args: ['broker', '--config', MOUNTS.configFile, '--broker-id-from-hostname', '--advertised-host', `$(POD_NAME).${names.headlessService}.${ns}.svc`],
              env,
              ports: [
                ...cluster.spec.listeners.map((l) => ({ ...portName(l.name), containerPort: l.port, protocol: 'TCP' })),
                { name: 'internal', containerPort: internal, protocol: 'TCP' },
                { name: 'probe', containerPort: probe, protocol: 'TCP' },
                // For a PodMonitor's `port: metrics`; the NetworkPolicy admits only metricsPeers.
                { name: 'metrics', containerPort: metrics, protocol: 'TCP' },
              ],
              // Recovery of a large log can take a while: the startup probe gives it five minutes before liveness applies.
              startupProbe: { ...httpProbe('/healthz'), periodSeconds: 5, failureThreshold: 60, timeoutSeconds: 2 },
              livenessProbe: { ...httpProbe('/healthz'), periodSeconds: 10, failureThreshold: 6, timeoutSeconds: 2 },
              readinessProbe: { ...httpProbe('/readyz'), periodSeconds: 5, failureThreshold: 2, timeoutSeconds: 2 },
              resources,
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } },
              volumeMounts: [
                { name: 'data', mountPath: MOUNTS.data },
                { name: 'config', mountPath: MOUNTS.config, readOnly: true },
                ...tlsListeners.map((l) => ({ name: 'tls', mountPath: `${MOUNTS.listenerTls}/${l.name}`, readOnly: true })),
                { name: 'internal-tls', mountPath: MOUNTS.internalTls, readOnly: true },
                { name: 'server-secret', mountPath: MOUNTS.serverSecret, readOnly: true },
                ...(keysSecret ? [{ name: 'encryption-keys', mountPath: MOUNTS.encryptionKeys, readOnly: true }] : []),
                ...(oauthCa ? [{ name: 'oauth-bearer-ca', mountPath: MOUNTS.oauthBearerCa, readOnly: true }] : []),
                { name: 'tmp', mountPath: MOUNTS.tmp },
              ],
            },
          ],
          volumes: [
            { name: 'config', configMap: { name: names.configMap } },
            { name: 'tls', secret: { secretName: certs.server } },
            { name: 'internal-tls', secret: { secretName: certs.internal } },
            { name: 'server-secret', secret: { secretName: names.serverSecret, items: [{ key: SERVER_SECRET_KEY, path: SERVER_SECRET_KEY }] } },
            ...(keysSecret ? [{ name: 'encryption-keys', secret: { secretName: keysSecret, defaultMode: 0o440 } }] : []),
            ...(oauthCa?.secretName ? [{ name: 'oauth-bearer-ca', secret: { secretName: oauthCa.secretName, items: oauthCaItems } }] : []),
            ...(oauthCa?.configMapName ? [{ name: 'oauth-bearer-ca', configMap: { name: oauthCa.configMapName, items: oauthCaItems } }] : []),
            { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
          ],
        },
      },
      volumeClaimTemplates: claimTemplates,
    },
  };

  const podDisruptionBudget: KubeObject = { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: meta(cluster, names.podDisruptionBudget), spec: { maxUnavailable: 1, selector: { matchLabels: selector } } };

  const np = cluster.spec.networkPolicy;
  const networkPolicy: KubeObject | undefined = np?.enabled
    ? {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: meta(cluster, names.networkPolicy),
        spec: {
          podSelector: { matchLabels: selector },
          policyTypes: ['Ingress'],
          ingress: [
            // Client listeners: the declared peers; left out, pods of the cluster's own namespace.
            { from: np.peers ? structuredClone(np.peers) : [{ podSelector: {} }], ports: cluster.spec.listeners.map((l) => ({ protocol: 'TCP', port: l.port })) },
            // The internal listener: only the operator's pods.
            {
              from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': options.operatorNamespace } }, podSelector: { matchLabels: { ...options.operatorPodLabels } } }],
              ports: [{ protocol: 'TCP', port: internal }],
            },
            // The probe port serves only /healthz and /readyz; the kubelet must reach it (most CNIs do not apply NetworkPolicy to kubelet probes anyway).
            { ports: [{ protocol: 'TCP', port: probe }] },
            // The metrics port: its labels name topics, so only the scrapers: the declared
            // metricsPeers, or pods labelled bulwark.dev/metrics-scraper=true in any namespace.
            {
              from: np.metricsPeers ? structuredClone(np.metricsPeers) : [{ namespaceSelector: {}, podSelector: { matchLabels: { [METRICS_SCRAPER_LABEL]: 'true' } } }],
              ports: [{ protocol: 'TCP', port: metrics }],
            },
          ],
        },
      }
    : undefined;

  return { serviceAccount, configMap, headlessService, clientService, statefulSet, podDisruptionBudget, ...(networkPolicy ? { networkPolicy } : {}), config, configHash: hash };
}

/** The Secret with the cluster's server secret: the existing bytes when there are at least 32 of them, else fresh ones. */
export function serverSecretObject(cluster: BrokerCluster, existingBase64: string | undefined, randomBytes: (n: number) => Buffer): { secret: KubeObject; bytes: Buffer; generated: boolean } {
  const existing = existingBase64 === undefined ? undefined : Buffer.from(existingBase64, 'base64');
  const keep = existing !== undefined && existing.length >= 32;
  const bytes = keep ? existing : randomBytes(32);
  const secret: KubeObject = { apiVersion: 'v1', kind: 'Secret', metadata: meta(cluster, objectNames(cluster.metadata.name).serverSecret), type: 'Opaque', data: { [SERVER_SECRET_KEY]: bytes.toString('base64') } };
  return { secret, bytes, generated: !keep };
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
