// A User's connection Secret (src/operator/user/connection.ts, password.ts): generated passwords,
// the listener a user's clients are sent to, and the Secret's contents. The client
// configurations are proven with the real clients, as an application would use them: the
// Secret's keys written as files (as a Secret volume mounts them), then kcat -F
// librdkafka.properties and the Apache Kafka Java tools with --command-config client.properties
// against a real broker, with a wrong password in an otherwise identical file refused.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { USERNAME, type BrokerCluster } from '../src/api/index.ts';
import { isBulwarkError } from '../src/lib/index.ts';
import {
  chooseKafkaListener,
  connectionSecretData,
  DEFAULT_SECRET_MOUNT_PATH,
  jaasConfig,
  jaasQuote,
  javaPropertiesValue,
  type ConnectionInput,
} from '../src/operator/user/connection.ts';
import { generatePassword, PASSWORD_ALPHABET } from '../src/operator/user/password.ts';
import { passwordWeakness } from '../src/policy/credentials.ts';
import { startTestBroker, type SecureTestBroker } from './harness/broker.ts';
import { kcat } from './harness/clients.ts';
import { brokerClusterYaml, CLUSTER, NAMESPACE, topicGrantYaml } from './harness/policy.ts';
import { prng } from './harness/prng.ts';
import { resource } from './harness/resources.ts';
import { useTempDirs } from './harness/temp.ts';
import { javaArgs, kafkaPeerEnv } from '../tools/kafka/peer-env.ts';

const run = promisify(execFile);
const tempDir = useTempDirs('user-connection');

/** A random source from a seeded PRNG, so a statistical test is the same on every run. */
const seededBytes = (seed: number) => {
  const next = prng(seed);
  return (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(next() * 256)));
};

describe('generatePassword', () => {
  test('32 alphanumerics, all distinct, each passing passwordWeakness with upper, lower and digit', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 500; i++) {
      const p = generatePassword();
      assert.match(p, /^[A-Za-z0-9]{32}$/);
      assert.equal(passwordWeakness(p), undefined);
      assert.ok(/[A-Z]/.test(p) && /[a-z]/.test(p) && /[0-9]/.test(p), 'all three classes');
      seen.add(p);
    }
    assert.equal(seen.size, 500);
  });

  test('characters are uniform: chi-square over 62 symbols from 96,000 draws of a seeded source', () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 3000; i++) for (const c of generatePassword(seededBytes(i + 1))) counts.set(c, (counts.get(c) ?? 0) + 1);
    assert.equal(counts.size, 62);
    const expected = 96_000 / 62;
    const chi2 = [...counts.values()].reduce((s, n) => s + (n - expected) ** 2 / expected, 0);
    // 61 degrees of freedom: p = 0.001 at 100.9. A modulo-biased draw (byte % 62) puts 5 byte values on
    // the first 8 symbols and 4 on the rest, +25% on those 8: chi-square over 1,000 at this sample size.
    assert.ok(chi2 < 100.9, `chi-square ${chi2.toFixed(1)}`);
  });

  test('bytes 248-255 are thrown away (no modulo bias); the others map to byte % 62', () => {
    // Each wanted symbol k is preceded by rejected bytes and sent as k, k + 62, k + 124 or k + 186.
    const wanted = 'Zz9aB0cD1eF2gH3iJ4kL5mN6oP7qR8sT';
    const bytes: number[] = [];
    [...wanted].forEach((ch, i) => bytes.push(248 + (i % 8), 255, PASSWORD_ALPHABET.indexOf(ch) + 62 * (i % 4)));
    let at = 0;
    const source = (n: number) => {
      const out = Buffer.from(bytes.slice(at, at + n));
      at += n;
      return out;
    };
    assert.equal(generatePassword(source), wanted);
  });

  test('a password lacking a digit is drawn again whole', () => {
    const drawn: number[] = [];
    let calls = 0;
    const source = (n: number) => {
      calls++;
      drawn.push(n);
      // First 36 bytes: all 0 ('A' × 32, no lowercase, no digit); then a password with every class.
      return calls === 1 ? Buffer.alloc(n, 0) : Buffer.from(Array.from({ length: n }, (_, i) => [0, 26, 52][i % 3]!));
    };
    const p = generatePassword(source);
    assert.equal(p, 'Aa0'.repeat(11).slice(0, 32));
    assert.equal(calls, 2);
  });

  test('a source that yields only rejected bytes stops with BWK_ERR_INTERNAL instead of spinning', () => {
    assert.throws(() => generatePassword((n) => Buffer.alloc(n, 255)), (e) => isBulwarkError(e, 'BWK_ERR_INTERNAL'));
  });
});

// The listeners of the secure test broker (test/harness/broker.ts), as a BrokerCluster spells them.
const HARNESS_LISTENERS = [
  { name: 'kafka', protocol: 'kafka', port: 9092, authentication: ['scram-sha-256', 'scram-sha-512'] },
  { name: 'tls', protocol: 'kafka', port: 9093, tls: { enabled: true, clientAuth: 'optional' }, authentication: ['plain', 'mtls', 'scram-sha-256', 'scram-sha-512'] },
  { name: 'anon', protocol: 'kafka', port: 9094, authentication: ['anonymous'] },
  { name: 'http', protocol: 'http', port: 8443, tls: { enabled: true }, authentication: ['password', 'bearer'] },
];
const cluster = (listeners: unknown[]) => resource('BrokerCluster', 'c', { replicas: 1, storage: { size: '1Gi' }, listeners }) as BrokerCluster;

describe('chooseKafkaListener', () => {
  const plainScram = { name: 'plain', protocol: 'kafka', port: 9092, authentication: ['scram-sha-256', 'scram-sha-512'] };
  const tlsAll = HARNESS_LISTENERS[1]!;
  const cases: { why: string; listeners: unknown[]; type: 'scram-sha-256' | 'scram-sha-512' | 'password' | 'tls'; want: string | undefined }[] = [
    { why: 'SCRAM prefers TLS over a plaintext listener listed first', listeners: HARNESS_LISTENERS, type: 'scram-sha-512', want: 'tls' },
    { why: 'SCRAM falls back to plaintext', listeners: [plainScram, HARNESS_LISTENERS[2]], type: 'scram-sha-256', want: 'plain' },
    { why: 'password users get PLAIN over TLS', listeners: HARNESS_LISTENERS, type: 'password', want: 'tls' },
    { why: 'tls users get the mTLS listener', listeners: HARNESS_LISTENERS, type: 'tls', want: 'tls' },
    { why: 'a SCRAM-SHA-512 user has no SCRAM-SHA-256 listener', listeners: [{ ...plainScram, authentication: ['scram-sha-256'] }], type: 'scram-sha-512', want: undefined },
    { why: 'password users never get an http listener, nor a SCRAM-only one', listeners: [plainScram, HARNESS_LISTENERS[3]], type: 'password', want: undefined },
    { why: 'tls users need mtls in the listener', listeners: [{ ...tlsAll, authentication: ['scram-sha-512'] }], type: 'tls', want: undefined },
    {
      why: 'SCRAM skips a listener that requires a client certificate',
      listeners: [{ ...tlsAll, name: 'mtls-only', tls: { enabled: true, clientAuth: 'required' } }, plainScram],
      type: 'scram-sha-512',
      want: 'plain',
    },
    { why: 'the first fitting TLS listener in spec order', listeners: [plainScram, { ...tlsAll, name: 'tls-a', port: 9101 }, { ...tlsAll, name: 'tls-b', port: 9102 }], type: 'scram-sha-256', want: 'tls-a' },
  ];
  for (const c of cases) test(c.why, () => assert.equal(chooseKafkaListener(cluster(c.listeners), c.type)?.name, c.want));
});

/** A CA certificate for the unit tests (only its shape matters here). */
const FAKE_CA = '-----BEGIN CERTIFICATE-----\nMIIBfake\nAAAA\n-----END CERTIFICATE-----\n';
const scramInput = (o: Partial<ConnectionInput> = {}): ConnectionInput => ({ username: 'app', password: 'Pw0rdPw0rdPw0rdPw0rdPw0rdPw0rdPw', authType: 'scram-sha-512', bootstrap: 'c.ns.svc:9093', tls: true, caPem: FAKE_CA, ...o });

describe('escaping', () => {
  test('JAAS strings escape backslash, double quote and line breaks', () => {
    assert.equal(jaasQuote('plain'), '"plain"');
    assert.equal(jaasQuote('a"b\\c'), '"a\\"b\\\\c"');
    assert.equal(jaasQuote('x\ny\rz'), '"x\\ny\\rz"');
    assert.equal(jaasConfig('PLAIN', 'u', 'p'), 'org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="p";');
    assert.equal(jaasConfig('SCRAM-SHA-256', 'u', 'p'), 'org.apache.kafka.common.security.scram.ScramLoginModule required username="u" password="p";');
  });

  test('Java properties values: backslash, leading space, control and non-ASCII characters; a newline continues the line', () => {
    assert.equal(javaPropertiesValue('a\\b'), 'a\\\\b');
    assert.equal(javaPropertiesValue('  x y '), '\\  x y ', 'only the first space needs an escape, the rest and trailing spaces are kept');
    assert.equal(javaPropertiesValue('k=v:w#!'), 'k=v:w#!', 'no escape needed inside a value');
    assert.equal(javaPropertiesValue('t\tf\fr\r'), 't\\tf\\fr\\r');
    assert.equal(javaPropertiesValue('ü😀'), '\\u00fc\\ud83d\\ude00');
    assert.equal(javaPropertiesValue('l1\nl2\n'), 'l1\\n\\\n    l2\\n');
    assert.equal(javaPropertiesValue('l1\n l2'), 'l1\\n\\\n    \\ l2', 'a continued line\'s leading space would be skipped');
  });

  test('every awkward username USERNAME allows is written verbatim in the JAAS line and both properties files', () => {
    for (const username of ['a', 'svc.orders@team-1', 'x-_.@y', '0.0', `A${'-'.repeat(127)}`]) {
      assert.match(username, USERNAME);
      const d = connectionSecretData(scramInput({ username }));
      assert.equal(d.username, username);
      assert.ok(d['sasl.jaas.config']!.includes(`username="${username}"`), username);
      assert.ok(d['client.properties']!.includes(`username="${username}"`), username);
      assert.ok(d['librdkafka.properties']!.split('\n').includes(`sasl.username=${username}`), username);
    }
  });

  test('a brought password kcat cannot carry leaves librdkafka.properties out; the Java file still carries it', () => {
    for (const password of [' leading-space-Pw1', 'trailing-space-Pw1 ', 'has\\=escape-Pw1', 'line\nbreak-Pw1', 'x'.repeat(600)]) {
      const d = connectionSecretData(scramInput({ password }));
      assert.equal(d['librdkafka.properties'], undefined);
      assert.ok(d['client.properties']!.includes(javaPropertiesValue(jaasQuote(password))));
    }
  });
});

describe('connectionSecretData', () => {
  test('a SCRAM-SHA-512 user over TLS: the keys, and each properties file for its client only', () => {
    const d = connectionSecretData(scramInput());
    assert.deepEqual(Object.keys(d).sort(), ['bootstrap.servers', 'ca.crt', 'client.properties', 'librdkafka.properties', 'password', 'sasl.jaas.config', 'sasl.mechanism', 'security.protocol', 'username']);
    assert.equal(d['sasl.mechanism'], 'SCRAM-SHA-512');
    assert.equal(d['security.protocol'], 'SASL_SSL');
    assert.equal(d['ca.crt'], FAKE_CA);
    assert.equal(
      d['client.properties'],
      [
        '# Apache Kafka Java client: --producer.config, --consumer.config, --command-config, or Properties.load.',
        'bootstrap.servers=c.ns.svc:9093',
        'security.protocol=SASL_SSL',
        'sasl.mechanism=SCRAM-SHA-512',
        'sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="app" password="Pw0rdPw0rdPw0rdPw0rdPw0rdPw0rdPw";',
        'ssl.truststore.type=PEM',
        'ssl.truststore.certificates=-----BEGIN CERTIFICATE-----\\n\\',
        '    MIIBfake\\n\\',
        '    AAAA\\n\\',
        '    -----END CERTIFICATE-----\\n',
        '',
      ].join('\n'),
    );
    const rd = d['librdkafka.properties']!;
    assert.ok(rd.includes(`ssl.ca.location=${DEFAULT_SECRET_MOUNT_PATH}/ca.crt\n`));
    assert.ok(rd.includes('sasl.mechanisms=SCRAM-SHA-512\nsasl.username=app\nsasl.password=Pw0rdPw0rdPw0rdPw0rdPw0rdPw0rdPw\n'));
    assert.doesNotMatch(rd, /jaas|truststore/);
  });

  test('SCRAM on a plaintext listener: SASL_PLAINTEXT, no CA in either file', () => {
    const d = connectionSecretData(scramInput({ authType: 'scram-sha-256', tls: false }));
    assert.equal(d['security.protocol'], 'SASL_PLAINTEXT');
    assert.doesNotMatch(d['client.properties']!, /ssl\./);
    assert.doesNotMatch(d['librdkafka.properties']!, /ssl\./);
  });

  test('a tls user: SSL, its certificate and key, no password', () => {
    const d = connectionSecretData({ username: 'r', authType: 'tls', bootstrap: 'h:1', tls: true, caPem: FAKE_CA, clientCert: { certPem: 'CERT\n', keyPem: 'KEY\n' }, mountPath: '/m/' });
    assert.equal(d['security.protocol'], 'SSL');
    assert.equal(d['tls.crt'], 'CERT\n');
    assert.equal(d['tls.key'], 'KEY\n');
    for (const k of ['password', 'sasl.mechanism', 'sasl.jaas.config']) assert.equal(d[k], undefined, k);
    assert.match(d['client.properties']!, /^ssl\.keystore\.type=PEM$/m);
    assert.match(d['librdkafka.properties']!, /^ssl\.certificate\.location=\/m\/tls\.crt\nssl\.key\.location=\/m\/tls\.key$/m);
  });

  test('inputs that do not fit together are refused, and the error never carries the password', () => {
    const password = 'Secret-Never-Shown-42';
    for (const bad of [
      scramInput({ password: undefined }),
      scramInput({ authType: 'password', tls: false, password }),
      scramInput({ authType: 'tls', password }),
      scramInput({ bootstrap: 'a:1, b:2', password }),
      scramInput({ mountPath: 'relative', password }),
    ]) {
      assert.throws(() => connectionSecretData(bad), (e) => isBulwarkError(e, 'BWK_ERR_CONFIG_INVALID') && !e.message.includes(password) && !String(e.stack).includes(password));
    }
  });
});

// --- Real clients --------------------------------------------------------------------------------

const SCRAM_USER = 'orders.svc@team-1';
const PLAIN_USER = 'billing-app';
const TLS_USER = 'reporter.svc';
const AWKWARD_USER = 'awkward_user';
/** A brought password with everything the escaping must get right: a leading space, quote, backslash, separators, comment signs, non-ASCII. */
const AWKWARD_PASSWORD = ' Pa"ss\\wo=rd:#!-ü-😀-9X';
const PASSWORDS = { [SCRAM_USER]: generatePassword(), [PLAIN_USER]: generatePassword(), [AWKWARD_USER]: AWKWARD_PASSWORD };

/** A User with spec.username (metadata.name cannot hold `@`) and its password Secret, as local mode reads them. */
function userDocs(name: string, username: string, type: string, password?: string): string {
  const meta = (n: string) => ({ name: n, namespace: NAMESPACE });
  const user = {
    apiVersion: 'bulwark.dev/v1alpha1',
    kind: 'User',
    metadata: meta(name),
    spec: { clusterRef: { name: CLUSTER }, username, authentication: { type, ...(password !== undefined ? { passwordSecretRef: { name: `${name}-pw`, key: 'password' } } : {}) } },
  };
  const docs: object[] = [user];
  if (password !== undefined) docs.push({ apiVersion: 'v1', kind: 'Secret', metadata: meta(`${name}-pw`), stringData: { password } });
  return docs.map((d) => JSON.stringify(d, null, 2)).join('\n---\n') + '\n';
}

describe('the Secret with real clients: kcat -F librdkafka.properties, the Java client with client.properties', () => {
  let b: SecureTestBroker;
  let java: (cls: string, args: string[], input?: string) => Promise<{ code: number; stdout: string; stderr: string }>;
  const listeners = cluster(HARNESS_LISTENERS);

  /** The Secret's data for a user, written as files the way a Secret volume mounts it; returns the directory. */
  async function mountSecret(username: string, type: 'scram-sha-512' | 'password' | 'tls', o: { password?: string; listener?: string } = {}) {
    const dir = tempDir(username.replace(/[^a-z0-9]/gi, '-'));
    const listener = o.listener ? listeners.spec.listeners.find((l) => l.name === o.listener)! : chooseKafkaListener(listeners, type)!;
    const cert = type === 'tls' ? await b.pki.client(username) : undefined;
    const data = connectionSecretData({
      username,
      ...(type !== 'tls' ? { password: o.password ?? PASSWORDS[username as keyof typeof PASSWORDS] } : {}),
      authType: type,
      bootstrap: b.address(listener.name),
      tls: listener.tls?.enabled === true,
      caPem: b.pki.ca.certPem,
      ...(cert ? { clientCert: { certPem: cert.certPem, keyPem: cert.keyPem } } : {}),
      mountPath: dir,
    });
    for (const [key, value] of Object.entries(data)) writeFileSync(join(dir, key), value, { mode: 0o600 });
    return { dir, data, java: join(dir, 'client.properties'), rdkafka: join(dir, 'librdkafka.properties') };
  }

  async function kcatRoundTrip(file: string, topic: string, values: string[]) {
    const produced = await kcat(['-F', file, '-P', '-t', topic], { input: values.join('\n') + '\n' });
    assert.equal(produced.code, 0, produced.stderr);
    const consumed = await kcat(['-F', file, '-C', '-t', topic, '-o', 'beginning', '-e', '-f', '%s\\n']);
    assert.equal(consumed.code, 0, consumed.stderr);
    assert.deepEqual(consumed.stdout.split('\n').filter((l) => l !== ''), values);
  }

  before(async () => {
    await run('kcat', ['-V']); // fail loudly, not skip, when kcat is missing
    // The jars (~45 MB from Maven Central) are cached in ~/.cache/bulwark/kafka after the first run.
    const env = await kafkaPeerEnv();
    java = (cls, args, input) =>
      new Promise((resolve) => {
        const child = execFile(env.JAVA, javaArgs(env, cls, args, { quick: true }), { timeout: 60_000, maxBuffer: 8 << 20 }, (err, so, se) =>
          resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout: so, stderr: se }),
        );
        child.stdin?.end(input ?? '');
      });
    const grantees = [SCRAM_USER, PLAIN_USER, TLS_USER, AWKWARD_USER];
    b = await startTestBroker({
      security: {
        policy: {
          'cluster.yaml': brokerClusterYaml(),
          'scram.yaml': userDocs('orders', SCRAM_USER, 'scram-sha-512', PASSWORDS[SCRAM_USER]),
          'plain.yaml': userDocs('billing', PLAIN_USER, 'password', PASSWORDS[PLAIN_USER]),
          'tls.yaml': userDocs('reporter', TLS_USER, 'tls'),
          'awkward.yaml': userDocs('awkward', AWKWARD_USER, 'scram-sha-512', AWKWARD_PASSWORD),
          'grant.yaml': topicGrantYaml('conn', { users: grantees, topics: ['conn-*'], consumerGroups: ['conn-*'], actions: ['read', 'write', 'describe'] }),
        },
      },
    });
    for (const topic of ['conn-kcat', 'conn-kcat-plaintext', 'conn-plain', 'conn-mtls', 'conn-java', 'conn-java-mtls']) b.broker.topics.createTopic(topic, 1);
  }, { timeout: 15 * 60_000 });
  after(() => b?.stop());

  test('one file cannot serve both: kcat refuses the Java client.properties', async () => {
    const s = await mountSecret(SCRAM_USER, 'scram-sha-512');
    const r = await kcat(['-F', s.java, '-L']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Java JAAS configuration is not supported|No such configuration property/);
  });

  test('SCRAM-SHA-512 over TLS with kcat -F: produce and consume', async () => {
    const s = await mountSecret(SCRAM_USER, 'scram-sha-512');
    assert.equal(s.data['security.protocol'], 'SASL_SSL');
    await kcatRoundTrip(s.rdkafka, 'conn-kcat', ['k1', 'k2']);
  });

  test('SCRAM-SHA-512 on the plaintext listener with kcat -F', async () => {
    const s = await mountSecret(SCRAM_USER, 'scram-sha-512', { listener: 'kafka' });
    assert.equal(s.data['security.protocol'], 'SASL_PLAINTEXT');
    await kcatRoundTrip(s.rdkafka, 'conn-kcat-plaintext', ['p1']);
  });

  test('a password user (PLAIN over TLS) and a tls user (client certificate) with kcat -F', async () => {
    const plain = await mountSecret(PLAIN_USER, 'password');
    assert.equal(plain.data['sasl.mechanism'], 'PLAIN');
    await kcatRoundTrip(plain.rdkafka, 'conn-plain', ['plain-1']);
    const mtls = await mountSecret(TLS_USER, 'tls');
    assert.equal(mtls.data['security.protocol'], 'SSL');
    await kcatRoundTrip(mtls.rdkafka, 'conn-mtls', ['mtls-1']);
  });

  test('the Java client with client.properties: SCRAM-SHA-512 produce and consume, an awkward brought password, a tls user', async () => {
    const s = await mountSecret(SCRAM_USER, 'scram-sha-512');
    const awkward = await mountSecret(AWKWARD_USER, 'scram-sha-512');
    assert.equal(awkward.data['librdkafka.properties'], undefined, 'kcat cannot carry a leading space');
    const mtls = await mountSecret(TLS_USER, 'tls');
    const bootstrap = s.data['bootstrap.servers']!;
    // The JVMs start in parallel: the producer, the awkward password's login and the tls user's.
    const [produced, listed, mtlsProduced] = await Promise.all([
      java('org.apache.kafka.tools.ConsoleProducer', ['--bootstrap-server', bootstrap, '--topic', 'conn-java', '--command-config', s.java], 'j1\nj2\n'),
      java('org.apache.kafka.tools.TopicCommand', ['--bootstrap-server', awkward.data['bootstrap.servers']!, '--list', '--command-config', awkward.java]),
      java('org.apache.kafka.tools.ConsoleProducer', ['--bootstrap-server', mtls.data['bootstrap.servers']!, '--topic', 'conn-java-mtls', '--command-config', mtls.java], 'm1\n'),
    ]);
    assert.equal(produced.code, 0, produced.stderr);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^conn-java$/m, 'the awkward password logged in and its grant shows the topics');
    assert.equal(mtlsProduced.code, 0, mtlsProduced.stderr);
    assert.equal(b.broker.topics.partition('conn-java-mtls', 0)!.nextOffset, 1);
    const consumed = await java('org.apache.kafka.tools.consumer.ConsoleConsumer', [
      '--bootstrap-server', bootstrap, '--topic', 'conn-java', '--group', 'conn-java-g', '--from-beginning', '--max-messages', '2', '--timeout-ms', '20000', '--command-config', s.java,
    ]);
    assert.equal(consumed.code, 0, consumed.stderr);
    assert.deepEqual(consumed.stdout.split('\n').filter((l) => l !== ''), ['j1', 'j2']);
  });

  // Last: failed logins slow down later ones from the same address (the broker's login backoff).
  test('a wrong password in otherwise identical files is refused by kcat and by the Java client', async () => {
    const s = await mountSecret(SCRAM_USER, 'scram-sha-512', { password: generatePassword() });
    const r = await kcat(['-F', s.rdkafka, '-P', '-t', 'conn-kcat'], { input: 'never\n' });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Authentication failure/);
    const j = await java('org.apache.kafka.tools.TopicCommand', ['--bootstrap-server', s.data['bootstrap.servers']!, '--list', '--command-config', s.java]);
    assert.notEqual(j.code, 0);
    assert.match(j.stdout + j.stderr, /SaslAuthenticationException|Authentication failed/);
  });
});
