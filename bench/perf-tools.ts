// Kafka's own perf tools (ProducerPerformance, ConsumerPerformance) from the peer's jars, run
// as the client of a benchmark and parsed: the same client for both brokers. Shared by
// bench/broker.ts (one broker a side) and bench/cluster.ts (three a side).
import { kafkaEnv, MiB, round, run } from './peers.ts';

/** The record shapes both broker benchmarks run, `scale` multiplying the record counts. */
export function benchShapes(scale: number) {
  return [
    { name: '100B', recordBytes: 100, records: Math.round(500_000 * scale) },
    { name: '1KiB', recordBytes: 1024, records: Math.round(200_000 * scale) },
  ];
}

/** Of each produce run, the fraction excluded as warm-up; records produced once per session first. */
export const WARMUP_FRACTION = 0.2;
export const WARMUP_SESSION_RECORDS = 200_000;
/** The latency runs: produce at a rate both sides sustain. */
export const LATENCY = { rate: 10_000, records: 60_000, warmup: 10_000 } as const;

/** The producer settings of both broker benchmarks, the same for both sides. */
export function benchProducerProps(acks: string): Record<string, string> {
  return {
    acks,
    'linger.ms': '5',
    'batch.size': '16384',
    'compression.type': 'none',
    'enable.idempotence': 'false',
    'max.in.flight.requests.per.connection': '5',
    'buffer.memory': String(32 * MiB),
  };
}

/** Our flush setting in the benchmarks: no fsync per message or batch, as Kafka's defaults. */
export const BENCH_OUR_FLUSH = { mode: 'messages', messages: 2 ** 31 - 1 };

export interface ProduceResult {
  records: number;
  recordsPerSec: number;
  mbPerSec: number;
  avgMs: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
}

export interface ConsumeResult {
  records: number;
  recordsPerSec: number;
  mbPerSec: number;
  fetchSeconds: number;
  rebalanceMs: number;
  totalRecordsPerSec: number;
}

export interface PerfToolOptions {
  /** Producer settings (acks, linger.ms, …), the same for both brokers. */
  producerProps: Record<string, string>;
  consumerFetchBytes: number;
  /** The client JVM's heap flag, e.g. -Xmx512m. */
  heap: string;
  timeoutMs: number;
}

const PRODUCE_LINE =
  /(\d+) (steady state )?records sent, ([\d.]+) records\/sec \(([\d.]+) MB\/sec\), ([\d.]+) ms avg latency, ([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99\.9th/g;

/** Lines of a tool's stderr that are not the expected deprecation or metadata-retry noise. */
function problems(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter((l) => l.trim() && !/has been deprecated|UNKNOWN_TOPIC_OR_PARTITION|LEADER_NOT_AVAILABLE|NOT_LEADER_OR_FOLLOWER/.test(l))
    .slice(0, 20);
}

/** The tools, bound to the Kafka jars (resolved once: scripts/kafka-peer.sh env) and the options. */
export function perfTools(opts: PerfToolOptions) {
  const kenv = kafkaEnv();
  const javaTool = (cls: string, args: string[]) => run(kenv.JAVA, [opts.heap, `-Dlog4j2.configurationFile=${kenv.KAFKA_LOG4J}`, '-cp', `${kenv.KAFKA_LIB}/*`, cls, ...args], opts.timeoutMs);

  /** ProducerPerformance: `records` of `recordBytes` to `topic` through `bootstrap` (host:port[,…]); the first `warmup` excluded. */
  async function produce(bootstrap: string, topic: string, recordBytes: number, records: number, throughput: number, warmup: number): Promise<ProduceResult> {
    const props = Object.entries({ 'bootstrap.servers': bootstrap, ...opts.producerProps }).map(([k, v]) => `${k}=${v}`);
    const args = ['--topic', topic, '--num-records', String(records), '--record-size', String(recordBytes), '--throughput', String(throughput), '--command-property', ...props];
    if (warmup > 0) args.push('--warmup-records', String(warmup));
    const r = await javaTool('org.apache.kafka.tools.ProducerPerformance', args);
    const lines = [...r.stdout.matchAll(PRODUCE_LINE)];
    // With warm-up, the last summary line is the steady state; without, the only one.
    const m = lines.filter((x) => (warmup > 0 ? x[2] : !x[2])).at(-1);
    const errs = problems(r.stderr);
    if (r.code !== 0 || !m || errs.some((l) => /Exception|ERROR/.test(l)))
      throw new Error(`ProducerPerformance failed (exit ${r.code}):\n${r.stdout.slice(-1500)}\n${errs.join('\n')}`);
    const rps = Number(m[3]);
    return {
      records: Number(m[1]),
      recordsPerSec: Math.round(rps),
      mbPerSec: round((rps * recordBytes) / 1e6),
      avgMs: Number(m[5]),
      maxMs: Number(m[6]),
      p50Ms: Number(m[7]),
      p95Ms: Number(m[8]),
      p99Ms: Number(m[9]),
      p999Ms: Number(m[10]),
    };
  }

  /** ConsumerPerformance: `records` from `topic` (every partition) in a group of one, from the earliest offset. */
  async function consume(bootstrap: string, topic: string, recordBytes: number, records: number): Promise<ConsumeResult> {
    const args = ['--bootstrap-server', bootstrap, '--topic', topic, '--num-records', String(records), '--fetch-size', String(opts.consumerFetchBytes), '--group', `bench-${topic}`, '--timeout', '30000'];
    const r = await javaTool('org.apache.kafka.tools.ConsumerPerformance', args);
    const lines = r.stdout.trim().split('\n');
    const hi = lines.findIndex((l) => l.startsWith('start.time'));
    const header = hi >= 0 ? lines[hi]!.split(',').map((s) => s.trim()) : [];
    const values = hi >= 0 ? (lines[hi + 1] ?? '').split(',').map((s) => s.trim()) : [];
    const get = (k: string) => Number(values[header.indexOf(k)]);
    const errs = problems(r.stderr);
    if (r.code !== 0 || hi < 0 || !Number.isFinite(get('nMsg.sec')) || errs.some((l) => /Exception|ERROR/.test(l)))
      throw new Error(`ConsumerPerformance failed (exit ${r.code}):\n${r.stdout.slice(-1500)}\n${errs.join('\n')}`);
    const n = get('data.consumed.in.nMsg');
    if (n !== records) throw new Error(`ConsumerPerformance consumed ${n} records, expected ${records}`);
    const fetchSeconds = get('fetch.time.ms') / 1000;
    const rps = n / fetchSeconds;
    return {
      records: n,
      recordsPerSec: Math.round(rps),
      mbPerSec: round((rps * recordBytes) / 1e6),
      fetchSeconds: round(fetchSeconds, 3),
      rebalanceMs: get('rebalance.time.ms'),
      totalRecordsPerSec: Math.round(get('nMsg.sec')),
    };
  }

  return { kenv, javaTool, produce, consume };
}
