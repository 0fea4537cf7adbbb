// Limits a user meets on a real connection: a produce byte rate (User spec.limits) answered with
// throttle_time_ms and held near the limit, a cap on a user's connections that refuses the extra
// login, a listener whose allowedCidrs leave the client out, and failed logins from one address
// answered later and later.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { KafkaErrorCode } from '../src/kafka/error-codes.ts';
import { ApiKey } from '../src/kafka/index.ts';
import { startTestBroker, type SecureTestBroker } from './harness/broker.ts';
import { sharedTestPki } from './harness/pki.ts';
import { kcat, kcatPlainTls, kcatScram } from './harness/clients.ts';
import { KafkaWireClient } from '../tools/kafka-wire/client.ts';
import { brokerClusterYaml, roleYaml, userYaml } from './harness/policy.ts';

const PASSWORDS = { bulk: 'Throttled-Bulk-Pw!21', capped: 'One-Connection-Pw!32', open: 'Unlimited-Open-Pw!43' };
const PRODUCE_LIMIT = 20_000; // bytes per second

let b: SecureTestBroker;
const tlsLogin = async (user: string, password: string) => {
  const c = await KafkaWireClient.connect(b.port('tls'), { tls: { ca: b.pki.ca.certPem } });
  return { c, code: (await c.plain(user, password)).errorCode };
};

describe('limits', () => {
  before(async () => {
    await promisify(execFile)('kcat', ['-V']);
    const pki = await sharedTestPki();
    b = await startTestBroker({
      security: {
        policy: {
          'cluster.yaml': brokerClusterYaml(),
          'roles.yaml': roleYaml('app-rw', [{ topics: ['lim-*'], actions: ['read', 'write'] }]),
          'bulk.yaml': userYaml('bulk', { type: 'scram-sha-256', password: PASSWORDS.bulk, roles: ['app-rw'], limits: { produceBytesPerSecond: PRODUCE_LIMIT } }),
          'capped.yaml': userYaml('capped', { type: 'scram-sha-256', password: PASSWORDS.capped, roles: ['app-rw'], limits: { maxConnections: 1 } }),
          'open.yaml': userYaml('open', { type: 'scram-sha-256', password: PASSWORDS.open, roles: ['app-rw'] }),
        },
      },
      config: {
        listeners: [
          { name: 'tls', port: 0, tls: { certFile: pki.serverCertFile, keyFile: pki.serverKeyFile }, authentication: ['plain', 'scram-sha-256'] },
          // Only the 10.0.0.0/8 network may connect here; the tests connect from 127.0.0.1.
          { name: 'restricted', port: 0, authentication: ['scram-sha-256'], allowedCidrs: ['10.0.0.0/8'] },
        ],
      },
    });
    b.broker.topics.createTopic('lim-bulk', 1);
    b.broker.topics.createTopic('lim-capped', 1);
  });
  after(() => b?.stop());

  test('a user with limits.produceBytesPerSecond is throttled: produce answers carry throttle_time_ms and the rate stays near the limit', async (t) => {
    const { c, code } = await tlsLogin('bulk', PASSWORDS.bulk);
    assert.equal(code, KafkaErrorCode.NONE);
    const answers: { throttleTimeMs: number; bytes: number }[] = [];
    const started = Date.now();
    // As fast as the broker answers, for 3 s: 10 records of 500 bytes per request.
    while (Date.now() - started < 3000) {
      const r = await c.produce('lim-bulk', { count: 10, valueBytes: 500 });
      assert.equal(r.errorCode, KafkaErrorCode.NONE);
      answers.push({ throttleTimeMs: r.throttleTimeMs, bytes: r.batchBytes });
    }
    const elapsedS = (Date.now() - started) / 1000;
    c.close();
    const bytes = answers.reduce((n, a) => n + a.bytes, 0);
    const throttled = answers.filter((a) => a.throttleTimeMs > 0);
    // The bucket starts full: one second of the rate passes at once, the rest at the rate.
    const rate = (bytes - PRODUCE_LIMIT) / elapsedS;
    t.diagnostic(`${answers.length} produce requests, ${bytes} bytes in ${elapsedS.toFixed(2)} s: ${Math.round(rate)} B/s after the burst (limit ${PRODUCE_LIMIT}); ${throttled.length} answers throttled, up to ${Math.max(...answers.map((a) => a.throttleTimeMs))} ms`);
    assert.equal(answers[0]!.throttleTimeMs, 0, 'a quiet client starts with a full burst');
    assert.ok(throttled.length >= answers.length / 2, 'past the burst, answers are throttled');
    assert.ok(rate <= PRODUCE_LIMIT * 1.1, `rate ${Math.round(rate)} B/s must not exceed the limit`);
    assert.ok(rate >= PRODUCE_LIMIT * 0.6, `rate ${Math.round(rate)} B/s stays near the limit, not far under it`);

    // Another user on the same topic is not slowed down by bulk's quota.
    const other = await tlsLogin('open', PASSWORDS.open);
    for (let i = 0; i < 5; i++) assert.equal((await other.c.produce('lim-bulk', { count: 10, valueBytes: 500 })).throttleTimeMs, 0);
    other.c.close();
  });

  test("a user's maxConnections refuses the extra connection's login, until one closes", async () => {
    const first = await tlsLogin('capped', PASSWORDS.capped);
    assert.equal(first.code, KafkaErrorCode.NONE);
    assert.equal((await first.c.produce('lim-capped', { value: 'one' })).errorCode, KafkaErrorCode.NONE);

    // kcat as the same user: an authentication failure, like any refused login.
    const refused = await kcat(['-b', b.address('tls'), ...kcatPlainTls('capped', PASSWORDS.capped, b.pki.caFile), '-P', '-t', 'lim-capped'], { input: 'two\n' });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /SASL authentication error: Authentication failed/);
    const second = await tlsLogin('capped', PASSWORDS.capped);
    assert.equal(second.code, KafkaErrorCode.SASL_AUTHENTICATION_FAILED);
    await second.c.closedAt;
    const failures = (await b.auditEvents()).filter((e) => e.type === 'authentication' && e.outcome === 'failure' && e.user === 'capped');
    assert.ok(failures.length >= 2 && failures.every((e) => e.reason === 'TooManyUserConnections'), JSON.stringify(failures));

    // Another user is not affected; and once the first connection closes, capped logs in again.
    const other = await tlsLogin('open', PASSWORDS.open);
    assert.equal(other.code, KafkaErrorCode.NONE);
    other.c.close();
    first.c.close();
    await first.c.closedAt;
    const deadline = Date.now() + 2000;
    let again = await tlsLogin('capped', PASSWORDS.capped);
    while (again.code !== KafkaErrorCode.NONE && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      again = await tlsLogin('capped', PASSWORDS.capped);
    }
    assert.equal(again.code, KafkaErrorCode.NONE);
    again.c.close();
    assert.equal(b.broker.topics.partition('lim-capped', 0)!.nextOffset, 1, 'the refused clients wrote nothing');
  });

  test("a listener's allowedCidrs that exclude 127.0.0.1 refuse the connection", async () => {
    const c = await KafkaWireClient.connect(b.port('restricted'));
    const closed = await Promise.race([c.closedAt, new Promise<undefined>((r) => setTimeout(() => r(undefined), 2000))]);
    assert.ok(closed !== undefined, 'the broker closes the connection at once');
    await assert.rejects(c.request(ApiKey.ApiVersions, 0, {}), /closed/);
    // kcat with the right password cannot even ask for metadata.
    const r = await kcat(['-b', b.address('restricted'), ...kcatScram('SCRAM-SHA-256', 'open', PASSWORDS.open), '-L', '-m', '2']);
    assert.notEqual(r.code, 0, r.stdout);
    assert.doesNotMatch(r.stdout, /lim-bulk/);
    // The same user on a listener that admits it works.
    const ok = await kcat(['-b', b.address('tls'), ...kcatPlainTls('open', PASSWORDS.open, b.pki.caFile), '-L', '-m', '5']);
    assert.equal(ok.code, 0, ok.stderr);
  });

  test('failed logins from one address are answered later and later; a success resets the address', async (t) => {
    // Start clean: a success resets this address's count.
    const reset = await tlsLogin('open', PASSWORDS.open);
    assert.equal(reset.code, KafkaErrorCode.NONE);
    reset.c.close();
    /** One failed PLAIN login: how long the broker took to answer it. */
    const attempt = async (user: string, password: string) => {
      const c = await KafkaWireClient.connect(b.port('tls'), { tls: { ca: b.pki.ca.certPem } });
      const sent = performance.now();
      const code = (await c.plain(user, password)).errorCode;
      const ms = performance.now() - sent;
      c.close();
      return { code, ms };
    };
    // Different usernames, known and unknown: the backoff is per address, so no user can be locked out by another.
    const users = ['open', 'nobody', 'bulk', 'someone-else', 'capped', 'open', 'nobody'];
    const ms: number[] = [];
    for (const user of users) {
      const r = await attempt(user, 'Wrong-Password-Pw!54');
      assert.equal(r.code, KafkaErrorCode.SASL_AUTHENTICATION_FAILED);
      ms.push(Math.round(r.ms));
    }
    t.diagnostic(`answer times of ${users.length} failed logins: ${ms.join(', ')} ms`);
    // The first three are free; then 100, 200, 400, 800 ms (doubling).
    assert.ok(ms[3]! >= 100 && ms[4]! >= 200 && ms[5]! >= 400 && ms[6]! >= 800, ms.join(', '));
    for (let i = 3; i < ms.length; i++) assert.ok(ms[i]! > ms[i - 1]!, `attempt ${i + 1} is answered later than attempt ${i}: ${ms.join(', ')}`);
    // The right password still logs in (after the wait), and resets the address.
    const good = await attempt('open', PASSWORDS.open);
    assert.equal(good.code, KafkaErrorCode.NONE);
    const next = await attempt('open', 'Wrong-Password-Pw!54');
    assert.equal(next.code, KafkaErrorCode.SASL_AUTHENTICATION_FAILED);
    // Without the reset it would wait 1600 ms (the 8th failure); the verification alone takes a few ms.
    assert.ok(next.ms < 800, `after a success, a failure is answered without the backoff again (${Math.round(next.ms)} ms)`);
  });
});
