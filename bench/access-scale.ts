// Scale benchmark (issue 13): USERS SCRAM Users and GRANTS TopicGrants, from cold to every one
// Ready ("applied on N/N brokers"), on the real node (tools/node/launcher.ts, as bench/operator.ts),
// with a BrokerCluster of BROKERS pods; then ARGON2_USERS `password` Users (argon2id); then the
// operator restarted with everything in place. Goals: ≤ 60 s, operator RSS ≤ 512 MiB, no hash
// after a restart.
//
// 0. This machine's limits, measured first in the same run (before the node starts): PBKDF2
//    SHA-512 at the clusters' 8192 iterations (the SCRAM-SHA-512 derivation) and argon2id at the
//    operator's parameters (src/policy ARGON2_PARAMS, @node-rs/argon2 as the operator uses it),
//    hashes per second on one core and on all cores.
// 1. The API-write peer (the operator scaled to 0, so nothing but the writes): the same objects
//    applied alone to another namespace, the way the run applies them (server-side apply,
//    CONCURRENCY requests in flight), and once with `kubectl apply --server-side -f` of one List
//    (KUBECTL_PEER=1). The namespaces are deleted before the operator comes back.
// 2. The run: the operator (2 replicas, memory limit raised to 1Gi to measure past the shipped
//    768Mi: see access-kube.ts) and a Ready cluster; then apply → every User and TopicGrant Ready.
//    Counted by Table lists every POLL_S (Ready column); the end is the latest Ready
//    lastTransitionTime (1 s resolution) or the poll that saw it, whichever is earlier.
//    Where the time goes: the leader's metrics over the run (reconcile time per reconciler,
//    derivations and their time, compiles, pushes), the kube-apiserver's write requests by
//    resource (its /metrics), and CPU seconds of the operator, kube-apiserver, etcd and the
//    brokers (/proc); the operator's RSS every 500 ms.
// 3. argon2: ARGON2_USERS `password` Users applied, → all Ready; the leader's argon2id
//    derivations per second (count / wall time) beside this machine's argon2id rate.
// 4. Restart: resourceVersions of every User, User Secret and TopicGrant recorded; the operator
//    Deployment scaled to 0 and back to 2 (fresh processes); → a leader, → idle (queues empty,
//    no reconcile for IDLE_S s); its hash counter, every object still Ready, resourceVersions
//    unchanged.
//
// `npm run bench:access-scale` writes bench/results/access-scale.json (BENCH_ACCESS_OUT); env
// BENCH_ACCESS_USERS (10000), _GRANTS (10000), _ARGON2_USERS (500), _BROKERS (3), _KUBECTL_PEER (1),
// _CONCURRENCY (32). Progress on stderr.
import { hash as argon2Hash } from '@node-rs/argon2';
import { pbkdf2, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { ARGON2_PARAMS } from '../src/policy/index.ts';
import { DEFAULT_SCRAM_ITERATIONS } from '../src/policy/credentials.ts';
import { installBulwark, OPERATOR_NAMESPACE } from '../tools/node/bulwark-install.ts';
import { nodeUnavailableReason, startNode, type TestNode } from '../tools/node/launcher.ts';
import {
  allReady,
  apiserverRequests,
  apiserverWrites,
  benchCluster,
  benchGrants,
  benchUsers,
  brokerPods,
  CLUSTER,
  clusterObject,
  kubectlChecked,
  KubeApi,
  operatorDelta,
  operatorLeader,
  operatorMetrics,
  operatorPods,
  OPERATOR_ARGV,
  parsePrometheus,
  podPid,
  progressLogger,
  readySummary,
  resourcePath,
  rssMiB,
  seconds,
  setOperator,
  sleep,
  sumOf,
  until,
  watchRss,
  BENCH_OPERATOR_MEMORY_LIMIT,
} from './access-kube.ts';
import { cpuSeconds } from './proc.ts';
import { round } from './stats.ts';

const USERS = Number(process.env.BENCH_ACCESS_USERS ?? 10_000);
const GRANTS = Number(process.env.BENCH_ACCESS_GRANTS ?? 10_000);
const ARGON2_USERS = Number(process.env.BENCH_ACCESS_ARGON2_USERS ?? 500);
const BROKERS = Number(process.env.BENCH_ACCESS_BROKERS ?? 3);
const KUBECTL_PEER = (process.env.BENCH_ACCESS_KUBECTL_PEER ?? '1') === '1';
const CONCURRENCY = Number(process.env.BENCH_ACCESS_CONCURRENCY ?? 32);
const POLL_S = 3;
const IDLE_S = 5;
const GOAL_S = 60;
const GOAL_RSS_MIB = 512;
const SHIPPED_LIMIT_MIB = 768; // manifests/base/deployment.yaml
const OUT = process.env.BENCH_ACCESS_OUT ?? join(import.meta.dirname, 'results', 'access-scale.json');

const progress = progressLogger();
const unavailable = nodeUnavailableReason();
if (unavailable) {
  process.stderr.write(`bench:access-scale cannot run here: ${unavailable}\n`);
  process.exit(2);
}

// --- 0. this machine's hashing rates -------------------------------------------------------------------

async function rate(n: number, parallel: number, one: (i: number) => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < n) await one(next++);
    }),
  );
  return n / seconds(t0);
}

async function machineHashRates() {
  const pbkdf2Async = promisify(pbkdf2);
  const salt = randomBytes(24);
  const scram = (i: number) => pbkdf2Async(`password-${i}-${'x'.repeat(24)}`, salt, DEFAULT_SCRAM_ITERATIONS, 64, 'sha512');
  const argon = (i: number) => argon2Hash(`password-${i}-${'x'.repeat(24)}`, { ...ARGON2_PARAMS, algorithm: 2, salt: randomBytes(16) });
  const cores = cpus().length;
  await rate(20, 1, scram);
  await rate(4, 1, argon);
  return {
    pbkdf2Sha512: { iterations: DEFAULT_SCRAM_ITERATIONS, perSecondOneCore: round(await rate(200, 1, scram), 1), perSecondAllCores: round(await rate(600, cores * 2, scram), 1) },
    argon2id: { params: ARGON2_PARAMS, perSecondOneCore: round(await rate(30, 1, argon), 1), perSecondAllCores: round(await rate(90, cores * 2, argon), 1) },
    cores,
  };
}

// --- helpers ---------------------------------------------------------------------------------------------

/** Interleaved, so that both kinds are in flight together as a GitOps sync would send them. */
function interleave<T>(a: T[], b: T[]): T[] {
  const out: T[] = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (i < a.length) out.push(a[i]!);
    if (i < b.length) out.push(b[i]!);
  }
  return out;
}

async function resourceVersions(api: KubeApi, ns: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const users = await api.get<{ items: any[] }>(resourcePath('User', ns));
  for (const o of users?.items ?? []) out.set(`User/${o.metadata.name}`, o.metadata.resourceVersion);
  const grants = await api.get<{ items: any[] }>(resourcePath('TopicGrant', ns));
  for (const o of grants?.items ?? []) out.set(`TopicGrant/${o.metadata.name}`, o.metadata.resourceVersion);
  const secrets = await api.get<{ items: any[] }>(`${resourcePath('Secret', ns)}?labelSelector=${encodeURIComponent('app.kubernetes.io/component=user-credentials')}`);
  for (const o of secrets?.items ?? []) out.set(`Secret/${o.metadata.name}`, o.metadata.resourceVersion);
  return out;
}

function cpuOf(pids: Record<string, number | undefined>) {
  const at = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, pid ? cpuSeconds(pid) : NaN]));
  return (): Record<string, number> => Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, round((pid ? cpuSeconds(pid) : NaN) - at[k]!, 1)]));
}

// --- the run ---------------------------------------------------------------------------------------------

let node: TestNode | undefined;
let api: KubeApi | undefined;
const errors: { step: string; error: string }[] = [];
const timings: Record<string, number> = {};
const report: Record<string, unknown> = {};
let step = 'machine';
const loadStart = loadavg().map((x) => round(x, 2));

try {
  progress('measuring this machine\'s PBKDF2 and argon2id rates');
  const machine = await machineHashRates();
  report.machineHashRates = machine;
  progress(`PBKDF2-SHA512 ${DEFAULT_SCRAM_ITERATIONS}: ${machine.pbkdf2Sha512.perSecondOneCore}/s one core, ${machine.pbkdf2Sha512.perSecondAllCores}/s all ${machine.cores} cores; argon2id ${machine.argon2id.perSecondOneCore}/s, ${machine.argon2id.perSecondAllCores}/s`);

  step = 'node';
  let t = performance.now();
  node = await startNode({ waitForBridgeMs: 900_000, purpose: 'bench/access-scale' });
  timings.nodeStart = round(seconds(t), 1);
  api = new KubeApi(node, Math.max(64, CONCURRENCY * 2));
  step = 'install';
  t = performance.now();
  await installBulwark(node);
  await setOperator(node, 0);
  await until('no operator pod', async () => (await operatorPods(api!)).length === 0, 120_000, 500);
  timings.install = round(seconds(t), 1);
  progress(`Bulwark installed, operator scaled to 0 for the API-write peer (${timings.install} s)`);

  const users = (ns: string) => benchUsers(ns, USERS);
  const grants = (ns: string) => benchGrants(ns, GRANTS);

  step = 'peer';
  const peerNs = await node.createNamespace('bench-peer');
  const a0 = await apiserverRequests(node);
  const peer = await api.applyMany(interleave<any>(users(peerNs), grants(peerNs)), CONCURRENCY);
  const a1 = await apiserverRequests(node);
  report.peer = { objects: USERS + GRANTS, concurrency: CONCURRENCY, applySeconds: round(peer.seconds, 2), retries: peer.retries, objectsPerSecond: round((USERS + GRANTS) / peer.seconds, 1), apiserverWrites: apiserverWrites(a0, a1).total };
  progress(`peer: ${USERS + GRANTS} objects applied alone (server-side apply, ${CONCURRENCY} in flight) in ${round(peer.seconds, 1)} s`);
  const namespaces = [peerNs];
  if (KUBECTL_PEER) {
    const kNs = await node.createNamespace('bench-peer-kubectl');
    namespaces.push(kNs);
    const list = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: interleave<any>(users(kNs), grants(kNs)) });
    t = performance.now();
    await kubectlChecked(node, ['apply', '--server-side', '-f', '-'], list);
    (report.peer as Record<string, unknown>).kubectlApplySeconds = round(seconds(t), 2);
    progress(`peer: the same ${USERS + GRANTS} objects with kubectl apply --server-side -f in ${round(seconds(t), 1)} s`);
  }
  t = performance.now();
  await kubectlChecked(node, ['delete', 'namespace', ...namespaces, '--wait=true', '--timeout=900s']);
  timings.peerNamespacesDeleted = round(seconds(t), 1);

  step = 'cluster';
  await setOperator(node, 2);
  await until('an operator to hold the lease', () => operatorLeader(api!), 120_000, 500);
  const made = await benchCluster(node, api, 'bench-scale', BROKERS);
  const ns = made.ns;
  timings.clusterReady = round(made.seconds, 1);
  progress(`BrokerCluster ${CLUSTER} Ready with ${BROKERS} brokers (${timings.clusterReady} s)`);

  // --- 2. the run ---
  step = 'scale';
  const leader = await operatorLeader(api);
  const opPid = podPid(leader.pod.metadata.uid, OPERATOR_ARGV);
  if (!opPid) throw new Error(`the leader operator's process (pod ${leader.pod.metadata.name}) is not found on this machine`);
  const brokerPidList = (await brokerPods(api, ns)).map((p: any) => podPid(p.metadata.uid, ['--broker-id-from-hostname']));
  const cpu = cpuOf({ operator: opPid, kubeApiserver: node.nodePids.kubeApiserver, etcd: node.nodePids.etcd, ...Object.fromEntries(brokerPidList.map((pid, i) => [`broker${i}`, pid])) });
  const rss = watchRss(opPid);
  const m0 = await operatorMetrics(api);
  const w0 = await apiserverRequests(node);
  const rssBefore = round(rssMiB(opPid), 1);
  const wall0 = Date.now();
  t = performance.now();
  const polls: { s: number; users: number; grants: number; hashes: number; rssMiB: number }[] = [];
  let applied: Awaited<ReturnType<KubeApi['applyMany']>> | undefined;
  const applying = api.applyMany(interleave<any>(users(ns), grants(ns)), CONCURRENCY).then((r) => {
    applied = r;
    progress(`applied ${USERS + GRANTS} objects in ${round(r.seconds, 1)} s (alone: ${(report.peer as any).applySeconds} s)`);
  });
  let seenAllMs = NaN;
  await allReady(api, ns, { User: USERS, TopicGrant: GRANTS }, {
    timeoutMs: 1_800_000,
    everyMs: POLL_S * 1000,
    onPoll: (c) => {
      const s = round(seconds(t), 1);
      void operatorMetrics(api!)
        .then((m) => {
          const hashes = sumOf(m.series, 'bulwark_operator_credential_hashes_total') - sumOf(m0.series, 'bulwark_operator_credential_hashes_total');
          polls.push({ s, users: c.User!.ready, grants: c.TopicGrant!.ready, hashes, rssMiB: round(rssMiB(opPid), 1) });
          progress(`${s} s: Ready users ${c.User!.ready}/${c.User!.total}, grants ${c.TopicGrant!.ready}/${c.TopicGrant!.total}; hashes ${hashes}; RSS ${round(rssMiB(opPid), 0)} MiB; not ready: ${JSON.stringify({ ...c.User!.reasons })}`);
        })
        .catch(() => undefined);
    },
  });
  seenAllMs = performance.now() - t;
  await applying;
  const cpuRun = cpu();
  const rssRun = rss.stop();
  const m1 = await operatorMetrics(api);
  const w1 = await apiserverRequests(node);
  const usersSummary = await readySummary(api, 'User', ns);
  const grantsSummary = await readySummary(api, 'TopicGrant', ns);
  const lastReadyS = (Math.max(usersSummary.lastReadyAtMs, grantsSummary.lastReadyAtMs) - wall0) / 1000;
  const allReadyS = Math.min(seenAllMs / 1000, lastReadyS + 1);
  const opDelta = operatorDelta(m0.series, m1.series);
  const scramHashes = opDelta.hashes['scram-sha-512'];
  const machineLimitS = USERS / machine.pbkdf2Sha512.perSecondAllCores;
  report.scale = {
    users: USERS,
    grants: GRANTS,
    brokers: BROKERS,
    allReadySeconds: round(allReadyS, 1),
    lastReadyTransitionSeconds: round(lastReadyS, 1),
    pollSawAllReadySeconds: round(seenAllMs / 1000, 1),
    goalSeconds: GOAL_S,
    overGoal: round(allReadyS / GOAL_S, 3),
    applySecondsUnderLoad: applied ? round(applied.seconds, 1) : null,
    applyRetries: applied?.retries ?? null,
    everyUserApplied: usersSummary.allApplied,
    everyGrantApplied: grantsSummary.allApplied,
    readyMessages: { users: usersSummary.messages, grants: grantsSummary.messages },
    sameLeader: m0.identity === m1.identity,
    operatorRssMiB: { before: rssBefore, max: rssRun.maxMiB, end: rssRun.lastMiB, goal: GOAL_RSS_MIB, maxOverGoal: round(rssRun.maxMiB / GOAL_RSS_MIB, 3), shippedLimitMiB: SHIPPED_LIMIT_MIB, benchLimit: BENCH_OPERATOR_MEMORY_LIMIT },
    operator: opDelta,
    cpuSeconds: cpuRun,
    apiserverWrites: apiserverWrites(w0, w1),
    hashing: {
      scramSha512: scramHashes ?? null,
      machineAllCoresSeconds: round(machineLimitS, 1),
      note: 'machineAllCoresSeconds: USERS / this machine\'s PBKDF2-SHA512 rate on all cores (nothing else running): the least time the derivations alone can take here',
    },
    polls,
  };
  progress(`all ${USERS} Users and ${GRANTS} TopicGrants Ready in ${round(allReadyS, 1)} s (goal ${GOAL_S} s); operator RSS max ${rssRun.maxMiB} MiB; hashes ${scramHashes?.count ?? 0} (${scramHashes?.seconds ?? 0} s in derivations)`);

  // --- 3. argon2 ---
  if (ARGON2_USERS > 0) {
    step = 'argon2';
    const a0m = await operatorMetrics(api);
    t = performance.now();
    const pw = benchUsers(ns, ARGON2_USERS, 'password', 'pw-');
    const r = await api.applyMany(pw, CONCURRENCY);
    await allReady(api, ns, { User: USERS + ARGON2_USERS }, { timeoutMs: 1_800_000, everyMs: 2_000, onPoll: (c) => progress(`argon2 users: Ready ${c.User!.ready - USERS}/${c.User!.total - USERS}`) });
    const wallS = seconds(t);
    const a1m = await operatorMetrics(api);
    const d = operatorDelta(a0m.series, a1m.series);
    const argon = d.hashes.argon2id;
    report.argon2 = {
      users: ARGON2_USERS,
      applySeconds: round(r.seconds, 1),
      allReadySeconds: round(wallS, 1),
      hashes: argon ?? null,
      hashesPerSecond: argon ? round(argon.count / wallS, 1) : null,
      machineAllCoresPerSecond: machine.argon2id.perSecondAllCores,
      overMachine: argon ? round(argon.count / wallS / machine.argon2id.perSecondAllCores, 3) : null,
      operator: d,
      note: `a smaller count than the SCRAM users (${ARGON2_USERS}); hashesPerSecond = derivations / (apply → all Ready)`,
    };
    progress(`argon2: ${ARGON2_USERS} password users Ready in ${round(wallS, 1)} s, ${argon?.count ?? 0} argon2id derivations (${argon ? round(argon.count / wallS, 1) : 0}/s; this machine ${machine.argon2id.perSecondAllCores}/s)`);
  }

  // --- 4. restart ---
  step = 'restart';
  const rv0 = await resourceVersions(api, ns);
  const oldPods = new Set((await operatorPods(api)).map((p) => p.metadata.name as string));
  await setOperator(node, 0);
  await until('no operator pod', async () => (await operatorPods(api!)).length === 0, 120_000, 500);
  t = performance.now();
  await kubectlChecked(node, ['-n', OPERATOR_NAMESPACE, 'scale', 'deployment/bulwark-operator', '--replicas=2']);
  const newLeader = await until(
    'a new operator to hold the lease',
    async () => {
      const l = await operatorLeader(api!);
      return oldPods.has(l.pod.metadata.name) ? undefined : l;
    },
    300_000,
    200,
  );
  const leaderS = seconds(t);
  // Idle: the leader reconciles nothing for IDLE_S seconds with empty queues.
  let lastTotal = -1;
  let stableSince = 0;
  let idleAtS = NaN;
  let last: Awaited<ReturnType<typeof operatorMetrics>> | undefined;
  await until(
    'the new leader to be idle',
    async () => {
      const m = await operatorMetrics(api!);
      last = m;
      if (sumOf(m.series, 'bulwark_operator_leader') !== 1) return undefined;
      const total = sumOf(m.series, 'bulwark_operator_reconcile_total');
      const queued = sumOf(m.series, 'bulwark_operator_queue_depth');
      const now = performance.now();
      if (total !== lastTotal || queued > 0 || total === 0) {
        lastTotal = total;
        stableSince = now;
        return undefined;
      }
      return now - stableSince >= IDLE_S * 1000 ? true : undefined;
    },
    600_000,
    250,
  );
  idleAtS = (stableSince - t) / 1000;
  const restartPid = podPid(newLeader.pod.metadata.uid, OPERATOR_ARGV);
  const rv1 = await resourceVersions(api, ns);
  const changed = [...rv0].filter(([k, v]) => rv1.get(k) !== v).map(([k]) => k);
  const counts = { User: await api.readyCount('User', ns), TopicGrant: await api.readyCount('TopicGrant', ns) };
  const others = (await operatorPods(api)).filter((p) => p.metadata.name !== newLeader.pod.metadata.name && p.status?.podIP);
  const standbyHashes = await Promise.all(
    others.map(async (p) => {
      const res = await fetch(`http://${p.status.podIP}:8080/metrics`, { signal: AbortSignal.timeout(10_000) }).catch(() => undefined);
      return res?.ok ? sumOf(parsePrometheus(await res.text()), 'bulwark_operator_credential_hashes_total') : null;
    }),
  );
  const m = last!.series;
  const byKind = (k: string) => changed.filter((c) => c.startsWith(`${k}/`)).length;
  report.restart = {
    how: 'Deployment scaled to 0 (every operator pod gone), then to 2: fresh processes',
    leaderSeconds: round(leaderS, 1),
    idleSeconds: round(idleAtS, 1),
    idleDefinition: `queues empty and no reconcile for ${IDLE_S} s; idleSeconds is when that quiet began (from the scale-up)`,
    leaderHashes: sumOf(m, 'bulwark_operator_credential_hashes_total'),
    standbyHashes,
    reconciles: Object.fromEntries(['user', 'policy', 'topicgrant', 'role', 'accesstoken', 'brokercluster'].map((r) => [r, sumOf(m, 'bulwark_operator_reconcile_total', { reconciler: r })])),
    policyPushes: { applied: sumOf(m, 'bulwark_operator_policy_pushes_total', { result: 'applied' }), failed: sumOf(m, 'bulwark_operator_policy_pushes_total', { result: 'failed' }) },
    compiles: sumOf(m, 'bulwark_operator_policy_compile_seconds_count'),
    compileSeconds: round(sumOf(m, 'bulwark_operator_policy_compile_seconds_sum'), 3),
    stillReady: { users: `${counts.User.ready}/${counts.User.total}`, grants: `${counts.TopicGrant.ready}/${counts.TopicGrant.total}` },
    resourceVersions: { compared: rv0.size, changed: changed.length, users: byKind('User'), secrets: byKind('Secret'), grants: byKind('TopicGrant'), examples: changed.slice(0, 10) },
    operatorRssMiBAtIdle: restartPid ? round(rssMiB(restartPid), 1) : null,
  };
  progress(`restart: leader after ${round(leaderS, 1)} s, idle after ${round(idleAtS, 1)} s; hashes on the new leader ${sumOf(m, 'bulwark_operator_credential_hashes_total')}; ${changed.length} of ${rv0.size} resourceVersions changed; Ready users ${counts.User.ready}/${counts.User.total}, grants ${counts.TopicGrant.ready}/${counts.TopicGrant.total}`);
  const restarts = (await operatorPods(api)).map((p) => p.status?.containerStatuses?.[0]?.restartCount ?? 0);
  report.operatorContainerRestartsAfterRestart = restarts;
  await sleep(0);
} catch (err) {
  errors.push({ step, error: (err as Error).message.slice(0, 4000) });
  progress(`${step}: FAILED: ${(err as Error).message}`);
} finally {
  api?.close();
  progress('stopping the node');
  await node?.stop().catch((err: Error) => progress(`node stop failed: ${err.message}`));
}

// --- report ---------------------------------------------------------------------------------------------

const scale = report.scale as any;
const peer = report.peer as any;
const ratios: Record<string, number | null> = {
  'allReady/goal60s': scale?.overGoal ?? null,
  'operatorRssMax/goal512MiB': scale?.operatorRssMiB.maxOverGoal ?? null,
  'operatorRssMax/shippedLimitMiB': scale ? round(scale.operatorRssMiB.max / SHIPPED_LIMIT_MIB, 3) : null,
  'allReady/applyAlone': scale && peer ? round(scale.allReadySeconds / peer.applySeconds, 3) : null,
  'applyUnderLoad/applyAlone': scale?.applySecondsUnderLoad && peer ? round(scale.applySecondsUnderLoad / peer.applySeconds, 3) : null,
  'applyAlone/kubectlApply': peer?.kubectlApplySeconds ? round(peer.applySeconds / peer.kubectlApplySeconds, 3) : null,
  'allReady/pbkdf2MachineLimit': scale ? round(scale.allReadySeconds / scale.hashing.machineAllCoresSeconds, 3) : null,
  'derivationSecondsSum/allReady': scale?.hashing.scramSha512 ? round(scale.hashing.scramSha512.seconds / scale.allReadySeconds, 3) : null,
  'argon2PerSecond/machine': (report.argon2 as any)?.overMachine ?? null,
};
const result = {
  benchmark: 'access-scale',
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version, kernel: release(), memoryGiB: round(totalmem() / 2 ** 30), loadavgStart: loadStart, loadavgEnd: loadavg().map((x) => round(x, 2)) },
  settings: {
    users: USERS,
    grants: GRANTS,
    argon2Users: ARGON2_USERS,
    brokers: BROKERS,
    concurrency: CONCURRENCY,
    apply: `server-side apply, ${CONCURRENCY} requests in flight, Users and TopicGrants interleaved; each User scram-sha-512 with a generated password, each TopicGrant read/write/describe on one topic for one User`,
    operator: `manifests/overlays/cluster-wide via installBulwark: 2 replicas, memory limit ${BENCH_OPERATOR_MEMORY_LIMIT} (shipped: ${SHIPPED_LIMIT_MIB}Mi)`,
    cluster: clusterObject('NS', BROKERS).spec,
  },
  ratios,
  ...report,
  timings,
  errors,
  seconds: round(performance.now() / 1000),
};
mkdirSync(dirname(OUT), { recursive: true });
writeFileSync(OUT, `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify({ ratios, allReadySeconds: scale?.allReadySeconds, rss: scale?.operatorRssMiB, restart: report.restart ? { hashes: (report.restart as any).leaderHashes, idleSeconds: (report.restart as any).idleSeconds, changed: (report.restart as any).resourceVersions.changed } : null }, null, 2));
if (errors.length) console.log(`${errors.length} error(s): ${errors.map((e) => `${e.step}: ${e.error.split('\n')[0]}`).join('; ')}`);
progress(`wrote ${OUT}`);
process.exitCode = errors.length ? 1 : 0;
