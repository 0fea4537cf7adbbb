// Where a broker's policy comes from (issue 6), end to end with real files, real TLS and real
// Kafka logins:
// - `policy.dir`: CR YAML compiled and reloaded when a file changes; a file with an error leaves
//   the policy in force and is logged with its file and field; fixing it applies.
// - the internal listener: PUT /v1/policy of a snapshot compiled by src/policy, over mTLS with
//   the operator's certificate; GET reports what is applied; versions only move forward; a
//   tampered snapshot, another certificate, or none at all, get nothing applied.
// - fail-static: restarted with no policy source, the broker enforces the last pushed policy; a
//   damaged persisted snapshot stops it from starting.
// - open sessions see a pushed policy at once, and a deleted user's connection is closed.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startBroker as startBrokerProcess, type Broker } from '../src/broker/index.ts';
import { assignPartitions, pushClusterState, type ClusterState } from '../src/cluster/index.ts';
import { loadBrokerConfig } from '../src/config/index.ts';
import { KafkaErrorCode as E } from '../src/kafka/error-codes.ts';
import { ApiKey } from '../src/kafka/index.ts';
import { isBulwarkError } from '../src/lib/errors.ts';
import { captureLogs, type LogCapture } from '../src/lib/index.ts';
import type { PemPair } from '../src/pki/index.ts';
import { buildRecordBatch } from '../src/log/record-batch.ts';
import { encodeSnapshot, loadPolicyDirectory, type PolicySnapshot } from '../src/policy/index.ts';
import { sealSnapshot } from '../src/policy/snapshot.ts';
import { canLogIn, connectAndLogin, KafkaWireClient } from '../tools/kafka-wire/client.ts';
import { createTestPki, sharedTestPki, type TestPki } from './harness/pki.ts';
import { useTempDirs } from './harness/temp.ts';

const OPERATOR_CN = 'bulwark-operator';

// --- Policies as a user writes them -----------------------------------------------------------

interface PolicyUser {
  password: string;
  /** Topic patterns the user may write (and so describe). */
  write?: string[];
  /** Topic patterns denied to the user, whatever else allows them. */
  deny?: string[];
}

/** CR YAML for a cluster (left out for a second file) and its users: each a SCRAM-SHA-256 User, its password Secret, and its grants. */
function policyYaml(users: Record<string, PolicyUser>, withCluster = true): string {
  const docs: string[] = [];
  if (withCluster) docs.push(`apiVersion: bulwark.dev/v1alpha1
kind: BrokerCluster
metadata: { name: sources, namespace: default }
spec:
  replicas: 1
  storage: { size: 1Gi }
  listeners: [{ name: kafka, protocol: kafka, port: 9092, authentication: [scram-sha-256] }]`);
  for (const [name, u] of Object.entries(users)) {
    docs.push(`apiVersion: bulwark.dev/v1alpha1
kind: User
metadata: { name: ${name}, namespace: default }
spec:
  clusterRef: { name: sources }
  authentication: { type: scram-sha-256, passwordSecretRef: { name: ${name}-password, key: password } }`);
    docs.push(`apiVersion: v1
kind: Secret
metadata: { name: ${name}-password, namespace: default }
stringData: { password: ${JSON.stringify(u.password)} }`);
    for (const [effect, topics] of [
      ['Allow', u.write],
      ['Deny', u.deny],
    ] as const) {
      if (!topics?.length) continue;
      docs.push(`apiVersion: bulwark.dev/v1alpha1
kind: TopicGrant
metadata: { name: ${name}-${effect.toLowerCase()}, namespace: default }
spec:
  clusterRef: { name: sources }
  subjects: [{ kind: User, name: ${name} }]
  topics: ${JSON.stringify(topics)}
  actions: [${effect === 'Allow' ? 'write' : 'all'}]
  effect: ${effect}`);
    }
  }
  return docs.join('\n---\n') + '\n';
}

const tempDir = useTempDirs('sources');

/** What the operator does: compile the CRs with src/policy, then seal the snapshot with its version. */
async function compiled(users: Record<string, PolicyUser>, version: number): Promise<PolicySnapshot> {
  const dir = tempDir('push-src');
  writeFileSync(join(dir, 'policy.yaml'), policyYaml(users));
  const loaded = await loadPolicyDirectory(dir, { saltKey: randomBytes(32) });
  assert.deepEqual(loaded.problems.filter((p) => p.severity === 'error'), []);
  return sealSnapshot(loaded.snapshot, version);
}

const PASSWORDS = {
  ann: 'Sources-Ann-Passw0rd!',
  ben: 'Sources-Ben-Passw0rd!',
  carl: 'Sources-Carl-Passw0rd!',
  ola: 'Sources-Ola-Passw0rd!',
  pia: 'Sources-Pia-Passw0rd!',
  old: 'Sources-Old-Passw0rd!',
};
type Name = keyof typeof PASSWORDS;

// --- Brokers, certificates and the internal listener's client ----------------------------------

let pki: TestPki & { operator: PemPair; stranger: PemPair; rogueOperator: PemPair };

interface StartOptions {
  dataDir: string;
  policyDir?: string;
  internal?: boolean;
}
interface Started {
  broker: Broker;
  logs: LogCapture;
}

async function startBroker(opts: StartOptions): Promise<Started> {
  const logs = captureLogs();
  const config = loadBrokerConfig({
    overrides: {
      dataDir: opts.dataDir,
      kafka: { port: 0, authentication: ['scram-sha-256'] },
      http: { enabled: false },
      internal: {
        enabled: opts.internal ?? false,
        port: 0,
        tls: { ...pki.serverTls, caFile: pki.caFile, clientAuth: 'required' },
        clients: [OPERATOR_CN],
      },
      policy: opts.policyDir ? { dir: opts.policyDir } : {},
      auth: { rootUser: false },
    },
  });
  const broker = await startBrokerProcess(config, { logger: logs.logger, env: {} });
  return { broker, logs };
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

/** One HTTPS request to the internal listener, with a client certificate (or none). */
function internalCall(broker: Broker, method: 'GET' | 'PUT', body?: string, cert: PemPair | null = pki.operator): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port: broker.internalPort,
        method,
        path: '/v1/policy',
        ca: pki.ca.certPem,
        ...(cert ? { cert: cert.certPem, key: cert.keyPem } : {}),
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        agent: false,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) as Record<string, unknown> }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
const push = (broker: Broker, snapshot: PolicySnapshot, cert?: PemPair | null) => internalCall(broker, 'PUT', encodeSnapshot(snapshot), cert);
const applied = (broker: Broker, cert?: PemPair | null) => internalCall(broker, 'GET', undefined, cert);

const login = (broker: Broker, name: Name) => canLogIn(broker.kafkaPort!, 'SCRAM-SHA-256', name, PASSWORDS[name]);
const produceCode = async (c: KafkaWireClient, topic: string) => {
  const r = await c.request(ApiKey.Produce, 8, { acks: -1, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: 0, records: buildRecordBatch([{ key: null, value: Buffer.from('x') }]) }] }] });
  return r.responses[0]!.partitionResponses[0]!.errorCode;
};
/** Operator mode: topics come in a ClusterState the operator pushes, as the policy does (one partition each, led by this broker). */
async function ensureTopics(broker: Broker, ...names: string[]): Promise<void> {
  if (names.every((name) => broker.topics.topic(name))) return;
  const self = { id: broker.config.brokerId, host: '127.0.0.1', port: broker.kafkaPort!, rack: null };
  const state: ClusterState = {
    clusterId: broker.config.clusterId,
    version: broker.topics.applied.version + 1,
    controllerId: self.id,
    brokers: [self],
    topics: names.map((name) => ({ name, id: createHash('md5').update(name).digest('hex'), partitions: assignPartitions([self], name, 1, 1), config: {} })),
  };
  const r = await pushClusterState({ host: '127.0.0.1', port: broker.internalPort! }, { ca: pki.ca.certPem, cert: pki.operator.certPem, key: pki.operator.keyPem }, state);
  assert.equal(r.outcome, 'applied', JSON.stringify(r));
}

/** Polls `check` until it holds; the time it took, or a failure after `ms`. */
async function within(ms: number, what: string, check: () => Promise<boolean> | boolean): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await check()) return Date.now() - start;
    if (Date.now() - start > ms) assert.fail(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

before(async () => {
  const main = await sharedTestPki();
  // The operator's common name, but signed by a CA the broker does not trust.
  const rogue = await createTestPki('another CA');
  pki = {
    ...main,
    operator: await main.client(OPERATOR_CN),
    stranger: await main.client('someone-else'),
    rogueOperator: await rogue.client(OPERATOR_CN),
  };
});

describe('policy.dir: the CR YAML in a directory, reloaded when it changes', () => {
  let s: Started;
  let policyDir: string;
  before(async () => {
    policyDir = tempDir('policy-dir');
    writeFileSync(join(policyDir, 'team.yaml'), policyYaml({ ann: { password: PASSWORDS.ann, write: ['t-*'] } }));
    s = await startBroker({ dataDir: tempDir('dir-data'), policyDir });
  });
  after(() => s?.broker.stop());

  test('editing a file reloads it: a user added to it can log in about a second later', async () => {
    assert.equal(await login(s.broker, 'ann'), true);
    assert.equal(await login(s.broker, 'ben'), false);
    writeFileSync(join(policyDir, 'team.yaml'), policyYaml({ ann: { password: PASSWORDS.ann, write: ['t-*'] }, ben: { password: PASSWORDS.ben } }));
    // About a second: the debounce (100 ms) and a compile, with slack for a busy machine.
    await within(1500, 'ben can log in', () => login(s.broker, 'ben'));
  });

  test('a file with an error keeps the policy in force, and the error is logged with its file and field', async () => {
    writeFileSync(
      join(policyDir, 'carl.yaml'),
      policyYaml({ carl: { password: PASSWORDS.carl } }, false).replace('authentication: { type: scram-sha-256,', 'authentication: { type: kerberos,'),
    );
    await within(2000, 'the error is logged', () => s.logs.messages().some((l) => l.includes('carl.yaml') && l.includes('spec.authentication.type')));
    assert.ok(s.logs.messages().some((l) => /has 1 error\(s\); not applied, the policy in force stays/.test(l)), s.logs.text());
    // The policy in force is the one before the broken file: its users still log in, carl does not exist.
    assert.equal(await login(s.broker, 'ann'), true);
    assert.equal(await login(s.broker, 'ben'), true);
    assert.equal(await login(s.broker, 'carl'), false);
  });

  test('fixing the file applies it', async () => {
    writeFileSync(join(policyDir, 'carl.yaml'), policyYaml({ carl: { password: PASSWORDS.carl } }, false));
    await within(1500, 'carl can log in', () => login(s.broker, 'carl'));
    assert.equal(await login(s.broker, 'ann'), true);
  });

  test('no password from the directory ever reaches the log', () => {
    assert.ok(s.logs.lines.length > 0);
    for (const password of Object.values(PASSWORDS)) assert.ok(!s.logs.text().includes(password));
  });
});

describe('the internal listener: policy pushed over mTLS', () => {
  let s: Started;
  let dataDir: string;
  let v5: PolicySnapshot;
  before(async () => {
    dataDir = tempDir('push-data');
    s = await startBroker({ dataDir, internal: true });
    assert.ok(s.broker.internalPort! > 0, 'broker.internalPort is the port the OS picked');
    await ensureTopics(s.broker, 't-live', 't-secret');
    v5 = await compiled({ ola: { password: PASSWORDS.ola, write: ['t-*'], deny: ['t-secret'] } }, 5);
  });
  after(() => s?.broker.stop());

  test('PUT from the operator: 200, in force at once; GET reports its version and hash', async () => {
    const initial = await applied(s.broker);
    assert.deepEqual([initial.status, initial.body.version, initial.body.source], [200, 0, 'empty']);
    assert.equal(await login(s.broker, 'ola'), false, 'nobody may log in under the empty policy');

    const r = await push(s.broker, v5);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { applied: true, version: 5, hash: v5.hash, source: 'push' });
    assert.equal(await login(s.broker, 'ola'), true);
    assert.deepEqual(await applied(s.broker), { status: 200, body: { version: 5, hash: v5.hash, source: 'push' } });
    // The same snapshot again is not an error: it is already in force.
    assert.equal((await push(s.broker, v5)).status, 200);
  });

  test('an older version is refused with 409 BWK_ERR_POLICY_PUSH_REJECTED, and so is other content under the same version', async () => {
    for (const stale of [await compiled({ old: { password: PASSWORDS.old } }, 4), await compiled({ old: { password: PASSWORDS.old } }, 5)]) {
      const r = await push(s.broker, stale);
      assert.equal(r.status, 409);
      assert.equal(r.body.code, 'BWK_ERR_POLICY_PUSH_REJECTED');
      assert.equal(r.body.version, 5, 'the answer says what is in force');
    }
    assert.equal(await login(s.broker, 'old'), false);
    assert.equal(await login(s.broker, 'ola'), true);
    assert.deepEqual((await applied(s.broker)).body, { version: 5, hash: v5.hash, source: 'push' });
  });

  test('a tampered snapshot (content not matching its hash) is refused with 400', async () => {
    const v6 = await compiled({ ola: { password: PASSWORDS.ola, write: ['t-*'], deny: ['t-secret'] } }, 6);
    // Someone on the path drops the Deny and keeps the hash.
    const tampered = { ...v6, rules: v6.rules.filter((r) => r.effect !== 'Deny') };
    assert.notEqual(tampered.rules.length, v6.rules.length);
    const r = await push(s.broker, tampered);
    assert.equal(r.status, 400);
    assert.equal(r.body.code, 'BWK_ERR_SNAPSHOT_HASH_MISMATCH');
    const garbage = await internalCall(s.broker, 'PUT', '{"format":');
    assert.deepEqual([garbage.status, garbage.body.code], [400, 'BWK_ERR_SNAPSHOT_INVALID']);
    assert.deepEqual((await applied(s.broker)).body, { version: 5, hash: v5.hash, source: 'push' });
    const ola = await connectAndLogin(s.broker.kafkaPort!, 'SCRAM-SHA-256', 'ola', PASSWORDS.ola);
    try {
      assert.equal(await produceCode(ola, 't-secret'), E.TOPIC_AUTHORIZATION_FAILED, 'the Deny still holds');
    } finally {
      ola.close();
    }
  });

  test('a certificate with another name gets 403; no certificate, or one from another CA, never completes the handshake', async () => {
    const v9 = await compiled({ old: { password: PASSWORDS.old } }, 9);
    for (const answer of [await push(s.broker, v9, pki.stranger), await applied(s.broker, pki.stranger)]) {
      assert.deepEqual([answer.status, answer.body.code], [403, 'BWK_ERR_FORBIDDEN']);
    }
    for (const cert of [null, pki.rogueOperator]) {
      await assert.rejects(push(s.broker, v9, cert), (err: NodeJS.ErrnoException) => err.code !== undefined, 'the connection fails, without an HTTP answer');
      await assert.rejects(applied(s.broker, cert));
    }
    assert.deepEqual((await applied(s.broker)).body, { version: 5, hash: v5.hash, source: 'push' });
    assert.equal(await login(s.broker, 'old'), false);
  });

  test('open sessions see a pushed policy at once; a push that deletes their user closes them within a second', async () => {
    const ola = await connectAndLogin(s.broker.kafkaPort!, 'SCRAM-SHA-256', 'ola', PASSWORDS.ola);
    const pia = await connectAndLogin(s.broker.kafkaPort!, 'SCRAM-SHA-256', 'pia', PASSWORDS.pia).catch(() => undefined);
    assert.equal(pia, undefined, 'pia is not in the policy yet');
    try {
      assert.equal(await produceCode(ola, 't-live'), E.NONE);
      // v10: ola loses her grant. The very next request on the same connection is refused.
      assert.equal((await push(s.broker, await compiled({ ola: { password: PASSWORDS.ola } }, 10))).status, 200);
      assert.equal(await produceCode(ola, 't-live'), E.TOPIC_AUTHORIZATION_FAILED);
      // v11: granted again, at once.
      assert.equal((await push(s.broker, await compiled({ ola: { password: PASSWORDS.ola, write: ['t-live'] } }, 11))).status, 200);
      assert.equal(await produceCode(ola, 't-live'), E.NONE);
      // v12: ola is deleted; pia takes over.
      assert.equal((await push(s.broker, await compiled({ pia: { password: PASSWORDS.pia, write: ['t-*'], deny: ['t-secret'] } }, 12))).status, 200);
      assert.ok(await ola.closesWithin(1000), "the deleted user's connection is closed");
      assert.equal(await login(s.broker, 'ola'), false);
      assert.equal(await login(s.broker, 'pia'), true);
    } finally {
      ola.close();
    }
  });

  test('fail-static: restarted with no policy source and nobody pushing, the last pushed policy is enforced', async () => {
    const last = (await applied(s.broker)).body;
    assert.equal(last.version, 12);
    await s.broker.stop();
    s = await startBroker({ dataDir, internal: true });
    await ensureTopics(s.broker, 't-live', 't-secret');
    assert.deepEqual((await applied(s.broker)).body, { ...last, source: 'disk' });
    // Its users log in, its grants and its denials hold, and users it removed stay out.
    const pia = await connectAndLogin(s.broker.kafkaPort!, 'SCRAM-SHA-256', 'pia', PASSWORDS.pia);
    try {
      assert.equal(await produceCode(pia, 't-live'), E.NONE);
      assert.equal(await produceCode(pia, 't-secret'), E.TOPIC_AUTHORIZATION_FAILED);
    } finally {
      pia.close();
    }
    assert.equal(await login(s.broker, 'ola'), false);
    // Versions still only move forward after the restart.
    assert.equal((await push(s.broker, await compiled({ ola: { password: PASSWORDS.ola } }, 11))).status, 409);
  });

  test('a damaged persisted snapshot stops the broker from starting: BWK_ERR_POLICY_PERSISTED_INVALID', async () => {
    await s.broker.stop();
    const file = join(dataDir, '__policy', 'snapshot.json');
    const good = readFileSync(file, 'utf8');
    const damaged = [
      good.replace('"pia"', '"eve"'), // content no longer matches its hash
      good.slice(0, good.length >> 1), // torn
    ];
    for (const text of damaged) {
      assert.notEqual(text, good);
      writeFileSync(file, text);
      await assert.rejects(startBroker({ dataDir, internal: true }), (err) => isBulwarkError(err, 'BWK_ERR_POLICY_PERSISTED_INVALID'));
    }
    // Put back, it starts again with that policy.
    writeFileSync(file, good);
    s = await startBroker({ dataDir, internal: true });
    assert.equal((await applied(s.broker)).body.version, 12);
  });
});
