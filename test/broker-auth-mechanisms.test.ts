// Logging in to the broker, as a user would with kcat and kafkajs: every mechanism of issue 6 on
// a real listener (SCRAM on plaintext; PLAIN, access tokens and client certificates over TLS;
// anonymous), each producing and consuming a record it is granted. Then the failures: a wrong
// password, an unknown user and a disabled user look the same to the client, the connection is
// closed, and the audit file says which it was. A listener that would send PLAIN passwords in
// the clear does not start.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { KafkaErrorCode } from '../src/kafka/error-codes.ts';
import { ApiKey } from '../src/kafka/index.ts';
import { generateToken } from '../src/policy/credentials.ts';
import { startTestBroker, type SecureTestBroker } from './harness/broker.ts';
import { kafkajs, kafkajsRoundTrip, kcat, kcatMtls, kcatPlainTls, kcatRoundTrip, kcatScram } from './harness/clients.ts';
import { KafkaWireClient } from '../tools/kafka-wire/client.ts';
import { accessTokenYaml, brokerClusterYaml, roleYaml, topicGrantYaml, userYaml } from './harness/policy.ts';

const PASSWORDS = {
  'svc-256': 'Scram256-Orders-Pw!41',
  'svc-512': 'Scram512-Billing-Pw!52',
  carol: 'Argon2-Carol-Passw0rd!',
  mallory: 'Disabled-Mallory-Pw!63',
};
const TOKEN = generateToken();
const CERT_SUBJECT = 'dave.clients.example';

const policy = {
  'cluster.yaml': brokerClusterYaml({ allowAnonymous: true }),
  'roles.yaml': roleYaml('app-rw', [
    { topics: ['auth-*'], actions: ['read', 'write'] },
    { groups: ['auth-*'], actions: ['read'] },
  ]),
  'svc-256.yaml': userYaml('svc-256', { type: 'scram-sha-256', password: PASSWORDS['svc-256'], roles: ['app-rw'] }),
  'svc-512.yaml': userYaml('svc-512', { type: 'scram-sha-512', password: PASSWORDS['svc-512'], roles: ['app-rw'] }),
  'carol.yaml': userYaml('carol', { type: 'password', password: PASSWORDS.carol, roles: ['app-rw'] }),
  'mallory.yaml': userYaml('mallory', { type: 'scram-sha-256', password: PASSWORDS.mallory, roles: ['app-rw'], disabled: true }),
  'dave.yaml': userYaml('dave', { type: 'tls', certificateSubject: CERT_SUBJECT, roles: ['app-rw'] }),
  // A tls user needs no password: its application logs in with the access token only.
  'reporter.yaml': userYaml('reporter', { type: 'tls', roles: ['app-rw'] }),
  'reporter-token.yaml': accessTokenYaml('reporter-ci', 'reporter', TOKEN),
  'anonymous.yaml': topicGrantYaml('anonymous-public', { users: ['system:anonymous'], topics: ['public-*'], consumerGroups: ['public-*'], actions: ['read', 'write'] }),
};

let b: SecureTestBroker;

/** The authentication events of the audit file, newest last. */
const authEvents = async () => (await b.auditEvents()).filter((e) => e.type === 'authentication');

describe('each mechanism with kcat and kafkajs', () => {
  before(async () => {
    await promisify(execFile)('kcat', ['-V']); // fail loudly, not skip, when kcat is missing
    b = await startTestBroker({ security: { policy } });
    for (const topic of ['auth-scram256', 'auth-scram512', 'auth-plain', 'auth-token', 'auth-mtls', 'public-anon']) b.broker.topics.createTopic(topic, 1);
  });
  after(() => b?.stop());

  /** kcat produces two lines and reads them back; kafkajs produces two records and a consumer group reads them back. */
  async function bothClients(opts: { bootstrap: string; kcat: string[]; kafkajs: Parameters<typeof kafkajs>[1]; topic: string; group: string }) {
    const k = await kcatRoundTrip(opts.bootstrap, opts.kcat, opts.topic, ['kcat-1', 'kcat-2']);
    assert.equal(k.produced.code, 0, k.produced.stderr);
    assert.equal(k.consumed.code, 0, k.consumed.stderr);
    assert.deepEqual(k.values, ['kcat-1', 'kcat-2']);
    const { kafka } = kafkajs(opts.bootstrap, opts.kafkajs);
    const seen = await kafkajsRoundTrip(kafka, opts.topic, opts.group, ['js-1', 'js-2']);
    assert.deepEqual(seen, ['kcat-1', 'kcat-2', 'js-1', 'js-2'], 'the group reads everything from the beginning');
  }

  // The same checks for both SCRAM mechanisms: each user logs in with its own mechanism only.
  for (const [mechanism, other, user] of [
    ['SCRAM-SHA-256', 'SCRAM-SHA-512', 'svc-256'],
    ['SCRAM-SHA-512', 'SCRAM-SHA-256', 'svc-512'],
  ] as const) {
    test(`${mechanism} on the plaintext listener`, async () => {
      const password = PASSWORDS[user];
      const topic = `auth-${mechanism.toLowerCase().replace('-sha-', '')}`;
      await bothClients({
        bootstrap: b.address('kafka'),
        kcat: kcatScram(mechanism, user, password),
        kafkajs: { sasl: { mechanism: mechanism.toLowerCase() as 'scram-sha-256' | 'scram-sha-512', username: user, password } },
        topic,
        group: `${topic}-group`,
      });
      const ok = (await authEvents()).filter((e) => e.outcome === 'success' && e.user === user);
      assert.ok(ok.length >= 3 && ok.every((e) => e.mechanism === mechanism && e.listener === 'kafka'), JSON.stringify(ok));
      // A user of one SCRAM mechanism: the other one does not log it in.
      const refused = await kcat(['-b', b.address('kafka'), ...kcatScram(other, user, password), '-P', '-t', topic], { input: 'x\n' });
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /SASL authentication error: Authentication failed/);
    });
  }

  test('PLAIN over TLS: a password user, checked against its argon2id hash', async () => {
    const password = PASSWORDS.carol;
    await bothClients({
      bootstrap: b.address('tls'),
      kcat: kcatPlainTls('carol', password, b.pki.caFile),
      kafkajs: { sasl: { mechanism: 'plain', username: 'carol', password }, ssl: { ca: [b.pki.ca.certPem], servername: 'localhost' } },
      topic: 'auth-plain',
      group: 'auth-plain-group',
    });
    const ok = (await authEvents()).filter((e) => e.outcome === 'success' && e.user === 'carol');
    assert.ok(ok.length >= 3 && ok.every((e) => e.mechanism === 'PLAIN' && e.listener === 'tls'), JSON.stringify(ok));
  });

  test('PLAIN over TLS with the username `token` and an access token as the password', async () => {
    await bothClients({
      bootstrap: b.address('tls'),
      kcat: kcatPlainTls('token', TOKEN, b.pki.caFile),
      kafkajs: { sasl: { mechanism: 'plain', username: 'token', password: TOKEN }, ssl: { ca: [b.pki.ca.certPem], servername: 'localhost' } },
      topic: 'auth-token',
      group: 'auth-token-group',
    });
    // The audit log names the token's user and the token's id, never the token.
    const ok = (await authEvents()).filter((e) => e.outcome === 'success' && e.tokenId !== undefined);
    assert.ok(ok.length >= 3, JSON.stringify(ok));
    for (const e of ok) assert.deepEqual([e.user, e.tokenId, e.mechanism], ['reporter', 'reporter-ci', 'PLAIN']);
  });

  test("mTLS: a client certificate from the CA whose CN is the tls user's certificateSubject", async () => {
    const cert = await b.pki.client(CERT_SUBJECT);
    await bothClients({
      bootstrap: b.address('tls'),
      kcat: kcatMtls(b.pki.caFile, cert),
      kafkajs: { ssl: { ca: [b.pki.ca.certPem], cert: cert.certPem, key: cert.keyPem, servername: 'localhost' } },
      topic: 'auth-mtls',
      group: 'auth-mtls-group',
    });
    const ok = (await authEvents()).filter((e) => e.outcome === 'success' && e.user === 'dave');
    assert.ok(ok.length >= 3 && ok.every((e) => e.mechanism === 'certificate' && e.listener === 'tls'), JSON.stringify(ok));
    // A certificate naming nobody in the policy is no identity: the TLS-only client cannot do anything.
    const stranger = await b.pki.client('stranger.clients.example');
    const refused = await kcat(['-b', b.address('tls'), ...kcatMtls(b.pki.caFile, stranger), '-L', '-m', '2']);
    assert.notEqual(refused.code, 0);
    assert.doesNotMatch(refused.stdout, /auth-mtls/);
  });

  test('anonymous on the anonymous listener while allowAnonymous is on; refused, and open sessions closed, once it is off', async () => {
    await bothClients({ bootstrap: b.address('anon'), kcat: [], kafkajs: {}, topic: 'public-anon', group: 'public-anon-group' });
    // Anonymous gets only what system:anonymous is granted.
    const forbidden = await kcat(['-b', b.address('anon'), '-C', '-t', 'auth-plain', '-o', 'beginning', '-e']);
    assert.notEqual(forbidden.code, 0);
    assert.match(forbidden.stderr, /Topic authorization failed|not authorized/i);

    const open = await KafkaWireClient.connect(b.port('anon'));
    assert.equal((await open.request(ApiKey.Metadata, 1, { topics: null })).topics.some((t) => t.name === 'public-anon'), true);

    // Turn anonymous access off in the BrokerCluster.
    const version = b.broker.policy.applied.version;
    b.policy.write('cluster.yaml', brokerClusterYaml({ allowAnonymous: false }));
    await b.policyAfter(version);
    const closedAt = await Promise.race([open.closedAt, new Promise<undefined>((r) => setTimeout(() => r(undefined), 2000))]);
    assert.ok(closedAt !== undefined, 'the open anonymous connection is closed');

    const kcatRefused = await kcat(['-b', b.address('anon'), '-L', '-m', '2']);
    assert.notEqual(kcatRefused.code, 0, kcatRefused.stdout);
    const { kafka } = kafkajs(b.address('anon'), { retries: 0 });
    const producer = kafka.producer();
    await assert.rejects(producer.connect().then(() => producer.send({ topic: 'public-anon', messages: [{ value: 'refused' }] })));
    await producer.disconnect();
    assert.equal(b.broker.topics.partition('public-anon', 0)!.nextOffset, 4, 'nothing more was written');
    // Anonymous is a fallback, not a login: refusing it is not an authentication failure to audit.
    assert.ok(!(await authEvents()).some((e) => e.outcome === 'failure' && e.mechanism === 'anonymous'));
    const closes = (await b.auditEvents()).filter((e) => e.type === 'connection');
    assert.ok(closes.some((e) => e.reason === 'AnonymousDisabled' && e.user === 'system:anonymous' && e.listener === 'anon'), JSON.stringify(closes));

    b.policy.write('cluster.yaml', brokerClusterYaml({ allowAnonymous: true }));
    await b.policyAfter(b.broker.policy.applied.version);
  });
});

describe('failed logins', () => {
  before(async () => {
    b = await startTestBroker({ security: { policy } });
    b.broker.topics.createTopic('auth-failures', 1);
  });
  after(() => b?.stop());

  const CASES = [
    { why: 'a wrong password', user: 'svc-256', password: 'Not-The-Right-Pw!70', reason: 'BadCredentials' },
    { why: 'an unknown user', user: 'nobody', password: 'Whatever-Pw-Nobody!81', reason: 'UnknownUser' },
    { why: 'a disabled user, with its right password', user: 'mallory', password: PASSWORDS.mallory, reason: 'UserDisabled' },
  ] as const;

  test('wrong password, unknown user and disabled user get the same error, the connection is closed, and the audit file says why', async () => {
    const kcatErrors: string[] = [];
    const kafkajsErrors: string[] = [];
    for (const c of CASES) {
      // kcat (SCRAM-SHA-256 on the plaintext listener): the producer gives up with an authentication failure.
      const r = await kcat(['-b', b.address('kafka'), ...kcatScram('SCRAM-SHA-256', c.user, c.password), '-P', '-t', 'auth-failures'], { input: 'never\n' });
      assert.notEqual(r.code, 0, `${c.why}: kcat must fail`);
      assert.match(r.stderr, /Local: Authentication failure/, c.why);
      kcatErrors.push(/SASL authentication error: ([^(]*)/.exec(r.stderr)?.[1]?.trim() ?? `no SASL error in: ${r.stderr}`);

      // kafkajs (PLAIN over TLS).
      const { kafka } = kafkajs(b.address('tls'), { sasl: { mechanism: 'plain', username: c.user, password: c.password }, ssl: { ca: [b.pki.ca.certPem], servername: 'localhost' }, retries: 0 });
      const producer = kafka.producer();
      const err = (await producer.connect().then(
        () => undefined,
        (e: unknown) => e,
      )) as Error | undefined;
      await producer.disconnect();
      assert.ok(err, `${c.why}: kafkajs must fail`);
      assert.equal(err.name, 'KafkaJSSASLAuthenticationError', `${c.why}: ${err.message}`);
      kafkajsErrors.push(err.message);

      // The connection itself: SASL_AUTHENTICATION_FAILED, then the broker closes it.
      const raw = await KafkaWireClient.connect(b.port('tls'), { tls: { ca: b.pki.ca.certPem } });
      const failedAt = Date.now();
      assert.equal((await raw.plain(c.user, c.password)).errorCode, KafkaErrorCode.SASL_AUTHENTICATION_FAILED, c.why);
      assert.ok((await raw.closedAt) - failedAt < 1000, `${c.why}: the broker closes the connection`);

      // The right credentials still work from this address (and reset its login backoff).
      const good = await kcat(['-b', b.address('kafka'), ...kcatScram('SCRAM-SHA-256', 'svc-256', PASSWORDS['svc-256']), '-L', '-m', '5']);
      assert.equal(good.code, 0, good.stderr);
    }
    assert.deepEqual(kcatErrors, ['Authentication failed', 'Authentication failed', 'Authentication failed'], 'kcat cannot tell the cases apart');
    assert.equal(new Set(kafkajsErrors).size, 1, `kafkajs cannot tell the cases apart: ${kafkajsErrors.join(' | ')}`);

    const failures = (await authEvents()).filter((e) => e.outcome === 'failure');
    for (const c of CASES) {
      for (const [listener, mechanism] of [
        ['kafka', 'SCRAM-SHA-256'],
        ['tls', 'PLAIN'],
      ]) {
        const seen = failures.filter((e) => e.user === c.user && e.listener === listener && e.mechanism === mechanism);
        assert.ok(seen.length >= 1, `${c.why} over ${mechanism} is audited: ${JSON.stringify(failures)}`);
        assert.ok(
          seen.every((e) => e.reason === c.reason && e.clientIp === '127.0.0.1'),
          `${c.why} over ${mechanism} is audited as ${c.reason}: ${JSON.stringify(seen)}`,
        );
      }
    }
  });
});

test('a broker whose listener would take PLAIN (or HTTP password login) without TLS refuses to start: BWK_ERR_CONFIG_INVALID', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-auth-config-'));
  try {
    const config = join(dir, 'broker.yaml');
    writeFileSync(
      config,
      [`dataDir: ${join(dir, 'data')}`, 'kafka:', '  port: 0', '  authentication: [scram-sha-256, plain]', 'http:', '  port: 0', '  authentication: [password, bearer]', ''].join('\n'),
    );
    const bin = join(import.meta.dirname, '..', 'bin', 'bulwark.js');
    const run = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(process.execPath, [bin, 'broker', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, out });
      });
    });
    assert.notEqual(run.code, 0, run.out);
    assert.notEqual(run.code, null, 'the broker exits on its own instead of running');
    assert.match(run.out, /BWK_ERR_CONFIG_INVALID/);
    assert.match(run.out, /kafka\.authentication: plain sends the password itself and needs TLS/);
    // HTTP password login sends the password too: the same rule.
    assert.match(run.out, /http\.authentication: password sends the password itself and needs TLS/);
    assert.doesNotMatch(run.out, /Kafka on/, 'no listener was started');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
