// manifests/overlays/namespaced on a real node, as docs/install.md applies it: the operator serves
// bulwark-apps and nothing else, and holds no cluster-wide permission. The image is the one the
// Dockerfile builds, under the name the manifests give it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { nodeUnavailableReason, startNode, type TestNode } from '../test/harness/node.ts';
import { importManifestImage, kubectlJson, waitFor } from '../tools/node/bulwark-install.ts';
import { createDefaultStorage } from '../tools/node/local-cluster.ts';

const skip = nodeUnavailableReason();
const root = join(import.meta.dirname, '..');
const OVERLAY = join(root, 'manifests', 'overlays', 'namespaced');
const SERVED = 'bulwark-apps';
const OPERATOR = 'system:serviceaccount:bulwark-system:bulwark-operator';

/** The example BrokerCluster (examples/kubernetes/02-brokercluster.yaml) in another namespace. */
function exampleCluster(namespace: string): string {
  const doc = parseAllDocuments(readFileSync(join(root, 'examples', 'kubernetes', '02-brokercluster.yaml'), 'utf8'))[0]!.toJS();
  doc.metadata.namespace = namespace;
  return JSON.stringify(doc);
}

describe('the namespaced install (manifests/overlays/namespaced)', { skip }, () => {
  let node: TestNode;
  const kubectl = async (args: string[], input?: string) => {
    const r = await node.kubectl(args, { input, timeoutMs: 300_000 });
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr || r.stdout}`);
    return r;
  };

  before(async () => {
    node = await startNode({ waitForBridgeMs: 900_000, purpose: 'e2e/install-namespaced.test.ts' });
    await importManifestImage(node);
    await createDefaultStorage((args, opts) => node.kubectl(args, opts), join(node.nodeDir, 'volumes'), 2, '20Gi');
  });

  after(async () => {
    await node?.stop();
  });

  it('renders, applies server-side without a warning, and the operator becomes available', async () => {
    const rendered = await kubectl(['kustomize', OVERLAY]);
    const kinds = parseAllDocuments(rendered.stdout).map((d) => d.toJS()).map((o) => `${o.kind}/${o.metadata.name}`);
    assert.ok(!kinds.some((k) => k.startsWith('ClusterRoleBinding/')), `no ClusterRoleBinding: ${kinds.join(', ')}`);
    const applied = await kubectl(['apply', '--server-side', '-k', OVERLAY]);
    assert.doesNotMatch(applied.stderr, /Warning|PodSecurity/, applied.stderr);
    await kubectl(['-n', 'bulwark-system', 'rollout', 'status', 'deployment/bulwark-operator', '--timeout=300s']);
  });

  it('the operator may act in bulwark-apps only', async () => {
    const can = async (...args: string[]) => (await node.kubectl(['auth', 'can-i', ...args, `--as=${OPERATOR}`])).stdout.trim();
    assert.equal(await can('list', 'brokerclusters.bulwark.dev', '-n', SERVED), 'yes');
    assert.equal(await can('create', 'secrets', '-n', SERVED), 'yes');
    assert.equal(await can('list', 'brokerclusters.bulwark.dev', '--all-namespaces'), 'no');
    assert.equal(await can('get', 'secrets', '-n', 'default'), 'no');
    assert.equal(await can('create', 'statefulsets.apps', '-n', 'default'), 'no');
  });

  it('brings up a BrokerCluster in bulwark-apps, and leaves one elsewhere alone', async () => {
    await kubectl(['create', 'namespace', 'elsewhere']);
    await kubectl(['apply', '--server-side', '-f', '-'], exampleCluster('elsewhere'));
    await kubectl(['apply', '--server-side', '-f', '-'], exampleCluster(SERVED));
    await kubectl(['-n', SERVED, 'wait', 'brokercluster/demo', '--for=condition=Ready', '--timeout=300s']);
    const served = await kubectlJson<{ status?: { readyReplicas?: number } }>(node, ['-n', SERVED, 'get', 'brokercluster', 'demo']);
    assert.equal(served?.status?.readyReplicas, 1);
    // By now the operator has long acted on bulwark-apps: it never looked at the other one.
    const ignored = await waitFor('the other cluster', async () => kubectlJson<{ status?: unknown }>(node, ['-n', 'elsewhere', 'get', 'brokercluster', 'demo']));
    assert.deepEqual(ignored.status, { observedGeneration: 0 }, 'only the CRD\'s default status on a BrokerCluster outside the served namespaces: the operator never wrote one');
    const sts = await node.kubectl(['-n', 'elsewhere', 'get', 'statefulsets', '-o', 'name']);
    assert.equal(sts.stdout.trim(), '');
  });
});
