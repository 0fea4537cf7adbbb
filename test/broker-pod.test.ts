// The broker as the operator runs it in a pod (issue 12): the JSON config file rendered by
// renderBrokerConfig, per-pod identity from the environment and flags, the probe listener, the
// cluster's shared server secret, and TLS files in Secret volumes that the kubelet swaps
// atomically. Real brokers, real sockets, certificates from src/pki.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { parseResource, type BrokerCluster } from '../src/api/index.ts';
import { assignPartitions, pushClusterState } from '../src/cluster/index.ts';
import { closeProbeListener, startBroker, startProbeListener, type Broker } from '../src/broker/index.ts';
import { brokerConfigFromFlags, brokerIdFromHostname, brokerFlags } from '../src/cli/broker-command.ts';
import { loadBrokerConfig, renderBrokerConfig, type BrokerConfigInput } from '../src/config/index.ts';
import { createLogger, isBulwarkError } from '../src/lib/index.ts';
import { createCa, issueCertificate, type PemPair } from '../src/pki/index.ts';
import { compilePolicy, emptySnapshot, pushSnapshot, readApplied, sealSnapshot, type DistributionTls } from '../src/policy/index.ts';
import { ApiKey, KafkaErrorCode } from '../src/kafka/index.ts';
import { KafkaWireClient } from '../tools/kafka-wire/client.ts';
import { kcat, kcatScram } from './harness/clients.ts';
import { CLUSTER, grant, NS, resource } from './harness/resources.ts';
import { SecretVolume } from './harness/secret-volume.ts';
import { useTempDirs } from './harness/temp.ts';

const tempDir = useTempDirs('pod');
const OPERATOR_CN = 'bulwark-operator';

function cluster(spec: unknown): BrokerCluster {
  const r = parseResource({ apiVersion: 'bulwark.dev/v1alpha1', kind: 'BrokerCluster', metadata: { name: 'events', namespace: 'streaming' }, spec });
  if (!r.ok) throw new Error(`not a valid BrokerCluster: ${JSON.stringify(r.errors)}`);
  return r.value as BrokerCluster;
}

const EVENTS = cluster({
  replicas: 3,
  storage: { size: '1Gi' },
  listeners: [
    { name: 'kafka', protocol: 'kafka', port: 9092, tls: { enabled: true }, authentication: ['scram-sha-512'] },
    { name: 'external', protocol: 'kafka', port: 9093, tls: { enabled: true }, authentication: ['scram-sha-256'] },
    { name: 'http', protocol: 'http', port: 8080, tls: { enabled: true }, authentication: ['bearer'] },
  ],
});

/** The mounts the operator gives a pod (issue 12's layout). */
const POD_MOUNTS = {
  dataDir: '/var/lib/bulwark',
  tls: Object.fromEntries(['kafka', 'external', 'http'].map((l) => [l, { certFile: `/etc/bulwark/tls/${l}/tls.crt`, keyFile: `/etc/bulwark/tls/${l}/tls.key`, caFile: `/etc/bulwark/tls/${l}/ca.crt` }])),
  internalTls: { certFile: '/etc/bulwark/tls/internal/tls.crt', keyFile: '/etc/bulwark/tls/internal/tls.key', caFile: '/etc/bulwark/tls/internal/ca.crt' },
  serverSecretFile: '/etc/bulwark/server-secret/secret',
};

const logger = () => createLogger({ level: 'error', destination: { write: () => {} } });

describe('the config file the operator writes', () => {
  const rendered = renderBrokerConfig(EVENTS, POD_MOUNTS, { bindHost: '0.0.0.0', probePort: 9095, clusterId: 'streaming-events' });

  test('renders the probe listener on the bind host and the shared server secret', () => {
    assert.deepEqual(rendered.probes, { host: '0.0.0.0', port: 9095 });
    assert.equal(rendered.serverSecretFile, '/etc/bulwark/server-secret/secret');
    assert.equal(rendered.brokerId, undefined, 'one ConfigMap for every pod: the id comes from the pod');
  });

  for (const format of ['json', 'yaml'] as const) {
    test(`--config takes it as ${format}; BULWARK_BROKER_ID and --advertised-host make it one pod's, with no cluster-owned key refused`, async () => {
      const file = join(tempDir(), `broker.${format}`);
      writeFileSync(file, format === 'json' ? JSON.stringify(rendered, null, 2) : stringify(rendered));
      const { config, cluster: local } = await brokerConfigFromFlags(['--config', file, '--advertised-host', 'events-2.events-brokers.streaming.svc'], { BULWARK_BROKER_ID: '2' });
      assert.equal(local, undefined, 'not local mode');
      assert.equal(config.brokerId, 2);
      assert.equal(config.clusterId, 'streaming-events');
      assert.equal(config.kafka.advertisedHost, 'events-2.events-brokers.streaming.svc');
      assert.deepEqual(config.listeners.map((l) => [l.name, l.advertisedHost, l.port]), [['external', 'events-2.events-brokers.streaming.svc', 9093]]);
      assert.equal(config.internal.enabled, true);
      assert.equal(config.internal.tls?.clientAuth, 'required');
      assert.deepEqual(config.probes, { host: '0.0.0.0', port: 9095 });
      assert.equal(config.serverSecretFile, '/etc/bulwark/server-secret/secret');
      assert.equal(config.policy.dir, undefined);
    });
  }

  test('--broker-id overrides the environment; BULWARK_PROBES_PORT sets the probe port', async () => {
    const file = join(tempDir(), 'broker.json');
    writeFileSync(file, JSON.stringify(rendered));
    const { config } = await brokerConfigFromFlags(['--config', file, '--broker-id', '7'], { BULWARK_BROKER_ID: '2', BULWARK_PROBES_PORT: '9999' });
    assert.equal(config.brokerId, 7);
    assert.equal(config.probes?.port, 9999);
  });

  test('without probes in the file or the environment there is no probe listener', () => {
    assert.equal(loadBrokerConfig({}).probes, undefined);
  });
});

describe('per-pod broker id', () => {
  test('from a StatefulSet pod name', () => {
    assert.equal(brokerIdFromHostname('events-0'), 0);
    assert.equal(brokerIdFromHostname('my-cluster-brokers-12'), 12);
    assert.equal(brokerFlags(['--broker-id-from-hostname'], () => 'events-3').overrides.brokerId, 3);
  });
  test('a host name without -N, a bad --broker-id, or both flags: refused by name', () => {
    const refused = (f: () => unknown, pattern: RegExp) =>
      assert.throws(f, (err: unknown) => isBulwarkError(err) && err.code === 'BWK_ERR_CONFIG_INVALID' && pattern.test(err.message));
    refused(() => brokerIdFromHostname('laptop'), /--broker-id-from-hostname: the host name "laptop" does not end in -<number>/);
    refused(() => brokerFlags(['--broker-id=-1']), /--broker-id: expected a number/);
    refused(() => brokerFlags(['--broker-id', '4294967296']), /--broker-id: expected a number/);
    refused(() => brokerFlags(['--broker-id', '1', '--broker-id-from-hostname'], () => 'a-1'), /give one of them/);
  });
});

// --- Certificates and a broker in operator mode ------------------------------------------------------

interface Pki {
  ca: PemPair;
  server: PemPair;
  operator: PemPair;
}
async function makePki(name: string): Promise<Pki> {
  const ca = await createCa({ commonName: name, validDays: 1 });
  const server = await issueCertificate({ ca, commonName: 'events-0', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], usage: 'server', validDays: 1 });
  const operator = await issueCertificate({ ca, commonName: OPERATOR_CN, usage: 'client', validDays: 1 });
  return { ca, server, operator };
}
const tlsPayload = (p: Pki) => ({ 'tls.crt': p.server.certPem, 'tls.key': p.server.keyPem, 'ca.crt': p.ca.certPem });
const operatorTls = (p: Pki): DistributionTls => ({ ca: p.ca.certPem, cert: p.operator.certPem, key: p.operator.keyPem });

/** An operator-mode broker: a TLS kafka listener and the internal listener from Secret volumes, the probe listener, no policy directory. */
async function startPodBroker(pki: Pki, opts: { dataDir?: string; secretFile?: string } = {}) {
  const root = tempDir('broker');
  const kafkaTls = new SecretVolume(join(root, 'tls', 'kafka'));
  const internalTls = new SecretVolume(join(root, 'tls', 'internal'));
  kafkaTls.write(tlsPayload(pki));
  internalTls.write(tlsPayload(pki));
  const files = (v: SecretVolume) => ({ certFile: v.path('tls.crt'), keyFile: v.path('tls.key'), caFile: v.path('ca.crt') });
  const dataDir = opts.dataDir ?? join(root, 'data');
  const input: BrokerConfigInput = {
    dataDir,
    kafka: { port: 0, tls: { ...files(kafkaTls), clientAuth: 'none' }, authentication: ['scram-sha-256'] },
    http: { enabled: false },
    internal: { enabled: true, port: 0, tls: { ...files(internalTls), clientAuth: 'required' }, clients: [OPERATOR_CN] },
    probes: { host: '127.0.0.1', port: 0 },
    ...(opts.secretFile ? { serverSecretFile: opts.secretFile } : {}),
  };
  const broker = await startBroker(loadBrokerConfig({ overrides: input }), { logger: logger(), env: {} });
  return { broker, dataDir, kafkaTls, internalTls };
}

function get(port: number, path: string, method = 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the probe listener', () => {
  let pki: Pki;
  let broker: Broker;
  let dataDir: string;
  before(async () => {
    pki = await makePki('probe CA');
    ({ broker, dataDir } = await startPodBroker(pki));
  });
  after(() => broker?.stop());

  test('/healthz is 200 while the broker runs', async () => {
    const r = await get(broker.listenerPort('probes')!, '/healthz');
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.body), { status: 'ok' });
  });

  test('nothing else is served there: metrics, the API and other methods are refused', async () => {
    const port = broker.listenerPort('probes')!;
    for (const path of ['/metrics', '/v1/topics', '/openapi.json', '/v1/login', '/', '/healthz/x']) assert.equal((await get(port, path)).status, 404, path);
    assert.equal((await get(port, '/readyz', 'POST')).status, 405);
    assert.equal((await get(port, '/healthz', 'DELETE')).status, 405);
  });

  test('in operator mode /readyz is 503 until the operator pushed a snapshot and a cluster state, then 200; a restart with both persisted is ready at once', async () => {
    const port = () => broker.listenerPort('probes')!;
    const before = await get(port(), '/readyz');
    assert.equal(before.status, 503);
    assert.match(JSON.parse(before.body).reasons.join(), /no policy snapshot yet/);

    const pushed = await pushSnapshot({ host: '127.0.0.1', port: broker.internalPort!, servername: 'localhost' }, operatorTls(pki), sealSnapshot(emptySnapshot(), 1));
    assert.equal(pushed.outcome, 'applied');
    const policyOnly = await get(port(), '/readyz');
    assert.equal(policyOnly.status, 503);
    assert.deepEqual(JSON.parse(policyOnly.body).reasons, ['no cluster state yet: waiting for the operator to push one']);

    const self = { id: broker.config.brokerId, host: '127.0.0.1', port: broker.kafkaPort!, rack: null };
    const state = { clusterId: broker.config.clusterId, version: 1, controllerId: self.id, brokers: [self], topics: [] };
    const stated = await pushClusterState({ host: '127.0.0.1', port: broker.internalPort!, servername: 'localhost' }, operatorTls(pki), state);
    assert.equal(stated.outcome, 'applied', JSON.stringify(stated));
    const afterPush = await get(port(), '/readyz');
    assert.equal(afterPush.status, 200, afterPush.body);
    assert.deepEqual(JSON.parse(afterPush.body), { status: 'ready', reasons: [] });

    await broker.stop();
    ({ broker } = await startPodBroker(pki, { dataDir }));
    assert.equal(broker.policy.applied.source, 'disk');
    assert.equal(broker.topics.applied.source, 'disk');
    assert.equal((await get(port(), '/readyz')).status, 200);
  });

  test('while the broker stops, /healthz and /readyz answer 503', async () => {
    const stopping = await startPodBroker(pki);
    const client = await KafkaWireClient.connect(stopping.broker.kafkaPort!, { tls: { ca: pki.ca.certPem } });
    const stop = stopping.broker.stop();
    // stop() marks the broker stopping before its first await.
    assert.equal(stopping.broker.stopping, true);
    assert.match(stopping.broker.readiness().reasons.join(), /stopping/);
    await stop;
    assert.ok(client.isClosed || (await client.closesWithin(1000)), 'the drain closed the idle connection');
    // What the listener answers for a broker in that state (the real one is closed by now: it goes last).
    const probes = await startProbeListener({ stopping: true, readiness: () => ({ ready: false, reasons: ['stopping'] }) }, '127.0.0.1', 0);
    try {
      const port = (probes.address() as AddressInfo).port;
      assert.equal((await get(port, '/healthz')).status, 503);
      const ready = await get(port, '/readyz');
      assert.equal(ready.status, 503);
      assert.deepEqual(JSON.parse(ready.body), { status: 'not ready', reasons: ['stopping'] });
    } finally {
      await closeProbeListener(probes);
    }
  });
});

// --- The shared server secret --------------------------------------------------------------------------

/** The salt a broker answers for a user in the first SCRAM round (a made-up one for an unknown user). */
async function scramSalt(port: number, ca: string, user: string): Promise<string> {
  const client = await KafkaWireClient.connect(port, { tls: { ca } });
  try {
    const hs = await client.request(ApiKey.SaslHandshake, 1, { mechanism: 'SCRAM-SHA-256' });
    assert.equal(hs.errorCode, KafkaErrorCode.NONE);
    const first = await client.request(ApiKey.SaslAuthenticate, 1, { authBytes: Buffer.from(`n,,n=${user},r=fixednonce0123456789`) });
    assert.equal(first.errorCode, KafkaErrorCode.NONE);
    const salt = /(?:^|,)s=([^,]+)/.exec(first.authBytes.toString())?.[1];
    assert.ok(salt, 'server-first has a salt');
    return salt;
  } finally {
    client.end();
  }
}

describe('the shared server secret (serverSecretFile)', () => {
  let pki: Pki;
  const brokers: Broker[] = [];
  before(async () => {
    pki = await makePki('secret CA');
  });
  after(async () => {
    for (const b of brokers) await b.stop();
  });
  const secretFile = (bytes: Buffer) => {
    const file = join(tempDir('secret'), 'secret');
    writeFileSync(file, bytes, { mode: 0o600 });
    return file;
  };

  test('two brokers with the same file give an unknown user the same SCRAM salt; another file or none, another salt', async () => {
    const shared = secretFile(Buffer.from('0123456789abcdef0123456789abcdef-shared-by-the-cluster'));
    const other = secretFile(Buffer.alloc(48, 7));
    const start = async (file?: string) => {
      const b = (await startPodBroker(pki, file ? { secretFile: file } : {})).broker;
      brokers.push(b);
      return b;
    };
    const [a, b, c, own] = [await start(shared), await start(shared), await start(other), await start()];
    const salts = await Promise.all([a, b, c, own].map((x) => scramSalt(x.kafkaPort!, pki.ca.certPem, 'nobody-here')));
    assert.equal(salts[0], salts[1], 'same secret, same fake salt');
    assert.notEqual(salts[0], salts[2]);
    assert.notEqual(salts[0], salts[3]);
    // And per user: another unknown name has another salt.
    assert.notEqual(await scramSalt(a.kafkaPort!, pki.ca.certPem, 'someone-else'), salts[0]);
  });

  test('a file under 32 bytes, or one that cannot be read, stops the start with an error that names the file and never its content', async () => {
    const content = 'short-secret-XYZ';
    const short = secretFile(Buffer.from(content));
    await assert.rejects(startPodBroker(pki, { secretFile: short }), (err: unknown) => {
      assert.ok(isBulwarkError(err) && err.code === 'BWK_ERR_CONFIG_INVALID');
      assert.match(err.message, /serverSecretFile: .* holds 16 bytes; the server secret needs at least 32/);
      assert.ok(!err.message.includes(content) && !(err.stack ?? '').includes(content));
      return true;
    });
    await assert.rejects(startPodBroker(pki, { secretFile: join(tempDir(), 'absent') }), /serverSecretFile: cannot read .*absent \(ENOENT\)/);
  });

  test('a start that fails after the probe listener came up (it starts before the log is opened) releases its port', async () => {
    const port = await freePort();
    const config = loadBrokerConfig({ overrides: { dataDir: tempDir('data'), serverSecretFile: secretFile(Buffer.alloc(8)), probes: { host: '127.0.0.1', port }, http: { enabled: false } } });
    await assert.rejects(startBroker(config, { logger: logger(), env: {} }), /serverSecretFile/);
    const again = createNetServer();
    await new Promise<void>((resolve, reject) => again.once('error', reject).listen(port, '127.0.0.1', resolve));
    await new Promise((resolve) => again.close(resolve));
  });
});

// --- TLS in Secret volumes, swapped by the kubelet ------------------------------------------------------

/** A TLS handshake with Node's default verification (chain and host name): 'ok' or the error's code. */
function handshake(port: number, ca: string, servername: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername, ca }, () => {
      socket.destroy();
      resolve('ok');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

const waitFor = async (what: string, check: () => Promise<boolean>, ms = 15_000) => {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

describe('TLS files in Secret volumes: a kubelet update (new ..data) is picked up without a restart', () => {
  let first: Pki;
  let rotated: Pki;
  let pod: Awaited<ReturnType<typeof startPodBroker>>;
  before(async () => {
    first = await makePki('first CA');
    rotated = await makePki('rotated CA');
    pod = await startPodBroker(first);
  });
  after(() => pod?.broker.stop());

  test('kafka listener: a client connected before keeps working, a new handshake verifies (hostname included) against the new certificate', async () => {
    const port = pod.broker.kafkaPort!;
    const before = await KafkaWireClient.connect(port, { tls: { ca: first.ca.certPem } });
    assert.equal((await before.apiVersions()).errorCode, KafkaErrorCode.NONE);

    pod.kafkaTls.write(tlsPayload(rotated));
    // Trusting only the rotated CA, a handshake succeeds once the broker serves the new certificate.
    await waitFor('the new certificate on the kafka listener', async () => {
      try {
        (await KafkaWireClient.connect(port, { tls: { ca: rotated.ca.certPem } })).end();
        return true;
      } catch {
        return false;
      }
    });
    // The old CA no longer verifies what is served; hostname verification is on (the new
    // certificate names localhost and 127.0.0.1, nothing else).
    await assert.rejects(KafkaWireClient.connect(port, { tls: { ca: first.ca.certPem } }));
    assert.equal(await handshake(port, rotated.ca.certPem, 'localhost'), 'ok');
    assert.match(await handshake(port, rotated.ca.certPem, 'events-1.elsewhere.svc'), /ERR_TLS_CERT_ALTNAME_INVALID/);
    const after = await KafkaWireClient.connect(port, { tls: { ca: rotated.ca.certPem } });
    assert.equal((await after.apiVersions()).errorCode, KafkaErrorCode.NONE);
    after.end();
    // The connection made before the swap is still served.
    assert.equal((await before.apiVersions()).errorCode, KafkaErrorCode.NONE);
    before.end();
  });

  test('internal listener: after its Secret (certificate and client CA) is swapped, the operator with the new certificates is served and the old CA is not', async () => {
    const target = { host: '127.0.0.1', port: pod.broker.internalPort!, servername: 'localhost' };
    assert.equal((await readApplied(target, operatorTls(first))).outcome, 'ok');
    pod.internalTls.write(tlsPayload(rotated));
    await waitFor('the internal listener on the rotated CA', async () => (await readApplied(target, operatorTls(rotated), { timeoutMs: 2000 })).outcome === 'ok');
    assert.equal((await readApplied(target, operatorTls(first), { timeoutMs: 2000 })).outcome, 'unreachable');
  });
});

// --- SIGTERM ---------------------------------------------------------------------------------------------

describe('SIGTERM: the broker stops accepting, answers what it read, flushes, and exits 0', () => {
  const root = join(import.meta.dirname, '..');
  const PASSWORD = 'pod-termination-Password-1';

  /** `bulwark broker` as a process (from the sources, under tsx), as the pod runs it; resolves once it prints its Kafka port. */
  async function spawnBroker(dataDir: string) {
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'src', 'cli', 'entry.ts'), 'broker', '--data-dir', dataDir, '--kafka-port', '0', '--auto-create-topics'], {
      cwd: root,
      env: { ...process.env, BULWARK_ROOT_PASSWORD: PASSWORD, BULWARK_HTTP_ENABLED: 'false' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const exited = new Promise<{ code: number | null; at: number }>((resolve) => child.once('exit', (code) => resolve({ code, at: Date.now() })));
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no banner in 30 s: ${out} ${err}`)), 30_000);
      child.stdout.on('data', () => {
        const m = /Kafka on 127\.0\.0\.1:(\d+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      void exited.then(({ code }) => reject(new Error(`exited ${code}: ${out} ${err}`)));
    });
    return { child, port, exited, output: () => `${out}\n${err}` };
  }

  test('a produce acknowledged just before the signal, and every produce in flight that is answered, is there after a restart', async (t) => {
    const dataDir = join(tempDir('sigterm'), 'data');
    const first = await spawnBroker(dataDir);
    const client = await KafkaWireClient.connect(first.port);
    assert.equal((await client.scram('SCRAM-SHA-512', 'root', PASSWORD)).errorCode, KafkaErrorCode.NONE);
    await client.request(ApiKey.CreateTopics, 4, { topics: [{ name: 'orders', numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 5000, validateOnly: false });
    assert.equal((await client.produce('orders', { value: 'before-signal' })).errorCode, KafkaErrorCode.NONE);
    // Pipelined, then the signal at once: some are read before the stop begins, and those are answered.
    const inflight = Array.from({ length: 20 }, (_, i) =>
      client.produce('orders', { value: `inflight-${i}` }).then(
        (r) => (r.errorCode === KafkaErrorCode.NONE ? `inflight-${i}` : null),
        () => null,
      ),
    );
    const signalled = Date.now();
    first.child.kill('SIGTERM');
    const acked = (await Promise.all(inflight)).filter((v): v is string => v !== null);
    const { code, at } = await first.exited;
    assert.equal(code, 0, first.output());
    assert.ok(at - signalled < 10_000, `stopped in ${at - signalled} ms`);
    assert.match(first.output(), /bulwark: stopped/);
    t.diagnostic(`${acked.length} of 20 pipelined produces answered; exit ${at - signalled} ms after SIGTERM`);

    const second = await spawnBroker(dataDir);
    try {
      const read = await kcat(['-b', `127.0.0.1:${second.port}`, ...kcatScram('SCRAM-SHA-512', 'root', PASSWORD), '-C', '-t', 'orders', '-o', 'beginning', '-e', '-f', '%s\\n']);
      assert.equal(read.code, 0, read.stderr);
      const values = read.stdout.split('\n').filter((l) => l !== '');
      assert.equal(values[0], 'before-signal');
      for (const v of acked) assert.ok(values.includes(v), `${v} was acknowledged, so it survives`);
    } finally {
      second.child.kill('SIGTERM');
      assert.equal((await second.exited).code, 0);
    }
  });
});

// --- The whole pod contract, as a process ---------------------------------------------------------------

/** A port free now on 127.0.0.1 (the rendered config needs fixed ports, as in a pod). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

describe('bulwark broker as the operator runs it: the rendered JSON, Secret volumes, env identity, probes, a pushed policy, SIGTERM', () => {
  test('starts not ready, becomes ready on the push, serves kcat over TLS as broker 1 at its advertised host, and exits 0 on SIGTERM', async (t) => {
    const root = join(import.meta.dirname, '..');
    const dir = tempDir('process');
    const pki = await makePki('pod CA');
    const volume = (name: string) => {
      const v = new SecretVolume(join(dir, 'tls', name));
      v.write(tlsPayload(pki));
      return { certFile: v.path('tls.crt'), keyFile: v.path('tls.key'), caFile: v.path('ca.crt') };
    };
    const secret = new SecretVolume(join(dir, 'server-secret'));
    secret.write({ secret: Buffer.alloc(64, 0x5a) });
    const spec = cluster({
      replicas: 3,
      storage: { size: '1Gi' },
      listeners: [{ name: 'kafka', protocol: 'kafka', port: 9092, tls: { enabled: true }, authentication: ['anonymous'] }],
      authentication: { allowAnonymous: true },
      topics: { autoCreate: true },
    });
    const [kafkaPort, internalPort, probePort] = [await freePort(), await freePort(), await freePort()];
    const rendered = renderBrokerConfig(spec, { dataDir: join(dir, 'data'), tls: { kafka: volume('kafka') }, internalTls: volume('internal'), serverSecretFile: secret.path('secret') }, {
      bindHost: '127.0.0.1',
      clusterId: 'streaming.events',
      ports: { kafka: kafkaPort },
      internalPort,
      internalClients: [OPERATOR_CN],
      probePort,
    });
    const configFile = join(dir, 'broker.json');
    writeFileSync(configFile, JSON.stringify(rendered));

    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'src', 'cli', 'entry.ts'), 'broker', '--config', configFile, '--advertised-host', 'localhost'], {
      cwd: root,
      env: { ...process.env, BULWARK_BROKER_ID: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<{ code: number | null; at: number }>((resolve) => child.once('exit', (code) => resolve({ code, at: Date.now() })));
    try {
      await waitFor('the probe listener', async () => (await get(probePort, '/healthz').catch(() => ({ status: 0 }))).status === 200, 30_000);
      const notYet = await get(probePort, '/readyz');
      assert.equal(notYet.status, 503, out);
      assert.match(notYet.body, /no policy snapshot yet/);

      // What the operator compiles: anonymous clients may use every topic (a test shape only).
      const compiled = compilePolicy({
        cluster: { namespace: NS, name: CLUSTER },
        resources: [
          resource('BrokerCluster', CLUSTER, { replicas: 1, storage: { size: '1Gi' }, listeners: [{ name: 'kafka', protocol: 'kafka', port: 9092 }], authentication: { allowAnonymous: true } }),
          grant('anonymous-all', { subjects: [{ kind: 'User', name: 'system:anonymous' }], topics: ['*'], actions: ['all'] }),
        ],
      });
      const policy = sealSnapshot(compiled.snapshot, 1);
      const pushed = await pushSnapshot({ host: '127.0.0.1', port: internalPort, servername: 'localhost' }, operatorTls(pki), policy);
      assert.equal(pushed.outcome, 'applied', JSON.stringify(pushed));
      // And the ClusterState: this broker (id 1 from BULWARK_BROKER_ID) alone, leading pod-check.
      const self = { id: 1, host: 'localhost', port: kafkaPort, rack: null };
      const state = { clusterId: 'streaming.events', version: 1, controllerId: 1, brokers: [self], topics: [{ name: 'pod-check', id: 'c0ffee'.padEnd(32, '0'), partitions: assignPartitions([self], 'pod-check', 1, 1), config: {} }] };
      const stated = await pushClusterState({ host: '127.0.0.1', port: internalPort, servername: 'localhost' }, operatorTls(pki), state);
      assert.equal(stated.outcome, 'applied', JSON.stringify(stated));
      assert.equal((await get(probePort, '/readyz')).status, 200);

      const tls = ['-X', 'security.protocol=SSL', '-X', `ssl.ca.location=${secret.dir}/../tls/kafka/ca.crt`];
      const meta = await kcat(['-b', `localhost:${kafkaPort}`, ...tls, '-L']);
      assert.equal(meta.code, 0, meta.stderr);
      assert.match(meta.stdout, new RegExp(`broker 1 at localhost:${kafkaPort}`));
      const produced = await kcat(['-b', `localhost:${kafkaPort}`, ...tls, '-P', '-t', 'pod-check'], { input: 'from the pod\n' });
      assert.equal(produced.code, 0, produced.stderr);
      const consumed = await kcat(['-b', `localhost:${kafkaPort}`, ...tls, '-C', '-t', 'pod-check', '-o', 'beginning', '-e', '-f', '%s\\n']);
      assert.equal(consumed.stdout.trim(), 'from the pod', consumed.stderr);
    } finally {
      const signalled = Date.now();
      child.kill('SIGTERM');
      const { code, at } = await exited;
      t.diagnostic(`exit ${code} ${at - signalled} ms after SIGTERM`);
      assert.equal(code, 0, out);
      assert.ok(at - signalled < 10_000);
    }
  });
});
