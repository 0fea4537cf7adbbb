// Fuzzes the request decoder (and, more lightly, the response decoder) with random frames and
// with valid frames of every API and version, mutated: bit flips, truncations, absurd lengths
// written over the frame, splices of two frames, inserted and deleted bytes, another API's
// header on this API's body. Only ProtocolError may come out, and memory must stay flat.
//
// Every case draws from its own PRNG seeded by (FUZZ_SEED, case number), so one failing case
// reproduces alone: FUZZ_SEED=<seed> FUZZ_CASE=<n> node scripts/run-tests.mjs kafka-protocol-fuzz
// FUZZ_CASES sets how many cases run (default 1,000,000 requests + 200,000 responses).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeRequest, decodeResponse, encodeRequest, encodeResponse, ProtocolError, SUPPORTED_VERSIONS, type ApiKeyValue, type RequestHeader } from '../src/kafka/index.ts';
import { APIS, type ApiName } from '../src/kafka/registry.ts';
import { sampleRequest, sampleResponse, type SampleMode } from '../src/kafka/samples.ts';

const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 32)) >>> 0;
const ONLY_CASE = process.env.FUZZ_CASE === undefined ? undefined : Number(process.env.FUZZ_CASE);
const REQUEST_CASES = Number(process.env.FUZZ_CASES ?? 1_000_000);
const RESPONSE_CASES = Math.ceil(REQUEST_CASES / 5);
const RSS_GROWTH_LIMIT = 256 * 2 ** 20;
/** 1024 cases take about 6 ms; far more means something allocates or loops per case. */
const BATCH_TIME_LIMIT_MS = 2000;

/** sfc32: small, fast, and good enough to drive mutations. */
class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;
  constructor(seed: number, stream: number) {
    this.#a = seed | 0;
    this.#b = stream | 0;
    this.#c = 0x9e3779b9;
    this.#d = (seed ^ Math.imul(stream, 0x85ebca6b)) | 0;
    for (let i = 0; i < 12; i++) this.u32();
  }
  u32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }
  below(n: number): number {
    return this.u32() % n;
  }
  float(): number {
    return this.u32() / 4294967296;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.below(xs.length)]!;
  }
}

// ---- Corpus: valid frames of every API at every advertised version --------------------------

interface Corpus {
  frames: Buffer[];
  /** For responses: what each frame answers. */
  targets: { apiKey: number; apiVersion: number }[];
}

function buildCorpus(kind: 'request' | 'response'): Corpus {
  const rng = new Rng(SEED, 0xc0ffee);
  const random = () => rng.float();
  const frames: Buffer[] = [];
  const targets: Corpus['targets'] = [];
  const modes: SampleMode[] = ['full', 'minimal', 'random', 'random'];
  for (const [name, api] of Object.entries(APIS) as [ApiName, (typeof APIS)[ApiName]][]) {
    const { min, max } = SUPPORTED_VERSIONS[api.apiKey]!;
    for (let v = min; v <= max; v++) {
      for (const mode of modes) {
        const header = { apiKey: api.apiKey, apiVersion: v, correlationId: rng.u32() | 0, clientId: mode === 'minimal' ? null : 'fuzz' } as RequestHeader<ApiKeyValue>;
        const framed = kind === 'request' ? encodeRequest(header, sampleRequest(name, v, mode, random) as never) : encodeResponse(header, sampleResponse(name, v, mode, random) as never);
        frames.push(framed.subarray(4));
        targets.push({ apiKey: api.apiKey, apiVersion: v });
      }
    }
  }
  return { frames, targets };
}

const HEADERS: readonly [number, number][] = Object.entries(SUPPORTED_VERSIONS).flatMap(([key, r]) => Array.from({ length: r.max - r.min + 1 }, (_, i) => [Number(key), r.min + i] as [number, number]));

// ---- Mutations ---------------------------------------------------------------------------------

const INT32S = [0x7fffffff, 0x80000000, 0xffffffff, 0xfffffffe, 0x40000000, 0x00010000, 0x00000100, 0];
const INT16S = [0x7fff, 0x8000, 0xffff, 0xfffe, 0x0100];
const VARINTS = [
  [0xff, 0xff, 0xff, 0xff, 0x0f],
  [0xfe, 0xff, 0xff, 0xff, 0x0f],
  [0xff, 0xff, 0xff, 0xff, 0xff],
  [0x80, 0x80, 0x80, 0x80, 0x10],
  [0x80, 0x80, 0x01],
  [0x00],
];

function randomFrame(rng: Rng): Buffer {
  const b = Buffer.allocUnsafe(rng.below(rng.below(8) === 0 ? 600 : 48));
  for (let i = 0; i < b.length; i++) b[i] = rng.u32() & 0xff;
  if (b.length >= 4 && rng.below(4) !== 0) {
    const [key, version] = rng.pick(HEADERS);
    b.writeInt16BE(key, 0);
    b.writeInt16BE(version, 2);
  }
  return b;
}

/** An offset, biased towards the body: the header is 8 bytes and then the client id. */
const offset = (rng: Rng, length: number) => (length === 0 ? 0 : rng.below(4) === 0 ? rng.below(length) : Math.min(length - 1, 8 + rng.below(Math.max(1, length - 8))));

function mutate(frame: Buffer, rng: Rng, corpus: Corpus): Buffer {
  let b = Buffer.from(frame);
  const steps = 1 + rng.below(3);
  for (let s = 0; s < steps; s++) {
    switch (rng.below(9)) {
      case 0: {
        const flips = 1 + rng.below(8);
        for (let i = 0; i < flips && b.length > 0; i++) b[rng.below(b.length)]! ^= 1 << rng.below(8);
        break;
      }
      case 1:
        b = b.subarray(0, rng.below(b.length + 1));
        break;
      case 2: {
        const at = offset(rng, b.length);
        if (at + 4 <= b.length) b.writeUInt32BE(rng.below(3) === 0 ? rng.u32() : rng.pick(INT32S), at);
        break;
      }
      case 3: {
        const at = offset(rng, b.length);
        if (at + 2 <= b.length) b.writeUInt16BE(rng.pick(INT16S), at);
        break;
      }
      case 4: {
        const at = offset(rng, b.length);
        const v = rng.pick(VARINTS);
        for (let i = 0; i < v.length && at + i < b.length; i++) b[at + i] = v[i]!;
        break;
      }
      case 5: {
        const other = rng.pick(corpus.frames);
        b = Buffer.concat([b.subarray(0, rng.below(b.length + 1)), other.subarray(rng.below(other.length + 1))]);
        break;
      }
      case 6: {
        const at = rng.below(b.length + 1);
        const extra = Buffer.allocUnsafe(1 + rng.below(8));
        for (let i = 0; i < extra.length; i++) extra[i] = rng.u32() & 0xff;
        b = rng.below(2) === 0 ? Buffer.concat([b.subarray(0, at), extra, b.subarray(at)]) : Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + extra.length))]);
        break;
      }
      case 7:
        // This API's body under another API's (or version's) header.
        if (b.length >= 4) {
          const [key, version] = rng.pick(HEADERS);
          b.writeInt16BE(key, 0);
          b.writeInt16BE(version, 2);
        }
        break;
      default:
        if (b.length > 0) b[offset(rng, b.length)] = rng.pick([0x00, 0xff, 0x7f, 0x80, 0x01]);
    }
  }
  return b;
}

// ---- The run ---------------------------------------------------------------------------------

interface Outcome {
  cases: number;
  decoded: number;
  rejected: number;
  ms: number;
  rssGrowth: number;
}

function run(kind: 'request' | 'response', cases: number, stream: number): Outcome {
  const corpus = buildCorpus(kind);
  const baseline = process.memoryUsage.rss();
  let peak = baseline;
  let decoded = 0;
  let rejected = 0;
  const started = performance.now();
  let batchStart = 0;
  let batchStarted = started;
  const from = ONLY_CASE ?? 0;
  const to = ONLY_CASE === undefined ? cases : ONLY_CASE + 1;
  for (let i = from; i < to; i++) {
    const rng = new Rng(SEED, stream + i);
    const pick = rng.below(corpus.frames.length);
    const frame = rng.below(10) === 0 ? randomFrame(rng) : mutate(corpus.frames[pick]!, rng, corpus);
    try {
      if (kind === 'request') decodeRequest(frame);
      else {
        const t = corpus.targets[pick]!;
        decodeResponse(frame, t.apiKey as ApiKeyValue, t.apiVersion);
      }
      decoded++;
    } catch (err) {
      if (!(err instanceof ProtocolError)) {
        const where = `FUZZ_SEED=${SEED} FUZZ_CASE=${i} (${kind})`;
        console.error(`${where}\nframe: ${frame.toString('hex')}`);
        assert.fail(`${where}: ${err instanceof Error ? err.stack : String(err)}`);
      }
      rejected++;
    }
    if ((i & 0x3ff) === 0) {
      // Fail as soon as memory or time runs away: an unchecked length allocates per case, and
      // collecting that garbage stalls the run long before it ends.
      const rss = process.memoryUsage.rss();
      peak = Math.max(peak, rss);
      const now = performance.now();
      const where = `FUZZ_SEED=${SEED}, ${kind} cases ${batchStart}-${i}`;
      assert.ok(rss - baseline < RSS_GROWTH_LIMIT, `${where}: rss grew ${Math.round((rss - baseline) / 2 ** 20)} MiB`);
      assert.ok(now - batchStarted < BATCH_TIME_LIMIT_MS, `${where}: 1024 cases took ${Math.round(now - batchStarted)} ms`);
      batchStart = i;
      batchStarted = now;
    }
  }
  const ms = performance.now() - started;
  peak = Math.max(peak, process.memoryUsage.rss());
  return { cases: to - from, decoded, rejected, ms, rssGrowth: peak - baseline };
}

function report(kind: string, o: Outcome): void {
  const rate = Math.round(o.cases / (o.ms / 1000));
  console.log(
    `fuzz ${kind}s: seed ${SEED}, ${o.cases} cases in ${(o.ms / 1000).toFixed(1)} s (${rate}/s), ${o.decoded} decoded, ${o.rejected} rejected, rss +${(o.rssGrowth / 2 ** 20).toFixed(1)} MiB`,
  );
}

test(`request decoder: only ProtocolError, flat memory (seed ${SEED})`, () => {
  const o = run('request', REQUEST_CASES, 0);
  report('request', o);
  assert.ok(o.rssGrowth < RSS_GROWTH_LIMIT, `rss grew ${o.rssGrowth} bytes`);
  if (ONLY_CASE === undefined) {
    assert.ok(o.decoded > o.cases / 100, 'a fair share of mutated frames still decode: the fuzzer reaches deep into bodies');
    assert.ok(o.rejected > o.cases / 2);
  }
});

test(`response decoder: only ProtocolError, flat memory (seed ${SEED})`, () => {
  const o = run('response', RESPONSE_CASES, 0x4000_0000);
  report('response', o);
  assert.ok(o.rssGrowth < RSS_GROWTH_LIMIT, `rss grew ${o.rssGrowth} bytes`);
});
