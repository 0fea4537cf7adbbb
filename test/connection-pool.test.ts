// Pooled copies of large Produce frames (src/broker/kafka/connection.ts): a frame of 64 KiB or
// more that spans socket chunks is copied into a buffer that goes back to a shared pool when its
// handler settles, and is then reused for another frame. These tests pipeline many such frames,
// with distinct payloads, and check every byte: through a real broker (acks=1, acks=0, an
// idempotent producer whose state is read from the frame), and at the connection with handlers
// that hold their frame across awaits, a client that disconnects mid-way, and non-Produce frames
// (which must never be pooled: their handlers may keep slices).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ByteBudget, SizeClassPool } from '../src/broker/kafka/buffer-pool.ts';
import { KafkaConnection, POOLED_FRAME_BYTES } from '../src/broker/kafka/connection.ts';
import { directSocket } from '../src/broker/kafka/direct-socket.ts';
import { ApiKey, decodeResponse, encodeRequest, type ApiKeyValue, type ApiNameOf, type RequestBodyInput, type ResponseBody } from '../src/kafka/index.ts';
import { buildRecordBatch, decodeRecords, LOG_OVERHEAD, OFF } from '../src/log/index.ts';
import { startTestBroker, type TestBroker } from './harness/broker.ts';

/** One socket; requests are queued and written together (so frames share and span chunks), answers matched by correlation id, in order. */
class PipelinedClient {
  readonly #socket: Socket;
  #queued: Buffer[] = [];
  #buffer = Buffer.alloc(0);
  #nextId = 1;
  readonly #waiting: { id: number; resolve: (frame: Buffer) => void; reject: (err: Error) => void }[] = [];

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      while (this.#buffer.length >= 4 && this.#buffer.length >= 4 + this.#buffer.readInt32BE(0)) {
        const frame = this.#buffer.subarray(4, 4 + this.#buffer.readInt32BE(0));
        this.#buffer = this.#buffer.subarray(4 + frame.length);
        const w = this.#waiting.shift();
        assert.ok(w, 'an answer nobody waits for');
        assert.equal(frame.readInt32BE(0), w.id, 'answers come in request order');
        w.resolve(frame);
      }
    });
    socket.on('close', () => {
      for (const w of this.#waiting.splice(0)) w.reject(new Error('connection closed'));
    });
  }

  static async connect(port: number): Promise<PipelinedClient> {
    const socket = connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new PipelinedClient(socket);
  }

  /** Queues a request; the promise resolves to its answer (never, for Produce with acks=0: don't await it). */
  queue<K extends ApiKeyValue>(apiKey: K, apiVersion: number, body: RequestBodyInput<ApiNameOf<K>>, answered = true): Promise<ResponseBody<ApiNameOf<K>>> {
    const id = this.#nextId++;
    this.#queued.push(encodeRequest({ apiKey, apiVersion, correlationId: id, clientId: 'pool-test' }, body));
    if (!answered) return new Promise(() => undefined);
    return new Promise<Buffer>((resolve, reject) => this.#waiting.push({ id, resolve, reject })).then((f) => decodeResponse(f, apiKey, apiVersion).body);
  }

  send(): void {
    this.#socket.write(Buffer.concat(this.#queued));
    this.#queued = [];
  }

  close(): void {
    this.#socket.destroy();
  }
}

async function createTopics(c: PipelinedClient, names: string[]): Promise<void> {
  const r = c.queue(ApiKey.CreateTopics, 4, { topics: names.map((name) => ({ name, numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] })), timeoutMs: 5000, validateOnly: false });
  c.send();
  for (const t of (await r).topics) assert.equal(t.errorCode, 0, `${t.name}: ${t.errorMessage}`);
}

/** Batches of a Fetch response's records, back to back. */
function batchesOf(records: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let p = 0; p + LOG_OVERHEAD <= records.length; ) {
    const size = records.readInt32BE(p + OFF.batchLength) + LOG_OVERHEAD;
    if (p + size > records.length) break;
    out.push(records.subarray(p, p + size));
    p += size;
  }
  return out;
}

/** Every record value of a partition, in offset order. */
async function readAll(port: number, topic: string): Promise<Buffer[]> {
  const c = await PipelinedClient.connect(port);
  const values: Buffer[] = [];
  let offset = 0;
  try {
    for (;;) {
      const pending = c.queue(ApiKey.Fetch, 11, { replicaId: -1, maxWaitMs: 0, minBytes: 0, maxBytes: 4 << 20, isolationLevel: 0, sessionId: 0, sessionEpoch: -1, topics: [{ topic, partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: offset, logStartOffset: -1, partitionMaxBytes: 4 << 20 }] }], forgottenTopicsData: [], rackId: '' });
      c.send();
      const r = await pending;
      const p = r.responses[0]!.partitions[0]!;
      assert.equal(p.errorCode, 0);
      const batches = batchesOf(p.records ?? Buffer.alloc(0));
      if (batches.length === 0) return values;
      for (const b of batches) {
        const base = Number(b.readBigInt64BE(OFF.baseOffset));
        assert.equal(base, offset, 'offsets continue');
        const recs = decodeRecords(b);
        for (const rec of recs) values.push(Buffer.from(rec.value!));
        offset = base + recs.length;
      }
    }
  } finally {
    c.close();
  }
}

// Frame sizes across the pool's size classes (64 KiB to 2 MiB), each spanning socket chunks.
const RECORD_SIZES = [70 << 10, 130 << 10, 300 << 10, 700 << 10, (1 << 20) + 1000, 65 << 10];

describe('large Produce frames in pooled buffers, through the broker', () => {
  let t: TestBroker;
  before(async () => {
    t = await startTestBroker();
  });
  after(() => t?.stop());

  for (const acks of [1, 0] as const) {
    test(`acks=${acks}: 36 pipelined requests on one connection, two topics each, every byte read back`, async () => {
      const topics = [`pool-a-acks${acks}`, `pool-b-acks${acks}`];
      const c = await PipelinedClient.connect(t.broker.kafkaPort!);
      // Create the topics first, so the pipelined requests all append.
      await createTopics(c, topics);
      const sent: Record<string, Buffer[]> = { [topics[0]!]: [], [topics[1]!]: [] };
      const answers: Promise<ResponseBody<'Produce'>>[] = [];
      for (let i = 0; i < 36; i++) {
        const topicData = topics.map((name, k) => {
          const values = [randomBytes(RECORD_SIZES[(i + k) % RECORD_SIZES.length] ?? 0), randomBytes(100 + i)];
          sent[name]!.push(...values);
          return { name, partitionData: [{ index: 0, records: buildRecordBatch(values.map((value) => ({ key: null, value }))) }] };
        });
        answers.push(c.queue(ApiKey.Produce, 8, { transactionalId: null, acks, timeoutMs: 5000, topicData }, acks !== 0));
      }
      // Answers are written in request order, so this one comes once every Produce was handled.
      const done = c.queue(ApiKey.Metadata, 8, { topics: [], allowAutoTopicCreation: false, includeClusterAuthorizedOperations: false, includeTopicAuthorizedOperations: false });
      c.send();
      if (acks !== 0) {
        const offsets: Record<string, number> = { [topics[0]!]: 0, [topics[1]!]: 0 };
        for (const r of await Promise.all(answers)) {
          for (const tr of r.responses) {
            const p = tr.partitionResponses[0]!;
            assert.equal(p.errorCode, 0, p.errorMessage ?? '');
            assert.equal(Number(p.baseOffset), offsets[tr.name]);
            offsets[tr.name]! += 2;
          }
        }
      }
      await done;
      c.close();
      for (const name of topics) {
        const got = await readAll(t.broker.kafkaPort!, name);
        assert.equal(got.length, sent[name]!.length, `${name}: records read back`);
        got.forEach((v, i) => assert.ok(v.equals(sent[name]![i]!), `${name}: record ${i} differs from what was sent`));
      }
    });
  }

  test('idempotent producer: sequences recorded from pooled frames; a retried batch is answered as a duplicate', async () => {
    const topic = 'pool-idempotent';
    const c = await PipelinedClient.connect(t.broker.kafkaPort!);
    const init = c.queue(ApiKey.InitProducerId, 0, { transactionalId: null, transactionTimeoutMs: 60_000 });
    c.send();
    await createTopics(c, [topic]);
    const { producerId, producerEpoch } = await init;
    const batches: Buffer[] = [];
    const answers: Promise<ResponseBody<'Produce'>>[] = [];
    for (let i = 0; i < 12; i++) {
      const value = randomBytes(RECORD_SIZES[i % RECORD_SIZES.length] ?? 0);
      const batch = buildRecordBatch([{ key: null, value }, { key: null, value: randomBytes(10) }], { producerId: BigInt(producerId), producerEpoch, baseSequence: 2 * i });
      batches.push(Buffer.from(batch));
      answers.push(c.queue(ApiKey.Produce, 8, { transactionalId: null, acks: 1, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: 0, records: batch }] }] }));
    }
    c.send();
    const offsets = (await Promise.all(answers)).map((r) => r.responses[0]!.partitionResponses[0]!);
    offsets.forEach((p, i) => {
      assert.equal(p.errorCode, 0, p.errorMessage ?? '');
      assert.equal(Number(p.baseOffset), 2 * i);
    });
    // A retry of an earlier batch (the broker remembers five per producer), then the next in sequence.
    const retried = c.queue(ApiKey.Produce, 8, { transactionalId: null, acks: 1, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: 0, records: batches[9]! }] }] });
    const next = buildRecordBatch([{ key: null, value: randomBytes(80 << 10) }], { producerId: BigInt(producerId), producerEpoch, baseSequence: 24 });
    const nextAnswer = c.queue(ApiKey.Produce, 8, { transactionalId: null, acks: 1, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: 0, records: next }] }] });
    c.send();
    const dup = (await retried).responses[0]!.partitionResponses[0]!;
    assert.equal(dup.errorCode, 0);
    assert.equal(Number(dup.baseOffset), 18, 'the duplicate is answered with its first offset');
    const n = (await nextAnswer).responses[0]!.partitionResponses[0]!;
    assert.equal(n.errorCode, 0, n.errorMessage ?? '');
    assert.equal(Number(n.baseOffset), 24, 'the retry appended nothing');
    c.close();
    assert.equal((await readAll(t.broker.kafkaPort!, topic)).length, 25);
  });
});

for (const reads of ['direct', 'node'] as const) describe(`KafkaConnection with a pool, ${reads} reads`, () => {
  const digest = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  let server: Server;
  let pool: SizeClassPool;
  /** Frames of other APIs, kept by their handler as JoinGroup keeps member metadata; checked at the end. */
  const kept: { frame: Buffer; sha: string }[] = [];
  let handled = 0;
  let corrupted = 0;

  before(async () => {
    pool = new SizeClassPool(POOLED_FRAME_BYTES, 4 << 20, 8, 64 << 20);
    // Direct: as the broker's plaintext listeners do (direct-socket.ts); node: Node's own reads, as TLS listeners.
    server = createServer({ pauseOnConnect: true }, (raw) => {
      const direct = reads === 'direct' ? directSocket(raw) : undefined;
      if (reads === 'direct') assert.ok(direct, 'direct reads are available (build/sockfd.node)');
      else raw.resume();
      new KafkaConnection(
        direct ?? raw,
        async (frame) => {
          // The sender wrote the frame's own sha-256 in its last 32 bytes.
          const expected = frame.subarray(frame.length - 32).toString('hex');
          const body = frame.subarray(0, frame.length - 32);
          if (digest(body) !== expected) corrupted++;
          if (frame.readInt16BE(0) !== 0) kept.push({ frame, sha: expected });
          await sleep(Math.floor(Math.random() * 6)); // hold the frame across turns of the event loop
          if (digest(body) !== expected) corrupted++;
          handled++;
          const out = Buffer.alloc(8);
          out.writeInt32BE(4, 0);
          out.writeInt32BE(frame.readInt32BE(4), 4); // the correlation id
          return out;
        },
        { maxFrameBytes: 4 << 20, producePool: pool, directFrames: new ByteBudget(64 << 20) },
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  /** A frame with api key, correlation id, random filler and the sha-256 of what precedes it. */
  function frame(apiKey: number, correlationId: number, size: number): Buffer {
    const body = randomBytes(size - 32);
    body.writeInt16BE(apiKey, 0);
    body.writeInt32BE(correlationId, 4);
    const out = Buffer.alloc(4 + size);
    out.writeInt32BE(size, 0);
    body.copy(out, 4);
    createHash('sha256').update(body).digest().copy(out, 4 + body.length);
    return out;
  }

  async function client(frames: Buffer[], expectAnswers: boolean): Promise<void> {
    const socket = connect({ host: '127.0.0.1', port: (server.address() as { port: number }).port });
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    let received = 0;
    const answered = new Promise<void>((resolve) => {
      socket.on('data', (c: Buffer) => {
        received += c.length;
        if (received === 8 * frames.length) resolve();
      });
    });
    socket.write(Buffer.concat(frames));
    if (expectAnswers) {
      await answered;
      socket.destroy();
    } else socket.end(); // everything sent, then gone: the broker's side closes while handlers run

  }

  if (reads === 'direct') {
    test('a large frame is allocated ahead of its bytes only within the shared budget, and not before login', async () => {
      const budget = new ByteBudget(1_500_000);
      const answered: boolean[] = [];
      let accepted = 0;
      const ahead = createServer({ pauseOnConnect: true }, (raw) => {
        const loggedIn = accepted++ !== 0; // the first connection has not logged in
        new KafkaConnection(
          directSocket(raw)!,
          async (f) => {
            answered.push(digest(f.subarray(0, f.length - 32)) === f.subarray(f.length - 32).toString('hex'));
            const out = Buffer.alloc(8);
            out.writeInt32BE(4, 0);
            out.writeInt32BE(f.readInt32BE(4), 4);
            return out;
          },
          { maxFrameBytes: 4 << 20, producePool: new SizeClassPool(POOLED_FRAME_BYTES, 4 << 20, 8, 64 << 20), directFrames: budget, mayReadAhead: () => loggedIn },
        );
      });
      await new Promise<void>((resolve) => ahead.listen(0, '127.0.0.1', resolve));
      const port = (ahead.address() as { port: number }).port;
      const until = async (what: string, ok: () => boolean) => {
        for (let i = 0; i < 200 && !ok(); i++) await sleep(10);
        assert.ok(ok(), what);
      };
      const sockets: Socket[] = [];
      try {
        const frames = [1, 2, 3, 4].map((id) => frame(0, id, 1 << 20));
        /** A client that sends its frame's first 100 KiB and holds the rest back. */
        const startFrame = async (f: Buffer) => {
          const s = connect({ host: '127.0.0.1', port });
          await new Promise<void>((resolve) => s.once('connect', resolve));
          const n = sockets.push(s);
          await until(`connection ${n} accepted`, () => accepted === n);
          s.write(f.subarray(0, 100 << 10));
          await sleep(50);
          return s;
        };
        await startFrame(frames[0]!);
        assert.equal(budget.used, 0, 'not logged in: nothing allocated ahead');
        await startFrame(frames[1]!);
        await until('logged in: its frame is allocated ahead', () => budget.used === 1 << 20);
        await startFrame(frames[2]!);
        assert.equal(budget.used, 1 << 20, 'over the budget: read the ordinary way');
        for (const [i, s] of sockets.entries()) s.write(frames[i]!.subarray(100 << 10));
        await until('three answers', () => answered.length === 3);
        assert.deepEqual(answered, [true, true, true], 'every frame arrived intact, read ahead or not');
        await until('the budget is given back when the frame has arrived', () => budget.used === 0);
        // A client that goes away mid-frame gives its part of the budget back too.
        const quitter = await startFrame(frames[3]!);
        await until('allocated ahead', () => budget.used === 1 << 20);
        quitter.destroy();
        await until('given back on close', () => budget.used === 0);
      } finally {
        // Also when an assertion failed: an open client socket would keep the test process alive.
        for (const s of sockets) s.destroy();
        await new Promise<void>((resolve) => ahead.close(() => resolve()));
      }
    });
  }

  test('frames held across awaits stay intact while the pool reuses buffers; other APIs are never pooled', async () => {
    const sizes = [64 << 10, 100 << 10, 200 << 10, 1 << 20, 3 << 20, 40 << 10];
    const mk = (n: number) => Array.from({ length: n }, (_, i) => frame(i % 7 === 3 ? ApiKey.JoinGroup : 0, i, sizes[i % sizes.length] ?? 0));
    // Three connections at once, and one that goes away right after sending (its handlers run on).
    await Promise.all([client(mk(60), true), client(mk(60), true), client(mk(60), true), client(mk(30), false)]);
    for (let i = 0; i < 100 && handled < 210; i++) await sleep(20);
    assert.equal(handled, 210);
    assert.equal(corrupted, 0, 'a handler saw its frame change');
    assert.ok(kept.length > 0);
    for (const k of kept) assert.equal(digest(k.frame.subarray(0, k.frame.length - 32)), k.sha, 'a kept non-Produce frame was overwritten');
    // Pooling happened, and what the pool keeps is bounded: at most 8 per class used (64 KiB, 128 KiB, 256 KiB, 1 MiB, 4 MiB).
    assert.ok(pool.idleBytes > 0);
    assert.ok(pool.idleBytes <= 8 * ((64 + 128 + 256 + 1024 + 4096) << 10), `idle ${pool.idleBytes}`);
  });
});

test('SizeClassPool: exact views, power-of-two classes, caps per class and in all, double release ignored', () => {
  const pool = new SizeClassPool(64 << 10, 3 << 20, 2, 7 << 20);
  const a = pool.take(100 << 10);
  assert.equal(a.length, 100 << 10);
  assert.equal(a.buffer.byteLength >= 128 << 10, true);
  pool.release(a);
  pool.release(a);
  assert.equal(pool.idleBytes, 128 << 10);
  const b = pool.take(70 << 10);
  assert.equal(b.buffer, a.buffer, 'reused from the pool');
  assert.equal(pool.idleBytes, 0);
  const big = [pool.take(3 << 20), pool.take(3 << 20), pool.take((2 << 20) + 1)];
  for (const x of big) pool.release(x);
  assert.equal(pool.idleBytes, 2 * (3 << 20), 'the largest class is the maximum size; two kept per class');
  pool.release(Buffer.alloc(70 << 10)); // not from the pool: ignored
  assert.equal(pool.idleBytes, 2 * (3 << 20));
  const over = [pool.take(1 << 20), pool.take(1 << 20)];
  for (const x of over) pool.release(x);
  assert.equal(pool.idleBytes, 7 << 20, 'past maxIdleBytes, released buffers are dropped');
});
