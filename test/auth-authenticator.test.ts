// The Authenticator as the listeners use it: PLAIN, HTTP password login, access tokens,
// certificates and anonymous access against a policy compiled by the real compiler; policy swaps
// taking effect at once; the bounded verification queue; equal cost for unknown users; the
// per-address login backoff.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  AuthFailureReason,
  Authenticator,
  backoffKey,
  credentialIndex,
  LoginBackoff,
  parseSaslPlain,
  PasswordVerifier,
  stillValid,
  VerifyResult,
  type AuthOutcome,
} from '../src/auth/index.ts';
import { ANONYMOUS_USER, compilePolicy, deriveCredentials, tokenHash, type PolicySnapshot } from '../src/policy/index.ts';
import { CLUSTER, NS, resource, user } from './harness/resources.ts';

const serverSecret = Buffer.alloc(32, 42);
const NOW = Date.parse('2030-01-01T00:00:00Z');
const TOKEN = 'bwk_3xEafKN7fj2noU-CtbGlJO0FRL6pNUZwfL0_DwYtGpc';
const EXPIRING = 'bwk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
const OF_DISABLED = 'bwk_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB';

const PASSWORDS = { pat: 'pat-Password-1!', sam: 'sam-Secret-256!', sue: 'sue-Secret-512!', dis: 'dis-Disabled-1!', lan: 'lan-Office-only1' } as const;

async function policy(): Promise<PolicySnapshot> {
  const saltKey = Buffer.alloc(32, 7);
  const types = { pat: 'password', sam: 'scram-sha-256', sue: 'scram-sha-512', dis: 'password', lan: 'password' } as const;
  const users = new Map();
  for (const [name, type] of Object.entries(types)) users.set(name, await deriveCredentials(type, PASSWORDS[name as keyof typeof PASSWORDS], { saltKey, identity: `${NS}/${CLUSTER}/${name}` }));
  const token = (name: string, userRef: string, extra: Record<string, unknown> = {}) => resource('AccessToken', name, { clusterRef: { name: CLUSTER }, userRef: { name: userRef }, ...extra });
  const { snapshot, diagnostics } = compilePolicy({
    cluster: { namespace: NS, name: CLUSTER },
    resources: [
      ...Object.entries(types).map(([name, type]) =>
        user(name, { authentication: { type }, ...(name === 'dis' ? { disabled: true } : {}), ...(name === 'lan' ? { hosts: ['10.1.0.0/16'] } : {}) }),
      ),
      user('carol', { authentication: { type: 'tls', certificateSubject: 'carol.apps.example.com' } }),
      user('tina', { authentication: { type: 'tls' }, disabled: true }),
      token('app', 'pat'),
      token('nightly', 'sam', { expiresAt: '2030-01-01T01:00:00Z' }),
      token('old', 'dis'),
    ],
    credentials: {
      users,
      tokens: new Map([
        ['app', { sha256: tokenHash(TOKEN) }],
        ['nightly', { sha256: tokenHash(EXPIRING) }],
        ['old', { sha256: tokenHash(OF_DISABLED) }],
      ]),
    },
  });
  assert.deepEqual(diagnostics, []);
  return snapshot;
}
const snapshot = await policy();

const plainMessage = (authzid: string, user: string, password: string) => Buffer.concat([Buffer.from(authzid), Buffer.from([0]), Buffer.from(user), Buffer.from([0]), Buffer.from(password)]);
const authenticator = (snap: PolicySnapshot = snapshot, extra: { now?: () => number; verifier?: { maxConcurrent: number; maxQueued: number } } = {}) =>
  new Authenticator({ policy: () => snap, serverSecret, now: () => NOW, ...extra });
const reason = (o: AuthOutcome) => (o.ok ? 'ok' : o.reason);

describe('SASL PLAIN messages', () => {
  const cases: [string, Buffer, string | undefined][] = [
    ['authcid and password', plainMessage('', 'pat', 'pw'), undefined],
    ['authzid equal to the authcid', plainMessage('pat', 'pat', 'pw'), undefined],
    ['UTF-8 names and passwords', plainMessage('', 'zoë', 'pässwörd'), undefined],
    ['authzid of another user', plainMessage('admin', 'pat', 'pw'), 'authzid differs from the authcid'],
    ['one NUL only', Buffer.from('\0pat'), 'message must be authzid NUL authcid NUL passwd'],
    ['three NULs', Buffer.from('\0pat\0pw\0x'), 'message has more than two NUL separators'],
    ['empty authcid', plainMessage('', '', 'pw'), 'authcid must be 1 to 255 bytes'],
    ['empty password', plainMessage('', 'pat', ''), 'passwd must be 1 to 4096 bytes'],
    ['authcid over 255 bytes', plainMessage('', 'u'.repeat(256), 'pw'), 'authcid must be 1 to 255 bytes'],
    ['password over 4096 bytes', plainMessage('', 'pat', 'p'.repeat(4097)), 'passwd must be 1 to 4096 bytes'],
    ['invalid UTF-8', Buffer.concat([Buffer.from('\0pat\0'), Buffer.from([0xc3, 0x28])]), 'message is not valid UTF-8'],
    ['oversized', Buffer.alloc(10_000, 0x61), 'message is longer than 4608 bytes'],
  ];
  for (const [name, message, detail] of cases) {
    test(name, () => {
      const parsed = parseSaslPlain(message);
      if (detail === undefined) assert.ok(parsed.ok, name);
      else assert.deepEqual(parsed, { ok: false, detail });
    });
  }

  test('the parts come out as sent', () => {
    assert.deepEqual(parseSaslPlain(plainMessage('pat', 'pat', 'a b:c')), { ok: true, value: { authzid: 'pat', username: 'pat', password: 'a b:c' } });
    assert.deepEqual(parseSaslPlain(plainMessage('', 'zoë', 'pässwörd')), { ok: true, value: { username: 'zoë', password: 'pässwörd' } });
  });
});

describe('Authenticator', () => {
  test('PLAIN logs in password users (argon2id) and SCRAM users (PBKDF2) with their password', async () => {
    const auth = authenticator();
    for (const name of ['pat', 'sam', 'sue'] as const) {
      assert.deepEqual(await auth.plain(plainMessage('', name, PASSWORDS[name])), { ok: true, principal: { user: name }, mechanism: 'PLAIN' });
      assert.deepEqual(await auth.plain(plainMessage('', name, `${PASSWORDS[name]}x`)), { ok: false, reason: AuthFailureReason.BadCredentials, mechanism: 'PLAIN', user: name });
    }
  });

  test('failures say why, for the audit log, and never carry the password', async () => {
    const auth = authenticator();
    const cases: [string, string, string][] = [
      ['nobody', 'Some-password-1', AuthFailureReason.UnknownUser],
      ['carol', 'Some-password-1', AuthFailureReason.WrongMechanism],
      ['dis', PASSWORDS.dis, AuthFailureReason.UserDisabled],
      ['dis', 'Some-password-1', AuthFailureReason.BadCredentials],
    ];
    for (const [name, password, why] of cases) {
      for (const outcome of [await auth.plain(plainMessage('', name, password)), await auth.password(name, password)]) {
        assert.equal(reason(outcome), why, `${name}: ${outcome.mechanism}`);
        assert.equal(outcome.ok === false && outcome.user, name);
        assert.ok(!JSON.stringify(outcome).includes(password), 'the password is not in the outcome');
      }
    }
    assert.deepEqual(await auth.plain(Buffer.from('garbage')), { ok: false, reason: AuthFailureReason.Malformed, mechanism: 'PLAIN', detail: 'message must be authzid NUL authcid NUL passwd' });
    assert.equal(reason(await auth.password('', 'x')), AuthFailureReason.Malformed);
    assert.equal(reason(await auth.password('pat', '')), AuthFailureReason.Malformed);
  });

  test('HTTP password login follows the same rules as PLAIN', async () => {
    const auth = authenticator();
    assert.deepEqual(await auth.password('sue', PASSWORDS.sue), { ok: true, principal: { user: 'sue' }, mechanism: 'password' });
    assert.deepEqual(await auth.password('token', TOKEN), { ok: true, principal: { user: 'pat', tokenId: 'app' }, mechanism: 'password' });
  });

  test('access tokens: as a Bearer, and as PLAIN with the username token', async () => {
    const auth = authenticator();
    assert.deepEqual(auth.token(TOKEN), { ok: true, principal: { user: 'pat', tokenId: 'app' }, mechanism: 'token' });
    assert.deepEqual(await auth.plain(plainMessage('', 'token', TOKEN)), { ok: true, principal: { user: 'pat', tokenId: 'app' }, mechanism: 'PLAIN' });
    assert.deepEqual(auth.token(EXPIRING), { ok: true, principal: { user: 'sam', tokenId: 'nightly' }, mechanism: 'token', expiresAt: Date.parse('2030-01-01T01:00:00Z') });
    const unknown = auth.token('bwk_' + 'C'.repeat(43));
    assert.deepEqual(unknown, { ok: false, reason: AuthFailureReason.UnknownToken, mechanism: 'token' });
    for (const malformed of ['', 'bwk_short', TOKEN + 'x', `Bearer ${TOKEN}`, 'bwk_' + '!'.repeat(43)]) assert.equal(reason(auth.token(malformed)), AuthFailureReason.Malformed, malformed);
    assert.deepEqual(auth.token(OF_DISABLED), { ok: false, reason: AuthFailureReason.UserDisabled, mechanism: 'token', user: 'dis', detail: 'token old' });
    assert.ok(!JSON.stringify(auth.token(OF_DISABLED)).includes(OF_DISABLED));
    assert.equal(reason(await auth.plain(plainMessage('', 'token', 'not-a-token'))), AuthFailureReason.Malformed);
  });

  test('token expiry is checked against the clock on every use', () => {
    let now = Date.parse('2030-01-01T00:59:59.999Z');
    const auth = new Authenticator({ policy: () => snapshot, serverSecret, now: () => now });
    assert.equal(reason(auth.token(EXPIRING)), 'ok');
    now += 1;
    assert.deepEqual(auth.token(EXPIRING), { ok: false, reason: AuthFailureReason.TokenExpired, mechanism: 'token', user: 'sam', detail: 'token nightly' });
    assert.equal(reason(auth.token(TOKEN)), 'ok', 'a token without expiry never expires');
  });

  test('certificates: the tls user whose certificateSubject is the identity', () => {
    const auth = authenticator();
    assert.deepEqual(auth.certificate('carol.apps.example.com'), { ok: true, principal: { user: 'carol' }, mechanism: 'certificate' });
    assert.equal(reason(auth.certificate('carol')), AuthFailureReason.UnknownUser, 'the username is not the subject when one is declared');
    assert.equal(reason(auth.certificate('tina')), AuthFailureReason.UserDisabled);
    assert.equal(reason(auth.certificate('pat')), AuthFailureReason.WrongMechanism, 'a password user cannot log in with a certificate');
    assert.equal(reason(auth.certificate('mallory')), AuthFailureReason.UnknownUser);
    assert.equal(reason(auth.certificate('')), AuthFailureReason.Malformed);
  });

  test('a certificateSubject claimed by two tls users logs in neither', () => {
    const twice = { ...snapshot, users: snapshot.users.map((u) => (u.name === 'tina' ? { ...u, disabled: false, credentials: { certificateSubject: 'carol.apps.example.com' } } : u)) };
    assert.equal(reason(authenticator(twice).certificate('carol.apps.example.com')), AuthFailureReason.UnknownUser);
  });

  test('anonymous only when the policy allows it', () => {
    assert.deepEqual(authenticator().anonymous(), { ok: false, reason: AuthFailureReason.AnonymousDisabled, mechanism: 'anonymous' });
    const open = { ...snapshot, settings: { ...snapshot.settings, allowAnonymous: true } };
    assert.deepEqual(authenticator(open).anonymous(), { ok: true, principal: { user: ANONYMOUS_USER }, mechanism: 'anonymous' });
  });

  test('host access lists apply when the caller gives the client address', async () => {
    const auth = authenticator();
    assert.equal(reason(await auth.password('lan', PASSWORDS.lan, { host: '10.1.2.3' })), 'ok');
    assert.equal(reason(await auth.password('lan', PASSWORDS.lan, { host: '::ffff:10.1.2.3' })), 'ok');
    assert.equal(reason(await auth.password('lan', PASSWORDS.lan, { host: '192.168.1.1' })), AuthFailureReason.HostNotAllowed);
    assert.equal(reason(await auth.password('lan', 'wrong-password', { host: '192.168.1.1' })), AuthFailureReason.BadCredentials, 'the password is judged first');
    assert.equal(reason(await auth.password('pat', PASSWORDS.pat, { host: '192.168.1.1' })), 'ok', 'users without a list log in from anywhere');
  });

  test('a policy swap takes effect at the next login', async () => {
    let current = snapshot;
    const auth = new Authenticator({ policy: () => current, serverSecret, now: () => NOW });
    assert.equal(reason(await auth.password('pat', PASSWORDS.pat)), 'ok');
    assert.equal(reason(auth.token(TOKEN)), 'ok');
    current = { ...snapshot, users: snapshot.users.map((u) => (u.name === 'pat' ? { ...u, disabled: true } : u)) };
    assert.equal(reason(await auth.password('pat', PASSWORDS.pat)), AuthFailureReason.UserDisabled);
    assert.equal(reason(auth.token(TOKEN)), AuthFailureReason.UserDisabled);
    current = { ...snapshot, tokens: [] };
    assert.equal(reason(auth.token(TOKEN)), AuthFailureReason.UnknownToken);
    current = { ...snapshot, users: snapshot.users.filter((u) => u.name !== 'pat') };
    assert.equal(reason(await auth.password('pat', PASSWORDS.pat)), AuthFailureReason.UnknownUser);
  });

  test('a password rotated or a user removed while the verification runs does not get in', async () => {
    let current = snapshot;
    const auth = new Authenticator({ policy: () => current, serverSecret });
    const rotated = await deriveCredentials('password', 'a-New-password-9', { saltKey: Buffer.alloc(32, 7), identity: 'x' });
    const login = auth.password('pat', PASSWORDS.pat);
    current = { ...snapshot, users: snapshot.users.map((u) => (u.name === 'pat' ? { ...u, credentials: { argon2id: rotated.argon2id } } : u)) };
    assert.equal(reason(await login), AuthFailureReason.BadCredentials);
    current = snapshot;
    const login2 = auth.plain(plainMessage('', 'sam', PASSWORDS.sam));
    current = { ...snapshot, users: snapshot.users.filter((u) => u.name !== 'sam') };
    assert.equal(reason(await login2), AuthFailureReason.UnknownUser);
  });

  test('the serverSecret must be 32 bytes or more', () => {
    assert.throws(() => new Authenticator({ policy: () => snapshot, serverSecret: Buffer.alloc(16) }), { code: 'BWK_ERR_CONFIG_INVALID' });
  });
});

describe('stillValid: sessions after a policy swap and as time passes', () => {
  const without = (name: string) => ({ ...snapshot, users: snapshot.users.filter((u) => u.name !== name) });
  const disabled = (name: string) => ({ ...snapshot, users: snapshot.users.map((u) => (u.name === name ? { ...u, disabled: true } : u)) });
  const cases: [string, Parameters<typeof stillValid>, ReturnType<typeof stillValid>][] = [
    ['a user still there', [{ user: 'pat' }, snapshot, NOW], true],
    ['a deleted user', [{ user: 'pat' }, without('pat'), NOW], { reason: AuthFailureReason.UnknownUser }],
    ['a disabled user', [{ user: 'pat' }, disabled('pat'), NOW], { reason: AuthFailureReason.UserDisabled }],
    ['a token still there', [{ user: 'pat', tokenId: 'app' }, snapshot, NOW], true],
    ['a revoked token', [{ user: 'pat', tokenId: 'app' }, { ...snapshot, tokens: [] }, NOW], { reason: AuthFailureReason.UnknownToken }],
    ['a token now acting for another user', [{ user: 'sam', tokenId: 'app' }, snapshot, NOW], { reason: AuthFailureReason.UnknownToken }],
    ['a token before its expiry', [{ user: 'sam', tokenId: 'nightly' }, snapshot, Date.parse('2030-01-01T00:59:59Z')], true],
    ['a token at its expiry', [{ user: 'sam', tokenId: 'nightly' }, snapshot, Date.parse('2030-01-01T01:00:00Z')], { reason: AuthFailureReason.TokenExpired }],
    ['a token whose user was disabled', [{ user: 'pat', tokenId: 'app' }, disabled('pat'), NOW], { reason: AuthFailureReason.UserDisabled }],
    ['anonymous while allowed', [{ user: ANONYMOUS_USER }, { ...snapshot, settings: { ...snapshot.settings, allowAnonymous: true } }, NOW], true],
    ['anonymous once turned off', [{ user: ANONYMOUS_USER }, snapshot, NOW], { reason: AuthFailureReason.AnonymousDisabled }],
    ['a connection from an address the host list admits', [{ user: 'lan' }, snapshot, NOW, '10.1.9.9'], true],
    ['a connection from an address the host list no longer admits', [{ user: 'lan' }, snapshot, NOW, '10.2.0.1'], { reason: AuthFailureReason.HostNotAllowed }],
  ];
  for (const [name, args, expected] of cases) test(name, () => assert.deepEqual(stillValid(...args), expected));
});

describe('CredentialIndex', () => {
  test('is built once per snapshot object', () => {
    const a = credentialIndex(snapshot);
    assert.equal(credentialIndex(snapshot), a);
    const copy = { ...snapshot };
    assert.notEqual(credentialIndex(copy), a);
    assert.equal(a.user('pat')?.name, 'pat');
    assert.equal(a.certificateUser('carol.apps.example.com')?.name, 'carol');
    assert.equal(a.certificateUser('pat'), undefined, 'only tls users have a certificate subject');
    assert.equal(a.tokenByHash(tokenHash(TOKEN))?.token.id, 'app');
    assert.equal(a.tokenById('nightly')?.expiresAtMs, Date.parse('2030-01-01T01:00:00Z'));
    assert.equal(a.tokenById('app')?.expiresAtMs, Infinity);
  });
});

describe('password verification', () => {
  test('beyond maxConcurrent running and maxQueued waiting, logins fail fast as Busy', async () => {
    const auth = authenticator(snapshot, { verifier: { maxConcurrent: 1, maxQueued: 1 } });
    const logins = [auth.password('pat', PASSWORDS.pat), auth.password('pat', PASSWORDS.pat), auth.password('pat', PASSWORDS.pat), auth.password('nobody', 'Some-password-1')];
    assert.deepEqual(auth.verifierLoad, { running: 1, queued: 1 });
    const outcomes = await Promise.all(logins);
    assert.deepEqual(outcomes.map(reason), ['ok', 'ok', AuthFailureReason.Busy, AuthFailureReason.Busy]);
    assert.deepEqual(auth.verifierLoad, { running: 0, queued: 0 });
    assert.equal(reason(await auth.password('pat', PASSWORDS.pat)), 'ok', 'the slots come back');
  });

  test('runs at most maxConcurrent at once, and every queued one completes', async () => {
    const verifier = new PasswordVerifier({ maxConcurrent: 2, maxQueued: 8 });
    const hash = snapshot.users.find((u) => u.name === 'pat')!.credentials.argon2id!;
    let peak = 0;
    const all = Array.from({ length: 10 }, (_, i) => {
      const p = verifier.argon2id(hash, i % 2 === 0 ? PASSWORDS.pat : 'wrong');
      peak = Math.max(peak, verifier.load.running);
      return p;
    });
    assert.equal(peak, 2);
    assert.deepEqual(verifier.load, { running: 2, queued: 8 });
    assert.deepEqual(await Promise.all(all), Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? VerifyResult.Match : VerifyResult.Mismatch)));
  });

  test('a malformed stored hash is a mismatch, not a crash', async () => {
    assert.equal(await new PasswordVerifier().argon2id('$argon2id$garbage', 'x'), VerifyResult.Mismatch);
  });

  test('an unknown user costs about what a known user costs (no user enumeration by timing)', async (t) => {
    const auth = authenticator();
    const time = async (name: string, password: string) => {
      const start = performance.now();
      const outcome = await auth.password(name, password);
      assert.equal(outcome.ok, false);
      return performance.now() - start;
    };
    await time('nobody', 'warm-up-password'); // the dummy hash is computed on first use
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1]!;
    const runs: Record<string, number[]> = { unknown: [], password: [], scram: [], tls: [] };
    for (let i = 0; i < 7; i++) {
      runs.unknown!.push(await time(`nobody-${i}`, 'Wrong-password-1'));
      runs.password!.push(await time('pat', 'Wrong-password-1'));
      runs.scram!.push(await time('sue', 'Wrong-password-1'));
      runs.tls!.push(await time('carol', 'Wrong-password-1'));
    }
    const unknown = median(runs.unknown!);
    t.diagnostic(`median ms: unknown ${unknown.toFixed(1)}, ${(['password', 'scram', 'tls'] as const).map((k) => `${k} ${median(runs[k]!).toFixed(1)}`).join(', ')}`);
    for (const kind of ['password', 'scram', 'tls'] as const) {
      const ratio = unknown / median(runs[kind]!);
      assert.ok(ratio > 0.5 && ratio < 2, `unknown user vs ${kind} user: ratio ${ratio.toFixed(2)} (${unknown.toFixed(1)} ms vs ${median(runs[kind]!).toFixed(1)} ms)`);
    }
  });
});

describe('LoginBackoff', () => {
  const IP = '198.51.100.7';
  test('delays grow after three failures in a window, double, cap at 5 s; a success halves the count', () => {
    const backoff = new LoginBackoff();
    const t0 = 1_000_000;
    const expected = [0, 0, 0, 100, 200, 400, 800, 1600, 3200, 5000, 5000];
    const got: number[] = [];
    for (let i = 0; i < expected.length; i++) {
      got.push(backoff.delayFor(IP, t0 + i * 1000));
      backoff.record(IP, false, t0 + i * 1000);
    }
    assert.deepEqual(got, expected);
    // 11 failures; a success leaves 5 (not 0): one owned account cannot wipe an address's backoff.
    backoff.record(IP, true, t0 + 20_000);
    assert.equal(backoff.delayFor(IP, t0 + 20_001), 400);
    backoff.record(IP, true, t0 + 20_002); // 2 failures: within the free three
    assert.equal(backoff.delayFor(IP, t0 + 20_004), 0);
  });

  test('counts per address, not per user: other addresses are not slowed', () => {
    const backoff = new LoginBackoff();
    for (let i = 0; i < 6; i++) backoff.record(IP, false, i);
    assert.equal(backoff.delayFor(IP, 10), 800);
    assert.equal(backoff.delayFor('198.51.100.8', 10), 0);
  });

  test('failures are forgotten a window after the last one', () => {
    const backoff = new LoginBackoff({ windowMs: 60_000 });
    for (let i = 0; i < 5; i++) backoff.record(IP, false, 0);
    const table: [number, number][] = [
      [59_999, 400],
      [60_000, 0],
    ];
    for (const [at, delay] of table) assert.equal(backoff.delayFor(IP, at), delay, `at ${at}`);
    backoff.record(IP, false, 60_000);
    assert.equal(backoff.delayFor(IP, 60_001), 0, 'a new window starts from one failure');
  });

  test('IPv6 addresses count per /64, IPv4-mapped addresses as IPv4', () => {
    const backoff = new LoginBackoff();
    for (let i = 1; i <= 4; i++) backoff.record(`2001:db8:1:2::${i}`, false, 0);
    assert.equal(backoff.delayFor('2001:db8:1:2:ffff::9', 1), 200);
    assert.equal(backoff.delayFor('2001:db8:1:3::1', 1), 0);
    assert.equal(backoffKey('::ffff:192.0.2.1'), '192.0.2.1');
  });

  test('memory is bounded: the oldest addresses go first, expired ones are swept', () => {
    const backoff = new LoginBackoff({ maxEntries: 3, windowMs: 1000 });
    for (let i = 1; i <= 5; i++) for (let k = 0; k < 4; k++) backoff.record(`192.0.2.${i}`, false, i);
    assert.equal(backoff.size, 3);
    assert.equal(backoff.delayFor('192.0.2.1', 6), 0, 'evicted');
    assert.equal(backoff.delayFor('192.0.2.5', 6), 200);
    backoff.record('192.0.2.9', false, 5000);
    assert.equal(backoff.size, 1, 'expired entries were swept');
  });

  test('options are checked', () => {
    assert.throws(() => new LoginBackoff({ maxEntries: 0 }), { code: 'BWK_ERR_CONFIG_INVALID' });
    assert.throws(() => new LoginBackoff({ baseDelayMs: -1 }), { code: 'BWK_ERR_CONFIG_INVALID' });
  });
});
