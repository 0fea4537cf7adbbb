// The docs' commands marked `node` (test/harness/docs-blocks.ts), run as written on the real test
// node: docs/install.md first (the kustomize install, cluster-wide, then the example), then
// docs/clients.md (kcat, kafkajs and the Java client with SCRAM, mTLS and a token), then every
// other page in name order. The image is the one the Dockerfile builds, imported under the name
// the manifests give it, as if pulled. Each block is a bash script (-e, pipefail) run in the client
// host, a network namespace on the node's bridge whose /etc/hosts names the brokers (refreshed
// before every block: the node has no cluster DNS), with KUBECONFIG set, from a scratch directory
// that sees the repository's files.
//
// Around them, what the commands alone do not show: no Pod Security warning anywhere, no pod the
// API server refused, applying the examples again changes nothing, and Argo CD's health check
// (gitops/argocd/health.lua in gopher-lua) and kstatus (what Flux waits on) call every one of the
// example's resources healthy (recorded as fixtures for test/gitops-health with
// BULWARK_RECORD_STATUSES=1).
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { allShellBlocks, blockScript, expectedExit, type DocBlock } from '../test/harness/docs-blocks.ts';
import { docsEnv, type DocsEnv } from '../test/harness/docs-env.ts';
import { argocdHealth, kstatus } from '../test/harness/gitops-check.ts';
import { recordStatus } from '../test/harness/record-status.ts';
import { nodeUnavailableReason, startNode, type ClientHost, type TestNode } from '../test/harness/node.ts';
import { importManifestImage, kubectlJson, resolveBrokers } from '../tools/node/bulwark-install.ts';
import { createDefaultStorage, EXAMPLE } from '../tools/node/local-cluster.ts';

const skip = nodeUnavailableReason();
const root = join(import.meta.dirname, '..');

/** install.md, then clients.md, then the other pages in name order (README.md last). */
function nodeBlocks(): DocBlock[] {
  const blocks = allShellBlocks(root).filter((b) => b.mode === 'node');
  const rank = (f: string) => (f === 'docs/install.md' ? 0 : f === 'docs/clients.md' ? 1 : f === 'README.md' ? 3 : 2);
  // A stable sort: blocks keep their order within a page.
  return blocks.map((b, i) => ({ b, i })).sort((x, y) => rank(x.b.file) - rank(y.b.file) || (x.b.file < y.b.file ? -1 : x.b.file > y.b.file ? 1 : 0) || x.i - y.i).map((x) => x.b);
}

describe('the docs commands, on a real Kubernetes node', { skip }, () => {
  let node: TestNode;
  let host: ClientHost;
  let env: DocsEnv;
  const stderrs: string[] = [];

  before(async () => {
    node = await startNode({ waitForBridgeMs: 900_000, purpose: 'e2e/docs.test.ts' });
    await importManifestImage(node);
    // What a cluster's provisioner would give: a default StorageClass with volumes in it.
    await createDefaultStorage((args, opts) => node.kubectl(args, opts), join(node.nodeDir, 'volumes'), 8, '20Gi');
    host = await node.clientHost();
    env = await docsEnv({ kafka: true });
  });

  after(async () => {
    if (env) rmSync(env.dir, { recursive: true, force: true });
    await node?.stop();
  });

  const blocks = nodeBlocks();
  it('finds the install, the clients and the rest', () => {
    const files = new Set(blocks.map((b) => b.file));
    for (const f of ['docs/install.md', 'docs/clients.md']) assert.ok(files.has(f), `${f} has node blocks`);
  });

  for (const b of blocks) {
    it(`${b.file}:${b.line}`, { timeout: 900_000 }, async () => {
      await resolveBrokers(node, host, EXAMPLE.namespace, EXAMPLE.cluster);
      const vars = [`KUBECONFIG=${node.kubeconfigPath}`, `PATH=${env.env.PATH}`, `HOME=${env.env.HOME}`];
      const r = await host.run('env', [...vars, 'bash', '-euo', 'pipefail', '-c', `cd ${JSON.stringify(env.dir)}\n${blockScript(b)}`], { timeoutMs: 840_000 });
      stderrs.push(`${b.file}:${b.line}\n${r.stderr}`);
      assert.equal(r.code, expectedExit(b), `${b.file}:${b.line} failed (exit ${r.code}):\n${blockScript(b)}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
    });
  }

  it('no command drew a Pod Security warning, and the API server refused no pod', async () => {
    const warned = stderrs.filter((s) => /PodSecurity|would violate/.test(s));
    assert.deepEqual(warned, []);
    const events = await kubectlJson<{ items: { reason: string; message: string; involvedObject: { kind: string; name: string } }[] }>(node, ['get', 'events', '-A', '--field-selector', 'reason=FailedCreate']);
    assert.deepEqual(events?.items.map((e) => `${e.involvedObject.kind}/${e.involvedObject.name}: ${e.message}`), []);
  });

  it('Argo CD and kstatus see every resource of the example healthy', async () => {
    const kinds = ['brokerclusters', 'topics', 'users', 'roles', 'accesstokens', 'topicgrants'].map((k) => `${k}.bulwark.dev`).join(',');
    const r = await node.kubectl(['-n', EXAMPLE.namespace, 'get', kinds, '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const objects = (JSON.parse(r.stdout) as { items: { kind: string; metadata: { name: string } }[] }).items;
    assert.deepEqual([...new Set(objects.map((o) => o.kind))].sort(), ['AccessToken', 'BrokerCluster', 'Role', 'Topic', 'TopicGrant', 'User']);
    const name = (o: { kind: string; name: string }) => `${o.kind}/${o.name}`;
    assert.deepEqual((await argocdHealth(objects)).filter((r) => r.status !== 'Healthy').map((r) => `${name(r)}: ${r.status} ${r.message}`), []);
    assert.deepEqual((await kstatus(objects)).filter((r) => r.status !== 'Current').map((r) => `${name(r)}: ${r.status} ${r.message}`), []);
    for (const o of objects) recordStatus(o, `healthy-e2e-${o.metadata.name}`);
  });

  it('applying the examples again with server-side apply changes no object', async () => {
    // Not the resourceVersion (the operator writes statuses whenever it likes): the generation,
    // which any change of a spec moves, and the apply manager's own entry, whose time moves when
    // an apply changes a field it owns.
    type Listed = { kind: string; metadata: { namespace?: string; name: string; generation?: number; managedFields?: { manager: string; operation: string; time?: string }[] } };
    const state = async () => {
      const list = await kubectlJson<{ items: Listed[] }>(node, ['get', '--show-managed-fields', '-f', join(root, 'examples', 'kubernetes')]);
      return Object.fromEntries(
        (list?.items ?? []).map((o) => [`${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`, { generation: o.metadata.generation, applied: o.metadata.managedFields?.find((m) => m.manager === 'kubectl' && m.operation === 'Apply')?.time }]),
      );
    };
    const before = await state();
    assert.ok(Object.keys(before).length >= 8, `the examples' objects: ${Object.keys(before).join(', ')}`);
    assert.ok(Object.values(before).every((v) => v.applied), 'every object was applied by the docs, as kubectl');
    await new Promise((r) => setTimeout(r, 1_500)); // managedFields times have a resolution of a second
    const r = await node.kubectl(['apply', '--server-side', '-f', join(root, 'examples', 'kubernetes')]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await state(), before);
  });
});
