// Topics on a real kube-apiserver and etcd, reconciled by the whole operator running as its own
// ServiceAccount under manifests/base/rbac (so its RBAC for topics is proven, not assumed). What a
// platform team checks: a Topic's partitions placed on the brokers (balanced, stable across
// re-reconciles and an operator restart, appended when it grows), admission refusing what cannot
// be (a shrink, an unknown config), the Stalled reasons, two writers racing for one placement,
// the cluster state reaching every broker (three contract brokers on loopback addresses: the
// real route is built on the broker side, test/harness/cluster-state-server.ts), topics created
// and deleted through the Kafka API becoming Topic resources, and a scale-down refused while a
// broker that would go leads partitions.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import type { PartitionLeader } from '../src/cluster/index.ts';
import { createLogger, KafkaErrorCode } from '../src/lib/index.ts';
import { kubernetesTopicName, type StoredTopic } from '../src/operator/cluster-state/index.ts';
import { KINDS, KubeClient, KubeObjectApi, type KubeObject } from '../src/operator/controller/index.ts';
import { startOperator, type OperatorHandle } from '../src/operator/index.ts';
import { defaultReconcilers } from '../src/operator/reconcilers.ts';
import { placed, writeUnderConcurrency } from '../src/operator/topic/index.ts';
import { startClusterStateServer, type ClusterStateServer } from './harness/cluster-state-server.ts';
import { freePorts, startControlPlane, type ControlPlane } from './harness/controlplane.ts';
import { recordStatus } from './harness/record-status.ts';
import { until } from './harness/until.ts';

const root = join(import.meta.dirname, '..');
const log = createLogger({ level: 'silent' });
let cp: ControlPlane;
let admin: KubeClient;
let api: KubeObjectApi;
let ns: string;
let operatorConfig: KubeConfig;
let operator: OperatorHandle | undefined;
let internalPort: number;
const brokers: ClusterStateServer[] = [];

type Obj = KubeObject & { status?: any; spec?: any; data?: Record<string, string> };
const get = (kind: typeof KINDS.topic, name: string, namespace = ns) => api.get<Obj>(kind, { namespace, name });
const condition = (o: Obj | undefined, type: string) => (o?.status?.conditions ?? []).find((c: any) => c.type === type);
const kubectl = (args: string[], input?: unknown) => cp.kubectl(args, input === undefined ? {} : { input: JSON.stringify(input) });
const topicDoc = (name: string, spec: Record<string, unknown>, namespace = ns) => ({ apiVersion: 'bulwark.dev/v1alpha1', kind: 'Topic', metadata: { name, namespace }, spec: { clusterRef: { name: 'main' }, ...spec } });
const applyOk = async (doc: unknown) => {
  const r = await kubectl(['apply', '-f', '-'], doc);
  assert.equal(r.code, 0, r.stderr);
};
const perBroker = (ps: readonly PartitionLeader[]) => {
  const m: Record<number, number> = {};
  for (const p of ps) m[p.leader] = (m[p.leader] ?? 0) + 1;
  return m;
};

const start = () => startOperator({ kubeConfig: operatorConfig, reconcilers: defaultReconcilers({ brokerImage: 'bulwark.local/bulwark:test' }), namespaces: [ns], leaderElection: false, metricsPort: 0, metricsHost: '127.0.0.1', log });

async function idle(op: OperatorHandle): Promise<void> {
  let quiet = 0;
  await until('the operator to be idle', async () => {
    const busy = ['brokercluster', 'clusterstate', 'topic'].some((name) => {
      const q = op.runner.queue(name)!;
      return q.depth > 0 || q.inFlight > 0;
    });
    quiet = busy ? 0 : quiet + 1;
    return quiet >= 10;
  });
}

before(async () => {
  cp = await startControlPlane();
  await cp.kubectl(['apply', '-f', join(root, 'crds')], { check: true });
  await cp.kubectl(['create', 'namespace', 'bulwark-system'], { check: true });
  await cp.kubectl(['apply', '-k', join(root, 'manifests', 'base', 'rbac')], { check: true });
  await cp.kubectl(['apply', '-f', join(root, 'manifests', 'overlays', 'cluster-wide', 'cluster-role-binding.yaml')], { check: true });
  await cp.kubectl(['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s'], { check: true });
  ns = await cp.createNamespace('topics');
  const binding = readFileSync(join(root, 'manifests', 'templates', 'namespace-rolebinding.yaml'), 'utf8').replace('namespace: NAMESPACE', `namespace: ${ns}`);
  await cp.kubectl(['apply', '-f', '-'], { input: binding, check: true });
  const token = (await cp.kubectl(['-n', 'bulwark-system', 'create', 'token', 'bulwark-operator', '--duration=1h'], { check: true })).stdout.trim();
  operatorConfig = new KubeConfig();
  operatorConfig.loadFromOptions({
    clusters: [{ name: 'test', server: cp.server, caData: Buffer.from(cp.caPem).toString('base64') }],
    users: [{ name: 'bulwark-operator', token }],
    contexts: [{ name: 'operator', cluster: 'test', user: 'bulwark-operator' }],
    currentContext: 'operator',
  });
  const kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfigPath);
  admin = new KubeClient(kc);
  api = new KubeObjectApi(admin, Object.values(KINDS));
  internalPort = (await freePorts(1))[0]!;
  operator = await start();
  await operator.synced();
  await applyOk({
    apiVersion: 'bulwark.dev/v1alpha1',
    kind: 'BrokerCluster',
    metadata: { name: 'main', namespace: ns },
    spec: { replicas: 3, internalPort, storage: { size: '1Gi' }, listeners: [{ name: 'kafka', protocol: 'kafka', port: 9092, tls: { enabled: true } }] },
  });
}, { timeout: 300_000 });

after(async () => {
  await operator?.stop();
  await Promise.all(brokers.map((b) => b.close()));
  admin?.close();
  await cp?.stop();
});

describe('Topics on a real API server, reconciled by the operator as its ServiceAccount', { timeout: 300_000 }, () => {
  test('a Topic applied: its partitions placed on the brokers, balanced, with a topic id and leader epochs', async () => {
    await applyOk(topicDoc('orders', { partitions: 6, config: { 'retention.ms': '604800000' } }));
    const orders = await until('orders placed', async () => {
      const t = await get(KINDS.topic, 'orders');
      return t?.status?.partitions?.length === 6 ? t : undefined;
    });
    assert.match(orders.status.topicId, /^[0-9a-f]{32}$/);
    assert.equal(orders.status.topicName, 'orders');
    assert.deepEqual(orders.status.partitions.map((p: PartitionLeader) => p.partition), [0, 1, 2, 3, 4, 5]);
    assert.deepEqual(perBroker(orders.status.partitions), { 0: 2, 1: 2, 2: 2 });
    assert.ok(orders.status.partitions.every((p: PartitionLeader) => p.leaderEpoch === 0));
    // No broker runs yet: the cluster state is on its way to none of the three.
    const ready = await until('orders Reconciling with a message', async () => {
      const c = condition(await get(KINDS.topic, 'orders'), 'Ready');
      return c?.message === 'applied on 0/3 brokers' ? c : undefined;
    });
    assert.equal(ready.status, 'False');
    recordStatus(await get(KINDS.topic, 'orders'), 'progressing-propagating');

    // A second topic counts the first one's load: with 3 more partitions, each broker leads 3 in all.
    await applyOk(topicDoc('audit-events', { partitions: 3, topicName: 'Audit_Events' }));
    const audit = await until('audit placed', async () => {
      const t = await get(KINDS.topic, 'audit-events');
      return t?.status?.partitions?.length === 3 ? t : undefined;
    });
    assert.equal(audit.status.topicName, 'Audit_Events');
    assert.deepEqual(perBroker([...orders.status.partitions, ...audit.status.partitions]), { 0: 3, 1: 3, 2: 3 });

    const table = await kubectl(['-n', ns, 'get', 'bwtopic']);
    assert.match(table.stdout.split('\n')[0]!, /^NAME\s+CLUSTER\s+TOPIC\s+PARTITIONS\s+READY\s+AGE$/);
    assert.match(table.stdout, /\naudit-events\s+main\s+Audit_Events\s+3\s+False\s/);
  });

  test('growing a Topic appends partitions, placed ones never move; re-reconciles and an operator restart change nothing', async () => {
    const before6 = (await get(KINDS.topic, 'orders'))!;
    await applyOk(topicDoc('orders', { partitions: 9, config: { 'retention.ms': '604800000' } }));
    const grown = await until('orders grown', async () => {
      const t = await get(KINDS.topic, 'orders');
      return t?.status?.partitions?.length === 9 ? t : undefined;
    });
    assert.deepEqual(grown.status.partitions.slice(0, 6), before6.status.partitions);
    assert.equal(grown.status.topicId, before6.status.topicId, 'the topic id is assigned once');
    assert.deepEqual(perBroker(grown.status.partitions), { 0: 3, 1: 3, 2: 3 });

    await idle(operator!);
    const settled = (await get(KINDS.topic, 'orders'))!;
    await operator!.stop();
    operator = await start();
    await operator.synced();
    await idle(operator);
    const after = (await get(KINDS.topic, 'orders'))!;
    assert.deepEqual(after.status.partitions, settled.status.partitions);
    assert.equal(after.status.topicId, settled.status.topicId);
    assert.equal(after.metadata.resourceVersion, settled.metadata.resourceVersion, 'a restarted operator rewrites nothing');
  });

  test('admission refuses a shrink, an unknown config, a value that is not an integer, and a changed topicName', async () => {
    const refused = async (doc: unknown, message: RegExp) => {
      const r = await kubectl(['apply', '-f', '-'], doc);
      assert.notEqual(r.code, 0, `accepted: ${JSON.stringify(doc)}`);
      assert.match(r.stderr, message);
    };
    await refused(topicDoc('orders', { partitions: 3, config: { 'retention.ms': '604800000' } }), /partitions cannot shrink/);
    await refused(topicDoc('compacted', { partitions: 1, config: { 'cleanup.policy': 'compact' } }), /unknown config key: Bulwark knows retention\.ms/);
    await refused(topicDoc('weekly', { partitions: 1, config: { 'retention.ms': '7d' } }), /config values are integers/);
    await refused(topicDoc('audit-events', { partitions: 3, topicName: 'audit' }), /topicName is immutable/);
    await refused(topicDoc('reserved', { partitions: 1, topicName: '__audit' }), /reserved for Bulwark/);
    assert.equal(await get(KINDS.topic, 'compacted'), undefined);
    assert.equal((await get(KINDS.topic, 'orders'))?.spec.partitions, 9);
  });

  test('Stalled: replication above 1 (ReplicationNotSupported), a missing cluster (ClusterNotFound), a Kafka name another Topic holds (TopicNameConflict)', async () => {
    await applyOk(topicDoc('replicated', { partitions: 3, replicationFactor: 3 }));
    await applyOk({ ...topicDoc('orphan', { partitions: 1 }), spec: { clusterRef: { name: 'nope' }, partitions: 1 } });
    await applyOk(topicDoc('orders-copy', { partitions: 2, topicName: 'orders' }));
    const stalled = async (name: string) =>
      until(`${name} Stalled`, async () => {
        const t = await get(KINDS.topic, name);
        const c = condition(t, 'Stalled');
        return c?.status === 'True' ? { t: t!, c } : undefined;
      });
    const r = await stalled('replicated');
    assert.equal(r.c.reason, 'ReplicationNotSupported');
    assert.match(r.c.message, /replication is not built yet/);
    assert.equal(r.t.status.partitions, undefined, 'nothing placed');
    assert.equal(condition(r.t, 'Ready').status, 'False');
    recordStatus(r.t, 'degraded-replication-not-supported');
    const o = await stalled('orphan');
    assert.equal(o.c.reason, 'ClusterNotFound');
    assert.match(o.c.message, /BrokerCluster nope does not exist/);
    const c = await stalled('orders-copy');
    assert.equal(c.c.reason, 'TopicNameConflict');
    assert.match(c.c.message, /Topic orders of BrokerCluster main already holds the Kafka topic name orders/);
    assert.equal(c.t.status.partitions, undefined);
  });

  test('two writers racing for one placement: one wins, the other gets a conflict, reads again and keeps the winner\'s leaders', async () => {
    // A namespace this operator does not serve: the two writers here are the only ones.
    const other = await cp.createNamespace('race');
    await applyOk(topicDoc('contested', { partitions: 3 }, other));
    const read = (await get(KINDS.topic, 'contested', other)) as StoredTopic;
    const writer = (leader: number, topicId: string) => (t: StoredTopic) =>
      placed(t.status, 3) ? undefined : { ...(t.status ?? {}), topicId, partitions: [0, 1, 2].map((partition) => ({ partition, leader, leaderEpoch: 0 })) };
    // Both decided from the same read (the same resourceVersion), as two operators would.
    const [a, b] = await Promise.all([writeUnderConcurrency(api, read, writer(0, 'a'.repeat(32))), writeUnderConcurrency(api, read, writer(1, 'b'.repeat(32)))]);
    assert.deepEqual([a.wrote, b.wrote].sort(), [false, true], 'exactly one writes');
    const loser = a.wrote ? b : a;
    assert.equal(loser.conflicts, 1, 'the other was refused with 409 Conflict');
    const stored = (await get(KINDS.topic, 'contested', other))!;
    const leaders = new Set(stored.status.partitions.map((p: PartitionLeader) => p.leader));
    assert.equal(leaders.size, 1, 'every partition has the leader one writer chose: nothing mixed');
    assert.equal(stored.status.topicId, a.wrote ? 'a'.repeat(32) : 'b'.repeat(32));
    assert.deepEqual(loser.topic!.status!.partitions, stored.status.partitions, 'the loser now sees the winner\'s placement');
    // A blind write without the resourceVersion guard is what the API server refuses too.
    const stale = { ...read, status: writer(1, 'c'.repeat(32))(read) };
    await assert.rejects(api.updateStatus(stale), /409/);
  });

  test('the cluster state reaches every broker over mTLS; each Topic turns Ready and the BrokerCluster shows the version in sync', async () => {
    const internal = await until('the internal certificate', async () => api.get<Obj>(KINDS.secret, { namespace: ns, name: 'main-internal-tls' }));
    const pem = (k: string) => Buffer.from(internal.data![k]!, 'base64').toString('utf8');
    for (const i of [0, 1, 2]) {
      brokers.push(await startClusterStateServer({ host: `127.0.0.${i + 2}`, port: internalPort, cert: pem('tls.crt'), key: pem('tls.key'), ca: pem('ca.crt') }));
      await kubectl(['-n', ns, 'apply', '-f', '-'], {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `main-${i}`, namespace: ns, labels: { 'app.kubernetes.io/name': 'bulwark', 'app.kubernetes.io/instance': 'main', 'app.kubernetes.io/component': 'broker' } },
        spec: { containers: [{ name: 'broker', image: 'bulwark.local/bulwark:test' }] },
      });
      const status = { podIP: `127.0.0.${i + 2}`, podIPs: [{ ip: `127.0.0.${i + 2}` }], phase: 'Running', containerStatuses: [{ name: 'broker', containerID: `containerd://run${i}`, image: 'bulwark.local/bulwark:test', imageID: '', ready: false, restartCount: 0, state: { running: { startedAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z') } } }] };
      const r = await cp.kubectl(['-n', ns, 'patch', 'pod', `main-${i}`, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status })]);
      assert.equal(r.code, 0, r.stderr);
    }
    const orders = await until('orders Ready', async () => {
      const t = await get(KINDS.topic, 'orders');
      return condition(t, 'Ready')?.status === 'True' ? t : undefined;
    });
    assert.equal(condition(orders, 'Ready').message, 'applied on 3/3 brokers');
    recordStatus(orders, 'healthy-applied');
    assert.equal(orders.status.inSync, '3/3');
    const cluster = await until('the cluster state in sync', async () => {
      const c = await api.get<Obj>(KINDS.brokerCluster, { namespace: ns, name: 'main' });
      return c?.status?.clusterStateInSync === '3/3' && c.status.clusterStateVersion ? c : undefined;
    });
    assert.equal(orders.status.clusterStateVersion, cluster.status.clusterStateVersion);
    for (const b of brokers) {
      const state = b.current()!;
      assert.equal(state.version, cluster.status.clusterStateVersion);
      assert.equal(state.clusterId, `${ns}.main`, "the clusterId the brokers are configured with");
      assert.deepEqual(state.brokers, [0, 1, 2].map((id) => ({ id, host: `main-${id}.main-brokers.${ns}.svc`, port: 9092, rack: null })));
      const t = state.topics.find((x) => x.name === 'orders')!;
      assert.equal(t.id, orders.status.topicId);
      assert.deepEqual(t.config, { 'retention.ms': '604800000' });
      assert.deepEqual(t.partitions.map((p) => [p.partition, p.leader, p.leaderEpoch]), orders.status.partitions.map((p: PartitionLeader) => [p.partition, p.leader, p.leaderEpoch]));
      assert.deepEqual(state.topics.map((x) => x.name).sort(), ['Audit_Events', 'orders'], 'Stalled and conflicting Topics are not in it');
      assert.ok(b.refused.every((r) => r.status === 409), `no push outside the contract: ${JSON.stringify(b.refused)}`);
    }
  });

  test('topics created and deleted through the Kafka API become, and stop being, Topic resources', async () => {
    const broker = brokers[1]!;
    await until('broker 1 polled', async () => broker.polls().waiting > 0);
    const created = await broker.request({ id: 'req-1', op: 'create', topic: 'Payments_EU', partitions: 4, replicationFactor: 1, config: { 'retention.ms': '3600000' }, principal: 'User:alice' });
    assert.deepEqual(created, { outcome: 'done' });
    const name = kubernetesTopicName('Payments_EU');
    const t = (await get(KINDS.topic, name))!;
    assert.equal(t.spec.topicName, 'Payments_EU');
    assert.equal(t.spec.partitions, 4);
    assert.deepEqual(t.spec.config, { 'retention.ms': '3600000' });
    assert.equal(t.metadata.annotations?.['bulwark.dev/created-by'], 'kafka-api');
    assert.equal(t.metadata.annotations?.['bulwark.dev/principal'], 'User:alice');
    // Placed and pushed like any other Topic.
    await until('Payments_EU in every broker\'s state', async () => brokers.every((b) => b.current()?.topics.some((x) => x.name === 'Payments_EU' && x.partitions.length === 4)));

    const exists = await broker.request({ id: 'req-2', op: 'create', topic: 'orders', partitions: 1, replicationFactor: 1, config: {}, principal: 'User:alice' });
    assert.equal(exists.outcome === 'failed' && exists.errorCode, KafkaErrorCode.TOPIC_ALREADY_EXISTS);
    const rf = await broker.request({ id: 'req-3', op: 'create', topic: 'replicated-too', partitions: 1, replicationFactor: 3, config: {}, principal: 'User:alice' });
    assert.equal(rf.outcome === 'failed' && rf.errorCode, KafkaErrorCode.INVALID_REPLICATION_FACTOR);
    assert.equal(await get(KINDS.topic, 'replicated-too'), undefined);

    const deleted = await brokers[0]!.request({ id: 'req-4', op: 'delete', topic: 'Payments_EU', principal: 'User:alice' });
    assert.deepEqual(deleted, { outcome: 'done' });
    await until('the Topic gone', async () => (await get(KINDS.topic, name)) === undefined);
    await until('Payments_EU out of every broker\'s state', async () => brokers.every((b) => !b.current()?.topics.some((x) => x.name === 'Payments_EU')));
    const unknown = await brokers[2]!.request({ id: 'req-5', op: 'delete', topic: 'nope', principal: 'User:alice' });
    assert.equal(unknown.outcome === 'failed' && unknown.errorCode, KafkaErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  });

  test('a broker pod that goes is no longer polled', async () => {
    const gone = brokers[2]!;
    await until('broker 2 polled', async () => gone.polls().waiting > 0);
    const r = await cp.kubectl(['-n', ns, 'delete', 'pod', 'main-2', '--grace-period=0', '--force']);
    assert.equal(r.code, 0, r.stderr);
    await until('the poll to broker 2 ended', async () => gone.polls().waiting === 0);
    const total = gone.polls().total;
    await new Promise((r) => setTimeout(r, 3_000));
    assert.equal(gone.polls().total, total, 'no new poll to a pod that is gone');
    assert.ok(brokers[0]!.polls().waiting > 0, 'the others are still polled');
  });

  test('scaling down is refused while a broker that would go leads partitions, and allowed once it leads none', async () => {
    await applyOk({
      apiVersion: 'bulwark.dev/v1alpha1',
      kind: 'BrokerCluster',
      metadata: { name: 'main', namespace: ns },
      spec: { replicas: 2, internalPort, storage: { size: '1Gi' }, listeners: [{ name: 'kafka', protocol: 'kafka', port: 9092, tls: { enabled: true } }] },
    });
    const stalled = await until('ScaleDownBlocked', async () => {
      const c = condition(await api.get<Obj>(KINDS.brokerCluster, { namespace: ns, name: 'main' }), 'Stalled');
      return c?.reason === 'ScaleDownBlocked' ? c : undefined;
    });
    recordStatus(await api.get<Obj>(KINDS.brokerCluster, { namespace: ns, name: 'main' }), 'degraded-scale-down-blocked');
    assert.equal(stalled.status, 'True');
    assert.match(stalled.message, /scaling down from 3 to 2 brokers is refused: broker 2 leads 4 partitions \(topics Audit_Events, orders\)/);
    const sts = await api.get<Obj>(KINDS.statefulSet, { namespace: ns, name: 'main' });
    assert.equal(sts?.spec.replicas, 3, 'the StatefulSet keeps its replicas');

    for (const name of ['orders', 'audit-events']) assert.equal((await kubectl(['-n', ns, 'delete', 'topic', name])).code, 0);
    await until('the StatefulSet scaled to 2', async () => (await api.get<Obj>(KINDS.statefulSet, { namespace: ns, name: 'main' }))?.spec.replicas === 2);
    // The StatefulSet is written before the BrokerCluster's status: wait for that too.
    await until('Stalled False', async () => condition(await api.get<Obj>(KINDS.brokerCluster, { namespace: ns, name: 'main' }), 'Stalled')?.status === 'False');
    await until('two brokers in the cluster state', async () => brokers.slice(0, 2).every((b) => b.current()?.brokers.length === 2));
  });

  test('scaling up adds brokers to the cluster state, and new partitions go to them too; consumer groups keep their coordinators', async () => {
    const coordinators = brokers[0]!.current()?.coordinators;
    assert.ok(coordinators && coordinators.length === 50 && coordinators.every((b) => b === 0 || b === 1), `the slots on the 2 brokers: ${JSON.stringify(coordinators)}`);
    await applyOk({
      apiVersion: 'bulwark.dev/v1alpha1',
      kind: 'BrokerCluster',
      metadata: { name: 'main', namespace: ns },
      spec: { replicas: 4, internalPort, storage: { size: '1Gi' }, listeners: [{ name: 'kafka', protocol: 'kafka', port: 9092, tls: { enabled: true } }] },
    });
    await until('four brokers in the cluster state', async () => brokers.slice(0, 2).every((b) => b.current()?.brokers.map((x) => x.id).join() === '0,1,2,3'));
    for (const b of brokers.slice(0, 2)) assert.deepEqual(b.current()!.coordinators, coordinators, 'no group moves to a new broker');
    assert.deepEqual((await api.get<Obj>(KINDS.brokerCluster, { namespace: ns, name: 'main' }))?.status?.coordinators, coordinators);
    await applyOk(topicDoc('wide', { partitions: 4 }));
    const wide = await until('wide placed', async () => {
      const t = await get(KINDS.topic, 'wide');
      return t?.status?.partitions?.length === 4 ? t : undefined;
    });
    assert.deepEqual(perBroker(wide.status.partitions), { 0: 1, 1: 1, 2: 1, 3: 1 });
  });
});
