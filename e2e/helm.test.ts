// The Helm chart on a real Kubernetes node, as an admin uses it (docs/helm.md): helm install into
// a namespace it creates, --wait until the operator is available; a BrokerCluster in a namespace
// that grants the operator its Secrets and ConfigMaps becomes Ready, its brokers running the
// operator's image; helm upgrade with new resources rolls the operator; helm uninstall removes
// the operator and leaves the CRDs (and so the custom resources), as Helm does.
//
// The broker image is this checkout's production build, imported into the node's containerd
// (image.pullPolicy Never). The operator reaches the API server through the `kubernetes` Service,
// which the test node routes, as in any cluster.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { buildBrokerImage, type BrokerImage } from '../tools/image/broker-image.ts';
import { CHART_DIR, ensureHelm, helm } from '../tools/helm/helm.ts';
import { repoRoot } from '../test/harness/controlplane.ts';
import { nodeUnavailableReason, startNode, type TestNode } from '../test/harness/node.ts';
import { createBrokerNamespace, createLocalVolumes, E2E_STORAGE_CLASS, kubectlJson, waitFor } from '../tools/node/bulwark-install.ts';

const skip = nodeUnavailableReason();
const RELEASE = 'bulwark';
const NS = 'bulwark-system';
const CLUSTER = 'demo'; // examples/kubernetes/02-brokercluster.yaml

describe('the Helm chart on a real node', { skip: skip ?? false, timeout: 1_800_000 }, () => {
  let node: TestNode;
  let image: BrokerImage;
  let brokers = '';
  let scratch = '';
  let helmEnv: NodeJS.ProcessEnv;
  const timings: Record<string, number> = {};
  const timed = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      timings[name] = Math.round((performance.now() - t0) / 100) / 10;
    }
  };
  /** helm against the node, as admin; fails the test with helm's output on a non-zero exit. */
  const helmOk = async (args: string[]) => {
    const r = await helm([...args, '--kubeconfig', node.kubeconfigPath], { timeoutMs: 600_000, env: helmEnv });
    assert.equal(r.code, 0, `helm ${args.join(' ')} failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  };
  const deployment = () => kubectlJson<any>(node, ['-n', NS, 'get', 'deployment', 'bulwark-operator']);
  const operatorPods = async () =>
    ((await kubectlJson<{ items: any[] }>(node, ['-n', NS, 'get', 'pods', '-l', 'app.kubernetes.io/name=bulwark,app.kubernetes.io/component=operator']))?.items ?? []).filter((p) => !p.metadata.deletionTimestamp);

  before(async () => {
    await timed('helmBuild', () => ensureHelm());
    scratch = await mkdtemp(join(tmpdir(), 'bulwark-e2e-helm-'));
    // Helm's own cache, config and data (repositories, plugins) in a scratch directory, not the user's.
    helmEnv = { ...process.env, HELM_CACHE_HOME: join(scratch, 'cache'), HELM_CONFIG_HOME: join(scratch, 'config'), HELM_DATA_HOME: join(scratch, 'data') };
    node = await timed('nodeStart', () => startNode({ waitForBridgeMs: 900_000, purpose: 'e2e/helm' }));
    image = await timed('imageBuild', () => buildBrokerImage());
    await timed('imageImport', () => node.importImage(image.archive));
  });

  after(async () => {
    console.log(`e2e helm timings (s): ${JSON.stringify(timings)}`);
    if (scratch) await rm(scratch, { recursive: true, force: true });
    if (process.env.BULWARK_E2E_KEEP === '1') return;
    await node?.stop();
  });

  it('helm install of the packaged chart, --create-namespace --wait: the CRDs are established and the operator is available', async () => {
    const i = image.name.lastIndexOf(':');
    const values = join(scratch, 'values.yaml');
    await writeFile(
      values,
      JSON.stringify({
        image: { repository: image.name.slice(0, i), tag: image.name.slice(i + 1), pullPolicy: 'Never' },
        replicas: 1,
      }),
    );
    // As a user installs a published chart: the archive helm package writes (docs/helm.md).
    await helmOk(['package', CHART_DIR, '--destination', scratch]);
    const [archive] = (await readdir(scratch)).filter((f) => /^bulwark-.*\.tgz$/.test(f));
    assert.ok(archive, 'helm package wrote the chart archive');
    await timed('helmInstall', () => helmOk(['install', RELEASE, join(scratch, archive), '-n', NS, '--create-namespace', '-f', values, '--wait', '--timeout', '5m']));
    const crd = await kubectlJson<any>(node, ['get', 'crd', 'brokerclusters.bulwark.dev']);
    assert.ok(crd?.status?.conditions?.some((c: any) => c.type === 'Established' && c.status === 'True'), 'the CRDs from crds/ are installed');
    const d = await deployment();
    assert.equal(d.status.availableReplicas, 1);
    assert.equal(d.metadata.labels['app.kubernetes.io/managed-by'], 'Helm');
    assert.equal(d.spec.template.spec.containers[0].image, image.name);
    const status = JSON.parse(await helmOk(['status', RELEASE, '-n', NS, '-o', 'json']));
    assert.equal(status.info.status, 'deployed');
    assert.equal(status.version, 1);
  });

  it('a BrokerCluster in a namespace that grants the operator Secrets and ConfigMaps becomes Ready, its broker on the operator\'s image', async () => {
    brokers = await createBrokerNamespace(node, 'e2e-helm');
    await createLocalVolumes(node, 1);
    // The example users start from, in this namespace, on the node's local volumes (there is no default StorageClass).
    const cluster = parse(readFileSync(join(repoRoot, 'examples', 'kubernetes', '02-brokercluster.yaml'), 'utf8'));
    assert.equal(cluster.spec.replicas, 1);
    cluster.metadata.namespace = brokers;
    cluster.spec.storage.storageClassName = E2E_STORAGE_CLASS;
    await node.kubectl(['apply', '--server-side', '-f', '-'], { input: JSON.stringify(cluster), check: true });
    // Ready, or Stalled (the operator refused the spec): either ends the wait, and the assert says which.
    let last: unknown;
    const seen = await timed('clusterReady', () =>
      waitFor(
        'the BrokerCluster to be Ready',
        async () => {
          const c = await kubectlJson<any>(node, ['-n', brokers, 'get', 'brokercluster', CLUSTER]);
          last = c?.status;
          const holds = (type: string) => c?.status?.conditions?.some((x: any) => x.type === type && x.status === 'True');
          return holds('Ready') || holds('Stalled') ? c : undefined;
        },
        300_000,
        1000,
      ).catch((err: Error) => {
        throw new Error(`${err.message}; its last status: ${JSON.stringify(last)}`);
      }),
    );
    const ready = seen.status.conditions.find((x: any) => x.type === 'Ready');
    assert.equal(ready?.status, 'True', `the BrokerCluster is not Ready: ${JSON.stringify(seen.status.conditions)}`);
    assert.equal(seen.status.readyReplicas, 1);
    const sts = await kubectlJson<any>(node, ['-n', brokers, 'get', 'statefulset', CLUSTER]);
    assert.equal(sts.spec.template.spec.containers[0].image, image.name, 'the brokers run the image the chart gave the operator');
  });

  it('helm upgrade with new resources rolls the operator onto a pod with them', async () => {
    const before = await operatorPods();
    assert.equal(before.length, 1);
    await timed('helmUpgrade', () => helmOk(['upgrade', RELEASE, CHART_DIR, '-n', NS, '--reuse-values', '--set', 'resources.limits.memory=640Mi', '--wait', '--timeout', '5m']));
    const d = await deployment();
    assert.deepEqual(d.spec.template.spec.containers[0].resources.limits, { memory: '640Mi' });
    assert.equal(d.status.updatedReplicas, 1);
    assert.equal(d.status.availableReplicas, 1);
    const after = await waitFor('the old operator pod to go', async () => {
      const pods = await operatorPods();
      return pods.length === 1 && pods[0].metadata.uid !== before[0].metadata.uid ? pods : undefined;
    });
    assert.equal(after[0].spec.containers[0].resources.limits.memory, '640Mi');
    const status = JSON.parse(await helmOk(['status', RELEASE, '-n', NS, '-o', 'json']));
    assert.equal(status.version, 2);
  });

  it('helm uninstall removes the operator and its RBAC; the CRDs and the BrokerCluster stay', async () => {
    await timed('helmUninstall', () => helmOk(['uninstall', RELEASE, '-n', NS, '--wait', '--timeout', '5m']));
    for (const args of [
      ['-n', NS, 'get', 'deployment', 'bulwark-operator'],
      ['-n', NS, 'get', 'serviceaccount', 'bulwark-operator'],
      ['get', 'clusterrole', 'bulwark-operator'],
      ['get', 'clusterrolebinding', 'bulwark-operator'],
    ]) {
      const r = await node.kubectl(args);
      assert.notEqual(r.code, 0, `kubectl ${args.join(' ')} still finds it`);
      assert.match(r.stderr, /NotFound/);
    }
    await waitFor('the operator pods to go', async () => ((await operatorPods()).length === 0 ? true : undefined), 120_000, 1000);
    assert.ok(await kubectlJson(node, ['get', 'crd', 'brokerclusters.bulwark.dev']), 'Helm leaves the CRDs it installed from crds/');
    assert.ok(await kubectlJson(node, ['-n', brokers, 'get', 'brokercluster', CLUSTER]), 'and so the custom resources');
  });

  it('helm install with watch.namespaces: no cluster-wide permission, and the named namespace served again', async () => {
    const i = image.name.lastIndexOf(':');
    // The namespace holds the Secrets binding made by hand for the cluster-wide install (docs/helm.md),
    // which the chart makes itself in this mode: without --take-ownership, helm refuses to adopt it.
    const refused = await helm(['install', RELEASE, CHART_DIR, '-n', NS, '--set', `watch.namespaces={${brokers}}`, '--kubeconfig', node.kubeconfigPath], { timeoutMs: 120_000, env: helmEnv });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /RoleBinding "bulwark-operator-namespaced" .* exists and cannot be imported/);
    await timed('helmInstallNamespaced', () =>
      helmOk(['install', RELEASE, CHART_DIR, '-n', NS, '--take-ownership', '--set', `image.repository=${image.name.slice(0, i)}`, '--set', `image.tag=${image.name.slice(i + 1)}`, '--set', 'image.pullPolicy=Never', '--set', 'replicas=1', '--set', `watch.namespaces={${brokers}}`, '--wait', '--timeout', '5m']),
    );
    const can = async (...args: string[]) => (await node.kubectl(['auth', 'can-i', ...args, `--as=system:serviceaccount:${NS}:bulwark-operator`])).stdout.trim();
    assert.equal(await can('list', 'brokerclusters.bulwark.dev', '--all-namespaces'), 'no');
    assert.equal(await can('list', 'brokerclusters.bulwark.dev', '-n', brokers), 'yes');
    assert.equal(await can('create', 'secrets', '-n', brokers), 'yes');
    assert.equal(await can('get', 'secrets', '-n', 'default'), 'no');
    // The BrokerCluster left by the uninstall is the new operator's again: a change to it is observed.
    await node.kubectl(['-n', brokers, 'patch', 'brokercluster', CLUSTER, '--type', 'merge', '-p', JSON.stringify({ spec: { limits: { maxConnections: 999 } } })], { check: true });
    await waitFor('the new operator to observe the change', async () => {
      const bc = await kubectlJson<any>(node, ['-n', brokers, 'get', 'brokercluster', CLUSTER]);
      return bc && bc.status?.observedGeneration === bc.metadata.generation && bc.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True') ? bc : undefined;
    }, 300_000, 1000);
  });
});
