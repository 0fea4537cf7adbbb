// Cluster benchmark (issue 14): three of our brokers beside a three-node Apache Kafka cluster, the
// same client, settings and data, in one run. bench/broker.ts compares one broker a side; this one
// compares clusters, where a client spreads its batches over the partition leaders of every broker.
//
// Kafka: three KRaft nodes (broker+controller each, one static voter set; scripts/kafka-peer.sh
// start --node-id/--voters/--cluster-id), topics made with TopicCommand: PARTITIONS partitions,
// replication factor 1.
// Ours: three `bulwark broker` processes in operator mode (an internal listener with mTLS, as in a
// pod), and this script plays the operator: it pushes the open policy (bench/fixtures/open-policy,
// compiled with src/policy) and a ClusterState placing PARTITIONS partitions of every topic over
// the three brokers (src/cluster assignPartitions), replication factor 1. Each a separate process,
// as Kafka's nodes are.
//
// Client, as bench/broker.ts (bench/perf-tools.ts): Kafka's ProducerPerformance and
// ConsumerPerformance from the peer's jars, acks=1, linger.ms=5, batch.size=16384, no compression,
// no idempotence; one bootstrap address (broker 0): the client finds the other leaders through
// Metadata. The default partitioner spreads batches over the partitions. Durability, the same for
// both: no fsync per message (Kafka's defaults; ours flush.messages 2^31-1). The consumer reads
// every partition in a group of one.
//
// Per session (three fresh brokers of one side, in fresh temp dirs): a warm-up produce, then for
// 100 B and 1 KiB records: produce (unthrottled, the first 20% excluded), consume (the same
// records from the beginning), latency (at LATENCY_RATE records/s). Rounds alternate the order;
// each figure is the best over rounds per side, `pairedRatioMedian` the median of ours/Kafka per
// round. Also: the three brokers' CPU seconds summed, per record.
//
// `npm run bench:cluster` writes bench/results/cluster.json. Env: BENCH_CLUSTER_ROUNDS (2),
// BENCH_CLUSTER_SCALE (2), BENCH_CLUSTER_PARTITIONS (6), BENCH_CLUSTER_ONLY (ours|kafka),
// BENCH_CLUSTER_OUT.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { assignPartitions, pushClusterState, type ClusterState } from '../src/cluster/index.ts';
import type { DistributionTls } from '../src/lib/index.ts';
import { createCa, issueCertificate } from '../src/pki/index.ts';
import { loadPolicyDirectory, pushSnapshot, sealSnapshot } from '../src/policy/index.ts';
import { BENCH_OUR_FLUSH, benchProducerProps, benchShapes, LATENCY, perfTools, WARMUP_FRACTION, WARMUP_SESSION_RECORDS, type ConsumeResult, type ProduceResult } from './perf-tools.ts';
import { buildOurs, cpuSeconds, freePort, loadavgNow, log, machineInfo, median, MiB, OURS_SOURCE, ourBrokerEntry, REPO, round, startServer, stop, stopAll, type Peer } from './peers.ts';

const ROUNDS = Number(process.env.BENCH_CLUSTER_ROUNDS ?? 2);
const SCALE = Number(process.env.BENCH_CLUSTER_SCALE ?? 2);
const PARTITIONS = Number(process.env.BENCH_CLUSTER_PARTITIONS ?? 6);
const ONLY = process.env.BENCH_CLUSTER_ONLY as Peer | undefined;
const BROKERS = 3;
const SHAPES = benchShapes(SCALE);
const { rate: LATENCY_RATE, records: LATENCY_RECORDS, warmup: LATENCY_WARMUP } = LATENCY;
const PRODUCER_PROPS = benchProducerProps('1');
const OUR_FLUSH = BENCH_OUR_FLUSH;
const OPERATOR_CN = 'bulwark-operator';
const KAFKA_HEAP = '768m';
const OPEN_POLICY = join(REPO, 'bench', 'fixtures', 'open-policy');
const topicsOf = () => ['warmup', ...SHAPES.flatMap((s) => [`bench-${s.name}`, `latency-${s.name}`])];

const started = performance.now();
log('resolving Apache Kafka jars (scripts/kafka-peer.sh env)…');
const tools = perfTools({ producerProps: PRODUCER_PROPS, consumerFetchBytes: MiB, heap: '-Xmx512m', timeoutMs: 240_000 });
log(`Kafka ${tools.kenv.KAFKA_VERSION}, ${tools.kenv.javaVersion}`);

interface RunningCluster {
  /** One bootstrap address, broker 0's. */
  bootstrap: string;
  pids: number[];
  describe: string;
  stop(): Promise<void>;
}

async function startKafkaCluster(dir: string): Promise<RunningCluster> {
  const ports = await Promise.all(Array.from({ length: BROKERS }, async () => ({ kafka: await freePort(), controller: await freePort() })));
  const voters = ports.map((p, i) => `${i + 1}@127.0.0.1:${p.controller}`).join(',');
  const id = (await tools.javaTool('kafka.tools.StorageTool', ['random-uuid'])).stdout.trim().split('\n').at(-1)!;
  const nodes = await Promise.all(
    ports.map((p, i) =>
      startServer('bash', [join(REPO, 'scripts', 'kafka-peer.sh'), 'start', '--dir', join(dir, `kafka-${i + 1}`), '--port', String(p.kafka), '--controller-port', String(p.controller), '--node-id', String(i + 1), '--voters', voters, '--cluster-id', id, '--heap', KAFKA_HEAP], process.env, /^kafka-peer: Kafka .* on /, 180_000),
    ),
  );
  const bootstrap = `127.0.0.1:${ports[0]!.kafka}`;
  for (const topic of topicsOf()) {
    const r = await tools.javaTool('org.apache.kafka.tools.TopicCommand', ['--bootstrap-server', bootstrap, '--create', '--topic', topic, '--partitions', String(PARTITIONS), '--replication-factor', '1']);
    if (r.code !== 0) throw new Error(`TopicCommand --create ${topic} failed (exit ${r.code}): ${r.stderr.slice(-1500)}`);
  }
  return {
    bootstrap,
    pids: nodes.map((n) => Number(/ pid (\d+)/.exec(n.line)?.[1])),
    describe: `Apache Kafka ${tools.kenv.KAFKA_VERSION}, ${BROKERS} KRaft nodes (broker+controller), -Xmx${KAFKA_HEAP} each`,
    stop: async () => {
      for (const n of nodes) await stop(n.child, 30_000);
    },
  };
}

async function startOurCluster(dir: string): Promise<RunningCluster> {
  buildOurs(REPO);
  const ca = await createCa({ commonName: 'bench cluster CA', validDays: 1 });
  const server = await issueCertificate({ ca, commonName: 'broker', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], usage: 'server', validDays: 1 });
  const operator = await issueCertificate({ ca, commonName: OPERATOR_CN, usage: 'client', validDays: 1 });
  const file = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text, { mode: 0o600 });
    return p;
  };
  const tls = { certFile: file('server.crt', server.certPem), keyFile: file('server.key', server.keyPem), caFile: file('ca.crt', ca.certPem), clientAuth: 'required' };
  const clusterId = `bench-${randomBytes(4).toString('hex')}`;
  const ports = await Promise.all(Array.from({ length: BROKERS }, async () => ({ kafka: await freePort(), internal: await freePort() })));
  const procs = await Promise.all(
    ports.map((p, id) => {
      const config = {
        brokerId: id,
        clusterId,
        dataDir: join(dir, `broker-${id}`, 'data'),
        kafka: { host: '127.0.0.1', port: p.kafka, authentication: ['anonymous'] },
        http: { enabled: false },
        internal: { enabled: true, host: '127.0.0.1', port: p.internal, tls, clients: [OPERATOR_CN] },
        auth: { rootUser: false },
        log: { flush: OUR_FLUSH },
        groups: { initialRebalanceDelayMs: 0 },
      };
      const configFile = file(`broker-${id}.json`, JSON.stringify(config));
      return startServer(process.execPath, [...ourBrokerEntry(REPO).args, 'broker', '--config', configFile], { ...process.env }, /Kafka on/, 60_000);
    }),
  );
  // The operator's part: the open policy, then the ClusterState.
  const operatorTls: DistributionTls = { ca: ca.certPem, cert: operator.certPem, key: operator.keyPem };
  const policy = sealSnapshot((await loadPolicyDirectory(OPEN_POLICY, { saltKey: randomBytes(32) })).snapshot, 1);
  const brokers = ports.map((p, id) => ({ id, host: '127.0.0.1', port: p.kafka, rack: null }));
  const state: ClusterState = {
    clusterId,
    version: 1,
    controllerId: 0,
    brokers,
    topics: topicsOf().map((name) => ({ name, id: randomBytes(16).toString('hex'), partitions: assignPartitions(brokers, name, PARTITIONS, 1), config: {} })),
  };
  for (const [id, p] of ports.entries()) {
    const target = { host: '127.0.0.1', port: p.internal };
    const r = await pushSnapshot(target, operatorTls, policy);
    if (r.outcome !== 'applied') throw new Error(`policy push to broker ${id}: ${JSON.stringify(r)}`);
    const c = await pushClusterState(target, operatorTls, state);
    if (c.outcome !== 'applied') throw new Error(`ClusterState push to broker ${id}: ${JSON.stringify(c)}`);
  }
  return {
    bootstrap: `127.0.0.1:${ports[0]!.kafka}`,
    pids: procs.map((p) => p.child.pid!),
    describe: `${ourBrokerEntry(REPO).command} broker --config (operator mode), ${BROKERS} processes`,
    stop: async () => {
      for (const p of procs) await stop(p.child);
    },
  };
}

/** Runs `fn` and adds the brokers' CPU time over it, summed. */
async function withCpu<T extends { records: number }>(pids: number[], totalRecords: number, fn: () => Promise<T>): Promise<T & { brokerCpuSeconds: number; brokerCpuUsPerRecord: number }> {
  const sum = () => pids.reduce((s, pid) => s + cpuSeconds(pid), 0);
  const c0 = sum();
  const r = await fn();
  const cpu = sum() - c0;
  return { ...r, brokerCpuSeconds: round(cpu, 2), brokerCpuUsPerRecord: round((cpu * 1e6) / totalRecords, 2) };
}

interface SessionResult {
  peer: Peer;
  round: number;
  describe: string;
  produce: Record<string, ProduceResult>;
  consume: Record<string, ConsumeResult>;
  latency: Record<string, ProduceResult>;
}

const errors: { peer: Peer; round: number; step: string; error: string }[] = [];
const root = mkdtempSync(join(tmpdir(), 'bulwark-bench-cluster-'));
const sessions: SessionResult[] = [];
const loadStart = loadavgNow();

async function session(peer: Peer, r: number): Promise<void> {
  const dir = join(root, `${peer}-${r}`);
  mkdirSync(dir, { recursive: true });
  let step = 'start';
  let cluster: RunningCluster | undefined;
  const res: SessionResult = { peer, round: r, describe: '', produce: {}, consume: {}, latency: {} };
  try {
    cluster = peer === 'ours' ? await startOurCluster(dir) : await startKafkaCluster(dir);
    res.describe = cluster.describe;
    log(`round ${r} ${peer}: ${cluster.describe}, bootstrap ${cluster.bootstrap}`);
    const c = cluster;
    step = 'warm-up';
    await tools.produce(c.bootstrap, 'warmup', 100, WARMUP_SESSION_RECORDS, -1, 0);
    for (const shape of SHAPES) {
      step = `produce/${shape.name}`;
      const p = await withCpu(c.pids, shape.records, () => tools.produce(c.bootstrap, `bench-${shape.name}`, shape.recordBytes, shape.records, -1, Math.round(shape.records * WARMUP_FRACTION)));
      res.produce[shape.name] = p;
      log(`round ${r} ${peer}: produce ${shape.name}: ${p.recordsPerSec.toLocaleString()} rec/s, ${p.mbPerSec} MB/s, p99 ${p.p99Ms} ms; brokers' CPU ${p.brokerCpuUsPerRecord} us/rec`);
      step = `consume/${shape.name}`;
      const k = await withCpu(c.pids, shape.records, () => tools.consume(c.bootstrap, `bench-${shape.name}`, shape.recordBytes, shape.records));
      res.consume[shape.name] = k;
      log(`round ${r} ${peer}: consume ${shape.name}: ${k.recordsPerSec.toLocaleString()} rec/s, ${k.mbPerSec} MB/s (join ${k.rebalanceMs} ms); brokers' CPU ${k.brokerCpuUsPerRecord} us/rec`);
      step = `latency/${shape.name}`;
      const l = await withCpu(c.pids, LATENCY_RECORDS, () => tools.produce(c.bootstrap, `latency-${shape.name}`, shape.recordBytes, LATENCY_RECORDS, LATENCY_RATE, LATENCY_WARMUP));
      res.latency[shape.name] = l;
      log(`round ${r} ${peer}: latency ${shape.name} at ${LATENCY_RATE.toLocaleString()} rec/s: p50 ${l.p50Ms} ms, p99 ${l.p99Ms} ms`);
    }
  } catch (err) {
    const msg = (err as Error).message;
    errors.push({ peer, round: r, step, error: msg.slice(0, 4000) });
    log(`round ${r} ${peer}: FAILED at ${step}: ${msg.split('\n').slice(0, 6).join(' | ')}`);
  } finally {
    if (cluster) await cluster.stop().catch((e: Error) => errors.push({ peer, round: r, step: 'stop', error: e.message }));
    rmSync(dir, { recursive: true, force: true });
  }
  sessions.push(res);
}

try {
  for (let r = 1; r <= ROUNDS; r++) {
    const order: Peer[] = r % 2 === 1 ? ['ours', 'kafka'] : ['kafka', 'ours'];
    for (const peer of order) if (!ONLY || ONLY === peer) await session(peer, r);
  }
} finally {
  await stopAll();
  rmSync(root, { recursive: true, force: true });
}

// --- report ------------------------------------------------------------------------------------------

const cases: Record<string, unknown>[] = [];
const ratios: Record<string, number | null> = {};
for (const shape of SHAPES) {
  for (const metric of ['produce', 'consume'] as const) {
    const runs = (peer: Peer) => sessions.filter((s) => s.peer === peer && s[metric][shape.name]).map((s) => ({ round: s.round, r: s[metric][shape.name]! }));
    const best = (xs: ReturnType<typeof runs>) => (xs.length ? xs.reduce((a, b) => (b.r.recordsPerSec > a.r.recordsPerSec ? b : a)).r : null);
    const o = runs('ours');
    const k = runs('kafka');
    const bo = best(o);
    const bk = best(k);
    const paired = o.flatMap((x) => k.filter((y) => y.round === x.round).map((y) => x.r.recordsPerSec / y.r.recordsPerSec));
    const name = `${metric}/${shape.name}`;
    ratios[name] = bo && bk ? round(bo.recordsPerSec / bk.recordsPerSec, 3) : null;
    cases.push({
      case: name,
      recordBytes: shape.recordBytes,
      records: shape.records,
      ours: bo && { ...bo, runsRecordsPerSec: o.map((x) => x.r.recordsPerSec) },
      kafka: bk && { ...bk, runsRecordsPerSec: k.map((x) => x.r.recordsPerSec) },
      ratio: ratios[name],
      pairedRatioMedian: paired.length ? round(median(paired), 3) : null,
    });
  }
  const lat = (peer: Peer) => sessions.filter((s) => s.peer === peer && s.latency[shape.name]).map((s) => s.latency[shape.name]!);
  const lowest = (xs: ProduceResult[]) => (xs.length ? xs.reduce((a, b) => (b.p99Ms < a.p99Ms ? b : a)) : null);
  const lo = lowest(lat('ours'));
  const lk = lowest(lat('kafka'));
  const name = `latency/${shape.name}`;
  ratios[`${name}/p99OursOverKafka`] = lo && lk ? round(lo.p99Ms / Math.max(lk.p99Ms, 1), 3) : null;
  cases.push({ case: name, recordBytes: shape.recordBytes, rateRecordsPerSec: LATENCY_RATE, ours: lo, kafka: lk, p99OursOverKafka: ratios[`${name}/p99OursOverKafka`] });
}

console.log(JSON.stringify({ ratios }));
const result = {
  benchmark: 'cluster',
  date: new Date().toISOString(),
  machine: { ...machineInfo(), java: tools.kenv.javaVersion, loadavgStart: loadStart, loadavgEnd: loadavgNow() },
  settings: {
    brokers: BROKERS,
    partitionsPerTopic: PARTITIONS,
    replicationFactor: 1,
    bootstrap: 'broker 0 only; the client learns the other leaders from Metadata',
    client: { tools: 'org.apache.kafka.tools.ProducerPerformance, ConsumerPerformance', version: tools.kenv.KAFKA_VERSION, producerProps: PRODUCER_PROPS, consumer: 'group of one, every partition, fetch size 1 MiB' },
    kafka: `${BROKERS} KRaft nodes, process.roles=broker,controller, static voters, -Xmx${KAFKA_HEAP} each, topics by TopicCommand`,
    ours: { source: OURS_SOURCE, mode: 'operator mode: internal listener (mTLS); this script pushes the open policy and the ClusterState as the operator does', flush: OUR_FLUSH },
    durability: 'no fsync per message on either side; acks=1',
    records: Object.fromEntries(SHAPES.map((s) => [s.name, s.records])),
    rounds: ROUNDS,
    order: 'one cluster at a time; odd rounds ours first, even rounds Kafka first',
  },
  cases,
  ratios,
  sessions,
  errors,
  seconds: round((performance.now() - started) / 1000),
};
const out = process.env.BENCH_CLUSTER_OUT ?? (ONLY ? join(tmpdir(), 'bulwark-bench-cluster.json') : join(import.meta.dirname, 'results', 'cluster.json'));
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
log(`wrote ${out}${errors.length ? ` (${errors.length} errors)` : ''}`);
