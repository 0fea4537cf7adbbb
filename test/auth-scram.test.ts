// The SCRAM server: the RFC 7677 vector byte for byte, real clients (kafkajs's SCRAM and one
// written here from RFC 5802), unknown users that look like wrong passwords, and every
// malformed message ending the exchange cleanly.
import assert from 'node:assert/strict';
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { AuthFailureReason, Authenticator, decodeSaslName, encodeSaslName, ScramServer, type AuthOutcome, type ScramExchange, type ScramStep } from '../src/auth/index.ts';
import { compilePolicy, deriveCredentials, scramCredential, type PolicySnapshot } from '../src/policy/index.ts';
import { CLUSTER, NS, user } from './harness/resources.ts';

const serverSecret = Buffer.alloc(32, 42);

// --- A SCRAM client written from RFC 5802, independent of the server's code -----------------

type Hash = 'sha256' | 'sha512';
const hmac = (alg: Hash, key: Buffer, data: string) => createHmac(alg, key).update(data).digest();

class TestScramClient {
  readonly nonce = randomBytes(18).toString('base64');
  readonly gs2: string;
  readonly bare: string;
  #serverFirst = '';
  #salted = Buffer.alloc(0);
  #withoutProof = '';

  constructor(
    readonly alg: Hash,
    readonly username: string,
    readonly password: string,
    opts: { gs2?: string } = {},
  ) {
    this.gs2 = opts.gs2 ?? 'n,,';
    this.bare = `n=${encodeSaslName(username)},r=${this.nonce}`;
  }

  first(): Buffer {
    return Buffer.from(this.gs2 + this.bare);
  }

  final(serverFirst: Buffer, opts: { channelBinding?: string } = {}): Buffer {
    this.#serverFirst = serverFirst.toString();
    const attrs = Object.fromEntries(this.#serverFirst.split(',').map((a) => [a[0], a.slice(2)]));
    assert.ok(attrs.r!.startsWith(this.nonce), 'server nonce starts with the client nonce');
    this.#salted = pbkdf2Sync(this.password, Buffer.from(attrs.s!, 'base64'), Number(attrs.i), this.alg === 'sha256' ? 32 : 64, this.alg);
    this.#withoutProof = `c=${opts.channelBinding ?? Buffer.from(this.gs2).toString('base64')},r=${attrs.r}`;
    const clientKey = hmac(this.alg, this.#salted, 'Client Key');
    const storedKey = createHash(this.alg).update(clientKey).digest();
    const signature = hmac(this.alg, storedKey, this.authMessage());
    const proof = Buffer.from(clientKey.map((b, i) => b ^ signature[i]!));
    return Buffer.from(`${this.#withoutProof},p=${proof.toString('base64')}`);
  }

  /** The server signature the client expects in server-final. */
  expectedServerFinal(): string {
    return `v=${hmac(this.alg, hmac(this.alg, this.#salted, 'Server Key'), this.authMessage()).toString('base64')}`;
  }

  authMessage(): string {
    return `${this.bare},${this.#serverFirst},${this.#withoutProof}`;
  }
}

// --- A policy compiled by the real compiler -----------------------------------------------

const PASSWORDS: Record<string, string> = { sam: 'sam-Secret-256!', sue: 'sue-Secret-512!', pat: 'pat-Password-1!', dis: 'dis-Disabled-1!' };

async function policy(): Promise<PolicySnapshot> {
  const saltKey = Buffer.alloc(32, 7);
  const types = { sam: 'scram-sha-256', sue: 'scram-sha-512', pat: 'password', dis: 'scram-sha-512' } as const;
  const users = new Map();
  for (const [name, type] of Object.entries(types)) users.set(name, await deriveCredentials(type, PASSWORDS[name]!, { saltKey, identity: `${NS}/${CLUSTER}/${name}` }));
  const { snapshot, diagnostics } = compilePolicy({
    cluster: { namespace: NS, name: CLUSTER },
    resources: [
      ...Object.entries(types).map(([name, type]) => user(name, { authentication: { type }, ...(name === 'dis' ? { disabled: true } : {}) })),
      user('tess', { authentication: { type: 'tls' } }),
    ],
    credentials: { users },
  });
  assert.deepEqual(diagnostics, []);
  return snapshot;
}
const snapshot = await policy();

async function runExchange(exchange: ScramExchange, client: TestScramClient) {
  const first = await exchange.step(client.first());
  if (first.outcome) return { serverFirst: first.response.toString(), final: first.response.toString(), outcome: first.outcome };
  const final = await exchange.step(client.final(first.response));
  return { serverFirst: first.response.toString(), final: final.response.toString(), outcome: final.outcome! };
}

const authenticator = (snap: PolicySnapshot = snapshot, secret = serverSecret) => new Authenticator({ policy: () => snap, serverSecret: secret });

describe('SCRAM server', () => {
  test('passes the RFC 7677 SCRAM-SHA-256 test vector byte for byte', async () => {
    const credential = await scramCredential('SCRAM-SHA-256', 'pencil', Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'), 4096);
    const server = new ScramServer({
      mechanism: 'SCRAM-SHA-256',
      serverSecret,
      lookup: (name) => (name === 'user' ? { credential } : { credential: undefined, fakeIterations: 4096 }),
      nonce: () => '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
    });
    const first = server.step(Buffer.from('n,,n=user,r=rOprNGfwEbeRWgbNEkqO'));
    assert.equal(first.status, 'continue');
    assert.equal(first.response.toString(), 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096');
    const final = server.step(Buffer.from('c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ='));
    assert.equal(final.status, 'success');
    assert.equal(final.response.toString(), 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=');
    // One flipped bit of the proof fails.
    const again = new ScramServer({ mechanism: 'SCRAM-SHA-256', serverSecret, lookup: () => ({ credential }), nonce: () => '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0' });
    again.step(Buffer.from('n,,n=user,r=rOprNGfwEbeRWgbNEkqO'));
    const wrong = again.step(Buffer.from('c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVU='));
    assert.equal(wrong.status, 'failure');
    assert.equal(wrong.response.toString(), 'e=invalid-proof');
  });

  test('server nonces are fresh, random and at least 18 bytes', () => {
    const nonces = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const server = new ScramServer({ mechanism: 'SCRAM-SHA-256', serverSecret, lookup: () => ({ credential: undefined, fakeIterations: 4096 }) });
      const r = server.step(Buffer.from('n,,n=x,r=abc')).response.toString().split(',')[0]!.slice(2);
      const serverPart = r.slice(3);
      assert.ok(Buffer.from(serverPart, 'base64').length >= 18);
      nonces.add(serverPart);
    }
    assert.equal(nonces.size, 50);
  });

  test('SCRAM-SHA-512 round trip against the compiled policy, with a client written from the RFC', async () => {
    const client = new TestScramClient('sha512', 'sue', PASSWORDS.sue!);
    const { serverFirst, final, outcome } = await runExchange(authenticator().scram('SCRAM-SHA-512'), client);
    assert.match(serverFirst, /^r=[^,]+,s=[A-Za-z0-9+/=]+,i=8192$/);
    assert.equal(final, client.expectedServerFinal(), 'the server proves it knows the key too');
    assert.deepEqual(outcome, { ok: true, principal: { user: 'sue' }, mechanism: 'SCRAM-SHA-512' });
  });

  test('SCRAM-SHA-256 round trip, with the y flag and with an authzid equal to the username', async () => {
    for (const gs2 of ['n,,', 'y,,', 'n,a=sam,']) {
      const client = new TestScramClient('sha256', 'sam', PASSWORDS.sam!, { gs2 });
      const { outcome } = await runExchange(authenticator().scram('SCRAM-SHA-256'), client);
      assert.equal(outcome.ok, true, gs2);
    }
  });

  test('kafkajs\'s own SCRAM client logs in with both mechanisms, and fails with a wrong password', async () => {
    const require = createRequire(import.meta.url);
    const { SCRAM, DIGESTS } = require('kafkajs/src/broker/saslAuthenticator/scram.js');
    const logger = { debug() {}, info() {}, warn() {}, error() {} };
    const viaKafkajs = async (mechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-512', username: string, password: string) => {
      const exchange = authenticator().scram(mechanism);
      let outcome: AuthOutcome | undefined;
      // kafkajs frames SASL payloads as Kafka BYTES (int32 length first), as on the wire.
      const saslAuthenticate = async ({ request, response }: { request: { encode(): Promise<Buffer> }; response: { decode(b: Buffer): Promise<Buffer>; parse(b: Buffer): Promise<unknown> } }) => {
        const step = await exchange.step((await request.encode()).subarray(4));
        outcome = step.outcome;
        const framed = Buffer.alloc(4 + step.response.length);
        framed.writeInt32BE(step.response.length);
        step.response.copy(framed, 4);
        return response.parse(await response.decode(framed));
      };
      const client = new SCRAM({ username, password }, 'localhost', 9092, logger, saslAuthenticate, mechanism === 'SCRAM-SHA-256' ? DIGESTS.SHA256 : DIGESTS.SHA512);
      const error = await client.authenticate().then(() => undefined, (err: Error) => err);
      return { error, outcome };
    };
    for (const [mechanism, name] of [['SCRAM-SHA-256', 'sam'], ['SCRAM-SHA-512', 'sue']] as const) {
      const good = await viaKafkajs(mechanism, name, PASSWORDS[name]!);
      assert.equal(good.error, undefined, `${mechanism}: ${good.error?.message}`);
      assert.deepEqual(good.outcome, { ok: true, principal: { user: name }, mechanism });
      const bad = await viaKafkajs(mechanism, name, 'not-the-password');
      assert.match(bad.error!.message, /invalid-proof/);
      assert.equal(bad.outcome?.ok === false && bad.outcome.reason, AuthFailureReason.BadCredentials);
    }
  });
});

describe('SCRAM without a usable credential looks like a wrong password', () => {
  const realSalt = Buffer.from(snapshot.users.find((u) => u.name === 'sue')!.credentials.scramSha512!.salt, 'base64');

  test('an unknown user gets a stable, secret-derived salt of the real length, the real iterations, and fails only at the last step', async () => {
    const a = await runExchange(authenticator().scram('SCRAM-SHA-512'), new TestScramClient('sha512', 'nobody', 'whatever'));
    const b = await runExchange(authenticator().scram('SCRAM-SHA-512'), new TestScramClient('sha512', 'nobody', 'whatever'));
    const c = await runExchange(authenticator().scram('SCRAM-SHA-512'), new TestScramClient('sha512', 'somebody-else', 'whatever'));
    const d = await runExchange(authenticator(snapshot, Buffer.alloc(32, 1)).scram('SCRAM-SHA-512'), new TestScramClient('sha512', 'nobody', 'whatever'));
    const known = await runExchange(authenticator().scram('SCRAM-SHA-512'), new TestScramClient('sha512', 'sue', 'wrong password'));
    const salt = (r: { serverFirst: string }) => r.serverFirst.split(',')[1]!;
    const iterations = (r: { serverFirst: string }) => r.serverFirst.split(',')[2]!;
    assert.equal(salt(a), salt(b), 'asking twice shows the same salt, as for a real user');
    assert.notEqual(salt(a), salt(c));
    assert.notEqual(salt(a), salt(d), 'the salt derives from the server secret');
    assert.equal(Buffer.from(salt(a).slice(2), 'base64').length, realSalt.length);
    assert.equal(iterations(a), iterations(known));
    assert.equal(a.final, 'e=invalid-proof');
    assert.equal(a.final, known.final);
    assert.deepEqual(a.outcome, { ok: false, reason: AuthFailureReason.UnknownUser, mechanism: 'SCRAM-SHA-512', user: 'nobody' });
    assert.deepEqual(known.outcome, { ok: false, reason: AuthFailureReason.BadCredentials, mechanism: 'SCRAM-SHA-512', user: 'sue' });
  });

  test('users of another mechanism and disabled users get the same answer; the audit reason says which', async () => {
    const cases = [
      { mechanism: 'SCRAM-SHA-256', alg: 'sha256', name: 'sue', password: PASSWORDS.sue!, reason: AuthFailureReason.WrongMechanism },
      { mechanism: 'SCRAM-SHA-512', alg: 'sha512', name: 'pat', password: PASSWORDS.pat!, reason: AuthFailureReason.WrongMechanism },
      { mechanism: 'SCRAM-SHA-512', alg: 'sha512', name: 'tess', password: 'x', reason: AuthFailureReason.WrongMechanism },
      { mechanism: 'SCRAM-SHA-512', alg: 'sha512', name: 'dis', password: PASSWORDS.dis!, reason: AuthFailureReason.UserDisabled },
      { mechanism: 'SCRAM-SHA-512', alg: 'sha512', name: 'dis', password: 'wrong', reason: AuthFailureReason.BadCredentials },
    ] as const;
    for (const c of cases) {
      const r = await runExchange(authenticator().scram(c.mechanism), new TestScramClient(c.alg, c.name, c.password));
      assert.match(r.serverFirst, /^r=[^,]+,s=[^,]+,i=8192$/, c.name);
      assert.equal(r.final, 'e=invalid-proof', c.name);
      assert.equal(r.outcome.ok === false && r.outcome.reason, c.reason, `${c.name} with ${c.mechanism}`);
    }
  });

  test('a user disabled or removed between client-first and client-final does not get in', async () => {
    let current = snapshot;
    const auth = new Authenticator({ policy: () => current, serverSecret });
    for (const change of [
      (s: PolicySnapshot) => ({ ...s, users: s.users.map((u) => (u.name === 'sue' ? { ...u, disabled: true } : u)) }),
      (s: PolicySnapshot) => ({ ...s, users: s.users.filter((u) => u.name !== 'sue') }),
    ]) {
      current = snapshot;
      const exchange = auth.scram('SCRAM-SHA-512');
      const client = new TestScramClient('sha512', 'sue', PASSWORDS.sue!);
      const first = await exchange.step(client.first());
      current = change(snapshot);
      const final = await exchange.step(client.final(first.response));
      assert.equal(final.response.toString(), 'e=invalid-proof');
      assert.equal(final.outcome?.ok, false);
    }
  });
});

describe('malformed SCRAM messages end the exchange cleanly', () => {
  const newServer = () =>
    new ScramServer({
      mechanism: 'SCRAM-SHA-256',
      serverSecret,
      lookup: () => ({ credential: undefined, fakeIterations: 4096 }),
    });

  const clientFirsts: [string, Buffer | string, string][] = [
    ['empty', '', 'invalid-encoding'],
    ['not UTF-8', Buffer.from([0x6e, 0x2c, 0x2c, 0x6e, 0x3d, 0xff, 0x2c, 0x72, 0x3d, 0x61]), 'invalid-encoding'],
    ['channel binding asked for', 'p=tls-server-end-point,,n=user,r=abc', 'channel-binding-not-supported'],
    ['unknown gs2 flag', 'x,,n=user,r=abc', 'invalid-encoding'],
    ['gs2 header not terminated', 'n,a=user', 'invalid-encoding'],
    ['gs2 header with something other than a=', 'n,b=user,n=user,r=abc', 'invalid-encoding'],
    ['authzid of another user', 'n,a=admin,n=user,r=abc', 'other-error'],
    ['mandatory extension', 'n,,m=ext,n=user,r=abc', 'extensions-not-supported'],
    ['Kafka delegation token', 'n,,n=tokenid,r=abc,tokenauth=true', 'extensions-not-supported'],
    ['another extension', 'n,,n=user,r=abc,x=1', 'extensions-not-supported'],
    ['= not followed by 2C or 3D', 'n,,n=us=er,r=abc', 'invalid-username-encoding'],
    ['empty username', 'n,,n=,r=abc', 'invalid-username-encoding'],
    ['attributes out of order', 'n,,r=abc,n=user', 'invalid-encoding'],
    ['no nonce', 'n,,n=user', 'invalid-encoding'],
    ['empty nonce', 'n,,n=user,r=', 'invalid-encoding'],
    ['nonce with a space', 'n,,n=user,r=a b', 'invalid-encoding'],
    ['nonce with a non-ASCII character', 'n,,n=user,r=abcé', 'invalid-encoding'],
    ['oversized', `n,,n=user,r=${'a'.repeat(5000)}`, 'invalid-encoding'],
  ];
  for (const [name, message, error] of clientFirsts) {
    test(`client-first: ${name}`, () => {
      const server = newServer();
      const step = server.step(typeof message === 'string' ? Buffer.from(message) : message);
      assert.equal(step.status, 'failure');
      assert.equal(step.response.toString(), `e=${error}`);
      assert.equal(server.stage, 'finished');
      assert.equal(server.step(Buffer.from('n,,n=user,r=abc')).status, 'failure', 'a finished exchange stays finished');
    });
  }

  const clientFinals: [string, (nonce: string) => string, string][] = [
    ['no proof', (r) => `c=biws,r=${r}`, 'invalid-encoding'],
    ['proof not base64', (r) => `c=biws,r=${r},p=!!!!`, 'invalid-encoding'],
    ['proof of the wrong length', (r) => `c=biws,r=${r},p=${Buffer.alloc(16).toString('base64')}`, 'invalid-encoding'],
    ['channel binding of another gs2 header (a downgrade)', (r) => `c=eSws,r=${r},p=${Buffer.alloc(32).toString('base64')}`, 'channel-bindings-dont-match'],
    ['nonce of another exchange', () => `c=biws,r=abcdef,p=${Buffer.alloc(32).toString('base64')}`, 'other-error'],
    ['extension', (r) => `c=biws,r=${r},x=1,p=${Buffer.alloc(32).toString('base64')}`, 'extensions-not-supported'],
    ['attributes out of order', (r) => `r=${r},c=biws,p=${Buffer.alloc(32).toString('base64')}`, 'invalid-encoding'],
    ['wrong proof', (r) => `c=biws,r=${r},p=${Buffer.alloc(32).toString('base64')}`, 'invalid-proof'],
  ];
  for (const [name, final, error] of clientFinals) {
    test(`client-final: ${name}`, () => {
      const server = newServer();
      const first = server.step(Buffer.from('n,,n=user,r=abc'));
      assert.equal(first.status, 'continue');
      const nonce = first.response.toString().split(',')[0]!.slice(2);
      const step = server.step(Buffer.from(final(nonce)));
      assert.equal(step.status, 'failure');
      assert.equal(step.response.toString(), `e=${error}`);
    });
  }

  test('through the Authenticator, protocol errors are Malformed and say which check failed', async () => {
    const exchange = authenticator().scram('SCRAM-SHA-256');
    const r = await exchange.step(Buffer.from('n,,n=sam,r=abc,tokenauth=true'));
    assert.equal(r.response.toString(), 'e=extensions-not-supported');
    assert.deepEqual(r.outcome, { ok: false, reason: AuthFailureReason.Malformed, mechanism: 'SCRAM-SHA-256', detail: 'delegation-token authentication (tokenauth) is not supported' });
    const after = await exchange.step(Buffer.from('c=biws,r=abc,p=AAAA'));
    assert.equal(after.outcome?.ok, false);
  });

  test('random bytes in either message never throw and never succeed', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 300 }), (a, b) => {
        const server = newServer();
        const first: ScramStep = server.step(a);
        const second: ScramStep = server.step(b);
        assert.notEqual(first.status, 'success');
        assert.equal(second.status, 'failure');
        assert.match(second.response.toString(), /^e=[a-z-]+$/);
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 120 }), (tail) => {
        const server = newServer();
        const step = server.step(Buffer.from(`n,,n=user,r=abc${tail}`));
        if (step.status === 'continue') server.step(Buffer.from(`c=biws,r=${tail},p=${tail}`));
        assert.notEqual(server.step(Buffer.from('c=biws')).status, 'success');
      }),
      { numRuns: 2000 },
    );
  });

  test('saslnames decode =2C and =3D and refuse any other escape', () => {
    assert.equal(decodeSaslName('a=2Cb=3Dc'), 'a,b=c');
    assert.equal(encodeSaslName('a,b=c'), 'a=2Cb=3Dc');
    for (const bad of ['a=2c', 'a=', 'a=3', 'a,b', 'a=41']) assert.equal(decodeSaslName(bad), undefined, bad);
  });
});
