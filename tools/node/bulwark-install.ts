// Bulwark installed on the test node the way an admin installs it: the CRDs, the operator's
// namespace, ServiceAccount and least-privilege RBAC, and its Deployment, from
// manifests/overlays/cluster-wide, with the image built from this checkout and imported into the
// node's containerd (nothing is pulled). The operator runs in a pod, as its own ServiceAccount,
// with its in-cluster configuration (the node routes the `kubernetes` Service), so the RBAC is
// proven, not assumed.
//
// One thing differs from a production cluster, because the test node has no cluster DNS: clients
// on the client host resolve the brokers' names from that host's /etc/hosts (`resolveBrokers`).
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parse } from 'yaml';
import { buildBrokerImage, type BrokerImage } from '../image/broker-image.ts';
import type { ClientHost, TestNode } from './launcher.ts';
import { currentBrokerHostEntries } from './local-cluster.ts';
import { repoRoot } from '../controlplane/launcher.ts';

export const OPERATOR_NAMESPACE = 'bulwark-system';
export const E2E_STORAGE_CLASS = 'bulwark-e2e';

export interface Installed {
  image: BrokerImage;
  /** Seconds each step took, for the benchmark. */
  timings: Record<string, number>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 180_000, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
    await sleep(everyMs);
  }
}

export async function kubectlJson<T = any>(node: TestNode, args: string[]): Promise<T | undefined> {
  const r = await node.kubectl([...args, '-o', 'json']);
  if (r.code !== 0) return undefined;
  return JSON.parse(r.stdout) as T;
}

async function check(node: TestNode, args: string[], input?: string): Promise<string> {
  const r = await node.kubectl(args, { input, timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr || r.stdout}`);
  return r.stdout;
}

/** Builds (or reuses) the broker image, imports it, and installs the CRDs and the operator; returns when the operator is available. */
export async function installBulwark(node: TestNode, opts: { operatorReplicas?: number } = {}): Promise<Installed> {
  const timings: Record<string, number> = {};
  const step = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const v = await fn();
    timings[name] = (performance.now() - t0) / 1000;
    return v;
  };
  const image = await step('imageBuild', () => buildBrokerImage());
  await step('imageImport', () => node.importImage(image.archive));
  const [repository, tag] = splitImage(image.name);
  const overlay = await mkdtemp(join(tmpdir(), 'bulwark-e2e-overlay-'));
  try {
    await writeFile(
      join(overlay, 'kustomization.yaml'),
      [
        'apiVersion: kustomize.config.k8s.io/v1beta1',
        'kind: Kustomization',
        'resources:',
        // kustomize takes no absolute root: the base, relative to the overlay's directory.
        `  - ${relative(overlay, join(repoRoot, 'manifests', 'overlays', 'cluster-wide'))}`,
        'images:',
        `  - name: bulwark.local/bulwark`,
        `    newName: ${repository}`,
        `    newTag: "${tag}"`,
        'patches:',
        '  - path: operator.yaml',
        '',
      ].join('\n'),
    );
    await writeFile(
      join(overlay, 'operator.yaml'),
      JSON.stringify({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'bulwark-operator', namespace: OPERATOR_NAMESPACE },
        spec: {
          replicas: opts.operatorReplicas ?? 2,
          template: {
            spec: {
              containers: [
                {
                  name: 'operator',
                  imagePullPolicy: 'Never',
                },
              ],
            },
          },
        },
      }),
    );
    const rendered = await step('kustomize', () => check(node, ['kustomize', overlay]));
    await step('operatorApply', () => check(node, ['apply', '--server-side', '-f', '-'], rendered));
    await check(node, ['wait', '--for=condition=Established', '--timeout=60s', 'crd/brokerclusters.bulwark.dev']);
  } finally {
    await rm(overlay, { recursive: true, force: true });
  }
  await step('operatorAvailable', () => check(node, ['-n', OPERATOR_NAMESPACE, 'rollout', 'status', 'deployment/bulwark-operator', '--timeout=180s']));
  return { image, timings };
}

/**
 * The image built from this checkout, imported and also named as the manifests name it
 * (manifests/base/deployment.yaml), as a pull of that name would give it: for installs that apply
 * manifests/ unchanged, as the docs do.
 */
export async function importManifestImage(node: TestNode): Promise<BrokerImage> {
  const image = await buildBrokerImage();
  await node.importImage(image.archive);
  const deployment = parse(await readFile(join(repoRoot, 'manifests', 'base', 'deployment.yaml'), 'utf8'));
  await node.tagImage(image.name, deployment.spec.template.spec.containers[0].image);
  return image;
}

/** A namespace enforcing Pod Security "restricted", in which the operator may manage Secrets and ConfigMaps (its RoleBinding). */
export async function createBrokerNamespace(node: TestNode, prefix: string): Promise<string> {
  const ns = await node.createNamespace(prefix);
  await check(node, ['label', 'namespace', ns, 'pod-security.kubernetes.io/enforce=restricted', 'pod-security.kubernetes.io/enforce-version=latest', '--overwrite']);
  await check(node, ['-n', ns, 'create', 'rolebinding', 'bulwark-operator-namespaced', '--clusterrole=bulwark-operator-namespaced', `--serviceaccount=${OPERATOR_NAMESPACE}:bulwark-operator`]);
  return ns;
}

/**
 * Storage for the brokers' PersistentVolumeClaims: the test node has no provisioner, so this makes
 * a StorageClass without one and `count` hostPath PersistentVolumes in it, each a directory on
 * this machine owned by the image's user (hostPath volumes get no fsGroup ownership change).
 */
export async function createLocalVolumes(node: TestNode, count: number, size = '1Gi'): Promise<void> {
  const docs: unknown[] = [
    { apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name: E2E_STORAGE_CLASS }, provisioner: 'kubernetes.io/no-provisioner', volumeBindingMode: 'Immediate', reclaimPolicy: 'Retain' },
  ];
  const { mkdir, chown } = await import('node:fs/promises');
  for (let i = 0; i < count; i++) {
    const name = `${E2E_STORAGE_CLASS}-${Date.now().toString(36)}-${i}`;
    const dir = join(node.nodeDir, 'volumes', name);
    await mkdir(dir, { recursive: true, mode: 0o750 });
    await chown(dir, 65532, 65532);
    docs.push({
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name },
      spec: { capacity: { storage: size }, accessModes: ['ReadWriteOnce'], storageClassName: E2E_STORAGE_CLASS, persistentVolumeReclaimPolicy: 'Retain', hostPath: { path: dir, type: 'Directory' } },
    });
  }
  await check(node, ['apply', '--server-side', '-f', '-'], docs.map((d) => JSON.stringify(d)).join('\n---\n'));
}

/** Points the client host's /etc/hosts at the cluster's pods: each pod's DNS name, and the client Service's names at the first ready pod. */
export async function resolveBrokers(node: TestNode, host: ClientHost, ns: string, cluster: string): Promise<Record<string, string>> {
  const entries = await currentBrokerHostEntries((args, opts) => node.kubectl(args, opts), ns, cluster);
  await host.setHosts(entries);
  return entries;
}

function splitImage(name: string): [string, string] {
  const i = name.lastIndexOf(':');
  return i > name.lastIndexOf('/') ? [name.slice(0, i), name.slice(i + 1)] : [name, 'latest'];
}
