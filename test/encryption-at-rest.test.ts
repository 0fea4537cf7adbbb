// Encryption at rest on a real broker: real clients (kcat, kafkajs) produce and consume through
// it, every file under the data directory is searched for what they sent, keys rotate, and the
// data on disk says which keys it still needs (`bulwark keys status`, the broker's metric), down
// to the broker refusing to start without one.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { startBroker, type Broker } from '../src/broker/index.ts';
import { keysReport } from '../src/cli/keys-command.ts';
import { run } from '../src/cli/main.ts';
import { loadBrokerConfig, type BrokerConfigInput } from '../src/config/index.ts';
import { createLogger, isBulwarkError } from '../src/lib/index.ts';
import { OPEN_POLICY_DIR } from './harness/broker.ts';
import { useTempDirs } from './harness/temp.ts';

const tempDir = useTempDirs('encryption');

function kcat(bootstrap: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('kcat', ['-b', bootstrap, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      code === 0 ? resolve(out) : reject(new Error(`kcat ${args.join(' ')} exited ${code}: ${err}`));
    });
    child.stdin.end(input ?? '');
  });
}

/** A key directory laid out as a mounted Secret: one file per key id, and Kubernetes' own ..data entries. */
function keyDir(keys: Record<string, Buffer | string>): string {
  const d = tempDir('keys');
  for (const [id, key] of Object.entries(keys)) writeFileSync(join(d, id), key);
  mkdirSync(join(d, '..data'));
  return d;
}

const base64 = (key: Buffer) => `${key.toString('base64')}\n`; // as `openssl rand -base64 32` writes it

function start(dataDir: string, extra: BrokerConfigInput = {}): Promise<Broker> {
  const logger = createLogger({ level: 'error', destination: { write: () => {} } });
  return startBroker(
    loadBrokerConfig({
      overrides: {
        dataDir,
        policy: { dir: OPEN_POLICY_DIR },
        kafka: { port: 0, authentication: ['anonymous'] },
        http: { enabled: false },
        topics: { autoCreate: true },
        log: { flush: { mode: 'batch' } },
        ...extra,
      },
    }),
    { logger },
  );
}

const bootstrap = (b: Broker) => `127.0.0.1:${b.kafkaPort}`;

/** Every regular file under dir, recursively. */
function allFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? allFiles(p) : e.isFile() ? [p] : [];
  });
}

/** Files under dir holding any of the needles, and how many bytes were searched. */
function filesHolding(dir: string, needles: string[]): { found: string[]; bytes: number } {
  let bytes = 0;
  const found: string[] = [];
  for (const f of allFiles(dir)) {
    const data = readFileSync(f);
    bytes += data.length;
    for (const n of needles) if (data.includes(Buffer.from(n))) found.push(`${f}: ${n}`);
  }
  return { found, bytes };
}

async function kafkajsRoundTrip(b: Broker, topic: string, values: string[]): Promise<string[]> {
  const kafka = new Kafka({ brokers: [bootstrap(b)], clientId: 'encryption-test', logLevel: logLevel.NOTHING, retry: { retries: 3 } });
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic, messages: values.map((value, i) => ({ key: `kafkajs-key-${i}`, value, headers: { 'x-secret': `${value}-header` } })) });
  await producer.disconnect();
  const consumer = kafka.consumer({ groupId: `g-${topic}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const got: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`kafkajs got ${got.length} of ${values.length}`)), 20_000);
    void consumer.run({
      eachMessage: async ({ message }) => {
        got.push(`${message.value?.toString()}|${message.headers?.['x-secret']?.toString()}`);
        if (got.length === values.length) {
          clearTimeout(timer);
          resolve();
        }
      },
    });
  });
  await consumer.disconnect();
  return got;
}

describe('encryption at rest on a real broker', () => {
  before(async () => {
    await promisify(execFile)('kcat', ['-V']); // fail loudly, not skip, when kcat is missing
  });

  test('kcat and kafkajs produce and consume; no file under the data directory holds a key, value or header they sent', async () => {
    const marker = `plaintext-${randomBytes(8).toString('hex')}`;
    const kcatLines = [0, 1, 2].map((i) => `kcat-key-${marker}-${i}:kcat-value-${marker}-${i}`);
    const jsValues = [0, 1].map((i) => `kafkajs-value-${marker}-${i}`);
    const needles = [marker, `kcat-key-${marker}`, `kcat-value-${marker}`, `kafkajs-value-${marker}`];

    // A control run in the clear: the search finds what was sent, so finding nothing below means something.
    const clearDir = tempDir('clear');
    const clear = await start(clearDir);
    await kcat(bootstrap(clear), ['-P', '-t', 'orders', '-K', ':'], kcatLines.join('\n') + '\n');
    await clear.stop();
    assert.ok(filesHolding(clearDir, needles).found.length > 0, 'the search finds plaintext when encryption is off');

    const dataDir = tempDir('data');
    // k1 as base64 text (openssl rand -base64 32), k2 as 32 raw bytes (head -c 32 /dev/urandom).
    const keys = keyDir({ k1: base64(randomBytes(32)), k2: randomBytes(32) });
    const b = await start(dataDir, { encryption: { keyDir: keys, activeKeyId: 'k1' } });
    try {
      await kcat(bootstrap(b), ['-P', '-t', 'orders', '-K', ':', '-H', `x-secret=kcat-header-${marker}`], kcatLines.join('\n') + '\n');
      const out = await kcat(bootstrap(b), ['-C', '-t', 'orders', '-o', 'beginning', '-e', '-f', '%k:%s|%h\\n']);
      assert.deepEqual(
        out.trim().split('\n'),
        kcatLines.map((l) => `${l}|x-secret=kcat-header-${marker}`),
      );
      assert.deepEqual(await kafkajsRoundTrip(b, 'payments', jsValues), jsValues.map((v) => `${v}|${v}-header`));
    } finally {
      await b.stop();
    }
    const { found, bytes } = filesHolding(dataDir, needles);
    assert.deepEqual(found, [], 'plaintext on disk');
    const logs = allFiles(dataDir).filter((f) => f.endsWith('.log') && /(orders|payments)-0/.test(f));
    assert.ok(logs.length >= 2 && logs.every((f) => statSync(f).size > 0) && bytes > 0, 'the search covered the partitions the clients wrote');
    assert.deepEqual(keysReport(dataDir, keys, 'k1').keys.map((k) => [k.keyId, k.status]), [
      ['k1', 'needed'],
      ['k2', 'retirable'],
    ]);
  });

  test('rotation: batches sealed with k1 still decrypt after k2 becomes active; k1 is needed until retention deletes its segments', async () => {
    const dataDir = tempDir('rotate');
    const k1 = randomBytes(32);
    const k2 = randomBytes(32);
    const both = keyDir({ k1: base64(k1), k2: base64(k2) });
    const onlyK2 = keyDir({ k2: base64(k2) });
    // Small segments: each ~700-byte batch gets one of its own, so retention can delete k1's.
    const small = { segmentBytes: 1024, flush: { mode: 'batch' as const } };
    const produce = async (b: Broker, prefix: string, n: number) => {
      for (let i = 0; i < n; i++) await kcat(bootstrap(b), ['-P', '-t', 'rotating'], `${prefix}-${i}-${'x'.repeat(600)}\n`);
    };
    const consumeAll = async (b: Broker) => (await kcat(bootstrap(b), ['-C', '-t', 'rotating', '-o', 'beginning', '-e', '-f', '%s\\n'])).trim().split('\n').map((l) => l.slice(0, l.indexOf('-x')));

    let b = await start(dataDir, { encryption: { keyDir: keyDir({ k1: base64(k1) }), activeKeyId: 'k1' }, log: small });
    await produce(b, 'under-k1', 3);
    await b.stop();

    b = await start(dataDir, { encryption: { keyDir: both, activeKeyId: 'k2' }, log: small });
    await produce(b, 'under-k2', 3);
    assert.deepEqual(await consumeAll(b), ['under-k1-0', 'under-k1-1', 'under-k1-2', 'under-k2-0', 'under-k2-1', 'under-k2-2']);
    // What the broker reports (its /metrics registry) and what the command reads from the disk agree.
    const metric = (await b.metrics.registry.getSingleMetric('bulwark_log_key_segments')!.get()).values;
    const fromMetric = Object.fromEntries(metric.map((v) => [v.labels.key_id, v.value]));
    await b.stop();
    const report = keysReport(dataDir, both, 'k2');
    assert.deepEqual(
      report.keys.map((k) => [k.keyId, k.status, k.partitions]),
      [
        ['k1', 'needed', ['rotating-0']],
        ['k2', 'needed', ['rotating-0']],
      ],
    );
    assert.ok(report.keys[0]!.segments >= 3, `k1 is in ${report.keys[0]!.segments} segments`);
    assert.deepEqual(fromMetric, Object.fromEntries(report.keys.map((k) => [k.keyId, k.segments])));

    // k1 removed while data needs it: the broker refuses to start, naming k1 and a segment, never a key.
    await assert.rejects(start(dataDir, { encryption: { keyDir: onlyK2, activeKeyId: 'k2' }, log: small }), (e) => {
      assert.ok(isBulwarkError(e, 'BWK_ERR_LOG_KEY_NEEDED'), String(e));
      assert.match(e.message, /encryption key k1 is not in .*keys.*, and \d+ segment\(s\) on disk still need it \(such as .*rotating-0.*\.log\)/);
      for (const k of [k1, k2]) assert.ok(!e.message.includes(k.toString('base64')) && !e.message.includes(k.toString('hex')), 'no key bytes in the message');
      return true;
    });
    // Encryption left out of the configuration: sealed data is refused as well, not served as ciphertext.
    await assert.rejects(start(dataDir, { log: small }), (e) => isBulwarkError(e, 'BWK_ERR_LOG_KEY_NEEDED') && /encryption is not configured/.test(e.message));
    // The command says the same, and exits 1.
    const out: string[] = [];
    const code = await run(['keys', 'status', '--data-dir', dataDir, '--key-dir', onlyK2, '--active-key-id', 'k2'], { out: (l) => out.push(l), err: (l) => out.push(l) });
    assert.equal(code, 1);
    assert.match(out.join('\n'), /^k1 +\d+ +1 +NO +MISSING: needed by data on disk/m);

    // Retention deletes the segments sealed with k1: it is no longer needed, and may go.
    b = await start(dataDir, { encryption: { keyDir: both, activeKeyId: 'k2' }, log: { ...small, retentionBytes: 1024, retentionCheckIntervalMs: 100 } });
    await produce(b, 'later', 2);
    const deadline = Date.now() + 10_000;
    while (keysReport(dataDir, both, 'k2').keys.find((k) => k.keyId === 'k1')!.status !== 'retirable') {
      assert.ok(Date.now() < deadline, 'retention did not delete the k1 segments');
      await new Promise((r) => setTimeout(r, 100));
    }
    await b.stop();
    b = await start(dataDir, { encryption: { keyDir: onlyK2, activeKeyId: 'k2' }, log: small });
    try {
      const left = await consumeAll(b);
      assert.deepEqual(left.slice(-2), ['later-0', 'later-1']);
      assert.ok(!left.some((v) => v.startsWith('under-k1')), `retention kept ${left.join(', ')}`);
    } finally {
      await b.stop();
    }
    const json: string[] = [];
    assert.equal(await run(['keys', 'status', '--data-dir', dataDir, '--key-dir', both, '--active-key-id', 'k2', '-o', 'json'], { out: (l) => json.push(l), err: (l) => json.push(l) }), 0);
    assert.deepEqual(
      (JSON.parse(json.join('')) as { keys: { keyId: string; status: string }[] }).keys.map((k) => [k.keyId, k.status]),
      [
        ['k1', 'retirable'],
        ['k2', 'needed'],
      ],
    );
  });

  test('start-up fails closed on a missing active key, a short or unreadable key, or a missing key directory, naming the key id and file', async () => {
    const dataDir = tempDir('refused');
    const short = randomBytes(16);
    const refused = async (encryption: { keyDir: string; activeKeyId: string }, code: string, pattern: RegExp) => {
      await assert.rejects(start(dataDir, { encryption }), (e) => {
        assert.ok(isBulwarkError(e) && e.code === code, String(e));
        assert.match(e.message, pattern);
        assert.ok(!e.message.includes(short.toString('base64')), 'no key bytes in the message');
        return true;
      });
    };
    const good = keyDir({ k1: base64(randomBytes(32)) });
    await refused({ keyDir: good, activeKeyId: 'k9' }, 'BWK_ERR_LOG_KEY_MISSING', /encryption key k9 is not in .*keys/);
    const shortDir = keyDir({ k1: base64(randomBytes(32)), weak: base64(short) });
    await refused({ keyDir: shortDir, activeKeyId: 'k1' }, 'BWK_ERR_LOG_KEY_INVALID', new RegExp(`encryption key weak \\(file ${join(shortDir, 'weak').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\) is not usable: expected 32 bytes`));
    // A key file that cannot be read (here a dangling link, as a broken Secret mount leaves; the tests run as root, so no chmod).
    const unreadable = keyDir({ k1: base64(randomBytes(32)) });
    symlinkSync(join(unreadable, '..data', 'gone'), join(unreadable, 'k2'));
    await refused({ keyDir: unreadable, activeKeyId: 'k1' }, 'BWK_ERR_LOG_KEY_INVALID', /encryption key k2 \(file .*k2\) is not usable: cannot read it \(ENOENT\)/);
    await refused({ keyDir: join(dataDir, 'no-such-dir'), activeKeyId: 'k1' }, 'BWK_ERR_LOG_KEY_DIR_UNREADABLE', /cannot read the encryption key directory .*no-such-dir: ENOENT/);
    assert.deepEqual(readdirSync(dataDir), [], 'nothing was written before the keys were checked');
  });
});
