// Users, Roles, AccessTokens and TopicGrants on a real node, as a platform team meets them: the
// operator runs as a pod (manifests/overlays/cluster-wide), the brokers are this checkout's image, and the
// clients are kcat, kafkajs and the Apache Kafka Java client on a client host, each configured
// from the Secret the operator wrote for its user (kcat -F librdkafka.properties, the Java client
// with client.properties, kafkajs with the username and password).
//
// Runbook order: declare users, a role and grants → every resource Ready "applied on 2/2
// brokers", and each client gets exactly the access its grants give, on every broker; a grant
// changed → enforced on every broker; a brought password rotated → the old one refused; an
// AccessToken deleted → its connections closed on every broker within a second; bad references
// → Stalled with reasons; the operator stopped → brokers keep enforcing, a restarted broker uses
// its persisted snapshot, a token still expires; the operator back → no hash computed again.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KafkaWireClient } from '../tools/kafka-wire/client.ts';
import { argocdHealth, kstatus } from '../test/harness/gitops-check.ts';
import { recordStatus } from '../test/harness/record-status.ts';
import { nodeUnavailableReason, type ClientHost, type TestNode } from '../test/harness/node.ts';
import { useTempDirs } from '../test/harness/temp.ts';
import { E2E_STORAGE_CLASS, kubectlJson, OPERATOR_NAMESPACE, resolveBrokers, waitFor } from '../tools/node/bulwark-install.ts';
import { javaOn, secretData as secretDataOf, startE2eSite, userFiles as userFilesOf } from './support.ts';

const skip = nodeUnavailableReason();
const CLUSTER = 'acl';
const REPLICAS = 2;
const root = join(import.meta.dirname, '..');

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}

describe('Users, Roles, AccessTokens and TopicGrants on a real node', { skip: skip ?? false, timeout: 1_800_000 }, () => {
  let node: TestNode;
  let host: ClientHost;
  let ns = '';
  let dir = '';
  let java: ReturnType<typeof javaOn>;
  // The users' Secrets are written there as files: removed after the suite (passwords and keys do not stay in /tmp).
  const tempDir = useTempDirs('e2e-access');
  const timings: Record<string, number> = {};

  const apply = (doc: unknown) => node.kubectl(['apply', '--server-side', '-f', '-'], { input: JSON.stringify(doc), check: true });
  const bw = (kind: string, name: string, spec: unknown) => ({ apiVersion: 'bulwark.dev/v1alpha1', kind, metadata: { name, namespace: ns }, spec });
  // Fully qualified: `role` alone is rbac.authorization.k8s.io's.
  const RESOURCE: Record<string, string> = { user: 'users.bulwark.dev', role: 'roles.bulwark.dev', topicgrant: 'topicgrants.bulwark.dev', accesstoken: 'accesstokens.bulwark.dev', brokercluster: 'brokerclusters.bulwark.dev' };
  const get = (kind: string, name: string) => kubectlJson<any>(node, ['-n', ns, 'get', RESOURCE[kind] ?? kind, name]);
  const condition = (o: any, type: string): Condition | undefined => o?.status?.conditions?.find((c: Condition) => c.type === type);
  const secretData = (name: string) => secretDataOf(node, ns, name);
  /** The brokers' names (one per pod), resolvable on the client host. */
  const brokers = async (): Promise<string[]> => {
    const names = await resolveBrokers(node, host, ns, CLUSTER);
    return Object.keys(names)
      .filter((n) => n.startsWith(`${CLUSTER}-`) && n.endsWith('.svc'))
      .sort();
  };
  const brokerIps = async (): Promise<Record<string, string>> => {
    const names = await resolveBrokers(node, host, ns, CLUSTER);
    return Object.fromEntries(Object.entries(names).filter(([n]) => n.startsWith(`${CLUSTER}-`) && n.endsWith('.svc')));
  };
  const waitApplied = (kind: string, name: string, timeoutMs = 120_000) =>
    waitFor(`${kind} ${name} Ready on every broker`, async () => {
      const o = await get(kind, name);
      const ready = condition(o, 'Ready');
      return ready?.status === 'True' && o.status.observedGeneration === o.metadata.generation ? o : undefined;
    }, timeoutMs, 250);
  const waitStalled = (kind: string, name: string, reason: string) =>
    waitFor(`${kind} ${name} Stalled ${reason}`, async () => {
      const o = await get(kind, name);
      return condition(o, 'Stalled')?.status === 'True' && condition(o, 'Stalled')!.reason === reason ? o : undefined;
    }, 60_000, 250);

  /** Writes a user's Secret as files (as a mounted Secret would be) and returns the directory. */
  const userFiles = (user: string) => userFilesOf(node, ns, dir, user);
  /** kcat as the user, from its librdkafka.properties (paths pointed at where the files are), to one broker. */
  const kcatAs = (files: { dir: string }, broker: string, args: string[], input?: string) =>
    host.run('kcat', ['-F', join(files.dir, 'librdkafka.properties'), '-X', `ssl.ca.location=${join(files.dir, 'ca.crt')}`, '-b', `${broker}:9092`, ...args], { timeoutMs: 30_000, ...(input !== undefined ? { input } : {}) });
  // A refused produce fails at once (TOPIC_AUTHORIZATION_FAILED); a topic that does not exist would hold the message for message.timeout.ms.
  const produce = (files: { dir: string }, broker: string, topic: string, value: string) => kcatAs(files, broker, ['-P', '-t', topic, '-c', '1', '-m', '10', '-X', 'message.timeout.ms=10000'], `${value}\n`);
  const kafkajs = async (req: Record<string, unknown>) => {
    const r = await host.run(process.execPath, ['--import', 'tsx', join(root, 'e2e', 'clients', 'kafkajs.ts'), JSON.stringify(req)], { timeoutMs: 60_000 });
    return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as { ok: boolean; values?: string[]; error?: string };
  };
  const caPem = async () => (await secretData(`${CLUSTER}-tls`))['ca.crt']!;
  const openTokenConnections = async (token: string) => {
    const ca = await caPem();
    const out: KafkaWireClient[] = [];
    for (const [name, ip] of Object.entries(await brokerIps())) {
      const c = await KafkaWireClient.connect(9092, { host: ip, servername: name, tls: { ca } });
      const r = await c.login('PLAIN', 'token', token);
      assert.equal(r.errorCode, 0, `the token logs in on ${name}`);
      out.push(c);
    }
    return out;
  };

  before(async () => {
    const site = await startE2eSite({ purpose: 'e2e/operator-access', namespacePrefix: 'e2e-access', volumes: REPLICAS + 1, timings });
    ({ node, ns, host } = site);
    java = javaOn(site);
    dir = tempDir();
  });

  after(async () => {
    console.log(`e2e access timings (s): ${JSON.stringify(timings)}`);
    if (process.env.BULWARK_E2E_KEEP === '1') return;
    await node?.stop();
  });

  it('declared users, a role and grants: every resource Ready on 2/2 brokers, and each real client gets exactly its grants on every broker', async () => {
    const t0 = performance.now();
    await apply(
      bw('BrokerCluster', CLUSTER, {
        replicas: REPLICAS,
        storage: { size: '256Mi', storageClassName: E2E_STORAGE_CLASS },
        listeners: [{ name: 'kafka', protocol: 'kafka', port: 9092, tls: { enabled: true, clientAuth: 'optional' }, authentication: ['scram-sha-512', 'scram-sha-256', 'plain', 'mtls'] }],
        topics: { autoCreate: true },
        resources: { requests: { cpu: '50m', memory: '128Mi' }, limits: { memory: '512Mi' } },
      }),
    );
    await apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'bob-password', namespace: ns }, stringData: { password: 'Bob-First-Password-1' } });
    await apply(bw('Role', 'orders-reader', { rules: [{ resources: [{ type: 'topic', pattern: 'orders' }], actions: ['read', 'describe'] }, { resources: [{ type: 'group', pattern: 'orders-app' }], actions: ['read'] }] }));
    await apply(bw('User', 'alice', { clusterRef: { name: CLUSTER }, authentication: { type: 'scram-sha-512' } }));
    await apply(bw('User', 'bob', { clusterRef: { name: CLUSTER }, authentication: { type: 'scram-sha-256', passwordSecretRef: { name: 'bob-password', key: 'password' } }, roles: ['orders-reader'] }));
    await apply(bw('User', 'carol', { clusterRef: { name: CLUSTER }, authentication: { type: 'tls' } }));
    await apply(bw('TopicGrant', 'alice-orders', { clusterRef: { name: CLUSTER }, subjects: [{ kind: 'User', name: 'alice' }], topics: ['orders'], actions: ['write', 'create', 'describe'], effect: 'Allow' }));
    await apply(bw('TopicGrant', 'carol-audit', { clusterRef: { name: CLUSTER }, subjects: [{ kind: 'User', name: 'carol' }], topics: ['audit-*'], actions: ['write', 'create', 'describe'], effect: 'Allow' }));
    await apply(bw('TopicGrant', 'no-payments', { clusterRef: { name: CLUSTER }, subjects: [{ kind: 'Group', name: 'system:authenticated' }], topics: ['payments'], actions: ['all'], effect: 'Deny' }));

    for (const [kind, name] of [['user', 'alice'], ['user', 'bob'], ['user', 'carol'], ['role', 'orders-reader'], ['topicgrant', 'alice-orders'], ['topicgrant', 'carol-audit'], ['topicgrant', 'no-payments']] as const) {
      const o = await waitApplied(kind, name, 300_000);
      assert.match(condition(o, 'Ready')!.message, new RegExp(`^applied on ${REPLICAS}/${REPLICAS} brokers`), `${kind} ${name}`);
      assert.match(o.status.policyHash, /^sha256:/);
    }
    timings.accessReady = (performance.now() - t0) / 1000;
    const cluster = await get('brokercluster', CLUSTER);
    assert.equal(cluster.status.policyInSync, `${REPLICAS}/${REPLICAS}`);
    assert.match(cluster.status.policyHash, /^sha256:/);

    // kcat as alice (SCRAM-SHA-512, generated password, her Secret's librdkafka.properties), on every broker.
    const alice = await userFiles('alice');
    assert.match(alice.data.password!, /^[A-Za-z0-9]{32}$/);
    const names = await brokers();
    assert.equal(names.length, REPLICAS);
    for (const b of names) {
      const ok = await produce(alice, b, 'orders', `from-alice-${b}`);
      assert.equal(ok.code, 0, `alice produces to orders on ${b}: ${ok.stderr}`);
      const denied = await produce(alice, b, 'payments', 'nope');
      assert.notEqual(denied.code, 0, `alice is refused payments on ${b}`);
      assert.match(denied.stderr, /authoriz/i);
    }

    // kafkajs as bob (SCRAM-SHA-256, brought password, Role via spec.roles): reads orders with his group; may not write.
    const bob = await secretData('bob-credentials');
    const ca = await caPem();
    for (const b of names) {
      const got = await kafkajs({ brokers: [`${b}:9092`], ca, sasl: { mechanism: 'scram-sha-256', username: bob.username, password: bob.password }, action: 'consume', topic: 'orders', group: 'orders-app', count: 1 });
      assert.ok(got.ok, `bob consumes orders on ${b}: ${got.error}`);
      assert.deepEqual(got.values, [`from-alice-${b}`]);
      const write = await kafkajs({ brokers: [`${b}:9092`], ca, sasl: { mechanism: 'scram-sha-256', username: bob.username, password: bob.password }, action: 'produce', topic: 'orders', values: ['bob'] });
      assert.equal(write.ok, false, `bob may not write orders on ${b}`);
      assert.match(write.error!, /authoriz/i);
    }

    // The Java client as carol (a client certificate the operator signed with the cluster's CA; client.properties as written).
    const carol = await userFiles('carol');
    assert.match(carol.data['tls.crt']!, /BEGIN CERTIFICATE/);
    for (const b of names) {
      const ok = await java('org.apache.kafka.tools.ConsoleProducer', ['--bootstrap-server', `${b}:9092`, '--topic', 'audit-log', '--command-config', join(carol.dir, 'client.properties')], 'carol-1\n');
      assert.equal(ok.code, 0, `carol produces to audit-log on ${b}: ${ok.stderr.slice(-2000)}`);
      const denied = await java('org.apache.kafka.tools.ConsoleProducer', ['--bootstrap-server', `${b}:9092`, '--topic', 'orders', '--command-config', join(carol.dir, 'client.properties'), '--producer-property', 'max.block.ms=10000', '--producer-property', 'delivery.timeout.ms=12000', '--producer-property', 'request.timeout.ms=10000'], 'carol-2\n');
      assert.match(`${denied.stdout}\n${denied.stderr}`, /TopicAuthorizationException|Not authorized/i, `carol is refused orders on ${b}`);
    }
  });

  it('a grant changed is enforced on every broker, and its status follows', async () => {
    const alice = await userFiles('alice');
    const t0 = performance.now();
    await apply(bw('TopicGrant', 'alice-orders', { clusterRef: { name: CLUSTER }, subjects: [{ kind: 'User', name: 'alice' }], topics: ['orders'], actions: ['describe'], effect: 'Allow' }));
    for (const b of await brokers()) {
      await waitFor(`alice refused orders on ${b}`, async () => ((await produce(alice, b, 'orders', 'after-change')).code !== 0 ? true : undefined), 30_000, 100);
    }
    timings.grantEnforced = (performance.now() - t0) / 1000;
    const g = await waitApplied('topicgrant', 'alice-orders');
    assert.equal(g.status.observedGeneration, g.metadata.generation);
    assert.equal(g.status.policyHash, (await get('brokercluster', CLUSTER)).status.policyHash, 'the grant names the snapshot in force');
  });

  it('a brought password rotated: the old one is refused and the new one works, on every broker', async () => {
    const ca = await caPem();
    await apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'bob-password', namespace: ns }, stringData: { password: 'Bob-Second-Password-2' } });
    await waitFor('bob-credentials rotated', async () => ((await secretData('bob-credentials')).password === 'Bob-Second-Password-2' ? true : undefined), 60_000);
    await waitApplied('user', 'bob');
    for (const [name, ip] of Object.entries(await brokerIps())) {
      const login = async (password: string) => {
        const c = await KafkaWireClient.connect(9092, { host: ip, servername: name, tls: { ca } });
        try {
          return (await c.login('SCRAM-SHA-256', 'bob', password)).errorCode;
        } finally {
          c.close();
        }
      };
      await waitFor(`the old password refused on ${name}`, async () => ((await login('Bob-First-Password-1')) !== 0 ? true : undefined), 20_000, 200);
      assert.equal(await login('Bob-Second-Password-2'), 0, `the new password logs in on ${name}`);
    }
  });

  it('an AccessToken deleted: its open connections are closed on every broker within a second', async () => {
    await apply(bw('AccessToken', 'ci', { clusterRef: { name: CLUSTER }, userRef: { name: 'alice' }, lifetime: '24h', description: 'CI pipeline' }));
    const t = await waitApplied('accesstoken', 'ci');
    assert.ok(Date.parse(t.status.expiresAt) > Date.now() + 23 * 3_600_000);
    const token = (await secretData('ci-token')).token!;
    assert.match(token, /^bwk_/);
    const conns = await openTokenConnections(token);
    // Timed from before kubectl starts: the brokers can close the connections before kubectl's own process has exited.
    const t0 = Date.now();
    const deleted = await node.kubectl(['-n', ns, 'delete', 'accesstokens.bulwark.dev', 'ci', '--wait=false'], { check: true });
    assert.match(deleted.stdout, /deleted/);
    const closed = await Promise.all(conns.map((c) => Promise.race([c.closedAt, new Promise<number>((r) => setTimeout(() => r(Number.NaN), 10_000))])));
    const ms = closed.map((at) => at - t0);
    timings.tokenRevokedMaxMs = Math.max(...ms);
    for (const m of ms) assert.ok(m >= 0 && m <= 1_000, `connection closed ${m} ms after the delete (${JSON.stringify(ms)})`);
  });

  it('bad references: Stalled with the reason, naming what is missing', async () => {
    await apply(bw('User', 'eve', { clusterRef: { name: CLUSTER }, authentication: { type: 'scram-sha-512' }, roles: ['no-such-role'] }));
    await apply(bw('TopicGrant', 'by-missing-role', { clusterRef: { name: CLUSTER }, subjects: [{ kind: 'User', name: 'eve' }], topics: ['orders'], role: 'no-such-role', effect: 'Allow' }));
    await apply(bw('AccessToken', 'orphan', { clusterRef: { name: CLUSTER }, userRef: { name: 'nobody' } }));
    await apply(bw('User', 'lost', { clusterRef: { name: 'no-such-cluster' }, authentication: { type: 'scram-sha-512' } }));
    const stalled = [
      await waitStalled('user', 'eve', 'RoleNotFound'),
      await waitStalled('topicgrant', 'by-missing-role', 'RoleNotFound'),
      await waitStalled('accesstoken', 'orphan', 'UserNotFound'),
      await waitStalled('user', 'lost', 'ClusterNotFound'),
    ];
    stalled.forEach((o, i) => assert.match(condition(o, 'Stalled')!.message, [/no-such-role/, /no-such-role/, /nobody/, /no-such-cluster/][i]!));
    // What Argo CD and Flux make of them: a person has to act.
    assert.deepEqual((await argocdHealth(stalled)).map((r) => r.status), ['Degraded', 'Degraded', 'Degraded', 'Degraded']);
    assert.deepEqual((await kstatus(stalled)).map((r) => r.status), ['Failed', 'Failed', 'Failed', 'Failed']);
    for (const o of stalled) recordStatus(o, `degraded-e2e-${condition(o, 'Stalled')!.reason.replace(/([a-z])([A-Z])/g, '$1-$2').toLowerCase()}`);
  });

  it('the operator stopped: brokers keep enforcing, a restarted broker uses its persisted snapshot, a token still expires', async () => {
    const alice = await userFiles('alice');
    assert.ok((await operatorMetrics()) !== undefined, 'the leader\'s metrics are readable');
    // A token that expires while the operator is away.
    await apply(bw('AccessToken', 'short', { clusterRef: { name: CLUSTER }, userRef: { name: 'alice' }, expiresAt: new Date(Date.now() + 45_000).toISOString().replace(/\.\d+Z$/, 'Z') }));
    await waitApplied('accesstoken', 'short');
    const shortConns = await openTokenConnections((await secretData('short-token')).token!);
    const versions = async () => (await kubectlJson<{ items: any[] }>(node, ['-n', ns, 'get', 'secrets,users.bulwark.dev']))!.items.map((o) => `${o.kind}/${o.metadata.name}@${o.metadata.resourceVersion}`).sort();
    const before = await versions();

    await node.kubectl(['-n', OPERATOR_NAMESPACE, 'scale', 'deployment', 'bulwark-operator', '--replicas=0'], { check: true });
    await waitFor('the operator pods gone', async () => ((await kubectlJson<{ items: any[] }>(node, ['-n', OPERATOR_NAMESPACE, 'get', 'pods', '-l', 'app.kubernetes.io/component=operator']))?.items.length === 0 ? true : undefined), 120_000);
    for (const b of await brokers()) {
      assert.notEqual((await produce(alice, b, 'orders', 'still-refused')).code, 0, `the changed grant still holds on ${b}`);
      assert.notEqual((await produce(alice, b, 'payments', 'still-denied')).code, 0);
    }
    // A broker restarted with no operator: Ready again from its persisted snapshot, enforcing it.
    await node.kubectl(['-n', ns, 'delete', 'pod', `${CLUSTER}-1`], { check: true });
    await waitFor(`${CLUSTER}-1 Ready again`, async () => {
      const p = await kubectlJson<any>(node, ['-n', ns, 'get', 'pod', `${CLUSTER}-1`]);
      return p && !p.metadata.deletionTimestamp && p.status?.conditions?.some((c: Condition) => c.type === 'Ready' && c.status === 'True') ? true : undefined;
    }, 180_000, 500);
    const restarted = (await brokers()).find((b) => b.startsWith(`${CLUSTER}-1.`))!;
    assert.notEqual((await produce(alice, restarted, 'payments', 'denied-after-restart')).code, 0);
    const bob = await secretData('bob-credentials');
    const ca = await caPem();
    const got = await kafkajs({ brokers: [`${restarted}:9092`], ca, sasl: { mechanism: 'scram-sha-256', username: 'bob', password: bob.password }, action: 'produce', topic: 'orders', values: ['x'] });
    assert.match(got.error ?? '', /authoriz/i, 'bob still may not write, on the restarted broker');
    // The token expires on the brokers' own clock: its connections are closed.
    const closed = await Promise.all(shortConns.map((c) => Promise.race([c.closedAt.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 90_000))])));
    assert.deepEqual(closed, shortConns.map(() => true), 'the expired token\'s connections are closed with no operator running');

    // The operator back: nothing recomputed, nothing rewritten.
    await node.kubectl(['-n', OPERATOR_NAMESPACE, 'scale', 'deployment', 'bulwark-operator', '--replicas=2'], { check: true });
    await waitFor('short marked Expired', async () => (condition(await get('accesstoken', 'short'), 'Stalled')?.reason === 'Expired' ? true : undefined), 120_000);
    // A new leader that has reconciled every User (alice, bob, carol, eve, lost) at least once.
    const m = await waitFor('a new leader that reconciled every User', async () => {
      const got = await operatorMetrics();
      return got && got.userReconciles >= 5 ? got : undefined;
    }, 120_000, 1_000);
    await waitApplied('user', 'alice');
    assert.equal(m.hashes, 0, 'the new operator computed no hash');
    const afterBack = await versions();
    const changed = afterBack.filter((v) => !before.includes(v) && !v.startsWith('Secret/short-token'));
    assert.deepEqual(changed.filter((v) => v.startsWith('Secret/')), [], 'no Secret rewritten');
  });

  /** From the leader's /metrics (pod IP, port 8080): hashes computed, and User reconciles run. */
  async function operatorMetrics(): Promise<{ hashes: number; userReconciles: number } | undefined> {
    const lease = await kubectlJson<any>(node, ['-n', OPERATOR_NAMESPACE, 'get', 'lease', 'bulwark-operator']);
    const holder = String(lease?.spec?.holderIdentity ?? '').split('_')[0];
    const pod = holder ? await kubectlJson<any>(node, ['-n', OPERATOR_NAMESPACE, 'get', 'pod', holder]) : undefined;
    if (!pod?.status?.podIP) return undefined;
    let text: string;
    try {
      text = await (await fetch(`http://${pod.status.podIP}:8080/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
    } catch {
      return undefined;
    }
    const sum = (prefix: string) =>
      text
        .split('\n')
        .filter((l) => l.startsWith(prefix))
        .reduce((total, l) => total + Number(l.split(' ').at(-1)), 0);
    return { hashes: sum('bulwark_operator_credential_hashes_total'), userReconciles: sum('bulwark_operator_reconcile_total{reconciler="user"') };
  }
});
