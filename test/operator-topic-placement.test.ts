// The operator's decisions about Topics, pure and table-tested: where partitions go (balanced,
// stable, appended), what a Topic's status says, the ClusterState compiled from Topic statuses
// and its version, when a scale-down is refused, and what a CreateTopics request is answered.
// The same code against a real API server and contract brokers: test/operator-topic.test.ts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseResource } from '../src/api/index.ts';
import { clusterStateHash, coordinatorFor, COORDINATOR_SLOTS, groupSlot, leaderLoad, placeCoordinators, placePartitions, type ClusterStatePushResult, type PartitionLeader, type TopicRequest } from '../src/cluster/index.ts';
import { createLogger, KafkaErrorCode } from '../src/lib/index.ts';
import { scaleDownBlock } from '../src/operator/brokercluster/index.ts';
import { compileClusterState, createRefusal, distributeClusterState, kubernetesTopicName, nameConflicts, nextClusterStateVersion, TopicRequestPollers, type StoredTopic } from '../src/operator/cluster-state/index.ts';
import { nextTopicStatus, topicDecision } from '../src/operator/topic/index.ts';

const leadersPerBroker = (ps: readonly PartitionLeader[]) => {
  const m = new Map<number, number>();
  for (const p of ps) m.set(p.leader, (m.get(p.leader) ?? 0) + 1);
  return Object.fromEntries([...m.entries()].sort(([a], [b]) => a - b));
};

const topic = (name: string, partitions: PartitionLeader[] | undefined, extra: { created?: string; topicName?: string; generation?: number; cluster?: string } = {}): StoredTopic => ({
  apiVersion: 'bulwark.dev/v1alpha1',
  kind: 'Topic',
  metadata: { name, namespace: 'team', uid: `uid-${name}`, generation: extra.generation ?? 1, creationTimestamp: extra.created ?? '2026-12-06T10:00:00Z' },
  spec: { clusterRef: { name: extra.cluster ?? 'main' }, partitions: partitions?.length || 1, ...(extra.topicName ? { topicName: extra.topicName } : {}) },
  ...(partitions ? { status: { topicId: name.padEnd(32, '0').replace(/[^0-9a-f]/g, 'a').slice(0, 32), partitions } } : {}),
});

describe('partition placement', () => {
  test('6 partitions on 3 brokers: two each, epochs 0, partitions numbered in order', () => {
    const ps = placePartitions({ brokers: [0, 1, 2], name: 'orders', existing: [], partitions: 6, load: new Map() });
    assert.deepEqual(ps.map((p) => p.partition), [0, 1, 2, 3, 4, 5]);
    assert.deepEqual(leadersPerBroker(ps), { 0: 2, 1: 2, 2: 2 });
    assert.ok(ps.every((p) => p.leaderEpoch === 0));
  });

  test('stable: the same input places the same way, and a topic that grows keeps every placed partition', () => {
    const first = placePartitions({ brokers: [0, 1, 2], name: 'orders', existing: [], partitions: 6, load: new Map() });
    assert.deepEqual(placePartitions({ brokers: [0, 1, 2], name: 'orders', existing: [], partitions: 6, load: new Map() }), first);
    // Placed partitions never move, whatever the load says now.
    assert.deepEqual(placePartitions({ brokers: [0, 1, 2], name: 'orders', existing: first, partitions: 6, load: new Map([[0, 100]]) }), first);
    const grown = placePartitions({ brokers: [0, 1, 2], name: 'orders', existing: first, partitions: 9, load: new Map() });
    assert.deepEqual(grown.slice(0, 6), first);
    assert.deepEqual(leadersPerBroker(grown), { 0: 3, 1: 3, 2: 3 });
    // Never fewer than placed: a shrink is refused at admission, and placement would not drop any.
    assert.equal(placePartitions({ brokers: [0, 1, 2], name: 'orders', existing: first, partitions: 2, load: new Map() }).length, 6);
  });

  test('balanced across topics: single-partition topics go to the brokers leading the fewest', () => {
    const placements: PartitionLeader[][] = [];
    for (const name of ['a', 'b', 'c', 'd', 'e', 'f']) placements.push(placePartitions({ brokers: [0, 1, 2], name, existing: [], partitions: 1, load: leaderLoad(placements) }));
    assert.deepEqual(leadersPerBroker(placements.flat()), { 0: 2, 1: 2, 2: 2 });
    // A loaded broker gets new partitions last.
    const ps = placePartitions({ brokers: [0, 1, 2], name: 'x', existing: [], partitions: 2, load: new Map([[0, 5], [1, 0], [2, 0]]) });
    assert.deepEqual(ps.map((p) => p.leader).sort(), [1, 2]);
  });
});

describe('the Topic status', () => {
  const record = (members: Record<string, { generation: number; partitions: number }>, brokers: number, inSync: number) => ({ version: 7, brokers, inSync, topics: new Map(Object.entries(members)) });
  const cases: [string, Parameters<typeof topicDecision>[0], { reason: string; ready: boolean; stalled: boolean; message?: RegExp } | undefined][] = [
    ['a problem: Stalled with its reason', { name: 't', generation: 1, partitions: 3, problem: { reason: 'ReplicationNotSupported', message: 'replication is not built yet' }, record: undefined, cluster: 'main' }, { reason: 'ReplicationNotSupported', ready: false, stalled: true }],
    ['nothing known since a restart: no decision (the status stays)', { name: 't', generation: 1, partitions: 3, record: undefined, cluster: 'main' }, undefined],
    ['an older generation in the state: Propagating', { name: 't', generation: 2, partitions: 6, record: record({ t: { generation: 1, partitions: 3 } }, 3, 3), cluster: 'main' }, { reason: 'Propagating', ready: false, stalled: false, message: /generation 2/ }],
    ['this generation with fewer partitions placed: Propagating', { name: 't', generation: 2, partitions: 6, record: record({ t: { generation: 2, partitions: 3 } }, 3, 3), cluster: 'main' }, { reason: 'Propagating', ready: false, stalled: false }],
    ['on 2 of 3 brokers: Propagating, saying so', { name: 't', generation: 1, partitions: 3, record: record({ t: { generation: 1, partitions: 3 } }, 3, 2), cluster: 'main' }, { reason: 'Propagating', ready: false, stalled: false, message: /^applied on 2\/3 brokers$/ }],
    ['on every broker: Ready', { name: 't', generation: 1, partitions: 3, record: record({ t: { generation: 1, partitions: 3 } }, 3, 3), cluster: 'main' }, { reason: 'Applied', ready: true, stalled: false, message: /^applied on 3\/3 brokers$/ }],
  ];
  for (const [name, input, want] of cases) {
    test(name, () => {
      const d = topicDecision(input);
      if (!want) return assert.equal(d, undefined);
      assert.equal(d?.reason, want.reason);
      assert.equal(d?.ready, want.ready);
      assert.equal(d?.stalled, want.stalled);
      if (want.message) assert.match(d!.message, want.message);
    });
  }

  test('Ready records the cluster state version that first held the generation; a later one does not rewrite it', () => {
    const ready = topicDecision({ name: 't', generation: 1, partitions: 3, record: { version: 7, brokers: 3, inSync: 3, topics: new Map([['t', { generation: 1, partitions: 3 }]]) }, cluster: 'main' })!;
    const s1 = nextTopicStatus(undefined, ready, 1, {}, 0);
    assert.equal(s1.clusterStateVersion, 7);
    assert.equal(s1.inSync, '3/3');
    const later = { ...ready, clusterStateVersion: 9 };
    assert.equal(nextTopicStatus(s1, later, 1, {}, 1000).clusterStateVersion, 7);
  });
});

describe('the ClusterState compiled from Topics', () => {
  const input = (topics: StoredTopic[], brokers = 3) => ({ cluster: { name: 'main', namespace: 'team' }, brokers, kafkaPort: 9092, topics });

  test('brokers 0..replicas-1 at their pod names; placed topics with leaders as the one replica, sorted; unplaced ones left out', () => {
    const { content, members } = compileClusterState(input([topic('orders', [{ partition: 1, leader: 2, leaderEpoch: 0 }, { partition: 0, leader: 1, leaderEpoch: 3 }]), topic('audit', [{ partition: 0, leader: 0, leaderEpoch: 0 }]), topic('new', undefined)]));
    assert.equal(content.clusterId, 'team.main', 'the clusterId every broker of it is configured with');
    assert.deepEqual(content.brokers, [0, 1, 2].map((id) => ({ id, host: `main-${id}.main-brokers.team.svc`, port: 9092, rack: null })));
    assert.deepEqual(content.topics.map((t) => t.name), ['audit', 'orders']);
    assert.deepEqual(content.topics[1]!.partitions, [
      { partition: 0, leader: 1, leaderEpoch: 3, replicas: [1], isr: [1] },
      { partition: 1, leader: 2, leaderEpoch: 0, replicas: [2], isr: [2] },
    ]);
    assert.deepEqual([...members.keys()].sort(), ['audit', 'orders']);
  });

  test('two Topics with one Kafka name: the older holds it, the later is left out', () => {
    const older = topic('orders', [{ partition: 0, leader: 0, leaderEpoch: 0 }], { created: '2026-12-06T09:00:00Z' });
    const later = topic('orders-again', [{ partition: 0, leader: 1, leaderEpoch: 0 }], { created: '2026-12-06T11:00:00Z', topicName: 'orders' });
    assert.deepEqual([...nameConflicts([later, older]).entries()], [['orders-again', 'orders']]);
    const { content } = compileClusterState(input([later, older]));
    assert.equal(content.topics.length, 1);
    assert.equal(content.topics[0]!.partitions[0]!.leader, 0);
  });

  test('the version stays while the content is the same and moves forward when it changes', () => {
    const { content } = compileClusterState(input([topic('orders', [{ partition: 0, leader: 0, leaderEpoch: 0 }])]));
    assert.equal(nextClusterStateVersion(undefined, content), 1);
    const hash = clusterStateHash({ ...content, version: 4 });
    assert.equal(nextClusterStateVersion({ version: 4, hash }, content), 4);
    const { content: grown } = compileClusterState(input([topic('orders', [{ partition: 0, leader: 0, leaderEpoch: 0 }])], 4));
    assert.equal(nextClusterStateVersion({ version: 4, hash }, grown), 5);
  });

  test('a broker holding a newer version (an earlier operator pushed it) makes the next push exceed it; a broker run that confirmed is not pushed again', async () => {
    const { content } = compileClusterState(input([]));
    const seen: number[] = [];
    const push = async (_t: unknown, _tls: unknown, state: { version: number }): Promise<ClusterStatePushResult> => {
      seen.push(state.version);
      if (state.version <= 41) return { outcome: 'rejected', reason: 'stale-version', applied: { version: 41, hash: 'sha256:x', source: 'push' }, message: 'stale' };
      return { outcome: 'applied', applied: { version: state.version, hash: clusterStateHash(state as never), source: 'push' }, unchanged: false };
    };
    const confirmed = new Map<string, { version: number; hash: string }>();
    const targets = [{ pod: 'main-0', instance: 'uid/ctr', host: '10.0.0.1', servername: 'main-0' }];
    const out = await distributeClusterState({ content, previous: { version: 3, hash: 'sha256:other' }, targets, port: 9443, tls: { ca: '', cert: '', key: '' }, push: push as never, confirmed });
    assert.deepEqual(seen, [4, 42]);
    assert.equal(out.state.version, 42);
    assert.equal(out.inSync, 1);
    const again = await distributeClusterState({ content, previous: { version: 42, hash: out.hash }, targets, port: 9443, tls: { ca: '', cert: '', key: '' }, push: push as never, confirmed });
    assert.equal(again.pushed, 0);
    assert.equal(again.inSync, 1);
  });
});

describe('scaling down', () => {
  const leaders = [
    { name: 'orders', partitions: [{ partition: 0, leader: 0 }, { partition: 1, leader: 1 }, { partition: 2, leader: 2 }, { partition: 3, leader: 2 }] },
    { name: 'audit', partitions: [{ partition: 0, leader: 2 }] },
  ];
  test('refused while a broker that would go leads partitions, naming it and how many', () => {
    const b = scaleDownBlock(2, 3, leaders)!;
    assert.equal(b.keep, 3);
    assert.match(b.message, /broker 2 leads 3 partitions \(topics audit, orders\)/);
    assert.match(b.message, /set spec\.replicas back to 3/);
  });
  test('allowed when the brokers that go lead nothing; scale-ups are never blocked', () => {
    assert.equal(scaleDownBlock(3, 4, leaders), undefined);
    assert.equal(scaleDownBlock(5, 3, leaders), undefined);
    assert.equal(scaleDownBlock(2, undefined, leaders), undefined);
  });
});

describe('topics created through the Kafka API', () => {
  const create = (extra: Record<string, unknown>) => ({ id: 'r1', op: 'create' as const, topic: 'Payments_EU', partitions: 3, replicationFactor: 1, config: {}, principal: 'User:alice', ...extra });
  test('refused with the Kafka error a client expects', () => {
    assert.equal(createRefusal(create({})), undefined);
    assert.equal(createRefusal(create({ replicationFactor: 3 }))?.errorCode, KafkaErrorCode.INVALID_REPLICATION_FACTOR);
    assert.equal(createRefusal(create({ config: { 'cleanup.policy': 'compact' } }))?.errorCode, KafkaErrorCode.INVALID_CONFIG);
    assert.equal(createRefusal(create({ topic: '__audit' }))?.errorCode, KafkaErrorCode.INVALID_TOPIC_EXCEPTION);
  });
  test('recorded under a Kubernetes-safe name: the Kafka name when it is one, else a lowercase form with a hash', () => {
    assert.equal(kubernetesTopicName('orders.v1'), 'orders.v1');
    const a = kubernetesTopicName('Payments_EU');
    const b = kubernetesTopicName('payments_eu');
    assert.match(a, /^payments-eu-[0-9a-f]{10}$/);
    assert.notEqual(a, b, 'names that differ only in case get different resources');
    assert.notEqual(kubernetesTopicName('orders', 'team/other'), 'orders');
    for (const n of [a, b, kubernetesTopicName('_x'), kubernetesTopicName('A'.repeat(249))]) {
      const r = parseResource({ apiVersion: 'bulwark.dev/v1alpha1', kind: 'Topic', metadata: { name: n, namespace: 'team' }, spec: { clusterRef: { name: 'main' }, topicName: 'x', partitions: 1 } });
      assert.ok(r.ok, `${n}: ${JSON.stringify(!r.ok && r.errors)}`);
    }
  });
});

describe('the topic-request polls', () => {
  test('one poll per running broker; each request answered once; a broker that goes is no longer polled; stopAll ends them all', async () => {
    const polled = new Map<string, number>();
    const answered: { host: string; id: string; outcome: string }[] = [];
    const queued = new Map<string, TopicRequest[]>([['10.0.0.1', [{ id: 'r1', op: 'delete', topic: 'orders', principal: 'User:alice' }]]]);
    const poll = async (t: { host: string }, _tls: unknown, _wait: number, opts: { signal?: AbortSignal } = {}) => {
      polled.set(t.host, (polled.get(t.host) ?? 0) + 1);
      const requests = queued.get(t.host) ?? [];
      queued.delete(t.host);
      if (requests.length > 0) return { outcome: 'ok' as const, value: requests };
      // A long poll: waits until aborted.
      await new Promise<void>((resolve) => opts.signal?.addEventListener('abort', () => resolve(), { once: true }));
      return { outcome: 'unreachable' as const, error: { code: 'ABORT_ERR', message: 'aborted' } };
    };
    const answer = async (t: { host: string }, _tls: unknown, id: string, a: { outcome: string }) => {
      answered.push({ host: t.host, id, outcome: a.outcome });
      return { outcome: 'ok' as const, value: true };
    };
    const decide = async () => ({ outcome: 'failed' as const, errorCode: KafkaErrorCode.UNKNOWN_TOPIC_OR_PARTITION, message: 'no such topic' });
    const pollers = new TopicRequestPollers({ log: createLogger({ level: 'silent' }), poll: poll as never, answer: answer as never, decide: decide as never });
    const cluster = { namespace: 'team', name: 'main' };
    const env = {} as never;
    const tls = { ca: 'ca', cert: 'cert', key: 'key' };
    const target = (i: number) => ({ pod: `main-${i}`, instance: `uid-${i}/ctr`, host: `10.0.0.${i + 1}`, servername: `main-${i}` });
    pollers.sync(cluster, [target(0), target(1)], 9443, tls, env);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(pollers.polling(cluster), ['main-0', 'main-1']);
    assert.deepEqual(answered, [{ host: '10.0.0.1', id: 'r1', outcome: 'failed' }]);
    pollers.sync(cluster, [target(0), target(1)], 9443, tls, env);
    assert.equal(polled.get('10.0.0.2'), 1, 'a second sync with the same brokers starts no second poll');
    pollers.sync(cluster, [target(0)], 9443, tls, env);
    assert.deepEqual(pollers.polling(cluster), ['main-0']);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(polled.get('10.0.0.2'), 1, 'the broker that went is not polled again');
    pollers.sync(cluster, [target(0)], 9443, undefined, env);
    assert.deepEqual(pollers.polling(cluster), [], 'without the operator\'s certificate nothing is polled');
    pollers.sync(cluster, [target(0), target(1)], 9443, tls, env);
    await pollers.stopAll();
    assert.deepEqual(pollers.polling(cluster), []);
  });
});

describe('coordinator slots: where consumer groups live', () => {
  test('spread round robin at first; never moved when brokers are added; only a removed broker\'s slots move', () => {
    const three = placeCoordinators(3, undefined);
    assert.equal(three.length, COORDINATOR_SLOTS);
    assert.deepEqual([0, 1, 2].map((b) => three.filter((x) => x === b).length), [17, 17, 16]);
    // Scale up to 5: every slot stays where it was (groups keep their committed offsets).
    assert.deepEqual(placeCoordinators(5, three), three);
    // Scale down to 2: the slots of broker 2 go to 0 and 1, the others stay.
    const two = placeCoordinators(2, three);
    three.forEach((was, i) => {
      if (was < 2) assert.equal(two[i], was, `slot ${i} stays on broker ${was}`);
      else assert.ok(two[i]! < 2, `slot ${i} leaves broker 2`);
    });
  });

  test('a group is coordinated by its slot\'s broker, the same whatever brokers are added', () => {
    const brokers = (n: number) => Array.from({ length: n }, (_, id) => ({ id, host: `b${id}`, port: 9092, rack: null }));
    const slots = placeCoordinators(3, undefined);
    const before = { clusterId: 'c', version: 1, controllerId: 0, brokers: brokers(3), topics: [], coordinators: slots };
    const after = { ...before, version: 2, brokers: brokers(5), coordinators: placeCoordinators(5, slots) };
    for (const g of ['orders-app', 'billing', 'g-1', 'g-2', 'analytics']) {
      assert.equal(coordinatorFor(after, g).id, coordinatorFor(before, g).id, g);
      assert.equal(coordinatorFor(before, g).id, slots[groupSlot(g, COORDINATOR_SLOTS)]);
    }
    // Without slots (standalone), groups are spread over the brokers present: adding brokers moves some.
    const moved = ['orders-app', 'billing', 'g-1', 'g-2', 'analytics'].filter((g) => coordinatorFor({ ...before, coordinators: undefined }, g).id !== coordinatorFor({ ...after, coordinators: undefined }, g).id);
    assert.ok(moved.length > 0);
  });
});

