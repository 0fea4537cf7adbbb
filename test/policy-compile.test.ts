// compilePolicy and the snapshot: deterministic, derived credentials only, rejected whole when wrong.
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { isBulwarkError } from '../src/lib/errors.ts';
import {
  buildAuthorizer,
  compilePolicy,
  decodeSnapshot,
  encodeSnapshot,
  loadPolicyDirectory,
  scramCredential,
  sealSnapshot,
  tokenHash,
} from '../src/policy/index.ts';
import { canonicalJson } from '../src/lib/index.ts';
import { CLUSTER, grant, NS, resource, role, user } from './harness/resources.ts';

const examples = join(import.meta.dirname, '..', 'examples', 'policy');
const saltKey = Buffer.alloc(32, 7);

describe('SCRAM credentials', () => {
  test('pass the RFC 7677 SCRAM-SHA-256 test vector', async () => {
    // RFC 7677 section 3: user "user", password "pencil".
    const salt = Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64');
    const cred = await scramCredential('SCRAM-SHA-256', 'pencil', salt, 4096);
    const authMessage =
      'n=user,r=rOprNGfwEbeRWgbNEkqO,' +
      'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,' +
      'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0';
    const proof = Buffer.from('dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=', 'base64');
    // The server's check: ClientKey = proof XOR HMAC(StoredKey, AuthMessage); H(ClientKey) == StoredKey.
    const clientSignature = createHmac('sha256', Buffer.from(cred.storedKey, 'base64')).update(authMessage).digest();
    const clientKey = Buffer.from(proof.map((b, i) => b ^ clientSignature[i]!));
    assert.equal(createHash('sha256').update(clientKey).digest('base64'), cred.storedKey);
    const serverSignature = createHmac('sha256', Buffer.from(cred.serverKey, 'base64')).update(authMessage).digest('base64');
    assert.equal(serverSignature, '6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=');
  });
});

describe('compilePolicy', () => {
  test('the examples compile without errors, and twice to the same bytes', async () => {
    const a = await loadPolicyDirectory(examples, { saltKey });
    const b = await loadPolicyDirectory(examples, { saltKey });
    assert.deepEqual(a.problems.filter((p) => p.severity === 'error'), []);
    assert.equal(encodeSnapshot(a.snapshot), encodeSnapshot(b.snapshot));
    assert.match(a.snapshot.hash, /^sha256:[0-9a-f]{64}$/);
    assert.equal(a.snapshot.users.length, 5);
    assert.equal(a.snapshot.tokens.length, 1);
  });

  test('the snapshot carries no password or token, only derived credentials', async () => {
    const { snapshot, directory } = await loadPolicyDirectory(examples, { saltKey });
    const bytes = encodeSnapshot(snapshot);
    const secrets = [...directory.secrets.values()].flatMap((s) => [...s.data.values()]);
    assert.ok(secrets.length >= 5);
    for (const secret of secrets) {
      assert.ok(!bytes.includes(secret), 'a plaintext secret reached the snapshot');
      assert.ok(!bytes.includes(Buffer.from(secret).toString('base64')), 'a base64 secret reached the snapshot');
    }
    const dana = snapshot.users.find((u) => u.name === 'dana@example.com')!;
    assert.match(dana.credentials.argon2id!, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    const admin = snapshot.users.find((u) => u.name === 'platform-admin')!;
    assert.ok(admin.credentials.scramSha512 && !admin.credentials.scramSha256);
    const token = snapshot.tokens[0]!;
    assert.equal(token.sha256, tokenHash('bwk_3xEafKN7fj2noU-CtbGlJO0FRL6pNUZwfL0_DwYtGpc'));
  });

  test('different salt keys give different salts for the same password', async () => {
    const a = await loadPolicyDirectory(examples, { saltKey });
    const b = await loadPolicyDirectory(examples, { saltKey: Buffer.alloc(32, 8) });
    assert.notEqual(a.snapshot.users[0]!.credentials, b.snapshot.users[0]!.credentials);
    assert.notEqual(a.snapshot.hash, b.snapshot.hash);
  });

  test('compiles only the given cluster\'s resources in its namespace', () => {
    const other = resource('User', 'eve', { clusterRef: { name: 'other' }, authentication: { type: 'tls' } });
    const elsewhere = resource('User', 'mallory', { clusterRef: { name: CLUSTER }, authentication: { type: 'tls' } }, 'another-namespace');
    const { snapshot } = compilePolicy({ cluster: { namespace: NS, name: CLUSTER }, resources: [user('alice'), other, elsewhere] });
    assert.deepEqual(snapshot.users.map((u) => u.name), ['alice']);
  });

  test('a username claimed twice logs in as neither', () => {
    const { snapshot, diagnostics } = compilePolicy({
      cluster: { namespace: NS, name: CLUSTER },
      resources: [user('a', { username: 'shared' }), user('b', { username: 'shared' })],
    });
    assert.deepEqual(snapshot.users, []);
    assert.equal(diagnostics.filter((d) => d.severity === 'error').length, 2);
  });

  test('a certificate subject claimed by two tls users is an error on both (the broker lets neither log in with it)', () => {
    const { snapshot, diagnostics } = compilePolicy({
      cluster: { namespace: NS, name: CLUSTER },
      resources: [user('a', { authentication: { type: 'tls', certificateSubject: 'CN=edge' } }), user('b', { authentication: { type: 'tls', certificateSubject: 'CN=edge' } }), user('c')],
    });
    const errors = diagnostics.filter((d) => d.severity === 'error');
    assert.deepEqual(errors.map((d) => [d.resource, d.path]), [
      ['User/a', 'spec.authentication.certificateSubject'],
      ['User/b', 'spec.authentication.certificateSubject'],
    ]);
    assert.match(errors[0]!.message, /certificate subject CN=edge is claimed by 2 tls Users/);
    assert.deepEqual(snapshot.users.map((u) => u.name), ['a', 'b', 'c'], 'their other ways in (none for tls users) are untouched');
  });

  test('a password user named token is an error: PLAIN and HTTP logins read that name as an access token', () => {
    const { diagnostics } = compilePolicy({
      cluster: { namespace: NS, name: CLUSTER },
      resources: [user('robot', { username: 'token', authentication: { type: 'password', passwordSecretRef: { name: 'robot-pw', key: 'password' } } })],
      credentials: { users: new Map([['robot', { argon2id: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA' }]]) },
    });
    const errors = diagnostics.filter((d) => d.severity === 'error');
    assert.deepEqual(errors.map((d) => [d.resource, d.path]), [['User/robot', 'spec.username']]);
    assert.match(errors[0]!.message, /username token is reserved for access-token logins/);
    const tls = compilePolicy({ cluster: { namespace: NS, name: CLUSTER }, resources: [user('token')] });
    assert.deepEqual(tls.diagnostics, [], 'a tls user named token logs in with its certificate: fine');
  });

  test('fails closed: a Deny naming a missing role denies everything on its topics', () => {
    const { snapshot, diagnostics } = compilePolicy({
      cluster: { namespace: NS, name: CLUSTER },
      resources: [
        user('alice'),
        grant('allow', { subjects: [{ kind: 'User', name: 'alice' }], topics: ['*'], actions: ['all'] }),
        grant('deny', { subjects: [{ kind: 'User', name: 'alice' }], topics: ['secret-*'], role: 'missing', effect: 'Deny' }),
      ],
    });
    assert.ok(diagnostics.some((d) => d.resource === 'TopicGrant/deny' && d.severity === 'error'));
    const authz = buildAuthorizer(snapshot);
    const ask = (action: 'read' | 'write' | 'describe', name: string) => authz.authorize({ principal: { user: 'alice' }, action, resource: { type: 'topic', name } }).allowed;
    assert.equal(ask('read', 'secret-x'), false);
    assert.equal(ask('describe', 'secret-x'), false);
    assert.equal(ask('read', 'public'), true);
  });

  test('fails closed: a token whose scope names a missing role is not accepted', () => {
    const token = resource('AccessToken', 't', { clusterRef: { name: CLUSTER }, userRef: { name: 'alice' }, roles: ['missing'] });
    const { snapshot, diagnostics } = compilePolicy({
      cluster: { namespace: NS, name: CLUSTER },
      resources: [user('alice'), token],
      credentials: { tokens: new Map([['t', { sha256: 'a'.repeat(64) }]]) },
    });
    assert.deepEqual(snapshot.tokens, []);
    assert.ok(diagnostics.some((d) => d.resource === 'AccessToken/t'));
  });

  test('a TopicGrant with a role applies the role narrowed to its topics', () => {
    const { snapshot } = compilePolicy({
      cluster: { namespace: NS, name: CLUSTER },
      resources: [
        user('alice'),
        role('rw', [{ resources: [{ type: 'topic', pattern: 'orders-*' }, { type: 'group', pattern: '*' }], actions: ['read', 'write'] }]),
        grant('g', { subjects: [{ kind: 'User', name: 'alice' }], topics: ['orders-eu-*', 'payments'], consumerGroups: ['billing'], role: 'rw' }),
      ],
    });
    assert.deepEqual(
      snapshot.rules.map((r) => `${r.resourceType}:${r.pattern}:${r.actions.join('+')}`),
      ['group:billing:read', 'topic:orders-eu-*:read+write'],
    );
  });

  test('token lifetime counts from when the token was issued', () => {
    const token = resource('AccessToken', 't', { clusterRef: { name: CLUSTER }, userRef: { name: 'alice' }, lifetime: '24h' });
    const { snapshot } = compilePolicy({
      cluster: { namespace: NS, name: CLUSTER },
      resources: [user('alice'), token],
      credentials: { tokens: new Map([['t', { sha256: 'a'.repeat(64), issuedAt: '2026-01-01T00:00:00Z' }]]) },
    });
    assert.equal(snapshot.tokens[0]!.expiresAt, '2026-01-02T00:00:00.000Z');
  });
});

describe('decodeSnapshot', () => {
  const good = () => compilePolicy({ cluster: { namespace: NS, name: CLUSTER }, resources: [user('alice'), grant('g', { subjects: [{ kind: 'User', name: 'alice' }], topics: ['t'], actions: ['read'] })] }).snapshot;

  test('round-trips a snapshot', () => {
    const s = good();
    assert.deepEqual(decodeSnapshot(encodeSnapshot(s)), s);
  });

  test('the wire form kept from sealing is the canonical JSON of the whole snapshot, also sealed again with another version', () => {
    const s = good();
    for (const sealed of [s, sealSnapshot(s, 7), sealSnapshot(sealSnapshot(s, 7), 12_345)]) {
      assert.equal(encodeSnapshot(sealed), canonicalJson(sealed));
      assert.equal(sealed.hash, s.hash);
    }
    // A copy is encoded from scratch (nothing kept for it), to the same bytes.
    assert.equal(encodeSnapshot({ ...s }), encodeSnapshot(s));
    // A decoded snapshot (a broker's, about to persist it) encodes to the bytes it came as.
    const text = encodeSnapshot(sealSnapshot(s, 9));
    assert.equal(encodeSnapshot(decodeSnapshot(text)), text);
  });

  test('rejects a snapshot whose content does not match its hash', () => {
    const s = good();
    const tampered = encodeSnapshot(s).replace('"read"', '"write"');
    assert.throws(() => decodeSnapshot(tampered), (e) => isBulwarkError(e, 'BWK_ERR_SNAPSHOT_HASH_MISMATCH'));
  });

  test('rejects malformed snapshots whole, with a coded error naming the field', () => {
    const s = JSON.parse(encodeSnapshot(good()));
    s.rules[0].actions = ['fly'];
    assert.throws(() => decodeSnapshot(JSON.stringify(s)), (e) => isBulwarkError(e, 'BWK_ERR_SNAPSHOT_INVALID') && /rules\.0\.actions/.test(e.message));
    assert.throws(() => decodeSnapshot('{'), (e) => isBulwarkError(e, 'BWK_ERR_SNAPSHOT_INVALID'));
  });

  test('the authorizer refuses a snapshot with a bad host, building nothing', () => {
    const s = good();
    s.rules[0]!.hosts = ['not-an-ip'];
    assert.throws(() => buildAuthorizer(s), (e) => isBulwarkError(e, 'BWK_ERR_SNAPSHOT_INVALID'));
  });
});

test('the example secrets file is marked as example-only', () => {
  assert.match(readFileSync(join(examples, 'secrets.local.yaml'), 'utf8'), /never use them anywhere real/);
});
