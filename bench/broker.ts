// Broker benchmark: produce and consume throughput and produce latency of our broker beside
// Apache Kafka (KRaft, single node, from its Maven Central jars: tools/kafka/pom.xml, started by
// scripts/kafka-peer.sh), with the same client, settings and data, in one run; and beside the
// machine's ceilings measured in the same run.
//
// Client, the same for both brokers: Kafka's own Java perf tools from the same jars
// (org.apache.kafka.tools.ProducerPerformance and ConsumerPerformance), one JVM per run (-Xmx512m).
// Producer: acks=1 (BENCH_BROKER_ACKS), linger.ms=5, batch.size=16384, no compression, no
// idempotence, 5 requests in flight, buffer.memory 32 MiB (the default). Consumer: a group member
// (classic protocol), fetch size 1 MiB, from the earliest offset.
// Durability, the same for both: no fsync per message or batch. Kafka by default never flushes on
// a count or timer (log.flush.interval.messages = Long.MAX_VALUE); ours runs with flush
// { mode: 'messages', messages: 2^31-1 }. Both ack after the write to the page cache.
// Both: one partition per topic, auto-created; initial group rebalance delay 0.
//
// Per broker session (a fresh broker in a fresh temp dir, one broker at a time): a warm-up produce,
// then for 100 B and 1 KiB records:
// - produce: N records unthrottled (--throughput -1), the first 20% excluded as warm-up
//   (--warmup-records); throughput, and p50/p99 latency at saturation (that latency is mostly
//   time queued in the producer's 32 MiB buffer, so it mirrors throughput);
// - consume: the same N records from offset 0; throughput over the fetch time (after the group
//   join, which ConsumerPerformance reports apart);
// - latency: produce at a fixed rate both brokers sustain (LATENCY_RATE records/s): p50/p99.
// Sessions alternate: round 1 ours then Kafka, round 2 Kafka then ours, ...; each figure is the
// best over rounds per side; `pairedRatioMedian` is the median over rounds of ours/Kafka.
//
// Also recorded: the broker process's CPU time (user + system, /proc) over each tool run, per
// record produced or consumed (warm-up records and the tool's JVM start-up included): on this
// 2-core machine the client JVM shares the cores, so this shows each broker's cost apart from it.
//
// Ceilings, in the same run: loopback TCP (a child node process discards what one client writes
// in 64 KiB chunks for 3 s), and the append ceiling: fs.writeSync of 16 KiB chunks to a file in
// os.tmpdir() (where the brokers' data dirs are), 256 MiB, as bench/log.ts's raw write.
//
// MB is 10^6 bytes of record values (ProducerPerformance prints MiB; figures here are recomputed).
// Processes, the two brokers and the ceilings come from bench/peers.ts (shared with
// bench/broker-ingest.ts; its BENCH_OURS_TREE and BENCH_OURS_ENV apply here too).
// `npm run bench:broker` writes bench/results/broker.json. Env: BENCH_BROKER_ROUNDS (3),
// BENCH_BROKER_SCALE (2: multiplies record counts; at 1 a consume window is under a second and
// single windows spread 160-270 k rec/s for both brokers), BENCH_BROKER_ACKS (1), BENCH_BROKER_ONLY
// (ours|kafka), BENCH_BROKER_CPU_PROF (a dir: run our broker under node --cpu-prof), BENCH_BROKER_OUT
// (output path; runs with BENCH_BROKER_ONLY or BENCH_BROKER_CPU_PROF write to os.tmpdir() unless set).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { cpuSeconds, loadavgNow, log, logJsonRawWrite, loopbackCeiling, machineInfo, median, MiB, OUR_BROKER, rawWriteCeiling, round, startKafka, startOurs, stopAll, type Peer, type RunningBroker } from './peers.ts';
import { BENCH_OUR_FLUSH, benchProducerProps, benchShapes, LATENCY, perfTools, WARMUP_FRACTION, WARMUP_SESSION_RECORDS, type ConsumeResult, type ProduceResult } from './perf-tools.ts';

const ROUNDS = Number(process.env.BENCH_BROKER_ROUNDS ?? 3);
const SCALE = Number(process.env.BENCH_BROKER_SCALE ?? 2);
const ACKS = process.env.BENCH_BROKER_ACKS ?? '1';
const ONLY = process.env.BENCH_BROKER_ONLY as Peer | undefined;
const CPU_PROF = process.env.BENCH_BROKER_CPU_PROF;
const SHAPES = benchShapes(SCALE);
const { rate: LATENCY_RATE, records: LATENCY_RECORDS, warmup: LATENCY_WARMUP } = LATENCY;
const PRODUCER_PROPS = benchProducerProps(ACKS);
const CONSUMER_FETCH_SIZE = MiB;
const CLIENT_HEAP = '-Xmx512m';
const OUR_FLUSH = BENCH_OUR_FLUSH;
const OURS_ENV = { BULWARK_LOG_FLUSH: JSON.stringify(OUR_FLUSH), BULWARK_GROUPS_INITIAL_REBALANCE_DELAY_MS: '0' };
const TOOL_TIMEOUT_MS = 180_000;

const started = performance.now();

/** Runs `fn` and adds the broker's CPU time over it (whole tool run, warm-up records included). */
async function withCpu<T extends { records: number }>(pid: number, totalRecords: number, fn: () => Promise<T>): Promise<T & { brokerCpuSeconds: number; brokerCpuUsPerRecord: number }> {
  const c0 = cpuSeconds(pid);
  const r = await fn();
  const cpu = cpuSeconds(pid) - c0;
  return { ...r, brokerCpuSeconds: round(cpu, 2), brokerCpuUsPerRecord: round((cpu * 1e6) / totalRecords, 2) };
}

// --- Kafka jars and the Java client ------------------------------------------------------------------

log('resolving Apache Kafka jars (scripts/kafka-peer.sh env)…');
const tools = perfTools({ producerProps: PRODUCER_PROPS, consumerFetchBytes: CONSUMER_FETCH_SIZE, heap: CLIENT_HEAP, timeoutMs: TOOL_TIMEOUT_MS });
const kenv = tools.kenv;
const javaVersion = kenv.javaVersion;
log(`Kafka ${kenv.KAFKA_VERSION}, ${javaVersion}`);
const produce = (port: number, topic: string, recordBytes: number, records: number, throughput: number, warmup: number) => tools.produce(`127.0.0.1:${port}`, topic, recordBytes, records, throughput, warmup);
const consume = (port: number, topic: string, recordBytes: number, records: number) => tools.consume(`127.0.0.1:${port}`, topic, recordBytes, records);

// --- the run -----------------------------------------------------------------------------------------

interface SessionResult {
  peer: Peer;
  round: number;
  describe: string;
  /** 1-minute load average at the session's start and end (the machine is shared). */
  loadavg1m: number[];
  produce: Record<string, ProduceResult>;
  consume: Record<string, ConsumeResult>;
  latency: Record<string, ProduceResult>;
}

const errors: { peer: Peer; round: number; step: string; error: string }[] = [];
const root = mkdtempSync(join(tmpdir(), 'bulwark-bench-broker-'));
const sessions: SessionResult[] = [];
const loadStart = loadavgNow();
let loopback!: Awaited<ReturnType<typeof loopbackCeiling>>;
let rawWrite!: ReturnType<typeof rawWriteCeiling>;

async function session(peer: Peer, r: number): Promise<void> {
  const dir = join(root, `${peer}-${r}`);
  mkdirSync(dir, { recursive: true });
  let step = 'start';
  let broker: RunningBroker | undefined;
  const res: SessionResult = { peer, round: r, describe: '', loadavg1m: [round(loadavg()[0]!, 2)], produce: {}, consume: {}, latency: {} };
  try {
    broker = peer === 'ours' ? await startOurs(join(dir, 'data'), { env: OURS_ENV, cpuProfDir: CPU_PROF }) : await startKafka(dir);
    res.describe = broker.describe;
    log(`round ${r} ${peer}: ${broker.describe}`);
    step = 'warm-up';
    await produce(broker.port, 'warmup', 100, WARMUP_SESSION_RECORDS, -1, 0);
    for (const shape of SHAPES) {
      const topic = `bench-${shape.name}`;
      step = `produce/${shape.name}`;
      const p = await withCpu(broker.pid, shape.records, () => produce(broker!.port, topic, shape.recordBytes, shape.records, -1, Math.round(shape.records * WARMUP_FRACTION)));
      res.produce[shape.name] = p;
      log(`round ${r} ${peer}: produce ${shape.name}: ${p.recordsPerSec.toLocaleString()} rec/s, ${p.mbPerSec} MB/s, p50 ${p.p50Ms} ms, p99 ${p.p99Ms} ms; broker CPU ${p.brokerCpuUsPerRecord} us/rec`);
      step = `consume/${shape.name}`;
      const c = await withCpu(broker.pid, shape.records, () => consume(broker!.port, topic, shape.recordBytes, shape.records));
      res.consume[shape.name] = c;
      log(`round ${r} ${peer}: consume ${shape.name}: ${c.recordsPerSec.toLocaleString()} rec/s, ${c.mbPerSec} MB/s (join ${c.rebalanceMs} ms); broker CPU ${c.brokerCpuUsPerRecord} us/rec`);
      step = `latency/${shape.name}`;
      const l = await withCpu(broker.pid, LATENCY_RECORDS, () => produce(broker!.port, `latency-${shape.name}`, shape.recordBytes, LATENCY_RECORDS, LATENCY_RATE, LATENCY_WARMUP));
      res.latency[shape.name] = l;
      log(`round ${r} ${peer}: latency ${shape.name} at ${LATENCY_RATE.toLocaleString()} rec/s: p50 ${l.p50Ms} ms, p99 ${l.p99Ms} ms, max ${l.maxMs} ms`);
    }
  } catch (err) {
    const msg = (err as Error).message;
    errors.push({ peer, round: r, step, error: msg.slice(0, 4000) });
    log(`round ${r} ${peer}: FAILED at ${step}: ${msg.split('\n').slice(0, 6).join(' | ')}`);
  } finally {
    step = 'stop';
    if (broker) await broker.stop().catch((e: Error) => errors.push({ peer, round: r, step, error: e.message }));
    rmSync(dir, { recursive: true, force: true });
  }
  res.loadavg1m.push(round(loadavg()[0]!, 2));
  sessions.push(res);
}

try {
  log('ceiling: loopback TCP');
  loopback = await loopbackCeiling();
  log(`loopback: ${loopback.mbPerSec} MB/s (${loopback.runsMbPerSec.join(', ')})`);
  log('ceiling: raw sequential write');
  rawWrite = rawWriteCeiling(root);
  log(`raw write: ${rawWrite.mbPerSec} MB/s (${rawWrite.runsMbPerSec.join(', ')})`);
  for (let r = 1; r <= ROUNDS; r++) {
    const order: Peer[] = r % 2 === 1 ? ['ours', 'kafka'] : ['kafka', 'ours'];
    for (const peer of order) if (!ONLY || ONLY === peer) await session(peer, r);
  }
} finally {
  await stopAll();
  rmSync(root, { recursive: true, force: true });
}

// --- report ------------------------------------------------------------------------------------------

type Metric = 'produce' | 'consume' | 'latency';
const of = (peer: Peer, metric: Metric, shape: string) =>
  sessions
    .filter((s) => s.peer === peer && s[metric][shape])
    .map((s) => ({ round: s.round, r: s[metric][shape] as ProduceResult & ConsumeResult }));

const cpuPer = (r: object) => (r as { brokerCpuUsPerRecord: number }).brokerCpuUsPerRecord;
const cases: Record<string, unknown>[] = [];
const ratios: Record<string, number | null> = {};
const targets: Record<string, Record<string, boolean | null>> = {
  produceThroughputAtLeast1xKafka: {},
  consumeThroughputAtLeast1xKafka: {},
  p99LatencyNoWorseThanKafka: {},
  produceAtLeast050OfAppendCeiling: {},
};
const ceilingRatios: Record<string, unknown> = {};

for (const shape of SHAPES) {
  const base = { recordBytes: shape.recordBytes };
  for (const metric of ['produce', 'consume'] as const) {
    const o = of('ours', metric, shape.name);
    const k = of('kafka', metric, shape.name);
    const bestOf = (xs: typeof o) => (xs.length ? xs.reduce((a, b) => (b.r.recordsPerSec > a.r.recordsPerSec ? b : a)).r : null);
    const bo = bestOf(o);
    const bk = bestOf(k);
    const ratio = bo && bk ? round(bo.recordsPerSec / bk.recordsPerSec, 3) : null;
    const paired = o.flatMap((x) => k.filter((y) => y.round === x.round).map((y) => x.r.recordsPerSec / y.r.recordsPerSec));
    const name = `${metric}/${shape.name}`;
    const side = (b: typeof bo, xs: typeof o) =>
      b && {
        ...b,
        runsRecordsPerSec: xs.map((x) => x.r.recordsPerSec),
        ...(metric === 'produce' ? { runsP99Ms: xs.map((x) => x.r.p99Ms) } : {}),
      };
    const entry: Record<string, unknown> = {
      case: name,
      op: metric,
      ...base,
      records: shape.records,
      measuredRecords: metric === 'produce' ? shape.records - Math.round(shape.records * WARMUP_FRACTION) : shape.records,
      aggregate: `best of ${ROUNDS} rounds per side (throughput)`,
      ours: side(bo, o),
      kafka: side(bk, k),
      ratio,
      pairedRatioMedian: paired.length ? round(median(paired), 3) : null,
      brokerCpuPerRecordOursOverKafka: bo && bk ? round(cpuPer(bo) / cpuPer(bk), 3) : null,
    };
    if (metric === 'produce') {
      entry.latencyNote = 'p50/p99 here are at saturation (unthrottled): mostly time queued in the 32 MiB producer buffer; see latency/* for latency at a fixed rate';
      entry.ofAppendCeiling = { ours: bo ? round(bo.mbPerSec / rawWrite!.mbPerSec, 3) : null, kafka: bk ? round(bk.mbPerSec / rawWrite!.mbPerSec, 3) : null };
      entry.ofLoopback = { ours: bo ? round(bo.mbPerSec / loopback!.mbPerSec, 3) : null, kafka: bk ? round(bk.mbPerSec / loopback!.mbPerSec, 3) : null };
      targets.produceThroughputAtLeast1xKafka![shape.name] = ratio === null ? null : ratio >= 1;
      targets.produceAtLeast050OfAppendCeiling![shape.name] = bo ? bo.mbPerSec / rawWrite!.mbPerSec >= 0.5 : null;
      ceilingRatios[name] = entry.ofAppendCeiling;
    } else {
      entry.ofLoopback = { ours: bo ? round(bo.mbPerSec / loopback!.mbPerSec, 3) : null, kafka: bk ? round(bk.mbPerSec / loopback!.mbPerSec, 3) : null };
      targets.consumeThroughputAtLeast1xKafka![shape.name] = ratio === null ? null : ratio >= 1;
    }
    ratios[name] = ratio;
    cases.push(entry);
  }
  // Latency at a fixed rate: each side's run with the lowest p99.
  const o = of('ours', 'latency', shape.name);
  const k = of('kafka', 'latency', shape.name);
  const lowest = (xs: typeof o) => (xs.length ? xs.reduce((a, b) => (b.r.p99Ms < a.r.p99Ms ? b : a)).r : null);
  const lo = lowest(o);
  const lk = lowest(k);
  const name = `latency/${shape.name}`;
  const p99Ratio = lo && lk ? round(lo.p99Ms / Math.max(lk.p99Ms, 1), 3) : null;
  cases.push({
    case: name,
    op: 'produce-latency',
    ...base,
    rateRecordsPerSec: LATENCY_RATE,
    records: LATENCY_RECORDS,
    measuredRecords: LATENCY_RECORDS - LATENCY_WARMUP,
    aggregate: `run with the lowest p99 of ${ROUNDS} rounds per side; ms resolution (ProducerPerformance)`,
    ours: lo && { ...lo, runsP50Ms: o.map((x) => x.r.p50Ms), runsP99Ms: o.map((x) => x.r.p99Ms) },
    kafka: lk && { ...lk, runsP50Ms: k.map((x) => x.r.p50Ms), runsP99Ms: k.map((x) => x.r.p99Ms) },
    p50OursOverKafka: lo && lk ? round(lo.p50Ms / Math.max(lk.p50Ms, 1), 3) : null,
    p99OursOverKafka: p99Ratio,
  });
  ratios[`${name}/p99OursOverKafka`] = p99Ratio;
  targets.p99LatencyNoWorseThanKafka![shape.name] = lo && lk ? lo.p99Ms <= lk.p99Ms : null;
}

const summary = { ratios, ofAppendCeiling: ceilingRatios, targets };
console.log(JSON.stringify(summary));
const result = {
  benchmark: 'broker',
  date: new Date().toISOString(),
  machine: { ...machineInfo(), java: javaVersion, loadavgStart: loadStart, loadavgEnd: loadavgNow() },
  settings: {
    client: {
      name: 'Apache Kafka perf tools: org.apache.kafka.tools.ProducerPerformance, ConsumerPerformance',
      version: kenv.KAFKA_VERSION,
      jvm: CLIENT_HEAP,
      why: 'Kafka’s own Java client and tools, from the same jars as the peer, the same for both brokers (it negotiates API versions with ours and works)',
      producerProps: PRODUCER_PROPS,
      consumer: { fetchSizeBytes: CONSUMER_FETCH_SIZE, groupProtocol: 'classic', from: 'earliest' },
    },
    peer: {
      name: 'Apache Kafka',
      version: kenv.KAFKA_VERSION,
      mode: 'KRaft single node (process.roles=broker,controller, node.id=1), 127.0.0.1',
      from: 'Maven Central jars (tools/kafka/pom.xml) via scripts/kafka-peer.sh, plain java class path',
      jvm: '-Xms1g -Xmx1g -XX:+UseG1GC -XX:MaxGCPauseMillis=20 (kafka-server-start.sh defaults)',
    },
    ours: { ...OUR_BROKER, env: { ...OUR_BROKER.env, ...OURS_ENV }, cpuProfile: CPU_PROF ?? null },
    durability: {
      kafka: 'defaults: log.flush.interval.messages = Long.MAX_VALUE, no flush interval: no fsync (page cache)',
      ours: `flush ${JSON.stringify(OUR_FLUSH)}: no fsync (page cache)`,
      acks: ACKS,
    },
    topics: 'one partition, auto-created on first produce; group.initial.rebalance.delay.ms 0 on both',
    records: Object.fromEntries(SHAPES.map((s) => [s.name, s.records])),
    warmupFraction: WARMUP_FRACTION,
    warmupRecordsPerSession: WARMUP_SESSION_RECORDS,
    latencyRateRecordsPerSec: LATENCY_RATE,
    latencyRecords: LATENCY_RECORDS,
    rounds: ROUNDS,
    order: 'one broker at a time; odd rounds ours then Kafka, even rounds Kafka then ours',
    mb: '10^6 bytes of record values',
  },
  ceilings: { loopback: loopback!, appendRawWrite: rawWrite!, logJson: logJsonRawWrite() },
  cases,
  ...summary,
  sessions,
  errors,
  seconds: round((performance.now() - started) / 1000),
};
// Partial runs (one broker, or profiled) do not replace the committed results unless asked to.
const out = process.env.BENCH_BROKER_OUT ?? (ONLY || CPU_PROF ? join(tmpdir(), 'bulwark-bench-broker.json') : join(import.meta.dirname, 'results', 'broker.json'));
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
log(`wrote ${out}${errors.length ? ` (${errors.length} errors)` : ''}`);
