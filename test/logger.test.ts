// The operational log never carries a secret, whichever way one is handed to it: a field named
// like a secret at any depth we log, bytes, the message text, an error's message and stack. What
// is not secret is written as given. Both the JSON and the pretty (`bulwark dev`) output.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { captureLogs, type LogCapture } from '../src/lib/index.ts';

const SECRETS = {
  password: 'hunter2-correct-horse',
  token: 'bwk_live_4f9a8b7c6d5e',
  bearer: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl',
  saslPassword: 'sasl-plain-secret',
  key: 'a2V5LW1hdGVyaWFsLTMyLWJ5dGVz',
};

/** Logs every secret through every path: object fields at depth 0-3, bytes, message text, format arguments, err.message. */
function logEverything(c: LogCapture): void {
  const log = c.logger.child({ component: 'kafka' });
  const saslPlain = Buffer.from(`\0alice\0${SECRETS.saslPassword}`);
  log.info({ user: 'alice', password: SECRETS.password, token: SECRETS.token }, 'login');
  log.info({ user: 'alice', request: { headers: { authorization: `Bearer ${SECRETS.bearer}`, host: 'broker-0' } } }, 'request');
  log.info({ req: { headers: { authorization: `Bearer ${SECRETS.bearer}` } }, deep: { a: { b: { password: SECRETS.password, serverSecret: SECRETS.key } } } }, 'nested');
  log.info({ authBytes: saslPlain, frame: saslPlain, user: 'alice' }, 'sasl');
  log.info({ detail: `PLAIN ${saslPlain.toString('latin1')}` }, 'sasl as text');
  log.warn(`token ${SECRETS.token} refused; password=${SECRETS.password}; Authorization: Bearer ${SECRETS.bearer}`);
  log.warn('user %s sent %s', 'alice', SECRETS.token);
  log.error(new Error(`login failed for password=${SECRETS.password} with ${SECRETS.token}`));
  log.error({ err: new Error(`upstream said Bearer ${SECRETS.bearer}`, { cause: new Error(`cause ${SECRETS.token}`) }), topic: 'orders' }, 'push failed');
  log.info({ key: SECRETS.key, keyId: 'k1' }, 'key loaded');
}

function assertNoSecret(text: string): void {
  for (const [name, secret] of Object.entries(SECRETS)) assert.ok(!text.includes(secret), `the ${name} reached the log:\n${text}`);
}

describe('the logger redacts', () => {
  test('JSON: no secret in any line, whichever path it took', () => {
    const c = captureLogs();
    logEverything(c);
    assert.equal(c.lines.length, 10);
    assertNoSecret(c.text());
  });

  test('JSON: what is not secret is written as given, with the component', () => {
    const c = captureLogs();
    logEverything(c);
    const [login, request, nested, sasl] = c.lines;
    assert.equal(login!.component, 'kafka');
    assert.equal(login!.user, 'alice');
    assert.equal(login!.msg, 'login');
    assert.equal(login!.password, '[REDACTED]');
    assert.deepEqual(request!.request, { headers: { authorization: '[REDACTED]', host: 'broker-0' } });
    assert.equal((nested!.deep as { a: { b: { password: string } } }).a.b.password, '[REDACTED]');
    assert.equal(sasl!.user, 'alice');
    assert.equal(sasl!.frame, '[24 bytes]', 'bytes are written as their length');
    assert.deepEqual(c.messages().slice(5, 7), ['token bwk_[REDACTED] refused; password=[REDACTED]; Authorization: Bearer [REDACTED-JWT]', 'user alice sent bwk_[REDACTED]']);
    const err = c.lines[7]!;
    assert.equal(err.level, 50);
    assert.equal(err.msg, 'login failed for password=[REDACTED] with bwk_[REDACTED]', 'an error logged alone gives its scrubbed message');
    assert.match((err.err as { stack: string }).stack, /^Error: login failed/);
    assert.equal(c.lines[8]!.topic, 'orders');
    assert.equal(c.lines[9]!.keyId, 'k1', 'a key id is not a key');
  });

  test('pretty (bulwark dev): no secret either, and readable lines', () => {
    const c = captureLogs({ pretty: true });
    logEverything(c);
    const text = c.text();
    assertNoSecret(text);
    assert.match(text, /INFO.*: login\n/);
    assert.match(text, /component: "kafka"/);
    assert.match(text, /user: "alice"/);
    assert.doesNotMatch(text, /^\{/m, 'not JSON');
  });

  test('levels: below the level nothing is written', () => {
    const c = captureLogs({ level: 'warn' });
    c.logger.info('quiet');
    c.logger.warn('loud');
    assert.deepEqual(c.messages(), ['loud']);
  });
});
