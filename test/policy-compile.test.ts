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
    const again = await loadPolicyDirectory(examples, { saltKey });
    const salts = (loaded: typeof a) => loaded.snapshot.users.flatMap((u) => [u.credentials.scramSha256?.salt, u.credentials.scramSha512?.salt].filter((x) => x !== undefined));
    assert.ok(salts(a).length >= 2, 'the examples have SCRAM users');
    // Every SCRAM user's salt changes with the key, and stays with the same key.
    assert.equal(salts(a).length, salts(b).length);
    salts(a).forEach((salt, i) => assert.notEqual(salt, salts(b)[i]));
    assert.deepEqual(salts(again), salts(a));
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

describe('limits and caps the compiler resolves', () => {
  const cluster = (spec: Record<string, unknown>) =>
    resource('BrokerCluster', CLUSTER, { replicas: 1, storage: { size: '1Gi' }, listeners: [{ name: 'kafka', protocol: 'kafka', port: 9092 }], ...spec });
  const compile = (resources: Parameters<typeof compilePolicy>[0]['resources'], tokens: [string, string][] = []) =>
    compilePolicy({ cluster: { namespace: NS, name: CLUSTER }, resources, credentials: { tokens: new Map(tokens.map(([id, hex]) => [id, { sha256: hex.repeat(64) }])) } });

  test("a user's limits merge field by field: its own over its limit group's over the cluster's defaults", () => {
    const { snapshot, diagnostics } = compile([
      cluster({
        limits: { users: { maxConnections: 10, requestsPerSecond: 100, maxTokens: 5 } },
        limitGroups: [{ name: 'batch', limits: { requestsPerSecond: 1000, produceBytesPerSecond: 5000, maxConsumers: 2 } }],
      }),
      user('grouped', { limitGroup: 'batch', limits: { produceBytesPerSecond: 7000 } }),
      user('plain'),
      user('lost', { limitGroup: 'missing', limits: { maxProducers: 1 } }),
    ]);
    const limitsOf = (name: string) => snapshot.users.find((u) => u.name === name)!.limits;
    assert.deepEqual(limitsOf('grouped'), { maxConnections: 10, requestsPerSecond: 1000, maxTokens: 5, produceBytesPerSecond: 7000, maxConsumers: 2 });
    assert.deepEqual(limitsOf('plain'), { maxConnections: 10, requestsPerSecond: 100, maxTokens: 5 });
    // An undeclared group is an error, and the user keeps the cluster's defaults and its own.
    assert.deepEqual(limitsOf('lost'), { maxConnections: 10, requestsPerSecond: 100, maxTokens: 5, maxProducers: 1 });
    assert.deepEqual(
      diagnostics.map((d) => [d.resource, d.reason, d.path]),
      [['User/lost', 'LimitGroupNotFound', 'spec.limitGroup']],
    );
  });

  test("each user holds at most maxTokensPerUser tokens, or its own limits.maxTokens (from a group too); the extra ones are left out by name order, each with an error", () => {
    const token = (name: string, userName: string) => resource('AccessToken', name, { clusterRef: { name: CLUSTER }, userRef: { name: userName } });
    const { snapshot, diagnostics } = compile(
      [
        cluster({ authentication: { maxTokensPerUser: 2 }, limitGroups: [{ name: 'one-token', limits: { maxTokens: 1 } }] }),
        user('alice'),
        user('bob', { limitGroup: 'one-token' }),
        user('carol', { limits: { maxTokens: 3 } }),
        user('dave', { limits: { maxTokens: 0 } }),
        token('a1', 'alice'), token('a3', 'alice'), token('a2', 'alice'),
        token('b1', 'bob'), token('b2', 'bob'),
        token('c1', 'carol'), token('c2', 'carol'), token('c3', 'carol'),
        token('d1', 'dave'),
      ],
      [['a1', '1'], ['a2', '2'], ['a3', '3'], ['b1', '4'], ['b2', '5'], ['c1', '6'], ['c2', '7'], ['c3', '8'], ['d1', '9']],
    );
    assert.deepEqual(snapshot.tokens.map((t) => t.id), ['a1', 'a2', 'b1', 'c1', 'c2', 'c3']);
    assert.deepEqual(
      diagnostics.map((d) => [d.resource, d.reason, d.severity]),
      [['AccessToken/a3', 'TokenLimitExceeded', 'error'], ['AccessToken/b2', 'TokenLimitExceeded', 'error'], ['AccessToken/d1', 'TokenLimitExceeded', 'error']],
    );
    // Left out, the cap is 100.
    const many = Array.from({ length: 101 }, (_, i) => `t${String(i).padStart(3, '0')}`);
    const capped = compile([user('alice'), ...many.map((n) => token(n, 'alice'))], many.map((n, i) => [n, (i % 16).toString(16)]));
    assert.equal(capped.snapshot.tokens.length, 100);
    assert.deepEqual(capped.diagnostics.map((d) => d.resource), ['AccessToken/t100']);
  });

  test('a User host or TopicGrant host that is not an address or CIDR block is an error naming the field, and fails closed', () => {
    const { snapshot, diagnostics } = compile([
      user('alice', { hosts: ['10.0.0.0/8', '10.0.0.0/33'] }),
      grant('allow', { subjects: [{ kind: 'User', name: 'alice' }], topics: ['*'], actions: ['read'], hosts: ['300.1.1.1'] }),
      grant('deny', { subjects: [{ kind: 'User', name: 'alice' }], topics: ['secret'], actions: ['read'], effect: 'Deny', hosts: ['192.168.0.0/16', '1.2.3.4/40'] }),
    ]);
    assert.deepEqual(
      diagnostics.map((d) => [d.resource, d.reason, d.path, d.severity]),
      [
        ['User/alice', 'HostInvalid', 'spec.hosts[1]', 'error'],
        ['TopicGrant/allow', 'HostInvalid', 'spec.hosts[0]', 'error'],
        ['TopicGrant/deny', 'HostInvalid', 'spec.hosts[1]', 'error'],
      ],
    );
    assert.match(diagnostics[0]!.message, /^10\.0\.0\.0\/33 is not an IP address or CIDR block/);
    // The snapshot still builds (the broker would reject a rule host it cannot read, whole): the
    // Allow grants nothing, the Deny applies from every host.
    const authz = buildAuthorizer(snapshot);
    assert.deepEqual(snapshot.rules.map((r) => [r.source, r.effect, r.hosts]), [['TopicGrant/deny', 'Deny', []]]);
    assert.equal(authz.authorize({ principal: { user: 'alice' }, action: 'read', resource: { type: 'topic', name: 'secret' }, host: '10.1.1.1' }).allowed, false);
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
