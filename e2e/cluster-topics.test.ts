// One BrokerCluster of three brokers is one Kafka cluster to its clients, on a real node: the
// operator (manifests/overlays/cluster-wide) plays Kafka's controller, Topics are custom resources, and kcat,
// kafkajs and the Apache Kafka Java client reach every partition through one bootstrap address.
//
// Runbook order: a Topic of 6 partitions → spread over the 3 brokers, Ready on 3/3; every client
// produces to and consumes from every partition through broker 0 alone; a consumer group of 3
// members splits the partitions; a Produce sent to a broker that does not lead the partition is
// refused; kafka-topics.sh (the Java TopicCommand) creates and deletes a topic and the Topic
// resource appears and goes; a broker pod deleted → its partitions unavailable until it returns,
// then everything intact; scaling down while a broker leads partitions is refused.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KafkaWireClient } from '../tools/kafka-wire/client.ts';
import { argocdHealth, kstatus } from '../test/harness/gitops-check.ts';
import { nodeUnavailableReason, type ClientHost, type TestNode } from '../test/harness/node.ts';
import { recordStatus } from '../test/harness/record-status.ts';
import { useTempDirs } from '../test/harness/temp.ts';
import { E2E_STORAGE_CLASS, kubectlJson, resolveBrokers, waitFor } from '../tools/node/bulwark-install.ts';
import { javaOn, startE2eSite, userFiles } from './support.ts';

const skip = nodeUnavailableReason();
const CLUSTER = 'trio';
const REPLICAS = 3;
const PARTITIONS = 6;
const TOPIC = 'spread';
const root = join(import.meta.dirname, '..');

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}

interface PartitionStatus {
  partition: number;
  leader: number;
  leaderEpoch: number;
}

describe('three brokers, one Kafka cluster, on a real node', { skip: skip ?? false, timeout: 1_800_000 }, () => {
  let node: TestNode;
  let host: ClientHost;
  let ns = '';
  let dir = '';
  let java: ReturnType<typeof javaOn>;
  let alice: { dir: string; data: Record<string, string> };
  let leaders: PartitionStatus[] = [];
  const tempDir = useTempDirs('e2e-cluster');
  const timings: Record<string, number> = {};

  const apply = (doc: unknown) => node.kubectl(['apply', '--server-side', '-f', '-'], { input: JSON.stringify(doc), check: true });
  const bw = (kind: string, name: string, spec: unknown) => ({ apiVersion: 'bulwark.dev/v1alpha1', kind, metadata: { name, namespace: ns }, spec });
  const RESOURCE: Record<string, string> = { topic: 'topics.bulwark.dev', brokercluster: 'brokerclusters.bulwark.dev' };
  const get = (kind: string, name: string) => kubectlJson<any>(node, ['-n', ns, 'get', RESOURCE[kind] ?? kind, name]);
  const condition = (o: any, type: string): Condition | undefined => o?.status?.conditions?.find((c: Condition) => c.type === type);
  const broker = (i: number) => `${CLUSTER}-${i}.${CLUSTER}-brokers.${ns}.svc`;
  /** Broker names resolvable on the client host again (a replaced pod has a new address). */
  const refreshHosts = () => resolveBrokers(node, host, ns, CLUSTER);
  const waitTopicReady = (name: string, timeoutMs = 180_000) =>
    waitFor(`Topic ${name} Ready on every broker`, async () => {
      const o = await get('topic', name);
      const ready = condition(o, 'Ready');
      return ready?.status === 'True' && o.status.observedGeneration === o.metadata.generation ? o : undefined;
    }, timeoutMs, 250);

  const kcat = (args: string[], input?: string, bootstrap = broker(0)) =>
    host.run('kcat', ['-F', join(alice.dir, 'librdkafka.properties'), '-X', `ssl.ca.location=${join(alice.dir, 'ca.crt')}`, '-b', `${bootstrap}:9092`, ...args], { timeoutMs: 60_000, ...(input !== undefined ? { input } : {}) });
  const kafkajs = async (req: Record<string, unknown>) => {
    const full = { brokers: [`${broker(0)}:9092`], ca: alice.data['ca.crt'], sasl: { mechanism: 'scram-sha-512', username: 'alice', password: alice.data.password }, ...req };
    const r = await host.run(process.execPath, ['--import', 'tsx', join(root, 'e2e', 'clients', 'kafkajs.ts'), JSON.stringify(full)], { timeoutMs: 120_000 });
    return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as { ok: boolean; values?: string[]; members?: { partitions: number[]; values: string[]; trace: string[] }[]; error?: string };
  };
  /** kcat -P of one value into one partition; the answer's code is 0 once it was delivered. */
  const produceTo = (topic: string, partition: number, value: string, timeoutMs = 20_000) => kcat(['-P', '-t', topic, '-p', String(partition), '-X', `message.timeout.ms=${timeoutMs}`], `${value}\n`);
  /** Every record of the topic as `partition:value`, read by kcat from the beginning of every partition. */
  const readAll = async (topic: string) => {
    const r = await kcat(['-C', '-t', topic, '-o', 'beginning', '-e', '-f', '%p:%s\\n', '-X', 'topic.metadata.refresh.interval.ms=1000']);
    return r.stdout.split('\n').filter(Boolean).sort();
  };

  before(async () => {
    const site = await startE2eSite({ purpose: 'e2e/cluster-topics', namespacePrefix: 'e2e-cluster', volumes: REPLICAS + 1, timings });
    ({ node, ns, host } = site);
    java = javaOn(site, 120_000);
    dir = tempDir();
  });

  after(async () => {
    console.log(`e2e cluster timings (s): ${JSON.stringify(timings)}`);
    if (process.env.BULWARK_E2E_KEEP === '1') return;
    await node?.stop();
  });

  it('a Topic of 6 partitions is spread over the 3 brokers, Ready on 3/3, and Metadata from any broker says so', async () => {
    const t0 = performance.now();
    await apply(
      bw('BrokerCluster', CLUSTER, {
        replicas: REPLICAS,
        storage: { size: '256Mi', storageClassName: E2E_STORAGE_CLASS },
        listeners: [{ name: 'kafka', protocol: 'kafka', port: 9092, tls: { enabled: true }, authentication: ['scram-sha-512'] }],
        resources: { requests: { cpu: '50m', memory: '128Mi' }, limits: { memory: '512Mi' } },
      }),
    );
    await apply(bw('User', 'alice', { clusterRef: { name: CLUSTER }, authentication: { type: 'scram-sha-512' } }));
    await apply(bw('TopicGrant', 'alice-all', { clusterRef: { name: CLUSTER }, subjects: [{ kind: 'User', name: 'alice' }], topics: [TOPIC, 'tools-*'], consumerGroups: ['*'], actions: ['all'], effect: 'Allow' }));
    await apply(bw('Topic', TOPIC, { clusterRef: { name: CLUSTER }, partitions: PARTITIONS }));

    const topic = await waitTopicReady(TOPIC, 420_000);
    timings.topicReady = (performance.now() - t0) / 1000;
    assert.match(condition(topic, 'Ready')!.message, new RegExp(`applied on ${REPLICAS}/${REPLICAS} brokers`));
    leaders = (topic.status.partitions as PartitionStatus[]).slice().sort((a, b) => a.partition - b.partition);
    assert.deepEqual(leaders.map((p) => p.partition), [0, 1, 2, 3, 4, 5]);
    const perBroker = [0, 1, 2].map((b) => leaders.filter((p) => p.leader === b).length);
    assert.deepEqual(perBroker, [2, 2, 2], `balanced: ${JSON.stringify(leaders)}`);
    assert.match(topic.status.topicId, /^[0-9a-f]{32}$/);

    alice = await userFiles(node, ns, dir, 'alice');
    await refreshHosts();
    // Metadata from each broker: the same three brokers, and each partition's leader as the status says.
    for (const b of [0, 1, 2]) {
      const md = JSON.parse((await kcat(['-L', '-J', '-t', TOPIC], undefined, broker(b))).stdout) as { brokers: { id: number; name: string }[]; topics: { topic: string; partitions: { partition: number; leader: number }[] }[] };
      assert.deepEqual(md.brokers.map((x) => x.id).sort(), [0, 1, 2], `brokers seen through broker ${b}`);
      for (const x of md.brokers) assert.equal(x.name, `${broker(x.id)}:9092`);
      const t = md.topics.find((x) => x.topic === TOPIC)!;
      assert.deepEqual(t.partitions.map((p) => [p.partition, p.leader]).sort((a, c) => a[0]! - c[0]!), leaders.map((p) => [p.partition, p.leader]), `leaders seen through broker ${b}`);
    }
  });

  it('kcat, kafkajs and the Java client produce to and consume from every partition through one bootstrap address', async () => {
    // kcat: one record into each partition, by number.
    for (let p = 0; p < PARTITIONS; p++) {
      const r = await produceTo(TOPIC, p, `kcat-${p}`);
      assert.equal(r.code, 0, `kcat into partition ${p}: ${r.stderr}`);
    }
    // kafkajs: twelve, two per partition.
    const produced = await kafkajs({ action: 'produce', topic: TOPIC, partitions: PARTITIONS, values: Array.from({ length: 12 }, (_, i) => `kafkajs-${i}`) });
    assert.equal(produced.ok, true, produced.error);
    // The Java client: six keyed records; its partitioner spreads them.
    await java('org.apache.kafka.tools.ConsoleProducer', ['--bootstrap-server', `${broker(0)}:9092`, '--topic', TOPIC, '--command-config', join(alice.dir, 'client.properties'), '--property', 'parse.key=true', '--property', 'key.separator=:'], Array.from({ length: 6 }, (_, i) => `key-${i}:java-${i}`).join('\n') + '\n');

    const all = await readAll(TOPIC);
    for (let p = 0; p < PARTITIONS; p++) assert.ok(all.includes(`${p}:kcat-${p}`), `kcat's record in partition ${p}: ${JSON.stringify(all)}`);
    for (let i = 0; i < 12; i++) assert.ok(all.includes(`${i % PARTITIONS}:kafkajs-${i}`), `kafkajs-${i} in partition ${i % PARTITIONS}`);
    assert.equal(all.filter((l) => /:java-\d$/.test(l)).length, 6, 'the six Java records');
    assert.equal(all.length, 24);

    // Consumers of every client read all of it, each through broker 0 alone.
    const consumed = await kafkajs({ action: 'consume', topic: TOPIC, group: 'kafkajs-reader', count: 24 });
    assert.equal(consumed.ok, true, consumed.error);
    assert.equal(new Set(consumed.values).size, 24);
    const javaRead = await java('org.apache.kafka.tools.consumer.ConsoleConsumer', ['--bootstrap-server', `${broker(0)}:9092`, '--topic', TOPIC, '--from-beginning', '--max-messages', '24', '--timeout-ms', '60000', '--group', 'java-reader', '--consumer.config', join(alice.dir, 'client.properties')]);
    // Only the records: the tool also prints a notice or two on stdout.
    assert.equal(javaRead.stdout.split('\n').filter((l) => /^(kcat|kafkajs|java)-\d+$/.test(l)).length, 24, javaRead.stdout.slice(-2000) + javaRead.stderr.slice(-2000));
  });

  it('a consumer group of 3 members splits the 6 partitions and reads every record once', async () => {
    const r = await kafkajs({ action: 'group', topic: TOPIC, group: 'trio-app', members: 3, count: 24 });
    assert.equal(r.ok, true, r.error);
    assert.equal(r.values!.length, 24, 'each record once');
    assert.equal(new Set(r.values).size, 24);
    const assigned = r.members!.flatMap((m) => m.partitions).sort((a, b) => a - b);
    assert.deepEqual(assigned, [0, 1, 2, 3, 4, 5], `every partition to one member: ${JSON.stringify(r.members, null, 1)}`);
    for (const m of r.members!) assert.equal(m.partitions.length, 2, 'two partitions each');
    // The group's coordinator is one broker, the same whichever broker is asked.
    const coordinators = new Set<string>();
    for (const b of [0, 1, 2]) {
      const out = await java('org.apache.kafka.tools.consumer.group.ConsumerGroupCommand', ['--bootstrap-server', `${broker(b)}:9092`, '--command-config', join(alice.dir, 'client.properties'), '--describe', '--group', 'trio-app', '--state']);
      const line = out.stdout.split('\n').find((l) => l.includes('trio-app'));
      assert.ok(line, out.stdout + out.stderr);
      coordinators.add(line.trim().split(/\s+/)[1]!);
    }
    assert.equal(coordinators.size, 1, `one coordinator: ${[...coordinators].join(', ')}`);
  });

  it('a Produce sent to a broker that does not lead the partition is refused with NOT_LEADER_OR_FOLLOWER', async () => {
    const p = leaders.find((x) => x.leader !== 0)!;
    const ips = await refreshHosts();
    const ca = alice.data['ca.crt']!;
    const c = await KafkaWireClient.connect(9092, { host: ips[broker(0)]!, servername: broker(0), tls: { ca } });
    try {
      assert.equal((await c.scram('SCRAM-SHA-512', 'alice', alice.data.password!)).errorCode, 0);
      const r = await c.produce(TOPIC, { partition: p.partition, value: 'wrong-broker' });
      assert.equal(r.errorCode, 6, `partition ${p.partition} led by broker ${p.leader}, sent to broker 0`);
    } finally {
      c.close();
    }
    assert.ok(!(await readAll(TOPIC)).some((l) => l.endsWith(':wrong-broker')));
  });

  it('kafka-topics.sh creates and deletes a topic; the Topic resource appears and goes', async () => {
    const topics = (args: string[]) => java('org.apache.kafka.tools.TopicCommand', ['--bootstrap-server', `${broker(1)}:9092`, '--command-config', join(alice.dir, 'client.properties'), ...args]);
    const created = await topics(['--create', '--topic', 'tools-made', '--partitions', '3', '--replication-factor', '1']);
    assert.match(created.stdout, /Created topic tools-made/, created.stderr.slice(-2000));
    const resource = await waitFor('the Topic resource of tools-made', async () => {
      const list = await kubectlJson<any>(node, ['-n', ns, 'get', 'topics.bulwark.dev']);
      return list?.items?.find((t: any) => (t.spec.topicName ?? t.metadata.name) === 'tools-made');
    }, 60_000);
    assert.equal(resource.spec.partitions, 3);
    assert.equal(resource.metadata.annotations?.['bulwark.dev/created-by'], 'kafka-api');
    const listed = await topics(['--list']);
    assert.match(listed.stdout, /^tools-made$/m);
    assert.equal((await produceTo('tools-made', 2, 'made')).code, 0);
    assert.deepEqual(await readAll('tools-made'), ['2:made']);

    const deleted = await topics(['--delete', '--topic', 'tools-made']);
    assert.equal(deleted.code, 0, deleted.stderr.slice(-2000));
    await waitFor('the Topic resource of tools-made to go', async () => {
      const list = await kubectlJson<any>(node, ['-n', ns, 'get', 'topics.bulwark.dev']);
      return !list?.items?.some((t: any) => (t.spec.topicName ?? t.metadata.name) === 'tools-made');
    }, 60_000);
    await waitFor('tools-made gone from the listing', async () => !/^tools-made$/m.test((await topics(['--list'])).stdout), 60_000, 1000);
  });

  it('a broker pod deleted: its partitions are unavailable until it returns, then every record is intact', async () => {
    const before = await readAll(TOPIC);
    const victim = 1;
    const itsPartitions = leaders.filter((p) => p.leader === victim).map((p) => p.partition);
    const others = leaders.filter((p) => p.leader !== victim).map((p) => p.partition);
    // The node cordoned first, so the StatefulSet's new pod cannot start until the test says so:
    // the broker stays down for as long as the checks below take.
    const nodeName = (await node.kubectl(['get', 'nodes', '-o', 'jsonpath={.items[0].metadata.name}'], { check: true })).stdout.trim();
    await node.kubectl(['cordon', nodeName], { check: true });
    try {
      await node.kubectl(['-n', ns, 'delete', 'pod', `${CLUSTER}-${victim}`, '--wait=true', '--timeout=120s'], { check: true });
      await waitFor(`pod ${victim} replaced by one that cannot be scheduled`, async () => (await get('pod', `${CLUSTER}-${victim}`))?.status?.phase === 'Pending', 60_000, 200);
      // While it is down its partitions take no write (kcat gives up after 3 s), and the others' do.
      const refused = await produceTo(TOPIC, itsPartitions[0]!, 'lost?', 3000);
      assert.notEqual(refused.code, 0, `partition ${itsPartitions[0]} of broker ${victim} took a write while its broker was down`);
      assert.match(refused.stderr, /Delivery failed|timed out/i);
      const during = await produceTo(TOPIC, others[0]!, 'during-outage');
      assert.equal(during.code, 0, during.stderr);
    } finally {
      await node.kubectl(['uncordon', nodeName], { check: true });
    }
    await waitFor(`broker ${victim} back`, async () => {
      const o = await get('pod', `${CLUSTER}-${victim}`);
      return o?.status?.containerStatuses?.[0]?.ready === true;
    }, 300_000, 500);
    await refreshHosts();
    const after = await readAll(TOPIC);
    for (const line of before) assert.ok(after.includes(line), `${line} intact`);
    assert.ok(after.includes(`${others[0]}:during-outage`));
    assert.ok(!after.some((l) => l.endsWith(':lost?')), 'the refused write is nowhere');
    const afterReturn = await produceTo(TOPIC, itsPartitions[0]!, 'after-return');
    assert.equal(afterReturn.code, 0, afterReturn.stderr);
    assert.ok((await readAll(TOPIC)).includes(`${itsPartitions[0]}:after-return`));
  });

  it('scaling down while a broker leads partitions is refused with a reason', async () => {
    await node.kubectl(['-n', ns, 'patch', RESOURCE.brokercluster!, CLUSTER, '--type', 'merge', '-p', JSON.stringify({ spec: { replicas: 2 } })], { check: true });
    const stalled = await waitFor('BrokerCluster Stalled ScaleDownBlocked', async () => {
      const o = await get('brokercluster', CLUSTER);
      const c = condition(o, 'Stalled');
      return c?.status === 'True' && c.reason === 'ScaleDownBlocked' ? c : undefined;
    }, 60_000);
    assert.match(stalled.message, new RegExp(`${CLUSTER}-2|broker 2`));
    const sts = await get('statefulset', CLUSTER);
    assert.equal(sts.spec.replicas, REPLICAS, 'the StatefulSet keeps its brokers');
    // What Argo CD and Flux make of it: a person has to act.
    const blocked = await get('brokercluster', CLUSTER);
    recordStatus(blocked, 'degraded-e2e-scale-down-blocked');
    assert.equal((await argocdHealth([blocked]))[0]!.status, 'Degraded');
    assert.equal((await kstatus([blocked]))[0]!.status, 'Failed');
    await node.kubectl(['-n', ns, 'patch', RESOURCE.brokercluster!, CLUSTER, '--type', 'merge', '-p', JSON.stringify({ spec: { replicas: REPLICAS } })], { check: true });
    await waitFor('BrokerCluster no longer Stalled', async () => condition(await get('brokercluster', CLUSTER), 'Stalled')?.status !== 'True', 60_000);
  });
});
