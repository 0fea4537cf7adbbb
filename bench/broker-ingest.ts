// Broker ingest benchmark: what each broker can take in when the client costs (almost) nothing,
// beside the append ceiling measured in the same run (issue 5: produce >= 0.5 of it).
//
// bench/broker.ts drives both brokers with Kafka's Java perf producer; on 2 cores that client
// takes 1.5 cores and bounds both brokers at 1-2% of the append ceiling. Here the client is
// bench/ingest-load.ts, in its own process: one Produce request built once (RecordBatch v2 with
// its CRC-32C, acks=1, v8, partition 0), written pipelined over CONNECTIONS sockets with INFLIGHT
// requests in flight on each; every response's correlation id and error code are checked. It
// costs 0.1-0.5 cores, mostly the kernel's loopback send (recorded per window).
//
// Cases: 100 B and 1 KiB records, in batches of ~16 KiB (160 x 100 B = 17,597 B; 16 x 1 KiB =
// 16,589 B, as bench/log.ts) and ~1 MiB (9,520 x 100 B = 1,048,525 B; 1,014 x 1 KiB = 1,048,473 B:
// the most that fit in 1 MiB, under Kafka's default max.message.bytes of 1,048,588).
//
// Brokers, one at a time, each in a fresh temp dir under os.tmpdir(), settings as bench/broker.ts:
// no fsync per batch (Kafka's defaults; ours flush { mode: 'messages', messages: 2^31-1 }), acks=1,
// one partition, auto-created (Metadata with allowAutoTopicCreation). Ours also fdatasyncs in the
// background every 32 MiB (src/log/partition.ts), on a libuv thread: that is counted as its CPU.
// Per broker session: a JIT warm-up (every case's load for up to 8 s / 900 MB, on topics of its
// own: Kafka's C2 needs 10-15 s of 16 KiB load here), then per case WINDOWS windows, each on a new
// topic: up to 1 s / 200 MB warm-up, then 800 MB of batches measured. A topic stays under the
// 1 GiB segment size, so no segment roll (and its sync) falls in a window. `sync` runs before and
// after every window, so each starts with no dirty pages and stays under vm.dirty_background_ratio
// (no kernel writeback competing for the two cores, no write throttling); the kernel workers' CPU
// in the window and in the `sync` after it is recorded, as the writeback Kafka leaves to the
// kernel is done there. The broker's files are then dropped from the page cache, so every window
// finds free memory to write into, as the append ceiling does. Sessions alternate: odd rounds ours then Kafka, even rounds Kafka then ours.
// The machine is shared with other jobs: before each window the run waits (up to 90 s) until the
// rest of the machine keeps fewer than 0.35 cores busy; a window during which other jobs kept
// more than that busy (machine - broker - load generator - kernel workers) is run again, up to 4
// times, and kept apart in `discarded`.
//
// Reported per case and broker: record-value MB/s acknowledged (MB = 10^6 bytes of values, as
// bench/broker.ts; batch MB/s beside it), the ratio to the append ceiling (fs.writeSync of 16 KiB
// chunks to the page cache, measured at the start and the end of this run: best of both), the
// ratio to the machine's ceiling for the case (the lower of the loopback rate and fs.writeSync of
// chunks the size of its batch: 1 MiB writes run ~2x faster than 16 KiB ones, 17,597-byte
// unaligned ones ~1.5x slower, so one 16 KiB figure flatters large batches and wrongs small), ours
// over Kafka, and the broker process's CPU seconds per GB of values (utime + stime from
// /proc/<pid>/stat over the window; per thread beside it). Throughput is the best window per side
// (the machine is shared: other users only ever slow a window down); `pairedRatioMedian` is the
// median over rounds of ours' best window over Kafka's; CPU per GB is also given as the median of
// all windows.
//
// `npm run bench:broker-ingest` writes bench/results/broker-ingest.json. Env: BENCH_INGEST_ROUNDS
// (2), BENCH_INGEST_WINDOWS (3 per case and session), BENCH_INGEST_CONNECTIONS (8),
// BENCH_INGEST_INFLIGHT (4 per connection; Kafka handles one request per connection at a time, so
// it needs several connections to use both cores; ours is one event loop either way), BENCH_INGEST_ONLY
// (ours|kafka), BENCH_INGEST_CASES (comma-separated case names), BENCH_INGEST_QUIET_CORES (0.35),
// BENCH_INGEST_QUIET_WAIT (90 s), BENCH_INGEST_CPU_PROF (a dir: our broker under node --cpu-prof),
// BENCH_INGEST_OUT (output path; partial or profiled runs write to os.tmpdir() unless set);
// BENCH_OURS_REF, BENCH_OURS_TREE, BENCH_OURS_ENV: which code of ours runs, with what (bench/peers.ts).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { buildProduceRequest, type IngestResult } from './ingest-load.ts';
import { kworkerSeconds, machineBusySeconds } from './proc.ts';
import { kafkaEnv, loadavgNow, log, logJsonRawWrite, loopbackCeiling, machineInfo, median, OUR_BROKER, rawWriteCeiling, REPO, round, run, sleep, startKafka, startOurs, stopAll, type Ceiling, type Peer, type RunningBroker } from './peers.ts';

const ROUNDS = Number(process.env.BENCH_INGEST_ROUNDS ?? 2);
const CONNECTIONS = Number(process.env.BENCH_INGEST_CONNECTIONS ?? 8);
const INFLIGHT = Number(process.env.BENCH_INGEST_INFLIGHT ?? 4);
const ONLY = process.env.BENCH_INGEST_ONLY as Peer | undefined;
const CPU_PROF = process.env.BENCH_INGEST_CPU_PROF;
const OUR_FLUSH = { mode: 'messages', messages: 2 ** 31 - 1 };
const ACKS = 1;
const PRODUCE_VERSION = 8;
const ALL_CASES = [
  { name: '100B/16KiB', recordBytes: 100, batchRecords: 160 },
  { name: '1KiB/16KiB', recordBytes: 1024, batchRecords: 16 },
  { name: '100B/1MiB', recordBytes: 100, batchRecords: 9520 },
  { name: '1KiB/1MiB', recordBytes: 1024, batchRecords: 1014 },
] as const;
const CASES = process.env.BENCH_INGEST_CASES ? ALL_CASES.filter((c) => process.env.BENCH_INGEST_CASES!.split(',').includes(c.name)) : ALL_CASES;
const WINDOWS = Number(process.env.BENCH_INGEST_WINDOWS ?? 3);
// Kafka's C2 compiler kept working for 10-15 s of 16 KiB load on this machine before its CPU per
// GB settled (7-9 s/GB from 22 in the first seconds).
const JIT_WARMUP = { seconds: 8, bytes: 900e6 };
const CASE_WARMUP = { seconds: 1, bytes: 200e6 };
const MEASURE = { bytes: 800e6, maxSeconds: 15 };
const LOAD_TIMEOUT_MS = 120_000;
// The machine is shared: before each window, wait (up to QUIET.maxSeconds) until the rest of the
// machine keeps less than QUIET.busyCores busy over a second, with our broker idle.
// A window during which other jobs kept more than QUIET.duringCores busy is run again (up to
// QUIET.attempts in all) and kept apart, as `discarded`.
const QUIET = {
  busyCores: Number(process.env.BENCH_INGEST_QUIET_CORES ?? 0.35),
  maxSeconds: Number(process.env.BENCH_INGEST_QUIET_WAIT ?? 90),
  duringCores: Number(process.env.BENCH_INGEST_QUIET_CORES ?? 0.35),
  attempts: 4,
};

type CaseName = (typeof ALL_CASES)[number]['name'];
const topicOf = (prefix: string, name: string) => `${prefix}-${name.replace('/', '-')}`;

if (!CASES.length) throw new Error(`BENCH_INGEST_CASES matches none of ${ALL_CASES.map((c) => c.name).join(', ')}`);
if (ONLY !== undefined && ONLY !== 'ours' && ONLY !== 'kafka') throw new Error('BENCH_INGEST_ONLY must be ours or kafka');

/** Dirty, Writeback and MemFree of /proc/meminfo, MB. */
function memInfoMb(): { dirty: number; writeback: number; free: number } {
  const text = readFileSync('/proc/meminfo', 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { dirty: round(kb('Dirty') / 1000), writeback: round(kb('Writeback') / 1000), free: round(kb('MemFree') / 1000) };
}

/**
 * Drops a broker's files from the page cache (clean after `sync`; `dd iflag=nocache count=0` is
 * posix_fadvise DONTNEED on the whole file), so the cache does not grow over a session. Without
 * it, a session's ~16 GB of windows used up free memory, and both brokers' later cases ran up to
 * 2x slower per GB while the kernel reclaimed pages for every write; the append ceiling is
 * measured with free memory to spare.
 */
function evictPageCache(dataDir: string): void {
  for (const e of readdirSync(dataDir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) spawnSync('dd', [`if=${join(e.parentPath, e.name)}`, 'iflag=nocache', 'count=0', 'status=none']);
  }
}

async function ingest(broker: RunningBroker, topic: string, c: (typeof ALL_CASES)[number], warmup: { seconds: number; bytes: number }, measure: { bytes: number; maxSeconds: number }): Promise<IngestResult> {
  const args = {
    port: broker.port,
    topic,
    'record-bytes': c.recordBytes,
    'batch-records': c.batchRecords,
    connections: CONNECTIONS,
    inflight: INFLIGHT,
    'produce-version': PRODUCE_VERSION,
    acks: ACKS,
    'warmup-seconds': warmup.seconds,
    'warmup-bytes': warmup.bytes,
    'measure-bytes': measure.bytes,
    'max-seconds': measure.maxSeconds,
    'broker-pid': broker.pid,
  };
  const argv = Object.entries(args).flatMap(([k, v]) => [`--${k}`, String(v)]);
  const r = await run(process.execPath, ['--import', 'tsx', join(REPO, 'bench', 'ingest-load.ts'), ...argv], LOAD_TIMEOUT_MS);
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  if (r.code !== 0 || !line.startsWith('{')) throw new Error(`ingest-load failed (exit ${r.code}): ${r.stderr.trim().slice(-2000)}`);
  return JSON.parse(line) as IngestResult;
}

// --- the run -----------------------------------------------------------------------------------------

interface CaseRun {
  peer: Peer;
  round: number;
  case: CaseName;
  window: number;
  attempt: number;
  dirtyMbBefore: number;
  memFreeMbBefore: number;
  /** Before the window: how long it waited for a quiet machine, and the machine's busy cores then. */
  quiet: { waitedSeconds: number; busyCores: number };
  loadavg1m: number;
  /** Cores the rest of the machine kept busy during the window: machine - broker - generator - kernel workers. */
  otherCores: number;
  result: IngestResult;
  dirtyMbAfter: number;
  syncAfter: { seconds: number; kworkerCpuSeconds: number };
}

const started = performance.now();
const kenv = ONLY === 'ours' ? undefined : kafkaEnv();
if (kenv) log(`Kafka ${kenv.KAFKA_VERSION}, ${kenv.javaVersion}`);
const root = mkdtempSync(join(tmpdir(), 'bulwark-bench-ingest-'));
const loadStart = loadavgNow();
const runs: CaseRun[] = [];
const discarded: CaseRun[] = [];
const jitWarmups: { peer: Peer; round: number; case: CaseName; mbPerSec: number; brokerCpuSecondsPerGB: number | null }[] = [];
const errors: { peer: Peer; round: number; step: string; error: string }[] = [];
let loopback!: Ceiling;
let rawStart!: Ceiling;
let rawEnd: Ceiling | undefined;
/** Per case: fs.writeSync of chunks the size of its batch (a broker writes one batch per append). */
const sameSizeWrite: Record<string, Ceiling> = {};
/** Waits until the machine is quiet (see QUIET); returns how long it waited and the last busy figure. */
async function waitQuiet(): Promise<{ waitedSeconds: number; busyCores: number }> {
  const t0 = performance.now();
  for (;;) {
    const b0 = machineBusySeconds();
    await sleep(1000);
    const busyCores = round(machineBusySeconds() - b0, 2);
    const waitedSeconds = round((performance.now() - t0) / 1000, 1);
    if (busyCores < QUIET.busyCores || waitedSeconds >= QUIET.maxSeconds) return { waitedSeconds, busyCores };
  }
}

/** Writes the page cache back (`sync`); returns how long it took and the kernel workers' CPU meanwhile. */
function syncPageCache(): { seconds: number; kworkerCpuSeconds: number } {
  const k0 = kworkerSeconds();
  const t0 = performance.now();
  spawnSync('sync');
  return { seconds: round((performance.now() - t0) / 1000, 2), kworkerCpuSeconds: round(kworkerSeconds() - k0, 2) };
}

async function session(peer: Peer, r: number): Promise<void> {
  const dir = join(root, `${peer}-${r}`);
  mkdirSync(dir, { recursive: true });
  let step = 'start';
  let broker: RunningBroker | undefined;
  try {
    broker =
      peer === 'ours'
        ? await startOurs(join(dir, 'data'), { env: { BULWARK_LOG_FLUSH: JSON.stringify(OUR_FLUSH) }, cpuProfDir: CPU_PROF })
        : await startKafka(dir);
    log(`round ${r} ${peer}: ${broker.describe}`);
    const dataDir = join(dir, 'data'); // both: ours by --data-dir, Kafka by scripts/kafka-peer.sh
    for (const c of CASES) {
      step = `jit-warmup/${c.name}`;
      syncPageCache();
      evictPageCache(dataDir);
      const w = await ingest(broker, topicOf('jit', c.name), c, { seconds: 0, bytes: 0 }, { bytes: JIT_WARMUP.bytes, maxSeconds: JIT_WARMUP.seconds });
      jitWarmups.push({ peer, round: r, case: c.name, mbPerSec: w.measured.mbPerSec, brokerCpuSecondsPerGB: w.broker?.cpuSecondsPerGB ?? null });
      log(`round ${r} ${peer}: JIT warm-up ${c.name}: ${w.measured.mbPerSec} MB/s`);
    }
    for (const c of CASES) {
      for (let w = 1; w <= WINDOWS; w++) {
        for (let attempt = 1; ; attempt++) {
          step = `${c.name} window ${w}`;
          syncPageCache();
          evictPageCache(dataDir);
          const { dirty: dirtyMbBefore, free: memFreeMbBefore } = memInfoMb();
          const quiet = await waitQuiet();
          const loadavg1m = round(loadavg()[0]!, 2);
          const result = await ingest(broker, topicOf(`ingest-${w}-${attempt}`, c.name), c, CASE_WARMUP, MEASURE);
          // Writeback of what the window left dirty (Kafka's data: it never syncs; ours syncs every 32 MiB).
          const dirtyMbAfter = memInfoMb().dirty;
          const syncAfter = syncPageCache();
          // What the rest of the machine used during the window: other jobs, if it is well above 0.
          const others = round(result.machineBusyCores - (result.broker?.cores ?? 0) - result.generator.cores - result.kworkerCpuSeconds / result.measured.seconds, 2);
          const windowRun: CaseRun = { peer, round: r, case: c.name, window: w, attempt, dirtyMbBefore, memFreeMbBefore, quiet, loadavg1m, otherCores: others, result, dirtyMbAfter, syncAfter };
          const m = result.measured;
          const b = result.broker;
          const disturbed = others > QUIET.duringCores && attempt < QUIET.attempts;
          log(
            `round ${r} ${peer}: ${c.name} #${w}: ${m.mbPerSec} MB/s of values (${m.batchMbPerSec} MB/s of batches, ${m.recordsPerSec.toLocaleString()} rec/s, ${m.requestsPerSec.toLocaleString()} req/s) over ${m.seconds} s; ` +
              `broker ${b?.cores} cores, ${b?.cpuSecondsPerGB} CPU s/GB; load generator ${result.generator.cores} cores; others ${others} cores${disturbed ? ': disturbed, again' : ''}`,
          );
          if (!disturbed) {
            runs.push(windowRun);
            break;
          }
          discarded.push(windowRun);
        }
      }
    }
  } catch (err) {
    const msg = (err as Error).message;
    errors.push({ peer, round: r, step, error: msg.slice(0, 4000) });
    log(`round ${r} ${peer}: FAILED at ${step}: ${msg.split('\n').slice(0, 6).join(' | ')}`);
  } finally {
    if (broker) await broker.stop().catch((e: Error) => errors.push({ peer, round: r, step: 'stop', error: e.message }));
    rmSync(dir, { recursive: true, force: true });
    syncPageCache();
  }
}

try {
  log('ceiling: loopback TCP');
  loopback = await loopbackCeiling();
  log(`loopback: ${loopback.mbPerSec} MB/s (${loopback.runsMbPerSec.join(', ')})`);
  log('ceiling: append (raw sequential write)');
  rawStart = rawWriteCeiling(root);
  log(`append ceiling: ${rawStart.mbPerSec} MB/s (${rawStart.runsMbPerSec.join(', ')})`);
  for (const c of CASES) {
    const { batch } = buildProduceRequest({ topic: 'ceiling', recordBytes: c.recordBytes, batchRecords: c.batchRecords, produceVersion: PRODUCE_VERSION, acks: ACKS });
    sameSizeWrite[c.name] = rawWriteCeiling(root, { chunkBytes: batch.length });
    log(`raw write of ${batch.length}-byte batches (${c.name}): ${sameSizeWrite[c.name]!.mbPerSec} MB/s`);
  }
  for (let r = 1; r <= ROUNDS; r++) {
    const order: Peer[] = r % 2 === 1 ? ['ours', 'kafka'] : ['kafka', 'ours'];
    for (const peer of order) if (!ONLY || ONLY === peer) await session(peer, r);
  }
  rawEnd = rawWriteCeiling(root);
  log(`append ceiling at the end: ${rawEnd.mbPerSec} MB/s (${rawEnd.runsMbPerSec.join(', ')})`);
} finally {
  await stopAll();
  rmSync(root, { recursive: true, force: true });
}

// --- report ------------------------------------------------------------------------------------------

const appendCeilingMbPerSec = Math.max(rawStart.mbPerSec, rawEnd?.mbPerSec ?? 0);
const cases: Record<string, unknown>[] = [];
const ratios: Record<string, number | null> = {};
const ofAppendCeiling: Record<string, { ours: number | null; kafka: number | null }> = {};
const ofMachineCeiling: Record<string, { ours: number | null; kafka: number | null; mbPerSec: number }> = {};
const targets: Record<string, boolean | null> = {};
const machineTargets: Record<string, boolean | null> = {};

for (const c of CASES) {
  // What the machine allows this case: the bytes must cross loopback and then be written, one
  // batch per write, so the lower of the two (neither counts the CPU the other needs).
  const machineCeiling = Math.min(loopback.mbPerSec, sameSizeWrite[c.name]!.mbPerSec);
  const side = (peer: Peer) => {
    const xs = runs.filter((x) => x.peer === peer && x.case === c.name);
    if (!xs.length) return null;
    const best = xs.reduce((a, b) => (b.result.measured.mbPerSec > a.result.measured.mbPerSec ? b : a)).result;
    const perGB = xs.map((x) => x.result.broker?.cpuSecondsPerGB ?? NaN);
    // Kernel writeback (kworker threads) in the window and in the `sync` after it, per GB of
    // batches the window's topic received (warm-up and drained requests included).
    const writeback = xs.map((x) => {
      const gb = ((x.result.warmup.requests + x.result.measured.requests + x.result.drained) * x.result.batchBytes) / 1e9;
      return (x.result.kworkerCpuSeconds + x.syncAfter.kworkerCpuSeconds) / gb;
    });
    return {
      mbPerSec: best.measured.mbPerSec,
      batchMbPerSec: best.measured.batchMbPerSec,
      recordsPerSec: best.measured.recordsPerSec,
      requestsPerSec: best.measured.requestsPerSec,
      ofAppendCeiling: round(best.measured.mbPerSec / appendCeilingMbPerSec, 3),
      batchOfAppendCeiling: round(best.measured.batchMbPerSec / appendCeilingMbPerSec, 3),
      ofSameSizeWrite: round(best.measured.mbPerSec / sameSizeWrite[c.name]!.mbPerSec, 3),
      ofMachineCeiling: round(best.measured.mbPerSec / machineCeiling, 3),
      brokerCpuSecondsPerGB: best.broker?.cpuSecondsPerGB ?? null,
      brokerCores: best.broker?.cores ?? null,
      brokerThreads: best.broker?.threads ?? null,
      generatorCores: best.generator.cores,
      machineBusyCores: best.machineBusyCores,
      runsMbPerSec: xs.map((x) => x.result.measured.mbPerSec),
      runsOtherCores: xs.map((x) => x.otherCores),
      windowsDiscarded: discarded.filter((x) => x.peer === peer && x.case === c.name).length,
      runsBrokerCpuSecondsPerGB: perGB,
      medianBrokerCpuSecondsPerGB: round(median(perGB), 3),
      medianKernelWritebackCpuSecondsPerGB: round(median(writeback), 3),
    };
  };
  const o = side('ours');
  const k = side('kafka');
  const ratio = o && k ? round(o.mbPerSec / k.mbPerSec, 3) : null;
  // Per round, each side's best window.
  const bestIn = (peer: Peer, r: number) => Math.max(...runs.filter((x) => x.peer === peer && x.case === c.name && x.round === r).map((x) => x.result.measured.mbPerSec));
  const paired = Array.from({ length: ROUNDS }, (_, i) => bestIn('ours', i + 1) / bestIn('kafka', i + 1)).filter((x) => Number.isFinite(x) && x > 0);
  const batchBytes = runs.find((x) => x.case === c.name)?.result.batchBytes ?? null;
  cases.push({
    case: c.name,
    recordBytes: c.recordBytes,
    batchRecords: c.batchRecords,
    batchBytes,
    sameSizeWriteMbPerSec: sameSizeWrite[c.name]!.mbPerSec,
    machineCeilingMbPerSec: machineCeiling,
    aggregate: `best of ${ROUNDS} rounds x ${WINDOWS} windows per side (throughput; the machine is shared, and others only slow a window down); CPU s/GB of that window, and the median of all`,
    ours: o,
    kafka: k,
    ratio,
    pairedRatioMedian: paired.length ? round(median(paired), 3) : null,
    cpuPerGBOursOverKafka: o && k && o.medianBrokerCpuSecondsPerGB && k.medianBrokerCpuSecondsPerGB ? round(o.medianBrokerCpuSecondsPerGB / k.medianBrokerCpuSecondsPerGB, 3) : null,
  });
  ratios[c.name] = ratio;
  ofAppendCeiling[c.name] = { ours: o?.ofAppendCeiling ?? null, kafka: k?.ofAppendCeiling ?? null };
  targets[c.name] = o ? o.ofAppendCeiling >= 0.5 : null;
  ofMachineCeiling[c.name] = { ours: o?.ofMachineCeiling ?? null, kafka: k?.ofMachineCeiling ?? null, mbPerSec: machineCeiling };
  machineTargets[c.name] = o ? o.ofMachineCeiling >= 0.5 : null;
}

const summary = {
  appendCeilingMbPerSec,
  ratios,
  ofAppendCeiling,
  ofMachineCeiling,
  targets: { produceAtLeast050OfAppendCeiling: targets, produceAtLeast050OfMachineCeiling: machineTargets },
};
console.log(JSON.stringify(summary));
const result = {
  benchmark: 'broker-ingest',
  date: new Date().toISOString(),
  code: { ours: OUR_BROKER.source },
  machine: { ...machineInfo(), java: kenv?.javaVersion ?? null, loadavgStart: loadStart, loadavgEnd: loadavgNow() },
  settings: {
    loadGenerator: {
      program: 'bench/ingest-load.ts (node, own process)',
      request: `Produce v${PRODUCE_VERSION}, acks=${ACKS}, timeoutMs 30000, one topic, partition 0, one RecordBatch v2 (no compression, no key, producer id -1), built once; only the correlation id is rewritten per send`,
      connections: CONNECTIONS,
      inflightPerConnection: INFLIGHT,
      jitWarmup: { ...JIT_WARMUP, what: 'per broker session, every case for up to this long / this many batch bytes, on topics of its own, before any measured case' },
      caseWarmup: CASE_WARMUP,
      quietMachine: {
        ...QUIET,
        what: 'before each window, wait up to maxSeconds until the machine (our broker idle) keeps fewer than busyCores busy over 1 s; a window during which other jobs kept more than duringCores busy is run again, up to attempts in all',
      },
      measure: MEASURE,
    },
    peer: kenv && {
      name: 'Apache Kafka',
      version: kenv.KAFKA_VERSION,
      mode: 'KRaft single node (process.roles=broker,controller, node.id=1), 127.0.0.1, scripts/kafka-peer.sh defaults',
      jvm: '-Xms1g -Xmx1g -XX:+UseG1GC -XX:MaxGCPauseMillis=20 (kafka-server-start.sh defaults)',
    },
    ours: { ...OUR_BROKER, env: { ...OUR_BROKER.env, BULWARK_LOG_FLUSH: JSON.stringify(OUR_FLUSH) }, cpuProfile: CPU_PROF ?? null },
    durability: {
      kafka: 'defaults: no fsync (page cache); flush only on segment roll, which no case reaches',
      ours: `flush ${JSON.stringify(OUR_FLUSH)}: no fsync before the ack; a background fdatasync every 32 MiB (src/log/partition.ts), counted in its CPU`,
      pageCache: '`sync` before every case: windows start with no dirty pages',
    },
    cases: CASES,
    rounds: ROUNDS,
    windowsPerCase: WINDOWS,
    order: 'one broker at a time; odd rounds ours then Kafka, even rounds Kafka then ours',
    mb: '10^6 bytes of record values (batch MB/s: whole batches)',
  },
  ceilings: {
    appendRawWrite: { mbPerSec: appendCeilingMbPerSec, start: rawStart, end: rawEnd ?? null },
    sameSizeWrite,
    machine: 'per case, min(loopback, sameSizeWrite): what the bytes must cross and then be written as',
    loopback,
    logJson: logJsonRawWrite(),
  },
  cases,
  ...summary,
  runs: runs.map(flatRun),
  discarded: discarded.map(flatRun),
  jitWarmups,
  errors,
  seconds: round((performance.now() - started) / 1000),
};
function flatRun(x: CaseRun) {
  const { result, ...rest } = x;
  return { ...rest, ...result };
}
const partial = ONLY || CPU_PROF || process.env.BENCH_INGEST_CASES;
const out = process.env.BENCH_INGEST_OUT ?? (partial ? join(tmpdir(), 'bulwark-bench-broker-ingest.json') : join(import.meta.dirname, 'results', 'broker-ingest.json'));
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
log(`wrote ${out}${errors.length ? ` (${errors.length} errors)` : ''}`);
