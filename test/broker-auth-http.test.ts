// The HTTP listener over TLS, as a user calls it with an HTTP client: log in with a password
// (POST /v1/login) for a short-lived JWT, send it as a Bearer token; or send an access token as
// the Bearer token. No credentials is 401; a topic the caller may not touch is 403 whether it
// exists or not.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { generateToken } from '../src/policy/credentials.ts';
import { startTestBroker, type SecureTestBroker } from './harness/broker.ts';
import { https } from './harness/clients.ts';
import { accessTokenYaml, brokerClusterYaml, roleYaml, userYaml } from './harness/policy.ts';

const CAROL_PASSWORD = 'Http-Login-Carol-Pw!58';
const TOKEN = generateToken();

let b: SecureTestBroker;
const call = (path: string, opts: { method?: string; bearer?: string; body?: unknown } = {}) =>
  https(`${b.http}${path}`, {
    ca: b.pki.ca.certPem,
    ...(opts.method ? { method: opts.method } : {}),
    ...(opts.bearer !== undefined ? { headers: { authorization: `Bearer ${opts.bearer}` } } : {}),
    ...(opts.body !== undefined ? { body: opts.body } : {}),
  });

const carol = (disabled = false) => userYaml('carol', { type: 'password', password: CAROL_PASSWORD, roles: ['http-rw'], disabled });

describe('HTTP over TLS: password login, Bearer JWT, Bearer access token', () => {
  before(async () => {
    b = await startTestBroker({
      security: {
        policy: {
          'cluster.yaml': brokerClusterYaml(),
          'roles.yaml': roleYaml('http-rw', [{ topics: ['http-*'], actions: ['read', 'write'] }]) + '---\n' + roleYaml('http-read', [{ topics: ['http-*'], actions: ['read'] }]),
          'carol.yaml': carol(),
          'reporter.yaml': userYaml('reporter', { type: 'tls', roles: ['http-read'] }),
          'reporter-token.yaml': accessTokenYaml('reporter-http', 'reporter', TOKEN),
        },
      },
    });
    b.broker.topics.createTopic('http-orders', 1);
    b.broker.topics.createTopic('secret-ledger', 1);
  });
  after(() => b?.stop());

  test('POST /v1/login returns a short-lived JWT that works as a Bearer token', async () => {
    const login = await call('/v1/login', { method: 'POST', body: { username: 'carol', password: CAROL_PASSWORD } });
    assert.equal(login.status, 200, login.text);
    const session = login.json as { token: string; tokenType: string; expiresAt: string };
    assert.equal(session.tokenType, 'Bearer');
    assert.match(session.token, /^eyJ[\w-]+\.[\w-]+\.[\w-]+$/, 'a compact JWS');
    const claims = JSON.parse(Buffer.from(session.token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    assert.deepEqual([claims.sub, claims.iss, claims.aud], ['carol', 'bulwark', 'bulwark-http']);
    const lifetimeS = (Date.parse(session.expiresAt) - Date.now()) / 1000;
    assert.ok(lifetimeS > 800 && lifetimeS <= 900, `expires in ${lifetimeS} s (auth.jwt.ttlSeconds 900)`);

    const produced = await call('/v1/topics/http-orders/records', { method: 'POST', bearer: session.token, body: { records: [{ value: 'order from http' }] } });
    assert.equal(produced.status, 200, produced.text);
    const read = await call('/v1/topics/http-orders/partitions/0/records?offset=0', { bearer: session.token });
    assert.equal(read.status, 200, read.text);
    assert.deepEqual((read.json as { records: { value: string }[] }).records.map((r) => r.value), ['order from http']);
    const listed = await call('/v1/topics', { bearer: session.token });
    assert.deepEqual((listed.json as { topics: { name: string }[] }).topics.map((t) => t.name), ['http-orders'], 'only the topics carol may describe');

    // A wrong password, an unknown user: the same 401.
    const wrong = await call('/v1/login', { method: 'POST', body: { username: 'carol', password: 'Not-Carols-Pw!99' } });
    const unknown = await call('/v1/login', { method: 'POST', body: { username: 'nobody', password: 'Not-Carols-Pw!99' } });
    assert.deepEqual([wrong.status, unknown.status], [401, 401]);
    assert.deepEqual(wrong.json, unknown.json);

    // The JWT lives no longer than the user's right to log in: disable carol, and it stops working.
    const version = b.broker.policy.applied.version;
    b.policy.write('carol.yaml', carol(true));
    await b.policyAfter(version);
    assert.equal((await call('/v1/topics/http-orders/partitions/0/records?offset=0', { bearer: session.token })).status, 401);
    b.policy.write('carol.yaml', carol());
    await b.policyAfter(b.broker.policy.applied.version);
    assert.equal((await call('/v1/topics/http-orders/partitions/0/records?offset=0', { bearer: session.token })).status, 200);
  });

  test('an access token works as a Bearer token, with its user\'s permissions', async () => {
    const read = await call('/v1/topics/http-orders/partitions/0/records?offset=0', { bearer: TOKEN });
    assert.equal(read.status, 200, read.text);
    assert.ok((read.json as { records: unknown[] }).records.length >= 1);
    // reporter may read, not write.
    const write = await call('/v1/topics/http-orders/records', { method: 'POST', bearer: TOKEN, body: { records: [{ value: 'not allowed' }] } });
    assert.equal(write.status, 403, write.text);
    // An unknown token, a tampered JWT: 401.
    assert.equal((await call('/v1/topics', { bearer: generateToken() })).status, 401);
    const login = (await call('/v1/login', { method: 'POST', body: { username: 'carol', password: CAROL_PASSWORD } })).json as { token: string };
    const [h, p, s] = login.token.split('.');
    const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), sub: 'reporter' })).toString('base64url');
    assert.equal((await call('/v1/topics', { bearer: `${h}.${forged}.${s}` })).status, 401);
  });

  test('no credentials is 401 with a Bearer challenge', async () => {
    for (const path of ['/v1/topics', '/v1/topics/http-orders', '/v1/topics/http-orders/partitions/0/records?offset=0']) {
      const r = await call(path);
      assert.equal(r.status, 401, path);
      assert.match(String(r.headers['www-authenticate']), /^Bearer/);
      assert.equal((r.json as { code: string }).code, 'BWK_ERR_UNAUTHENTICATED');
    }
    assert.equal((await call('/v1/topics/http-orders/records', { method: 'POST', body: { records: [{ value: 'x' }] } })).status, 401);
    // Probes stay public.
    assert.equal((await call('/healthz')).status, 200);
  });

  test('not allowed is 403 for an existing and a missing topic alike', async () => {
    const session = ((await call('/v1/login', { method: 'POST', body: { username: 'carol', password: CAROL_PASSWORD } })).json as { token: string }).token;
    for (const bearer of [session, TOKEN]) {
      const requests = [
        (topic: string) => call(`/v1/topics/${topic}`, { bearer }),
        (topic: string) => call(`/v1/topics/${topic}/partitions/0/records?offset=0`, { bearer }),
        (topic: string) => call(`/v1/topics/${topic}/records`, { method: 'POST', bearer, body: { records: [{ value: 'x' }] } }),
        (topic: string) => call(`/v1/topics/${topic}`, { method: 'DELETE', bearer }),
      ];
      for (const send of requests) {
        const existing = await send('secret-ledger');
        const missing = await send('no-such-topic');
        assert.equal(existing.status, 403, existing.text);
        assert.equal(missing.status, 403, missing.text);
        assert.deepEqual(existing.json, missing.json, 'the answers cannot be told apart');
        assert.equal((existing.json as { code: string }).code, 'BWK_ERR_FORBIDDEN');
      }
    }
    // Where the caller is allowed, a missing topic is a plain 404: the 403 above was about permission.
    assert.equal((await call('/v1/topics/http-missing/partitions/0/records?offset=0', { bearer: session })).status, 404);
    assert.equal(b.broker.topics.partition('secret-ledger', 0)!.nextOffset, 0, 'nothing was written to the forbidden topic');
    assert.ok(b.broker.topics.topic('secret-ledger'), 'and it was not deleted');
  });
});
