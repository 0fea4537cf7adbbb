// The snapshot push contract (src/policy/distribution.ts), issue 11:
// - the ordering rule `decideApply`, as a table;
// - `emptySnapshot()`: the compiler's default settings, version 0, a valid sealed snapshot;
// - the client (`pushSnapshot`, `readApplied`) against the real internal listener of a real
//   broker, over mTLS with certificates from src/pki: every outcome of the contract, and the
//   failures without an answer (no certificate, another CA, nothing listening, a peer that never
//   answers), reported as coded results, never thrown, never quoting the snapshot or a key.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startBroker, type Broker } from '../src/broker/index.ts';
import { loadBrokerConfig } from '../src/config/index.ts';
import { createLogger } from '../src/lib/index.ts';
import { createCa, issueCertificate, type PemPair } from '../src/pki/index.ts';
import {
  ApplyReason,
  appliedStateBody,
  compileSettings,
  decideApply,
  decodeSnapshot,
  emptySnapshot,
  encodeSnapshot,
  pushRejectedBody,
  pushSnapshot,
  readApplied,
  sealSnapshot,
  type DistributionTarget,
  type DistributionTls,
  type PolicySnapshot,
  type PushResult,
  type ReadResult,
} from '../src/policy/index.ts';
import { DEFAULT_MAX_TOKENS_PER_USER } from '../src/policy/compile.ts';

const OPERATOR_CN = 'bulwark-operator';
/** A word that appears in every snapshot of this file and must never appear in an error message. */
const MARKER = 'contract-marker-cluster';

/** A valid sealed snapshot; `variant` changes its content, so its hash. */
function snapshot(version: number, variant = 'a'): PolicySnapshot {
  return sealSnapshot({ ...emptySnapshot(), cluster: { namespace: 'default', name: `${MARKER}-${variant}` } }, version);
}

describe('decideApply: versions only move forward', () => {
  const cur = { version: 5, hash: 'sha256:aa' };
  const rows: [string, { version: number; hash: string }, { force?: boolean }, ReturnType<typeof decideApply>][] = [
    ['same version, same hash', { version: 5, hash: 'sha256:aa' }, {}, { apply: false, reason: ApplyReason.Unchanged }],
    ['same version, same hash, forced', { version: 5, hash: 'sha256:aa' }, { force: true }, { apply: false, reason: ApplyReason.Unchanged }],
    ['newer version', { version: 6, hash: 'sha256:bb' }, {}, { apply: true, forced: false }],
    ['newer version, same hash', { version: 6, hash: 'sha256:aa' }, {}, { apply: true, forced: false }],
    ['newer version, forced', { version: 6, hash: 'sha256:bb' }, { force: true }, { apply: true, forced: false }],
    ['older version', { version: 4, hash: 'sha256:bb' }, {}, { apply: false, reason: ApplyReason.StaleVersion }],
    ['older version, same hash', { version: 4, hash: 'sha256:aa' }, {}, { apply: false, reason: ApplyReason.StaleVersion }],
    ['older version, forced', { version: 4, hash: 'sha256:bb' }, { force: true }, { apply: true, forced: true }],
    ['same version, other hash', { version: 5, hash: 'sha256:bb' }, {}, { apply: false, reason: ApplyReason.VersionConflict }],
    ['same version, other hash, forced', { version: 5, hash: 'sha256:bb' }, { force: true }, { apply: true, forced: true }],
  ];
  for (const [name, next, opts, expected] of rows) {
    test(name, () => assert.deepEqual(decideApply(cur, next, opts), expected));
  }
  test('from the empty snapshot, version 0 with other content conflicts: the first push is version 1 or more', () => {
    const empty = emptySnapshot();
    assert.deepEqual(decideApply(empty, snapshot(0)), { apply: false, reason: ApplyReason.VersionConflict });
    assert.deepEqual(decideApply(empty, snapshot(1)), { apply: true, forced: false });
  });
  test('the reason constants are the strings on the wire', () => {
    assert.deepEqual(Object.values(ApplyReason).sort(), ['stale-version', 'unchanged', 'version-conflict']);
  });
});

describe('emptySnapshot: what a broker given nothing enforces and reports', () => {
  test("version 0, nothing in it, and the compiler's default settings (maxTokensPerUser 100, as the CRD says)", () => {
    const empty = emptySnapshot();
    assert.equal(empty.version, 0);
    assert.deepEqual([empty.users, empty.tokens, empty.rules], [[], [], []]);
    assert.deepEqual(empty.settings, compileSettings(undefined));
    assert.equal(empty.settings.maxTokensPerUser, DEFAULT_MAX_TOKENS_PER_USER);
    assert.equal(empty.settings.maxTokensPerUser, 100);
  });
  test('is a valid sealed snapshot, the same every time', () => {
    assert.deepEqual(decodeSnapshot(encodeSnapshot(emptySnapshot())), emptySnapshot());
    assert.equal(emptySnapshot().hash, emptySnapshot().hash);
  });
});

describe('decodeSnapshot verifies the content, whatever order its keys were written in', () => {
  const b64 = (n: number) => Buffer.alloc(n, n).toString('base64');
  const rule = { source: 'TopicGrant default/orders', effect: 'Allow' as const, subject: 'User:alice', resourceType: 'topic' as const, pattern: 'orders', actions: ['read' as const, 'describe' as const], hosts: [] };
  const full = sealSnapshot(
    {
      cluster: { namespace: 'default', name: MARKER },
      settings: compileSettings(undefined),
      users: [
        {
          name: 'alice',
          source: 'User default/alice',
          authentication: 'scram-sha-512',
          disabled: false,
          groups: ['team-a'],
          hosts: ['10.0.0.0/8'],
          limits: { maxConnections: 5, requestsPerSecond: 100 },
          credentials: { scramSha512: { salt: b64(24), iterations: 8192, storedKey: b64(64), serverKey: b64(64) } },
        },
      ],
      tokens: [{ id: 'AccessToken default/t', user: 'alice', sha256: 'a'.repeat(64), expiresAt: '2030-01-01T00:00:00.000Z', scope: [rule], scoped: true }],
      rules: [rule],
    },
    7,
  );

  test('a snapshot with every kind of member decodes to what was sealed', () => {
    assert.deepEqual(decodeSnapshot(encodeSnapshot(full)), full);
  });

  test('sent with its keys in another order and with whitespace: the same content, accepted with its hash', () => {
    const reversed = (v: unknown): unknown =>
      Array.isArray(v) ? v.map(reversed) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, reversed(x)])) : v;
    const text = JSON.stringify(reversed(JSON.parse(encodeSnapshot(full))), null, 2);
    assert.notEqual(text, encodeSnapshot(full));
    const decoded = decodeSnapshot(text);
    assert.equal(decoded.hash, full.hash);
    assert.deepEqual(decoded, full);
    // What is persisted from it is the canonical form again.
    assert.equal(encodeSnapshot(decoded), encodeSnapshot(full));
  });

  test('one value changed anywhere, in either form: refused as a hash mismatch', () => {
    const canonical = encodeSnapshot(full);
    for (const [from, to] of [
      ['"iterations":8192', '"iterations":8193'],
      ['"pattern":"orders"', '"pattern":"orderz"'],
      ['"expiresAt":"2030', '"expiresAt":"2031'],
    ] as const) {
      assert.throws(() => decodeSnapshot(canonical.replace(from, to)), { code: 'BWK_ERR_SNAPSHOT_HASH_MISMATCH' }, from);
      const pretty = JSON.stringify(JSON.parse(canonical.replace(from, to)), null, 1);
      assert.throws(() => decodeSnapshot(pretty), { code: 'BWK_ERR_SNAPSHOT_HASH_MISMATCH' }, `${from} (indented)`);
    }
  });

  test('in the wire form: the version is read as sent, and a member added or another hash is refused', () => {
    const canonical = encodeSnapshot(full);
    const resealed = decodeSnapshot(canonical.replace('"version":7}', '"version":9}'));
    assert.equal(resealed.version, 9);
    assert.equal(encodeSnapshot(resealed), encodeSnapshot(sealSnapshot(full, 9)));
    // A member between the content and the version: JSON.parse keeps the last of two "rules".
    assert.throws(() => decodeSnapshot(canonical.replace(',"version":7}', ',"rules":[],"version":7}')), { code: 'BWK_ERR_SNAPSHOT_HASH_MISMATCH' });
    const otherHash = `sha256:${'0'.repeat(64)}`;
    assert.throws(() => decodeSnapshot(canonical.replace(full.hash, otherHash)), { code: 'BWK_ERR_SNAPSHOT_HASH_MISMATCH' });
  });
});

// --- The client against a real broker --------------------------------------------------------------

const scratch: string[] = [];
const tempDir = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), `bulwark-${prefix}-`));
  scratch.push(dir);
  return dir;
};

let pki: { ca: PemPair; server: PemPair; operator: PemPair; stranger: PemPair; rogueOperator: PemPair; rogueCa: PemPair };
let broker: Broker;
let target: DistributionTarget;
let operatorTls: DistributionTls;
const results: (PushResult | ReadResult)[] = [];
/** Every result is kept, so that the last test can check no message quotes a snapshot or a key. */
const seen = <R extends PushResult | ReadResult>(r: R): R => (results.push(r), r);
const push = async (s: PolicySnapshot, tls = operatorTls, to = target, timeoutMs?: number) => seen(await pushSnapshot(to, tls, s, timeoutMs ? { timeoutMs } : {}));
const read = async (tls = operatorTls, to = target) => seen(await readApplied(to, tls));

before(async () => {
  const dir = tempDir('distribution-pki');
  const ca = await createCa({ commonName: 'distribution test CA', validDays: 2 });
  const rogueCa = await createCa({ commonName: 'another CA', validDays: 2 });
  pki = {
    ca,
    rogueCa,
    server: await issueCertificate({ ca, commonName: 'broker', ipAddresses: ['127.0.0.1'], usage: 'server', validDays: 1 }),
    operator: await issueCertificate({ ca, commonName: OPERATOR_CN, usage: 'client', validDays: 1 }),
    stranger: await issueCertificate({ ca, commonName: 'someone-else', usage: 'client', validDays: 1 }),
    rogueOperator: await issueCertificate({ ca: rogueCa, commonName: OPERATOR_CN, usage: 'client', validDays: 1 }),
  };
  writeFileSync(join(dir, 'ca.crt'), ca.certPem);
  writeFileSync(join(dir, 'server.crt'), pki.server.certPem);
  writeFileSync(join(dir, 'server.key'), pki.server.keyPem, { mode: 0o600 });
  const config = loadBrokerConfig({
    overrides: {
      dataDir: tempDir('distribution-data'),
      kafka: { port: 0, authentication: ['scram-sha-256'] },
      http: { enabled: false },
      internal: {
        enabled: true,
        port: 0,
        tls: { certFile: join(dir, 'server.crt'), keyFile: join(dir, 'server.key'), caFile: join(dir, 'ca.crt'), clientAuth: 'required' },
        clients: [OPERATOR_CN],
      },
      auth: { rootUser: false },
    },
  });
  broker = await startBroker(config, { logger: createLogger({ level: 'silent' }), env: {} });
  target = { host: '127.0.0.1', port: broker.internalPort! };
  operatorTls = { ca: pki.ca.certPem, cert: pki.operator.certPem, key: Buffer.from(pki.operator.keyPem) };
});
after(async () => {
  await broker?.stop();
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

describe('pushSnapshot and readApplied against the internal listener of a real broker', () => {
  const v1 = snapshot(1);
  const v2 = snapshot(2);

  test('GET before any push: version 0 from nothing, the empty snapshot', async () => {
    assert.deepEqual(await read(), { outcome: 'ok', applied: { version: 0, hash: emptySnapshot().hash, source: 'empty' } });
  });

  test('push v1: applied, in force, reported by GET', async () => {
    assert.deepEqual(await push(v1), { outcome: 'applied', applied: { version: 1, hash: v1.hash, source: 'push' }, unchanged: false });
    assert.deepEqual(await read(), { outcome: 'ok', applied: { version: 1, hash: v1.hash, source: 'push' } });
  });

  test('push the same snapshot again: applied, unchanged', async () => {
    assert.deepEqual(await push(v1), { outcome: 'applied', applied: { version: 1, hash: v1.hash, source: 'push' }, unchanged: true });
  });

  test('push an older version: rejected, stale-version, with what is in force', async () => {
    assert.deepEqual(await push(v2), { outcome: 'applied', applied: { version: 2, hash: v2.hash, source: 'push' }, unchanged: false });
    const r = await push(snapshot(1, 'older'));
    assert.equal(r.outcome, 'rejected');
    assert.ok(r.outcome === 'rejected');
    assert.equal(r.reason, ApplyReason.StaleVersion);
    assert.deepEqual(r.applied, { version: 2, hash: v2.hash, source: 'push' });
    assert.match(r.message, /version 1 not applied: version 2 is in force/);
    // The v1 that was in force before is older now too.
    assert.equal((await push(v1)).outcome, 'rejected');
  });

  test('push the same version with another hash: rejected, version-conflict', async () => {
    const r = await push(snapshot(2, 'other'));
    assert.ok(r.outcome === 'rejected', JSON.stringify(r));
    assert.equal(r.reason, ApplyReason.VersionConflict);
    assert.deepEqual(r.applied, { version: 2, hash: v2.hash, source: 'push' });
  });

  test('the 409 body carries the machine-readable reason (the schema the client parses with)', async () => {
    const r = await push(snapshot(0, 'zero'));
    assert.ok(r.outcome === 'rejected');
    assert.ok(pushRejectedBody.shape.reason.safeParse(r.reason).success);
  });

  test('a tampered snapshot (content not matching its hash): invalid, 400, nothing applied', async () => {
    const v3 = snapshot(3);
    const tampered = { ...v3, cluster: { namespace: 'default', name: `${MARKER}-tampered` } };
    const r = await push(tampered);
    assert.deepEqual(r, { outcome: 'invalid', error: { code: 'BWK_ERR_SNAPSHOT_HASH_MISMATCH', status: 400, message: 'policy snapshot rejected: content does not match its hash' } });
    assert.deepEqual(await read(), { outcome: 'ok', applied: { version: 2, hash: v2.hash, source: 'push' } });
  });

  test('a certificate of the same CA with another name: an error result, 403 BWK_ERR_FORBIDDEN, for PUT and GET', async () => {
    const stranger: DistributionTls = { ca: pki.ca.certPem, cert: pki.stranger.certPem, key: pki.stranger.keyPem };
    for (const r of [await push(snapshot(9), stranger), await read(stranger)]) {
      assert.equal(r.outcome, 'error');
      assert.ok(r.outcome === 'error');
      assert.deepEqual([r.error.code, r.error.status], ['BWK_ERR_FORBIDDEN', 403]);
    }
  });

  test('no client certificate, or one from another CA: the handshake fails, reported as unreachable with a code', async () => {
    const none = { ca: pki.ca.certPem } as unknown as DistributionTls;
    const rogue: DistributionTls = { ca: pki.ca.certPem, cert: pki.rogueOperator.certPem, key: pki.rogueOperator.keyPem };
    for (const tls of [none, rogue]) {
      for (const r of [await push(snapshot(9), tls), await read(tls)]) {
        assert.equal(r.outcome, 'unreachable', JSON.stringify(r));
        assert.ok(r.outcome === 'unreachable');
        assert.match(r.error.code, /^[A-Z_0-9]+$/, 'a machine-readable code');
        assert.equal(r.error.status, undefined, 'no HTTP answer');
        assert.match(r.error.message, new RegExp(`127\\.0\\.0\\.1:${target.port}`), 'the message names the broker');
      }
    }
  });

  test("a broker whose certificate this client's CA did not sign is not trusted: unreachable", async () => {
    const r = await push(snapshot(9), { ...operatorTls, ca: pki.rogueCa.certPem });
    assert.ok(r.outcome === 'unreachable', JSON.stringify(r));
    assert.match(r.error.code, /^[A-Z_0-9]+$/);
  });

  test('GET returns what was applied: v2, after all the refusals', async () => {
    assert.deepEqual(await read(), { outcome: 'ok', applied: { version: 2, hash: v2.hash, source: 'push' } });
    assert.ok(appliedStateBody.safeParse({ version: 2, hash: v2.hash, source: 'push' }).success);
  });
});

describe('pushSnapshot without an answer, or with one outside the contract', () => {
  let silent: TcpServer;
  const sockets: Socket[] = [];
  let stub: HttpsServer;
  let stubAnswer: { status: number; body: string } = { status: 200, body: '{}' };
  before(async () => {
    silent = createTcpServer((s) => sockets.push(s)); // accepts, never speaks TLS
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    stub = createHttpsServer({ key: pki.server.keyPem, cert: pki.server.certPem, ca: pki.ca.certPem, requestCert: true, rejectUnauthorized: true }, (req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(stubAnswer.status, { 'content-type': 'application/json' }).end(stubAnswer.body));
    });
    await new Promise<void>((resolve) => stub.listen(0, '127.0.0.1', resolve));
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => silent.close(resolve));
    stub.closeAllConnections();
    await new Promise((resolve) => stub.close(resolve));
  });
  const at = (server: TcpServer | HttpsServer): DistributionTarget => ({ host: '127.0.0.1', port: (server.address() as AddressInfo).port });

  test('nothing listening: unreachable, ECONNREFUSED', async () => {
    const port = (silent.address() as AddressInfo).port;
    const closed = createTcpServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const free = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    assert.notEqual(free, port);
    const r = await push(snapshot(1), operatorTls, { host: '127.0.0.1', port: free });
    assert.ok(r.outcome === 'unreachable');
    assert.equal(r.error.code, 'ECONNREFUSED');
  });

  test('a peer that never answers (not even the TLS handshake): unreachable, ETIMEDOUT, at the deadline', async () => {
    const started = Date.now();
    const r = await push(snapshot(1), operatorTls, at(silent), 300);
    assert.ok(r.outcome === 'unreachable');
    assert.equal(r.error.code, 'ETIMEDOUT');
    assert.ok(Date.now() - started < 5000);
  });

  test('200 that reports another snapshot in force: an error, not "applied"', async () => {
    const s = snapshot(7);
    stubAnswer = { status: 200, body: JSON.stringify({ applied: true, version: 6, hash: s.hash, source: 'push' }) };
    const r = await push(s, operatorTls, at(stub));
    assert.ok(r.outcome === 'error', JSON.stringify(r));
    assert.deepEqual([r.error.code, r.error.status], ['BWK_ERR_INTERNAL', 200]);
  });

  test('a body outside the contract, or no JSON at all: an error with BWK_ERR_INTERNAL', async () => {
    for (const answer of [
      { status: 200, body: '{"applied":"yes"}' },
      { status: 409, body: '{"code":"BWK_ERR_POLICY_PUSH_REJECTED","message":"no reason given"}' },
      { status: 502, body: '<html>bad gateway</html>' },
    ]) {
      stubAnswer = answer;
      const r = await push(snapshot(7), operatorTls, at(stub));
      assert.ok(r.outcome === 'error', JSON.stringify(r));
      assert.deepEqual([r.error.code, r.error.status], ['BWK_ERR_INTERNAL', answer.status]);
    }
    stubAnswer = { status: 500, body: '{"version":1}' };
    const g = await read(operatorTls, at(stub));
    assert.ok(g.outcome === 'error');
    assert.equal(g.error.code, 'BWK_ERR_INTERNAL');
  });

  test('no result message quotes a snapshot or key material', () => {
    assert.ok(results.length > 20);
    const secrets = [MARKER, 'PRIVATE KEY', 'BEGIN CERTIFICATE', pki.operator.keyPem.split('\n')[1]!, pki.stranger.keyPem.split('\n')[1]!];
    for (const r of results) {
      const text = JSON.stringify(r);
      for (const s of secrets) assert.ok(!text.includes(s), `${text} quotes ${s.slice(0, 20)}`);
    }
  });
});
