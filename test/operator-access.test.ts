// Users, Roles, AccessTokens and TopicGrants reconciled by the operator's own machinery against a
// real kube-apiserver and etcd (no kubelet, so no broker pod: the policy reaches brokers in
// e2e/operator-access.test.ts). What a platform team checks here: the Secrets the operator writes
// (a generated password, client configurations, the derived credentials; the token), the Stalled
// reasons of what cannot work, that derived credentials are computed once per password (not
// again after a restart), that a brought password rotates, that a token is marked Expired, and
// that the built-in roles need no Role while a Role cannot take their names.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { createLogger } from '../src/lib/index.ts';
import { KINDS, KubeClient, KubeObjectApi, loadKubeConfig, type KindRef, type KubeObject } from '../src/operator/controller/index.ts';
import { startOperator, type OperatorHandle } from '../src/operator/index.ts';
import { defaultReconcilers } from '../src/operator/reconcilers.ts';
import { readDerivedRecord } from '../src/operator/policy/index.ts';
import { TOKEN_FORMAT, tokenHash } from '../src/policy/index.ts';
import { startControlPlane, type ControlPlane } from './harness/controlplane.ts';
import { recordStatus } from './harness/record-status.ts';
import { until } from './harness/until.ts';

const root = join(import.meta.dirname, '..');
const log = createLogger({ level: 'silent' });
let cp: ControlPlane;
let api: KubeObjectApi;
let client: KubeClient;
let ns: string;
let operator: OperatorHandle | undefined;

type Obj = KubeObject & { status?: any; data?: Record<string, string>; spec?: any };
const get = (kind: KindRef, name: string) => api.get<Obj>(kind, { namespace: ns, name });
const text = (s: Obj | undefined, key: string) => (s?.data?.[key] === undefined ? undefined : Buffer.from(s.data[key]!, 'base64').toString('utf8'));
const condition = (o: Obj | undefined, type: string) => (o?.status?.conditions ?? []).find((c: any) => c.type === type);
const apply = (doc: unknown) => cp.kubectl(['apply', '-n', ns, '-f', '-'], { input: JSON.stringify(doc), check: true });
const bw = (kind: string, name: string, spec: unknown) => ({ apiVersion: 'bulwark.dev/v1alpha1', kind, metadata: { name, namespace: ns }, spec });

async function hashesComputed(op: OperatorHandle): Promise<number> {
  const m = await op.metrics.registry.getSingleMetric('bulwark_operator_credential_hashes_total')!.get();
  return m.values.reduce((sum, v) => sum + v.value, 0);
}

const start = () => startOperator({ kubeconfig: cp.kubeconfigPath, reconcilers: defaultReconcilers({ brokerImage: 'bulwark.local/bulwark:test' }), namespaces: [ns], leaderElection: false, metricsPort: 0, metricsHost: '127.0.0.1', log });

/** Every queue empty: the operator has nothing left to do for now. */
async function idle(op: OperatorHandle): Promise<void> {
  await until('the operator to be idle', async () => {
    for (const name of ['brokercluster', 'policy', 'user', 'accesstoken', 'topicgrant', 'role']) {
      const q = op.runner.queue(name)!;
      if (q.depth > 0 || q.inFlight > 0) return false;
    }
    return true;
  });
}

before(async () => {
  cp = await startControlPlane();
  await cp.kubectl(['apply', '-f', join(root, 'crds')], { check: true });
  await cp.kubectl(['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s'], { check: true });
  client = new KubeClient(loadKubeConfig({ kubeconfig: cp.kubeconfigPath }));
  api = new KubeObjectApi(client, Object.values(KINDS));
  ns = await cp.createNamespace('access');
  operator = await start();
  await operator.synced();
  await apply(
    bw('BrokerCluster', 'main', {
      replicas: 1,
      storage: { size: '1Gi' },
      listeners: [
        { name: 'kafka', protocol: 'kafka', port: 9092, tls: { enabled: true }, authentication: ['scram-sha-512', 'scram-sha-256', 'plain'] },
        { name: 'http', protocol: 'http', port: 8080, tls: { enabled: true }, authentication: ['bearer'] },
      ],
    }),
  );
  await apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'app-password', namespace: ns }, stringData: { password: 'Correct-Horse-Battery-1' } });
  await apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'weak-password', namespace: ns }, stringData: { password: 'qqq' } });
  await apply(bw('Role', 'orders-reader', { rules: [{ resources: [{ type: 'topic', pattern: 'orders-*' }], actions: ['read'] }] }));
  await apply(bw('User', 'alice', { clusterRef: { name: 'main' }, authentication: { type: 'scram-sha-512' }, roles: ['orders-reader'] }));
  await apply(bw('User', 'app', { clusterRef: { name: 'main' }, authentication: { type: 'scram-sha-256', passwordSecretRef: { name: 'app-password', key: 'password' } } }));
  await apply(bw('User', 'weak', { clusterRef: { name: 'main' }, authentication: { type: 'scram-sha-512', passwordSecretRef: { name: 'weak-password', key: 'password' } } }));
  await apply(bw('User', 'bob', { clusterRef: { name: 'main' }, authentication: { type: 'scram-sha-512' }, roles: ['missing-role'] }));
  await apply(bw('TopicGrant', 'orders', { clusterRef: { name: 'main' }, subjects: [{ kind: 'User', name: 'alice' }], topics: ['orders'], role: 'no-such-role', effect: 'Allow' }));
  await apply(bw('AccessToken', 'ci', { clusterRef: { name: 'main' }, userRef: { name: 'alice' }, lifetime: '720h' }));
}, { timeout: 300_000 });

after(async () => {
  await operator?.stop();
  client?.close();
  await cp?.stop();
});

describe('Users, Roles, AccessTokens and TopicGrants on a real API server', { timeout: 240_000 }, () => {
  test('a generated password: a Secret ready to use, with client configurations and derived credentials, no plaintext anywhere else', async () => {
    const secret = await until('alice-credentials', async () => {
      const s = await get(KINDS.secret, 'alice-credentials');
      return s?.data?.['bulwark.derived'] ? s : undefined;
    });
    const password = text(secret, 'password')!;
    assert.match(password, /^[A-Za-z0-9]{32}$/);
    assert.equal(text(secret, 'username'), 'alice');
    assert.equal(text(secret, 'sasl.mechanism'), 'SCRAM-SHA-512');
    assert.equal(text(secret, 'bootstrap.servers'), `main.${ns}.svc:9092`);
    assert.match(text(secret, 'ca.crt')!, /BEGIN CERTIFICATE/);
    assert.match(text(secret, 'client.properties')!, /sasl\.jaas\.config=org\.apache\.kafka\.common\.security\.scram\.ScramLoginModule required/);
    assert.match(text(secret, 'librdkafka.properties')!, /^sasl\.password=/m);
    assert.equal(secret.metadata.ownerReferences?.[0]?.kind, 'User');
    const record = readDerivedRecord(secret as never)!;
    assert.ok(record.credentials.scramSha512, 'SCRAM-SHA-512 keys are kept');
    // The derived record and the User's status carry no password.
    assert.ok(!JSON.stringify(record).includes(password));
    const user = await until('alice status', async () => {
      const u = await get(KINDS.user, 'alice');
      return u?.status?.secretName ? u : undefined;
    });
    assert.equal(user.status.username, 'alice');
    assert.equal(user.status.secretName, 'alice-credentials');
    assert.ok(!JSON.stringify(user.status).includes(password));
    // No broker pod runs in a bare control plane: the user waits for the one broker, truthfully.
    assert.equal(condition(user, 'Reconciling')?.status, 'True');
    assert.equal(condition(user, 'Ready')?.reason, 'Propagating');
    assert.equal(condition(user, 'Ready')?.message, 'applied on 0/1 brokers');
    recordStatus(user, 'progressing-propagating');
    const cluster = await get(KINDS.brokerCluster, 'main');
    assert.equal(cluster?.status?.policyInSync, '0/1');
  });

  test('a brought password is used as it is; a weak one makes the User Stalled, naming the Secret but not the password', async () => {
    const app = await until('app-credentials', async () => get(KINDS.secret, 'app-credentials'));
    assert.equal(text(app, 'password'), 'Correct-Horse-Battery-1');
    const weak = await until('weak Stalled', async () => {
      const u = await get(KINDS.user, 'weak');
      return condition(u, 'Stalled')?.status === 'True' ? u : undefined;
    });
    assert.equal(condition(weak, 'Stalled').reason, 'WeakPassword');
    recordStatus(weak, 'degraded-weak-password');
    assert.match(condition(weak, 'Stalled').message, /weak-password/);
    assert.ok(!condition(weak, 'Stalled').message.includes('qqq'));
    assert.equal(await get(KINDS.secret, 'weak-credentials'), undefined, 'nothing is written for a user that cannot log in');
  });

  test('a missing Role is a Stalled reason on the User and the TopicGrant that name it', async () => {
    const bob = await until('bob Stalled', async () => {
      const u = await get(KINDS.user, 'bob');
      return condition(u, 'Stalled')?.status === 'True' ? u : undefined;
    });
    assert.equal(condition(bob, 'Stalled').reason, 'RoleNotFound');
    assert.match(condition(bob, 'Stalled').message, /missing-role/);
    const grant = await until('grant Stalled', async () => {
      const g = await get(KINDS.topicGrant, 'orders');
      return condition(g, 'Stalled')?.status === 'True' ? g : undefined;
    });
    assert.equal(condition(grant, 'Stalled').reason, 'RoleNotFound');
    recordStatus(grant, 'degraded-role-not-found');
    // Fixing it (creating the Role) clears it.
    await apply(bw('Role', 'no-such-role', { rules: [{ resources: [{ type: 'topic', pattern: 'orders' }], actions: ['write'] }] }));
    await until('grant no longer Stalled', async () => condition(await get(KINDS.topicGrant, 'orders'), 'Stalled')?.status === 'False');
    const role = await get(KINDS.role, 'orders-reader');
    assert.equal(condition(role, 'Ready')?.reason, 'Propagating');
    recordStatus(role, 'progressing-propagating');
  });

  test('a built-in role needs no Role: a TopicGrant naming consumer is compiled, not Stalled; a Role cannot take the name', async () => {
    await apply(bw('TopicGrant', 'billing', { clusterRef: { name: 'main' }, subjects: [{ kind: 'User', name: 'alice' }], topics: ['orders'], consumerGroups: ['billing-*'], role: 'consumer', effect: 'Allow' }));
    await apply(bw('TopicGrant', 'typo', { clusterRef: { name: 'main' }, subjects: [{ kind: 'User', name: 'alice' }], topics: ['orders'], role: 'consumers', effect: 'Allow' }));
    // The same operator pass compiles both: the misspelt one is Stalled, the built-in one waits only for the broker.
    await until('typo Stalled', async () => condition(await get(KINDS.topicGrant, 'typo'), 'Stalled')?.reason === 'RoleNotFound');
    const grant = await until('billing compiled', async () => {
      const g = await get(KINDS.topicGrant, 'billing');
      return condition(g, 'Ready')?.message === 'applied on 0/1 brokers' ? g : undefined;
    });
    assert.equal(condition(grant, 'Stalled')?.status, 'False');
    assert.equal(condition(grant, 'Ready')?.reason, 'Propagating', 'in the snapshot, on its way to the one broker (none runs in a bare control plane)');
    recordStatus(grant, 'progressing-propagating');
    assert.equal(await get(KINDS.role, 'consumer'), undefined, 'no Role named consumer exists');

    const refused = await cp.kubectl(['apply', '-n', ns, '-f', '-'], { input: JSON.stringify(bw('Role', 'consumer', { rules: [{ resources: [{ type: 'topic', pattern: '*' }], actions: ['all'] }] })) });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /admin, reader, producer, consumer are built-in roles; a Role cannot take their names/);
    assert.equal(await get(KINDS.role, 'consumer'), undefined);
  });

  test('a change is compiled once: the statuses written after it and events that are not inputs reuse that compile', async () => {
    const op = operator!;
    const compiles = async () => (await op.metrics.registry.getSingleMetric('bulwark_operator_policy_compile_seconds')!.get()).values.find((v) => (v as { metricName?: string }).metricName?.endsWith('_count'))?.value ?? 0;
    await apply(bw('TopicGrant', 'once', { clusterRef: { name: 'main' }, subjects: [{ kind: 'User', name: 'alice' }], topics: ['once-*'], actions: ['read'], effect: 'Allow' }));
    await until('grant once has a status', async () => (await get(KINDS.topicGrant, 'once'))?.status?.observedGeneration === 1);
    await idle(op);
    const before = await compiles();
    await apply(bw('TopicGrant', 'once', { clusterRef: { name: 'main' }, subjects: [{ kind: 'User', name: 'alice' }], topics: ['once-*'], actions: ['describe'], effect: 'Allow' }));
    await until('grant once observed at generation 2', async () => (await get(KINDS.topicGrant, 'once'))?.status?.observedGeneration === 2);
    await idle(op);
    // Then something that is not an input wakes the policy reconciler (as a pod event or the
    // cluster's own status write does): the grant's status, written since, is not a change.
    await cp.kubectl(['-n', ns, 'annotate', '--overwrite', 'brokerclusters.bulwark.dev/main', `test.bulwark.dev/poke=${Date.now()}`], { check: true });
    await new Promise((r) => setTimeout(r, 500));
    await idle(op);
    assert.equal(await compiles(), before + 1, 'one compile for one change');
  });

  test('an AccessToken: generated once into its Secret, expiry in status', async () => {
    const secret = await until('ci-token', async () => get(KINDS.secret, 'ci-token'));
    const token = text(secret, 'token')!;
    assert.match(token, TOKEN_FORMAT);
    assert.ok(secret.metadata.annotations?.['bulwark.dev/issued-at']);
    const t = await until('ci status', async () => {
      const o = await get(KINDS.accessToken, 'ci');
      return o?.status?.expiresAt ? o : undefined;
    });
    const issued = Date.parse(secret.metadata.annotations!['bulwark.dev/issued-at']!);
    assert.ok(Math.abs(Date.parse(t.status.expiresAt) - (issued + 720 * 3_600_000)) < 1_000);
    assert.ok(!JSON.stringify(t.status).includes(token));
    assert.ok(!JSON.stringify(t.status).includes(tokenHash(token)));
    recordStatus(t, 'progressing-propagating');
  });

  test('a token whose expiry passes is marked Expired', async () => {
    await apply(bw('AccessToken', 'short', { clusterRef: { name: 'main' }, userRef: { name: 'alice' }, expiresAt: new Date(Date.now() + 3_000).toISOString().replace(/\.\d+Z$/, 'Z') }));
    const t = await until('short Expired', async () => {
      const o = await get(KINDS.accessToken, 'short');
      return condition(o, 'Stalled')?.reason === 'Expired' ? o : undefined;
    }, 20_000);
    assert.equal(condition(t, 'Ready')?.status, 'False');
    recordStatus(t, 'degraded-expired');
  });

  test('a Secret of the name a token wants that is not the operator\'s is never taken over', async () => {
    await apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'taken-token', namespace: ns }, stringData: { token: 'not-ours' } });
    await apply(bw('AccessToken', 'taken', { clusterRef: { name: 'main' }, userRef: { name: 'alice' } }));
    await until('taken Stalled', async () => condition(await get(KINDS.accessToken, 'taken'), 'Stalled')?.reason === 'SecretConflict');
    assert.equal(text(await get(KINDS.secret, 'taken-token'), 'token'), 'not-ours');
  });

  test('derived credentials are computed once per password: a restart computes none, a rotation computes one', async () => {
    await idle(operator!);
    assert.equal(await hashesComputed(operator!), 3, 'alice, app and bob: one derivation each');
    const before = (await api.list<Obj>(KINDS.secret, ns)).items.map((s) => `${s.metadata.name}@${s.metadata.resourceVersion}`).sort();
    await operator!.stop();
    operator = await start();
    await operator.synced();
    await new Promise((r) => setTimeout(r, 2_000));
    await idle(operator);
    assert.equal(await hashesComputed(operator), 0, 'a restarted operator computes no hash');
    const afterRestart = (await api.list<Obj>(KINDS.secret, ns)).items.map((s) => `${s.metadata.name}@${s.metadata.resourceVersion}`).sort();
    assert.deepEqual(afterRestart, before, 'and rewrites no Secret');

    const old = readDerivedRecord((await get(KINDS.secret, 'app-credentials')) as never)!;
    await apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'app-password', namespace: ns }, stringData: { password: 'Another-Strong-Password-2' } });
    const rotated = await until('app rotated', async () => {
      const s = await get(KINDS.secret, 'app-credentials');
      return text(s, 'password') === 'Another-Strong-Password-2' ? s : undefined;
    });
    const record = readDerivedRecord(rotated as never)!;
    assert.notEqual(record.fingerprint, old.fingerprint);
    assert.notDeepEqual(record.credentials.scramSha256, old.credentials.scramSha256);
    await idle(operator);
    assert.equal(await hashesComputed(operator), 1, 'the rotation derived once');
  });
});

describe('the cluster\'s password policy and authorization mode, as the operator carries them out', { timeout: 240_000 }, () => {
  // A cluster of its own, so that tightening its policy touches none of the Users above.
  const strict = (extra: Record<string, unknown>) =>
    bw('BrokerCluster', 'strict', {
      replicas: 1,
      storage: { size: '1Gi' },
      listeners: [{ name: 'kafka', protocol: 'kafka', port: 9092, tls: { enabled: true }, authentication: ['scram-sha-512'] }],
      ...extra,
    });
  const stalled = (name: string) =>
    until(`${name} Stalled`, async () => {
      const u = await get(KINDS.user, name);
      return condition(u, 'Stalled')?.status === 'True' ? u : undefined;
    });

  test('a brought password the policy forbids: Stalled WeakPassword naming the field and the rule, never the password; tightened, the password in force is withdrawn and generated ones are made anew', async () => {
    const SHORT = 'Correct-Horse-Battery-1'; // 23 characters: fine by default, not under minLength 24
    const LONG = 'Correct-Horse-Battery-Staple-2024'; // 33 characters
    await apply(strict({ authentication: { passwordPolicy: { minLength: 24 } } }));
    await apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'short-password', namespace: ns }, stringData: { password: SHORT } });
    await apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'long-password', namespace: ns }, stringData: { password: LONG } });
    await apply(bw('User', 'short', { clusterRef: { name: 'strict' }, authentication: { type: 'scram-sha-512', passwordSecretRef: { name: 'short-password', key: 'password' } } }));
    await apply(bw('User', 'long', { clusterRef: { name: 'strict' }, authentication: { type: 'scram-sha-512', passwordSecretRef: { name: 'long-password', key: 'password' } } }));
    await apply(bw('User', 'gen', { clusterRef: { name: 'strict' }, authentication: { type: 'scram-sha-512' } }));

    const short = await stalled('short');
    const message = condition(short, 'Stalled').message as string;
    assert.equal(condition(short, 'Stalled').reason, 'WeakPassword');
    assert.match(message, /^spec\.authentication\.passwordSecretRef: the password in Secret short-password \(key password\) fails the password policy's minLength rule: shorter than 24 characters/);
    assert.ok(!JSON.stringify(short.status).includes(SHORT), 'the password reached the status');
    assert.equal(await get(KINDS.secret, 'short-credentials'), undefined, 'nothing is written for a user that cannot log in');
    const long = await until('long derived', async () => {
      const s = await get(KINDS.secret, 'long-credentials');
      return s?.data?.['bulwark.derived'] ? s : undefined;
    });
    assert.equal(text(long, 'password'), LONG);
    const firstGen = text(await until('gen derived', async () => get(KINDS.secret, 'gen-credentials')), 'password')!;
    assert.equal(firstGen.length, 32);

    // Tightened: the Users of the cluster are checked again at once.
    await apply(strict({ authentication: { passwordPolicy: { minLength: 40 } } }));
    await until('long withdrawn', async () => {
      const s = await get(KINDS.secret, 'long-credentials');
      return s && !s.data?.['bulwark.derived'] ? s : undefined;
    });
    const longUser = await stalled('long');
    assert.equal(condition(longUser, 'Stalled').reason, 'WeakPassword');
    assert.match(condition(longUser, 'Stalled').message, /minLength rule: shorter than 40 characters/);
    const gen = await until('gen regenerated', async () => {
      const s = await get(KINDS.secret, 'gen-credentials');
      return text(s, 'password')?.length === 40 ? s : undefined;
    });
    assert.notEqual(text(gen, 'password'), firstGen);
    assert.ok(readDerivedRecord(gen as never)?.credentials.scramSha512);
  });

  test('authenticatedFullAccess: the BrokerCluster says so in a condition while it is on', async () => {
    await apply(strict({ authentication: { passwordPolicy: { minLength: 40 } }, authorization: { mode: 'authenticatedFullAccess' } }));
    const open = await until('AuthorizationOpen', async () => {
      const c = await get(KINDS.brokerCluster, 'strict');
      return condition(c, 'AuthorizationOpen')?.status === 'True' ? c : undefined;
    });
    const cond = condition(open, 'AuthorizationOpen');
    assert.equal(cond.reason, 'AuthenticatedFullAccess');
    assert.match(cond.message, /^spec\.authorization\.mode is authenticatedFullAccess: every authenticated user may do every action on every resource/);
    assert.equal(cond.observedGeneration, open.metadata.generation);
    // A Warning event when it is turned on.
    await until('the AuthorizationOpen event', async () => {
      const events = await api.list<Obj & { reason?: string; type?: string; involvedObject?: { name?: string } }>(KINDS.event, ns);
      return events.items.some((e) => e.reason === 'AuthorizationOpen' && e.type === 'Warning' && e.involvedObject?.name === 'strict');
    });

    await apply(strict({ authentication: { passwordPolicy: { minLength: 40 } } }));
    await until('AuthorizationOpen gone', async () => {
      const c = await get(KINDS.brokerCluster, 'strict');
      return c?.status?.observedGeneration === c?.metadata.generation && condition(c, 'AuthorizationOpen') === undefined;
    });
  });
});

describe('a Role that took a built-in role\'s name before the CRD refused such names (an upgrade)', { timeout: 240_000 }, () => {
  test('it still applies where it is named; the API server refuses every change to it, status included, but not its deletion', async () => {
    const crdFile = join(root, 'crds', 'bulwark.dev_roles.yaml');
    const older = parse(readFileSync(crdFile, 'utf8'));
    delete older.spec.versions[0].schema.openAPIV3Schema['x-kubernetes-validations'];
    const legacy = JSON.stringify(bw('Role', 'producer', { rules: [{ resources: [{ type: 'topic', pattern: 'legacy-*' }], actions: ['write'] }] }));
    const probe = JSON.stringify(bw('Role', 'admin', { rules: [{ resources: [{ type: 'topic', pattern: '*' }], actions: ['all'] }] }));
    const dryRun = (doc: string) => cp.kubectl(['apply', '--dry-run=server', '-n', ns, '-f', '-'], { input: doc });

    // Before the upgrade: the CRD without the rule, and a Role named producer made then.
    await operator!.stop();
    await cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify(older), check: true });
    await until('the older CRD in force', async () => (await dryRun(legacy)).code === 0);
    await apply(JSON.parse(legacy));
    await apply(bw('TopicGrant', 'legacy', { clusterRef: { name: 'main' }, subjects: [{ kind: 'User', name: 'alice' }], topics: ['legacy-orders'], role: 'producer', effect: 'Allow' }));
    // The upgrade: this CRD, then the operator.
    await cp.kubectl(['apply', '-f', crdFile], { check: true });
    await until('the rule in force', async () => (await dryRun(probe)).code !== 0);
    operator = await start();
    await operator.synced();

    // The grant naming it compiled (with the declared Role, the compiler's unit tests show which): not Stalled.
    const grant = await until('legacy compiled', async () => {
      const g = await get(KINDS.topicGrant, 'legacy');
      return condition(g, 'Ready')?.message === 'applied on 0/1 brokers' ? g : undefined;
    });
    assert.equal(condition(grant, 'Stalled')?.status, 'False');

    const changed = await cp.kubectl(['label', 'roles.bulwark.dev', 'producer', '-n', ns, 'edited=yes']);
    assert.notEqual(changed.code, 0);
    assert.match(changed.stderr, /are built-in roles/);
    // Its status too: the API server checks the rule on every write of the object, so the
    // operator cannot mark it Stalled (the compiler's error is in its log and policy check).
    const status = await cp.kubectl(['patch', 'roles.bulwark.dev', 'producer', '-n', ns, '--subresource=status', '--type=merge', '-p', '{"status":{"observedGeneration":1}}']);
    assert.notEqual(status.code, 0);
    assert.match(status.stderr, /are built-in roles/);
    await cp.kubectl(['delete', 'roles.bulwark.dev', 'producer', '-n', ns], { check: true });
  });
});
