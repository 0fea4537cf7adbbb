// The operator's RBAC (manifests/base/rbac) on a real API server: the reconciler, run as the
// bulwark-operator ServiceAccount (a token from the TokenRequest API), does its whole job in a
// namespace bound with bulwark-operator-namespaced, and is refused Secrets everywhere else;
// `kubectl auth can-i --as` checks the least-privilege edges one by one.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { createLogger } from '../src/lib/index.ts';
import { brokerClusterReconciler } from '../src/operator/brokercluster/index.ts';
import { startOperator } from '../src/operator/index.ts';
import { KINDS, kindId, KubeClient, KubeObjectApi, type KindRef, type KubeObject, type ReconcileContext } from '../src/operator/controller/index.ts';
import { startControlPlane, type ControlPlane } from './harness/controlplane.ts';

const root = join(import.meta.dirname, '..');
const SA = 'system:serviceaccount:bulwark-system:bulwark-operator';
const OWNED: KindRef[] = [KINDS.brokerCluster, KINDS.secret, KINDS.configMap, KINDS.service, KINDS.serviceAccount, KINDS.statefulSet, KINDS.podDisruptionBudget, KINDS.networkPolicy];

let cp: ControlPlane;
let operatorClient: KubeClient;
let bound: string;
let unbound: string;
let operatorKubeconfig: string;

async function eventually<T>(fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function clusterCondition(ns: string, type: string): Promise<{ status: string; reason: string; message: string } | undefined> {
  const r = await cp.kubectl(['-n', ns, 'get', 'brokercluster', 'main', '-o', 'json']);
  if (r.code !== 0) return undefined;
  return (JSON.parse(r.stdout).status?.conditions ?? []).find((c: { type: string }) => c.type === type);
}

before(async () => {
  cp = await startControlPlane();
  await cp.kubectl(['apply', '-f', join(root, 'crds')], { check: true });
  await cp.kubectl(['create', 'namespace', 'bulwark-system'], { check: true });
  await cp.kubectl(['apply', '-k', join(root, 'manifests', 'base', 'rbac')], { check: true });
  await cp.kubectl(['apply', '-f', join(root, 'manifests', 'overlays', 'cluster-wide', 'cluster-role-binding.yaml')], { check: true });
  bound = await cp.createNamespace('served');
  unbound = await cp.createNamespace('elsewhere');
  const binding = readFileSync(join(root, 'manifests', 'templates', 'namespace-rolebinding.yaml'), 'utf8').replace('namespace: NAMESPACE', `namespace: ${bound}`);
  await cp.kubectl(['apply', '-f', '-'], { input: binding, check: true });
  await cp.kubectl(['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s'], { check: true });
  const token = (await cp.kubectl(['-n', 'bulwark-system', 'create', 'token', 'bulwark-operator', '--duration=1h'], { check: true })).stdout.trim();
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'test', server: cp.server, caData: Buffer.from(cp.caPem).toString('base64') }],
    users: [{ name: 'bulwark-operator', token }],
    contexts: [{ name: 'operator', cluster: 'test', user: 'bulwark-operator' }],
    currentContext: 'operator',
  });
  operatorClient = new KubeClient(kc);
  operatorKubeconfig = kc.exportConfig();
});
after(async () => {
  operatorClient?.close();
  await cp?.stop();
});

async function reconcileAsOperator(ns: string) {
  const api = new KubeObjectApi(operatorClient, OWNED);
  const lists = new Map<string, KubeObject[]>();
  for (const kind of OWNED) lists.set(kindId(kind), (await api.list(kind, ns)).items);
  const ctx: ReconcileContext = {
    cache: {
      get: <T extends KubeObject>(kind: KindRef, key: { namespace: string; name: string }) => lists.get(kindId(kind))?.find((o) => o.metadata.name === key.name) as T | undefined,
      list: <T extends KubeObject>(kind: KindRef) => (lists.get(kindId(kind)) ?? []) as T[],
    },
    api,
    events: { emit: () => {} },
    log: createLogger({ level: 'silent' }),
    clock: { now: () => Date.now(), setTimeout: () => ({}), clearTimeout: () => {} },
  };
  await brokerClusterReconciler({ brokerImage: 'bulwark.local/bulwark:test' }).reconcile({ namespace: ns, name: 'main' }, ctx);
}

const applyCluster = (ns: string) =>
  cp.kubectl(['apply', '-f', '-'], {
    input: JSON.stringify({ apiVersion: 'bulwark.dev/v1alpha1', kind: 'BrokerCluster', metadata: { name: 'main', namespace: ns }, spec: { replicas: 1, storage: { size: '1Gi' }, listeners: [{ name: 'kafka', protocol: 'kafka', port: 9092, tls: { enabled: true } }], networkPolicy: { enabled: true } } }),
    check: true,
  });

describe('the operator\'s RBAC', () => {
  test('as bulwark-operator, the reconciler does its whole job in a served namespace', async () => {
    await applyCluster(bound);
    await reconcileAsOperator(bound);
    for (const [kind, name] of [['statefulsets', 'main'], ['secrets', 'main-ca'], ['secrets', 'main-server-secret'], ['configmaps', 'main-config'], ['networkpolicies', 'main'], ['poddisruptionbudgets', 'main']] as const) {
      const r = await cp.kubectl(['-n', bound, 'get', kind, name, '-o', 'name']);
      assert.equal(r.code, 0, `${kind}/${name}: ${r.stderr}`);
    }
    const status = JSON.parse((await cp.kubectl(['-n', bound, 'get', 'brokercluster', 'main', '-o', 'json'], { check: true })).stdout).status;
    assert.equal(status.observedGeneration, 1, 'status written through brokerclusters/status');
  });

  test('in a namespace nobody bound, it cannot read or write Secrets, so it cannot act there', async () => {
    await applyCluster(unbound);
    await assert.rejects(reconcileAsOperator(unbound), /403|[Ff]orbidden/);
    assert.notEqual((await cp.kubectl(['-n', unbound, 'get', 'secret', 'main-ca'])).code, 0);
  });

  test('the whole operator, serving all namespaces: a namespace nobody bound stalls its cluster with OperatorForbidden; binding it lets the cluster proceed', async () => {
    const ns = await cp.createNamespace('forgot-binding');
    const tokenConfig = new KubeConfig();
    tokenConfig.loadFromString(operatorKubeconfig);
    const operator = await startOperator({ kubeConfig: tokenConfig, reconcilers: [brokerClusterReconciler({ brokerImage: 'bulwark.local/bulwark:test' })], leaderElection: false, metricsPort: 0, metricsHost: '127.0.0.1', log: createLogger({ level: 'silent' }) });
    try {
      await applyCluster(ns);
      const stalled = await eventually(async () => {
        const c = await clusterCondition(ns, 'Stalled');
        return c?.status === 'True' ? c : undefined;
      });
      assert.equal(stalled.reason, 'OperatorForbidden');
      assert.match(stalled.message, new RegExp(`may not read configmaps and secrets in namespace ${ns}: bind the ClusterRole bulwark-operator-namespaced`));
      assert.equal((await clusterCondition(ns, 'Ready'))?.status, 'False');
      const binding = readFileSync(join(root, 'manifests', 'templates', 'namespace-rolebinding.yaml'), 'utf8').replace('namespace: NAMESPACE', `namespace: ${ns}`);
      await cp.kubectl(['apply', '-f', '-'], { input: binding, check: true });
      await eventually(async () => ((await cp.kubectl(['-n', ns, 'get', 'statefulset', 'main', '-o', 'name'])).code === 0 ? true : undefined), 90_000);
      await eventually(async () => ((await clusterCondition(ns, 'Stalled'))?.status === 'False' ? true : undefined));
    } finally {
      await operator.stop();
    }
  });

  test('kubectl auth can-i: what it needs, and nothing more', async () => {
    const can = async (args: string[]) => (await cp.kubectl(['auth', 'can-i', ...args, `--as=${SA}`])).stdout.trim() === 'yes';
    const yes: string[][] = [
      ['list', 'brokerclusters.bulwark.dev', '--all-namespaces'],
      ['watch', 'brokerclusters.bulwark.dev', '--all-namespaces'],
      ['patch', 'brokerclusters.bulwark.dev', '--subresource=status', '-n', unbound],
      ['update', 'brokerclusters.bulwark.dev', '--subresource=finalizers', '-n', unbound],
      ['watch', 'statefulsets.apps', '--all-namespaces'],
      ['create', 'statefulsets.apps', '-n', unbound],
      ['patch', 'statefulsets.apps', '-n', unbound],
      ['patch', 'services', '-n', unbound],
      ['patch', 'serviceaccounts', '-n', unbound],
      ['patch', 'poddisruptionbudgets.policy', '-n', unbound],
      ['delete', 'networkpolicies.networking.k8s.io', '-n', unbound],
      ['create', 'events', '-n', unbound],
      ['patch', 'events', '-n', unbound],
      ['get', 'leases.coordination.k8s.io', '-n', 'bulwark-system'],
      ['update', 'leases.coordination.k8s.io', '-n', 'bulwark-system'],
      ['list', 'secrets', '-n', bound],
      ['watch', 'configmaps', '-n', bound],
      ['patch', 'secrets', '-n', bound],
      ['watch', 'topics.bulwark.dev', '--all-namespaces'],
      ['create', 'topics.bulwark.dev', '-n', unbound],
      ['delete', 'topics.bulwark.dev', '-n', unbound],
      ['update', 'topics.bulwark.dev', '--subresource=status', '-n', unbound],
    ];
    const no: string[][] = [
      ['list', 'secrets', '--all-namespaces'],
      ['get', 'secrets', '-n', unbound],
      ['get', 'secrets', '-n', 'kube-system'],
      ['list', 'configmaps', '--all-namespaces'],
      ['delete', 'secrets', '-n', bound],
      ['update', 'brokerclusters.bulwark.dev', '-n', bound],
      ['patch', 'brokerclusters.bulwark.dev', '-n', bound],
      ['delete', 'statefulsets.apps', '-n', bound],
      ['create', 'pods', '-n', bound],
      ['create', 'pods', '--subresource=exec', '-n', bound],
      ['update', 'leases.coordination.k8s.io', '-n', bound],
      ['create', 'rolebindings.rbac.authorization.k8s.io', '-n', bound],
      ['create', 'clusterrolebindings.rbac.authorization.k8s.io'],
      ['update', 'topics.bulwark.dev', '-n', bound],
      ['patch', 'topics.bulwark.dev', '-n', bound],
    ];
    const wrong = [
      ...(await Promise.all(yes.map(async (a) => ((await can(a)) ? [] : [`cannot ${a.join(' ')}`])))).flat(),
      ...(await Promise.all(no.map(async (a) => ((await can(a)) ? [`can ${a.join(' ')}`] : [])))).flat(),
    ];
    assert.deepEqual(wrong, []);
  });

  test('cert-manager Certificates (a SubjectAccessReview: kubectl auth can-i needs the CRD installed to resolve the kind)', async () => {
    const review = async (verb: string) => {
      const r = await cp.request('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: { user: SA, groups: ['system:serviceaccounts', 'system:serviceaccounts:bulwark-system', 'system:authenticated'], resourceAttributes: { namespace: unbound, verb, group: 'cert-manager.io', resource: 'certificates' } },
      });
      return r.json<{ status: { allowed: boolean } }>().status.allowed;
    };
    assert.deepEqual(await Promise.all(['get', 'list', 'watch', 'create', 'patch'].map(review)), [true, true, true, true, true]);
    assert.deepEqual(await Promise.all(['delete', 'update'].map(review)), [false, false]);
  });
});
