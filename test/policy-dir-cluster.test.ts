// `bulwark broker --policy-dir examples/policy` runs the example BrokerCluster as declared: a real
// broker process, real clients (kafkajs, kcat, https). Its listeners and their mechanisms are
// the ones served, its record size limit is enforced, its audit file receives the events, and a
// change to its listeners is reported as needing a restart. `bulwark policy check` shows a broken
// file's field errors even when nothing else is in the directory.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { get as httpGet } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Kafka, logLevel, type SASLOptions } from 'kafkajs';
import { run } from '../src/cli/main.ts';
import { createCa, issueCertificate } from '../src/pki/index.ts';

const root = join(import.meta.dirname, '..');
const entry = existsSync(join(root, 'src', 'cli', 'entry.ts')) ? join(root, 'src', 'cli', 'entry.ts') : join(root, 'src', 'cli', 'main.ts');
// The example passwords, published in examples/policy/secrets.local.yaml.
const ADMIN = { mechanism: 'scram-sha-512', username: 'platform-admin', password: 'Example-Admin-Passw0rd!' } as const;
const DANA = { username: 'dana@example.com', password: 'Example-Dana-Passw0rd!' };

const work = mkdtempSync(join(tmpdir(), 'bulwark-policy-dir-'));
after(() => rmSync(work, { recursive: true, force: true }));

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('bulwark broker --policy-dir examples/policy', () => {
  const policy = join(work, 'policy');
  const data = join(work, 'data');
  const ports = { kafka: 0, tls: 0, http: 0 };
  let ca = '';
  let broker: ChildProcess;
  let stdout = '';
  let stderr = '';
  const kafka = (port: number, sasl: SASLOptions, ssl?: { ca: string }) =>
    new Kafka({ clientId: 'policy-dir-test', brokers: [`127.0.0.1:${port}`], sasl, ...(ssl ? { ssl: { ca: [ssl.ca], servername: 'localhost' } } : {}), logLevel: logLevel.NOTHING, retry: { retries: 0 }, connectionTimeout: 5000 });

  before(async () => {
    cpSync(join(root, 'examples', 'policy'), policy, { recursive: true });
    // The BrokerCluster's certificate, where local mode looks for it: <dir>/tls/tls.crt, tls.key, ca.crt.
    const authority = await createCa({ commonName: 'policy-dir test CA', validDays: 2 });
    const server = await issueCertificate({ ca: authority, commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], usage: 'server', validDays: 2 });
    mkdirSync(join(policy, 'tls'));
    writeFileSync(join(policy, 'tls', 'ca.crt'), authority.certPem);
    writeFileSync(join(policy, 'tls', 'tls.crt'), server.certPem);
    writeFileSync(join(policy, 'tls', 'tls.key'), server.keyPem);
    ca = authority.certPem;
    ports.kafka = await freePort();
    ports.tls = await freePort();
    ports.http = await freePort();
    broker = spawn(
      process.execPath,
      ['--import', 'tsx', entry, 'broker', '--policy-dir', policy, '--data-dir', data, '--listener-port', `kafka=${ports.kafka}`, '--listener-port', `kafka-tls=${ports.tls}`, '--listener-port', `http=${ports.http}`],
      { cwd: root, env: { ...process.env, BULWARK_ROOT_PASSWORD: 'Root-Example-Passw0rd!' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    broker.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
    broker.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    await until('the broker to start', () => (broker.exitCode !== null ? assert.fail(`broker exited ${broker.exitCode}:\n${stdout}\n${stderr}`) : /bulwark broker 0: /.test(stdout)), 30_000);
  });

  after(async () => {
    if (broker && broker.exitCode === null) {
      broker.kill('SIGTERM');
      await new Promise((resolve) => broker.once('exit', resolve));
    }
  });

  test('serves the BrokerCluster’s listeners, each with its own mechanisms', async () => {
    assert.match(stdout, /BrokerCluster streaming\/events from .*: listeners kafka \(kafka 127\.0\.0\.1:\d+: scram-sha-256, scram-sha-512\); kafka-tls \(kafka\+tls 127\.0\.0\.1:\d+: scram-sha-256, scram-sha-512, plain, mtls\); http \(https 127\.0\.0\.1:\d+: bearer\)/);

    // kafka: SCRAM-SHA-512 as declared.
    const admin = kafka(ports.kafka, ADMIN).admin();
    await admin.connect();
    assert.ok(await admin.createTopics({ topics: [{ topic: 'orders-eu', numPartitions: 1 }] }));
    await admin.disconnect();

    // kafka: PLAIN is not in its list (the config default would not list it either; TLS does).
    const plainOnKafka = kafka(ports.kafka, { mechanism: 'plain', ...DANA }).admin();
    await assert.rejects(plainOnKafka.connect(), /SASL mechanism|not supported|UNSUPPORTED_SASL_MECHANISM/i);
    await plainOnKafka.disconnect().catch(() => undefined);

    // kafka-tls: TLS with the certificate from <dir>/tls, and PLAIN accepted there.
    const plainOnTls = kafka(ports.tls, { mechanism: 'plain', ...DANA }, { ca }).admin();
    await plainOnTls.connect();
    await plainOnTls.listTopics();
    await plainOnTls.disconnect();

    // http: HTTPS only, and bearer only (password login is not listed).
    const https = (method: string, path: string, body?: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: ports.http, method, path, ca, servername: 'localhost', headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode!, body: text }));
        });
        req.on('error', reject);
        req.end(body);
      });
    assert.equal((await https('GET', '/healthz')).status, 200);
    const login = await https('POST', '/v1/login', JSON.stringify(DANA));
    assert.equal(login.status, 400);
    assert.match(login.body, /password login is not enabled/);
    await assert.rejects(
      new Promise((resolve, reject) => httpGet({ host: '127.0.0.1', port: ports.http, path: '/healthz' }, resolve).on('error', reject)),
      'a plaintext HTTP request to the TLS listener fails',
    );
  });

  test('kcat, with a mechanism the listener does not list, is refused', { skip: spawnSync('kcat', ['-V']).error ? 'kcat is not installed' : false }, () => {
    const r = spawnSync('kcat', ['-b', `127.0.0.1:${ports.kafka}`, '-L', '-m', '5', '-X', 'security.protocol=SASL_PLAINTEXT', '-X', 'sasl.mechanisms=PLAIN', '-X', `sasl.username=${DANA.username}`, '-X', `sasl.password=${DANA.password}`], { encoding: 'utf8', timeout: 20_000 });
    assert.notEqual(r.status, 0, r.stdout);
    assert.match(r.stderr, /mechanism|SASL|authentication/i);
  });

  test('enforces the BrokerCluster’s record size limit (1 MiB; the config default is 8 MiB)', async () => {
    const producer = kafka(ports.kafka, ADMIN).producer({ allowAutoTopicCreation: false });
    await producer.connect();
    try {
      await producer.send({ topic: 'orders-eu', messages: [{ value: Buffer.alloc(10_000, 1) }] });
      await assert.rejects(producer.send({ topic: 'orders-eu', acks: -1, messages: [{ value: Buffer.alloc(1_200_000, 1) }] }), /larger than the max message size|MESSAGE_TOO_LARGE|too large/i);
    } finally {
      await producer.disconnect();
    }
  });

  test('writes audit events to the BrokerCluster’s file sink (audit.jsonl under the data directory)', async () => {
    const wrong = kafka(ports.kafka, { mechanism: 'scram-sha-512', username: ADMIN.username, password: 'Wrong-Passw0rd-Here!' }).admin();
    await assert.rejects(wrong.connect());
    await wrong.disconnect().catch(() => undefined);
    const events = await until('audit events in the file', () => {
      const file = join(data, 'audit.jsonl');
      if (!existsSync(file)) return undefined;
      const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
      return lines.some((e) => e.type === 'authentication' && e.outcome === 'failure' && e.user === 'platform-admin') ? lines : undefined;
    });
    assert.ok(events.some((e) => e.type === 'authentication' && e.outcome === 'success' && e.listener === 'kafka-tls'), 'the PLAIN login on kafka-tls is audited under its listener name');
    assert.ok(!readFileSync(join(data, 'audit.jsonl'), 'utf8').includes('Wrong-Passw0rd-Here!'), 'no password in the audit file');
  });

  test('a change to the BrokerCluster’s listeners is reported as needing a restart, not applied', async () => {
    const file = join(policy, 'cluster.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('authentication: [scram-sha-256, scram-sha-512]\n', 'authentication: [scram-sha-512]\n'));
    await until('the restart notice', () => /BrokerCluster streaming\/events changed: .*restart the broker to apply them/.test(stderr));
    // Still served where it was.
    const admin = kafka(ports.kafka, ADMIN).admin();
    await admin.connect();
    await admin.disconnect();
  });
});

describe('bulwark policy check', () => {
  const check = async (files: Record<string, string>) => {
    const dir = mkdtempSync(join(work, 'check-'));
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    const out: string[] = [];
    const err: string[] = [];
    const code = await run(['policy', 'check', dir], { out: (l) => out.push(l), err: (l) => err.push(l) });
    return { code, out: out.join('\n'), err: err.join('\n') };
  };

  test('a broken file alone in the directory: its field errors are printed, then why nothing compiled', async () => {
    const r = await check({
      'cluster.yaml': `apiVersion: bulwark.dev/v1alpha1
kind: BrokerCluster
metadata: { name: events, namespace: streaming }
spec:
  replicas: 0
  storage: { size: 1Gi }
  listeners:
    - { name: kafka, protocol: kafka, port: 9092, tls: { enabled: true, minVersion: "1.2" } }
`,
    });
    assert.equal(r.code, 1);
    assert.match(r.err, /^error: .*cluster\.yaml \(document 1\): spec\.replicas: /m);
    assert.match(r.err, /^error: .*cluster\.yaml \(document 1\): spec\.listeners\[0\]\.tls\.minVersion: /m);
    assert.match(r.err, /policy check failed: .*no BrokerCluster and no clusterRef found; 2 error\(s\)/);
  });

  test('duplicates in lists the CRD declares as sets or maps are refused, naming the field and the value', async () => {
    const r = await check({
      'cluster.yaml': `apiVersion: bulwark.dev/v1alpha1
kind: BrokerCluster
metadata: { name: events, namespace: streaming }
spec:
  replicas: 1
  storage: { size: 1Gi }
  listeners:
    - { name: kafka, protocol: kafka, port: 9092, authentication: [scram-sha-256, scram-sha-256] }
    - { name: kafka, protocol: kafka, port: 9093 }
  authorization: { superUsers: [admin, admin] }
`,
    });
    assert.equal(r.code, 1);
    assert.match(r.err, /spec\.listeners\[0\]\.authentication\[1\]: Duplicate value: "scram-sha-256"/);
    assert.match(r.err, /spec\.listeners\[1\]\.name: Duplicate value: name "kafka"/);
    assert.match(r.err, /spec\.authorization\.superUsers\[1\]: Duplicate value: "admin"/);
  });

  test('a BrokerCluster the broker would refuse is an error, by field', async () => {
    const r = await check({
      'cluster.yaml': `apiVersion: bulwark.dev/v1alpha1
kind: BrokerCluster
metadata: { name: events, namespace: streaming }
spec:
  replicas: 1
  storage: { size: 1Gi }
  listeners:
    - { name: kafka, protocol: kafka, port: 9092, allowedCidrs: [10.0.0.0/33] }
  encryption: { enabled: true, keysSecretRef: { name: keys }, activeKeyId: k1 }
  audit: { sinks: [{ type: topic, topic: audit-events }] }
`,
    });
    assert.equal(r.code, 1);
    assert.match(r.err, /spec\.listeners\[0\]\.allowedCidrs\[0\]: 10\.0\.0\.0\/33 is not an IP address or CIDR block/);
    assert.match(r.err, /spec\.audit\.sinks\[0\]\.topic: the broker writes audit events to the topic __audit only/);
    assert.doesNotMatch(r.err, /spec\.encryption/, 'encryption at rest is honoured');
  });
});
