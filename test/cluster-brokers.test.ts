// One cluster, many brokers (issue 14), the brokers' side, end to end: three real brokers in
// operator mode in this process, the test playing the operator with the contract's own client
// (src/cluster/distribution.ts: pushClusterState, pollTopicRequests, answerTopicRequest), and
// real clients (kcat, kafkajs) through ONE bootstrap address:
// - a broker is not ready until a ClusterState is in force; pushes for another cluster, not
//   listing the broker, older, or conflicting are refused and change nothing;
// - Metadata lists every broker and each partition's leader; kcat and kafkajs produce to and
//   consume from every partition of a 6-partition topic spread over the 3 brokers;
// - a consumer group of 3 kafkajs members, each bootstrapped from another broker, consumes
//   everything exactly once, its coordinator the broker coordinatorFor names, its offsets there;
// - raw requests to the wrong broker get NOT_LEADER_OR_FOLLOWER / NOT_COORDINATOR, and leader
//   epochs are checked (FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH);
// - CreateTopics and DeleteTopics are authorized and validated on the broker, forwarded to the
//   operator's long poll, and answered once the ClusterState shows the change; with no operator
//   they time out cleanly;
// - a restarted broker serves its persisted state; the data of a topic removed from the state is
//   deleted, the data of a topic no state ever listed is kept, with a warning.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { Consumer, Kafka } from 'kafkajs';
import {
  answerTopicRequest,
  clusterStateHash,
  coordinatorFor,
  pollTopicRequests,
  pushClusterState,
  readClusterState,
  type ClusterState,
  type TopicRequest,
} from '../src/cluster/index.ts';
import { KafkaErrorCode as E } from '../src/kafka/error-codes.ts';
import { ApiKey } from '../src/kafka/index.ts';
import { buildRecordBatch, LogStore } from '../src/log/index.ts';
import { KafkaWireClient } from '../tools/kafka-wire/client.ts';
import { kafkajs, kcat } from './harness/clients.ts';
import { startTestCluster, topicId, type ClusterBroker, type TestCluster } from './harness/cluster.ts';
import { javaArgs, kafkaPeerEnv } from '../tools/kafka/peer-env.ts';

const ORDERS = { name: 'orders', id: topicId(), partitions: 6 };
const EVENTS = { name: 'events', id: topicId(), partitions: 6 };
const JAVA = { name: 'java', id: topicId(), partitions: 6 };
/** The topics every state of this file lists. */
const BASE = [ORDERS, EVENTS, JAVA];
const PAYMENTS_ID = topicId();

let cluster: TestCluster;
let version = 0;
let inForce: ClusterState;
const clients: { disconnect(): Promise<void> }[] = [];

/** Pushes a state to every broker and checks each applied it. */
async function pushEverywhere(state: ClusterState): Promise<void> {
  const results = await cluster.push(state);
  for (const [i, r] of results.entries()) assert.equal(r.outcome, 'applied', `broker ${i}: ${JSON.stringify(r)}`);
  inForce = state;
}

/** The next state: the topics given, `orders` with leader epoch 1 (so older and newer epochs can be tried). */
function nextState(topics: { name: string; id: string; partitions: number }[]): ClusterState {
  const s = cluster.state(++version, topics);
  return { ...s, topics: s.topics.map((t) => (t.name === ORDERS.name ? { ...t, partitions: t.partitions.map((p) => ({ ...p, leaderEpoch: 1 })) } : t)) };
}

const leaderOf = (topic: string, partition: number) => inForce.topics.find((t) => t.name === topic)!.partitions[partition]!.leader;
const brokerById = (id: number) => cluster.brokers.find((b) => b.id === id)!;
const notLeading = (topic: string, partition: number) => cluster.brokers.find((b) => b.id !== leaderOf(topic, partition))!;

async function wire(b: ClusterBroker): Promise<KafkaWireClient> {
  const c = await KafkaWireClient.connect(b.kafkaPort);
  clients.push({ disconnect: async () => c.close() });
  return c;
}

function kafkajsFor(b: ClusterBroker): Kafka {
  return kafkajs(b.bootstrap, { retries: 8 }).kafka;
}

/** The operator's side of the long poll: waits on every broker until one hands out a request. */
async function nextTopicRequest(): Promise<{ broker: ClusterBroker; request: TopicRequest }> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const polled = await Promise.all(cluster.brokers.map(async (broker) => ({ broker, r: await pollTopicRequests(broker.target, cluster.operatorTls, 500) })));
    for (const { broker, r } of polled) {
      assert.equal(r.outcome, 'ok', JSON.stringify(r));
      if (r.outcome === 'ok' && r.value.length > 0) return { broker, request: r.value[0]! };
    }
  }
  throw new Error('no topic request reached the operator in 15 s');
}

async function noTopicRequests(): Promise<void> {
  for (const b of cluster.brokers) assert.deepEqual(await pollTopicRequests(b.target, cluster.operatorTls, 0), { outcome: 'ok', value: [] }, `broker ${b.id} holds a request`);
}

const fetchBody = (topic: string, partition: number, currentLeaderEpoch = -1) => ({
  replicaId: -1,
  maxWaitMs: 0,
  minBytes: 0,
  maxBytes: 1 << 20,
  isolationLevel: 0,
  sessionId: 0,
  sessionEpoch: -1,
  topics: [{ topic, partitions: [{ partition, currentLeaderEpoch, fetchOffset: 0, logStartOffset: -1, partitionMaxBytes: 1 << 20 }] }],
  forgottenTopicsData: [],
  rackId: '',
});

before(async () => {
  cluster = await startTestCluster({
    size: 3,
    config: { topics: { autoCreate: true } },
    // Broker 2 holds data of a topic from before it joined the cluster: no state will list it.
    prepare: async (id, dataDir) => {
      if (id !== 2) return;
      const store = LogStore.open(dataDir);
      await store.openPartition('legacy', 0).partition.append(buildRecordBatch([{ key: null, value: Buffer.from('from before the cluster') }]));
      await store.close();
    },
  });
});

after(async () => {
  for (const c of clients) await c.disconnect().catch(() => {});
  await cluster?.stop();
});

describe('a ClusterState pushed by the operator', () => {
  test('before any push: not ready, with the reason, and GET reports version 0 from nothing', async () => {
    for (const b of cluster.brokers) {
      const r = b.broker.readiness();
      assert.equal(r.ready, false);
      assert.ok(r.reasons.includes('no cluster state yet: waiting for the operator to push one'), JSON.stringify(r.reasons));
      const read = await readClusterState(b.target, cluster.operatorTls);
      assert.ok(read.outcome === 'ok' && read.value.version === 0 && read.value.source === 'empty', JSON.stringify(read));
    }
  });

  test('pushed to every broker: applied, reported by GET, and every broker is ready', async () => {
    const state = nextState(BASE);
    await pushEverywhere(state);
    for (const b of cluster.brokers) {
      assert.deepEqual(await readClusterState(b.target, cluster.operatorTls), { outcome: 'ok', value: { version: state.version, hash: clusterStateHash(state), source: 'push' } });
      assert.deepEqual(b.broker.readiness(), { ready: true, reasons: [] });
    }
    // 6 partitions over 3 brokers: each leads two, and opened only those.
    for (const b of cluster.brokers) {
      const led = [0, 1, 2, 3, 4, 5].filter((p) => leaderOf('orders', p) === b.id);
      assert.equal(led.length, 2, `broker ${b.id} leads ${led}`);
      for (let p = 0; p < 6; p++) assert.equal(b.broker.topics.partition('orders', p) !== undefined, led.includes(p), `broker ${b.id}, orders-${p}`);
    }
  });

  test('the same state again: applied, unchanged', async () => {
    for (const r of await cluster.push(inForce)) assert.ok(r.outcome === 'applied' && r.unchanged, JSON.stringify(r));
  });

  test('an older version, or the same version with other content: refused with the reason and what is in force', async () => {
    const older = { ...inForce, version: inForce.version - 1 };
    const conflicting = { ...inForce, topics: inForce.topics.slice(0, 1) };
    for (const [state, reason] of [
      [older, 'stale-version'],
      [conflicting, 'version-conflict'],
    ] as const) {
      for (const r of await cluster.push(state)) {
        assert.ok(r.outcome === 'rejected', JSON.stringify(r));
        assert.equal(r.reason, reason);
        assert.deepEqual(r.applied, { version: inForce.version, hash: clusterStateHash(inForce), source: 'push' });
      }
    }
  });

  test('a state for another cluster, or one not listing the broker: 400 BWK_ERR_CLUSTER_STATE_INVALID naming the field, nothing applied', async () => {
    for (const r of await cluster.push({ ...inForce, version: 99, clusterId: 'someone-else' })) {
      assert.ok(r.outcome === 'invalid', JSON.stringify(r));
      assert.equal(r.error.code, 'BWK_ERR_CLUSTER_STATE_INVALID');
      assert.match(r.error.message, /clusterId: the state is for cluster "someone-else"/);
    }
    const without2 = { ...inForce, version: 99, brokers: inForce.brokers.filter((b) => b.id !== 2), topics: [] };
    const r = await pushClusterState(brokerById(2).target, cluster.operatorTls, without2);
    assert.ok(r.outcome === 'invalid', JSON.stringify(r));
    assert.match(r.error.message, /brokers: this broker \(id 2\) is not listed/);
    for (const b of cluster.brokers) {
      const read = await readClusterState(b.target, cluster.operatorTls);
      assert.ok(read.outcome === 'ok' && read.value.version === inForce.version);
    }
  });

  test('the data of a topic no state ever listed is kept on disk, not served, and named in a warning', async () => {
    const b2 = brokerById(2);
    assert.ok(existsSync(join(b2.dataDir, 'legacy-0')));
    const warning = b2.logs.map((l) => JSON.parse(l) as { level: number; msg: string; topics?: string[] }).find((l) => l.level === 40 && l.topics?.includes('legacy'));
    assert.ok(warning, 'a warning names legacy');
    assert.match(warning.msg, /kept on disk and not served: legacy/);
    const c = await wire(b2);
    const r = await c.request(ApiKey.Fetch, 11, fetchBody('legacy', 0));
    assert.equal(r.responses[0]!.partitions[0]!.errorCode, E.UNKNOWN_TOPIC_OR_PARTITION);
  });
});

describe('Kafka clients through one bootstrap address', () => {
  test('Metadata (kafkajs admin) lists the three brokers with their addresses, and each partition with its leader from the state', async () => {
    const admin = kafkajsFor(cluster.brokers[0]!).admin();
    await admin.connect();
    clients.push(admin);
    const described = await admin.describeCluster();
    assert.deepEqual(
      described.brokers.map((b) => ({ nodeId: b.nodeId, host: b.host, port: b.port })).sort((a, b) => a.nodeId - b.nodeId),
      cluster.brokers.map((b) => ({ nodeId: b.id, host: '127.0.0.1', port: b.kafkaPort })),
    );
    assert.equal(described.controller, 0);
    assert.equal(described.clusterId, cluster.clusterId);
    const meta = await admin.fetchTopicMetadata({ topics: ['orders'] });
    const partitions = meta.topics[0]!.partitions.sort((a, b) => a.partitionId - b.partitionId);
    assert.deepEqual(
      partitions.map((p) => [p.partitionId, p.leader, p.replicas, p.isr]),
      inForce.topics[0]!.partitions.map((p) => [p.partition, p.leader, [p.leader], [p.leader]]),
    );
    assert.deepEqual([...new Set(partitions.map((p) => p.leader))].sort(), [0, 1, 2]);
  });

  test('kcat produces to and consumes from every partition of orders, bootstrapped from broker 0 only', async () => {
    const bootstrap = cluster.brokers[0]!.bootstrap;
    for (let p = 0; p < 6; p++) {
      const values = [`kcat-${p}-a`, `kcat-${p}-b`];
      const produced = await kcat(['-b', bootstrap, '-P', '-t', 'orders', '-p', String(p)], { input: values.join('\n') + '\n' });
      assert.equal(produced.code, 0, produced.stderr);
      const consumed = await kcat(['-b', bootstrap, '-C', '-t', 'orders', '-p', String(p), '-o', 'beginning', '-e', '-f', '%s\\n']);
      assert.equal(consumed.code, 0, consumed.stderr);
      assert.deepEqual(consumed.stdout.split('\n').filter((l) => l !== ''), values, `orders-${p}`);
      // On the leader's disk, and nowhere else.
      for (const b of cluster.brokers) assert.equal(b.broker.topics.partition('orders', p)?.nextOffset, b.id === leaderOf('orders', p) ? 2 : undefined, `broker ${b.id}, orders-${p}`);
    }
  });

  test('kafkajs produces to every partition and reads each back, bootstrapped from broker 1 only', async () => {
    const kafka = kafkajsFor(cluster.brokers[1]!);
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    clients.push(producer);
    await producer.send({ topic: 'orders', acks: -1, messages: [0, 1, 2, 3, 4, 5].map((partition) => ({ partition, value: `kafkajs-${partition}` })) });
    for (let p = 0; p < 6; p++) assert.equal(brokerById(leaderOf('orders', p)).broker.topics.partition('orders', p)!.nextOffset, 3, `orders-${p}`);
    const consumer = kafka.consumer({ groupId: 'orders-check', sessionTimeout: 6000, heartbeatInterval: 500 });
    await consumer.connect();
    clients.push(consumer);
    await consumer.subscribe({ topic: 'orders', fromBeginning: true });
    const seen: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`kafkajs read ${JSON.stringify(seen)}`)), 30_000);
      void consumer
        .run({
          eachMessage: async ({ message }) => {
            seen.push(message.value!.toString());
            if (seen.length === 18) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
    await consumer.disconnect();
    const expected = [0, 1, 2, 3, 4, 5].flatMap((p) => [`kcat-${p}-a`, `kcat-${p}-b`, `kafkajs-${p}`]);
    assert.deepEqual(seen.sort(), expected.sort());
  });

  test('a consumer group of 3 kafkajs members, each bootstrapped from another broker, consumes everything exactly once', async () => {
    const groupId = 'events-readers';
    const coordinator = coordinatorFor(inForce, groupId);
    const assignments = new Map<number, number[]>();
    const seen: { member: number; value: string; partition: number }[] = [];
    const members: Consumer[] = [];
    for (const [member, b] of cluster.brokers.entries()) {
      const consumer = kafkajsFor(b).consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 500, rebalanceTimeout: 10_000 });
      clients.push(consumer);
      members.push(consumer);
      consumer.on(consumer.events.GROUP_JOIN, (e) => assignments.set(member, e.payload.memberAssignment['events'] ?? []));
      await consumer.connect();
      await consumer.subscribe({ topic: 'events', fromBeginning: true });
      void consumer.run({ eachMessage: async ({ message, partition }) => void seen.push({ member, value: message.value!.toString(), partition }) });
    }
    // Produce once the group is stable: each member holds two of the six partitions.
    const deadline = Date.now() + 30_000;
    const stable = () => assignments.size === 3 && [...assignments.values()].every((a) => a.length === 2) && new Set([...assignments.values()].flat()).size === 6;
    while (!stable()) {
      assert.ok(Date.now() < deadline, `the group did not settle: ${JSON.stringify([...assignments])}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const producer = kafkajsFor(cluster.brokers[2]!).producer({ allowAutoTopicCreation: false });
    await producer.connect();
    clients.push(producer);
    const values = Array.from({ length: 60 }, (_, i) => ({ partition: i % 6, value: `event-${i}` }));
    await producer.send({ topic: 'events', acks: -1, messages: values });
    while (seen.length < values.length) {
      assert.ok(Date.now() < deadline + 30_000, `read ${seen.length} of ${values.length}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 500)); // nothing more comes
    assert.deepEqual(seen.map((s) => s.value).sort(), values.map((v) => v.value).sort(), 'every value once');
    for (const s of seen) assert.ok(assignments.get(s.member)!.includes(s.partition), `member ${s.member} read partition ${s.partition} it was not assigned`);
    // The coordinator holds the group's committed offsets; no other broker does.
    const holder = brokerById(coordinator.id).broker.store.offsets;
    while (!holder.groups().includes(groupId)) {
      assert.ok(Date.now() < deadline + 40_000, `no offsets of ${groupId} committed on its coordinator, broker ${coordinator.id}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await Promise.all(members.map((m) => m.disconnect()));
    for (const b of cluster.brokers) {
      const listed = b.broker.store.offsets.groups();
      assert.equal(listed.includes(groupId), b.id === coordinator.id, `broker ${b.id} has offsets of ${groupId}: ${listed}`);
    }
  });
});

describe('the Apache Kafka Java client', () => {
  let java: (cls: string, args: string[]) => Promise<{ stdout: string; stderr: string }>;
  before(async () => {
    // Resolves the jars once (~45 MB from Maven Central) into ~/.cache/bulwark/kafka.
    const run = promisify(execFile);
    const env = await kafkaPeerEnv();
    java = (cls, args) => run(env.JAVA, javaArgs(env, cls, args), { timeout: 120_000, maxBuffer: 8 << 20 });
  }, { timeout: 20 * 60_000 });

  test('its idempotent producer (acks=all) writes every partition exactly once, and its consumer group reads them all, through one bootstrap address', async () => {
    const bootstrap = cluster.brokers[2]!.bootstrap;
    // Small batches: the sticky partitioner moves on after each, so all six partitions get some.
    const produced = await java('org.apache.kafka.tools.ProducerPerformance', [
      '--topic', 'java', '--num-records', '2000', '--record-size', '100', '--throughput', '-1',
      '--producer-props', `bootstrap.servers=${bootstrap}`, 'acks=all', 'enable.idempotence=true', 'batch.size=1000', 'linger.ms=0',
    ]);
    assert.match(produced.stdout, /2000 records sent/);
    const counts = [0, 1, 2, 3, 4, 5].map((p) => brokerById(leaderOf('java', p)).broker.topics.partition('java', p)!.nextOffset);
    assert.equal(counts.reduce((a, b) => a + b, 0), 2000, `every record appended exactly once: ${counts}`);
    assert.ok(counts.every((n) => n > 0), `every partition written: ${counts}`);
    const consumed = await java('org.apache.kafka.tools.ConsumerPerformance', ['--bootstrap-server', bootstrap, '--topic', 'java', '--messages', '2000', '--group', 'java-perf', '--timeout', '30000', '--hide-header']);
    const fields = consumed.stdout.trim().split('\n').at(-1)!.split(',').map((f) => f.trim());
    assert.equal(Number(fields[4]), 2000, consumed.stdout);
  });
});

describe('requests sent to the wrong broker', () => {
  test('Produce and Fetch for a partition another broker leads: NOT_LEADER_OR_FOLLOWER; at the leader: served', async () => {
    const records = buildRecordBatch([{ key: null, value: Buffer.from('misdirected') }]);
    for (let p = 0; p < 6; p++) {
      const wrong = await wire(notLeading('orders', p));
      const produced = await wrong.request(ApiKey.Produce, 8, { transactionalId: null, acks: 1, timeoutMs: 5000, topicData: [{ name: 'orders', partitionData: [{ index: p, records }] }] });
      assert.equal(produced.responses[0]!.partitionResponses[0]!.errorCode, E.NOT_LEADER_OR_FOLLOWER, `produce orders-${p}`);
      const fetched = await wrong.request(ApiKey.Fetch, 11, fetchBody('orders', p));
      assert.equal(fetched.responses[0]!.partitions[0]!.errorCode, E.NOT_LEADER_OR_FOLLOWER, `fetch orders-${p}`);
      const listed = await wrong.request(ApiKey.ListOffsets, 5, { replicaId: -1, isolationLevel: 0, topics: [{ name: 'orders', partitions: [{ partitionIndex: p, currentLeaderEpoch: -1, timestamp: -1 }] }] });
      assert.equal(listed.topics[0]!.partitions[0]!.errorCode, E.NOT_LEADER_OR_FOLLOWER, `list offsets orders-${p}`);
      const right = await wire(brokerById(leaderOf('orders', p)));
      const ok = await right.request(ApiKey.Fetch, 11, fetchBody('orders', p));
      assert.equal(ok.responses[0]!.partitions[0]!.errorCode, E.NONE);
      assert.equal(ok.responses[0]!.partitions[0]!.highWatermark, 3);
    }
  });

  test('the leader checks the current leader epoch: older is FENCED_LEADER_EPOCH, newer UNKNOWN_LEADER_EPOCH, the one in force is served', async () => {
    const leader = await wire(brokerById(leaderOf('orders', 0)));
    const epoch = inForce.topics[0]!.partitions[0]!.leaderEpoch;
    assert.equal(epoch, 1);
    const code = async (e: number) => (await leader.request(ApiKey.Fetch, 11, fetchBody('orders', 0, e))).responses[0]!.partitions[0]!.errorCode;
    assert.deepEqual([await code(0), await code(2), await code(1), await code(-1)], [E.FENCED_LEADER_EPOCH, E.UNKNOWN_LEADER_EPOCH, E.NONE, E.NONE]);
    const listed = await leader.request(ApiKey.ListOffsets, 5, { replicaId: -1, isolationLevel: 0, topics: [{ name: 'orders', partitions: [{ partitionIndex: 0, currentLeaderEpoch: 0, timestamp: -1 }] }] });
    assert.equal(listed.topics[0]!.partitions[0]!.errorCode, E.FENCED_LEADER_EPOCH);
  });

  test('FindCoordinator on any broker names the coordinator from the state; group requests elsewhere get NOT_COORDINATOR', async () => {
    const groupId = 'coordinated-elsewhere';
    const coordinator = coordinatorFor(inForce, groupId);
    for (const b of cluster.brokers) {
      const c = await wire(b);
      const found = await c.request(ApiKey.FindCoordinator, 2, { key: groupId, keyType: 0 });
      assert.deepEqual([found.errorCode, found.nodeId, found.host, found.port], [E.NONE, coordinator.id, '127.0.0.1', brokerById(coordinator.id).kafkaPort]);
    }
    const other = await wire(cluster.brokers.find((b) => b.id !== coordinator.id)!);
    const hb = await other.request(ApiKey.Heartbeat, 3, { groupId, generationId: 1, memberId: 'm-1', groupInstanceId: null });
    assert.equal(hb.errorCode, E.NOT_COORDINATOR);
    const commit = await other.request(ApiKey.OffsetCommit, 7, { groupId, generationIdOrMemberEpoch: -1, memberId: '', groupInstanceId: null, topics: [{ name: 'orders', partitions: [{ partitionIndex: 0, committedOffset: 1, committedLeaderEpoch: -1, committedMetadata: null }] }] });
    assert.equal(commit.topics[0]!.partitions[0]!.errorCode, E.NOT_COORDINATOR);
    const fetched = await other.request(ApiKey.OffsetFetch, 7, { groupId, topics: null, requireStable: false });
    assert.equal(fetched.errorCode, E.NOT_COORDINATOR);
    assert.equal(other.isClosed, false);
  });

  test('InitProducerId: no two brokers hand out one producer id (each takes the ids of its own residue mod 64)', async () => {
    const ids = new Map<number, number>();
    for (const b of cluster.brokers) {
      const c = await wire(b);
      for (let i = 0; i < 3; i++) {
        const r = await c.request(ApiKey.InitProducerId, 1, { transactionalId: null, transactionTimeoutMs: -1 });
        assert.equal(r.errorCode, E.NONE);
        assert.ok(!ids.has(Number(r.producerId)), `producer id ${r.producerId} from broker ${b.id} was handed out by broker ${ids.get(Number(r.producerId))} too`);
        assert.equal(Number(r.producerId) % 64, b.id);
        ids.set(Number(r.producerId), b.id);
      }
    }
  });
});

describe('CreateTopics and DeleteTopics forwarded to the operator', () => {
  test('kafkajs admin creates a topic: the broker forwards it, the operator answers and pushes a state with it, the client gets success', async () => {
    const admin = kafkajsFor(cluster.brokers[1]!).admin();
    await admin.connect();
    clients.push(admin);
    const created = admin.createTopics({ topics: [{ topic: 'payments', numPartitions: 3 }], timeout: 20_000 });
    const { broker, request } = await nextTopicRequest();
    const { id, ...asked } = request;
    assert.deepEqual(asked, { op: 'create', topic: 'payments', partitions: 3, replicationFactor: 1, config: {}, principal: 'system:anonymous' });
    // Answered, but not yet in a ClusterState: the client keeps waiting.
    assert.deepEqual(await answerTopicRequest(broker.target, cluster.operatorTls, id, { outcome: 'done', topicId: PAYMENTS_ID }), { outcome: 'ok', value: true });
    const settled = await Promise.race([created.then(() => 'answered'), new Promise((r) => setTimeout(() => r('waiting'), 300))]);
    assert.equal(settled, 'waiting');
    await pushEverywhere(nextState([...BASE, { name: 'payments', id: PAYMENTS_ID, partitions: 3 }]));
    assert.equal(await created, true);
    // It works like any topic: kcat writes to each of its partitions.
    for (let p = 0; p < 3; p++) {
      const produced = await kcat(['-b', cluster.brokers[2]!.bootstrap, '-P', '-t', 'payments', '-p', String(p)], { input: `payment-${p}\n` });
      assert.equal(produced.code, 0, produced.stderr);
      assert.ok(existsSync(join(brokerById(leaderOf('payments', p)).dataDir, `payments-${p}`)));
    }
  });

  test('validated on the broker: validateOnly, an existing topic, a bad name or replication factor are answered there and never forwarded', async () => {
    const c = await wire(cluster.brokers[0]!);
    const create = (name: string, opts: { replicationFactor?: number; validateOnly?: boolean } = {}) =>
      c.request(ApiKey.CreateTopics, 4, { topics: [{ name, numPartitions: 2, replicationFactor: opts.replicationFactor ?? 1, assignments: [], configs: [] }], timeoutMs: 5000, validateOnly: opts.validateOnly ?? false });
    assert.equal((await create('checked-only', { validateOnly: true })).topics[0]!.errorCode, E.NONE);
    assert.equal((await create('orders')).topics[0]!.errorCode, E.TOPIC_ALREADY_EXISTS);
    assert.equal((await create('bad name')).topics[0]!.errorCode, E.INVALID_TOPIC_EXCEPTION);
    assert.equal((await create('too-replicated', { replicationFactor: 4 })).topics[0]!.errorCode, E.INVALID_REPLICATION_FACTOR);
    await noTopicRequests();
    assert.equal(inForce.topics.some((t) => t.name === 'checked-only'), false);
  });

  test('auto-creation from Metadata: forwarded once, answered LEADER_NOT_AVAILABLE without waiting, served once the state shows the topic', async () => {
    const c = await wire(cluster.brokers[1]!);
    const metadata = () => c.request(ApiKey.Metadata, 8, { topics: [{ name: 'auto-made' }], allowAutoTopicCreation: true, includeClusterAuthorizedOperations: false, includeTopicAuthorizedOperations: false });
    const started = Date.now();
    assert.equal((await metadata()).topics[0]!.errorCode, E.LEADER_NOT_AVAILABLE);
    assert.ok(Date.now() - started < 1000, 'the Metadata answer does not wait for the operator');
    assert.equal((await metadata()).topics[0]!.errorCode, E.LEADER_NOT_AVAILABLE, 'asked again meanwhile');
    const { broker, request } = await nextTopicRequest();
    assert.deepEqual(request, { id: request.id, op: 'create', topic: 'auto-made', partitions: 1, replicationFactor: 1, config: {}, principal: 'system:anonymous' });
    const held = await pollTopicRequests(broker.target, cluster.operatorTls, 0);
    assert.ok(held.outcome === 'ok' && held.value.length === 1, `one request for the topic, however often it is asked for: ${JSON.stringify(held)}`);
    const id = topicId();
    await answerTopicRequest(broker.target, cluster.operatorTls, request.id, { outcome: 'done', topicId: id });
    await pushEverywhere(nextState([...BASE, { name: 'payments', id: PAYMENTS_ID, partitions: 3 }, { name: 'auto-made', id, partitions: 1 }]));
    const served = (await metadata()).topics[0]!;
    assert.deepEqual([served.errorCode, served.partitions[0]!.leaderId], [E.NONE, leaderOf('auto-made', 0)]);
    await noTopicRequests();
  });

  test("the operator's refusal reaches the client with its error code and message", async () => {
    const c = await wire(cluster.brokers[2]!);
    const pending = c.request(ApiKey.CreateTopics, 4, { topics: [{ name: 'refused', numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 10_000, validateOnly: false });
    const { broker, request } = await nextTopicRequest();
    await answerTopicRequest(broker.target, cluster.operatorTls, request.id, { outcome: 'failed', errorCode: E.POLICY_VIOLATION, message: 'topics of this cluster are declared in Git' });
    const r = (await pending).topics[0]!;
    assert.deepEqual([r.errorCode, r.errorMessage], [E.POLICY_VIOLATION, 'topics of this cluster are declared in Git']);
  });

  test('with no operator answering: REQUEST_TIMED_OUT within the timeout, saying so; the request is then forgotten (404 to a late answer)', async () => {
    const c = await wire(cluster.brokers[0]!);
    const started = Date.now();
    const pending = c.request(ApiKey.CreateTopics, 4, { topics: [{ name: 'unanswered', numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 1500, validateOnly: false });
    const { broker, request } = await nextTopicRequest();
    const r = (await pending).topics[0]!;
    assert.equal(r.errorCode, E.REQUEST_TIMED_OUT);
    assert.match(r.errorMessage ?? '', /the operator did not answer within 1500 ms/);
    assert.ok(Date.now() - started < 5000);
    assert.deepEqual(await answerTopicRequest(broker.target, cluster.operatorTls, request.id, { outcome: 'done' }), { outcome: 'ok', value: false });
    await noTopicRequests();
  });

  test('kafkajs admin deletes a topic: forwarded, answered, and once the state drops it its data is deleted on its leaders', async () => {
    const admin = kafkajsFor(cluster.brokers[0]!).admin();
    await admin.connect();
    clients.push(admin);
    const dirs = [0, 1, 2].map((p) => join(brokerById(leaderOf('payments', p)).dataDir, `payments-${p}`));
    const deleted = admin.deleteTopics({ topics: ['payments'], timeout: 20_000 });
    const { broker, request } = await nextTopicRequest();
    assert.deepEqual(request, { id: request.id, op: 'delete', topic: 'payments', principal: 'system:anonymous' });
    await answerTopicRequest(broker.target, cluster.operatorTls, request.id, { outcome: 'done' });
    await pushEverywhere(nextState(BASE));
    await deleted;
    for (const dir of dirs) assert.equal(existsSync(dir), false, `${dir} is deleted`);
    // Topics that stay, and the never-listed legacy data, are untouched.
    assert.ok(existsSync(join(brokerById(2).dataDir, 'legacy-0')));
    assert.equal(brokerById(leaderOf('orders', 0)).broker.topics.partition('orders', 0)!.nextOffset, 3);
  });
});

describe('a broker restarted', () => {
  test('serves the state it persisted (source disk), ready before any push, its partitions intact', async () => {
    const b1 = brokerById(1);
    // The operator's long poll in flight is answered (with nothing) when the broker stops, not after its 30 s.
    const polling = pollTopicRequests(b1.target, cluster.operatorTls, 30_000);
    await new Promise((r) => setTimeout(r, 300));
    const stopping = Date.now();
    await b1.restart();
    assert.deepEqual(await polling, { outcome: 'ok', value: [] });
    assert.ok(Date.now() - stopping < 10_000, `the restart took ${Date.now() - stopping} ms`);
    assert.deepEqual(await readClusterState(b1.target, cluster.operatorTls), { outcome: 'ok', value: { version: inForce.version, hash: clusterStateHash(inForce), source: 'disk' } });
    assert.deepEqual(b1.broker.readiness(), { ready: true, reasons: [] });
    const p = [0, 1, 2, 3, 4, 5].find((x) => leaderOf('orders', x) === 1)!;
    const consumed = await kcat(['-b', cluster.brokers[0]!.bootstrap, '-C', '-t', 'orders', '-p', String(p), '-o', 'beginning', '-e', '-f', '%s\\n']);
    assert.deepEqual(consumed.stdout.split('\n').filter((l) => l !== ''), [`kcat-${p}-a`, `kcat-${p}-b`, `kafkajs-${p}`]);
    // The next push moves it forward as usual.
    await pushEverywhere(nextState(BASE));
  });
});
