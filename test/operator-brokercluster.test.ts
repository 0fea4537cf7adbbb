// The BrokerCluster reconciler against a real kube-apiserver and etcd (no controllers, no pods):
// what it creates, that applying again changes nothing, that drift is repaired, what rolls the
// pods and what does not, refused specs, and the status conditions. Each reconcile is called
// with a context whose cache is read from the API server just before, and a clock the test moves;
// the last suite runs the reconciler inside the operator's own machinery (informers, queue).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createLogger } from '../src/lib/index.ts';
import { brokerClusterReconciler } from '../src/operator/brokercluster/index.ts';
import { KINDS, kindId, KubeClient, KubeObjectApi, loadKubeConfig, type KindRef, type KubeObject, type ReconcileContext, type Reconciler } from '../src/operator/controller/index.ts';
import { startOperator } from '../src/operator/index.ts';
import { startControlPlane, type ControlPlane } from './harness/controlplane.ts';
import { recordStatus } from './harness/record-status.ts';

const root = join(import.meta.dirname, '..');
const H = 3_600_000;
const log = createLogger({ level: 'silent' });
const OWNED: KindRef[] = [KINDS.brokerCluster, KINDS.secret, KINDS.configMap, KINDS.service, KINDS.serviceAccount, KINDS.statefulSet, KINDS.podDisruptionBudget, KINDS.networkPolicy];

let cp: ControlPlane;
let client: KubeClient;
let api: KubeObjectApi;

before(async () => {
  cp = await startControlPlane();
  await cp.kubectl(['apply', '-f', join(root, 'crds')], { check: true });
  await cp.kubectl(['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s'], { check: true });
  client = new KubeClient(loadKubeConfig({ kubeconfig: cp.kubeconfigPath }));
  api = new KubeObjectApi(client, OWNED);
});
after(async () => {
  client?.close();
  await cp?.stop();
});

/** A test's view of one namespace: reconcile with a fresh cache read and a clock it controls. */
class Harness {
  now = Date.parse('2027-01-01T00:00:00Z');
  events: { type: string; reason: string; message: string }[] = [];
  readonly reconciler: Reconciler;
  constructor(
    readonly ns: string,
    readonly name = 'main',
  ) {
    this.reconciler = brokerClusterReconciler({ brokerImage: 'bulwark.local/bulwark:test' });
  }
  async reconcile() {
    const lists = new Map<string, KubeObject[]>();
    for (const kind of OWNED) lists.set(kindId(kind), (await api.list(kind, this.ns)).items);
    const ctx: ReconcileContext = {
      cache: {
        get: <T extends KubeObject>(kind: KindRef, key: { namespace: string; name: string }) => lists.get(kindId(kind))?.find((o) => o.metadata.name === key.name && o.metadata.namespace === key.namespace) as T | undefined,
        list: <T extends KubeObject>(kind: KindRef) => (lists.get(kindId(kind)) ?? []) as T[],
      },
      api,
      events: { emit: (_obj, type, reason, message) => void this.events.push({ type, reason, message }) },
      log,
      clock: { now: () => this.now, setTimeout: () => ({}), clearTimeout: () => {} },
    };
    return this.reconciler.reconcile({ namespace: this.ns, name: this.name }, ctx);
  }
  get<T extends KubeObject = KubeObject & Record<string, any>>(kind: KindRef, name: string) {
    return api.get<T>(kind, { namespace: this.ns, name });
  }
  cluster() {
    return this.get<KubeObject & { status?: any; spec: any }>(KINDS.brokerCluster, this.name);
  }
  async versions(): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const kind of OWNED) for (const o of (await api.list(kind, this.ns)).items) out[`${o.kind}/${o.metadata.name}`] = o.metadata.resourceVersion!;
    return out;
  }
  async apply(spec: Record<string, unknown>) {
    const doc = { apiVersion: 'bulwark.dev/v1alpha1', kind: 'BrokerCluster', metadata: { name: this.name, namespace: this.ns }, spec };
    await cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify(doc), check: true });
  }
}

const spec = (extra: Record<string, unknown> = {}) => ({
  replicas: 2,
  storage: { size: '1Gi' },
  listeners: [
    { name: 'kafka', protocol: 'kafka', port: 9092, tls: { enabled: true }, authentication: ['scram-sha-512'] },
    { name: 'http', protocol: 'http', port: 8080, tls: { enabled: true }, authentication: ['bearer'] },
  ],
  tls: { duration: '100h', renewBefore: '30h' },
  ...extra,
});

const hashOf = (sts: any): string => sts.spec.template.metadata.annotations['bulwark.dev/config-hash'];
const condition = (status: any, type: string) => (status?.conditions ?? []).find((c: any) => c.type === type);
const secretText = (s: any, key: string) => Buffer.from(s.data[key], 'base64').toString('utf8');

describe('a BrokerCluster reconciled against the real API server', () => {
  let h: Harness;
  before(async () => {
    h = new Harness(await cp.createNamespace('bc'));
    await h.apply(spec());
  });

  test('every owned object exists, owned by the cluster, with the restricted pod, probes and config hash', async () => {
    const result = await h.reconcile();
    const bc = await h.cluster();
    const uid = bc!.metadata.uid;
    const expected = ['ServiceAccount/main-broker', 'ConfigMap/main-config', 'Service/main-brokers', 'Service/main', 'StatefulSet/main', 'PodDisruptionBudget/main', 'Secret/main-ca', 'Secret/main-tls', 'Secret/main-internal-tls', 'Secret/main-operator-tls', 'Secret/main-server-secret'];
    for (const ref of expected) {
      const [kind, name] = ref.split('/') as [string, string];
      const obj = await h.get(OWNED.find((k) => k.kind === kind)!, name);
      assert.ok(obj, `${ref} exists`);
      assert.deepEqual(
        obj!.metadata.ownerReferences?.map((r) => [r.kind, r.name, r.uid, r.controller, r.blockOwnerDeletion]),
        [['BrokerCluster', 'main', uid, true, true]],
        `${ref} is owned by the cluster`,
      );
      assert.equal(obj!.metadata.labels?.['app.kubernetes.io/instance'], 'main');
    }
    const sts: any = await h.get(KINDS.statefulSet, 'main');
    const pod = sts.spec.template.spec;
    assert.equal(pod.securityContext.runAsUser, 65532);
    assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
    assert.deepEqual(pod.containers[0].securityContext.capabilities, { drop: ['ALL'] });
    assert.equal(pod.containers[0].securityContext.readOnlyRootFilesystem, true);
    assert.equal(pod.containers[0].readinessProbe.httpGet.path, '/readyz');
    assert.match(hashOf(sts), /^[0-9a-f]{64}$/);
    assert.equal(await h.get(KINDS.networkPolicy, 'main'), undefined, 'no NetworkPolicy unless enabled');

    const status = bc!.status;
    assert.equal(status.observedGeneration, 1);
    assert.equal(condition(status, 'Ready').status, 'False');
    assert.equal(condition(status, 'Ready').reason, 'RollingOut');
    assert.equal(condition(status, 'Reconciling').status, 'True');
    assert.equal(condition(status, 'Stalled').status, 'False');
    assert.match(condition(status, 'Ready').message, /2 brokers, one Kafka cluster/);
    recordStatus(bc, 'progressing-rolling-out');
    assert.deepEqual(status.listeners, [
      { name: 'kafka', protocol: 'kafka', tls: true, bootstrap: `main.${h.ns}.svc:9092` },
      { name: 'http', protocol: 'http', tls: true, bootstrap: `main.${h.ns}.svc:8080` },
    ]);
    assert.deepEqual(status.certificates.map((c: any) => [c.name, c.secretName]), [['ca', 'main-ca'], ['server', 'main-tls'], ['internal', 'main-internal-tls'], ['operator', 'main-operator-tls']]);
    assert.equal(status.certificates[1].notAfter, '2027-01-05T04:00:00Z');
    assert.equal(status.certificates[1].renewalTime, '2027-01-03T22:00:00Z');
    assert.equal(status.readyReplicas, 0);
    assert.equal(result?.requeueAfterMs, 70 * H, 'requeued for the first renewal');
    assert.deepEqual(
      h.events.map((e) => e.reason),
      ['CaCreated', 'CertificateIssued', 'CertificateIssued', 'CertificateIssued', 'ServerSecretCreated', 'Created'],
    );
  });

  test('reconciling again changes nothing: every resourceVersion stays, no status write', async () => {
    const before = await h.versions();
    h.events = [];
    await h.reconcile();
    await h.reconcile();
    assert.deepEqual(await h.versions(), before);
    assert.deepEqual(h.events, []);
  });

  test('an owned object deleted or edited is put back', async () => {
    await api.delete(KINDS.configMap, { namespace: h.ns, name: 'main-config' });
    await api.delete(KINDS.service, { namespace: h.ns, name: 'main' });
    await cp.kubectl(['-n', h.ns, 'patch', 'statefulset', 'main', '--type=merge', '-p', '{"spec":{"replicas":7}}'], { check: true });
    await cp.kubectl(['-n', h.ns, 'patch', 'service', 'main-brokers', '--type=json', '-p', '[{"op":"replace","path":"/spec/publishNotReadyAddresses","value":false}]'], { check: true });
    const secretBefore: any = await h.get(KINDS.secret, 'main-server-secret');
    await h.reconcile();
    assert.ok(await h.get(KINDS.configMap, 'main-config'));
    assert.ok(await h.get(KINDS.service, 'main'));
    assert.equal(((await h.get(KINDS.statefulSet, 'main')) as any).spec.replicas, 2);
    assert.equal(((await h.get(KINDS.service, 'main-brokers')) as any).spec.publishNotReadyAddresses, true);
    assert.equal(((await h.get(KINDS.secret, 'main-server-secret')) as any).data.secret, secretBefore.data.secret, 'the server secret is never regenerated');
  });

  test('a changed setting changes the pod-template hash (the pods roll); the event says so', async () => {
    const before: any = await h.get(KINDS.statefulSet, 'main');
    h.events = [];
    await h.apply(spec({ limits: { maxConnections: 500 } }));
    await h.reconcile();
    const after: any = await h.get(KINDS.statefulSet, 'main');
    assert.notEqual(hashOf(after), hashOf(before));
    assert.match(((await h.get(KINDS.configMap, 'main-config')) as any).data['broker.json'], /"maxConnections": 500/);
    assert.ok(h.events.some((e) => e.reason === 'RollingUpdate'));
    assert.equal((await h.cluster())!.status.observedGeneration, 2);
  });

  test('a certificate reaching its renewal time is renewed in its Secret; the pod template does not change', async () => {
    const sts: any = await h.get(KINDS.statefulSet, 'main');
    const tls: any = await h.get(KINDS.secret, 'main-tls');
    const ca: any = await h.get(KINDS.secret, 'main-ca');
    h.events = [];
    h.now += 70 * H;
    const result = await h.reconcile();
    const tlsAfter: any = await h.get(KINDS.secret, 'main-tls');
    assert.notEqual(secretText(tlsAfter, 'tls.crt'), secretText(tls, 'tls.crt'));
    assert.equal(secretText(tlsAfter, 'ca.crt'), secretText(tls, 'ca.crt'));
    assert.equal(((await h.get(KINDS.secret, 'main-ca')) as any).metadata.resourceVersion, ca.metadata.resourceVersion, 'the CA is untouched');
    const stsAfter: any = await h.get(KINDS.statefulSet, 'main');
    assert.equal(stsAfter.metadata.resourceVersion, sts.metadata.resourceVersion, 'the StatefulSet is untouched: brokers reload renewed files');
    assert.deepEqual(h.events.map((e) => e.reason), ['CertificateRenewed', 'CertificateRenewed', 'CertificateRenewed']);
    const certs = (await h.cluster())!.status.certificates;
    assert.equal(certs.find((c: any) => c.name === 'server').renewalTime, '2027-01-06T20:00:00Z'); // issued at +70h for 100h, renewed 30h before
    assert.equal(result?.requeueAfterMs, 70 * H);
  });

  test('a refused spec.env stalls the cluster with InvalidEnv naming the variable, and nothing is applied; fixing it resumes', async () => {
    const versions = await h.versions();
    await h.apply(spec({ limits: { maxConnections: 500 }, env: [{ name: 'TZ', value: 'UTC' }, { name: 'NODE_DEBUG', value: 'net' }] }));
    recordStatus(await h.cluster(), 'progressing-generation-not-observed');
    h.events = [];
    await h.reconcile();
    const after = await h.versions();
    for (const [ref, rv] of Object.entries(versions)) if (!ref.startsWith('BrokerCluster/')) assert.equal(after[ref], rv, `${ref} unchanged`);
    const status = (await h.cluster())!.status;
    assert.equal(condition(status, 'Stalled').status, 'True');
    assert.equal(condition(status, 'Stalled').reason, 'InvalidEnv');
    assert.match(condition(status, 'Stalled').message, /spec\.env\[1\]\.name: NODE_DEBUG/);
    assert.equal(condition(status, 'Ready').reason, 'InvalidEnv');
    assert.equal(condition(status, 'Reconciling').status, 'False');
    assert.equal(status.observedGeneration, 3);
    recordStatus(await h.cluster(), 'degraded-invalid-env');
    assert.deepEqual(h.events.map((e) => [e.type, e.reason]), [['Warning', 'Stalled']]);
    const stalledAt = condition(status, 'Stalled').lastTransitionTime;

    h.now += 60_000;
    await h.apply(spec({ limits: { maxConnections: 500 }, env: [{ name: 'TZ', value: 'UTC' }] }));
    await h.reconcile();
    const resumed = (await h.cluster())!.status;
    assert.equal(condition(resumed, 'Stalled').status, 'False');
    assert.notEqual(condition(resumed, 'Stalled').lastTransitionTime, stalledAt, 'the flip moves lastTransitionTime');
    const sts: any = await h.get(KINDS.statefulSet, 'main');
    assert.deepEqual(sts.spec.template.spec.containers[0].env.map((e: any) => e.name), ['POD_NAME', 'POD_NAMESPACE', 'TZ']);
  });

  test('a spec the broker refuses stalls with InvalidSpec naming the field', async () => {
    await h.apply(spec({ audit: { sinks: [{ type: 'topic', topic: 'audit-events' }] } }));
    await h.reconcile();
    const status = (await h.cluster())!.status;
    assert.equal(condition(status, 'Stalled').reason, 'InvalidSpec');
    assert.match(condition(status, 'Stalled').message, /spec\.audit\.sinks\[0\]\.topic/);
  });

  test('spec.encryption: the keys Secret mounted read-only and rendered into the broker config; a new activeKeyId rolls the pods; turning it off is refused', async () => {
    const e = new Harness(await cp.createNamespace('bc-encryption'));
    const encryption = (activeKeyId: string) => ({ encryption: { enabled: true, keysSecretRef: { name: 'main-keys' }, activeKeyId } });
    await e.apply(spec(encryption('k1')));
    await e.reconcile();
    assert.equal(condition((await e.cluster())!.status, 'Stalled').status, 'False');
    const sts: any = await e.get(KINDS.statefulSet, 'main');
    const pod = sts.spec.template.spec;
    assert.deepEqual(pod.volumes.find((v: any) => v.name === 'encryption-keys').secret, { secretName: 'main-keys', defaultMode: 0o440 });
    assert.deepEqual(pod.containers[0].volumeMounts.find((m: any) => m.name === 'encryption-keys'), { name: 'encryption-keys', mountPath: '/etc/bulwark/encryption-keys', readOnly: true });
    const cm: any = await e.get(KINDS.configMap, 'main-config');
    assert.deepEqual(JSON.parse(cm.data['broker.json']).encryption, { keyDir: '/etc/bulwark/encryption-keys', activeKeyId: 'k1' });

    await e.apply(spec(encryption('k2')));
    await e.reconcile();
    const rotated: any = await e.get(KINDS.statefulSet, 'main');
    assert.notEqual(hashOf(rotated), hashOf(sts), 'a new active key changes the pod template: the StatefulSet rolls the brokers');
    assert.equal(JSON.parse(((await e.get(KINDS.configMap, 'main-config')) as any).data['broker.json']).encryption.activeKeyId, 'k2');

    const off = await cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'bulwark.dev/v1alpha1', kind: 'BrokerCluster', metadata: { name: 'main', namespace: e.ns }, spec: spec({ encryption: { enabled: false } }) }) });
    assert.notEqual(off.code, 0);
    assert.match(off.stderr, /encryption cannot be turned off once on/);
  });

  test('Ready turns True when the StatefulSet has rolled out, and only Ready\'s and Reconciling\'s transition times move', async () => {
    // A fresh cluster in its own namespace.
    const r = new Harness(await cp.createNamespace('bc-ready'));
    await r.apply(spec({ replicas: 1 }));
    await r.reconcile();
    const before = (await r.cluster())!.status;
    const sts: any = await r.get(KINDS.statefulSet, 'main');
    // What the StatefulSet controller would write once the pod is ready (no controllers run here).
    const rolled = { observedGeneration: sts.metadata.generation, replicas: 1, readyReplicas: 1, updatedReplicas: 1, currentReplicas: 1, availableReplicas: 1, currentRevision: 'main-1', updateRevision: 'main-1' };
    await client.request('PATCH', `/apis/apps/v1/namespaces/${r.ns}/statefulsets/main/status`, { body: { status: rolled }, contentType: 'application/merge-patch+json' });
    r.now += 5 * 60_000;
    await r.reconcile();
    const status = (await r.cluster())!.status;
    assert.equal(condition(status, 'Ready').status, 'True');
    assert.equal(condition(status, 'Ready').reason, 'Ready');
    assert.equal(condition(status, 'Ready').message, '1/1 pods ready; 1 broker');
    recordStatus(await r.cluster(), 'healthy-ready');
    assert.equal(condition(status, 'Reconciling').status, 'False');
    assert.equal(status.readyReplicas, 1);
    assert.notEqual(condition(status, 'Ready').lastTransitionTime, condition(before, 'Ready').lastTransitionTime);
    assert.equal(condition(status, 'Stalled').lastTransitionTime, condition(before, 'Stalled').lastTransitionTime);
  });

  test('kubectl annotate brokercluster bulwark.dev/rotate-ca=<value>: a new CA is trusted at once by every Secret\'s ca.crt; the same value again does nothing', async () => {
    const n = new Harness(await cp.createNamespace('bc-rotate'));
    await n.apply(spec());
    await n.reconcile();
    const caBefore = secretText(await n.get(KINDS.secret, 'main-ca'), 'tls.crt');
    const serverBefore = secretText(await n.get(KINDS.secret, 'main-tls'), 'tls.crt');
    n.events = [];
    await cp.kubectl(['-n', n.ns, 'annotate', 'brokerclusters.bulwark.dev', 'main', 'bulwark.dev/rotate-ca=2027-01-15'], { check: true });
    await n.reconcile();
    assert.deepEqual(n.events.map((e) => e.reason), ['CaRotationStarted']);
    assert.match(n.events[0]!.message, /asked for \(bulwark\.dev\/rotate-ca: "2027-01-15"\)/);
    const ca: any = await n.get(KINDS.secret, 'main-ca');
    assert.equal(ca.metadata.annotations['bulwark.dev/rotate-ca-handled'], '2027-01-15');
    assert.ok(ca.data['next.crt'], 'the next CA is in the CA Secret');
    assert.equal(secretText(ca, 'tls.crt'), caBefore, 'the current CA still signs');
    for (const name of ['main-tls', 'main-internal-tls', 'main-operator-tls']) {
      const bundle = secretText(await n.get(KINDS.secret, name), 'ca.crt');
      assert.equal(bundle.match(/BEGIN CERTIFICATE/g)?.length, 2, `${name}: ca.crt carries the current and the next CA`);
    }
    assert.equal(secretText(await n.get(KINDS.secret, 'main-tls'), 'tls.crt'), serverBefore, 'certificates are re-signed only at the promotion');
    const versions = await n.versions();
    n.events = [];
    await n.reconcile();
    assert.deepEqual(n.events, []);
    assert.deepEqual(await n.versions(), versions);
  });

  test('the NetworkPolicy follows spec.networkPolicy.enabled', async () => {
    const n = new Harness(await cp.createNamespace('bc-np'));
    await n.apply(spec({ networkPolicy: { enabled: true } }));
    await n.reconcile();
    const np: any = await n.get(KINDS.networkPolicy, 'main');
    assert.deepEqual(np.spec.ingress.map((r: any) => r.ports.map((p: any) => p.port)), [[9092, 8080], [9443], [9095], [9096]]);
    await n.apply(spec({ networkPolicy: { enabled: false } }));
    await n.reconcile();
    assert.equal(await n.get(KINDS.networkPolicy, 'main'), undefined);
  });
});

describe('the broker pod and the restricted Pod Security profile', () => {
  test('the API server admits a pod of the StatefulSet\'s template in a namespace enforcing restricted, and refuses a weakened one', async () => {
    const h = new Harness(await cp.createNamespace('bc-pss'));
    await cp.kubectl(['label', 'namespace', h.ns, 'pod-security.kubernetes.io/enforce=restricted', 'pod-security.kubernetes.io/enforce-version=latest'], { check: true });
    await h.apply(spec());
    await h.reconcile();
    const sts: any = await h.get(KINDS.statefulSet, 'main');
    // The pod the StatefulSet controller would make: its template, plus the claim volume it adds.
    const pod = (name: string, mutate: (spec: any) => void = () => {}) => {
      const podSpec = structuredClone(sts.spec.template.spec);
      podSpec.volumes.push({ name: 'data', persistentVolumeClaim: { claimName: `data-${name}` } });
      mutate(podSpec);
      return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: h.ns, labels: sts.spec.template.metadata.labels }, spec: podSpec };
    };
    const create = (body: unknown) => client.request('POST', `/api/v1/namespaces/${h.ns}/pods`, { body });
    await create(pod('main-0'));
    await assert.rejects(
      create(pod('weak-0', (p) => {
        delete p.securityContext.seccompProfile;
        p.containers[0].securityContext.capabilities = { add: ['NET_ADMIN'] };
      })),
      /violates PodSecurity "restricted:latest"/,
    );
  });
});

describe('the reconciler inside the operator machinery', () => {
  test('a new cluster is reconciled, and an owned object deleted behind its back is restored', async () => {
    const ns = await cp.createNamespace('bc-op');
    const operator = await startOperator({ kubeconfig: cp.kubeconfigPath, reconcilers: [brokerClusterReconciler({ brokerImage: 'bulwark.local/bulwark:test' })], namespaces: [ns], leaderElection: false, metricsPort: 0, metricsHost: '127.0.0.1', log });
    try {
      await operator.synced();
      const h = new Harness(ns);
      await h.apply(spec({ replicas: 1 }));
      const until = async (what: string, check: () => Promise<boolean>) => {
        const deadline = Date.now() + 30_000;
        while (!(await check())) {
          if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      };
      await until('the StatefulSet', async () => (await h.get(KINDS.statefulSet, 'main')) !== undefined);
      await until('the status', async () => condition((await h.cluster())?.status, 'Reconciling')?.status === 'True');
      const svc = await h.get(KINDS.service, 'main');
      await api.delete(KINDS.service, { namespace: ns, name: 'main' });
      await until('the client Service to come back', async () => {
        const now = await h.get(KINDS.service, 'main');
        return now !== undefined && now.metadata.uid !== svc!.metadata.uid;
      });
    } finally {
      await operator.stop();
    }
  });
});
