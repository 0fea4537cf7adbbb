// HTTP session tokens: what a client gets from login is accepted until it expires, by any broker
// holding the secret, and every forgery or misuse is refused with a reason that names it.
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose';
import { issueSessionToken, verifySessionToken, VerifyFailure } from '../src/auth/jwt.ts';
import { isBulwarkError } from '../src/lib/errors.ts';

const secret = randomBytes(32);
const issued = new Date('2030-01-01T12:00:00Z');
const TTL = 900;
const TOLERANCE = 30;
const issue = (principal: { user: string; tokenId?: string } = { user: 'alice' }, extra: { secret?: Uint8Array; issuer?: string; audience?: string } = {}) =>
  issueSessionToken(principal, { secret, issuer: 'bulwark', audience: 'bulwark-http', ttlSeconds: TTL, now: issued, ...extra });
const verify = (token: string, at: Date, extra: { secret?: Uint8Array; issuer?: string; audience?: string } = {}) =>
  verifySessionToken(token, { secret, issuer: 'bulwark', audience: 'bulwark-http', clockToleranceSeconds: TOLERANCE, now: at, ...extra });
const seconds = (s: number) => new Date(issued.getTime() + s * 1000);
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

test('a token round-trips to its principal and expiry, with the claims a session needs', async () => {
  const { token, expiresAt } = await issue();
  assert.deepEqual(expiresAt, seconds(TTL));
  assert.deepEqual(await verify(token, seconds(1)), { ok: true, principal: { user: 'alice' }, expiresAt });

  const viaToken = await issue({ user: 'ci', tokenId: 'team/ci-deployer' });
  assert.deepEqual(await verify(viaToken.token, seconds(TTL - 1)), { ok: true, principal: { user: 'ci', tokenId: 'team/ci-deployer' }, expiresAt: viaToken.expiresAt });

  assert.deepEqual(decodeProtectedHeader(token), { alg: 'HS256', typ: 'JWT' });
  const claims = decodeJwt(token);
  const iat = issued.getTime() / 1000;
  assert.deepEqual({ ...claims, jti: undefined }, { sub: 'alice', iss: 'bulwark', aud: 'bulwark-http', iat, nbf: iat, exp: iat + TTL, jti: undefined });
  assert.match(String(claims.jti), /^[A-Za-z0-9_-]{22}$/, '128 random bits');
  assert.notEqual(decodeJwt((await issue()).token).jti, claims.jti, 'a new jti each time');
});

test('expiry, with the clock tolerance on either side', async () => {
  const { token } = await issue();
  assert.equal((await verify(token, seconds(TTL + TOLERANCE - 1))).ok, true, 'verifier clock a little ahead');
  assert.deepEqual(await verify(token, seconds(TTL + TOLERANCE)), { ok: false, reason: VerifyFailure.Expired });
  assert.deepEqual(await verify(token, seconds(TTL * 100)), { ok: false, reason: VerifyFailure.Expired });
});

test('not yet valid, with the clock tolerance on either side', async () => {
  const { token } = await issue();
  // The broker that issued it is ahead of the one verifying it.
  assert.equal((await verify(token, seconds(-(TOLERANCE - 1)))).ok, true);
  assert.deepEqual(await verify(token, seconds(-(TOLERANCE + 1))), { ok: false, reason: VerifyFailure.NotYetValid });
  // An iat in the future with an nbf in the past is a token from the future all the same.
  const odd = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').setIssuer('bulwark').setAudience('bulwark-http')
    .setIssuedAt(issued.getTime() / 1000 + 3600).setNotBefore(issued.getTime() / 1000).setExpirationTime(issued.getTime() / 1000 + 7200).setJti('x').sign(secret);
  assert.deepEqual(await verify(odd, seconds(10)), { ok: false, reason: VerifyFailure.NotYetValid });
});

test('another issuer or audience is refused', async () => {
  const { token } = await issue({ user: 'alice' }, { issuer: 'someone-else' });
  assert.deepEqual(await verify(token, seconds(1)), { ok: false, reason: VerifyFailure.WrongIssuer });
  const other = await issue({ user: 'alice' }, { audience: 'grafana' });
  assert.deepEqual(await verify(other.token, seconds(1)), { ok: false, reason: VerifyFailure.WrongAudience });
});

test('a token signed with another secret, re-signed payloads and other algorithms are bad signatures', async () => {
  const stranger = await issue({ user: 'alice' }, { secret: randomBytes(32) });
  assert.deepEqual(await verify(stranger.token, seconds(1)), { ok: false, reason: VerifyFailure.BadSignature });

  const { token } = await issue();
  const [header, payload, signature] = token.split('.') as [string, string, string];
  // The payload changed to another user, the signature kept.
  const tampered = `${header}.${b64({ ...decodeJwt(token), sub: 'root' })}.${signature}`;
  assert.deepEqual(await verify(tampered, seconds(1)), { ok: false, reason: VerifyFailure.BadSignature });
  // A flipped bit in the signature.
  const flipped = `${header}.${payload}.${signature.slice(0, -2)}${signature.at(-2) === 'A' ? 'B' : 'A'}${signature.at(-1)}`;
  assert.deepEqual(await verify(flipped, seconds(1)), { ok: false, reason: VerifyFailure.BadSignature });

  // alg none: no signature at all, with and without the trailing dot.
  const unsigned = `${b64({ alg: 'none', typ: 'JWT' })}.${payload}`;
  assert.deepEqual(await verify(`${unsigned}.`, seconds(1)), { ok: false, reason: VerifyFailure.BadSignature });
  // Spelled otherwise, with a signature made of nothing.
  assert.deepEqual(await verify(`${b64({ alg: 'None' })}.${payload}.`, seconds(1)), { ok: false, reason: VerifyFailure.BadSignature });

  // HS512 under the very same secret: valid as a MAC, refused as an algorithm.
  const hs512 = `${b64({ alg: 'HS512', typ: 'JWT' })}.${payload}`;
  const mac = createHmac('sha512', secret).update(hs512).digest('base64url');
  assert.deepEqual(await verify(`${hs512}.${mac}`, seconds(1)), { ok: false, reason: VerifyFailure.BadSignature });
  // The control: the same construction with HS256 is accepted, so the refusal above is the algorithm.
  const hs256 = `${header}.${payload}`;
  assert.equal((await verify(`${hs256}.${createHmac('sha256', secret).update(hs256).digest('base64url')}`, seconds(1))).ok, true);
});

test('what is not a session token is malformed', async () => {
  const { token } = await issue();
  const [header] = token.split('.') as [string, string, string];
  const signed = (claims: Record<string, unknown>) => {
    const input = `${header}.${b64(claims)}`;
    return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
  };
  const iat = issued.getTime() / 1000;
  const good = { sub: 'alice', iss: 'bulwark', aud: 'bulwark-http', iat, nbf: iat, exp: iat + TTL, jti: 'j' };
  assert.equal((await verify(signed(good), seconds(1))).ok, true, 'the control passes');
  const cases: [string, string][] = [
    ['empty', ''],
    ['one part', 'abc'],
    ['three parts of nothing', '..'],
    ['not base64url JSON', 'a.b.c'],
    ['far too long', `${token}${'A'.repeat(10_000)}`],
    ['no sub', signed({ ...good, sub: undefined })],
    ['sub not a string', signed({ ...good, sub: 42 })],
    ['no exp', signed({ ...good, exp: undefined })],
    ['exp not a number', signed({ ...good, exp: 'never' })],
    ['no jti', signed({ ...good, jti: undefined })],
    ['tid not a string', signed({ ...good, tid: ['a'] })],
    ['payload not an object', (() => {
      const input = `${header}.${Buffer.from('"alice"').toString('base64url')}`;
      return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
    })()],
  ];
  for (const [name, candidate] of cases) assert.deepEqual(await verify(candidate, seconds(1)), { ok: false, reason: VerifyFailure.Malformed }, name);
});

test('no result or error carries the token or the secret; a short secret is refused', async () => {
  const { token } = await issue();
  for (const at of [seconds(1), seconds(TTL * 2)]) assert.ok(!JSON.stringify(await verify(token, at)).includes(token.split('.')[2]!));
  const short = randomBytes(16);
  for (const run of [() => issue({ user: 'alice' }, { secret: short }), () => verify(token, seconds(1), { secret: short })]) {
    await assert.rejects(run(), (err) => isBulwarkError(err, 'BWK_ERR_JWT_SECRET_INVALID') && !err.message.includes(short.toString('hex')) && !err.message.includes(short.toString('base64')));
  }
});
