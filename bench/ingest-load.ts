// Ingest load generator: what a broker can take in when the client costs (almost) nothing.
// bench/broker-ingest.ts runs it in its own process against our broker and Apache Kafka; it also
// runs alone against any Kafka-protocol broker:
//
//   node --import tsx bench/ingest-load.ts --port 9092 --topic t --record-bytes 1024 \
//     --batch-records 16 [--connections 2] [--inflight 8] [--broker-pid PID] ...
//
// Contract:
// - Builds ONE RecordBatch v2 (buildRecordBatch: CRC-32C, no compression, no key, values of
//   deterministic pseudo-random bytes, producer id -1: not idempotent), wraps it in ONE Produce
//   request (v8 by default, acks=1, partition 0) with the codec of src/kafka, and
//   copies that frame into one buffer per in-flight slot. Sending a slot rewrites only its
//   4-byte correlation id, and only after the slot's previous response arrived (by then the
//   broker has read every byte of it, so the socket no longer holds it).
// - Before the load: ApiVersions (v2; fails if the broker does not accept the Produce and
//   Metadata versions used), Metadata with allowAutoTopicCreation until partition 0 has a leader,
//   then single Produce requests until one succeeds (a new topic's leader may not be ready).
// - The load: `connections` sockets, each keeping `inflight` requests pipelined; every response
//   is decoded, its correlation id must be the oldest in flight on that socket and every
//   partition's error code must be 0, or the run fails (exit 1) naming the code.
// - Warm-up until `warmupSeconds` passed or `warmupBytes` were acknowledged, whichever comes
//   first; then the measured window runs until `measureBytes` of batches were acknowledged (or
//   `maxSeconds` passed); then no more sends, in-flight requests drain, uncounted.
// - Over exactly the measured window it reads the broker's CPU (user + system, /proc/<pid>/stat,
//   and per thread from /proc/<pid>/task, grouped by thread name), the whole machine's busy CPU
//   (/proc/stat), the kernel worker threads' (bench/proc.ts) and its own (process.cpuUsage).
// - Prints one JSON line (IngestResult) on stdout. MB and GB are 10^6 and 10^9 bytes of record
//   values unless a field says batch bytes.
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { KafkaErrorCode } from '../src/kafka/error-codes.ts';
import { ApiKey, decodeRequest, decodeResponse, encodeRequest, type ProduceRequest, type ProduceResponse } from '../src/kafka/index.ts';
import { CORRELATION_ID_AT, KafkaWireClient } from '../tools/kafka-wire/client.ts';
import { buildRecordBatch } from '../src/log/index.ts';
import { kworkerSeconds, machineBusySeconds, sampleProcessCpu, threadDelta, type CpuSample } from './proc.ts';

export const INGEST_CLIENT_ID = 'bulwark-ingest-load';
const METADATA_VERSION = 4; // the first with allowAutoTopicCreation
const RETRIABLE = new Set<number>([KafkaErrorCode.UNKNOWN_TOPIC_OR_PARTITION, KafkaErrorCode.LEADER_NOT_AVAILABLE, KafkaErrorCode.NOT_LEADER_OR_FOLLOWER, KafkaErrorCode.REQUEST_TIMED_OUT]);
const SETUP_TIMEOUT_MS = 30_000;
/** No response at all for this long fails the run. */
const STALL_MS = 30_000;

export const ingestOptionsSchema = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.coerce.number().int().min(1).max(65535),
  topic: z.string().regex(/^[a-zA-Z0-9._-]{1,249}$/),
  recordBytes: z.coerce.number().int().min(1).max(1 << 20),
  batchRecords: z.coerce.number().int().min(1).max(1_000_000),
  connections: z.coerce.number().int().min(1).max(64).default(2),
  /** Requests in flight per connection. */
  inflight: z.coerce.number().int().min(1).max(1024).default(8),
  produceVersion: z.coerce.number().int().min(3).max(8).default(8),
  acks: z.coerce.number().int().refine((a) => a === 1 || a === -1, 'acks must be 1 or -1').default(1),
  warmupSeconds: z.coerce.number().min(0).max(600).default(2),
  warmupBytes: z.coerce.number().int().min(0).default(512e6),
  measureBytes: z.coerce.number().int().min(1).default(1e9),
  maxSeconds: z.coerce.number().min(0.1).max(3600).default(20),
  /** The broker's process, for its CPU time over the window (optional). */
  brokerPid: z.coerce.number().int().min(1).optional(),
});
export type IngestOptions = z.infer<typeof ingestOptionsSchema>;

export interface IngestResult {
  options: IngestOptions;
  batchBytes: number;
  requestBytes: number;
  warmup: { seconds: number; requests: number };
  measured: {
    seconds: number;
    requests: number;
    records: number;
    valueBytes: number;
    batchBytes: number;
    /** Record values acknowledged, 10^6 bytes per second. */
    mbPerSec: number;
    /** Whole batches (headers and record framing included) acknowledged, 10^6 bytes per second. */
    batchMbPerSec: number;
    recordsPerSec: number;
    requestsPerSec: number;
  };
  broker: null | {
    pid: number;
    cpuSeconds: number;
    /** CPU seconds per 10^9 bytes of record values acknowledged. */
    cpuSecondsPerGB: number;
    /** Cores the broker kept busy over the window. */
    cores: number;
    threads: Record<string, number>;
  };
  generator: { cpuSeconds: number; cores: number };
  /** Busy cores of the whole machine over the window (/proc/stat: all but idle and iowait), other users included. */
  machineBusyCores: number;
  /** CPU seconds of the kernel's worker threads over the window (writeback nobody synced runs there). */
  kworkerCpuSeconds: number;
  /** Requests still in flight when the window closed, drained uncounted. */
  drained: number;
}

// --- the requests --------------------------------------------------------------------------------------

/** Values of deterministic pseudo-random bytes: nothing a broker could shortcut. */
function recordValues(recordBytes: number, count: number): Buffer[] {
  let seed = 42;
  return Array.from({ length: count }, () => {
    const value = Buffer.allocUnsafe(recordBytes);
    for (let i = 0; i < recordBytes; i++) value[i] = (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24;
    return value;
  });
}

/** The one Produce request of a run (correlation id 0), and the batch it carries. */
export function buildProduceRequest(o: Pick<IngestOptions, 'topic' | 'recordBytes' | 'batchRecords' | 'produceVersion' | 'acks'>): { request: Buffer; batch: Buffer } {
  const batch = buildRecordBatch(
    recordValues(o.recordBytes, o.batchRecords).map((value) => ({ key: null, value })),
    { baseTimestamp: Date.now() },
  );
  const request = encodeRequest(
    { apiKey: ApiKey.Produce, apiVersion: o.produceVersion, correlationId: 0, clientId: INGEST_CLIENT_ID },
    { transactionalId: null, acks: o.acks, timeoutMs: 30_000, topicData: [{ name: o.topic, partitionData: [{ index: 0, records: batch }] }] },
  );
  // The correlation id is where the rewrite puts it, and the frame carries the batch unchanged.
  request.writeInt32BE(0x1234_5678, CORRELATION_ID_AT);
  const back = decodeRequest(request.subarray(4));
  const records = back.apiKey === ApiKey.Produce ? (back.body as ProduceRequest).topicData[0]?.partitionData[0]?.records : undefined;
  if (back.header.correlationId !== 0x1234_5678 || !records?.equals(batch)) {
    throw new Error('the Produce request does not decode back to its batch');
  }
  request.writeInt32BE(0, CORRELATION_ID_AT);
  return { request, batch };
}

// --- sockets -----------------------------------------------------------------------------------------

/** One connection of the generator's client (tools/kafka-wire): responses checked for their correlation id, frames in reused buffers. */
const open = (host: string, port: number) => KafkaWireClient.connect(port, { host, clientId: INGEST_CLIENT_ID, reuseBuffers: true });

/** A set-up request's answer, or a failure after 10 s. */
function within<T>(answer: Promise<T>, what: string, ms = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer to ${what} in ${ms / 1000} s`)), ms)));
  return Promise.race([answer, timeout]).finally(() => clearTimeout(timer));
}

/** A pre-encoded Produce request (its correlation id rewritten by the client) and its decoded answer. */
function produceOnce(wire: KafkaWireClient, frame: Buffer, version: number) {
  return new Promise<ProduceResponse>((resolve, reject) =>
    wire.sendFrame(
      frame,
      (response) => {
        try {
          resolve(decodeResponse(response, ApiKey.Produce, version).body);
        } catch (err) {
          reject(err as Error);
        }
      },
      reject,
    ),
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const errorName = (code: number) => Object.entries(KafkaErrorCode).find(([, v]) => v === code)?.[0] ?? 'unknown';

async function setUp(wire: KafkaWireClient, o: IngestOptions, probe: Buffer): Promise<void> {
  await within(
    wire.apiVersions([
      [ApiKey.Produce, o.produceVersion],
      [ApiKey.Metadata, METADATA_VERSION],
    ]),
    'ApiVersions',
  );
  const deadline = Date.now() + SETUP_TIMEOUT_MS;
  for (;;) {
    const md = await within(wire.request(ApiKey.Metadata, METADATA_VERSION, { topics: [{ name: o.topic }], allowAutoTopicCreation: true }), 'Metadata');
    const t = md.topics.find((x) => x.name === o.topic);
    const p = t?.partitions.find((x) => x.partitionIndex === 0);
    if (t?.errorCode === KafkaErrorCode.NONE && p?.errorCode === KafkaErrorCode.NONE && p.leaderId >= 0) break;
    const code = t?.errorCode ? t.errorCode : (p?.errorCode ?? -1);
    if (!RETRIABLE.has(code) && code !== -1) throw new Error(`Metadata for ${o.topic}: error ${code} (${errorName(code)})`);
    if (Date.now() > deadline) throw new Error(`topic ${o.topic} has no leader after ${SETUP_TIMEOUT_MS / 1000} s (last error ${code})`);
    await sleep(100);
  }
  for (;;) {
    const r = await within(produceOnce(wire, probe, o.produceVersion), 'the probe Produce');
    const code = r.responses[0]?.partitionResponses[0]?.errorCode ?? -1;
    if (code === KafkaErrorCode.NONE) return;
    if (!RETRIABLE.has(code)) throw new Error(`probe Produce to ${o.topic}: error ${code} (${errorName(code)})`);
    if (Date.now() > deadline) throw new Error(`probe Produce to ${o.topic} still fails after ${SETUP_TIMEOUT_MS / 1000} s (error ${code})`);
    await sleep(100);
  }
}

// --- the load ------------------------------------------------------------------------------------------

export async function runIngest(o: IngestOptions): Promise<IngestResult> {
  const { request, batch } = buildProduceRequest(o);
  const wires = await Promise.all(Array.from({ length: o.connections }, () => open(o.host, o.port)));
  await setUp(wires[0]!, o, Buffer.from(request));
  const valuePerRequest = o.recordBytes * o.batchRecords;
  const targetRequests = Math.ceil(o.measureBytes / batch.length);

  return new Promise<IngestResult>((resolve, reject) => {
    type Phase = 'warmup' | 'measure' | 'drain' | 'done';
    let phase: Phase = 'warmup';
    let inFlight = 0;
    let warmupRequests = 0;
    let measuredRequests = 0;
    let lastResponse = performance.now();
    const tStart = performance.now();
    let t0 = 0;
    let t1 = 0;
    let broker0: CpuSample | undefined;
    let broker1: CpuSample | undefined;
    let machine0 = 0;
    let machine1 = 0;
    let kworker0 = 0;
    let kworker1 = 0;
    let gen0 = process.cpuUsage();
    let gen1 = gen0;

    const fail = (err: Error) => {
      if (phase === 'done') return;
      phase = 'done';
      clearInterval(watchdog);
      for (const w of wires) w.close();
      reject(err);
    };
    const watchdog = setInterval(() => {
      if (performance.now() - lastResponse > STALL_MS) fail(new Error(`no response for ${STALL_MS / 1000} s (${inFlight} in flight)`));
    }, 1000);

    const snapshot = () => ({ broker: o.brokerPid ? sampleProcessCpu(o.brokerPid) : undefined, machine: machineBusySeconds(), kworker: kworkerSeconds(), gen: process.cpuUsage() });

    const finish = () => {
      phase = 'done';
      clearInterval(watchdog);
      for (const w of wires) w.end();
      const seconds = (t1 - t0) / 1000;
      const valueBytes = measuredRequests * valuePerRequest;
      const batchBytes = measuredRequests * batch.length;
      const brokerCpu = broker0 && broker1 ? broker1.total - broker0.total : NaN;
      const genCpu = (gen1.user + gen1.system - gen0.user - gen0.system) / 1e6;
      const threads = broker0 && broker1 ? threadDelta(broker0, broker1) : {};
      resolve({
        options: o,
        batchBytes: batch.length,
        requestBytes: request.length,
        warmup: { seconds: round((t0 - tStart) / 1000, 3), requests: warmupRequests },
        measured: {
          seconds: round(seconds, 3),
          requests: measuredRequests,
          records: measuredRequests * o.batchRecords,
          valueBytes,
          batchBytes,
          mbPerSec: round(valueBytes / 1e6 / seconds),
          batchMbPerSec: round(batchBytes / 1e6 / seconds),
          recordsPerSec: Math.round((measuredRequests * o.batchRecords) / seconds),
          requestsPerSec: Math.round(measuredRequests / seconds),
        },
        broker:
          o.brokerPid && Number.isFinite(brokerCpu)
            ? { pid: o.brokerPid, cpuSeconds: round(brokerCpu, 2), cpuSecondsPerGB: round(brokerCpu / (valueBytes / 1e9), 3), cores: round(brokerCpu / seconds, 2), threads }
            : null,
        generator: { cpuSeconds: round(genCpu, 2), cores: round(genCpu / seconds, 2) },
        machineBusyCores: round((machine1 - machine0) / seconds, 2),
        kworkerCpuSeconds: round(kworker1 - kworker0, 2),
        drained: inFlight,
      });
    };

    const onAck = () => {
      const now = performance.now();
      lastResponse = now;
      if (phase === 'warmup') {
        warmupRequests++;
        if (now - tStart >= o.warmupSeconds * 1000 || warmupRequests * batch.length >= o.warmupBytes) {
          const s = snapshot();
          [broker0, machine0, kworker0, gen0] = [s.broker, s.machine, s.kworker, s.gen];
          t0 = performance.now();
          phase = 'measure';
        }
      } else if (phase === 'measure') {
        measuredRequests++;
        if (measuredRequests >= targetRequests || now - t0 >= o.maxSeconds * 1000) {
          t1 = performance.now();
          const s = snapshot();
          [broker1, machine1, kworker1, gen1] = [s.broker, s.machine, s.kworker, s.gen];
          phase = 'drain';
        }
      }
    };

    wires.forEach((wire, i) => {
      const onError = (err: Error) => fail(new Error(`connection ${i}: ${err.message}`));
      const send = (slot: Buffer) => {
        inFlight++;
        wire.sendFrame(slot, (frame) => onResponse(slot, frame), onError);
      };
      // The client checked the correlation id; requests sent from here leave together (the client corks the socket while it hands out one read's responses).
      const onResponse = (slot: Buffer, frame: Buffer) => {
        inFlight--;
        try {
          const { body } = decodeResponse(frame, ApiKey.Produce, o.produceVersion);
          for (const t of body.responses) {
            for (const p of t.partitionResponses) {
              if (p.errorCode !== KafkaErrorCode.NONE) throw new Error(`Produce to ${t.name}-${p.index}: error ${p.errorCode} (${errorName(p.errorCode)})${p.errorMessage ? `: ${p.errorMessage}` : ''}`);
            }
          }
        } catch (err) {
          return fail(err as Error);
        }
        onAck();
        if (phase === 'warmup' || phase === 'measure') send(slot);
        else if (phase === 'drain' && inFlight === 0) finish();
      };
      void wire.closedAt.then(() => {
        if (phase !== 'done') fail(new Error(`connection ${i}: the broker closed it`));
      });
      wire.socket.cork();
      for (let k = 0; k < o.inflight; k++) send(Buffer.from(request));
      wire.socket.uncork();
    });
  });
}

function round(x: number, d = 1): number {
  return Math.round(x * 10 ** d) / 10 ** d;
}

// --- command line ------------------------------------------------------------------------------------

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  const { values } = parseArgs({
    options: Object.fromEntries(
      ['host', 'port', 'topic', 'record-bytes', 'batch-records', 'connections', 'inflight', 'produce-version', 'acks', 'warmup-seconds', 'warmup-bytes', 'measure-bytes', 'max-seconds', 'broker-pid'].map((k) => [k, { type: 'string' as const }]),
    ),
  });
  const camel = Object.fromEntries(Object.entries(values).map(([k, v]) => [k.replace(/-(\w)/g, (_, c: string) => c.toUpperCase()), v]));
  const parsed = ingestOptionsSchema.safeParse(camel);
  if (!parsed.success) {
    console.error(`ingest-load: ${parsed.error.issues.map((i) => `--${i.path.join('.').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: ${i.message}`).join('; ')}`);
    process.exit(2);
  }
  try {
    console.log(JSON.stringify(await runIngest(parsed.data)));
  } catch (err) {
    console.error(`ingest-load: ${(err as Error).message}`);
    process.exit(1);
  }
}
