// The Kafka listener against the real clients applications use: kcat (librdkafka) and kafkajs.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { Kafka, logLevel, Partitioners, type Consumer } from 'kafkajs';
import { startTestBroker, type TestBroker } from './harness/broker.ts';

let t: TestBroker;
const kafka = () => new Kafka({ brokers: [t.bootstrap], clientId: 'bulwark-test', logLevel: logLevel.NOTHING, retry: { retries: 3 } });

async function kcat(args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('kcat', ['-b', t.bootstrap, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      code === 0 ? resolve(out) : reject(new Error(`kcat ${args.join(' ')} exited ${code}: ${err}`));
    });
    child.stdin.end(input ?? '');
  });
}

describe('Kafka clients', () => {
  before(async () => {
    await promisify(execFile)('kcat', ['-V']); // fail loudly, not skip, when kcat is missing
    t = await startTestBroker({ config: { topics: { autoCreate: true } } });
  });
  after(() => t?.stop());

  test('kcat produces and consumes; metadata lists the broker and topic', async () => {
    await kcat(['-P', '-t', 'kcat-topic', '-K', ':'], 'k1:hello\nk2:world\n');
    const out = await kcat(['-C', '-t', 'kcat-topic', '-o', 'beginning', '-e', '-f', '%k=%s@%o\\n']);
    assert.deepEqual(out.trim().split('\n'), ['k1=hello@0', 'k2=world@1']);
    const meta = await kcat(['-L', '-t', 'kcat-topic']);
    assert.match(meta, /broker 0 at 127\.0\.0\.1:\d+ \(controller\)/);
    assert.match(meta, /topic "kcat-topic" with 1 partitions/);
  });

  test('kafkajs admin: create, describe configs, list offsets by time, delete', async () => {
    const admin = kafka().admin();
    await admin.connect();
    try {
      assert.equal(await admin.createTopics({ topics: [{ topic: 'admin-topic', numPartitions: 2, configEntries: [{ name: 'retention.ms', value: '60000' }] }] }), true);
      await assert.rejects(admin.createTopics({ topics: [{ topic: 'bad topic!' }] }));
      const configs = await admin.describeConfigs({ resources: [{ type: 2, name: 'admin-topic' }], includeSynonyms: false });
      const entries = Object.fromEntries(configs.resources[0]!.configEntries.map((e) => [e.configName, e.configValue]));
      assert.equal(entries['retention.ms'], '60000');
      // Names an object inherits (constructor, toString) are not configs: asked for, none come back.
      const odd = await admin.describeConfigs({ resources: [{ type: 2, name: 'admin-topic', configNames: ['constructor', 'toString', 'retention.ms'] }], includeSynonyms: false });
      assert.deepEqual(odd.resources[0]!.configEntries.map((e) => [e.configName, e.configValue]), [['retention.ms', '60000']]);
      const p = kafka().producer({ createPartitioner: Partitioners.DefaultPartitioner });
      await p.connect();
      const before = Date.now();
      await p.send({ topic: 'admin-topic', messages: [{ value: 'a', partition: 0, timestamp: String(before - 10_000) }, { value: 'b', partition: 0, timestamp: String(before) }] });
      await p.disconnect();
      const offsets = await admin.fetchTopicOffsets('admin-topic');
      assert.deepEqual(offsets.map((o) => [o.partition, o.low, o.high]).sort(), [
        [0, '0', '2'],
        [1, '0', '0'],
      ]);
      const byTime = await admin.fetchTopicOffsetsByTimestamp('admin-topic', before - 1);
      assert.equal(byTime.find((o) => o.partition === 0)!.offset, '1');
      await admin.deleteTopics({ topics: ['admin-topic'] });
      assert.ok(!(await admin.listTopics()).includes('admin-topic'));
    } finally {
      await admin.disconnect();
    }
  });

  test('a kafkajs group of 3 rebalances while a producer runs, and no message is lost', async () => {
    const admin = kafka().admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'group-topic', numPartitions: 6 }] });
    await admin.disconnect();

    const total = 600;
    const seen = new Map<string, number>();
    const consumers: Consumer[] = [];
    const startConsumer = async () => {
      const c = kafka().consumer({ groupId: 'rebalancers', sessionTimeout: 6000, heartbeatInterval: 500, rebalanceTimeout: 10_000 });
      await c.connect();
      await c.subscribe({ topic: 'group-topic', fromBeginning: true });
      void c.run({ eachMessage: async ({ message }) => void seen.set(message.value!.toString(), (seen.get(message.value!.toString()) ?? 0) + 1) });
      consumers.push(c);
    };
    const producer = kafka().producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    await startConsumer();
    let sent = 0;
    const produce = (async () => {
      while (sent < total) {
        await producer.send({ topic: 'group-topic', messages: Array.from({ length: 10 }, () => ({ key: `k${sent % 17}`, value: `m${sent++}` })) });
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    // Members join while the producer runs: each join rebalances the group.
    await new Promise((r) => setTimeout(r, 500));
    await startConsumer();
    await new Promise((r) => setTimeout(r, 500));
    await startConsumer();
    await produce;
    const deadline = Date.now() + 30_000;
    while (seen.size < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const missing = Array.from({ length: total }, (_, i) => `m${i}`).filter((m) => !seen.has(m));
    assert.deepEqual(missing, [], `${missing.length} messages never consumed`);
    const groups = await (async () => {
      const a = kafka().admin();
      await a.connect();
      const d = await a.describeGroups(['rebalancers']);
      await a.disconnect();
      return d;
    })();
    assert.equal(groups.groups[0]!.members.length, 3);
    assert.equal(groups.groups[0]!.state, 'Stable');
    await Promise.all(consumers.map((c) => c.disconnect()));
    await producer.disconnect();
  });

  test('committed offsets survive a broker restart', async () => {
    const topic = 'commit-topic';
    const p = kafka().producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await p.connect();
    await p.send({ topic, messages: Array.from({ length: 5 }, (_, i) => ({ value: `v${i}` })) });
    await p.disconnect();
    const consumeAll = async (expected: number) => {
      const c = kafka().consumer({ groupId: 'committers', sessionTimeout: 6000, heartbeatInterval: 500 });
      await c.connect();
      await c.subscribe({ topic, fromBeginning: true });
      const got: string[] = [];
      await new Promise<void>((resolve) => {
        void c.run({ autoCommit: true, eachMessage: async ({ message }) => void (got.push(message.value!.toString()) === expected && resolve()) });
      });
      await c.disconnect(); // commits
      return got;
    };
    assert.deepEqual(await consumeAll(5), ['v0', 'v1', 'v2', 'v3', 'v4']);
    await t.restart();
    const p2 = kafka().producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await p2.connect();
    await p2.send({ topic, messages: [{ value: 'after-restart' }] });
    await p2.disconnect();
    assert.deepEqual(await consumeAll(1), ['after-restart']);
  });

  test('malformed frames close that connection only; ApiVersions of an unknown version gets the v0 fallback', async () => {
    const port = t.broker.kafkaPort!;
    const roundTrip = (bytes: Buffer) =>
      new Promise<{ data: Buffer; closed: boolean }>((resolve) => {
        const s = connect(port, '127.0.0.1');
        let data = Buffer.alloc(0);
        let done = false;
        const finish = (closed: boolean) => {
          if (done) return;
          done = true;
          s.destroy();
          resolve({ data, closed });
        };
        s.on('data', (d) => {
          data = Buffer.concat([data, d]);
          if (data.length >= 4 && data.length >= data.readInt32BE(0) + 4) finish(false);
        });
        s.on('close', () => finish(true));
        s.on('error', () => finish(true));
        s.write(bytes);
        setTimeout(() => finish(false), 2000);
      });
    // A size of 2 GiB: refused before anything is allocated.
    const huge = Buffer.alloc(8);
    huge.writeInt32BE(0x7fffffff, 0);
    assert.equal((await roundTrip(huge)).closed, true);
    // Garbage inside a well-sized frame: unknown API key 999.
    const garbage = Buffer.from([0, 0, 0, 10, 0x03, 0xe7, 0, 0, 0, 0, 0, 1, 0xff, 0xff]);
    assert.equal((await roundTrip(garbage)).closed, true);
    // ApiVersions v99: answered in v0 with UNSUPPORTED_VERSION (35), connection kept.
    const v99 = Buffer.from([0, 0, 0, 10, 0, 18, 0, 99, 0, 0, 0, 42, 0xff, 0xff]);
    const answer = await roundTrip(v99);
    assert.equal(answer.closed, false);
    assert.equal(answer.data.readInt32BE(4), 42);
    assert.equal(answer.data.readInt16BE(8), 35);
    // Meanwhile the broker still serves everyone else.
    const out = await kcat(['-L']);
    assert.match(out, /1 brokers/);
  });
});
