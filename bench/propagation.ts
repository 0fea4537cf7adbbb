// Propagation benchmark (issue 13): a TopicGrant changed → a real client on every broker sees it.
//
// On the real node (tools/node/launcher.ts, as bench/operator.ts): installBulwark (the operator
// Deployment, 2 replicas, memory limit raised to 1Gi: see access-kube.ts), a BrokerCluster of
// BROKERS pods (Kafka listener SCRAM-SHA-512 over TLS, nothing anonymous), USERS SCRAM Users
// loaded and Ready (the snapshot every change is compiled into and pushed with), a probe User and
// a TopicGrant `probe` giving it `describe` on topic probe-topic.
//
// The client: one Kafka connection per broker pod (pod IP, TLS verified against the cluster CA
// with the pod's DNS name), logged in with SCRAM-SHA-512 as the probe user with the password from
// its connection Secret (tools/kafka-wire/client.ts), each asking Metadata(probe-topic,
// allowAutoTopicCreation false) every POLL_MS. What a user sees: TOPIC_AUTHORIZATION_FAILED (29)
// while denied, UNKNOWN_TOPIC_OR_PARTITION (3: may describe it, it does not exist) while allowed.
//
// CHANGES changes, alternating: the grant's effect set to Deny, then back to Allow (server-side
// apply of the TopicGrant, a new generation each time). Each is timed from just before the
// apply request to the first answer on each broker showing the new outcome; "all brokers" is the
// last of them. Also timed: the apply request's answer, and the grant's status Ready for that
// generation ("applied on N/N brokers"). The next change starts once the status says so, plus a
// 250-500 ms gap. The operator's compile and push time over the changes come from its metrics.
//
// `npm run bench:propagation` writes bench/results/propagation.json (BENCH_PROPAGATION_OUT);
// env BENCH_PROPAGATION_USERS (10000), _GRANTS (0: extra TopicGrants, one per user),
// _CHANGES (60), _BROKERS (3), _POLL_MS (20). Progress on stderr.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { ApiKey, KafkaErrorCode } from '../src/kafka/index.ts';
import { KafkaWireClient } from '../tools/kafka-wire/client.ts';
import { installBulwark } from '../tools/node/bulwark-install.ts';
import { nodeUnavailableReason, startNode, type TestNode } from '../tools/node/launcher.ts';
import {
  allReady,
  benchCluster,
  benchGrants,
  benchUsers,
  brokerPods,
  CLUSTER,
  grantObject,
  KubeApi,
  operatorDelta,
  operatorLeader,
  operatorMetrics,
  OPERATOR_ARGV,
  podPid,
  progressLogger,
  readySummary,
  resourcePath,
  rssMiB,
  seconds,
  setOperator,
  sleep,
  until,
  userObject,
} from './access-kube.ts';
import { percentiles, round } from './stats.ts';

const USERS = Number(process.env.BENCH_PROPAGATION_USERS ?? 10_000);
const GRANTS = Number(process.env.BENCH_PROPAGATION_GRANTS ?? 0);
const CHANGES = Number(process.env.BENCH_PROPAGATION_CHANGES ?? 60);
const BROKERS = Number(process.env.BENCH_PROPAGATION_BROKERS ?? 3);
const POLL_MS = Number(process.env.BENCH_PROPAGATION_POLL_MS ?? 20);
const CONCURRENCY = 32;
const GOAL_MS = 1_000;
const PROBE_USER = 'probe';
const PROBE_GRANT = 'probe';
const PROBE_TOPIC = 'probe-topic';
const OUT = process.env.BENCH_PROPAGATION_OUT ?? join(import.meta.dirname, 'results', 'propagation.json');

const progress = progressLogger();
const unavailable = nodeUnavailableReason();
if (unavailable) {
  process.stderr.write(`bench:propagation cannot run here: ${unavailable}\n`);
  process.exit(2);
}

// --- the probe: one logged-in client per broker, asking all the time ---------------------------------

interface Probe {
  pod: string;
  /** The latest answer: whether the probe topic was refused (TOPIC_AUTHORIZATION_FAILED). */
  denied: boolean | undefined;
  answers: number;
  reconnects: number;
  /** Called with each answer's time and outcome. */
  onAnswer?: (at: number, denied: boolean) => void;
  stop(): void;
}

async function openProbe(pod: { name: string; ip: string; servername: string }, ca: string, password: string): Promise<Probe> {
  const connect = async () => {
    const c = await KafkaWireClient.connect(9092, { host: pod.ip, tls: { ca }, servername: pod.servername });
    const login = await c.scram('SCRAM-SHA-512', PROBE_USER, password);
    if (login.errorCode !== 0) throw new Error(`probe login on ${pod.name}: error ${login.errorCode} ${login.errorMessage ?? ''}`);
    return c;
  };
  let client = await connect();
  let running = true;
  const probe: Probe = { pod: pod.name, denied: undefined, answers: 0, reconnects: 0, stop: () => ((running = false), client.close()) };
  const ask = async () => {
    const r = await client.request(ApiKey.Metadata, 8, { topics: [{ name: PROBE_TOPIC }], allowAutoTopicCreation: false, includeClusterAuthorizedOperations: false, includeTopicAuthorizedOperations: false });
    const code = r.topics[0]!.errorCode;
    if (code !== KafkaErrorCode.TOPIC_AUTHORIZATION_FAILED && code !== KafkaErrorCode.UNKNOWN_TOPIC_OR_PARTITION && code !== KafkaErrorCode.NONE) throw new Error(`probe on ${pod.name}: Metadata error ${code}`);
    return code === KafkaErrorCode.TOPIC_AUTHORIZATION_FAILED;
  };
  probe.denied = await ask();
  void (async () => {
    while (running) {
      try {
        const denied = await ask();
        const at = performance.now();
        probe.denied = denied;
        probe.answers++;
        probe.onAnswer?.(at, denied);
      } catch (err) {
        if (!running) return;
        progress(`probe on ${pod.name}: ${(err as Error).message}; reconnecting`);
        probe.reconnects++;
        client.close();
        await sleep(100);
        client = await connect().catch(() => client);
      }
      await sleep(POLL_MS);
    }
  })();
  return probe;
}

// --- the run ---------------------------------------------------------------------------------------------

interface Change {
  n: number;
  effect: 'Allow' | 'Deny';
  generation: number;
  applyMs: number;
  perBrokerMs: Record<string, number>;
  allBrokersMs: number;
  statusReadyMs: number;
}

let node: TestNode | undefined;
let api: KubeApi | undefined;
const errors: { step: string; error: string }[] = [];
const changes: Change[] = [];
const timings: Record<string, number> = {};
let load: Record<string, unknown> = {};
let operator: Record<string, unknown> = {};
let snapshotInfo: Record<string, unknown> = {};
let probes: Probe[] = [];
let step = 'node';
const loadStart = loadavg().map((x) => round(x, 2));

try {
  let t = performance.now();
  node = await startNode({ waitForBridgeMs: 900_000, purpose: 'bench/propagation' });
  timings.nodeStart = round(seconds(t), 1);
  api = new KubeApi(node);
  step = 'install';
  t = performance.now();
  await installBulwark(node);
  await setOperator(node, 2);
  timings.install = round(seconds(t), 1);
  progress(`Bulwark installed (${round(seconds(t), 1)} s)`);
  await until('an operator to hold the lease', () => operatorLeader(api!), 120_000, 500);

  step = 'cluster';
  const made = await benchCluster(node, api, 'bench-prop', BROKERS);
  const ns = made.ns;
  timings.clusterReady = round(made.seconds, 1);
  progress(`BrokerCluster ${CLUSTER} Ready, ${BROKERS} brokers (${timings.clusterReady} s)`);

  step = 'load';
  t = performance.now();
  const users = benchUsers(ns, USERS);
  const grants = benchGrants(ns, GRANTS);
  const applied = await api.applyMany([...users, userObject(ns, PROBE_USER), grantObject(ns, PROBE_GRANT, { users: [PROBE_USER], topics: [PROBE_TOPIC], actions: ['describe'], effect: 'Allow' }), ...grants], CONCURRENCY, (n) => progress(`loading: ${n} applied`));
  progress(`loaded ${USERS} Users and ${GRANTS + 1} TopicGrants in ${round(applied.seconds, 1)} s; waiting for Ready`);
  await allReady(api, ns, { User: USERS + 1, TopicGrant: GRANTS + 1 }, {
    timeoutMs: 1_800_000,
    everyMs: 5_000,
    onPoll: (c) => progress(`Ready: users ${c.User!.ready}/${c.User!.total}, grants ${c.TopicGrant!.ready}/${c.TopicGrant!.total} ${JSON.stringify(c.User!.reasons)}`),
  });
  const usersReady = await readySummary(api, 'User', ns);
  load = { users: USERS + 1, grants: GRANTS + 1, applySeconds: round(applied.seconds, 1), allReadySeconds: round(seconds(t), 1), usersAllApplied: usersReady.allApplied };
  progress(`all Ready (${round(seconds(t), 1)} s)`);

  step = 'probe';
  const secret = await api.get(resourcePath('Secret', ns, `${PROBE_USER}-credentials`));
  const text = (k: string) => Buffer.from(secret.data[k], 'base64').toString('utf8');
  const password = text('password');
  const ca = text('ca.crt');
  const pods = (await brokerPods(api, ns)).map((p: any) => ({ name: p.metadata.name as string, ip: p.status.podIP as string, servername: `${p.metadata.name}.${CLUSTER}-brokers.${ns}.svc` }));
  if (pods.length !== BROKERS) throw new Error(`${pods.length} broker pods Ready, expected ${BROKERS}`);
  probes = await Promise.all(pods.map((p) => openProbe(p, ca, password)));
  if (probes.some((p) => p.denied !== false)) throw new Error(`the probe is refused before any change: ${probes.map((p) => `${p.pod} denied=${p.denied}`).join(', ')}`);
  const cluster = await api.get(resourcePath('BrokerCluster', ns, CLUSTER));
  snapshotInfo = { policyVersionBefore: cluster.status.policyVersion, policyHash: cluster.status.policyHash };
  const leader = await operatorLeader(api);
  const opPid = podPid(leader.pod.metadata.uid, OPERATOR_ARGV);
  const m0 = await operatorMetrics(api);
  progress(`probes connected to ${pods.map((p) => p.name).join(', ')}; ${CHANGES} changes`);

  step = 'changes';
  for (let n = 1; n <= CHANGES; n++) {
    const effect: 'Allow' | 'Deny' = n % 2 === 1 ? 'Deny' : 'Allow';
    const wantDenied = effect === 'Deny';
    const perBroker: Record<string, number> = {};
    let t0 = 0;
    const seen = Promise.all(
      probes.map(
        (p) =>
          new Promise<void>((resolve) => {
            p.onAnswer = (at, denied) => {
              if (t0 > 0 && at > t0 && denied === wantDenied) {
                perBroker[p.pod] = at - t0;
                p.onAnswer = undefined;
                resolve();
              }
            };
          }),
      ),
    );
    t0 = performance.now();
    const after = await api.apply(grantObject(ns, PROBE_GRANT, { users: [PROBE_USER], topics: [PROBE_TOPIC], actions: ['describe'], effect }));
    const applyMs = performance.now() - t0;
    const generation = after.metadata.generation as number;
    const timeout = sleep(30_000).then(() => 'timeout' as const);
    if ((await Promise.race([seen, timeout])) === 'timeout') throw new Error(`change ${n} (${effect}): not seen on every broker within 30 s (${JSON.stringify(perBroker)})`);
    const allBrokersMs = performance.now() - t0;
    const ready = await until(
      `the grant's status Ready for generation ${generation}`,
      async () => {
        const g = await api!.get(resourcePath('TopicGrant', ns, PROBE_GRANT));
        const c = g?.status?.conditions?.find((x: any) => x.type === 'Ready');
        return c?.status === 'True' && g.status.observedGeneration === generation ? performance.now() : undefined;
      },
      30_000,
      25,
    );
    const change: Change = { n, effect, generation, applyMs: round(applyMs, 1), perBrokerMs: Object.fromEntries(Object.entries(perBroker).map(([k, v]) => [k, round(v, 1)])), allBrokersMs: round(Math.max(...Object.values(perBroker)), 1), statusReadyMs: round(ready - t0, 1) };
    void allBrokersMs;
    changes.push(change);
    if (n % 10 === 0 || n <= 3) progress(`change ${n} (${effect}): every broker ${change.allBrokersMs} ms (${Object.values(change.perBrokerMs).join(', ')}), status Ready ${change.statusReadyMs} ms`);
    await sleep(250 + Math.random() * 250);
  }
  const m1 = await operatorMetrics(api);
  operator = {
    sameLeader: m0.identity === m1.identity,
    duringChanges: m0.identity === m1.identity ? operatorDelta(m0.series, m1.series) : null,
    rssMiB: opPid ? round(rssMiB(opPid), 1) : null,
  };
  const after = await api.get(resourcePath('BrokerCluster', ns, CLUSTER));
  snapshotInfo = { ...snapshotInfo, policyVersionAfter: after.status.policyVersion, policyInSync: after.status.policyInSync };
} catch (err) {
  errors.push({ step, error: (err as Error).message.slice(0, 4000) });
  progress(`${step}: FAILED: ${(err as Error).message}`);
} finally {
  for (const p of probes) p.stop();
  api?.close();
  progress('stopping the node');
  await node?.stop().catch((err: Error) => progress(`node stop failed: ${err.message}`));
}

// --- report ---------------------------------------------------------------------------------------------

const stat = (xs: number[]) => {
  if (xs.length === 0) return null;
  const [p50, p90, p99] = percentiles(xs, [50, 90, 99]);
  return { p50: round(p50!, 1), p90: round(p90!, 1), p99: round(p99!, 1), max: round(Math.max(...xs), 1), min: round(Math.min(...xs), 1), mean: round(xs.reduce((a, b) => a + b, 0) / xs.length, 1) };
};
const all = stat(changes.map((c) => c.allBrokersMs));
const perBroker = stat(changes.flatMap((c) => Object.values(c.perBrokerMs)));
const status = stat(changes.map((c) => c.statusReadyMs));
const byEffect = Object.fromEntries((['Deny', 'Allow'] as const).map((e) => [e, stat(changes.filter((c) => c.effect === e).map((c) => c.allBrokersMs))]));
const result = {
  benchmark: 'propagation',
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version, kernel: release(), memoryGiB: round(totalmem() / 2 ** 30), loadavgStart: loadStart, loadavgEnd: loadavg().map((x) => round(x, 2)) },
  settings: {
    brokers: BROKERS,
    users: USERS,
    extraGrants: GRANTS,
    changes: CHANGES,
    pollMs: POLL_MS,
    change: `server-side apply of TopicGrant ${PROBE_GRANT} (subject User ${PROBE_USER}, topic ${PROBE_TOPIC}, describe), effect alternating Deny / Allow`,
    client: 'tools/kafka-wire/client.ts, one TLS connection per broker pod, SCRAM-SHA-512 as the probe user (password from its connection Secret), Metadata v8 every pollMs: TOPIC_AUTHORIZATION_FAILED = denied',
    operator: 'manifests/overlays/cluster-wide via installBulwark: 2 replicas, memory limit 1Gi',
  },
  brokers: BROKERS,
  p50Ms: all?.p50 ?? null,
  p99Ms: all?.p99 ?? null,
  goalMs: GOAL_MS,
  p99OverGoal: all ? round(all.p99 / GOAL_MS, 3) : null,
  allBrokersMs: all,
  perBrokerMs: perBroker,
  statusReadyMs: status,
  byEffect,
  probes: probes.map((p) => ({ pod: p.pod, answers: p.answers, reconnects: p.reconnects })),
  load,
  snapshot: snapshotInfo,
  operator,
  timings,
  changes,
  errors,
  seconds: round(seconds(0)),
};
mkdirSync(dirname(OUT), { recursive: true });
writeFileSync(OUT, `${JSON.stringify(result, null, 2)}\n`);
if (all) console.log(`propagation, ${BROKERS} brokers, ${USERS} users, ${changes.length} changes: every broker p50 ${all.p50} ms, p99 ${all.p99} ms (max ${all.max}); p99 / ${GOAL_MS} ms goal = ${result.p99OverGoal}; status Ready p50 ${status?.p50} ms p99 ${status?.p99} ms`);
if (errors.length) console.log(`${errors.length} error(s): ${errors.map((e) => `${e.step}: ${e.error.split('\n')[0]}`).join('; ')}`);
progress(`wrote ${OUT}`);
process.exitCode = errors.length ? 1 : 0;
