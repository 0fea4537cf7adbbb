// The audit log as a security team would check it: JSON lines in a real file, in order, that
// survive rotation and close; RecordBatches on the audit topic that decode to the same events;
// denials coalesced; a sink that falls behind drops and counts instead of growing; and no
// secret (an access token, a password, a JWT, a SASL PLAIN message) ever reaches a sink.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { AuditLog, ConnectionCloseReason, FileAuditSink, TopicAuditSink, type AuditEvent } from '../src/audit/index.ts';
import { ManualClock, redact } from '../src/lib/index.ts';
import { isBulwarkError } from '../src/lib/errors.ts';
import { decodeRecords, readBatchHeader } from '../src/log/index.ts';
import { generateToken, Reason, type AuthorizeRequest, type Decision, type SnapshotRule } from '../src/policy/index.ts';
import { sealSnapshot } from '../src/policy/snapshot.ts';
import { useTempDirs } from './harness/temp.ts';

const tempDir = useTempDirs('audit');

const T0 = Date.parse('2025-03-01T12:00:00.000Z');
const lines = (path: string): AuditEvent[] =>
  readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as AuditEvent);

/** A topic sink's `append`, keeping the batches it was given. */
function capture() {
  const batches: Buffer[] = [];
  const append = async (batch: Buffer) => {
    batches.push(batch);
  };
  const events = () => batches.flatMap((b) => decodeRecords(b).map((r) => JSON.parse(r.value!.toString('utf8')) as AuditEvent));
  return { batches, append, events };
}

const until = async (cond: () => boolean) => {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setImmediate(r));
  assert.ok(cond(), 'condition reached');
};

const denyRequest = (over: Partial<AuthorizeRequest> = {}): AuthorizeRequest => ({
  principal: { user: 'alice', tokenId: 'ci-token' },
  action: 'write',
  resource: { type: 'topic', name: 'payments' },
  host: '10.0.0.7',
  ...over,
});
const noGrant: Decision = { allowed: false, reason: Reason.NoMatchingGrant };
const rule: SnapshotRule = { source: 'TopicGrant team/orders-writers', effect: 'Allow', subject: 'User:alice', resourceType: 'topic', pattern: 'orders-*', actions: ['write'], hosts: [] };
const allowedByRule: Decision = { allowed: true, reason: Reason.AllowedByRule, rule };

describe('file sink', () => {
  test('writes one JSON object per line, in order, with time and type; close flushes everything', async () => {
    const path = join(tempDir(), 'audit.log');
    const sink = await FileAuditSink.open(path);
    const clock = new ManualClock(T0);
    const audit = new AuditLog({ sinks: [sink], clock });
    for (let i = 0; i < 500; i++) {
      audit.topic({ operation: 'created', topic: `t-${i}`, partitions: 3, user: 'alice' });
      clock.advance(1);
    }
    audit.authentication({ outcome: 'failure', listener: 'kafka', mechanism: 'SCRAM-SHA-256', user: 'mallory', clientIp: '10.9.9.9', reason: 'BadProof' });
    await audit.close(); // no flush before: close must write what is queued
    const events = lines(path);
    assert.equal(events.length, 501);
    assert.deepEqual(
      events.slice(0, 500).map((e) => e.type === 'topic' && e.topic),
      Array.from({ length: 500 }, (_, i) => `t-${i}`),
    );
    assert.deepEqual(events[0], { time: '2025-03-01T12:00:00.000Z', type: 'topic', operation: 'created', topic: 't-0', partitions: 3, user: 'alice' });
    assert.deepEqual(events[500], { time: '2025-03-01T12:00:00.500Z', type: 'authentication', outcome: 'failure', listener: 'kafka', mechanism: 'SCRAM-SHA-256', user: 'mallory', clientIp: '10.9.9.9', reason: 'BadProof' });
    assert.deepEqual(Object.keys(events[0]!).slice(0, 2), ['time', 'type']);
    assert.equal(statSync(path).mode & 0o777, 0o600, 'only the broker may read the audit log');
    assert.deepEqual(sink.stats(), { written: 501, dropped: 0, failed: 0 });
  });

  test('appends to an existing file and writes the events of one turn in one go, without an explicit flush', async () => {
    const path = join(tempDir(), 'audit.log');
    const first = await FileAuditSink.open(path);
    first.write('{"n":1}', T0);
    await first.close();
    const sink = await FileAuditSink.open(path);
    for (let n = 2; n <= 100; n++) sink.write(JSON.stringify({ n }), T0);
    await until(() => sink.stats().written === 99);
    assert.deepEqual(
      lines(path).map((e) => (e as unknown as { n: number }).n),
      Array.from({ length: 100 }, (_, i) => i + 1),
    );
    await sink.close();
    assert.equal(sink.write('{"n":101}', T0), false, 'closed: dropped');
    assert.equal(sink.stats().dropped, 1);
  });

  test('reopen() after rotation: old events stay in the rotated file, new ones go to a new file at the path', async () => {
    const dir = tempDir();
    const path = join(dir, 'audit.log');
    const sink = await FileAuditSink.open(path);
    const audit = new AuditLog({ sinks: [sink], clock: new ManualClock(T0) });
    audit.topic({ operation: 'created', topic: 'before', user: 'alice' });
    await audit.flush();
    renameSync(path, `${path}.1`); // what logrotate does, before it sends SIGHUP
    audit.topic({ operation: 'deleted', topic: 'during', user: 'alice' }); // queued, not yet written
    await sink.reopen();
    audit.topic({ operation: 'created', topic: 'after', user: 'bob' });
    await audit.close();
    const topicOf = (e: AuditEvent) => (e.type === 'topic' ? e.topic : undefined);
    assert.deepEqual(lines(`${path}.1`).map(topicOf), ['before', 'during']);
    assert.deepEqual(lines(path).map(topicOf), ['after']);
  });

  test('an unwritable path fails at open with a coded error; a failed reopen keeps the sink working', async () => {
    const dir = tempDir();
    await assert.rejects(FileAuditSink.open(join(dir, 'missing', 'audit.log')), (e) => isBulwarkError(e, 'BWK_ERR_AUDIT_FILE_UNWRITABLE') && /ENOENT/.test(e.message));
    const sub = join(dir, 'logs');
    const path = join(sub, 'audit.log');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(sub);
    const sink = await FileAuditSink.open(path);
    rmSync(sub, { recursive: true });
    await assert.rejects(sink.reopen(), (e) => isBulwarkError(e, 'BWK_ERR_AUDIT_FILE_UNWRITABLE'));
    assert.equal(sink.write('{"still":"accepted"}', T0), true);
    await sink.close();
    assert.deepEqual(sink.stats(), { written: 1, dropped: 0, failed: 0 });
    assert.equal(existsSync(path), false);
  });
});

describe('topic sink', () => {
  test("one turn's events become one RecordBatch, one record per event, in order, stamped with the event time", async () => {
    const { batches, append, events } = capture();
    const sink = new TopicAuditSink(append);
    const clock = new ManualClock(T0);
    const audit = new AuditLog({ sinks: [sink], clock, logAllowed: true });
    for (let i = 0; i < 100; i++) {
      audit.authorization(denyRequest({ resource: { type: 'topic', name: `orders-${i}` } }), allowedByRule, { listener: 'kafka' });
      clock.advance(10);
    }
    await until(() => sink.stats().written === 100);
    assert.equal(batches.length, 1);
    const records = decodeRecords(batches[0]!);
    assert.equal(records.length, 100);
    assert.equal(records[0]!.key, null);
    assert.deepEqual(
      records.map((r) => r.timestamp),
      Array.from({ length: 100 }, (_, i) => T0 + 10 * i),
    );
    assert.deepEqual(events()[7], {
      time: new Date(T0 + 70).toISOString(),
      type: 'authorization',
      decision: 'allow',
      user: 'alice',
      tokenId: 'ci-token',
      action: 'write',
      resourceType: 'topic',
      resourceName: 'orders-7',
      reason: 'AllowedByRule',
      ruleSource: 'TopicGrant team/orders-writers',
      clientIp: '10.0.0.7',
      listener: 'kafka',
      count: 1,
    });
    await audit.close();
  });

  test('a turn bigger than maxBatchBytes is split into several batches, order kept', async () => {
    const { batches, append, events } = capture();
    const sink = new TopicAuditSink(append, { maxBatchBytes: 2000 });
    for (let i = 0; i < 50; i++) sink.write(JSON.stringify({ i, pad: 'x'.repeat(100) }), T0 + i);
    await sink.flush();
    assert.ok(batches.length >= 3, `${batches.length} batches`);
    for (const b of batches) assert.ok(readBatchHeader(b).size < 2000 + 61 + 200);
    assert.deepEqual(
      events().map((e) => (e as unknown as { i: number }).i),
      Array.from({ length: 50 }, (_, i) => i),
    );
  });

  test('a failed append is counted, never thrown; later batches go through', async () => {
    let fail = true;
    const appended: Buffer[] = [];
    const errors: unknown[] = [];
    const sink = new TopicAuditSink(
      async (b) => {
        if (fail) throw new Error('NOT_LEADER_OR_FOLLOWER');
        appended.push(b);
      },
      { onError: (e) => errors.push(e) },
    );
    const audit = new AuditLog({ sinks: [sink], clock: new ManualClock(T0) });
    audit.topic({ operation: 'created', topic: 'a', user: 'alice' });
    audit.topic({ operation: 'created', topic: 'b', user: 'alice' });
    await audit.flush();
    fail = false;
    audit.topic({ operation: 'created', topic: 'c', user: 'alice' });
    await audit.flush();
    assert.deepEqual(sink.stats(), { written: 1, dropped: 0, failed: 2 });
    assert.equal(errors.length, 1);
    assert.equal(decodeRecords(appended[0]!).length, 1);
  });

  test('a sink that falls behind keeps a bounded queue and counts what it drops', async () => {
    let release!: () => void;
    const stuck = new Promise<void>((r) => (release = r));
    const appended: Buffer[] = [];
    const sink = new TopicAuditSink(
      async (b) => {
        await stuck; // the audit topic's partition is unavailable
        appended.push(b);
      },
      { maxQueuedEvents: 10 },
    );
    for (let i = 0; i < 5; i++) sink.write(`{"i":${i}}`, T0);
    await new Promise((r) => setImmediate(r)); // the first 5 are taken and are being appended
    const accepted = Array.from({ length: 100 }, (_, i) => sink.write(`{"i":${5 + i}}`, T0));
    assert.equal(accepted.filter(Boolean).length, 10);
    assert.equal(sink.stats().dropped, 90);
    release();
    await sink.flush();
    assert.deepEqual(sink.stats(), { written: 15, dropped: 90, failed: 0 });
    assert.deepEqual(
      appended.flatMap((b) => decodeRecords(b).map((r) => JSON.parse(r.value!.toString()).i)),
      Array.from({ length: 15 }, (_, i) => i),
    );
  });
});

describe('audit events', () => {
  test('identical denials within a second become one event with a count; different ones stay apart', async () => {
    const { append, events } = capture();
    const clock = new ManualClock(T0);
    const audit = new AuditLog({ sinks: [new TopicAuditSink(append)], clock });
    for (let i = 0; i < 500; i++) {
      audit.authorization(denyRequest(), noGrant);
      clock.advance(1);
    }
    audit.authorization(denyRequest({ action: 'read' }), noGrant);
    await audit.flush();
    assert.equal(events().length, 0, 'held until the window closes');
    clock.advance(1000); // the coalescing timer fires
    await audit.flush();
    const [writes, read] = events();
    assert.equal(events().length, 2);
    assert.equal(writes?.type === 'authorization' && writes.count, 500);
    assert.equal(writes?.time, new Date(T0).toISOString());
    assert.equal(writes?.type === 'authorization' && writes.lastTime, new Date(T0 + 499).toISOString());
    assert.equal(read?.type === 'authorization' && read.count, 1);
    assert.equal(read?.type === 'authorization' && read.lastTime, undefined);
    audit.authorization(denyRequest(), noGrant); // a new window
    await audit.close(); // close records what is pending
    assert.equal(events().length, 3);
    assert.equal(clock.pendingTimers, 0);
  });

  test('allowed requests are recorded only with logAllowed', async () => {
    const quiet = capture();
    const a = new AuditLog({ sinks: [new TopicAuditSink(quiet.append)] });
    a.authorization(denyRequest(), allowedByRule);
    await a.close();
    assert.equal(quiet.events().length, 0);
    const loud = capture();
    const b = new AuditLog({ sinks: [new TopicAuditSink(loud.append)], logAllowed: true });
    b.authorization(denyRequest(), allowedByRule);
    b.authorization(denyRequest(), allowedByRule);
    await b.close();
    assert.deepEqual(
      loud.events().map((e) => e.type === 'authorization' && e.decision),
      ['allow', 'allow'],
    );
  });

  test('policy and connection events carry what an operator needs', async () => {
    const { append, events } = capture();
    const audit = new AuditLog({ sinks: [new TopicAuditSink(append)], clock: new ManualClock(T0) });
    const settings = { superUsers: [], allowAnonymous: false, maxTokensPerUser: 10, scramIterations: 4096, certificatePrincipal: { source: 'commonName' as const, prefix: '' } };
    const cluster = { namespace: 'team', name: 'main' };
    const v1 = sealSnapshot({ cluster, settings, users: [], tokens: [], rules: [] }, 1);
    const v2 = sealSnapshot({ cluster, settings, users: [], tokens: [], rules: [rule, { ...rule, pattern: 'billing' }] }, 2);
    audit.policy(v2, v1, 'operator');
    audit.connection({ reason: ConnectionCloseReason.TokenRevoked, user: 'alice', tokenId: 'ci-token', clientIp: '10.0.0.7', listener: 'kafka' });
    await audit.close();
    const [policy, conn] = events();
    assert.deepEqual(policy, {
      time: new Date(T0).toISOString(),
      type: 'policy',
      version: 2,
      hash: v2.hash,
      source: 'operator',
      previousVersion: 1,
      previousHash: v1.hash,
      userCount: 0,
      tokenCount: 0,
      ruleCount: 2,
    });
    assert.deepEqual(conn, { time: new Date(T0).toISOString(), type: 'connection', reason: 'TokenRevoked', user: 'alice', tokenId: 'ci-token', clientIp: '10.0.0.7', listener: 'kafka' });
  });
});

describe('redaction', () => {
  test('secrets never reach the file or the topic; the useful fields do', async () => {
    const token = generateToken();
    const password = 'Correct-Horse-Battery-9';
    const jwt = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6MTc0MDAwMDAwMH0.c2lnbmF0dXJlLWJ5dGVzLWhlcmU';
    const saslPlain = `\u0000alice\u0000${password}`;
    const path = join(tempDir(), 'audit.log');
    const file = await FileAuditSink.open(path);
    const topic = capture();
    const audit = new AuditLog({ sinks: [file, new TopicAuditSink(topic.append)], clock: new ManualClock(T0) });

    // A careless caller passing more than the event type allows, as code under pressure does.
    const careless = <T>(fields: T, extra: Record<string, unknown>) => ({ ...fields, ...extra }) as T;
    audit.authentication(
      careless(
        { outcome: 'failure', listener: 'kafka', mechanism: 'PLAIN', user: 'alice', clientIp: '10.0.0.7', reason: `malformed PLAIN message: ${saslPlain}` },
        { password, authBytes: Buffer.from(saslPlain), saslMessage: saslPlain, headers: { authorization: `Bearer ${jwt}`, 'x-request-id': 'req-1' } },
      ),
    );
    audit.authentication({ outcome: 'failure', listener: 'http', mechanism: 'bearer', user: token, clientIp: '10.0.0.8', reason: `token ${token} is not known` });
    audit.authentication({ outcome: 'failure', listener: 'http', mechanism: 'bearer', clientIp: '10.0.0.9', reason: `JWT rejected: ${jwt}` });
    audit.authentication(careless({ outcome: 'success', listener: 'kafka', mechanism: 'SCRAM-SHA-512', user: 'bob', clientIp: '10.0.0.10' }, { credentials: { salt: 'c2FsdA==', storedKey: 'c3RvcmVk', serverKey: 'c2VydmVy' }, clientFinal: 'c=biws,r=abc,p=cHJvb2Zwcm9vZnByb29m' }));
    audit.topic(careless({ operation: 'created', topic: 'orders', partitions: 6, user: 'carol', tokenId: 'deploy-token' }, { token, request: { secret: password, body: `{"password": "${password}"}` } }));
    audit.authorization(denyRequest({ resource: { type: 'topic', name: `oops-${token}` } }), noGrant);
    await audit.close();

    const fileBytes = readFileSync(path);
    const topicBytes = Buffer.concat(topic.batches);
    const topicValues = topic.events().map((e) => JSON.stringify(e)).join('\n');
    const secrets = { token, tokenBody: token.slice(4), password, jwt, jwtPayload: jwt.split('.')[1]!, storedKey: 'c3RvcmVk', serverKey: 'c2VydmVy', salt: 'c2FsdA==', proof: 'cHJvb2Zwcm9vZnByb29m' };
    for (const [name, secret] of Object.entries(secrets)) {
      assert.equal(fileBytes.includes(secret), false, `${name} in the file`);
      assert.equal(topicBytes.includes(secret), false, `${name} in the topic's batches`);
      assert.equal(topicValues.includes(secret), false, `${name} in the topic's records`);
    }

    const events = lines(path);
    assert.equal(events.length, 6);
    assert.deepEqual(topic.events(), events, 'both sinks got the same events');
    assert.deepEqual(events[0], {
      time: new Date(T0).toISOString(),
      type: 'authentication',
      outcome: 'failure',
      listener: 'kafka',
      mechanism: 'PLAIN',
      user: 'alice',
      clientIp: '10.0.0.7',
      reason: 'malformed PLAIN message: [REDACTED]',
      saslMessage: '[REDACTED]',
      headers: { 'x-request-id': 'req-1' },
    });
    assert.equal(events[1]?.type === 'authentication' && events[1].reason, 'token bwk_[REDACTED] is not known');
    assert.equal(events[1]?.type === 'authentication' && events[1].user, 'bwk_[REDACTED]');
    assert.equal(events[2]?.type === 'authentication' && events[2].reason, 'JWT rejected: [REDACTED-JWT]');
    assert.deepEqual(events[3], { time: new Date(T0).toISOString(), type: 'authentication', outcome: 'success', listener: 'kafka', mechanism: 'SCRAM-SHA-512', user: 'bob', clientIp: '10.0.0.10', clientFinal: 'c=biws,r=abc,p=[REDACTED]' });
    assert.deepEqual(events[4], { time: new Date(T0).toISOString(), type: 'topic', operation: 'created', topic: 'orders', partitions: 6, user: 'carol', tokenId: 'deploy-token', request: { body: '{"password": [REDACTED]}' } });
    assert.equal(events[5]?.type === 'authorization' && events[5].resourceName, 'oops-bwk_[REDACTED]');
    assert.equal(events[5]?.type === 'authorization' && events[5].tokenId, 'ci-token', 'tokenId is an identifier, kept');
  });

  test('redact() drops secret-looking keys at any depth and bounds what it keeps', () => {
    const out = redact({
      tokenId: 'app',
      tokenCount: 3,
      apiKey: 'k',
      api_key: 'k',
      'client-secret': 's',
      Password: 'p',
      nested: { deeper: { privateKey: 'k', keyId: 'key-2024', ok: true } },
      bytes: new Uint8Array([1, 2, 3]),
      long: 'x'.repeat(100_000),
      list: Array.from({ length: 1000 }, (_, i) => i),
      big: 10n,
    });
    assert.deepEqual(Object.keys(out).sort(), ['big', 'list', 'long', 'nested', 'tokenCount', 'tokenId']);
    assert.deepEqual(out.nested, { deeper: { keyId: 'key-2024', ok: true } });
    assert.ok((out.long as string).length < 1100);
    assert.equal((out.list as number[]).length, 64);
    assert.equal(out.big, '10');
  });
});
