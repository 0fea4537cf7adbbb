// Secrets never reach a log. Log in every way there is, right and wrong (SCRAM with kcat and
// kafkajs, PLAIN with a password and with an access token, HTTP password login, Bearer JWTs and
// access tokens), then look for every password, token and JWT used in everything the broker
// wrote: the audit file, the __audit topic (read back with kcat as the root super user), the
// broker's own log lines, and whatever this process printed.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { KafkaErrorCode } from '../src/kafka/error-codes.ts';
import { generateToken } from '../src/policy/credentials.ts';
import { startTestBroker, type SecureTestBroker } from './harness/broker.ts';
import { https, kafkajs, kcat, kcatScram } from './harness/clients.ts';
import { KafkaWireClient } from '../tools/kafka-wire/client.ts';
import { accessTokenYaml, brokerClusterYaml, roleYaml, userYaml } from './harness/policy.ts';

const ROOT_PASSWORD = 'Root-Redaction-Pw!x9Q4';
const PASSWORDS = { 'svc-256': 'Redact-Scram256-Pw!a1Z', 'svc-512': 'Redact-Scram512-Pw!b2Y', carol: 'Redact-Argon2-Carol!c3X' };
/** Passwords typed wrong: still secrets (often a near miss of the real one, or another system's). */
const WRONG = { scram: 'Typo-Scram-Pw!d4W', plain: 'Typo-Plain-Pw!e5V', http: 'Typo-Http-Pw!f6U' };
const TOKEN = generateToken();
const UNKNOWN_TOKEN = generateToken();

/** Everything this process writes to stdout and stderr while the test runs (passed through as well). */
const printed: string[] = [];
const originalWrites = { out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr) };
function capture(stream: NodeJS.WriteStream, original: typeof process.stdout.write): void {
  stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    printed.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return (original as (...a: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stdout.write;
}

let b: SecureTestBroker;

before(async () => {
  capture(process.stdout, originalWrites.out);
  capture(process.stderr, originalWrites.err);
  b = await startTestBroker({
    security: {
      policy: {
        'cluster.yaml': brokerClusterYaml(),
        'roles.yaml': roleYaml('app-rw', [
          { topics: ['redact-*'], actions: ['read', 'write'] },
          { groups: ['redact-*'], actions: ['read'] },
        ]),
        'svc-256.yaml': userYaml('svc-256', { type: 'scram-sha-256', password: PASSWORDS['svc-256'], roles: ['app-rw'] }),
        'svc-512.yaml': userYaml('svc-512', { type: 'scram-sha-512', password: PASSWORDS['svc-512'], roles: ['app-rw'] }),
        'carol.yaml': userYaml('carol', { type: 'password', password: PASSWORDS.carol, roles: ['app-rw'] }),
        'reporter.yaml': userYaml('reporter', { type: 'tls', roles: ['app-rw'] }),
        'reporter-token.yaml': accessTokenYaml('reporter-ci', 'reporter', TOKEN),
      },
    },
    config: { audit: { logAllowed: true } },
    env: { BULWARK_ROOT_PASSWORD: ROOT_PASSWORD },
  });
  b.broker.topics.createTopic('redact-orders', 1);
  b.broker.topics.createTopic('forbidden-topic', 1);
});
after(async () => {
  process.stdout.write = originalWrites.out;
  process.stderr.write = originalWrites.err;
  await b?.stop();
});

test('no password, token or JWT appears in the audit file, the __audit topic, the broker log or the test output', async (t) => {
  const secrets: Record<string, string> = {
    'root password': ROOT_PASSWORD,
    'svc-256 password': PASSWORDS['svc-256'],
    'svc-512 password': PASSWORDS['svc-512'],
    'carol password': PASSWORDS.carol,
    'wrong SCRAM password': WRONG.scram,
    'wrong PLAIN password': WRONG.plain,
    'wrong HTTP password': WRONG.http,
    'access token': TOKEN,
    'access token without its prefix': TOKEN.slice('bwk_'.length),
    'unknown access token': UNKNOWN_TOKEN,
  };
  const tls = { ca: [b.pki.ca.certPem], servername: 'localhost' };

  // SCRAM-SHA-256 with kcat: right, then wrong.
  const ok256 = await kcat(['-b', b.address('kafka'), ...kcatScram('SCRAM-SHA-256', 'svc-256', PASSWORDS['svc-256']), '-P', '-t', 'redact-orders'], { input: 'from kcat\n' });
  assert.equal(ok256.code, 0, ok256.stderr);
  const bad256 = await kcat(['-b', b.address('kafka'), ...kcatScram('SCRAM-SHA-256', 'svc-256', WRONG.scram), '-P', '-t', 'redact-orders'], { input: 'never\n' });
  assert.notEqual(bad256.code, 0);

  // SCRAM-SHA-512 with kafkajs: right (a produce and a denied one), then wrong.
  const good = kafkajs(b.address('kafka'), { sasl: { mechanism: 'scram-sha-512', username: 'svc-512', password: PASSWORDS['svc-512'] }, retries: 0 });
  const producer = good.kafka.producer();
  await producer.connect();
  await producer.send({ topic: 'redact-orders', messages: [{ value: 'from kafkajs' }] });
  await assert.rejects(producer.send({ topic: 'forbidden-topic', messages: [{ value: 'denied' }] }));
  await producer.disconnect();
  const bad = kafkajs(b.address('kafka'), { sasl: { mechanism: 'scram-sha-512', username: 'svc-512', password: WRONG.scram }, retries: 0 });
  const badProducer = bad.kafka.producer();
  await assert.rejects(badProducer.connect());
  await badProducer.disconnect();

  // PLAIN over TLS with a password and with the access token, each right and wrong.
  for (const [user, password, expected] of [
    ['carol', PASSWORDS.carol, KafkaErrorCode.NONE],
    ['carol', WRONG.plain, KafkaErrorCode.SASL_AUTHENTICATION_FAILED],
    ['token', TOKEN, KafkaErrorCode.NONE],
    ['token', UNKNOWN_TOKEN, KafkaErrorCode.SASL_AUTHENTICATION_FAILED],
  ] as const) {
    const raw = await KafkaWireClient.connect(b.port('tls'), { tls: { ca: b.pki.ca.certPem } });
    assert.equal((await raw.plain(user, password)).errorCode, expected, `${user} over PLAIN`);
    if (expected === KafkaErrorCode.NONE) {
      assert.equal((await raw.produce('redact-orders', { value: `from ${user}` })).errorCode, KafkaErrorCode.NONE);
      assert.equal((await raw.produce('forbidden-topic', { value: 'denied' })).errorCode, KafkaErrorCode.TOPIC_AUTHORIZATION_FAILED);
    }
    raw.close();
  }
  const plainJs = kafkajs(b.address('tls'), { sasl: { mechanism: 'plain', username: 'token', password: UNKNOWN_TOKEN }, ssl: tls, retries: 0 });
  const plainProducer = plainJs.kafka.producer();
  await assert.rejects(plainProducer.connect());
  await plainProducer.disconnect();

  // HTTP: password login right and wrong; the JWT and the access token as Bearer; a tampered JWT.
  const call = (path: string, opts: { method?: string; bearer?: string; body?: unknown } = {}) =>
    https(`${b.http}${path}`, { ca: b.pki.ca.certPem, ...(opts.method ? { method: opts.method } : {}), ...(opts.bearer ? { headers: { authorization: `Bearer ${opts.bearer}` } } : {}), ...(opts.body ? { body: opts.body } : {}) });
  const login = await call('/v1/login', { method: 'POST', body: { username: 'carol', password: PASSWORDS.carol } });
  assert.equal(login.status, 200, login.text);
  const jwt = (login.json as { token: string }).token;
  secrets['JWT from /v1/login'] = jwt;
  secrets['JWT signature'] = jwt.split('.')[2]!;
  assert.equal((await call('/v1/login', { method: 'POST', body: { username: 'carol', password: WRONG.http } })).status, 401);
  assert.equal((await call('/v1/topics/redact-orders/partitions/0/records', { bearer: jwt })).status, 200);
  assert.equal((await call('/v1/topics/forbidden-topic/partitions/0/records', { bearer: jwt })).status, 403);
  assert.equal((await call('/v1/topics/redact-orders/partitions/0/records', { bearer: TOKEN })).status, 200);
  assert.equal((await call('/v1/topics', { bearer: UNKNOWN_TOKEN })).status, 401);
  const tampered = `${jwt.slice(0, -4)}AAAA`;
  secrets['tampered JWT'] = tampered;
  assert.equal((await call('/v1/topics', { bearer: tampered })).status, 401);

  // What was written: the audit file (identical denials are coalesced for a second first)...
  await new Promise((r) => setTimeout(r, 1100));
  const events = await b.auditEvents();
  const auditText = readFileSync(b.auditFile, 'utf8');
  // ...proves the logins happened and names who, without the credentials.
  const auth = events.filter((e) => e.type === 'authentication');
  const has = (pred: (e: Record<string, unknown>) => boolean, what: string) => assert.ok(auth.some(pred), `${what} is audited: ${JSON.stringify(auth)}`);
  has((e) => e.outcome === 'failure' && e.user === 'svc-256' && e.mechanism === 'SCRAM-SHA-256' && e.reason === 'BadCredentials', 'the wrong SCRAM-SHA-256 password');
  has((e) => e.outcome === 'failure' && e.user === 'svc-512' && e.mechanism === 'SCRAM-SHA-512' && e.reason === 'BadCredentials', 'the wrong SCRAM-SHA-512 password');
  has((e) => e.outcome === 'failure' && e.user === 'carol' && e.mechanism === 'PLAIN' && e.reason === 'BadCredentials', 'the wrong PLAIN password');
  has((e) => e.outcome === 'failure' && e.mechanism === 'PLAIN' && e.reason === 'UnknownToken', 'the unknown token over PLAIN');
  has((e) => e.outcome === 'failure' && e.user === 'carol' && e.mechanism === 'password' && e.reason === 'BadCredentials', 'the wrong HTTP password');
  has((e) => e.outcome === 'failure' && e.listener === 'http' && e.mechanism === 'token' && e.reason === 'UnknownToken', 'the unknown Bearer token');
  has((e) => e.outcome === 'failure' && e.listener === 'http' && e.mechanism === 'session', 'the tampered JWT');
  has((e) => e.outcome === 'success' && e.user === 'reporter' && e.tokenId === 'reporter-ci', 'the token login');
  for (const user of ['carol', 'reporter']) {
    assert.ok(events.some((e) => e.type === 'authorization' && e.decision === 'deny' && e.user === user && e.action === 'write' && e.resourceName === 'forbidden-topic'), `${user}'s denied produce is audited`);
  }

  // ...the __audit topic, read back with kcat by the root super user (as many events as the file
  // holds: with logAllowed, reading __audit adds the reads to it, so its end keeps moving)...
  const topic = await kcat(['-b', b.address('kafka'), ...kcatScram('SCRAM-SHA-512', 'root', ROOT_PASSWORD), '-C', '-t', '__audit', '-o', 'beginning', '-c', String(events.length), '-f', '%s\\n']);
  assert.equal(topic.code, 0, topic.stderr);
  const topicLines = topic.stdout.split('\n').filter((l) => l !== '');
  assert.deepEqual(topicLines, auditText.split('\n').filter((l) => l !== ''), '__audit holds the same events as the file, in the same order');

  // ...the broker's log lines, and what this process printed.
  assert.ok(b.logs.length > 0, 'the broker logged something (the policy loads)');
  const places: Record<string, string> = { 'audit file': auditText, '__audit topic': topic.stdout, 'broker log': b.logs.join('\n'), 'test output': printed.join('') };
  t.diagnostic(`searched ${Object.keys(secrets).length} secrets in: ${Object.entries(places).map(([where, text]) => `${where} (${text.length} chars)`).join(', ')}`);
  for (const [where, text] of Object.entries(places)) {
    for (const [what, secret] of Object.entries(secrets)) assert.ok(!text.includes(secret), `the ${what} appears in the ${where}`);
  }
});
