// Load generators of the security benchmark (bench/auth.ts), each run in its own process so the
// client never shares the broker's event loop. The options come as JSON in the environment
// variable BENCH_AUTH_LOAD (passwords included: an environment is readable only by its owner,
// unlike a command line); the result is one JSON line on stdout.
//
//   BENCH_AUTH_LOAD='{"mode":"produce",...}' node --import tsx bench/auth-load.ts
//
// Modes, all over tools/kafka-wire/client.ts (the same client for every case):
// - produce: one connection, `inflight` Produce requests pipelined (acks=1, partition 0), each
//   the same pre-encoded RecordBatch v2 of `batchRecords` records; warm-up, then a measured
//   window of `measureSeconds`; in-flight requests then drain, uncounted.
// - consume: one connection, one Fetch (v11, `maxBytes`) in flight, from offset 0 to the high
//   watermark and around again (the page cache is warm), as a consumer does; same windows.
// - logins: `concurrency` loops, each: connect (TCP or TLS, from a rotating 127.N.x.y source
//   address so TIME_WAIT never exhausts ports and no address accumulates state), ApiVersions,
//   the SASL exchange (none for mechanism "anonymous": a connection-only baseline), close.
// - http-logins: `concurrency` loops of POST /v1/login over HTTPS keep-alive connections.
// - latency: Produce requests of one record at a fixed rate on one connection (acks=1); each
//   request's latency is measured from when the schedule said to send it (so a stalled broker
//   cannot hide its stall by slowing the sender: no coordinated omission) and from when it was
//   actually written.
// - storm: `connections` loops of login attempts (PLAIN and SCRAM, succeeding and failing, by
//   role), each attempt from the next source address of a rotating pool, until `seconds` pass.
// Over each measured window the broker's CPU (/proc, all threads: argon2 runs on libuv's pool),
// the machine's busy CPU and the generator's own are read.
import { readFileSync } from 'node:fs';
import { Agent, request as httpsRequest } from 'node:https';
import { z } from 'zod';
import { KafkaErrorCode } from '../src/kafka/error-codes.ts';
import { ApiKey, decodeResponse, encodeRequest } from '../src/kafka/index.ts';
import { buildRecordBatch } from '../src/log/index.ts';
import { KafkaWireClient, ScramKeyCache, type SaslMechanism } from '../tools/kafka-wire/client.ts';
import { percentiles, round } from './stats.ts';
import { machineBusySeconds, sampleProcessCpu, type CpuSample } from './proc.ts';

const PRODUCE_VERSION = 8;
const METADATA_VERSION = 4; // the first with allowAutoTopicCreation
const FETCH_VERSION = 11;
const RETRIABLE = new Set<number>([KafkaErrorCode.UNKNOWN_TOPIC_OR_PARTITION, KafkaErrorCode.LEADER_NOT_AVAILABLE, KafkaErrorCode.NOT_LEADER_OR_FOLLOWER, KafkaErrorCode.REQUEST_TIMED_OUT]);
const SETUP_TIMEOUT_MS = 30_000;

const connection = z.strictObject({
  host: z.string().default('127.0.0.1'),
  port: z.number().int().min(1).max(65535),
  /** The CA of the broker's certificate: connect with TLS. */
  tlsCaFile: z.string().optional(),
  mechanism: z.enum(['anonymous', 'PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512']),
  user: z.string().default(''),
  password: z.string().default(''),
});
type Connection = z.infer<typeof connection>;

const windows = {
  warmupSeconds: z.number().min(0).max(600).default(2),
  measureSeconds: z.number().min(0.1).max(3600).default(6),
  brokerPid: z.number().int().min(1).optional(),
};
/** Second octet of the 127.N.x.y source addresses a process rotates through. */
const sourceNet = z.number().int().min(2).max(254).optional();

const stormRole = z.strictObject({
  name: z.string(),
  mechanism: z.enum(['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512']),
  port: z.number().int().min(1).max(65535),
  tls: z.boolean(),
  user: z.string(),
  password: z.string(),
  /** Whether the login should succeed (a refusal of a role that expects one counts as expected). */
  expectOk: z.boolean(),
});

export const loadOptionsSchema = z.discriminatedUnion('mode', [
  z.strictObject({ mode: z.literal('produce'), conn: connection, topic: z.string(), recordBytes: z.number().int().min(1), batchRecords: z.number().int().min(1), inflight: z.number().int().min(1).max(256), ...windows }),
  z.strictObject({ mode: z.literal('consume'), conn: connection, topic: z.string(), recordBytes: z.number().int().min(1), maxBytes: z.number().int().min(1024), ...windows }),
  z.strictObject({ mode: z.literal('logins'), conn: connection, concurrency: z.number().int().min(1).max(256), sourceNet, ...windows }),
  z.strictObject({ mode: z.literal('http-logins'), url: z.string(), tlsCaFile: z.string(), user: z.string(), password: z.string(), concurrency: z.number().int().min(1).max(256), ...windows }),
  z.strictObject({ mode: z.literal('latency'), conn: connection, topic: z.string(), recordBytes: z.number().int().min(1), rate: z.number().min(1).max(100_000), ...windows }),
  z.strictObject({
    mode: z.literal('storm'),
    host: z.string().default('127.0.0.1'),
    tlsCaFile: z.string(),
    roles: z.array(stormRole).min(1),
    connections: z.number().int().min(1).max(1024),
    seconds: z.number().min(0.1).max(3600),
    sourceNet,
  }),
]);
export type LoadOptions = z.input<typeof loadOptionsSchema>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const errorName = (code: number) => Object.entries(KafkaErrorCode).find(([, v]) => v === code)?.[0] ?? 'unknown';
const caOf = (file: string | undefined) => (file === undefined ? undefined : readFileSync(file, 'utf8'));

/** Source addresses 127.N.x.y (x 0-255, y 1-254), taken in turn. */
function sourcePool(net: number | undefined): () => string | undefined {
  if (net === undefined) return () => undefined;
  let i = 0;
  return () => {
    const n = i++ % (256 * 254);
    return `127.${net}.${n % 256}.${1 + Math.floor(n / 256)}`;
  };
}

const BENCH_CLIENT_ID = 'bulwark-bench-auth';
const keyCache = new ScramKeyCache();

/** One connection of the benchmark's client (tools/kafka-wire): TLS when a CA is given; frames in reused buffers. */
function openWire(o: { host: string; port: number; tlsCa?: string | undefined; localAddress?: string }): Promise<KafkaWireClient> {
  return KafkaWireClient.connect(o.port, {
    host: o.host,
    ...(o.tlsCa !== undefined ? { tls: { ca: o.tlsCa } } : {}),
    ...(o.localAddress ? { localAddress: o.localAddress } : {}),
    clientId: BENCH_CLIENT_ID,
    reuseBuffers: true,
  });
}

/** SaslHandshake and the mechanism's exchange; a refused login is `{ ok: false }`, a refused mechanism throws. */
async function saslLogin(wire: KafkaWireClient, mechanism: SaslMechanism, username: string, password: string): Promise<{ ok: true } | { ok: false; errorCode: number }> {
  const r = await wire.login(mechanism, username, password, { keyCache });
  if (r.step === 'handshake' && r.errorCode !== KafkaErrorCode.NONE) throw new Error(`SaslHandshake ${mechanism}: error ${r.errorCode} (the broker offers ${r.mechanisms.join(', ')})`);
  return r.errorCode === KafkaErrorCode.NONE ? { ok: true } : { ok: false, errorCode: r.errorCode };
}

/** Connects, says ApiVersions, and logs in as the connection options say. */
async function openSession(c: Connection, localAddress?: string): Promise<KafkaWireClient> {
  const wire = await openWire({ host: c.host, port: c.port, tlsCa: caOf(c.tlsCaFile), ...(localAddress ? { localAddress } : {}) });
  try {
    await wire.apiVersions([
      [ApiKey.Produce, PRODUCE_VERSION],
      [ApiKey.Metadata, METADATA_VERSION],
      [ApiKey.Fetch, FETCH_VERSION],
    ]);
    if (c.mechanism !== 'anonymous') {
      const r = await saslLogin(wire, c.mechanism, c.user, c.password);
      if (!r.ok) throw new Error(`${c.mechanism} login of ${c.user} refused: error ${r.errorCode} (${errorName(r.errorCode)})`);
    }
    return wire;
  } catch (err) {
    wire.close();
    throw err;
  }
}

/** Values of deterministic pseudo-random bytes: nothing a broker could shortcut. */
function recordValues(recordBytes: number, count: number): Buffer[] {
  let seed = 42;
  return Array.from({ length: count }, () => {
    const value = Buffer.allocUnsafe(recordBytes);
    for (let i = 0; i < recordBytes; i++) value[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
    return value;
  });
}

function produceFrame(topic: string, recordBytes: number, batchRecords: number): Buffer {
  const batch = buildRecordBatch(
    recordValues(recordBytes, batchRecords).map((value) => ({ key: null, value })),
    { baseTimestamp: Date.now() },
  );
  return encodeRequest(
    { apiKey: ApiKey.Produce, apiVersion: PRODUCE_VERSION, correlationId: 0, clientId: BENCH_CLIENT_ID },
    { transactionalId: null, acks: 1, timeoutMs: 30_000, topicData: [{ name: topic, partitionData: [{ index: 0, records: batch }] }] },
  );
}

/** The error of a Produce response, or undefined when every partition succeeded. */
function produceError(frame: Buffer): number | undefined {
  const body = decodeResponse(frame, ApiKey.Produce, PRODUCE_VERSION).body;
  for (const t of body.responses) for (const p of t.partitionResponses) if (p.errorCode !== KafkaErrorCode.NONE) return p.errorCode;
  return undefined;
}

function sendOne(wire: KafkaWireClient, frame: Buffer): Promise<number | undefined> {
  return new Promise((resolve, reject) =>
    wire.sendFrame(
      frame,
      (f) => {
        try {
          resolve(produceError(f));
        } catch (err) {
          reject(err as Error);
        }
      },
      reject,
    ),
  );
}

/** Waits until the topic has a leader (creating it: the principal may), then until one Produce succeeds. */
async function ensureTopic(wire: KafkaWireClient, topic: string, recordBytes: number): Promise<void> {
  const deadline = Date.now() + SETUP_TIMEOUT_MS;
  for (;;) {
    const md = await wire.request(ApiKey.Metadata, METADATA_VERSION, { topics: [{ name: topic }], allowAutoTopicCreation: true });
    const t = md.topics.find((x) => x.name === topic);
    const p = t?.partitions.find((x) => x.partitionIndex === 0);
    if (t?.errorCode === KafkaErrorCode.NONE && p?.errorCode === KafkaErrorCode.NONE && p.leaderId >= 0) break;
    const code = t?.errorCode ? t.errorCode : (p?.errorCode ?? -1);
    if (!RETRIABLE.has(code) && code !== -1) throw new Error(`Metadata for ${topic}: error ${code} (${errorName(code)})`);
    if (Date.now() > deadline) throw new Error(`topic ${topic} has no leader after ${SETUP_TIMEOUT_MS / 1000} s`);
    await sleep(100);
  }
  const probe = produceFrame(topic, recordBytes, 1);
  for (;;) {
    const code = await sendOne(wire, Buffer.from(probe));
    if (code === undefined) return;
    if (!RETRIABLE.has(code)) throw new Error(`probe Produce to ${topic}: error ${code} (${errorName(code)})`);
    if (Date.now() > deadline) throw new Error(`probe Produce to ${topic} still fails (error ${code})`);
    await sleep(100);
  }
}

// --- measured windows ------------------------------------------------------------------------------

interface Snapshot {
  at: number;
  broker: CpuSample | undefined;
  machine: number;
  self: NodeJS.CpuUsage;
}

const snapshot = (brokerPid: number | undefined): Snapshot => ({
  at: performance.now(),
  broker: brokerPid ? sampleProcessCpu(brokerPid) : undefined,
  machine: machineBusySeconds(),
  self: process.cpuUsage(),
});

export interface WindowCpu {
  seconds: number;
  /** The broker's CPU seconds (all threads) over the window, and the cores that is. */
  brokerCpuSeconds: number | null;
  brokerCores: number | null;
  /** This generator's CPU cores over the window. */
  generatorCores: number;
  /** Busy cores of the whole machine (other users included). */
  machineBusyCores: number;
}

function windowCpu(a: Snapshot, b: Snapshot): WindowCpu {
  const seconds = (b.at - a.at) / 1000;
  const broker = a.broker && b.broker ? b.broker.total - a.broker.total : null;
  const self = (b.self.user + b.self.system - a.self.user - a.self.system) / 1e6;
  return {
    seconds: round(seconds, 3),
    brokerCpuSeconds: broker === null ? null : round(broker, 2),
    brokerCores: broker === null ? null : round(broker / seconds, 2),
    generatorCores: round(self / seconds, 2),
    machineBusyCores: round((machineBusySeconds() - a.machine) / seconds, 2),
  };
}

/** Calls `onStart` after the warm-up and resolves with both snapshots after the measured window. */
function windowsOf(o: { warmupSeconds: number; measureSeconds: number; brokerPid?: number | undefined }, onStart: () => void, onEnd: () => void): Promise<[Snapshot, Snapshot]> {
  return new Promise((resolve) => {
    setTimeout(() => {
      const a = snapshot(o.brokerPid);
      onStart();
      setTimeout(() => {
        onEnd();
        resolve([a, snapshot(o.brokerPid)]);
      }, o.measureSeconds * 1000);
    }, o.warmupSeconds * 1000);
  });
}

// --- modes ---------------------------------------------------------------------------------------

type Options<M extends string> = Extract<z.output<typeof loadOptionsSchema>, { mode: M }>;

async function produce(o: Options<'produce'>) {
  const wire = await openSession(o.conn);
  await ensureTopic(wire, o.topic, o.recordBytes);
  const template = produceFrame(o.topic, o.recordBytes, o.batchRecords);
  let phase: 'warmup' | 'measure' | 'drain' = 'warmup';
  let measured = 0;
  let failure: Error | undefined;
  const slots = Array.from({ length: o.inflight }, () => Buffer.from(template));
  const send = (slot: Buffer): void =>
    wire.sendFrame(
      slot,
      (frame) => {
        const code = produceError(frame);
        if (code !== undefined) failure ??= new Error(`Produce to ${o.topic}: error ${code} (${errorName(code)})`);
        if (phase === 'measure') measured++;
        if (phase !== 'drain' && !failure) send(slot);
      },
      (err) => (failure ??= err),
    );
  for (const s of slots) send(s);
  const [a, b] = await windowsOf(
    o,
    () => (phase = 'measure'),
    () => (phase = 'drain'),
  );
  const cpu = windowCpu(a, b);
  const deadline = Date.now() + 30_000;
  while (wire.inFlight > 0 && !failure && Date.now() < deadline) await sleep(5);
  wire.end();
  if (failure) throw failure;
  const records = measured * o.batchRecords;
  return {
    mode: o.mode,
    topic: o.topic,
    recordBytes: o.recordBytes,
    batchRecords: o.batchRecords,
    requestBytes: template.length,
    inflight: o.inflight,
    requests: measured,
    records,
    requestsPerSec: Math.round(measured / cpu.seconds),
    recordsPerSec: Math.round(records / cpu.seconds),
    mbPerSec: round((records * o.recordBytes) / 1e6 / cpu.seconds),
    brokerCpuUsPerRecord: cpu.brokerCpuSeconds === null ? null : round((cpu.brokerCpuSeconds * 1e6) / records, 3),
    brokerCpuUsPerRequest: cpu.brokerCpuSeconds === null ? null : round((cpu.brokerCpuSeconds * 1e6) / measured, 2),
    ...cpu,
  };
}

/** Walks the record batches of a Fetch answer: complete batches only (a fetch may end mid-batch). */
function walkBatches(records: Buffer): { batches: number; records: number; bytes: number; nextOffset: number | undefined } {
  let pos = 0;
  let batches = 0;
  let count = 0;
  let nextOffset: number | undefined;
  while (pos + 61 <= records.length) {
    const length = records.readInt32BE(pos + 8);
    if (pos + 12 + length > records.length) break;
    const base = Number(records.readBigInt64BE(pos));
    const lastDelta = records.readInt32BE(pos + 23);
    count += records.readInt32BE(pos + 57);
    nextOffset = base + lastDelta + 1;
    batches++;
    pos += 12 + length;
  }
  return { batches, records: count, bytes: pos, nextOffset };
}

async function consume(o: Options<'consume'>) {
  const wire = await openSession(o.conn);
  const state = { phase: 'warmup' as 'warmup' | 'measure' | 'done' };
  let offset = 0;
  let records = 0;
  let bytes = 0;
  let fetches = 0;
  let wraps = 0;
  const fetchOnce = async () => {
    const r = await wire.request(ApiKey.Fetch, FETCH_VERSION, {
      maxWaitMs: 500,
      minBytes: 1,
      maxBytes: o.maxBytes,
      topics: [{ topic: o.topic, partitions: [{ partition: 0, fetchOffset: offset, partitionMaxBytes: o.maxBytes }] }],
      forgottenTopicsData: [],
    });
    const p = r.responses[0]?.partitions[0];
    if (r.errorCode !== KafkaErrorCode.NONE || !p || p.errorCode !== KafkaErrorCode.NONE) throw new Error(`Fetch ${o.topic}@${offset}: error ${r.errorCode || p?.errorCode} (${errorName(r.errorCode || (p?.errorCode ?? -1))})`);
    const w = walkBatches(p.records ?? Buffer.alloc(0));
    if (w.nextOffset !== undefined) offset = w.nextOffset;
    if (offset >= p.highWatermark) {
      offset = 0; // around again: the page cache holds the log
      wraps++;
    }
    return w;
  };
  const first = await fetchOnce();
  if (first.records === 0) throw new Error(`Fetch ${o.topic}: the topic is empty`);
  let failure: Error | undefined;
  const loop = (async () => {
    while (state.phase !== 'done') {
      const w = await fetchOnce();
      if (state.phase === 'measure') {
        records += w.records;
        bytes += w.bytes;
        fetches++;
      }
    }
  })().catch((err: Error) => (failure = err));
  const [a, b] = await windowsOf(
    o,
    () => (state.phase = 'measure'),
    () => (state.phase = 'done'),
  );
  const cpu = windowCpu(a, b);
  await loop;
  wire.end();
  if (failure) throw failure;
  return {
    mode: o.mode,
    topic: o.topic,
    maxBytes: o.maxBytes,
    fetches,
    records,
    batchBytes: bytes,
    wraps,
    recordsPerSec: Math.round(records / cpu.seconds),
    mbPerSec: round((records * o.recordBytes) / 1e6 / cpu.seconds),
    brokerCpuUsPerRecord: cpu.brokerCpuSeconds === null ? null : round((cpu.brokerCpuSeconds * 1e6) / records, 3),
    ...cpu,
  };
}

/** One login on a fresh connection: its milliseconds, or a refusal. */
async function loginOnce(c: Connection, localAddress: string | undefined): Promise<{ ok: boolean; ms: number }> {
  const t0 = performance.now();
  const wire = await openWire({ host: c.host, port: c.port, tlsCa: caOf(c.tlsCaFile), ...(localAddress ? { localAddress } : {}) });
  try {
    await wire.apiVersions();
    const ok = c.mechanism === 'anonymous' ? true : (await saslLogin(wire, c.mechanism, c.user, c.password)).ok;
    return { ok, ms: performance.now() - t0 };
  } finally {
    wire.end();
  }
}

/**
 * `concurrency` loops of `attempt` through the warm-up and measured windows: logins per second
 * (successes), latency percentiles of every answered attempt, refusals and errors, broker CPU.
 */
async function loginLoops(o: Options<'logins' | 'http-logins'>, attempt: () => Promise<{ ok: boolean; ms: number; refusal?: string }>) {
  let phase: 'warmup' | 'measure' | 'done' = 'warmup';
  let ok = 0;
  let refused = 0;
  let errors = 0;
  let firstError = '';
  const ms: number[] = [];
  const worker = async () => {
    while (phase !== 'done') {
      try {
        const r = await attempt();
        if (phase !== 'measure') continue;
        if (r.ok) ok++;
        else {
          refused++;
          if (r.refusal) firstError ||= r.refusal;
        }
        ms.push(r.ms);
      } catch (err) {
        if (phase === 'measure') errors++;
        firstError ||= (err as Error).message;
        await sleep(10);
      }
    }
  };
  const workers = Array.from({ length: o.concurrency }, worker);
  const [a, b] = await windowsOf(
    o,
    () => (phase = 'measure'),
    () => (phase = 'done'),
  );
  const cpu = windowCpu(a, b);
  await Promise.all(workers);
  const [p50, p99] = percentiles(ms, [50, 99]);
  return {
    ok,
    refused,
    errors,
    ...(firstError ? { firstError: firstError.slice(0, 300) } : {}),
    loginsPerSec: round(ok / cpu.seconds),
    p50Ms: round(p50!, 2),
    p99Ms: round(p99!, 2),
    brokerCpuMsPerLogin: cpu.brokerCpuSeconds === null || ok === 0 ? null : round((cpu.brokerCpuSeconds * 1e3) / ok, 3),
    ...cpu,
  };
}

async function logins(o: Options<'logins'>) {
  const nextSource = sourcePool(o.sourceNet);
  const stats = await loginLoops(o, () => loginOnce(o.conn, nextSource()));
  return { mode: o.mode, mechanism: o.conn.mechanism, tls: o.conn.tlsCaFile !== undefined, concurrency: o.concurrency, ...stats };
}

async function httpLogins(o: Options<'http-logins'>) {
  const agent = new Agent({ keepAlive: true, maxSockets: o.concurrency, ca: readFileSync(o.tlsCaFile, 'utf8') });
  const body = JSON.stringify({ username: o.user, password: o.password });
  const url = new URL('/v1/login', o.url);
  const post = () =>
    new Promise<{ status: number; token: boolean }>((resolve, reject) => {
      const req = httpsRequest(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          let token = false;
          try {
            token = typeof (JSON.parse(text) as { token?: unknown }).token === 'string';
          } catch {
            // not JSON: counted as no token
          }
          resolve({ status: res.statusCode ?? 0, token });
        });
      });
      req.on('error', reject);
      req.end(body);
    });
  const stats = await loginLoops(o, async () => {
    const t0 = performance.now();
    const r = await post();
    const ok = r.status === 200 && r.token;
    return { ok, ms: performance.now() - t0, ...(ok ? {} : { refusal: `HTTP ${r.status}` }) };
  });
  agent.destroy();
  return { mode: o.mode, concurrency: o.concurrency, ...stats };
}

async function latency(o: Options<'latency'>) {
  const wire = await openSession(o.conn);
  await ensureTopic(wire, o.topic, o.recordBytes);
  const template = produceFrame(o.topic, o.recordBytes, 1);
  const total = Math.ceil((o.warmupSeconds + o.measureSeconds) * o.rate);
  const warm = Math.ceil(o.warmupSeconds * o.rate);
  const fromSchedule = new Float64Array(total - warm);
  const fromSend = new Float64Array(total - warm);
  let sent = 0;
  let answered = 0;
  let failure: Error | undefined;
  const t0 = performance.now();
  const intervalMs = 1000 / o.rate;
  const a = { snap: undefined as Snapshot | undefined };
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      const due = Math.min(total, Math.floor((now - t0) / intervalMs) + 1);
      while (sent < due && !failure) {
        const k = sent++;
        if (k === warm) a.snap = snapshot(undefined);
        const scheduled = t0 + k * intervalMs;
        const at = performance.now();
        wire.sendFrame(
          Buffer.from(template),
          (frame) => {
            const end = performance.now();
            const code = produceError(frame);
            if (code !== undefined) failure ??= new Error(`Produce to ${o.topic}: error ${code} (${errorName(code)})`);
            if (k >= warm) {
              fromSchedule[k - warm] = end - scheduled;
              fromSend[k - warm] = end - at;
            }
            if (++answered === total) resolve();
          },
          (err) => {
            failure ??= err;
            resolve();
          },
        );
      }
      if (sent < total && !failure) setTimeout(tick, Math.max(0, t0 + sent * intervalMs - performance.now()));
    };
    tick();
  });
  const cpu = windowCpu(a.snap ?? snapshot(undefined), snapshot(undefined));
  wire.end();
  if (failure) throw failure;
  const ps = [50, 90, 99, 99.9, 100] as const;
  const q = (xs: Float64Array) => Object.fromEntries(percentiles(xs, ps).map((v, i) => [`p${String(ps[i]).replace('.', '')}Ms`, round(v, 3)]));
  return {
    mode: o.mode,
    topic: o.topic,
    recordBytes: o.recordBytes,
    rate: o.rate,
    samples: total - warm,
    sendLagNote: 'fromSchedule counts from when the request was due; fromSend from when it was written',
    fromSchedule: q(fromSchedule),
    fromSend: q(fromSend),
    seconds: cpu.seconds,
    generatorCores: cpu.generatorCores,
    machineBusyCores: cpu.machineBusyCores,
  };
}

async function storm(o: Options<'storm'>) {
  const nextSource = sourcePool(o.sourceNet);
  const ca = readFileSync(o.tlsCaFile, 'utf8');
  const deadline = performance.now() + o.seconds * 1000;
  const stats = o.roles.map((r) => ({ role: r.name, mechanism: r.mechanism, tls: r.tls, expectOk: r.expectOk, attempts: 0, ok: 0, refused: 0, errors: 0, firstError: '', ms: [] as number[] }));
  const worker = async (i: number) => {
    const role = o.roles[i % o.roles.length]!;
    const s = stats[i % o.roles.length]!;
    while (performance.now() < deadline) {
      s.attempts++;
      const t0 = performance.now();
      try {
        const src = nextSource();
        const wire = await openWire({ host: o.host, port: role.port, ...(role.tls ? { tlsCa: ca } : {}), ...(src ? { localAddress: src } : {}) });
        try {
          await wire.apiVersions();
          const r = await saslLogin(wire, role.mechanism, role.user, role.password);
          if (r.ok) s.ok++;
          else s.refused++;
          s.ms.push(performance.now() - t0);
        } finally {
          wire.end();
        }
      } catch (err) {
        s.errors++;
        s.firstError ||= (err as Error).message;
        await sleep(10);
      }
    }
  };
  const a = snapshot(undefined);
  await Promise.all(Array.from({ length: o.connections }, (_, i) => worker(i)));
  const cpu = windowCpu(a, snapshot(undefined));
  return {
    mode: o.mode,
    connections: o.connections,
    seconds: cpu.seconds,
    generatorCores: cpu.generatorCores,
    roles: stats.map(({ ms, firstError, ...s }) => {
      const [p50, p99] = percentiles(ms, [50, 99]);
      return { ...s, attemptsPerSec: round((s.ok + s.refused) / cpu.seconds), p50Ms: round(p50!, 1), p99Ms: round(p99!, 1), ...(firstError ? { firstError: firstError.slice(0, 300) } : {}) };
    }),
  };
}

// --- command line ------------------------------------------------------------------------------------

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  const parsed = loadOptionsSchema.safeParse(JSON.parse(process.env.BENCH_AUTH_LOAD ?? 'null'));
  if (!parsed.success) {
    console.error(`auth-load: BENCH_AUTH_LOAD: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    process.exit(2);
  }
  const o = parsed.data;
  try {
    const result =
      o.mode === 'produce'
        ? await produce(o)
        : o.mode === 'consume'
          ? await consume(o)
          : o.mode === 'logins'
            ? await logins(o)
            : o.mode === 'http-logins'
              ? await httpLogins(o)
              : o.mode === 'latency'
                ? await latency(o)
                : await storm(o);
    console.log(JSON.stringify(result));
    process.exit(0);
  } catch (err) {
    console.error(`auth-load: ${(err as Error).message}`);
    process.exit(1);
  }
}
