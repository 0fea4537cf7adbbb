// What a broker of a cluster does with a pushed ClusterState, below the network (the end-to-end
// story is test/cluster-brokers.test.ts): which states it refuses (clusterStateProblem, a table),
// and on a real LogStore in a temp dir, what happens to local data as leadership moves away and
// back, a topic is recreated under a new id, or dropped; the persisted state reloads; the queue
// of topic requests forwarded to the operator (poll, answer, timeout, stop).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { clusterStateProblem, TopicManager } from '../src/broker/topics.ts';
import { TopicRequestQueue } from '../src/broker/topic-requests.ts';
import { clusterStateHash, type ClusterState, type TopicState } from '../src/cluster/index.ts';
import { isBulwarkError } from '../src/lib/index.ts';
import { buildRecordBatch, LogStore } from '../src/log/index.ts';
import { useTempDirs } from './harness/temp.ts';

const tempDir = useTempDirs('capply');
const SELF = { id: 1, host: 'b1', port: 9092, rack: null };
const OTHER = { id: 2, host: 'b2', port: 9092, rack: null };
const ID_A = 'a'.repeat(32);
const ID_B = 'b'.repeat(32);

const topic = (name: string, id: string, leaders: number[], epoch = 0): TopicState => ({
  name,
  id,
  config: {},
  partitions: leaders.map((leader, partition) => ({ partition, leader, leaderEpoch: epoch, replicas: [leader], isr: [leader] })),
});
const state = (version: number, topics: TopicState[], extra: Partial<ClusterState> = {}): ClusterState => ({ clusterId: 'c1', version, controllerId: 2, brokers: [SELF, OTHER], topics, ...extra });

describe('clusterStateProblem: what a broker refuses to apply', () => {
  const self = { clusterId: 'c1', brokerId: 1 };
  const rows: [string, ClusterState, RegExp | undefined][] = [
    ['a state for this broker', state(1, [topic('orders', ID_A, [1, 2])]), undefined],
    ['no topics', state(1, []), undefined],
    ['another cluster', state(1, [], { clusterId: 'c2' }), /^clusterId: the state is for cluster "c2"; this broker belongs to "c1"$/],
    ['this broker not listed', state(1, [], { brokers: [OTHER] }), /^brokers: this broker \(id 1\) is not listed$/],
    ['a broker listed twice', state(1, [], { brokers: [SELF, OTHER, { ...OTHER, host: 'b3' }] }), /^brokers\.2\.id: broker 2 is listed twice$/],
    ['a topic listed twice', state(1, [topic('orders', ID_A, [1]), topic('orders', ID_B, [1])]), /^topics\.1\.name: topic orders is listed twice$/],
    ['a topic id used twice', state(1, [topic('orders', ID_A, [1]), topic('payments', ID_A, [1])]), /^topics\.1\.id: topic id a+ is used twice$/],
    ['a reserved name', state(1, [topic('__audit', ID_A, [1])]), /^topics\.0\.name: topic names starting with "__" are reserved/],
    ['an unknown config', state(1, [{ ...topic('orders', ID_A, [1]), config: { 'cleanup.policy': 'compact' } }]), /^topics\.0\.config: unknown config cleanup\.policy/],
    ['no partitions', state(1, [topic('orders', ID_A, [])]), /^topics\.0\.partitions: a topic has at least one partition$/],
    ['partitions out of order', state(1, [{ ...topic('orders', ID_A, [1, 2]), partitions: topic('orders', ID_A, [1, 2]).partitions.reverse() }]), /^topics\.0\.partitions\.0\.partition: partitions are listed in order from 0, found 1$/],
    ['a leader that is not a broker', state(1, [topic('orders', ID_A, [1, 7])]), /^topics\.0\.partitions\.1\.leader: broker 7 is not in brokers$/],
    ['coordinator slots on the brokers', state(1, [], { coordinators: [1, 2, 1] }), undefined],
    ['a coordinator slot on a broker not listed', state(1, [], { coordinators: [1, 2, 5] }), /^coordinators\.2: broker 5 is not in brokers$/],
  ];
  for (const [name, s, expected] of rows) {
    test(name, () => {
      const problem = clusterStateProblem(s, self);
      if (expected === undefined) assert.equal(problem, undefined);
      else assert.match(problem ?? '(none)', expected);
    });
  }
});

describe('a clustered TopicManager applying pushed states to a real data directory', () => {
  const open = (dataDir: string) => {
    const store = LogStore.open(dataDir);
    return { store, topics: new TopicManager(store, SELF, 'c1', {}, { clustered: true }) };
  };
  const apply = (t: TopicManager, s: ClusterState) => t.applyPushed(s, clusterStateHash(s));

  test('leadership away and back keeps the data; a new topic id, or the topic dropped, deletes it; the last state reloads from disk', async () => {
    const dataDir = tempDir();
    const dir = join(dataDir, 'orders-0');
    let { store, topics } = open(dataDir);
    try {
      assert.equal(topics.awaitsState, true);
      assert.deepEqual(topics.applied.source, 'empty');

      assert.deepEqual(await apply(topics, state(1, [topic('orders', ID_A, [1, 2], 3)])), { applied: true, unchanged: false });
      assert.equal(topics.awaitsState, false);
      const led = topics.route('orders', 0);
      assert.ok(led?.led);
      assert.equal(led.leaderEpoch, 3);
      assert.deepEqual(topics.route('orders', 1), { led: false, leader: 2, leaderEpoch: 3 });
      assert.equal(topics.route('orders', 2), undefined);
      assert.equal(topics.partition('orders', 1), undefined, 'a partition led elsewhere is not opened');
      await led.log.append(buildRecordBatch([{ key: null, value: Buffer.from('kept') }]));

      await apply(topics, state(2, [topic('orders', ID_A, [2, 2], 4)]));
      assert.deepEqual(topics.route('orders', 0), { led: false, leader: 2, leaderEpoch: 4 });
      assert.equal(topics.partition('orders', 0), undefined);
      assert.ok(existsSync(dir), 'data of a partition led elsewhere now is kept');

      await apply(topics, state(3, [topic('orders', ID_A, [1, 2], 5)]));
      assert.equal(topics.partition('orders', 0)?.nextOffset, 1, 'led again: the same data');

      await apply(topics, state(4, [topic('orders', ID_B, [1, 2])]));
      assert.equal(topics.partition('orders', 0)?.nextOffset, 0, 'recreated under another id: a new, empty partition');

      await apply(topics, state(5, [topic('payments', ID_A, [1])]));
      assert.equal(existsSync(dir), false, 'a topic dropped from the state: its data is deleted');
      assert.equal(topics.route('orders', 0), undefined);
      assert.ok(topics.partition('payments', 0));
    } finally {
      await store.close();
    }

    ({ store, topics } = open(dataDir));
    try {
      const expected = state(5, [topic('payments', ID_A, [1])]);
      assert.deepEqual(topics.applied, { version: 5, hash: clusterStateHash(expected), source: 'disk' });
      assert.deepEqual(topics.state, expected);
      assert.ok(topics.route('payments', 0)?.led);
    } finally {
      await store.close();
    }
  });

  test('the ordering rule, and a state not for this broker: nothing applied, nothing persisted', async () => {
    const { store, topics } = open(tempDir());
    try {
      const v2 = state(2, [topic('orders', ID_A, [1])]);
      await apply(topics, v2);
      assert.deepEqual(await apply(topics, v2), { applied: true, unchanged: true });
      assert.deepEqual(await apply(topics, state(1, [])), { applied: false, reason: 'stale-version' });
      assert.deepEqual(await apply(topics, state(2, [])), { applied: false, reason: 'version-conflict' });
      await assert.rejects(apply(topics, state(3, [], { clusterId: 'c9' })), (err) => isBulwarkError(err, 'BWK_ERR_CLUSTER_STATE_INVALID') && /cluster "c9"/.test(err.message));
      assert.deepEqual(topics.applied, { version: 2, hash: clusterStateHash(v2), source: 'push' });
    } finally {
      await store.close();
    }
  });

  test('waitFor resolves when a state satisfying it is applied, and false when none comes in time', async () => {
    const { store, topics } = open(tempDir());
    try {
      const shown = topics.waitFor((s) => s.topics.some((t) => t.name === 'orders'), 5000);
      const never = topics.waitFor((s) => s.topics.some((t) => t.name === 'never'), 50);
      await apply(topics, state(1, [topic('orders', ID_A, [1])]));
      assert.equal(await shown, true);
      assert.equal(await never, false);
    } finally {
      await store.close();
    }
  });

  test('the HTTP-style calls to create or delete a topic are refused in a cluster; the broker\'s own __audit stays local', async () => {
    const { store, topics } = open(tempDir());
    try {
      assert.throws(() => topics.createTopic('orders', 1), (err) => isBulwarkError(err, 'BWK_ERR_TOPICS_MANAGED_BY_OPERATOR'));
      await assert.rejects(topics.deleteTopic('orders'), (err) => isBulwarkError(err, 'BWK_ERR_TOPICS_MANAGED_BY_OPERATOR'));
      assert.ok(topics.createTopic('__audit', 1, {}, false, true).ok);
      await apply(topics, state(1, [topic('orders', ID_A, [2])]));
      assert.ok(topics.route('__audit', 0)?.led, 'still served after a push');
      assert.deepEqual(topics.state.topics.map((t) => t.name), ['orders'], 'not part of the cluster state');
    } finally {
      await store.close();
    }
  });
});

describe('TopicRequestQueue: the requests the operator long-polls', () => {
  const create = { op: 'create' as const, topic: 'orders', partitions: 3, replicationFactor: 1, config: {}, principal: 'alice' };

  test('a poll waits for a request and hands it out until it is answered; the answer reaches the waiting client', async () => {
    const q = new TopicRequestQueue();
    const polled = q.poll(5000);
    const waiting = q.submit(create, 5000);
    const [request] = await polled;
    assert.deepEqual({ ...request, id: 'x' }, { ...create, id: 'x' });
    assert.match(request!.id, /^[0-9a-f]{32}$/);
    assert.deepEqual(await q.poll(0), [request], 'handed out again until answered');
    assert.equal(q.creating('orders'), true);
    assert.equal(q.answer(request!.id, { outcome: 'done' }), true);
    assert.deepEqual(await waiting, { answered: true, answer: { outcome: 'done' } });
    assert.equal(q.answer(request!.id, { outcome: 'done' }), false, 'answered once');
    assert.deepEqual(await q.poll(0), []);
  });

  test('a request whose client gave up is forgotten; a poll with none waits its time and answers empty', async () => {
    const q = new TopicRequestQueue();
    const outcome = await q.submit(create, 20);
    assert.deepEqual(outcome, { answered: false, reason: 'timeout' });
    const started = Date.now();
    assert.deepEqual(await q.poll(100), []);
    assert.ok(Date.now() - started >= 90);
  });

  test('stopping: a poll in progress answers at once, and waiting requests give up', async () => {
    const q = new TopicRequestQueue();
    const polled = q.poll(30_000);
    const started = Date.now();
    q.close();
    assert.deepEqual(await polled, []);
    assert.ok(Date.now() - started < 1000);
    assert.deepEqual(await q.submit(create, 5000), { answered: false, reason: 'stopping' });
  });
});
