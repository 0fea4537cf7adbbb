// SASL re-authentication (KIP-368), as a user checks it: the broker tells each SASL login how
// long it lasts (auth.maxSessionLifetimeMs here 3 s, or an access token's remaining life when
// that is sooner); the Java client and librdkafka log in again on its open connection before then and keeps
// working; a client that does not is disconnected at its next request; a re-authentication may
// not change the user or the mechanism.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { sessionLifetime } from '../src/broker/kafka/sasl.ts';
import { KafkaErrorCode } from '../src/kafka/error-codes.ts';
import { ApiKey } from '../src/kafka/index.ts';
import { generateToken } from '../src/policy/credentials.ts';
import { KafkaWireClient } from '../tools/kafka-wire/client.ts';
import { startTestBroker, type SecureTestBroker } from './harness/broker.ts';
import { accessTokenYaml, brokerClusterYaml, roleYaml, userYaml } from './harness/policy.ts';
import { javaArgs, kafkaPeerEnv } from '../tools/kafka/peer-env.ts';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..');
const LIFETIME_MS = 3000;
const PASSWORDS = { svc: 'Reauth-Service-Pw!29', other: 'Reauth-Other-Pw!53', sha512: 'Reauth-512-Pw!71' } as const;

let b: SecureTestBroker;

/** The broker's log lines with this message, parsed. */
const logged = (msg: string) => b.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === msg);
async function expiredClosures(): Promise<number> {
  return (await b.broker.metrics.sessionsClosed.get()).values.find((v) => v.labels.reason === 'SessionExpired')?.value ?? 0;
}
const metadata = (c: KafkaWireClient) => c.request(ApiKey.Metadata, 8, { topics: null, allowAutoTopicCreation: false, includeClusterAuthorizedOperations: false, includeTopicAuthorizedOperations: false });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('SASL re-authentication (KIP-368)', () => {
  before(async () => {
    b = await startTestBroker({
      config: { auth: { maxSessionLifetimeMs: LIFETIME_MS } },
      security: {
        policy: {
          'cluster.yaml': brokerClusterYaml(),
          'roles.yaml': roleYaml('app-rw', [{ topics: ['reauth-*'], actions: ['read', 'write', 'describe', 'create'] }, { groups: ['reauth-*'], actions: ['read'] }]),
          'svc.yaml': userYaml('svc', { type: 'scram-sha-256', password: PASSWORDS.svc, roles: ['app-rw'] }),
          'other.yaml': userYaml('other', { type: 'scram-sha-256', password: PASSWORDS.other, roles: ['app-rw'] }),
          'sha512.yaml': userYaml('sha512', { type: 'scram-sha-512', password: PASSWORDS.sha512, roles: ['app-rw'] }),
          'reporter.yaml': userYaml('reporter', { type: 'tls', roles: ['app-rw'] }),
        },
      },
    });
    for (const topic of ['reauth-raw', 'reauth-java', 'reauth-rdkafka']) b.broker.topics.createTopic(topic, 1);
  });
  after(() => b?.stop());

  test('the session lifetime is the configured maximum or the token expiry, the sooner; none without either', () => {
    assert.equal(sessionLifetime(1000, 3000, undefined), 3000);
    assert.equal(sessionLifetime(1000, 3000, 2500), 1500, 'a token expiring sooner bounds the session');
    assert.equal(sessionLifetime(1000, null, 61_000), 60_000, 'a token bounds the session even without a maximum');
    assert.equal(sessionLifetime(1000, null, undefined), undefined);
    assert.equal(sessionLifetime(1000, 3000, 1000), 1, 'never 0, which would mean "no limit" to the client');
  });

  test('a raw client that re-authenticates on its connection keeps working past several lifetimes', async () => {
    const c = await KafkaWireClient.connect(b.port('kafka'));
    try {
      const first = await c.scram('SCRAM-SHA-256', 'svc', PASSWORDS.svc);
      assert.equal(first.errorCode, KafkaErrorCode.NONE);
      assert.ok(first.sessionLifetimeMs! > 0 && first.sessionLifetimeMs! <= LIFETIME_MS, `lifetime ${first.sessionLifetimeMs}`);
      const start = Date.now();
      while (Date.now() - start < 2.5 * LIFETIME_MS) {
        await sleep(LIFETIME_MS / 2);
        const again = await c.scram('SCRAM-SHA-256', 'svc', PASSWORDS.svc);
        assert.equal(again.errorCode, KafkaErrorCode.NONE, 'the re-authentication succeeds');
        assert.ok(again.sessionLifetimeMs! > LIFETIME_MS / 2, 'each re-authentication starts a new lifetime');
        assert.equal((await c.produce('reauth-raw', { value: 'still here' })).errorCode, KafkaErrorCode.NONE);
      }
      assert.ok((await metadata(c)).topics.length > 0);
    } finally {
      c.close();
    }
  });

  test('a raw client that does not re-authenticate is disconnected at its first request after the lifetime', async () => {
    const before = await expiredClosures();
    const c = await KafkaWireClient.connect(b.port('kafka'));
    try {
      assert.equal((await c.scram('SCRAM-SHA-256', 'svc', PASSWORDS.svc)).errorCode, KafkaErrorCode.NONE);
      assert.equal((await c.produce('reauth-raw', { value: 'in time' })).errorCode, KafkaErrorCode.NONE);
      await sleep(LIFETIME_MS + 200);
      await assert.rejects(c.produce('reauth-raw', { value: 'too late' }), 'the request is not answered');
      assert.ok(await c.closesWithin(1000), 'the broker closed the connection');
      assert.equal(await expiredClosures(), before + 1);
      assert.ok(logged('SASL session expired without re-authentication; connection closed').some((l) => l.user === 'svc'));
    } finally {
      c.close();
    }
  });

  test('a re-authentication as another user, or with another mechanism, fails and closes the connection', async () => {
    const c = await KafkaWireClient.connect(b.port('kafka'));
    assert.equal((await c.scram('SCRAM-SHA-256', 'svc', PASSWORDS.svc)).errorCode, KafkaErrorCode.NONE);
    const swapped = await c.scram('SCRAM-SHA-256', 'other', PASSWORDS.other);
    assert.equal(swapped.errorCode, KafkaErrorCode.SASL_AUTHENTICATION_FAILED, 'right password, wrong principal');
    assert.equal(swapped.errorMessage, 'Authentication failed', 'the generic message');
    assert.ok(await c.closesWithin(1000));
    const events = (await b.auditEvents()).filter((e) => e.type === 'authentication' && e.reason === 'PrincipalChanged');
    assert.ok(events.some((e) => e.user === 'other'), JSON.stringify(events));

    const d = await KafkaWireClient.connect(b.port('kafka'));
    assert.equal((await d.scram('SCRAM-SHA-256', 'svc', PASSWORDS.svc)).errorCode, KafkaErrorCode.NONE);
    const hs = await d.request(ApiKey.SaslHandshake, 1, { mechanism: 'SCRAM-SHA-512' });
    assert.equal(hs.errorCode, KafkaErrorCode.ILLEGAL_SASL_STATE);
    assert.ok(await d.closesWithin(1000));
  });

  test('a login with an access token lasts no longer than the token', async () => {
    const token = generateToken();
    const expiresAt = new Date(Date.now() + 2000);
    const version = b.broker.policy.snapshot.version;
    b.policy.write('reporter-token.yaml', accessTokenYaml('reporter-short', 'reporter', token, { expiresAt: expiresAt.toISOString() }));
    await b.policyAfter(version);
    const c = await KafkaWireClient.connect(b.port('tls'), { tls: { ca: b.pki.ca.certPem } });
    try {
      const login = await c.plain('token', token);
      const remaining = expiresAt.getTime() - Date.now();
      assert.equal(login.errorCode, KafkaErrorCode.NONE);
      assert.ok(login.sessionLifetimeMs! > 0 && login.sessionLifetimeMs! <= remaining + 50 && login.sessionLifetimeMs! < LIFETIME_MS, `lifetime ${login.sessionLifetimeMs}, token has ${remaining} ms left`);
    } finally {
      c.close();
      b.policy.remove('reporter-token.yaml');
    }
  });

  test('the Java client re-authenticates on its open connections and keeps producing past several lifetimes', { timeout: 20 * 60_000 }, async (t) => {
    const env = await kafkaPeerEnv();
    const dir = mkdtempSync(join(tmpdir(), 'bulwark-reauth-java-'));
    try {
      const props = join(dir, 'producer.properties');
      writeFileSync(
        props,
        [
          `bootstrap.servers=${b.address('kafka')}`,
          'security.protocol=SASL_PLAINTEXT',
          'sasl.mechanism=SCRAM-SHA-256',
          `sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="svc" password="${PASSWORDS.svc}";`,
          'acks=all',
          '',
        ].join('\n'),
        { mode: 0o600 },
      );
      const before = await expiredClosures();
      const reauthsBefore = logged('SASL session re-authenticated').length;
      // 60 records at 5 a second: 12 s, four lifetimes.
      const produced = await run(
        env.JAVA,
        javaArgs(env, 'org.apache.kafka.tools.ProducerPerformance', ['--topic', 'reauth-java', '--num-records', '60', '--record-size', '100', '--throughput', '5', '--producer.config', props]),
        { timeout: 120_000, maxBuffer: 8 << 20 },
      );
      assert.match(produced.stdout, /60 records sent/);
      assert.equal(b.broker.topics.partition('reauth-java', 0)!.nextOffset, 60, 'every record appended once');
      const reauths = logged('SASL session re-authenticated').slice(reauthsBefore).filter((l) => l.user === 'svc');
      const perSession = new Map<unknown, number>();
      for (const l of reauths) perSession.set(l.session, Math.max(perSession.get(l.session) ?? 0, l.reauthentications as number));
      t.diagnostic(`re-authentications per connection: ${JSON.stringify([...perSession.values()])}`);
      assert.ok(Math.max(0, ...perSession.values()) >= 3, `one connection re-authenticated at least 3 times: ${JSON.stringify([...perSession])}`);
      assert.equal(await expiredClosures(), before, 'no connection of the Java client outlived its session');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('librdkafka (2.2 and later) re-authenticates on its open connection and keeps producing past several lifetimes', { timeout: 10 * 60_000 }, async (t) => {
    // Debian's kcat links librdkafka 2.0, which has no re-authentication: the current librdkafka comes from PyPI (scripts/librdkafka-peer.sh).
    const { stdout } = await run('bash', [join(root, 'scripts', 'librdkafka-peer.sh'), 'env'], { maxBuffer: 1 << 20, timeout: 5 * 60_000 });
    const env = Object.fromEntries(stdout.trim().split('\n').map((l) => l.split('=', 2) as [string, string]));
    const before = await expiredClosures();
    const reauthsBefore = logged('SASL session re-authenticated').length;
    const child = spawn(env.PYTHON!, [join(root, 'tools', 'librdkafka', 'produce.py'), b.address('kafka'), 'reauth-rdkafka', String((3.5 * LIFETIME_MS) / 1000), '250'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdin.end(['security.protocol=SASL_PLAINTEXT', 'sasl.mechanisms=SCRAM-SHA-256', 'sasl.username=svc', `sasl.password=${PASSWORDS.svc}`, ''].join('\n'));
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    assert.equal(code, 0, `${out}\n${err}`);
    const delivered = Number(/delivered (\d+) failed 0/.exec(out)?.[1]);
    assert.ok(delivered >= 10, out);
    assert.equal(b.broker.topics.partition('reauth-rdkafka', 0)!.nextOffset, delivered, 'every record appended once');
    const reauths = logged('SASL session re-authenticated').slice(reauthsBefore).filter((l) => l.user === 'svc');
    const most = Math.max(0, ...reauths.map((l) => l.reauthentications as number));
    t.diagnostic(`librdkafka ${env.LIBRDKAFKA_VERSION}: ${reauths.length} re-authentications, at most ${most} on one connection`);
    assert.ok(most >= 3, `one connection re-authenticated at least 3 times (${reauths.length} in all)`);
    assert.equal(await expiredClosures(), before, 'no connection of librdkafka outlived its session');
  });
});
