// What bench/propagation.ts and bench/access-scale.ts (issue 13) share: the API server over one
// keep-alive HTTPS agent (server-side apply of thousands of objects in parallel, Table lists that
// count Ready resources without shipping whole objects), the resources they declare (a SCRAM TLS
// BrokerCluster, Users, TopicGrants), the leader operator (its pod, its process on this machine,
// its /metrics) and the kube-apiserver's request counters.
import { Agent, request as httpsRequest } from 'node:https';
import { createBrokerNamespace, createLocalVolumes, E2E_STORAGE_CLASS, OPERATOR_NAMESPACE, waitFor } from '../tools/node/bulwark-install.ts';
import { podPid, rssMiB } from './proc.ts';

export { podPid, rssMiB };
import type { TestNode } from '../tools/node/launcher.ts';

export const CLUSTER = 'access';
export const GROUP_VERSION = 'bulwark.dev/v1alpha1';
export const FIELD_MANAGER = 'bench-access';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export const seconds = (t0: number) => (performance.now() - t0) / 1000;

export function progressLogger(started = performance.now()) {
  return (msg: string) => process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${msg}\n`);
}

// --- the API server ------------------------------------------------------------------------------------

export interface ApiAnswer {
  status: number;
  body: string;
}

const TABLE_ACCEPT = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json';

/** Resource paths of the kinds the benchmarks write. */
export function resourcePath(kind: string, namespace: string, name?: string): string {
  const plural: Record<string, string> = { User: 'users', TopicGrant: 'topicgrants', BrokerCluster: 'brokerclusters', Role: 'roles', AccessToken: 'accesstokens' };
  const base = plural[kind] ? `/apis/${GROUP_VERSION}/namespaces/${namespace}/${plural[kind]}` : kind === 'Secret' ? `/api/v1/namespaces/${namespace}/secrets` : undefined;
  if (!base) throw new Error(`no path for kind ${kind}`);
  return name === undefined ? base : `${base}/${name}`;
}

/** The node's API server as admin, over kept-alive connections (node.request opens one per call). */
export class KubeApi {
  readonly #url: URL;
  readonly #agent: Agent;

  constructor(node: TestNode, maxSockets = 64) {
    this.#url = new URL(node.server);
    this.#agent = new Agent({ keepAlive: true, maxSockets, ca: node.caPem, cert: node.adminCertPem, key: node.adminKeyPem });
  }

  call(method: string, path: string, body?: string, headers: Record<string, string> = {}, timeoutMs = 60_000): Promise<ApiAnswer> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        {
          host: this.#url.hostname,
          port: this.#url.port,
          path,
          method,
          agent: this.#agent,
          timeout: timeoutMs,
          headers: { Accept: 'application/json', ...(body !== undefined ? { 'Content-Length': Buffer.byteLength(body) } : {}), ...headers },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (d: Buffer) => chunks.push(d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  async get<T = any>(path: string): Promise<T | undefined> {
    const r = await this.call('GET', path);
    if (r.status === 404) return undefined;
    if (r.status >= 300) throw new Error(`GET ${path}: ${r.status} ${r.body.slice(0, 300)}`);
    return JSON.parse(r.body) as T;
  }

  /** Server-side apply of one object (JSON is YAML), as kubectl apply --server-side --force-conflicts does. */
  async apply(obj: { kind: string; metadata: { name: string; namespace: string } }, fieldManager = FIELD_MANAGER): Promise<any> {
    const path = `${resourcePath(obj.kind, obj.metadata.namespace, obj.metadata.name)}?fieldManager=${fieldManager}&force=true`;
    const r = await this.call('PATCH', path, JSON.stringify(obj), { 'Content-Type': 'application/apply-patch+yaml' });
    if (r.status >= 300) throw new Error(`apply ${obj.kind} ${obj.metadata.name}: ${r.status} ${r.body.slice(0, 300)}`);
    return JSON.parse(r.body);
  }

  /** Applies every object, `concurrency` requests in flight; retries 429/5xx a few times. */
  async applyMany(objs: readonly { kind: string; metadata: { name: string; namespace: string } }[], concurrency: number, onProgress?: (done: number) => void): Promise<{ seconds: number; retries: number }> {
    const t0 = performance.now();
    let next = 0;
    let done = 0;
    let retries = 0;
    const worker = async () => {
      for (;;) {
        const i = next++;
        if (i >= objs.length) return;
        for (let attempt = 0; ; attempt++) {
          try {
            await this.apply(objs[i]!);
            break;
          } catch (err) {
            if (attempt >= 5) throw err;
            retries++;
            await sleep(200 * (attempt + 1));
          }
        }
        if (++done % 1000 === 0) onProgress?.(done);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    return { seconds: seconds(t0), retries };
  }

  /** A list as a Table (the CRD's printer columns): rows of cells by column name. */
  async table(path: string): Promise<Record<string, unknown>[]> {
    const r = await this.call('GET', path, undefined, { Accept: TABLE_ACCEPT });
    if (r.status >= 300) throw new Error(`GET ${path} (Table): ${r.status} ${r.body.slice(0, 300)}`);
    const t = JSON.parse(r.body) as { columnDefinitions: { name: string }[]; rows: { cells: unknown[] }[] };
    const names = t.columnDefinitions.map((c) => c.name);
    return t.rows.map((row) => Object.fromEntries(names.map((n, i) => [n, row.cells[i]])));
  }

  /** How many of a kind in the namespace there are, and how many have Ready True. */
  async readyCount(kind: string, namespace: string): Promise<{ total: number; ready: number; reasons: Record<string, number> }> {
    const rows = await this.table(resourcePath(kind, namespace));
    const reasons: Record<string, number> = {};
    for (const r of rows) if (r.Ready !== 'True') reasons[String(r.Reason ?? 'none')] = (reasons[String(r.Reason ?? 'none')] ?? 0) + 1;
    return { total: rows.length, ready: rows.filter((r) => r.Ready === 'True').length, reasons };
  }

  close(): void {
    this.#agent.destroy();
  }
}

// --- the resources ---------------------------------------------------------------------------------------

/** A BrokerCluster whose Kafka listener takes SCRAM-SHA-512 (and PLAIN, for password users) over TLS, and nothing anonymous. */
export function clusterObject(namespace: string, replicas: number) {
  return {
    apiVersion: GROUP_VERSION,
    kind: 'BrokerCluster',
    metadata: { name: CLUSTER, namespace },
    spec: {
      replicas,
      storage: { size: '256Mi', storageClassName: E2E_STORAGE_CLASS },
      listeners: [{ name: 'kafka', protocol: 'kafka', port: 9092, tls: { enabled: true }, authentication: ['scram-sha-512', 'plain'] }],
      authentication: { allowAnonymous: false },
      limits: { maxConnections: 1000 },
      // 10k users make a snapshot of a few MiB, parsed and held by every broker.
      resources: { requests: { cpu: '50m', memory: '128Mi' }, limits: { memory: '1Gi' } },
    },
  };
}

export function userObject(namespace: string, name: string, type: 'scram-sha-512' | 'password' = 'scram-sha-512') {
  return { apiVersion: GROUP_VERSION, kind: 'User', metadata: { name, namespace }, spec: { clusterRef: { name: CLUSTER }, authentication: { type } } };
}

export function grantObject(namespace: string, name: string, g: { users: string[]; topics: string[]; actions: string[]; effect: 'Allow' | 'Deny' }) {
  return {
    apiVersion: GROUP_VERSION,
    kind: 'TopicGrant',
    metadata: { name, namespace },
    spec: { clusterRef: { name: CLUSTER }, subjects: g.users.map((n) => ({ kind: 'User', name: n })), topics: g.topics, actions: g.actions, effect: g.effect },
  };
}

/** User i and its grant: read, write and describe on its own topic. */
export const benchUserName = (i: number) => `u${String(i).padStart(5, '0')}`;
export const benchUsers = (namespace: string, count: number, type: 'scram-sha-512' | 'password' = 'scram-sha-512', prefix = '') =>
  Array.from({ length: count }, (_, i) => userObject(namespace, `${prefix}${benchUserName(i)}`, type));
export const benchGrants = (namespace: string, count: number) =>
  Array.from({ length: count }, (_, i) => grantObject(namespace, `g${String(i).padStart(5, '0')}`, { users: [benchUserName(i)], topics: [`topic-${i}`], actions: ['read', 'write', 'describe'], effect: 'Allow' }));

// --- the operator -----------------------------------------------------------------------------------------

export async function operatorLeader(api: KubeApi): Promise<{ identity: string; pod: any }> {
  const lease = await api.get(`/apis/coordination.k8s.io/v1/namespaces/${OPERATOR_NAMESPACE}/leases/bulwark-operator`);
  const identity = lease?.spec?.holderIdentity as string | undefined;
  if (!identity) throw new Error('no operator holds the lease bulwark-operator');
  const pod = await api.get(`/api/v1/namespaces/${OPERATOR_NAMESPACE}/pods/${identity.split('_')[0]}`);
  if (!pod?.status?.podIP) throw new Error(`the leader's pod ${identity.split('_')[0]} has no IP`);
  return { identity, pod };
}

export const OPERATOR_ARGV = ['/app/bin/bulwark.js', 'operator'];

/** Samples a process's RSS every `everyMs` until stop(): max and last. */
export function watchRss(pid: number, everyMs = 500) {
  let max = 0;
  let last = NaN;
  const sample = () => {
    const v = rssMiB(pid);
    if (Number.isFinite(v)) {
      last = v;
      max = Math.max(max, v);
    }
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return {
    get max() {
      return max;
    },
    stop() {
      clearInterval(timer);
      sample();
      return { maxMiB: Math.round(max * 10) / 10, lastMiB: Math.round(last * 10) / 10 };
    },
  };
}

// --- Prometheus text -----------------------------------------------------------------------------------------

export type Series = { name: string; labels: Record<string, string>; value: number }[];

export function parsePrometheus(text: string, only?: (name: string) => boolean): Series {
  const out: Series = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || (only && !only(m[1]!))) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[4]) });
  }
  return out;
}

export function sumOf(s: Series, name: string, where: Record<string, string> = {}): number {
  return s.filter((x) => x.name === name && Object.entries(where).every(([k, v]) => x.labels[k] === v)).reduce((a, x) => a + x.value, 0);
}

/** The leader operator's metrics (its pod IP, port 8080). */
export async function operatorMetrics(api: KubeApi): Promise<{ identity: string; series: Series }> {
  const { identity, pod } = await operatorLeader(api);
  const res = await fetch(`http://${pod.status.podIP}:8080/metrics`, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`operator /metrics: ${res.status}`);
  return { identity, series: parsePrometheus(await res.text(), (n) => n.startsWith('bulwark_operator_')) };
}

export const RECONCILERS = ['user', 'policy', 'accesstoken', 'topicgrant', 'role', 'brokercluster'] as const;

/** What the leader did between two scrapes of the same process: reconciles, derivations, compiles, pushes. */
export function operatorDelta(a: Series, b: Series) {
  const d = (name: string, where: Record<string, string> = {}) => sumOf(b, name, where) - sumOf(a, name, where);
  const r3 = (x: number) => Math.round(x * 1000) / 1000;
  const reconciles: Record<string, { count: number; seconds: number; meanMs: number }> = {};
  for (const r of RECONCILERS) {
    const count = d('bulwark_operator_reconcile_duration_seconds_count', { reconciler: r });
    const secs = d('bulwark_operator_reconcile_duration_seconds_sum', { reconciler: r });
    if (count > 0) reconciles[r] = { count, seconds: r3(secs), meanMs: r3((secs / count) * 1000) };
  }
  const hashes: Record<string, { count: number; seconds: number; meanMs: number }> = {};
  for (const algorithm of ['scram-sha-256', 'scram-sha-512', 'argon2id']) {
    const count = d('bulwark_operator_credential_hashes_total', { algorithm });
    const secs = d('bulwark_operator_credential_hash_seconds_sum', { algorithm });
    if (count > 0) hashes[algorithm] = { count, seconds: r3(secs), meanMs: r3((secs / count) * 1000) };
  }
  const compiles = d('bulwark_operator_policy_compile_seconds_count');
  const compileSeconds = d('bulwark_operator_policy_compile_seconds_sum');
  const pushRounds = d('bulwark_operator_policy_push_seconds_count');
  const pushSeconds = d('bulwark_operator_policy_push_seconds_sum');
  return {
    reconciles,
    hashes,
    policy: {
      compiles,
      compileSeconds: r3(compileSeconds),
      compileMeanMs: compiles ? r3((compileSeconds / compiles) * 1000) : null,
      pushRounds,
      pushSeconds: r3(pushSeconds),
      pushMeanMs: pushRounds ? r3((pushSeconds / pushRounds) * 1000) : null,
      pushes: { applied: d('bulwark_operator_policy_pushes_total', { result: 'applied' }), failed: d('bulwark_operator_policy_pushes_total', { result: 'failed' }) },
    },
    reconcileErrors: d('bulwark_operator_reconcile_errors_total'),
  };
}

/** The kube-apiserver's request counters (its /metrics, as admin), by verb and resource[/subresource]. */
export async function apiserverRequests(node: TestNode): Promise<Map<string, { count: number; seconds: number }>> {
  const r = await node.request('GET', '/metrics');
  if (r.status !== 200) throw new Error(`kube-apiserver /metrics: ${r.status}`);
  const out = new Map<string, { count: number; seconds: number }>();
  for (const s of parsePrometheus(r.body, (n) => n === 'apiserver_request_total' || n === 'apiserver_request_duration_seconds_sum')) {
    const key = `${s.labels.verb} ${s.labels.resource}${s.labels.subresource ? `/${s.labels.subresource}` : ''}`;
    const e = out.get(key) ?? { count: 0, seconds: 0 };
    if (s.name === 'apiserver_request_total') e.count += s.value;
    else e.seconds += s.value;
    out.set(key, e);
  }
  return out;
}

/** The write requests (not GET/LIST/WATCH) the API server served between two scrapes, by verb and resource. */
export function apiserverWrites(a: Map<string, { count: number; seconds: number }>, b: Map<string, { count: number; seconds: number }>) {
  const out: Record<string, { count: number; seconds: number }> = {};
  let count = 0;
  let secs = 0;
  for (const [k, v] of b) {
    if (/^(GET|LIST|WATCH|CONNECT) /.test(k)) continue;
    const c = v.count - (a.get(k)?.count ?? 0);
    const s = v.seconds - (a.get(k)?.seconds ?? 0);
    if (c < 1) continue;
    out[k] = { count: c, seconds: Math.round(s * 100) / 100 };
    count += c;
    secs += s;
  }
  return { total: { count, seconds: Math.round(secs * 100) / 100 }, byResource: Object.fromEntries(Object.entries(out).sort((x, y) => y[1].count - x[1].count).slice(0, 15)) };
}

// --- the setup both benchmarks share -------------------------------------------------------------------------

export async function kubectlChecked(node: TestNode, args: string[], input?: string): Promise<string> {
  const r = await node.kubectl(args, { ...(input !== undefined ? { input } : {}), timeoutMs: 600_000 });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr || r.stdout}`);
  return r.stdout;
}

/** Polls `fn` until it returns something (not undefined/false), every `everyMs`; throws after `timeoutMs`. */
export const until = <T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs: number, everyMs = 200): Promise<T> => waitFor(what, fn, timeoutMs, everyMs);

/**
 * The operator's memory limit for the benchmarks: above the shipped 768Mi, so that its RSS can be
 * measured past it and against the 512 MiB goal (the report compares both).
 */
export const BENCH_OPERATOR_MEMORY_LIMIT = '1Gi';

/** Sets the operator Deployment's replicas (and memory limit), and waits for the rollout. */
export async function setOperator(node: TestNode, replicas: number): Promise<void> {
  const patch = { spec: { replicas, template: { spec: { containers: [{ name: 'operator', resources: { limits: { memory: BENCH_OPERATOR_MEMORY_LIMIT } } }] } } } };
  await kubectlChecked(node, ['-n', OPERATOR_NAMESPACE, 'patch', 'deployment', 'bulwark-operator', '-p', JSON.stringify(patch)]);
  await kubectlChecked(node, ['-n', OPERATOR_NAMESPACE, 'rollout', 'status', 'deployment/bulwark-operator', '--timeout=300s']);
}

export async function operatorPods(api: KubeApi): Promise<any[]> {
  return (await api.get(`/api/v1/namespaces/${OPERATOR_NAMESPACE}/pods?labelSelector=${encodeURIComponent('app.kubernetes.io/name=bulwark,app.kubernetes.io/component=operator')}`))?.items ?? [];
}

/** The cluster's broker pods that are Ready. */
export async function brokerPods(api: KubeApi, namespace: string): Promise<any[]> {
  const pods = (await api.get(`/api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent(`app.kubernetes.io/instance=${CLUSTER}`)}`))?.items ?? [];
  return pods.filter((p: any) => !p.metadata.deletionTimestamp && p.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'));
}

/** Waits for the BrokerCluster to be Ready with every broker holding the policy. */
export async function clusterReady(api: KubeApi, namespace: string, replicas: number, timeoutMs: number): Promise<any> {
  return until(
    `BrokerCluster ${CLUSTER} Ready with policy on ${replicas}/${replicas}`,
    async () => {
      const c = await api.get(resourcePath('BrokerCluster', namespace, CLUSTER));
      const ready = c?.status?.conditions?.find((x: any) => x.type === 'Ready');
      return ready?.status === 'True' && c.status.policyInSync === `${replicas}/${replicas}` ? c : undefined;
    },
    timeoutMs,
    500,
  );
}

/** A namespace for the broker cluster (restricted, the operator bound), its volumes, and the BrokerCluster applied and Ready: the namespace and the seconds to Ready. */
export async function benchCluster(node: TestNode, api: KubeApi, prefix: string, brokers: number): Promise<{ ns: string; seconds: number }> {
  const ns = await createBrokerNamespace(node, prefix);
  await createLocalVolumes(node, brokers);
  const t = performance.now();
  await api.apply(clusterObject(ns, brokers));
  await clusterReady(api, ns, brokers, 600_000);
  return { ns, seconds: seconds(t) };
}

/** Waits until every object of each kind in the namespace is Ready; polls Tables every `everyMs`; reports progress. */
export async function allReady(
  api: KubeApi,
  namespace: string,
  expected: Record<string, number>,
  opts: { timeoutMs: number; everyMs: number; onPoll?: (counts: Record<string, { total: number; ready: number; reasons: Record<string, number> }>) => void },
): Promise<void> {
  await until(
    `every ${Object.entries(expected).map(([k, n]) => `${n} ${k}`).join(' and ')} Ready`,
    async () => {
      const counts: Record<string, { total: number; ready: number; reasons: Record<string, number> }> = {};
      for (const kind of Object.keys(expected)) counts[kind] = await api.readyCount(kind, namespace);
      opts.onPoll?.(counts);
      return Object.entries(expected).every(([k, n]) => counts[k]!.total >= n && counts[k]!.ready === counts[k]!.total) || undefined;
    },
    opts.timeoutMs,
    opts.everyMs,
  );
}

/** The latest Ready lastTransitionTime (ms since the epoch) of the namespace's objects of a kind, and whether every one says "applied on N/N brokers". */
export async function readySummary(api: KubeApi, kind: string, namespace: string): Promise<{ count: number; lastReadyAtMs: number; allApplied: boolean; messages: Record<string, number> }> {
  const list = await api.get<{ items: any[] }>(resourcePath(kind, namespace));
  let last = 0;
  let allApplied = true;
  const messages: Record<string, number> = {};
  for (const o of list?.items ?? []) {
    const ready = o.status?.conditions?.find((c: any) => c.type === 'Ready');
    const t = ready?.lastTransitionTime ? Date.parse(ready.lastTransitionTime) : NaN;
    if (Number.isFinite(t)) last = Math.max(last, t);
    const msg = String(ready?.message ?? 'none').replace(/\d+\/\d+/, 'N/N');
    messages[msg] = (messages[msg] ?? 0) + 1;
    if (ready?.status !== 'True' || !/^applied on (\d+)\/\1 brokers/.test(ready.message ?? '') || o.status.observedGeneration !== o.metadata.generation) allApplied = false;
  }
  return { count: list?.items.length ?? 0, lastReadyAtMs: last, allApplied, messages };
}
