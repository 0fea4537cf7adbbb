// Audit events where an operator looks for them: a real rsyslogd (test/harness/rsyslog.ts) receives
// them over UDP, TCP and a unix socket as RFC 5424 messages it parses itself (facility, severity,
// APP-NAME, MSGID, the event as MSG); a receiver that goes away and comes back gets what waited,
// and what did not fit in the bounded queue is counted, not held; and a broker with no sink
// configured writes its events to its own log instead of dropping them.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AuditLog, SyslogAuditSink, type SyslogTarget } from '../src/audit/index.ts';
import { loadBrokerConfig } from '../src/config/index.ts';
import { isBulwarkError } from '../src/lib/errors.ts';
import { generateToken, Reason } from '../src/policy/index.ts';
import { startTestBroker } from './harness/broker.ts';
import { kcat, kcatScram } from './harness/clients.ts';
import { brokerClusterYaml, roleYaml, userYaml } from './harness/policy.ts';
import { startRsyslog, type Rsyslog } from './harness/rsyslog.ts';

/** RFC 5424 section 6: PRI VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP STRUCTURED-DATA SP MSG. */
const RFC5424 = /^<(\d{1,3})>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)) ([\x21-\x7e]{1,255}) ([\x21-\x7e]{1,48}) ([\x21-\x7e]{1,128}) ([\x21-\x7e]{1,32}) (-|\[.*\]) (.*)$/;

let rsyslog: Rsyslog;
before(async () => {
  rsyslog = await startRsyslog();
});
after(async () => {
  await rsyslog.dispose();
});

/** Messages from this test's hostname only (each test sends under its own). */
const from = (hostname: string) => rsyslog.received().filter((m) => m.hostname === hostname);
const waitFrom = async (hostname: string, n: number, timeoutMs = 10_000) => {
  const deadline = Date.now() + timeoutMs;
  while (from(hostname).length < n) {
    if (Date.now() > deadline) throw new Error(`${from(hostname).length} of ${n} messages from ${hostname} reached rsyslogd`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return from(hostname);
};

describe('syslog sink against rsyslogd', () => {
  const transports = (): [string, SyslogTarget, string][] => [
    ['udp', { transport: 'udp', host: '127.0.0.1', port: rsyslog.udpPort }, 'imudp'],
    ['tcp', { transport: 'tcp', host: '127.0.0.1', port: rsyslog.tcpPort }, 'imtcp'],
    ['unix', { transport: 'unix', path: rsyslog.unixPath }, 'imptcp'],
  ];
  for (const name of ['udp', 'tcp', 'unix']) {
    test(`over ${name}: each event is one RFC 5424 message rsyslog parses, with the event as MSG`, async () => {
      const [, target, input] = transports().find((t) => t[0] === name)!;
      const hostname = `bulwark-${name}-0`;
      const audit = new AuditLog({ sinks: [new SyslogAuditSink({ target, hostname, facility: 'local3', appName: 'bulwark-broker' })], logAllowed: true });
      audit.authentication({ outcome: 'failure', listener: 'kafka', mechanism: 'SCRAM-SHA-256', user: 'mallory', clientIp: '10.9.9.9', reason: 'BadCredentials' });
      audit.topic({ operation: 'created', topic: 'orders', partitions: 3, user: 'alice' });
      // A value with the characters that would break a naive framing: newline, quotes, brackets, non-ASCII.
      audit.connection({ reason: 'TokenRevoked', user: 'zoë "ops" [admin]\nsecond line', clientIp: '10.0.0.7', listener: 'kafka' });
      await audit.close();

      const received = await waitFrom(hostname, 3);
      assert.equal(received.length, 3, 'no message split or merged');
      for (const m of received) {
        assert.equal(m.input, input);
        assert.equal(m.version, '1', 'parsed as RFC 5424, not as BSD syslog');
        assert.equal(m.facility, 'local3');
        assert.equal(m.appName, 'bulwark-broker');
        assert.equal(m.procid, String(process.pid));
        assert.equal(m.structuredData, '-');
      }
      const events = received.map((m) => JSON.parse(m.msg) as Record<string, unknown>);
      assert.deepEqual(
        received.map((m) => [m.msgid, m.severity]),
        [
          ['authentication', 'notice'],
          ['topic', 'info'],
          ['connection', 'notice'],
        ],
      );
      assert.deepEqual(events[0], { time: events[0]!.time, type: 'authentication', outcome: 'failure', listener: 'kafka', mechanism: 'SCRAM-SHA-256', user: 'mallory', clientIp: '10.9.9.9', reason: 'BadCredentials' });
      assert.equal(received[0]!.timestamp, events[0]!.time, 'TIMESTAMP is the event time');
      assert.equal(events[2]!.user, 'zoë "ops" [admin]\nsecond line');
      // The RFC 5424 lines rsyslog re-emits for this host parse with the grammar's regular expression.
      const lines = rsyslog.lines().filter((l) => l.split(' ')[2] === hostname);
      assert.equal(lines.length, 3);
      for (const l of lines) assert.match(l, RFC5424);
      assert.equal(Number(RFC5424.exec(lines[1]!)![1]), 19 * 8 + 6, 'PRI: local3 (19) * 8 + info (6)');
    });
  }

  test('tcp: the receiver goes away and comes back; the broker never waits, the waiting batch arrives, and the bounded queue drops and counts the rest', async () => {
    const hostname = 'bulwark-reconnect-0';
    const errors: unknown[] = [];
    const drops: number[] = [];
    const sink = new SyslogAuditSink({ target: { transport: 'tcp', host: '127.0.0.1', port: rsyslog.tcpPort }, hostname, maxQueuedEvents: 20, onError: (e) => errors.push(e), onDropped: (n) => drops.push(n) });
    const audit = new AuditLog({ sinks: [sink] });
    audit.topic({ operation: 'created', topic: 'before', user: 'alice' });
    await audit.flush();
    await waitFrom(hostname, 1);

    await rsyslog.stop();
    let restarted = false;
    try {
      const started = performance.now();
      for (let i = 0; i < 10; i++) audit.topic({ operation: 'created', topic: `while-down-${i}`, user: 'alice' });
      assert.ok(performance.now() - started < 50, 'recording events does not wait for the receiver');
      await new Promise((r) => setTimeout(r, 300)); // reconnect attempts fail meanwhile
      // The 10 were taken off the queue into the batch waiting for a connection; of these 50, 20
      // fit in the queue and 30 are dropped, counted, and warned about once.
      for (let i = 0; i < 50; i++) audit.topic({ operation: 'created', topic: `queued-${i}`, user: 'alice' });
      assert.equal(sink.stats().dropped, 30);
      assert.deepEqual(drops, [1]);
      assert.ok(errors.length >= 1 && errors.every((e) => isBulwarkError(e, 'BWK_ERR_AUDIT_SYSLOG_UNREACHABLE')), 'reconnect failures are reported with a coded error');
      assert.match((errors[0] as Error).message, new RegExp(`tcp://127\\.0\\.0\\.1:${rsyslog.tcpPort}`));

      await rsyslog.start();
      restarted = true;
      await audit.flush();
      const topics = (await waitFrom(hostname, 31)).map((m) => (JSON.parse(m.msg) as { topic: string }).topic);
      assert.deepEqual(topics, ['before', ...Array.from({ length: 10 }, (_, i) => `while-down-${i}`), ...Array.from({ length: 20 }, (_, i) => `queued-${i}`)]);
      assert.deepEqual(sink.stats(), { written: 31, dropped: 30, failed: 0 });
    } finally {
      if (!restarted) await rsyslog.start(); // the other tests need the receiver
    }
    await audit.close();
  });

  test('close() with the receiver gone gives up instead of hanging, and counts what it could not send', async () => {
    const sink = new SyslogAuditSink({ target: { transport: 'unix', path: `${rsyslog.unixPath}.missing` }, connectTimeoutMs: 200 });
    const audit = new AuditLog({ sinks: [sink] });
    audit.topic({ operation: 'created', topic: 'lost', user: 'alice' });
    const started = performance.now();
    await audit.close();
    assert.ok(performance.now() - started < 2000);
    assert.deepEqual(sink.stats(), { written: 0, dropped: 0, failed: 1 });
  });

  test('a secret passed into an event by mistake is redacted before it reaches syslog', async () => {
    const token = generateToken();
    const hostname = 'bulwark-redact-0';
    const audit = new AuditLog({ sinks: [new SyslogAuditSink({ target: { transport: 'udp', host: '127.0.0.1', port: rsyslog.udpPort }, hostname })] });
    audit.authentication({ outcome: 'failure', listener: 'http', mechanism: 'bearer', clientIp: '10.0.0.8', reason: `token ${token} is not known`, ...({ password: 'Hunter2-Secret!' } as object) });
    await audit.close();
    const [m] = await waitFrom(hostname, 1);
    assert.equal(JSON.parse(m!.msg).reason, 'token bwk_[REDACTED] is not known');
    const raw = rsyslog.lines().join('\n');
    assert.equal(raw.includes(token.slice(4)), false);
    assert.equal(raw.includes('Hunter2-Secret!'), false);
  });
});

describe('the broker', () => {
  test('with audit.syslog over tcp: a produce kcat is denied arrives at rsyslogd as a notice, with no secret in it', async () => {
    const password = 'Syslog-Audit-Pw!q7R2';
    const hostname = 'bulwark-broker-syslog';
    const b = await startTestBroker({
      security: {
        policy: {
          'cluster.yaml': brokerClusterYaml(),
          'roles.yaml': roleYaml('orders-reader', [{ topics: ['orders'], actions: ['read'] }]),
          'dana.yaml': userYaml('dana', { type: 'scram-sha-256', password, roles: ['orders-reader'] }),
        },
      },
      config: { audit: { syslog: { transport: 'tcp', host: '127.0.0.1', port: rsyslog.tcpPort, hostname } } },
    });
    try {
      b.broker.topics.createTopic('orders', 1);
      const produced = await kcat(['-b', b.address('kafka'), ...kcatScram('SCRAM-SHA-256', 'dana', password), '-P', '-t', 'orders'], { input: 'not allowed\n' });
      assert.notEqual(produced.code, 0, 'the produce is refused');
      await b.stop(); // records the denial still held for coalescing, and flushes
      const received = await waitFrom(hostname, 2);
      const denial = received.find((m) => m.msgid === 'authorization');
      assert.ok(denial, `a denial among ${received.map((m) => m.msgid).join(', ')}`);
      assert.equal(denial.severity, 'notice');
      assert.equal(denial.facility, 'authpriv');
      assert.equal(denial.appName, 'bulwark');
      const event = JSON.parse(denial.msg) as Record<string, unknown>;
      assert.equal(event.decision, 'deny');
      assert.equal(event.user, 'dana');
      assert.equal(event.action, 'write');
      assert.equal(event.resourceName, 'orders');
      assert.equal(event.reason, Reason.NoMatchingGrant);
      const login = received.find((m) => m.msgid === 'authentication');
      assert.equal(login && (JSON.parse(login.msg) as { outcome: string }).outcome, 'success');
      assert.equal(login?.severity, 'info');
      const all = rsyslog.lines().join('\n') + received.map((m) => m.msg).join('\n');
      assert.equal(all.includes(password), false, 'no password reaches syslog');
    } finally {
      await b.stop().catch(() => {});
    }
  });

  test('with no audit sink configured, events go to the broker log as JSON lines instead of being dropped', async () => {
    const b = await startTestBroker(); // the open policy, no audit file, topic or syslog
    try {
      const created = await fetch(`${b.http}/v1/topics`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'audited-by-default', partitions: 2 }) });
      assert.equal(created.status, 201);
      await b.broker.security.audit.flush();
      const audited = b.logs.map((l) => JSON.parse(l) as { component?: string; msg: string; audit?: Record<string, unknown> }).filter((l) => l.audit);
      assert.deepEqual(
        audited.map((l) => [l.component, l.audit!.type]),
        [
          ['audit', 'policy'], // the policy directory's first snapshot, at start
          ['audit', 'topic'],
        ],
        b.logs.join('\n'),
      );
      assert.deepEqual({ ...audited[1]!.audit, time: undefined }, { time: undefined, type: 'topic', operation: 'created', topic: 'audited-by-default', partitions: 2, user: 'system:anonymous' });
      assert.deepEqual(b.broker.security.audit.stats(), [{ kind: 'log', written: 2, dropped: 0, failed: 0 }]);
      const metrics = await b.broker.metrics.registry.metrics();
      assert.match(metrics, /bulwark_audit_events_total\{sink="log",outcome="written"\} 2/);
    } finally {
      await b.stop();
    }
  });
});

describe('audit.syslog configuration', () => {
  test('set from the environment as JSON, with defaults filled in; a bad facility or a transport without its address stops the start, naming the key', () => {
    const config = loadBrokerConfig({ env: { BULWARK_AUDIT_SYSLOG: '{"transport":"tcp","host":"10.0.0.5"}' } });
    assert.deepEqual(config.audit.syslog, { transport: 'tcp', host: '10.0.0.5', port: 514, facility: 'authpriv', appName: 'bulwark', maxQueuedEvents: 10_000 });
    assert.equal(loadBrokerConfig({}).audit.syslog, null);
    assert.throws(() => loadBrokerConfig({ overrides: { audit: { syslog: { transport: 'udp', facility: 'security' as 'auth' } } } }), (e) => isBulwarkError(e, 'BWK_ERR_CONFIG_INVALID') && /audit\.syslog\.facility/.test(e.message));
    assert.throws(() => loadBrokerConfig({ overrides: { audit: { syslog: { transport: 'unix' } as never } } }), (e) => isBulwarkError(e, 'BWK_ERR_CONFIG_INVALID') && /audit\.syslog\.path/.test(e.message));
    assert.throws(() => loadBrokerConfig({ overrides: { audit: { syslog: { transport: 'tcp', appName: 'has space' } } } }), (e) => isBulwarkError(e, 'BWK_ERR_CONFIG_INVALID') && /audit\.syslog\.appName/.test(e.message));
  });
});
