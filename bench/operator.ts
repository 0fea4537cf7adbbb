// Operator benchmark (issue 12): what the operator adds to a broker cluster on a real single-node
// Kubernetes (tools/node/launcher.ts: kube-apiserver, etcd, kube-controller-manager, scheduler,
// containerd, kubelet on this machine), in one run, side by side.
//
// Setup, as e2e/operator.test.ts: startNode, installBulwark (the broker image from this checkout,
// imported; CRDs; the operator Deployment, 2 replicas, in bulwark-system under its own
// ServiceAccount), hostPath PersistentVolumes (createLocalVolumes). The BrokerCluster: one TLS
// Kafka listener with anonymous clients, storage 256Mi, requests 50m CPU / 128Mi.
//
// 1. Apply → all pods Ready, RUNS runs per replica count (1 and 3), each in fresh namespaces
//    (fresh volumes: no persisted policy snapshot or log to recover), one cluster at a time:
//    - operator: `kubectl apply --server-side` of the BrokerCluster → every broker pod Ready (and,
//      apart, → the BrokerCluster's Ready condition). The operator's own share: the growth of
//      bulwark_operator_reconcile_duration_seconds_sum{reconciler="brokercluster"} on the leader
//      (its /metrics on the pod IP, port 8080) over the run, divided by apply → pods Ready (wall
//      time inside reconciles, most of it awaiting the API server and the pushes); and the leader
//      process's CPU over the run (/proc), divided by the same.
//    - hand-applied (the peer): the objects the operator made for the first run of that replica
//      count (StatefulSet, ConfigMap, Secrets, Services, ServiceAccount, PodDisruptionBudget; not
//      ownerReferences, status, managed fields, uid, resourceVersion, ClusterIPs), applied in one
//      `kubectl apply --server-side` to another namespace with no BrokerCluster, → every pod Ready.
//      Their component label reads broker-by-hand, so the operator leaves their pods alone.
//      One change is needed for the same pods to become Ready with no operator: a broker in a pod
//      is not ready until the operator has pushed its policy snapshot (docs/broker.md), so the
//      peer's broker.json gets `policy.dir`, a ConfigMap volume holding one TopicGrant for the
//      cluster (a policy in force at start; an empty directory is refused).
//      The ratio operator / hand-applied is what the operator adds: its reconcile, the push
//      before each pod's readiness (OrderedReady: each pod waits for the one before), watches.
//    Runs alternate which side goes first. Figures: median, min, max; the ratio of medians and
//    the median of per-run ratios.
// 2. Resources of the leader operator's process (found on this machine by its pod's cgroup,
//    cmdline `/app/bin/bulwark.js operator`): RSS (/proc/<pid>/status VmRSS, sampled every
//    500 ms: mean and max) and CPU (user + system from /proc/<pid>/stat over the window, as a
//    fraction of one core), idle (IDLE_S with a fresh Ready 3-replica cluster, from SETTLE_S
//    after Ready) and during a roll (limits.maxConnections changed: every pod replaced, one at a
//    time, apply → roll done);
//    beside one broker pod's process and kube-controller-manager's (the peer controller on the
//    same node, which drives the StatefulSet's roll), over the same windows.
// 3. Certificate renewal → every broker serves it: a 3-replica cluster with
//    tls {duration: 1h, renewBefore: 59m30s} (leaves renewed every ~30 s); the Secret
//    <cluster>-tls is polled every 250 ms; from the moment its tls.crt shows a new serial, each
//    broker is asked (TLS handshake to its pod IP, servername = its pod DNS name, every 250 ms)
//    until it serves that serial. RENEWALS renewals. The machine's limit: a Secret volume is
//    refreshed when the kubelet next syncs the pod, every syncFrequency (read from the node's
//    kubelet.yaml; the kubelet re-queues a pod after syncFrequency × [1, 1.5) jitter), so the
//    ratio is latency / syncFrequency.
//
// Needs root and the node binaries (scripts/node-build.sh, kubelet and containerd: a long build);
// it says so and exits 2 when either is missing. Only one test node runs at a time on this
// machine: the run waits up to 15 min for the bridge. The node is stopped on any exit.
// `npm run bench:operator` writes bench/results/operator.json (BENCH_OPERATOR_OUT to change it);
// env BENCH_OPERATOR_RUNS (5), BENCH_OPERATOR_REPLICAS (1,3), BENCH_OPERATOR_IDLE_S (30),
// BENCH_OPERATOR_RENEWALS (3). Table on stdout, progress on stderr.
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { cpuSeconds, podPid, rssMiB } from './proc.ts';
import { round } from './stats.ts';
import { createBrokerNamespace, createLocalVolumes, E2E_STORAGE_CLASS, installBulwark, OPERATOR_NAMESPACE, waitFor as waitUntil } from '../tools/node/bulwark-install.ts';
import { nodeUnavailableReason, startNode, type TestNode } from '../tools/node/launcher.ts';

const RUNS = Number(process.env.BENCH_OPERATOR_RUNS ?? 5);
const REPLICAS = (process.env.BENCH_OPERATOR_REPLICAS ?? '1,3').split(',').map(Number);
const IDLE_S = Number(process.env.BENCH_OPERATOR_IDLE_S ?? 30);
const RENEWALS = Number(process.env.BENCH_OPERATOR_RENEWALS ?? 3);
const STEADY_REPLICAS = 3;
const SETTLE_S = 10;
const CLUSTER = 'demo';
const INSTANCE = `app.kubernetes.io/instance=${CLUSTER}`;
const POLL_MS = 200;
const PEER_POLICY_DIR = '/etc/bulwark/bench-policy';
const PEER_POLICY_CONFIGMAP = `${CLUSTER}-bench-policy`;
const OUT = process.env.BENCH_OPERATOR_OUT ?? join(import.meta.dirname, 'results', 'operator.json');

const started = performance.now();
const progress = (msg: string) => process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${msg}\n`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const seconds = (t0: number) => (performance.now() - t0) / 1000;
const median = (xs: number[]) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const spread = (xs: number[], d = 2) => ({ median: round(median(xs), d), min: round(Math.min(...xs), d), max: round(Math.max(...xs), d), runs: xs.map((x) => round(x, d)) });

// --- preconditions ----------------------------------------------------------------------------------

const unavailable = nodeUnavailableReason();
if (unavailable) {
  process.stderr.write(`bench:operator cannot run here: ${unavailable}\n`);
  process.exit(2);
}
const NODE_BIN_HINT = join(process.env.BULWARK_CACHE ?? join(process.env.HOME ?? '/root', '.cache', 'bulwark'), 'node');
if (!existsSync(NODE_BIN_HINT) || !readdirSync(NODE_BIN_HINT).some((d) => /^v\d/.test(d) && existsSync(join(NODE_BIN_HINT, d, 'kubelet')))) {
  // startNode would run scripts/node-build.sh itself (a build of kubelet and containerd that takes a long while).
  process.stderr.write(`bench:operator: no node binaries under ${NODE_BIN_HINT} (kubelet, containerd): run scripts/node-build.sh first (a long Go build)\n`);
  process.exit(2);
}

// --- the API server, cheaply (one HTTPS request per poll, no kubectl process) ------------------------

let node: TestNode | undefined;
const api = async <T = any>(path: string): Promise<T | undefined> => {
  const r = await node!.request('GET', path);
  if (r.status === 404) return undefined;
  if (r.status >= 300) throw new Error(`GET ${path}: ${r.status} ${r.body.slice(0, 200)}`);
  return r.json<T>();
};
async function kubectl(args: string[], input?: string): Promise<string> {
  const r = await node!.kubectl(args, { input, timeoutMs: 180_000 });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr || r.stdout}`);
  return r.stdout;
}

/** waitUntil from the install helpers, polling at the benchmark's rate. */
const waitFor = <T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs: number, everyMs = POLL_MS) => waitUntil(what, fn, timeoutMs, everyMs);

const podsOf = async (ns: string) => (await api<{ items: any[] }>(`/api/v1/namespaces/${ns}/pods?labelSelector=${encodeURIComponent(INSTANCE)}`))?.items ?? [];
const isReady = (p: any) => !p.metadata.deletionTimestamp && p.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True');
const clusterOf = (ns: string) => api(`/apis/bulwark.dev/v1alpha1/namespaces/${ns}/brokerclusters/${CLUSTER}`);
const clusterReady = async (ns: string, generation?: number) => {
  const c = await clusterOf(ns);
  const ready = c?.status?.conditions?.find((x: any) => x.type === 'Ready');
  return ready?.status === 'True' && (generation === undefined || ready.observedGeneration === generation) ? c : undefined;
};

function clusterManifest(ns: string, replicas: number, extra: { maxConnections?: number; shortRenewal?: boolean } = {}): string {
  return JSON.stringify({
    apiVersion: 'bulwark.dev/v1alpha1',
    kind: 'BrokerCluster',
    metadata: { name: CLUSTER, namespace: ns },
    spec: {
      replicas,
      storage: { size: '256Mi', storageClassName: E2E_STORAGE_CLASS },
      listeners: [{ name: 'kafka', protocol: 'kafka', port: 9092, tls: { enabled: true }, authentication: ['anonymous'] }],
      authentication: { allowAnonymous: true },
      ...(extra.shortRenewal ? { tls: { duration: '1h', renewBefore: '59m30s' } } : {}),
      limits: { maxConnections: extra.maxConnections ?? 1000 },
      resources: { requests: { cpu: '50m', memory: '128Mi' }, limits: { memory: '512Mi' } },
    },
  });
}

// --- processes on this machine -------------------------------------------------------------------------

interface Watched {
  name: string;
  pid: number;
}
interface Usage {
  name: string;
  pid: number;
  cpuSeconds: number;
  /** CPU seconds per wall second: 1 = one core busy. */
  cpuCores: number;
  rssMiBMean: number;
  rssMiBMax: number;
}

/** Samples the processes' RSS every 500 ms until stop(); then their CPU over the window. */
function watchProcesses(procs: Watched[]) {
  const t0 = performance.now();
  const cpu0 = procs.map((p) => cpuSeconds(p.pid));
  const rss: number[][] = procs.map(() => []);
  const sample = () => procs.forEach((p, i) => rss[i]!.push(rssMiB(p.pid)));
  sample();
  const timer = setInterval(sample, 500);
  return {
    stop(): { wallSeconds: number; usage: Usage[] } {
      clearInterval(timer);
      sample();
      const wall = seconds(t0);
      return {
        wallSeconds: round(wall, 1),
        usage: procs.map((p, i) => {
          const xs = rss[i]!.filter(Number.isFinite);
          const cpu = cpuSeconds(p.pid) - cpu0[i]!;
          return { name: p.name, pid: p.pid, cpuSeconds: round(cpu, 2), cpuCores: round(cpu / wall, 4), rssMiBMean: round(xs.reduce((a, b) => a + b, 0) / xs.length, 1), rssMiBMax: round(Math.max(...xs), 1) };
        }),
      };
    },
  };
}

// --- the operator: leader, metrics -------------------------------------------------------------------

async function leader(): Promise<{ identity: string; pod: any }> {
  const lease = await api(`/apis/coordination.k8s.io/v1/namespaces/${OPERATOR_NAMESPACE}/leases/bulwark-operator`);
  const identity = lease?.spec?.holderIdentity as string | undefined;
  if (!identity) throw new Error('no operator holds the lease bulwark-operator');
  const pod = await api(`/api/v1/namespaces/${OPERATOR_NAMESPACE}/pods/${identity.split('_')[0]}`);
  if (!pod?.status?.podIP) throw new Error(`the leader's pod ${identity.split('_')[0]} has no IP`);
  return { identity, pod };
}

interface ReconcileMetrics {
  identity: string;
  /** Seconds spent reconciling, by reconciler (histogram sum). */
  seconds: Record<string, number>;
  count: Record<string, number>;
}
async function reconcileMetrics(): Promise<ReconcileMetrics> {
  const { identity, pod } = await leader();
  const res = await fetch(`http://${pod.status.podIP}:8080/metrics`, { signal: AbortSignal.timeout(5_000) });
  if (!res.ok) throw new Error(`operator /metrics: ${res.status}`);
  const text = await res.text();
  const seconds: Record<string, number> = {};
  const count: Record<string, number> = {};
  for (const m of text.matchAll(/^bulwark_operator_reconcile_duration_seconds_(sum|count)\{reconciler="([^"]+)"\} (\S+)$/gm)) (m[1] === 'sum' ? seconds : count)[m[2]!] = Number(m[3]);
  return { identity, seconds, count };
}

// --- 1. apply → Ready -----------------------------------------------------------------------------------

interface OperatorRun {
  replicas: number;
  run: number;
  ns: string;
  podsReadySeconds: number;
  clusterReadySeconds: number;
  reconcileSeconds: number;
  reconciles: number;
  /** reconcileSeconds / podsReadySeconds: wall time inside reconciles (mostly waiting on the API server and the brokers). */
  operatorShare: number;
  /** The leader operator process's CPU (user + system) from apply to the end of the run. */
  operatorCpuSeconds: number;
  /** operatorCpuSeconds / podsReadySeconds: its CPU share of one core over apply → Ready. */
  operatorCpuShare: number;
  sameLeader: boolean;
  loadavg1m: number;
}
interface HandRun {
  replicas: number;
  run: number;
  ns: string;
  podsReadySeconds: number;
  loadavg1m: number;
}

const allReady = (replicas: number) => async (ns: string) => {
  const pods = await podsOf(ns);
  return pods.length === replicas && pods.every(isReady) ? pods : undefined;
};

async function operatorRun(replicas: number, run: number): Promise<OperatorRun> {
  const ns = await createBrokerNamespace(node!, `bench-op${replicas}`);
  await createLocalVolumes(node!, replicas);
  const m0 = await reconcileMetrics();
  const opPid = await leaderPid();
  const cpu0 = cpuSeconds(opPid);
  const loadavg1m = round(loadavg()[0]!, 2);
  const t0 = performance.now();
  await kubectl(['apply', '--server-side', '-f', '-'], clusterManifest(ns, replicas));
  let podsReady = NaN;
  let clusterReadyAt = NaN;
  await waitFor(
    `${replicas} pods Ready and the BrokerCluster Ready in ${ns}`,
    async () => {
      if (Number.isNaN(podsReady) && (await allReady(replicas)(ns))) podsReady = seconds(t0);
      if (Number.isNaN(clusterReadyAt) && (await clusterReady(ns))) clusterReadyAt = seconds(t0);
      return !Number.isNaN(podsReady) && !Number.isNaN(clusterReadyAt);
    },
    300_000,
  );
  const operatorCpuSeconds = cpuSeconds(opPid) - cpu0;
  const m1 = await reconcileMetrics();
  const reconcileSeconds = (m1.seconds.brokercluster ?? 0) - (m0.seconds.brokercluster ?? 0);
  return {
    replicas,
    run,
    ns,
    podsReadySeconds: round(podsReady, 2),
    clusterReadySeconds: round(clusterReadyAt, 2),
    reconcileSeconds: round(reconcileSeconds, 3),
    reconciles: (m1.count.brokercluster ?? 0) - (m0.count.brokercluster ?? 0),
    operatorShare: round(reconcileSeconds / podsReady, 4),
    operatorCpuSeconds: round(operatorCpuSeconds, 2),
    operatorCpuShare: round(operatorCpuSeconds / podsReady, 4),
    sameLeader: m0.identity === m1.identity,
    loadavg1m,
  };
}

/** The objects the operator made for the cluster in `ns`, as an admin would apply them by hand. */
async function capturedObjects(ns: string): Promise<any[]> {
  const kinds = ['apis/apps/v1/namespaces/NS/statefulsets', 'api/v1/namespaces/NS/configmaps', 'api/v1/namespaces/NS/secrets', 'api/v1/namespaces/NS/services', 'api/v1/namespaces/NS/serviceaccounts', 'apis/policy/v1/namespaces/NS/poddisruptionbudgets'];
  const out: any[] = [];
  for (const k of kinds) {
    const list = await api<{ items: any[]; kind: string; apiVersion: string }>(`/${k.replace('NS', ns)}?labelSelector=${encodeURIComponent(INSTANCE)}`);
    for (const item of list?.items ?? []) {
      const { name, labels, annotations } = item.metadata;
      const o: any = { apiVersion: list!.apiVersion, kind: list!.kind.replace(/List$/, ''), ...item, metadata: { name, ...(labels ? { labels } : {}), ...(annotations ? { annotations } : {}) } };
      delete o.status;
      if (o.kind === 'Service') {
        if (o.spec.clusterIP !== 'None') delete o.spec.clusterIP;
        delete o.spec.clusterIPs;
      }
      for (const t of o.spec?.volumeClaimTemplates ?? []) delete t.status;
      out.push(o);
    }
  }
  if (!out.some((o) => o.kind === 'StatefulSet')) throw new Error(`no StatefulSet labelled ${INSTANCE} in ${ns}`);
  return out;
}

/**
 * The hand-applied brokers' policy directory: a broker given `policy.dir` is ready without an
 * operator's push, and a directory without a BrokerCluster needs one resource naming its cluster
 * (an empty one is refused, BWK_ERR_POLICY_CLUSTER_AMBIGUOUS).
 */
function peerPolicy(ns: string) {
  const grant = {
    apiVersion: 'bulwark.dev/v1alpha1',
    kind: 'TopicGrant',
    metadata: { name: 'bench', namespace: ns },
    spec: { clusterRef: { name: CLUSTER }, subjects: [{ kind: 'Group', name: 'bench' }], topics: ['bench-*'], actions: ['read'], effect: 'Allow' },
  };
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: PEER_POLICY_CONFIGMAP, namespace: ns }, data: { 'policy.yaml': JSON.stringify(grant) } };
}

/** `objects` moved to namespace `ns`, with the one change the brokers need to be ready with no operator (a policy directory). */
function peerObjects(objects: any[], fromNs: string, ns: string): string {
  return objects
    .map((o) => {
      // Names in the config and the args (advertised hosts) carry the namespace; Secret data is
      // base64 and unaffected. The component label (labels and selectors alike) is changed so the
      // operator does not take these pods for a BrokerCluster's: it would start Secret and
      // ConfigMap informers in this namespace, where it has no RoleBinding (403 and retries).
      const c = JSON.parse(
        JSON.stringify(o)
          .replaceAll(`.${fromNs}.`, `.${ns}.`)
          .replaceAll('"app.kubernetes.io/component":"broker"', '"app.kubernetes.io/component":"broker-by-hand"'),
      );
      c.metadata.namespace = ns;
      if (c.kind === 'ConfigMap' && c.data?.['broker.json']) {
        const cfg = JSON.parse(c.data['broker.json']);
        cfg.policy = { ...(cfg.policy ?? {}), dir: PEER_POLICY_DIR };
        c.data['broker.json'] = JSON.stringify(cfg);
      }
      if (c.kind === 'StatefulSet') {
        const pod = c.spec.template.spec;
        pod.volumes.push({ name: 'bench-policy', configMap: { name: PEER_POLICY_CONFIGMAP } });
        pod.containers[0].volumeMounts.push({ name: 'bench-policy', mountPath: PEER_POLICY_DIR, readOnly: true });
      }
      return JSON.stringify(c);
    })
    .concat(JSON.stringify(peerPolicy(ns)))
    .join('\n---\n');
}

async function handRun(replicas: number, run: number, objects: any[], fromNs: string): Promise<HandRun> {
  const ns = await node!.createNamespace(`bench-hand${replicas}`);
  await kubectl(['label', 'namespace', ns, 'pod-security.kubernetes.io/enforce=restricted', 'pod-security.kubernetes.io/enforce-version=latest', '--overwrite']);
  await createLocalVolumes(node!, replicas);
  const manifest = peerObjects(objects, fromNs, ns);
  const loadavg1m = round(loadavg()[0]!, 2);
  const t0 = performance.now();
  await kubectl(['apply', '--server-side', '-f', '-'], manifest);
  await waitFor(`${replicas} hand-applied pods Ready in ${ns}`, () => allReady(replicas)(ns), 300_000);
  return { replicas, run, ns, podsReadySeconds: round(seconds(t0), 2), loadavg1m };
}

/** Deletes namespaces and waits until their broker pods are gone, so the next run has the node to itself. */
async function dropNamespaces(namespaces: string[]): Promise<void> {
  for (const ns of namespaces) await kubectl(['delete', 'namespace', ns, '--wait=false']);
  await waitFor('the pods of deleted namespaces to be gone', async () => {
    for (const ns of namespaces) if ((await podsOf(ns)).length > 0) return false;
    return true;
  }, 180_000, 500);
}

// --- 2. resources, idle and during a roll ---------------------------------------------------------------

async function leaderPid(): Promise<number> {
  const { pod } = await leader();
  const pid = podPid(pod.metadata.uid, ['/app/bin/bulwark.js', 'operator']);
  if (!pid) throw new Error(`no operator process of pod ${pod.metadata.name} on this machine`);
  return pid;
}

async function steadyProcesses(ns: string): Promise<Watched[]> {
  const op = await leaderPid();
  const broker = (await podsOf(ns)).find((p) => p.metadata.name === `${CLUSTER}-0`);
  const bpid = broker && podPid(broker.metadata.uid, ['/app/bin/bulwark.js', 'broker']);
  if (!bpid) throw new Error(`no broker process of ${ns}/${CLUSTER}-0 on this machine`);
  return [
    { name: 'operator (leader)', pid: op },
    { name: `broker pod ${CLUSTER}-0`, pid: bpid },
    { name: 'kube-controller-manager', pid: node!.nodePids.kubeControllerManager },
  ];
}

async function resources(ns: string) {
  // The window starts SETTLE_S after Ready: the last status writes and pushes are over.
  await sleep(SETTLE_S * 1000);
  progress(`idle: ${IDLE_S} s with a Ready ${STEADY_REPLICAS}-replica cluster`);
  let procs = await steadyProcesses(ns);
  const m0 = await reconcileMetrics();
  const w = watchProcesses(procs);
  await sleep(IDLE_S * 1000);
  const idle = w.stop();
  const m1 = await reconcileMetrics();
  idle.usage.forEach((u) => progress(`idle: ${u.name}: ${u.cpuCores} cores, RSS ${u.rssMiBMean} MiB (max ${u.rssMiBMax})`));

  progress('roll: limits.maxConnections 1000 → 2000');
  procs = await steadyProcesses(ns);
  const c = await clusterOf(ns);
  const sts0 = await api(`/apis/apps/v1/namespaces/${ns}/statefulsets/${CLUSTER}`);
  const mr0 = await reconcileMetrics();
  const wr = watchProcesses(procs.filter((p) => !p.name.startsWith('broker')));
  const t0 = performance.now();
  await kubectl(['apply', '--server-side', '-f', '-'], clusterManifest(ns, STEADY_REPLICAS, { maxConnections: 2000 }));
  await waitFor(
    'the roll to finish',
    async () => {
      const sts = await api(`/apis/apps/v1/namespaces/${ns}/statefulsets/${CLUSTER}`);
      const s = sts?.status;
      return s && s.updateRevision !== sts0.status.updateRevision && s.currentRevision === s.updateRevision && s.readyReplicas === STEADY_REPLICAS && s.updatedReplicas === STEADY_REPLICAS && (await clusterReady(ns, c.metadata.generation + 1));
    },
    600_000,
    500,
  );
  const rollSeconds = seconds(t0);
  const roll = wr.stop();
  const mr1 = await reconcileMetrics();
  roll.usage.forEach((u) => progress(`roll (${round(rollSeconds)} s): ${u.name}: ${u.cpuCores} cores, RSS ${u.rssMiBMean} MiB (max ${u.rssMiBMax})`));
  const reconcileDelta = (a: ReconcileMetrics, b: ReconcileMetrics) => ({ seconds: round((b.seconds.brokercluster ?? 0) - (a.seconds.brokercluster ?? 0), 3), count: (b.count.brokercluster ?? 0) - (a.count.brokercluster ?? 0), sameLeader: a.identity === b.identity });
  return {
    idle: { ...idle, brokerclusterReconciles: reconcileDelta(m0, m1) },
    roll: { ...roll, rollSeconds: round(rollSeconds, 1), brokerclusterReconciles: reconcileDelta(mr0, mr1), note: 'the broker pods are replaced during the roll: no broker process spans the window' },
  };
}

// --- 3. certificate renewal ----------------------------------------------------------------------------

function servedSerial(ip: string, servername: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: ip, port: 9092, servername, ca }, () => {
      const serial = s.getPeerX509Certificate()?.serialNumber ?? '';
      s.end();
      resolve(serial);
    });
    s.setTimeout(3_000, () => s.destroy(new Error('TLS handshake timed out')));
    s.once('error', reject);
  });
}

async function renewal(syncFrequencySeconds: number) {
  const ns = await createBrokerNamespace(node!, 'bench-renew');
  await createLocalVolumes(node!, STEADY_REPLICAS);
  await kubectl(['apply', '--server-side', '-f', '-'], clusterManifest(ns, STEADY_REPLICAS, { shortRenewal: true }));
  await waitFor('the renewing cluster to be Ready', () => clusterReady(ns), 300_000, 500);
  const secret = async (key: string) => {
    const s = await api(`/api/v1/namespaces/${ns}/secrets/${CLUSTER}-tls`);
    return s?.data?.[key] ? Buffer.from(s.data[key], 'base64').toString('utf8') : undefined;
  };
  const leafSerial = async () => {
    const pem = await secret('tls.crt');
    return pem ? new X509Certificate(pem).serialNumber : undefined;
  };
  const ca = (await secret('ca.crt'))!;
  const pods = (await podsOf(ns)).map((p) => ({ name: p.metadata.name as string, ip: p.status.podIP as string, servername: `${p.metadata.name}.${CLUSTER}-brokers.${ns}.svc`, restarts: p.status.containerStatuses[0].restartCount as number }));
  const renewals: { serial: string; secretSeenAfterPreviousS: number | null; perPodSeconds: Record<string, number>; allServedSeconds: number }[] = [];
  const procs = await steadyProcesses(ns);
  const w = watchProcesses(procs.filter((p) => p.name.startsWith('operator')));
  let serial = await leafSerial();
  let previous = performance.now();
  let first = true;
  while (renewals.length < RENEWALS) {
    const next = await waitFor('the leaf certificate to be renewed', async () => {
      const s = await leafSerial();
      return s && s !== serial ? s : undefined;
    }, 120_000, 250);
    const t0 = performance.now();
    const perPod: Record<string, number> = {};
    await Promise.all(
      pods.map(async (p) => {
        await waitFor(`${p.name} to serve ${next}`, async () => (await servedSerial(p.ip, p.servername, ca)) === next, 120_000, 250);
        perPod[p.name] = round(seconds(t0), 2);
      }),
    );
    const all = Math.max(...Object.values(perPod));
    renewals.push({ serial: next, secretSeenAfterPreviousS: first ? null : round((t0 - previous) / 1000, 1), perPodSeconds: perPod, allServedSeconds: round(all, 2) });
    progress(`renewal ${renewals.length}: every broker serves the new leaf ${round(all, 1)} s after the Secret changed (${Object.entries(perPod).map(([k, v]) => `${k} ${v} s`).join(', ')})`);
    serial = next;
    previous = t0;
    first = false;
  }
  const operatorDuringRenewals = w.stop();
  const restartsAfter = (await podsOf(ns)).map((p) => p.status.containerStatuses[0].restartCount as number);
  const perPod = renewals.flatMap((r) => Object.values(r.perPodSeconds));
  const all = renewals.map((r) => r.allServedSeconds);
  return {
    ns,
    replicas: STEADY_REPLICAS,
    tls: { duration: '1h', renewBefore: '59m30s' },
    kubeletSyncFrequencySeconds: syncFrequencySeconds,
    renewals,
    perPodSeconds: spread(perPod),
    allServedSeconds: spread(all),
    ofSyncFrequency: { perPodMedian: round(median(perPod) / syncFrequencySeconds, 3), perPodMax: round(Math.max(...perPod) / syncFrequencySeconds, 3), allServedMedian: round(median(all) / syncFrequencySeconds, 3) },
    brokerRestarts: restartsAfter.reduce((a, b) => a + b, 0) - pods.reduce((a, p) => a + p.restarts, 0),
    operatorDuringRenewals,
  };
}

// --- the run --------------------------------------------------------------------------------------------

const errors: { step: string; error: string }[] = [];
const operatorRuns: OperatorRun[] = [];
const handRuns: HandRun[] = [];
let install: Awaited<ReturnType<typeof installBulwark>> | undefined;
let resourceResult: Awaited<ReturnType<typeof resources>> | undefined;
let renewalResult: Awaited<ReturnType<typeof renewal>> | undefined;
let syncFrequencySeconds = NaN;
const timings: Record<string, number> = {};
const loadStart = loadavg().map((x) => round(x, 2));

let stopping: Promise<void> | undefined;
const stopNode = () =>
  (stopping ??= node
    ? node.stop().catch((err: Error) => {
        progress(`node stop failed: ${err.message}`);
      })
    : Promise.resolve());
// No signal handlers of our own: the control plane's launcher exits at once on SIGINT/SIGTERM and
// its exit handler (with the node's reaper) does the cleanup.

let step = 'node';
try {
  let t = performance.now();
  node = await startNode({ waitForBridgeMs: 900_000, purpose: 'bench/operator' });
  timings.nodeStart = round(seconds(t), 1);
  const kubeletYaml = readFileSync(join(node.nodeDir, 'kubelet.yaml'), 'utf8');
  const sf = /^syncFrequency:\s*(\d+)s\s*$/m.exec(kubeletYaml);
  if (!sf) throw new Error('syncFrequency (in seconds) not found in the node kubelet.yaml');
  syncFrequencySeconds = Number(sf[1]);
  step = 'install';
  t = performance.now();
  install = await installBulwark(node);
  timings.install = round(seconds(t), 1);
  progress(`Bulwark installed (${JSON.stringify(install.timings)})`);
  // Both operator replicas up and one leading before anything is timed.
  await waitFor('an operator to hold the lease', () => leader(), 120_000, 500);

  for (const replicas of REPLICAS) {
    let objects: any[] | undefined;
    let fromNs = '';
    for (let run = 1; run <= RUNS; run++) {
      step = `apply→Ready replicas ${replicas} run ${run}`;
      const handFirst = run % 2 === 0 && objects !== undefined;
      const namespaces: string[] = [];
      const doHand = async () => {
        const h = await handRun(replicas, run, objects!, fromNs);
        namespaces.push(h.ns);
        handRuns.push(h);
        progress(`replicas ${replicas} run ${run}: hand-applied → pods Ready ${h.podsReadySeconds} s`);
      };
      const doOperator = async () => {
        const o = await operatorRun(replicas, run);
        namespaces.push(o.ns);
        operatorRuns.push(o);
        if (!objects) {
          objects = await capturedObjects(o.ns);
          fromNs = o.ns;
        }
        progress(`replicas ${replicas} run ${run}: operator → pods Ready ${o.podsReadySeconds} s, Ready condition ${o.clusterReadySeconds} s; in reconciles ${o.reconcileSeconds} s over ${o.reconciles} reconciles (${round(o.operatorShare * 100, 1)}%), operator CPU ${o.operatorCpuSeconds} s (${round(o.operatorCpuShare * 100, 1)}% of a core)`);
      };
      try {
        // One cluster on the node at a time: the first side's namespace goes before the second side starts.
        for (const side of handFirst ? [doHand, doOperator] : [doOperator, doHand]) {
          await side();
          await dropNamespaces(namespaces.splice(0));
        }
      } catch (err) {
        errors.push({ step, error: (err as Error).message.slice(0, 2000) });
        progress(`${step}: FAILED: ${(err as Error).message.split('\n')[0]}`);
      } finally {
        await dropNamespaces(namespaces).catch((err: Error) => errors.push({ step: `${step}: cleanup`, error: err.message }));
      }
    }
  }
  step = 'resources';
  const steady = await operatorRun(STEADY_REPLICAS, 0);
  try {
    resourceResult = await resources(steady.ns);
  } catch (err) {
    errors.push({ step, error: (err as Error).message.slice(0, 2000) });
    progress(`${step}: FAILED: ${(err as Error).message}`);
  }
  await dropNamespaces([steady.ns]);
  step = 'renewal';
  renewalResult = await renewal(syncFrequencySeconds);
} catch (err) {
  errors.push({ step, error: (err as Error).message.slice(0, 4000) });
  progress(`${step}: FAILED: ${(err as Error).message}`);
} finally {
  progress('stopping the node');
  await stopNode();
}

// --- report ---------------------------------------------------------------------------------------------

const applyToReady: Record<string, unknown> = {};
const ratios: Record<string, number | null> = {};
for (const replicas of REPLICAS) {
  const ops = operatorRuns.filter((r) => r.replicas === replicas && r.run > 0);
  const hands = handRuns.filter((r) => r.replicas === replicas);
  if (!ops.length) continue;
  const paired = ops.flatMap((o) => hands.filter((h) => h.run === o.run).map((h) => o.podsReadySeconds / h.podsReadySeconds));
  const ratio = hands.length ? round(median(ops.map((o) => o.podsReadySeconds)) / median(hands.map((h) => h.podsReadySeconds)), 3) : null;
  applyToReady[`replicas${replicas}`] = {
    operator: {
      podsReadySeconds: spread(ops.map((o) => o.podsReadySeconds)),
      clusterReadySeconds: spread(ops.map((o) => o.clusterReadySeconds)),
      reconcileSeconds: spread(ops.map((o) => o.reconcileSeconds), 3),
      reconciles: ops.map((o) => o.reconciles),
      operatorShare: spread(ops.map((o) => o.operatorShare), 4),
      operatorCpuSeconds: spread(ops.map((o) => o.operatorCpuSeconds)),
      operatorCpuShare: spread(ops.map((o) => o.operatorCpuShare), 4),
    },
    handApplied: hands.length ? { podsReadySeconds: spread(hands.map((h) => h.podsReadySeconds)) } : null,
    operatorOverHandApplied: ratio,
    pairedRatioMedian: paired.length ? round(median(paired), 3) : null,
  };
  ratios[`applyToReady/replicas${replicas}/operatorOverHandApplied`] = ratio;
  ratios[`applyToReady/replicas${replicas}/operatorShare`] = round(median(ops.map((o) => o.operatorShare)), 4);
  ratios[`applyToReady/replicas${replicas}/operatorCpuShare`] = round(median(ops.map((o) => o.operatorCpuShare)), 4);
}
const usageOf = (r: { usage: Usage[] } | undefined, name: string) => r?.usage.find((u) => u.name.startsWith(name));
if (resourceResult) {
  const op = usageOf(resourceResult.idle, 'operator');
  const kcm = usageOf(resourceResult.idle, 'kube-controller-manager');
  const broker = usageOf(resourceResult.idle, 'broker');
  const rop = usageOf(resourceResult.roll, 'operator');
  const rkcm = usageOf(resourceResult.roll, 'kube-controller-manager');
  ratios['idle/operatorCpuOverKubeControllerManager'] = op && kcm ? round(op.cpuCores / kcm.cpuCores, 3) : null;
  ratios['idle/operatorRssOverKubeControllerManager'] = op && kcm ? round(op.rssMiBMean / kcm.rssMiBMean, 3) : null;
  ratios['idle/operatorRssOverBroker'] = op && broker ? round(op.rssMiBMean / broker.rssMiBMean, 3) : null;
  ratios['roll/operatorCpuOverKubeControllerManager'] = rop && rkcm ? round(rop.cpuCores / rkcm.cpuCores, 3) : null;
  ratios['roll/operatorCpuOfOneCore'] = rop ? rop.cpuCores : null;
}
if (renewalResult) {
  ratios['renewal/perPodMedianOverSyncFrequency'] = renewalResult.ofSyncFrequency.perPodMedian;
  ratios['renewal/perPodMaxOverSyncFrequency'] = renewalResult.ofSyncFrequency.perPodMax;
}

const result = {
  benchmark: 'operator',
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version, kernel: release(), memoryGiB: round(totalmem() / 2 ** 30), loadavgStart: loadStart, loadavgEnd: loadavg().map((x) => round(x, 2)) },
  settings: {
    node: 'tools/node/launcher.ts startNode: kube-apiserver, etcd, kube-controller-manager, kube-scheduler, containerd, kubelet on this machine',
    operator: 'manifests/overlays/cluster-wide via installBulwark: 2 replicas, leader elected, all namespaces',
    image: install?.image.name ?? null,
    cluster: JSON.parse(clusterManifest('NS', 0)).spec,
    runs: RUNS,
    replicas: REPLICAS,
    poll: `${POLL_MS} ms (pods and the BrokerCluster through the API server)`,
    handApplied: `the operator's StatefulSet, ConfigMap, Secrets, Services, ServiceAccount, PodDisruptionBudget of the first run, in another namespace; broker.json policy.dir = ${PEER_POLICY_DIR} (a ConfigMap with one TopicGrant for the cluster) so the brokers are ready with no operator push`,
    idleSeconds: IDLE_S,
    renewals: RENEWALS,
    kubeletSyncFrequencySeconds: syncFrequencySeconds,
  },
  timings: { ...timings, install: install?.timings ?? null },
  applyToReady,
  resources: resourceResult ?? null,
  renewal: renewalResult ?? null,
  ratios,
  operatorRuns,
  handRuns,
  errors,
  seconds: round(seconds(started)),
};
mkdirSync(dirname(OUT), { recursive: true });
writeFileSync(OUT, `${JSON.stringify(result, null, 2)}\n`);

const rows: string[][] = [['measure', 'operator', 'peer', 'ratio']];
for (const replicas of REPLICAS) {
  const a = applyToReady[`replicas${replicas}`] as any;
  if (!a) continue;
  const s = (x: { median: number; min: number; max: number }) => `${x.median} s (${x.min}-${x.max})`;
  rows.push([`apply → ${replicas} pod(s) Ready, median (min-max)`, s(a.operator.podsReadySeconds), a.handApplied ? `${s(a.handApplied.podsReadySeconds)} by hand` : '-', `${a.operatorOverHandApplied ?? '-'} (paired ${a.pairedRatioMedian ?? '-'})`]);
  rows.push([`  in reconciles (wall) / apply → Ready`, `${a.operator.reconcileSeconds.median} s`, '', `${round(a.operator.operatorShare.median * 100, 1)}%`]);
  rows.push([`  operator CPU / apply → Ready`, `${a.operator.operatorCpuSeconds.median} s`, '', `${round(a.operator.operatorCpuShare.median * 100, 1)}% of a core`]);
}
for (const phase of ['idle', 'roll'] as const) {
  const r = resourceResult?.[phase] as { usage: Usage[]; wallSeconds: number } | undefined;
  if (!r) continue;
  const op = usageOf(r, 'operator');
  const kcm = usageOf(r, 'kube-controller-manager');
  const b = usageOf(r, 'broker');
  if (op && kcm) rows.push([`${phase} (${r.wallSeconds} s) CPU, cores`, String(op.cpuCores), `kcm ${kcm.cpuCores}${b ? `, broker ${b.cpuCores}` : ''}`, `${round(op.cpuCores / kcm.cpuCores, 2)} of kcm`]);
  if (op && kcm) rows.push([`${phase} RSS mean (max), MiB`, `${op.rssMiBMean} (${op.rssMiBMax})`, `kcm ${kcm.rssMiBMean}${b ? `, broker ${b.rssMiBMean}` : ''}`, `${round(op.rssMiBMean / kcm.rssMiBMean, 2)} of kcm`]);
}
if (renewalResult) {
  rows.push(['renewal → broker serves it, per pod', `${renewalResult.perPodSeconds.median} s (${renewalResult.perPodSeconds.min}-${renewalResult.perPodSeconds.max})`, `kubelet syncFrequency ${syncFrequencySeconds} s`, `${renewalResult.ofSyncFrequency.perPodMedian} (max ${renewalResult.ofSyncFrequency.perPodMax})`]);
  rows.push(['renewal → every broker serves it', `${renewalResult.allServedSeconds.median} s (${renewalResult.allServedSeconds.min}-${renewalResult.allServedSeconds.max})`, `kubelet syncFrequency ${syncFrequencySeconds} s`, String(renewalResult.ofSyncFrequency.allServedMedian)]);
}
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
console.log(rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n'));
if (errors.length) console.log(`\n${errors.length} error(s): ${errors.map((e) => `${e.step}: ${e.error.split('\n')[0]}`).join('; ')}`);
progress(`wrote ${OUT}${errors.length ? ` (${errors.length} errors)` : ''}`);
process.exitCode = errors.length ? 1 : 0;
