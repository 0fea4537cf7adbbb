// What `npm run cluster:up` adds on top of the node: storage a BrokerCluster binds without naming
// a StorageClass, the example of examples/kubernetes/ applied and waited for, and the way in from
// this machine (a client host on the bridge whose /etc/hosts names the brokers, the cluster's CA
// in a file, a kcat command that works as printed).
//
// Why a client host and an /etc/hosts: the local node has no kube-proxy and no cluster DNS, so
// `<cluster>.<ns>.svc` resolves nowhere and Service IPs do not route. Pod IPs do route on the
// bridge, and the brokers' certificates name their `*.svc` DNS names, so a client that maps
// those names to the pod IPs verifies the hostnames as it would inside a cluster.
//
// The builders here are pure (unit-tested in test/local-cluster.test.ts); the functions taking a
// node or a kubectl do the I/O.
import { chown, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { KubectlResult } from '../controlplane/launcher.ts';

/** The default StorageClass cluster:up makes (no provisioner: hostPath PersistentVolumes made up front). */
export const LOCAL_STORAGE_CLASS = 'bulwark-local';
/** The image's user: hostPath volumes get no fsGroup ownership change, so their dirs are chowned to it. */
const BROKER_UID = 65532;

/** Where the example lives and what it declares (examples/kubernetes/). */
export const EXAMPLE = { dir: 'examples/kubernetes', namespace: 'bulwark-demo', cluster: 'demo', listener: 'kafka' } as const;

/** Runs kubectl against the cluster (a TestNode's kubectl, or one on a kubeconfig from state). */
export type Kubectl = (args: string[], opts?: { input?: string; timeoutMs?: number }) => Promise<KubectlResult>;

async function check(kubectl: Kubectl, args: string[], input?: string): Promise<string> {
  const r = await kubectl(args, { input, timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}

async function getJson<T>(kubectl: Kubectl, args: string[]): Promise<T> {
  return JSON.parse(await check(kubectl, [...args, '-o', 'json'])) as T;
}

// ---------------------------------------------------------------------------------------------
// Storage

/** The default StorageClass and one hostPath PersistentVolume per directory. */
export function localStorageDocs(dirs: string[], size: string): unknown[] {
  return [
    {
      apiVersion: 'storage.k8s.io/v1',
      kind: 'StorageClass',
      metadata: { name: LOCAL_STORAGE_CLASS, annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } },
      provisioner: 'kubernetes.io/no-provisioner',
      // Immediate: a claim binds at once (WaitForFirstConsumer would too, but shows Pending claims
      // to a newcomer for no gain on one node).
      volumeBindingMode: 'Immediate',
      reclaimPolicy: 'Retain',
    },
    ...dirs.map((dir, i) => ({
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name: `${LOCAL_STORAGE_CLASS}-${i}`, labels: { 'app.kubernetes.io/managed-by': 'bulwark-cluster-up' } },
      spec: {
        capacity: { storage: size },
        accessModes: ['ReadWriteOnce'],
        storageClassName: LOCAL_STORAGE_CLASS,
        persistentVolumeReclaimPolicy: 'Retain',
        hostPath: { path: dir, type: 'Directory' },
      },
    })),
  ];
}

/** Makes the default StorageClass and `count` PersistentVolumes, each a directory under `volumesDir` (removed with the node dir). */
export async function createDefaultStorage(kubectl: Kubectl, volumesDir: string, count: number, size = '1Gi'): Promise<void> {
  const dirs: string[] = [];
  for (let i = 0; i < count; i++) {
    const dir = join(volumesDir, `${LOCAL_STORAGE_CLASS}-${i}`);
    await mkdir(dir, { recursive: true, mode: 0o750 });
    await chown(dir, BROKER_UID, BROKER_UID);
    dirs.push(dir);
  }
  await check(kubectl, ['apply', '--server-side', '-f', '-'], localStorageDocs(dirs, size).map((d) => JSON.stringify(d)).join('\n---\n'));
}

// ---------------------------------------------------------------------------------------------
// The brokers' names

const PodList = z.object({
  items: z.array(
    z.object({
      metadata: z.object({ name: z.string(), deletionTimestamp: z.string().optional() }),
      status: z
        .object({
          podIP: z.string().optional(),
          conditions: z.array(z.object({ type: z.string(), status: z.string() })).optional(),
        })
        .optional(),
    }),
  ),
});
export type PodList = z.infer<typeof PodList>;

/**
 * The /etc/hosts entries that make a cluster's names resolve on the client host: each pod's DNS
 * name (what the brokers advertise) at its IP, and the client Service's names (the bootstrap) at
 * the first ready pod, as a Service would route.
 */
export function brokerHostEntries(pods: PodList, namespace: string, cluster: string): Record<string, string> {
  const entries: Record<string, string> = {};
  const live = pods.items.filter((p) => p.status?.podIP && !p.metadata.deletionTimestamp);
  for (const p of live) {
    for (const suffix of ['svc', 'svc.cluster.local']) entries[`${p.metadata.name}.${cluster}-brokers.${namespace}.${suffix}`] = p.status!.podIP!;
  }
  const ready = live.find((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
  if (ready) for (const suffix of ['svc', 'svc.cluster.local']) entries[`${cluster}.${namespace}.${suffix}`] = ready.status!.podIP!;
  return entries;
}

/** Reads the cluster's pods and returns brokerHostEntries for them. */
export async function currentBrokerHostEntries(kubectl: Kubectl, namespace: string, cluster: string): Promise<Record<string, string>> {
  const pods = PodList.parse(await getJson(kubectl, ['-n', namespace, 'get', 'pods', '-l', `app.kubernetes.io/instance=${cluster}`]));
  return brokerHostEntries(pods, namespace, cluster);
}

// ---------------------------------------------------------------------------------------------
// Waiting for the example

const BrokerClusterStatus = z.object({
  metadata: z.object({ generation: z.number().optional() }),
  status: z
    .object({
      observedGeneration: z.number().optional(),
      readyReplicas: z.number().optional(),
      conditions: z.array(z.object({ type: z.string(), status: z.string(), reason: z.string().optional(), message: z.string().optional() })).optional(),
      listeners: z.array(z.object({ name: z.string(), tls: z.boolean().optional(), bootstrap: z.string() })).optional(),
    })
    .optional(),
});
export type BrokerClusterStatus = z.infer<typeof BrokerClusterStatus>;

export type ClusterProgress =
  | { ready: true; line: string; bootstrap: string }
  | { ready: false; stalled: boolean; line: string };

/** One progress line for a BrokerCluster, and whether it is Ready (with the listener's bootstrap) or Stalled. */
export function clusterProgress(bc: BrokerClusterStatus | undefined, listener: string): ClusterProgress {
  if (!bc) return { ready: false, stalled: false, line: 'not created yet' };
  const cond = (t: string) => bc.status?.conditions?.find((c) => c.type === t);
  const ready = cond('Ready');
  const stalled = cond('Stalled');
  const current = bc.status?.observedGeneration !== undefined && bc.status.observedGeneration === bc.metadata.generation;
  const describe = (c: { reason?: string; message?: string } | undefined) => (c ? `${c.reason ?? ''}${c.message ? `: ${c.message}` : ''}` : '');
  if (current && stalled?.status === 'True') return { ready: false, stalled: true, line: `Stalled ${describe(stalled)}` };
  const bootstrap = bc.status?.listeners?.find((l) => l.name === listener)?.bootstrap;
  if (current && ready?.status === 'True' && bootstrap) return { ready: true, line: `Ready (${bc.status?.readyReplicas ?? 0} ready) ${describe(ready)}`, bootstrap };
  const reconciling = cond('Reconciling');
  return { ready: false, stalled: false, line: `${bc.status?.readyReplicas ?? 0} ready; ${reconciling?.status === 'True' ? `Reconciling ${describe(reconciling)}` : `Ready=${ready?.status ?? 'unknown'}${ready ? ` ${describe(ready)}` : ''}`}` };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Waits until the BrokerCluster is Ready, printing each new progress line; throws when it is Stalled or the time is up. */
export async function waitForBrokerCluster(kubectl: Kubectl, namespace: string, cluster: string, listener: string, print: (line: string) => void, timeoutMs = 600_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const r = await kubectl(['-n', namespace, 'get', 'brokercluster', cluster, '-o', 'json']);
    const bc = r.code === 0 ? BrokerClusterStatus.parse(JSON.parse(r.stdout)) : undefined;
    const p = clusterProgress(bc, listener);
    if (p.line !== last) print(`BrokerCluster ${namespace}/${cluster}: ${p.line}`);
    last = p.line;
    if (p.ready) return p.bootstrap;
    if (!p.ready && p.stalled) throw new Error(`BrokerCluster ${namespace}/${cluster} is ${p.line} (kubectl -n ${namespace} describe brokercluster ${cluster})`);
    if (Date.now() > deadline) throw new Error(`BrokerCluster ${namespace}/${cluster} not Ready after ${timeoutMs / 1000} s (last: ${p.line}); see kubectl -n ${namespace} get pods,events`);
    await sleep(1_000);
  }
}

/** The cluster CA clients trust: `ca.crt` of the `<cluster>-tls` Secret. */
export async function readClusterCa(kubectl: Kubectl, namespace: string, cluster: string): Promise<string> {
  const secret = z.object({ data: z.record(z.string(), z.string()).optional() }).parse(await getJson(kubectl, ['-n', namespace, 'get', 'secret', `${cluster}-tls`]));
  const ca = secret.data?.['ca.crt'];
  if (!ca) throw new Error(`Secret ${namespace}/${cluster}-tls has no ca.crt`);
  return Buffer.from(ca, 'base64').toString('utf8');
}

// ---------------------------------------------------------------------------------------------
// What cluster:up records and prints

/** `bulwark.json` beside the node's state.json: what `cluster:hosts`, `status` and `down` need. */
export const LocalBulwarkState = z.object({
  namespace: z.string(),
  cluster: z.string(),
  bootstrap: z.string(),
  clientHost: z.object({ name: z.string(), ip: z.string() }),
  caFile: z.string(),
  image: z.string(),
});
export type LocalBulwarkState = z.infer<typeof LocalBulwarkState>;

/** The kcat command, as an argv and as the line to print (every word is shell-safe by construction, checked). */
export function kcatCommand(st: Pick<LocalBulwarkState, 'clientHost' | 'bootstrap' | 'caFile'>): { argv: string[]; line: string } {
  const argv = [
    'ip', 'netns', 'exec', st.clientHost.name,
    'kcat', '-L', '-b', st.bootstrap,
    '-X', 'security.protocol=SSL',
    '-X', `ssl.ca.location=${st.caFile}`,
    '-X', 'ssl.endpoint.identification.algorithm=https',
  ];
  for (const a of argv) if (!/^[A-Za-z0-9_./:=,@+-]+$/.test(a)) throw new Error(`kcatCommand: ${JSON.stringify(a)} would need shell quoting`);
  return { argv, line: argv.join(' ') };
}

/** The lines cluster:up prints once the brokers are Ready. */
export function howToReach(st: LocalBulwarkState, hosts: Record<string, string>, kubeconfig: string): string[] {
  const names = Object.entries(hosts).filter(([n]) => n.endsWith('.svc'));
  return [
    `Bulwark is running: BrokerCluster ${st.namespace}/${st.cluster} is Ready (kubectl -n ${st.namespace} get brokercluster ${st.cluster}).`,
    '',
    `Reach the brokers from the client host ${st.clientHost.name} (${st.clientHost.ip}, a network namespace on the node's bridge;`,
    `this local node has no cluster DNS, so its /etc/hosts, /etc/netns/${st.clientHost.name}/hosts, maps the brokers' names to their pods):`,
    ...names.map(([n, ip]) => `  ${ip.padEnd(15)} ${n}`),
    `The cluster's CA (ca.crt of the Secret ${st.namespace}/${st.cluster}-tls) is in ${st.caFile}; the brokers' certificates name these hosts, so`,
    'TLS hostname verification passes. List the brokers (as root, like cluster:up):',
    '',
    `  ${kcatCommand(st).line}`,
    '',
    'Pods get new IPs when they restart: npm run cluster:hosts (or cluster:status) rewrites that hosts file.',
    `kubectl: export KUBECONFIG=${kubeconfig}    stop and remove everything: npm run cluster:down`,
  ];
}
