// SASL OAUTHBEARER with an external identity provider, as a user sets it up: the broker trusts
// JWTs signed by a key of the issuer's JWKS (served here over HTTPS by the test, with the test
// CA), for one audience; the claim preferred_username names the policy user. kafkajs and the
// Java client (Kafka's own OAuthBearerLoginCallbackHandler, fetching client-credentials tokens
// from a token endpoint the test serves over HTTPS) log in with such tokens, are authorized as
// that user, and re-authenticate on their open connections with fresh tokens before the
// short-lived ones expire; a connection that does not is closed when its token expires. A token
// that is expired, from another issuer or audience, signed by an unknown key, forged, unsigned or
// HMAC-signed is refused with the generic failure, and no token reaches the broker's log.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose';
import { Kafka, logLevel } from 'kafkajs';
import { OAuthBearerFailure, OAuthBearerVerifier, parseOAuthBearerMessage } from '../src/auth/index.ts';
import { brokerConfigProblems } from '../src/config/index.ts';
import { isBulwarkError, type BulwarkError } from '../src/lib/index.ts';
import { KafkaErrorCode } from '../src/kafka/error-codes.ts';
import { ApiKey } from '../src/kafka/index.ts';
import { KafkaWireClient } from '../tools/kafka-wire/client.ts';
import { startTestBroker, type SecureTestBroker } from './harness/broker.ts';
import { kafkajs } from './harness/clients.ts';
import { sharedTestPki } from './harness/pki.ts';
import { brokerClusterYaml, topicGrantYaml, userYaml } from './harness/policy.ts';
import { javaArgs, kafkaPeerEnv } from '../tools/kafka/peer-env.ts';

const run = promisify(execFile);
const ISSUER = 'https://idp.example.test/realms/apps';
const AUDIENCE = 'bulwark-kafka';
const KID = 'idp-key-1';
const CLIENT_ID = 'orders-service';
const CLIENT_SECRET = 'Client-Credentials-Secret-81!';

let b: SecureTestBroker;
let idp: Server;
let idpBase: string;
let signingKey: CryptoKey;
/** A key pair the JWKS does not publish. */
let strangerKey: CryptoKey;
/** Every token this test minted: none may appear in the broker's log. */
const minted: string[] = [];
/** Tokens the token endpoint handed out (the Java client's logins and refreshes). */
let endpointTokens = 0;

/** A token as the identity provider issues it; `claims` override its defaults (undefined removes one). */
async function token(claims: JWTPayload = {}, opts: { key?: CryptoKey; kid?: string; expiresInSeconds?: number } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const t = await new SignJWT({ sub: '5f0c7e1a-opaque-id', preferred_username: 'alice', iss: ISSUER, aud: AUDIENCE, iat: now, exp: now + (opts.expiresInSeconds ?? 300), ...claims })
    .setProtectedHeader({ alg: 'RS256', kid: opts.kid ?? KID, typ: 'JWT' })
    .sign(opts.key ?? signingKey);
  minted.push(t);
  return t;
}

const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
const saslMessage = (t: string) => Buffer.from(`n,,\x01auth=Bearer ${t}\x01\x01`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The broker's log lines with this message, parsed. */
const logged = (msg: string) => b.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === msg);
async function closedFor(reason: string): Promise<number> {
  return (await b.broker.metrics.sessionsClosed.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;
}
/** Most re-authentications of one connection of `user` among the log lines after `from`. */
function mostReauthentications(user: string, from: number): number {
  const perSession = new Map<unknown, number>();
  for (const l of logged('SASL session re-authenticated').slice(from).filter((l) => l.user === user)) perSession.set(l.session, Math.max(perSession.get(l.session) ?? 0, l.reauthentications as number));
  return Math.max(0, ...perSession.values());
}

/** An OAUTHBEARER login on the TLS listener from `localAddress` (each refusal its own, so login backoff does not pile up). */
async function rawLogin(t: string, localAddress = '127.0.0.1') {
  const c = await KafkaWireClient.connect(b.port('tls'), { tls: { ca: b.pki.ca.certPem }, localAddress });
  const r = await reauthenticate(c, t);
  return { r, c };
}
async function reauthenticate(c: KafkaWireClient, t: string) {
  const hs = await c.request(ApiKey.SaslHandshake, 1, { mechanism: 'OAUTHBEARER' });
  assert.equal(hs.errorCode, KafkaErrorCode.NONE);
  return c.request(ApiKey.SaslAuthenticate, 1, { authBytes: saslMessage(t) });
}

/** kafkajs with a token provider minting `lifetimeSeconds` tokens; re-authenticates when a session has less than `thresholdMs` left. */
function kafkajsOAuth(lifetimeSeconds: number, thresholdMs = 10_000) {
  let calls = 0;
  const kafka = new Kafka({
    brokers: [b.address('tls')],
    clientId: 'bulwark-oauth-test',
    ssl: { ca: [b.pki.ca.certPem], servername: 'localhost' },
    sasl: {
      mechanism: 'oauthbearer',
      oauthBearerProvider: async () => {
        calls++;
        return { value: await token({}, { expiresInSeconds: lifetimeSeconds }) };
      },
    },
    reauthenticationThreshold: thresholdMs,
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING,
  });
  return { kafka, calls: () => calls };
}

describe('SASL OAUTHBEARER with an external identity provider', () => {
  before(async () => {
    const pki = await sharedTestPki();
    const pair = await generateKeyPair('RS256', { extractable: true });
    signingKey = pair.privateKey;
    strangerKey = (await generateKeyPair('RS256')).privateKey;
    const published = { keys: [{ ...(await exportJWK(pair.publicKey)), kid: KID, alg: 'RS256', use: 'sig' }] };
    const basic = `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`;
    // The identity provider: its JWKS, and a client-credentials token endpoint minting 6 s tokens.
    idp = createServer({ cert: pki.server.certPem, key: pki.server.keyPem }, (req, res) => {
      if (req.method === 'GET' && req.url === '/jwks.json') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(published));
      if (req.method === 'POST' && req.url === '/token') {
        let body = '';
        req.on('data', (d: Buffer) => (body += d.toString()));
        req.on('end', async () => {
          if (req.headers.authorization !== basic || new URLSearchParams(body).get('grant_type') !== 'client_credentials') return void res.writeHead(401).end();
          endpointTokens++;
          const accessToken = await token({ sub: CLIENT_ID, preferred_username: 'alice' }, { expiresInSeconds: 6 });
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: accessToken, token_type: 'Bearer', expires_in: 6 }));
        });
        return;
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => idp.listen(0, '127.0.0.1', resolve));
    idpBase = `https://127.0.0.1:${(idp.address() as AddressInfo).port}`;
    b = await startTestBroker({
      config: {
        auth: { oauthBearer: { issuer: ISSUER, audience: AUDIENCE, jwksUrl: `${idpBase}/jwks.json`, usernameClaim: 'preferred_username', algorithms: ['RS256'], caFile: pki.caFile } },
        listeners: [{ name: 'tls', port: 0, tls: { ...pki.serverTls, caFile: pki.caFile, clientAuth: 'optional' }, authentication: ['oauthbearer'] }],
      },
      security: {
        policy: {
          'cluster.yaml': brokerClusterYaml(),
          // The identity provider's users: no password, their tokens are their credential.
          'alice.yaml': userYaml('alice', { type: 'tls', roles: [] }),
          'bob.yaml': userYaml('bob', { type: 'tls', roles: [] }),
          'alice-grant.yaml': topicGrantYaml('alice-orders', { users: ['alice'], topics: ['oidc-orders'], actions: ['write', 'describe'] }),
        },
      },
    });
    for (const topic of ['oidc-orders', 'oidc-secret']) b.broker.topics.createTopic(topic, 1);
  });
  after(async () => {
    await b?.stop();
    idp?.close();
  });

  test('the RFC 7628 initial response yields its bearer token; anything else, none', () => {
    assert.equal(parseOAuthBearerMessage(Buffer.from('n,,\x01auth=Bearer abc.def.ghi\x01\x01')), 'abc.def.ghi');
    assert.equal(parseOAuthBearerMessage(Buffer.from('n,a=alice,\x01host=x\x01auth=Bearer abc.def.ghi\x01\x01')), 'abc.def.ghi');
    assert.equal(parseOAuthBearerMessage(Buffer.from('n,,\x01auth=Basic abc\x01\x01')), undefined);
    assert.equal(parseOAuthBearerMessage(Buffer.from('n,,\x01auth=Bearer abc.def.ghi\x01')), undefined);
    assert.equal(parseOAuthBearerMessage(Buffer.from('p=tls-unique,,\x01auth=Bearer a\x01\x01')), undefined);
  });

  test('the configuration refuses oauthbearer without TLS or without auth.oauthBearer, a JWKS over http, and symmetric algorithms', async () => {
    const oauth = { issuer: ISSUER, audience: AUDIENCE, jwksUrl: `${idpBase}/jwks.json` };
    const problems = (input: unknown) => {
      const checked = brokerConfigProblems(input);
      return checked.ok ? '' : checked.problems.join('; ');
    };
    assert.match(problems({ kafka: { authentication: ['oauthbearer'] }, auth: { oauthBearer: oauth } }), /kafka\.authentication: oauthbearer sends a bearer token and needs TLS/);
    assert.match(problems({ kafka: { authentication: ['oauthbearer'], tls: { certFile: '/c', keyFile: '/k' } } }), /oauthbearer needs auth\.oauthBearer/);
    assert.match(problems({ auth: { oauthBearer: { ...oauth, jwksUrl: 'http://idp.example.test/jwks.json' } } }), /auth\.oauthBearer\.jwksUrl.*https/);
    for (const alg of ['HS256', 'none']) assert.match(problems({ auth: { oauthBearer: { ...oauth, algorithms: [alg] } } }), /auth\.oauthBearer\.algorithms/, alg);
    assert.equal(problems({ auth: { oauthBearer: oauth } }), '');
    assert.throws(
      () => new OAuthBearerVerifier({ ...oauth, usernameClaim: 'sub', algorithms: ['RS256'], clockToleranceSeconds: 0, caFile: join(tmpdir(), 'no-such-ca.crt') }),
      (e) => isBulwarkError(e, 'BWK_ERR_CONFIG_INVALID') && /auth\.oauthBearer\.caFile: cannot read .*no-such-ca\.crt \(ENOENT\)/.test(e.message),
    );
  });

  test('a JWKS endpoint whose certificate the configured CAs do not sign gives no keys: logins fail closed, reported without the token', async () => {
    const reported: BulwarkError[] = [];
    // No caFile: the system CAs, which do not know the test CA.
    const verifier = new OAuthBearerVerifier({ issuer: ISSUER, audience: AUDIENCE, jwksUrl: `${idpBase}/jwks.json`, usernameClaim: 'preferred_username', algorithms: ['RS256'], clockToleranceSeconds: 0, onJwksUnavailable: (e) => reported.push(e) });
    const t = await token();
    assert.deepEqual(await verifier.verify(t, Date.now()), { ok: false, reason: OAuthBearerFailure.JwksUnavailable });
    assert.deepEqual(await verifier.verify(t, Date.now()), { ok: false, reason: OAuthBearerFailure.JwksUnavailable });
    assert.equal(reported.length, 1, 'reported once, not at every login');
    assert.equal(reported[0]!.code, 'BWK_ERR_OAUTH_JWKS_UNAVAILABLE');
    assert.match(reported[0]!.message, /cannot fetch the JWKS of auth\.oauthBearer from https:\/\/127\.0\.0\.1:\d+\/jwks\.json: [A-Z_]+/);
    assert.ok(!reported[0]!.message.includes(t.split('.')[2]!));
  });

  test('kafkajs logs in with a token of the issuer and is authorized as the user its claim names', async () => {
    const { kafka } = kafkajsOAuth(300);
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    try {
      const before = b.broker.topics.partition('oidc-orders', 0)!.nextOffset;
      await producer.send({ topic: 'oidc-orders', messages: [{ value: 'order 1' }] });
      assert.equal(b.broker.topics.partition('oidc-orders', 0)!.nextOffset, before + 1);
      // alice has no grant on oidc-secret.
      await assert.rejects(producer.send({ topic: 'oidc-secret', messages: [{ value: 'x' }] }), /authoriz/i);
      assert.equal(b.broker.topics.partition('oidc-secret', 0)!.nextOffset, 0);
    } finally {
      await producer.disconnect();
    }
    const logins = (await b.auditEvents()).filter((e) => e.type === 'authentication' && e.mechanism === 'OAUTHBEARER' && e.outcome === 'success');
    assert.ok(logins.some((e) => e.user === 'alice'), JSON.stringify(logins));
  });

  test('kafkajs re-authenticates on its open connection with fresh 4 s tokens and keeps producing past several of them', async (t) => {
    const { kafka, calls } = kafkajsOAuth(4, 2000);
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    const reauthsBefore = logged('SASL session re-authenticated').length;
    const expiredBefore = await closedFor('SessionExpired');
    const start = b.broker.topics.partition('oidc-orders', 0)!.nextOffset;
    await producer.connect();
    let sent = 0;
    try {
      const until = Date.now() + 11_000;
      while (Date.now() < until) {
        await producer.send({ topic: 'oidc-orders', acks: -1, messages: [{ value: `kafkajs ${sent}` }] });
        sent++;
        await sleep(250);
      }
    } finally {
      await producer.disconnect();
    }
    assert.equal(b.broker.topics.partition('oidc-orders', 0)!.nextOffset, start + sent, 'every record appended once');
    const most = mostReauthentications('alice', reauthsBefore);
    t.diagnostic(`${sent} records, ${calls()} tokens, at most ${most} re-authentications on one connection`);
    assert.ok(most >= 3, `one connection re-authenticated at least 3 times (${most})`);
    assert.equal(await closedFor('SessionExpired'), expiredBefore, 'no request came after its session ended');
  });

  test('the session lasts no longer than the token; a connection that does not re-authenticate is closed when it expires', async () => {
    const closedBefore = await closedFor('TokenExpired');
    const { r, c } = await rawLogin(await token({}, { expiresInSeconds: 3 }));
    assert.equal(r.errorCode, KafkaErrorCode.NONE);
    assert.ok(r.sessionLifetimeMs > 1000 && r.sessionLifetimeMs <= 3000, `lifetime ${r.sessionLifetimeMs}`);
    assert.ok(await c.closesWithin(4000), 'the connection closes when the token expires');
    assert.equal(await closedFor('TokenExpired'), closedBefore + 1);
  });

  test('a re-authentication with a newer token of the same user extends the session; another user\'s token ends the connection', async () => {
    const { r, c } = await rawLogin(await token({}, { expiresInSeconds: 3 }));
    assert.equal(r.errorCode, KafkaErrorCode.NONE);
    await sleep(2000);
    const again = await reauthenticate(c, await token({}, { expiresInSeconds: 60 }));
    assert.equal(again.errorCode, KafkaErrorCode.NONE);
    assert.ok(again.sessionLifetimeMs > 50_000, `the new token's life: ${again.sessionLifetimeMs}`);
    await sleep(1500); // past the first token's expiry
    assert.equal((await c.produce('oidc-orders', { value: 'after the first token expired' })).errorCode, KafkaErrorCode.NONE);
    const swapped = await reauthenticate(c, await token({ preferred_username: 'bob' }));
    assert.equal(swapped.errorCode, KafkaErrorCode.SASL_AUTHENTICATION_FAILED);
    assert.ok(await c.closesWithin(1000));
  });

  test('the Java client fetches client-credentials tokens from the token endpoint, is authorized as the mapped user, and re-authenticates with refreshed tokens', { timeout: 20 * 60_000 }, async (t) => {
    const env = await kafkaPeerEnv();
    const dir = mkdtempSync(join(tmpdir(), 'bulwark-oauth-java-'));
    try {
      const props = join(dir, 'producer.properties');
      writeFileSync(
        props,
        [
          `bootstrap.servers=${b.address('tls')}`,
          'security.protocol=SASL_SSL',
          'ssl.truststore.type=PEM',
          `ssl.truststore.location=${b.pki.caFile}`,
          'sasl.mechanism=OAUTHBEARER',
          // The token endpoint's TLS settings are JAAS options.
          `sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required ssl.truststore.type="PEM" ssl.truststore.location="${b.pki.caFile}";`,
          'sasl.login.callback.handler.class=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler',
          `sasl.oauthbearer.token.endpoint.url=${idpBase}/token`,
          `sasl.oauthbearer.client.credentials.client.id=${CLIENT_ID}`,
          `sasl.oauthbearer.client.credentials.client.secret=${CLIENT_SECRET}`,
          'sasl.oauthbearer.sub.claim.name=preferred_username',
          // Refresh the 6 s tokens halfway through their life.
          'sasl.login.refresh.window.factor=0.5',
          'sasl.login.refresh.window.jitter=0',
          'acks=all',
          '',
        ].join('\n'),
        { mode: 0o600 },
      );
      const java = (topic: string, records: number, throughput: number) =>
        run(
          env.JAVA,
          javaArgs(
            env,
            'org.apache.kafka.tools.ProducerPerformance',
            ['--topic', topic, '--num-records', String(records), '--record-size', '100', '--throughput', String(throughput), '--producer.config', props],
            { jvm: [`-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls=${idpBase}/token`] },
          ),
          { timeout: 120_000, maxBuffer: 8 << 20 },
        );
      const before = b.broker.topics.partition('oidc-orders', 0)!.nextOffset;
      const reauthsBefore = logged('SASL session re-authenticated').length;
      const expiredBefore = await closedFor('SessionExpired');
      const tokensBefore = endpointTokens;
      // 80 records at 5 a second: 16 s, close to three token lifetimes.
      const produced = await java('oidc-orders', 80, 5);
      assert.match(produced.stdout, /80 records sent/, produced.stderr);
      assert.equal(b.broker.topics.partition('oidc-orders', 0)!.nextOffset, before + 80, 'every record appended once');
      const most = mostReauthentications('alice', reauthsBefore);
      t.diagnostic(`${endpointTokens - tokensBefore} tokens from the endpoint, at most ${most} re-authentications on one connection`);
      assert.ok(endpointTokens - tokensBefore >= 3, 'the client refreshed its token');
      assert.ok(most >= 2, `one connection re-authenticated at least twice (${most})`);
      assert.equal(await closedFor('SessionExpired'), expiredBefore, 'no connection of the Java client outlived its session');

      const denied = await java('oidc-secret', 1, -1).then((r) => r.stdout + r.stderr, (e: { stdout: string; stderr: string }) => e.stdout + e.stderr);
      assert.match(denied, /TopicAuthorizationException|Not authorized/, 'alice may not write oidc-secret');
      assert.equal(b.broker.topics.partition('oidc-secret', 0)!.nextOffset, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // Last: the refusals come from their own addresses, but kafkajs' refused login is from 127.0.0.1.
  test('expired, wrong issuer, wrong audience, unknown key, forged, unsigned and HMAC tokens are all refused alike', async () => {
    const now = Math.floor(Date.now() / 1000);
    const good = await token();
    const [, payload] = good.split('.');
    const noExp = await token({ exp: undefined });
    minted.push(`${b64({ alg: 'none', typ: 'JWT' })}.${payload}.`);
    const cases: [name: string, token: string, reason: string, detail: string][] = [
      ['expired', await token({ iat: now - 600, exp: now - 120 }), 'TokenExpired', 'token Expired'],
      ['expired 5 s ago, within the clock tolerance', await token({ iat: now - 600, exp: now - 5 }), 'TokenExpired', 'token Expired'],
      ['without exp', noExp, 'Malformed', 'token Malformed'],
      ['not yet valid', await token({ nbf: now + 3600 }), 'BadCredentials', 'token NotYetValid'],
      ['issued in the future', await token({ iat: now + 3600, exp: now + 7200 }), 'BadCredentials', 'token NotYetValid'],
      ['another issuer', await token({ iss: 'https://evil.example.test' }), 'BadCredentials', 'token WrongIssuer'],
      ['another audience', await token({ aud: 'someone-else' }), 'BadCredentials', 'token WrongAudience'],
      ['a key the JWKS does not publish', await token({}, { key: strangerKey, kid: 'idp-key-2' }), 'BadCredentials', 'token UnknownKey'],
      ['forged: signed by another key under the published kid', await token({}, { key: strangerKey }), 'BadCredentials', 'token BadSignature'],
      ['unsigned (alg none)', `${b64({ alg: 'none', typ: 'JWT' })}.${payload}.`, 'BadCredentials', 'token AlgorithmNotAllowed'],
      ['HS256 with a guessed secret', `${b64({ alg: 'HS256', kid: KID })}.${payload}.${Buffer.alloc(32, 1).toString('base64url')}`, 'BadCredentials', 'token AlgorithmNotAllowed'],
      ['not a JWT', 'not-a-jwt', 'Malformed', 'token Malformed'],
      ['a user the policy does not know', await token({ preferred_username: 'mallory' }), 'UnknownUser', ''],
      ['no user claim', await token({ preferred_username: undefined }), 'BadCredentials', 'token NoUserClaim'],
    ];
    for (const [i, [name, bad, reason, detail]] of cases.entries()) {
      const { r, c } = await rawLogin(bad, `127.0.0.${10 + i}`);
      assert.equal(r.errorCode, KafkaErrorCode.SASL_AUTHENTICATION_FAILED, name);
      assert.equal(r.errorMessage, 'Authentication failed', `${name}: the generic message`);
      assert.ok(await c.closesWithin(1000), `${name}: the connection closes`);
      const failure = (await b.auditEvents()).filter((e) => e.type === 'authentication' && e.mechanism === 'OAUTHBEARER' && e.outcome === 'failure' && e.clientIp === `127.0.0.${10 + i}`).at(-1);
      assert.equal(failure?.reason, reason, `${name}: audited as ${reason}: ${JSON.stringify(failure)}`);
      if (detail) assert.equal(failure?.detail, detail, name);
    }
    // kafkajs' answer to a refused token.
    const expired = await token({ iat: now - 600, exp: now - 120 });
    const { kafka } = kafkajs(b.address('tls'), { sasl: { mechanism: 'oauthbearer', oauthBearerProvider: async () => ({ value: expired }) }, ssl: { ca: [b.pki.ca.certPem], servername: 'localhost' }, retries: 0 });
    const producer = kafka.producer();
    await assert.rejects(producer.connect(), /SASL OAUTHBEARER authentication failed|Authentication failed/);
    await producer.disconnect();
  });

  test('no token this test minted, good or bad, is in the broker log or the audit log', async () => {
    const audit = JSON.stringify(await b.auditEvents());
    const log = b.logs.join('\n');
    assert.ok(minted.length > 10, `${minted.length} tokens`);
    for (const t of minted) {
      const signature = t.split('.')[2]!;
      assert.ok(!log.includes(t) && (signature === '' || !log.includes(signature)), 'a token is in the broker log');
      assert.ok(!audit.includes(t) && (signature === '' || !audit.includes(signature)), 'a token is in the audit log');
    }
  });
});
