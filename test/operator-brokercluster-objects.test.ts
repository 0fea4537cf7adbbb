// The objects a BrokerCluster owns, built by pure functions: what each one holds, what the pod
// runs with, what rolls the pods and what does not, which specs are refused, and the status.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { BrokerCluster } from '../src/api/index.ts';
import { brokerConfigProblems } from '../src/config/index.ts';
import {
  applyDecision,
  buildObjects,
  decideConditions,
  DEFAULT_BUILD_OPTIONS,
  envRefusals,
  rolloutState,
  serverSecretObject,
  specRefusals,
} from '../src/operator/brokercluster/index.ts';
import type { KubeObject } from '../src/operator/controller/index.ts';
import { resource } from './harness/resources.ts';

const options = { ...DEFAULT_BUILD_OPTIONS, brokerImage: 'bulwark.local/bulwark:test' };
const inputs = { serverSecretDigest: 'a'.repeat(64) };

function cluster(extra: Record<string, unknown> = {}, name = 'main'): BrokerCluster {
  const c = resource(
    'BrokerCluster',
    name,
    {
      replicas: 3,
      storage: { size: '2Gi', storageClassName: 'local' },
      listeners: [
        { name: 'kafka', protocol: 'kafka', port: 9092, tls: { enabled: true }, authentication: ['scram-sha-512'] },
        { name: 'http', protocol: 'http', port: 8080, tls: { enabled: true, clientAuth: 'optional' }, authentication: ['password', 'mtls'] },
      ],
      ...extra,
    },
    'team',
  ) as BrokerCluster;
  return { ...c, metadata: { ...c.metadata, uid: 'uid-1', generation: 1 } };
}

type Pod = {
  securityContext: Record<string, unknown>;
  automountServiceAccountToken: boolean;
  terminationGracePeriodSeconds: number;
  serviceAccountName: string;
  volumes: { name: string; secret?: { secretName: string }; emptyDir?: unknown; configMap?: { name: string } }[];
  containers: {
    image: string;
    args: string[];
    env: { name: string; value?: string; valueFrom?: unknown }[];
    ports: { name?: string; containerPort: number }[];
    readinessProbe: { httpGet: { path: string; port: number } };
    livenessProbe: { httpGet: { path: string; port: number } };
    securityContext: Record<string, unknown>;
    resources: unknown;
    imagePullPolicy: string;
    volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
  }[];
};
const podOf = (sts: KubeObject) => (sts.spec as { template: { spec: Pod } }).template.spec;
const hashOf = (sts: KubeObject) => (sts.spec as { template: { metadata: { annotations: Record<string, string> } } }).template.metadata.annotations['bulwark.dev/config-hash'];

describe('buildObjects', () => {
  const objects = buildObjects(cluster(), options, inputs);
  const all: KubeObject[] = [objects.serviceAccount, objects.configMap, objects.headlessService, objects.clientService, objects.statefulSet, objects.podDisruptionBudget];

  test('every object carries the labels and a controller ownerReference to the BrokerCluster', () => {
    for (const o of all) {
      assert.deepEqual(o.metadata.labels, { 'app.kubernetes.io/name': 'bulwark', 'app.kubernetes.io/instance': 'main', 'app.kubernetes.io/component': 'broker', 'app.kubernetes.io/managed-by': 'bulwark-operator' }, o.kind);
      assert.deepEqual(o.metadata.ownerReferences, [{ apiVersion: 'bulwark.dev/v1alpha1', kind: 'BrokerCluster', name: 'main', uid: 'uid-1', controller: true, blockOwnerDeletion: true }], o.kind);
      assert.equal(o.metadata.namespace, 'team');
    }
    assert.deepEqual(all.map((o) => `${o.kind}/${o.metadata.name}`), ['ServiceAccount/main-broker', 'ConfigMap/main-config', 'Service/main-brokers', 'Service/main', 'StatefulSet/main', 'PodDisruptionBudget/main']);
    assert.equal(objects.serviceAccount.automountServiceAccountToken, false);
  });

  test('the ConfigMap holds the rendered configuration, which the broker accepts, with the pod\'s mounts', () => {
    const text = (objects.configMap.data as Record<string, string>)['broker.json']!;
    const config = JSON.parse(text);
    const checked = brokerConfigProblems(config);
    assert.ok(checked.ok, JSON.stringify(checked));
    assert.equal(config.dataDir, '/var/lib/bulwark');
    assert.equal(config.kafka.host, '0.0.0.0');
    assert.equal(config.kafka.tls.certFile, '/etc/bulwark/tls/listeners/kafka/tls.crt');
    assert.equal(config.http.tls.caFile, '/etc/bulwark/tls/listeners/http/ca.crt');
    assert.deepEqual(config.internal.clients, ['bulwark-operator']);
    assert.equal(config.internal.tls.caFile, '/etc/bulwark/tls/internal/ca.crt');
    assert.equal(config.internal.port, 9443);
    assert.deepEqual(config.probes, { host: '0.0.0.0', port: 9095 });
    assert.equal(config.serverSecretFile, '/etc/bulwark/server-secret/secret');
    assert.equal(config.brokerId, undefined, 'each pod gives its own id');
  });

  test('Services: headless with every port and unready addresses, client with the listeners only', () => {
    const headless = objects.headlessService.spec as { clusterIP: string; publishNotReadyAddresses: boolean; ports: { name: string; port: number }[]; selector: Record<string, string> };
    assert.equal(headless.clusterIP, 'None');
    assert.equal(headless.publishNotReadyAddresses, true);
    assert.deepEqual(headless.ports.map((p) => `${p.name}:${p.port}`), ['kafka:9092', 'http:8080', 'internal:9443']);
    const client = objects.clientService.spec as { ports: { name: string; port: number }[]; selector: Record<string, string> };
    assert.deepEqual(client.ports.map((p) => `${p.name}:${p.port}`), ['kafka:9092', 'http:8080']);
    assert.deepEqual(client.selector, { 'app.kubernetes.io/name': 'bulwark', 'app.kubernetes.io/instance': 'main', 'app.kubernetes.io/component': 'broker' });
  });

  test('the StatefulSet: ordered, rolling, a data claim per broker, named for the headless Service', () => {
    const spec = objects.statefulSet.spec as Record<string, unknown> & { volumeClaimTemplates: { metadata: { name: string }; spec: { storageClassName: string; resources: { requests: { storage: string } }; accessModes: string[] } }[] };
    assert.equal(spec.replicas, 3);
    assert.equal(spec.serviceName, 'main-brokers');
    assert.equal(spec.podManagementPolicy, 'OrderedReady');
    assert.deepEqual(spec.updateStrategy, { type: 'RollingUpdate' });
    assert.equal(spec.volumeClaimTemplates[0]!.metadata.name, 'data');
    assert.equal(spec.volumeClaimTemplates[0]!.spec.resources.requests.storage, '2Gi');
    assert.equal(spec.volumeClaimTemplates[0]!.spec.storageClassName, 'local');
    assert.deepEqual(spec.volumeClaimTemplates[0]!.spec.accessModes, ['ReadWriteOnce']);
  });

  test('the pod passes the restricted profile: non-root 65532, RuntimeDefault seccomp, no privilege escalation, read-only root, no capabilities, no token', () => {
    const pod = podOf(objects.statefulSet);
    assert.deepEqual(pod.securityContext, { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } });
    assert.equal(pod.automountServiceAccountToken, false);
    assert.equal(pod.serviceAccountName, 'main-broker');
    const c = pod.containers[0]!;
    assert.deepEqual(c.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } });
    assert.ok(pod.volumes.some((v) => v.name === 'tmp' && v.emptyDir), 'a writable /tmp');
    assert.ok(c.volumeMounts.some((m) => m.name === 'tmp' && m.mountPath === '/tmp' && !m.readOnly));
  });

  test('the broker container: image, args with its identity flags, probes on the probe port, a grace period for the flush', () => {
    const pod = podOf(objects.statefulSet);
    const c = pod.containers[0]!;
    assert.equal(c.image, 'bulwark.local/bulwark:test');
    assert.equal(c.imagePullPolicy, 'IfNotPresent');
    assert.deepEqual(c.args, ['broker', '--config', '/etc/bulwark/config/broker.json', '--broker-id-from-hostname', '--advertised-host', '$(POD_NAME).main-brokers.team.svc']);
    assert.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port: 9095, scheme: 'HTTP' });
    assert.deepEqual(c.livenessProbe.httpGet, { path: '/healthz', port: 9095, scheme: 'HTTP' });
    assert.deepEqual(c.ports.map((p) => `${p.name}:${p.containerPort}`), ['kafka:9092', 'http:8080', 'internal:9443', 'probe:9095', 'metrics:9096']);
    assert.equal(pod.terminationGracePeriodSeconds, 60);
    assert.deepEqual(
      c.volumeMounts.map((m) => `${m.name}:${m.mountPath}${m.readOnly ? ':ro' : ''}`),
      ['data:/var/lib/bulwark', 'config:/etc/bulwark/config:ro', 'tls:/etc/bulwark/tls/listeners/kafka:ro', 'tls:/etc/bulwark/tls/listeners/http:ro', 'internal-tls:/etc/bulwark/tls/internal:ro', 'server-secret:/etc/bulwark/server-secret:ro', 'tmp:/tmp'],
    );
    assert.deepEqual(pod.volumes.filter((v) => v.secret).map((v) => v.secret!.secretName), ['main-tls', 'main-internal-tls', 'main-server-secret']);
  });

  test('env: the operator\'s variables first, then spec.env in order', () => {
    const c = podOf(buildObjects(cluster({ env: [{ name: 'TZ', value: 'UTC' }, { name: 'FEATURE', valueFrom: { configMapKeyRef: { name: 'flags', key: 'f' } } }] }), options, inputs).statefulSet).containers[0]!;
    assert.deepEqual(c.env.map((e) => e.name), ['POD_NAME', 'POD_NAMESPACE', 'TZ', 'FEATURE']);
    assert.deepEqual(c.env[0]!.valueFrom, { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } });
  });

  test('the probe and metrics ports move out of the way of listeners on 9095 and 9096', () => {
    const c = cluster({ listeners: [{ name: 'kafka', protocol: 'kafka', port: 9095 }, { name: 'more', protocol: 'kafka', port: 9096 }] });
    const built = buildObjects(c, options, inputs);
    const pod = podOf(built.statefulSet);
    assert.equal(pod.containers[0]!.readinessProbe.httpGet.port, 9097);
    assert.equal(pod.containers[0]!.ports.find((p) => p.name === 'metrics')!.containerPort, 9098);
    assert.deepEqual(built.config.metrics, { host: '0.0.0.0', port: 9098 }, 'the broker serves /metrics on the port the pod declares');
  });

  test('the config hash changes with a setting the broker reads at start, and with a new server secret; not with replicas, resources or image (they change the template themselves)', () => {
    const base = hashOf(objects.statefulSet);
    assert.match(base!, /^[0-9a-f]{64}$/);
    assert.notEqual(hashOf(buildObjects(cluster({ limits: { maxConnections: 5 } }), options, inputs).statefulSet), base);
    assert.notEqual(hashOf(buildObjects(cluster(), options, { serverSecretDigest: 'b'.repeat(64) }).statefulSet), base);
    assert.equal(hashOf(buildObjects(cluster({ replicas: 1 }), options, inputs).statefulSet), base);
    assert.equal(hashOf(buildObjects(cluster({ resources: { limits: { memory: '1Gi' } } }), options, inputs).statefulSet), base);
    assert.equal(hashOf(buildObjects(cluster({ image: 'other:1' }), options, inputs).statefulSet), base);
  });

  test('spec.encryption: the keys Secret mounted read-only, the broker configured with it and the active key; a new active key rolls the pods', () => {
    const encrypted = (activeKeyId: string) => buildObjects(cluster({ encryption: { enabled: true, keysSecretRef: { name: 'main-keys' }, activeKeyId } }), options, inputs);
    const built = encrypted('k1');
    const pod = (built.statefulSet.spec as { template: { spec: { containers: { volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[] }[]; volumes: { name: string; secret?: unknown }[] } } }).template.spec;
    assert.deepEqual(pod.volumes.find((v) => v.name === 'encryption-keys'), { name: 'encryption-keys', secret: { secretName: 'main-keys', defaultMode: 0o440 } });
    assert.deepEqual(pod.containers[0]!.volumeMounts.find((m) => m.name === 'encryption-keys'), { name: 'encryption-keys', mountPath: '/etc/bulwark/encryption-keys', readOnly: true });
    const config = JSON.parse((built.configMap.data as Record<string, string>)['broker.json']!) as Record<string, unknown>;
    assert.deepEqual(config.encryption, { keyDir: '/etc/bulwark/encryption-keys', activeKeyId: 'k1' });
    const checked = brokerConfigProblems(config);
    assert.ok(checked.ok && checked.config.encryption?.activeKeyId === 'k1');
    // The broker reads its keys at start: a new active key is a new config hash, so the StatefulSet rolls the brokers one by one.
    assert.notEqual(hashOf(encrypted('k2').statefulSet), hashOf(built.statefulSet));
    assert.equal(hashOf(encrypted('k1').statefulSet), hashOf(built.statefulSet));
    // Off: no volume, no mount, no encryption in the configuration.
    const plain = (objects.statefulSet.spec as { template: { spec: { volumes: { name: string }[] } } }).template.spec;
    assert.ok(!plain.volumes.some((v) => v.name === 'encryption-keys'));
    assert.equal((JSON.parse((objects.configMap.data as Record<string, string>)['broker.json']!) as Record<string, unknown>).encryption, undefined);
  });

  test('spec.authentication.oauthBearer: the broker configured with the issuer, and the CA of caRef (a Secret or a ConfigMap key) mounted read-only as ca.crt', () => {
    const oauth = { issuer: 'https://idp.example.com/realms/apps', audience: 'bulwark-kafka', jwksUrl: 'https://idp.example.com/realms/apps/certs', usernameClaim: 'preferred_username' };
    const listeners = [{ name: 'kafka', protocol: 'kafka', port: 9092, tls: { enabled: true }, authentication: ['oauthbearer'] }];
    type PodSpec = { containers: { volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[] }[]; volumes: { name: string }[] };
    const built = (caRef?: Record<string, string>) => {
      const b = buildObjects(cluster({ listeners, authentication: { oauthBearer: { ...oauth, ...(caRef ? { caRef } : {}) } } }), options, inputs);
      const pod = (b.statefulSet.spec as { template: { spec: PodSpec } }).template.spec;
      const config = JSON.parse((b.configMap.data as Record<string, string>)['broker.json']!) as Record<string, unknown>;
      return { pod, config };
    };
    const fromSecret = built({ secretName: 'idp-ca', key: 'ca.pem' });
    assert.deepEqual(fromSecret.pod.volumes.find((v) => v.name === 'oauth-bearer-ca'), { name: 'oauth-bearer-ca', secret: { secretName: 'idp-ca', items: [{ key: 'ca.pem', path: 'ca.crt' }] } });
    assert.deepEqual(fromSecret.pod.containers[0]!.volumeMounts.find((m) => m.name === 'oauth-bearer-ca'), { name: 'oauth-bearer-ca', mountPath: '/etc/bulwark/oauth-bearer-ca', readOnly: true });
    const checked = brokerConfigProblems(fromSecret.config);
    assert.ok(checked.ok, JSON.stringify(checked));
    assert.deepEqual(checked.config.auth.oauthBearer, { ...oauth, algorithms: ['RS256', 'ES256'], clockToleranceSeconds: 30, caFile: '/etc/bulwark/oauth-bearer-ca/ca.crt' });
    assert.deepEqual(checked.config.kafka.authentication, ['oauthbearer']);
    const fromConfigMap = built({ configMapName: 'idp-ca', key: 'ca.crt' });
    assert.deepEqual(fromConfigMap.pod.volumes.find((v) => v.name === 'oauth-bearer-ca'), { name: 'oauth-bearer-ca', configMap: { name: 'idp-ca', items: [{ key: 'ca.crt', path: 'ca.crt' }] } });
    // No caRef: the system CAs, nothing mounted.
    const system = built();
    assert.ok(!system.pod.volumes.some((v) => v.name === 'oauth-bearer-ca'));
    assert.equal((system.config.auth as { oauthBearer: { caFile?: string } }).oauthBearer.caFile, undefined);
  });

  test('the same inputs build the same objects (applying again changes nothing)', () => {
    assert.deepEqual(buildObjects(cluster(), options, inputs), objects);
  });

  test('claim templates that exist are kept: a StatefulSet cannot change them', () => {
    const existing = [{ metadata: { name: 'data' }, spec: { resources: { requests: { storage: '1Gi' } } } }];
    const built = buildObjects(cluster(), options, { ...inputs, existingClaimTemplates: existing });
    assert.deepEqual((built.statefulSet.spec as { volumeClaimTemplates: unknown }).volumeClaimTemplates, existing);
  });

  test('PodDisruptionBudget: one broker down at a time', () => {
    assert.equal((objects.podDisruptionBudget.spec as { maxUnavailable: number }).maxUnavailable, 1);
  });

  test('NetworkPolicy: only when enabled; client ports from the peers (the namespace by default), internal only from the operator, probes from anywhere, metrics only from the scrapers', () => {
    assert.equal(objects.networkPolicy, undefined);
    const peers = [{ namespaceSelector: { matchLabels: { team: 'apps' } } }];
    const np = buildObjects(cluster({ networkPolicy: { enabled: true, peers } }), options, inputs).networkPolicy!;
    const ingress = (np.spec as { ingress: { from?: unknown[]; ports: { port: number }[] }[]; policyTypes: string[] }).ingress;
    assert.deepEqual((np.spec as { policyTypes: string[] }).policyTypes, ['Ingress']);
    assert.deepEqual(ingress[0]!.from, peers);
    assert.deepEqual(ingress[0]!.ports.map((p) => p.port), [9092, 8080]);
    assert.deepEqual(ingress[1]!.from, [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'bulwark-system' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'bulwark', 'app.kubernetes.io/component': 'operator' } } }]);
    assert.deepEqual(ingress[1]!.ports.map((p) => p.port), [9443]);
    assert.equal(ingress[2]!.from, undefined);
    assert.deepEqual(ingress[2]!.ports.map((p) => p.port), [9095]);
    // The metrics port (plain HTTP, no authentication, topic names in its labels): not the client
    // peers, not everyone; by default pods labelled bulwark.dev/metrics-scraper=true.
    assert.deepEqual(ingress[3]!.ports.map((p) => p.port), [9096]);
    assert.deepEqual(ingress[3]!.from, [{ namespaceSelector: {}, podSelector: { matchLabels: { 'bulwark.dev/metrics-scraper': 'true' } } }]);
    assert.equal(ingress.length, 4);
    assert.ok(ingress.every((rule, i) => i === 3 || !rule.ports.some((p) => p.port === 9096)), 'no other rule opens the metrics port');
    const scrapers = [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } } }];
    const declared = buildObjects(cluster({ networkPolicy: { enabled: true, metricsPeers: scrapers } }), options, inputs).networkPolicy!;
    assert.deepEqual((declared.spec as { ingress: { from: unknown[] }[] }).ingress[3]!.from, scrapers);
    const sameNs = buildObjects(cluster({ networkPolicy: { enabled: true } }), options, inputs).networkPolicy!;
    assert.deepEqual((sameNs.spec as { ingress: { from: unknown[] }[] }).ingress[0]!.from, [{ podSelector: {} }]);
    assert.equal(buildObjects(cluster({ networkPolicy: { enabled: false } }), options, inputs).networkPolicy, undefined);
  });
});

describe('refusals', () => {
  test('spec.env: blocked names, reserved prefixes and the operator\'s own variables are refused, each named', () => {
    const cases: [string, RegExp | undefined][] = [
      ['TZ', undefined],
      ['JAVA_HOME', undefined],
      ['NODE_OPTIONS', /NODE_OPTIONS would change how the broker process loads/],
      ['UV_THREADPOOL_SIZE', /UV_THREADPOOL_SIZE/],
      ['NODE_DEBUG', /NODE_DEBUG: variables starting with BULWARK_, LD_, NODE_ are reserved/],
      ['LD_BIND_NOW', /LD_BIND_NOW/],
      ['BULWARK_KAFKA_PORT', /BULWARK_KAFKA_PORT/],
      ['POD_NAME', /POD_NAME is set by the operator/],
    ];
    for (const [name, message] of cases) {
      const refused = envRefusals({ env: [{ name: 'OK' }, { name }] });
      if (!message) assert.deepEqual(refused, [], name);
      else {
        assert.equal(refused.length, 1, name);
        assert.equal(refused[0]!.path, 'spec.env[1].name');
        assert.match(refused[0]!.message, message);
      }
    }
    assert.deepEqual(envRefusals(undefined), []);
  });

  test('the spec: what the broker refuses, reserved listener names and names too long, each with its field', () => {
    assert.deepEqual(specRefusals(cluster()), []);
    assert.deepEqual(specRefusals(cluster({ encryption: { enabled: true, keysSecretRef: { name: 'k' }, activeKeyId: 'a' } })), [], 'encryption at rest is honoured');
    assert.deepEqual(specRefusals(cluster({ audit: { sinks: [{ type: 'topic', topic: 'other' }] } })).map((r) => r.path), ['spec.audit.sinks[0].topic']);
    assert.deepEqual(specRefusals(cluster({ listeners: [{ name: 'kafka', protocol: 'kafka', port: 9092 }, { name: 'internal', protocol: 'kafka', port: 9093 }] })).map((r) => r.path), ['spec.listeners[1].name']);
    assert.deepEqual(specRefusals(cluster({}, 'a'.repeat(48))).map((r) => r.path), ['metadata.name']);
    assert.deepEqual(specRefusals(cluster({}, 'a'.repeat(47))), []);
  });
});

describe('the server secret', () => {
  const fixed = (n: number) => Buffer.alloc(n, 7);
  test('generated once: 32 random bytes', () => {
    const s = serverSecretObject(cluster(), undefined, fixed);
    assert.equal(s.generated, true);
    assert.equal((s.secret.data as Record<string, string>).secret, Buffer.alloc(32, 7).toString('base64'));
    assert.equal(s.secret.metadata.name, 'main-server-secret');
  });
  test('kept as it is when it exists, never regenerated', () => {
    const existing = Buffer.alloc(40, 1).toString('base64');
    const s = serverSecretObject(cluster(), existing, fixed);
    assert.equal(s.generated, false);
    assert.equal((s.secret.data as Record<string, string>).secret, existing);
  });
  test('a secret too short to be one is replaced', () => {
    assert.equal(serverSecretObject(cluster(), Buffer.alloc(8).toString('base64'), fixed).generated, true);
  });
});

describe('status', () => {
  const sts = (s: Record<string, unknown>, generation = 2) => ({ metadata: { generation }, spec: { replicas: 3 }, status: { observedGeneration: 2, replicas: 3, readyReplicas: 3, updatedReplicas: 3, currentRevision: 'r2', updateRevision: 'r2', ...s } });
  test('rolled out = the controller saw the spec, every pod updated and ready, one revision', () => {
    assert.deepEqual(rolloutState(sts({}), 3), { done: true, ready: 3 });
    assert.equal(rolloutState(undefined, 3).done, false);
    assert.equal(rolloutState(sts({ observedGeneration: 1 }), 3).done, false);
    assert.equal(rolloutState(sts({ currentRevision: 'r1' }), 3).done, false);
    assert.equal(rolloutState(sts({ updatedReplicas: 2 }), 3).done, false);
    assert.equal(rolloutState(sts({ readyReplicas: 2 }), 3).done, false);
    assert.match((rolloutState(sts({ readyReplicas: 2, updatedReplicas: 1 }), 3) as { message: string }).message, /2\/3 pods ready, 1\/3 on the current template/);
    assert.equal(rolloutState(sts({}), 4).done, false, 'scaling');
  });

  const base = { replicas: 1, envRefusals: [], specRefusals: [], certificates: { ready: true, message: '' }, rollout: { done: true as const, ready: 1 } };
  test('conditions, in order of what blocks the cluster', () => {
    const d = (over: Partial<Parameters<typeof decideConditions>[0]>) => decideConditions({ ...base, ...over });
    assert.deepEqual(d({}), { reason: 'Ready', message: '1/1 pods ready; 1 broker', stalled: false, reconciling: false, ready: true });
    assert.equal(d({ envRefusals: [{ path: 'spec.env[0].name', message: 'x' }], specRefusals: [{ path: 'spec', message: 'y' }] }).reason, 'InvalidEnv');
    assert.match(d({ envRefusals: [{ path: 'spec.env[0].name', message: 'NODE_DEBUG is refused' }] }).message, /spec\.env\[0\]\.name: NODE_DEBUG is refused/);
    assert.deepEqual(d({ specRefusals: [{ path: 'spec.encryption.enabled', message: 'no' }] }).stalled, true);
    assert.equal(d({ certificates: { ready: false, message: 'waiting for cert-manager' } }).reason, 'WaitingForCertificates');
    assert.equal(d({ rollout: { done: false, ready: 0, message: 'creating' } }).reason, 'RollingOut');
  });

  test('more than one replica: Ready says the brokers are one Kafka cluster', () => {
    const d = decideConditions({ ...base, replicas: 3, rollout: { done: true, ready: 3 } });
    assert.match(d.message, /3 brokers, one Kafka cluster/);
  });

  test('a refused scale-down is Stalled with ScaleDownBlocked, after the spec refusals', () => {
    const d = decideConditions({ ...base, replicas: 3, rollout: { done: true, ready: 3 }, scaleDownBlocked: { message: 'broker 2 leads 1 partition' } });
    assert.equal(d.reason, 'ScaleDownBlocked');
    assert.equal(d.stalled, true);
    assert.equal(d.ready, false);
    assert.equal(decideConditions({ ...base, specRefusals: [{ path: 'spec.x', message: 'no' }], scaleDownBlocked: { message: 'm' } }).reason, 'InvalidSpec');
  });

  test('lastTransitionTime moves only when a condition flips; observedGeneration is the generation decided from', () => {
    const rolling = decideConditions({ ...base, rollout: { done: false, ready: 0, message: 'creating' } });
    const ready = decideConditions(base);
    const t1 = applyDecision(undefined, rolling, 1, Date.parse('2027-01-01T00:00:00Z'));
    const t2 = applyDecision(t1, { ...rolling, message: 'still creating' }, 2, Date.parse('2027-01-01T00:01:00Z'));
    const t3 = applyDecision(t2, ready, 2, Date.parse('2027-01-01T00:02:00Z'));
    const at = (cs: typeof t1, type: string) => cs.find((c) => c.type === type)!;
    assert.deepEqual(t1.map((c) => `${c.type}=${c.status}/${c.reason}`), ['Ready=False/RollingOut', 'Reconciling=True/RollingOut', 'Stalled=False/Progressing']);
    assert.equal(at(t2, 'Ready').lastTransitionTime, '2027-01-01T00:00:00Z');
    assert.equal(at(t2, 'Ready').observedGeneration, 2);
    assert.deepEqual(t3.map((c) => `${c.type}=${c.status}/${c.reason}`), ['Ready=True/Ready', 'Reconciling=False/Reconciled', 'Stalled=False/Reconciled']);
    assert.equal(at(t3, 'Ready').lastTransitionTime, '2027-01-01T00:02:00Z');
    assert.equal(at(t3, 'Stalled').lastTransitionTime, '2027-01-01T00:00:00Z', 'Stalled stayed False');
  });
});
