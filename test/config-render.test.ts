// A BrokerCluster becomes a broker configuration (src/config/render.ts): every field the broker
// can honour maps, every field it cannot is refused by name, and whatever the CRD accepts
// renders to something the broker's configuration schema accepts (or to a refusal).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { parse } from 'yaml';
import { HTTP_MECHANISMS, KAFKA_MECHANISMS, parseResource, TLS_VERSIONS, type BrokerCluster } from '../src/api/index.ts';
import { AUDIT_TOPIC } from '../src/broker/index.ts';
import { HostAccess } from '../src/broker/limits/index.ts';
import {
  BROKER_AUDIT_TOPIC,
  brokerClusterRefusals,
  brokerConfigProblems,
  brokerConfigSchema,
  checkBrokerCluster,
  clusterConfigSource,
  loadBrokerConfig,
  renderBrokerConfig,
  type BrokerMounts,
} from '../src/config/index.ts';
import { isBulwarkError } from '../src/lib/index.ts';

const root = join(import.meta.dirname, '..');
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function cluster(spec: unknown): BrokerCluster {
  const r = parseResource({ apiVersion: 'bulwark.dev/v1alpha1', kind: 'BrokerCluster', metadata: { name: 'events', namespace: 'streaming' }, spec });
  if (!r.ok) throw new Error(`not a valid BrokerCluster: ${JSON.stringify(r.errors)}`);
  return r.value as BrokerCluster;
}

const files = (name: string) => ({ certFile: `/tls/${name}/tls.crt`, keyFile: `/tls/${name}/tls.key`, caFile: `/tls/${name}/ca.crt` });
const mountsFor = (c: BrokerCluster, extra: Partial<BrokerMounts> = {}): BrokerMounts => ({ dataDir: '/data', tls: Object.fromEntries(c.spec.listeners.map((l) => [l.name, files(l.name)])), ...extra });
const pod = { bindHost: '0.0.0.0' };
const base = { replicas: 1, storage: { size: '1Gi' } };
const kafkaOnly = { ...base, listeners: [{ name: 'kafka', protocol: 'kafka', port: 9092, authentication: ['scram-sha-256'] }] };

describe('renderBrokerConfig: the example BrokerCluster', () => {
  const example = cluster(parse(readFileSync(join(root, 'examples', 'policy', 'cluster.yaml'), 'utf8')).spec);
  const config = brokerConfigSchema.parse(renderBrokerConfig(example, mountsFor(example), { bindHost: '0.0.0.0', advertisedHost: 'events-0.events.streaming.svc', brokerId: 2 }));

  test('its listeners: names, ports, mechanisms, TLS with the mounted files', () => {
    assert.deepEqual(config.kafka.authentication, ['scram-sha-256', 'scram-sha-512']);
    assert.equal(config.kafka.port, 9092);
    assert.equal(config.kafka.tls, undefined);
    assert.equal(config.kafka.host, '0.0.0.0');
    assert.equal(config.kafka.advertisedHost, 'events-0.events.streaming.svc');
    assert.equal(config.listeners.length, 1);
    const tls = config.listeners[0]!;
    assert.equal(tls.name, 'kafka-tls');
    assert.equal(tls.port, 9093);
    assert.deepEqual(tls.authentication, ['scram-sha-256', 'scram-sha-512', 'plain', 'mtls']);
    assert.deepEqual(tls.tls, { ...files('kafka-tls'), clientAuth: 'optional', minVersion: 'TLSv1.2' });
    assert.equal(config.http.enabled, true);
    assert.equal(config.http.port, 8080);
    assert.deepEqual(config.http.authentication, ['bearer']);
    assert.deepEqual(config.http.tls, { certFile: files('http').certFile, keyFile: files('http').keyFile, clientAuth: 'none', minVersion: 'TLSv1.2' });
    assert.equal(config.internal.enabled, false, 'no internal TLS mounted, no internal listener');
    assert.equal(config.brokerId, 2);
  });

  test('its limits, with the CRD defaults for those left out', () => {
    assert.equal(config.limits.maxMessageBytes, 1048576);
    assert.equal(config.limits.maxConnectionsPerIp, 200);
    assert.equal(config.limits.maxConnections, 10_000);
    assert.equal(config.limits.maxRequestBytes, 100 << 20);
  });

  test('its audit sinks: a relative file path lives under the data directory', () => {
    assert.deepEqual(config.audit, { file: join('/data', 'audit.jsonl'), topic: true, syslog: null, logAllowed: false });
  });

  test('passes `bulwark policy check`', () => {
    assert.deepEqual(checkBrokerCluster(example), []);
  });
});

describe('renderBrokerConfig: field by field', () => {
  test('a listener without authentication lets nobody authenticate, as the CRD says (not the config default)', () => {
    const c = cluster({ ...base, listeners: [{ name: 'kafka', protocol: 'kafka', port: 9092 }] });
    const config = brokerConfigSchema.parse(renderBrokerConfig(c, mountsFor(c), pod));
    assert.deepEqual(config.kafka.authentication, []);
    assert.equal(config.http.enabled, false, 'no http listener declared');
    assert.equal(config.limits.maxMessageBytes, 1 << 20, 'the CRD default, not the config file default');
    assert.deepEqual(config.audit, { file: null, topic: false, syslog: null, logAllowed: false });
    assert.deepEqual(config.topics, { autoCreate: false, defaultPartitions: 1 });
  });

  test('the kafka listener named "kafka" is the primary one, wherever it is in the list; the others keep their names', () => {
    const c = cluster({
      ...base,
      listeners: [
        { name: 'external', protocol: 'kafka', port: 9094, allowedCidrs: ['10.0.0.0/8', '2001:db8::/32'] },
        { name: 'web', protocol: 'http', port: 8443, tls: { enabled: true, clientAuth: 'required', minVersion: 'TLSv1.3' }, authentication: ['password', 'mtls'] },
        { name: 'kafka', protocol: 'kafka', port: 9092, authentication: ['anonymous'] },
      ],
      limits: { maxMessageBytes: 4096, maxRequestBytes: 8192, maxConnections: 5, maxConnectionsPerIp: 2 },
      topics: { autoCreate: true, defaultPartitions: 3 },
      audit: { logAllowed: true, sinks: [{ type: 'file', path: '/var/log/bulwark/audit.jsonl' }] },
    });
    const config = brokerConfigSchema.parse(renderBrokerConfig(c, mountsFor(c), { bindHost: '127.0.0.1', ports: { external: 0 } }));
    assert.deepEqual(config.kafka.authentication, ['anonymous']);
    assert.equal(config.kafka.port, 9092);
    assert.deepEqual(config.listeners.map((l) => [l.name, l.port, l.allowedCidrs]), [['external', 0, ['10.0.0.0/8', '2001:db8::/32']]]);
    assert.deepEqual(config.http.authentication, ['password', 'mtls']);
    assert.deepEqual(config.http.tls, { ...files('web'), clientAuth: 'required', minVersion: 'TLSv1.3' });
    assert.deepEqual(config.limits, { ...config.limits, maxMessageBytes: 4096, maxRequestBytes: 8192, maxConnections: 5, maxConnectionsPerIp: 2 });
    assert.deepEqual(config.topics, { autoCreate: true, defaultPartitions: 3 });
    assert.deepEqual(config.audit, { file: '/var/log/bulwark/audit.jsonl', topic: false, syslog: null, logAllowed: true });
  });

  test('with the internal TLS files mounted (the operator’s pods), the internal listener on spec.internalPort', () => {
    const c = cluster({ ...kafkaOnly, internalPort: 9555 });
    const internalTls = { certFile: '/internal/tls.crt', keyFile: '/internal/tls.key', caFile: '/internal/ca.crt' };
    const config = brokerConfigSchema.parse(renderBrokerConfig(c, mountsFor(c, { internalTls }), { bindHost: '0.0.0.0', internalClients: ['bulwark-operator'] }));
    assert.deepEqual(config.internal, { enabled: true, host: '0.0.0.0', port: 9555, tls: { ...internalTls, clientAuth: 'required', minVersion: 'TLSv1.2' }, clients: ['bulwark-operator'] });
    assert.deepEqual(brokerConfigProblems(renderBrokerConfig(c, mountsFor(c, { internalTls }), pod)).ok, true);
  });

  const refused = (spec: unknown, path: RegExp, mounts?: (c: BrokerCluster) => BrokerMounts) => {
    const c = cluster(spec);
    assert.throws(
      () => renderBrokerConfig(c, (mounts ?? mountsFor)(c), pod),
      (e) => isBulwarkError(e, 'BWK_ERR_CONFIG_INVALID') && path.test(e.message) && e.message.includes('BrokerCluster streaming/events'),
    );
    assert.ok(brokerClusterRefusals(c, (mounts ?? mountsFor)(c)).some((r) => path.test(`${r.path}: ${r.message}`)));
  };

  test('fields the broker cannot honour are refused by name, never dropped', () => {
    refused({ ...kafkaOnly, encryption: { enabled: true, keysSecretRef: { name: 'keys' }, activeKeyId: 'k1' } }, /spec\.encryption\.keysSecretRef: no encryption key directory is mounted/);
    refused({ ...base, listeners: [{ name: 'web', protocol: 'http', port: 8080 }] }, /spec\.listeners: the broker serves at least one kafka listener/);
    refused({ ...base, listeners: [...kafkaOnly.listeners, { name: 'a', protocol: 'http', port: 8080 }, { name: 'b', protocol: 'http', port: 8081 }] }, /spec\.listeners\[2\]: the broker serves one http listener/);
    refused({ ...kafkaOnly, audit: { sinks: [{ type: 'topic', topic: 'audit-events' }] } }, /spec\.audit\.sinks\[0\]\.topic: .*__audit only/);
    refused({ ...kafkaOnly, audit: { sinks: [{ type: 'file', path: 'a.jsonl' }, { type: 'file', path: 'b.jsonl' }] } }, /spec\.audit\.sinks\[1\]: the broker writes one audit file/);
    refused({ ...kafkaOnly, listeners: [{ name: 'kafka', protocol: 'kafka', port: 9092, allowedCidrs: ['10.0.0.0/33'] }] }, /spec\.listeners\[0\]\.allowedCidrs\[0\]: 10\.0\.0\.0\/33 is not/);
    refused({ ...base, listeners: [{ name: 'kafka', protocol: 'kafka', port: 9092, tls: { enabled: true } }] }, /spec\.listeners\[0\]\.tls\.enabled: no TLS files are mounted for listener kafka/, () => ({ dataDir: '/d', tls: {} }));
    refused(
      { ...base, listeners: [{ name: 'kafka', protocol: 'kafka', port: 9092, tls: { enabled: true, clientAuth: 'optional' } }] },
      /spec\.listeners\[0\]\.tls\.clientAuth: clientAuth optional needs the CA/,
      () => ({ dataDir: '/d', tls: { kafka: { certFile: '/c', keyFile: '/k' } } }),
    );
  });

  test('the audit topic the renderer allows is the one the broker writes', () => {
    assert.equal(BROKER_AUDIT_TOPIC, AUDIT_TOPIC);
  });
});

describe('one vocabulary', () => {
  test('the CRD and the broker configuration take the same words for TLS versions and mechanisms', () => {
    const listenerTls = brokerConfigSchema.shape.kafka.unwrap().shape.tls.unwrap().shape;
    assert.deepEqual(listenerTls.minVersion.unwrap().options, [...TLS_VERSIONS]);
    assert.deepEqual(brokerConfigSchema.shape.kafka.unwrap().shape.authentication.unwrap().element.options, [...KAFKA_MECHANISMS]);
    assert.deepEqual(brokerConfigSchema.shape.http.unwrap().shape.authentication.unwrap().element.options, [...HTTP_MECHANISMS]);
    // What a CR may say is what the config may say: TLSv1.2, not 1.2; password on HTTP, not plain.
    assert.equal(parseResource({ apiVersion: 'bulwark.dev/v1alpha1', kind: 'BrokerCluster', metadata: { name: 'c' }, spec: { ...base, listeners: [{ name: 'k', protocol: 'kafka', port: 9092, tls: { enabled: true, minVersion: '1.2' } }] } }).ok, false);
    const plainOnHttp = parseResource({ apiVersion: 'bulwark.dev/v1alpha1', kind: 'BrokerCluster', metadata: { name: 'c' }, spec: { ...base, listeners: [{ name: 'h', protocol: 'http', port: 8080, tls: { enabled: true }, authentication: ['plain'] }] } });
    assert.ok(!plainOnHttp.ok && plainOnHttp.errors.some((e) => e.path === 'spec.listeners[0].authentication' && /http listener accepts only password, bearer, mtls, anonymous/.test(e.message)));
    const passwordWithoutTls = parseResource({ apiVersion: 'bulwark.dev/v1alpha1', kind: 'BrokerCluster', metadata: { name: 'c' }, spec: { ...base, listeners: [{ name: 'h', protocol: 'http', port: 8080, authentication: ['password'] }] } });
    assert.ok(!passwordWithoutTls.ok && passwordWithoutTls.errors.some((e) => /require tls\.enabled/.test(e.message)));
    // A bearer token is as replayable as a password: the CRD refuses it without TLS too, as the broker config does.
    const bearerWithoutTls = parseResource({ apiVersion: 'bulwark.dev/v1alpha1', kind: 'BrokerCluster', metadata: { name: 'c' }, spec: { ...base, listeners: [{ name: 'h', protocol: 'http', port: 8080, authentication: ['bearer'] }] } });
    assert.ok(!bearerWithoutTls.ok && bearerWithoutTls.errors.some((e) => e.path === 'spec.listeners[0].authentication' && /bearer .*require tls\.enabled/.test(e.message)), JSON.stringify(bearerWithoutTls));
  });
});

describe('allowedCidrs are checked at start-up (review §1.8)', () => {
  test('10.0.0.0/33 in a broker config is refused, naming the key', () => {
    assert.throws(
      () => loadBrokerConfig({ overrides: { kafka: { allowedCidrs: ['10.0.0.0/8', '10.0.0.0/33'] } } }),
      (e) => isBulwarkError(e, 'BWK_ERR_CONFIG_INVALID') && /kafka\.allowedCidrs\.1: not an IP address or CIDR block/.test(e.message),
    );
    assert.deepEqual(loadBrokerConfig({ overrides: { http: { allowedCidrs: ['::1', '127.0.0.0/8'] } } }).http.allowedCidrs, ['::1', '127.0.0.0/8']);
  });

  test('HostAccess compiles listener lists when it is built, and names the listener of a bad one', () => {
    assert.throws(() => new HostAccess([{ name: 'kafka-tls', allowedCidrs: ['10.0.0.0/33'] }]), (e) => isBulwarkError(e, 'BWK_ERR_CONFIG_INVALID') && /listener kafka-tls: allowedCidrs/.test(e.message));
    const list = ['10.0.0.0/8'];
    const hosts = new HostAccess([{ name: 'kafka', allowedCidrs: list }]);
    assert.deepEqual(hosts.admitListener(list, '10.1.2.3'), { ok: true });
    assert.equal(hosts.admitListener(list, '192.168.0.1').ok, false);
  });
});

describe('loadBrokerConfig over a BrokerCluster (local mode)', () => {
  const c = cluster({ ...kafkaOnly, limits: { maxMessageBytes: 2048 }, audit: { sinks: [{ type: 'file', path: 'audit.jsonl' }] } });
  const source = clusterConfigSource(c, { tls: {} }, { bindHost: '127.0.0.1' });
  const configFile = (text: string) => {
    const dir = mkdtempSync(join(tmpdir(), 'bulwark-render-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'broker.yaml'), text);
    return join(dir, 'broker.yaml');
  };

  test('the BrokerCluster is the bottom layer; the data directory of the other layers anchors relative audit paths', () => {
    const config = loadBrokerConfig({ cluster: source, overrides: { dataDir: '/srv/bulwark', kafka: { port: 0 } } });
    assert.equal(config.limits.maxMessageBytes, 2048);
    assert.equal(config.audit.file, join('/srv/bulwark', 'audit.jsonl'));
    assert.equal(config.kafka.port, 0, 'where a listener binds may be overridden');
    assert.deepEqual(config.kafka.authentication, ['scram-sha-256']);
  });

  test('spec.encryption renders to encryption with the mounted key directory and the active key id; left out or off, none', () => {
    const on = cluster({ ...kafkaOnly, encryption: { enabled: true, keysSecretRef: { name: 'keys' }, activeKeyId: 'k2' } });
    assert.deepEqual(brokerConfigSchema.parse(renderBrokerConfig(on, mountsFor(on, { encryptionKeysDir: '/etc/keys' }), pod)).encryption, { keyDir: '/etc/keys', activeKeyId: 'k2' });
    const off = cluster({ ...kafkaOnly, encryption: { enabled: false } });
    assert.equal(brokerConfigSchema.parse(renderBrokerConfig(off, mountsFor(off, { encryptionKeysDir: '/etc/keys' }), pod)).encryption, undefined);
    assert.equal(brokerConfigSchema.parse(renderBrokerConfig(cluster(kafkaOnly), mountsFor(cluster(kafkaOnly)), pod)).encryption, undefined);
    // The BrokerCluster owns encryption: a file, variable or flag cannot turn it on, off or point it elsewhere.
    assert.throws(
      () => loadBrokerConfig({ env: { BULWARK_ENCRYPTION_ACTIVE_KEY_ID: 'k9' }, cluster: clusterConfigSource(on, { tls: {}, encryptionKeysDir: '/etc/keys' }, { bindHost: '127.0.0.1' }) }),
      (e) => isBulwarkError(e, 'BWK_ERR_CONFIG_INVALID') && /encryption\.activeKeyId is set by BrokerCluster streaming\/events \(spec\.encryption\)/.test(e.message),
    );
  });

  test('spec.authentication.oauthBearer renders to auth.oauthBearer, with the defaults the CRD documents and the mounted CA; the BrokerCluster owns it', () => {
    const listeners = [{ name: 'kafka', protocol: 'kafka', port: 9093, tls: { enabled: true }, authentication: ['oauthbearer', 'scram-sha-512'] }];
    const oauth = { issuer: 'https://idp.example.com/realms/apps', audience: 'bulwark-kafka', jwksUrl: 'https://idp.example.com/realms/apps/certs' };
    const plain = cluster({ ...base, listeners, authentication: { oauthBearer: oauth } });
    const rendered = brokerConfigSchema.parse(renderBrokerConfig(plain, mountsFor(plain), pod));
    assert.deepEqual(rendered.kafka.authentication, ['oauthbearer', 'scram-sha-512']);
    assert.deepEqual(rendered.auth.oauthBearer, { ...oauth, usernameClaim: 'sub', algorithms: ['RS256', 'ES256'], clockToleranceSeconds: 30 });
    const withCa = cluster({ ...base, listeners, authentication: { oauthBearer: { ...oauth, usernameClaim: 'preferred_username', algorithms: ['ES384'], caRef: { configMapName: 'idp-ca', key: 'ca.pem' } } } });
    assert.deepEqual(brokerConfigSchema.parse(renderBrokerConfig(withCa, mountsFor(withCa, { oauthBearerCaFile: '/etc/idp/ca.crt' }), pod)).auth.oauthBearer, {
      ...oauth,
      usernameClaim: 'preferred_username',
      algorithms: ['ES384'],
      clockToleranceSeconds: 30,
      caFile: '/etc/idp/ca.crt',
    });
    assert.deepEqual(brokerClusterRefusals(withCa, mountsFor(withCa)), [{ path: 'spec.authentication.oauthBearer.caRef', message: 'no CA file is mounted for it' }]);
    assert.equal(brokerConfigSchema.parse(renderBrokerConfig(cluster(kafkaOnly), mountsFor(cluster(kafkaOnly)), pod)).auth.oauthBearer, undefined);
    assert.throws(
      () => loadBrokerConfig({ overrides: { auth: { oauthBearer: { ...oauth, issuer: 'https://elsewhere.example.com' } } }, cluster: clusterConfigSource(plain, { tls: { kafka: files('kafka') } }, { bindHost: '127.0.0.1' }) }),
      (e) => isBulwarkError(e, 'BWK_ERR_CONFIG_INVALID') && /auth\.oauthBearer\.issuer is set by BrokerCluster streaming\/events \(spec\.authentication\.oauthBearer\)/.test(e.message),
    );
    // What the CRD refuses: oauthbearer without TLS, or without spec.authentication.oauthBearer; a JWKS over http; HS256; a CA from both kinds of object.
    const errors = (spec: unknown) => {
      const r = parseResource({ apiVersion: 'bulwark.dev/v1alpha1', kind: 'BrokerCluster', metadata: { name: 'c' }, spec });
      return r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`);
    };
    assert.ok(errors({ ...base, listeners: [{ name: 'kafka', protocol: 'kafka', port: 9093, authentication: ['oauthbearer'] }], authentication: { oauthBearer: oauth } }).some((e) => /^spec\.listeners\[0\]\.authentication: .*oauthbearer .*require tls\.enabled/.test(e)));
    assert.ok(errors({ ...base, listeners }).some((e) => /^spec\.listeners: a listener lists oauthbearer: set spec\.authentication\.oauthBearer/.test(e)));
    assert.ok(errors({ ...base, listeners, authentication: { oauthBearer: { ...oauth, jwksUrl: 'http://idp.example.com/certs' } } }).some((e) => e.startsWith('spec.authentication.oauthBearer.jwksUrl')));
    assert.ok(errors({ ...base, listeners, authentication: { oauthBearer: { ...oauth, algorithms: ['HS256'] } } }).some((e) => e.startsWith('spec.authentication.oauthBearer.algorithms')));
    assert.ok(errors({ ...base, listeners, authentication: { oauthBearer: { ...oauth, caRef: { secretName: 'a', configMapName: 'b', key: 'ca.crt' } } } }).some((e) => /caRef: set exactly one of secretName or configMapName/.test(e)));
    assert.deepEqual(errors({ ...base, listeners, authentication: { oauthBearer: oauth } }), []);
  });

  test('keys the BrokerCluster owns cannot be set by a file, a variable or a flag', () => {
    const owned = (sources: Parameters<typeof loadBrokerConfig>[0], key: RegExp) =>
      assert.throws(() => loadBrokerConfig({ ...sources, cluster: source }), (e) => isBulwarkError(e, 'BWK_ERR_CONFIG_INVALID') && key.test(e.message));
    owned({ file: configFile('kafka:\n  authentication: [anonymous]\n') }, /kafka\.authentication is set by BrokerCluster streaming\/events \(spec\.listeners\)/);
    owned({ env: { BULWARK_LIMITS_MAX_MESSAGE_BYTES: '9999999' } }, /limits\.maxMessageBytes is set by BrokerCluster streaming\/events \(spec\.limits\.maxMessageBytes\).*BULWARK_LIMITS_MAX_MESSAGE_BYTES/);
    owned({ overrides: { topics: { autoCreate: true } } }, /topics\.autoCreate is set by BrokerCluster/);
    // Keys it does not own still come from the file.
    assert.equal(loadBrokerConfig({ file: configFile('log:\n  segmentBytes: 4096\nlimits:\n  maxFetchWaitMs: 10\n'), cluster: source }).log.segmentBytes, 4096);
  });
});

// --- The property: whatever the CRD accepts renders to a configuration the broker accepts -------

const NAMES = ['kafka', 'kafka-tls', 'http', 'web', 'external', 'plaintext', 'a1', 'internal'];
const CIDRS = ['10.0.0.0/8', '127.0.0.1', '192.168.1.0/24', '::1', '2001:db8::/32', '0.0.0.0/0'];

const tlsArb = fc.record(
  { enabled: fc.boolean(), clientAuth: fc.constantFrom('none', 'optional', 'required'), minVersion: fc.constantFrom(...TLS_VERSIONS) },
  { requiredKeys: ['enabled'] },
);

const listenerArb = (name: string, port: number) =>
  fc.constantFrom('kafka', 'http').chain((protocol) =>
    fc.record(
      {
        name: fc.constant(name),
        protocol: fc.constant(protocol),
        port: fc.constant(port),
        tls: tlsArb,
        authentication: fc.subarray<string>(protocol === 'kafka' ? [...KAFKA_MECHANISMS] : [...HTTP_MECHANISMS]),
        allowedCidrs: fc.subarray(CIDRS),
      },
      { requiredKeys: ['name', 'protocol', 'port'] },
    ),
  );

/** A listener made to satisfy the CRD's cross-field rules (TLS for passwords and tokens, client auth for mtls), as a user would write it. */
function coherent(l: Record<string, unknown>): Record<string, unknown> {
  const auth = (l.authentication as string[] | undefined) ?? [];
  let tls = l.tls as { enabled: boolean; clientAuth?: string; minVersion?: string } | undefined;
  if (auth.includes('plain') || auth.includes('password') || auth.includes('bearer') || auth.includes('oauthbearer') || auth.includes('mtls')) tls = { ...tls, enabled: true };
  if (auth.includes('mtls') && (!tls?.clientAuth || tls.clientAuth === 'none')) tls = { ...tls!, clientAuth: 'optional' };
  if (tls && !tls.enabled && tls.clientAuth && tls.clientAuth !== 'none') tls = { enabled: false };
  return tls ? { ...l, tls } : l;
}

const listenersArb = fc
  .uniqueArray(fc.constantFrom(...NAMES), { minLength: 1, maxLength: 4 })
  .chain((names) => fc.tuple(...names.map((n, i) => listenerArb(n, 9092 + i))))
  .map((ls) => ls.map(coherent));

const limitsArb = fc.record(
  {
    maxMessageBytes: fc.integer({ min: 1024, max: 1073741824 }),
    maxRequestBytes: fc.integer({ min: 1024, max: 1073741824 }),
    maxConnections: fc.integer({ min: 1, max: 1000000 }),
    maxConnectionsPerIp: fc.integer({ min: 1, max: 1000000 }),
    users: fc.record({ maxConnections: fc.integer({ min: 1, max: 100 }) }),
  },
  { requiredKeys: [] },
);

const sinkArb = fc.oneof(
  fc.record({ type: fc.constant('file'), path: fc.constantFrom('audit.jsonl', '/var/log/audit.jsonl', 'a/b.jsonl') }),
  fc.record({ type: fc.constant('topic'), topic: fc.constantFrom('__audit', 'audit-events') }),
);

const specArb = fc.record(
  {
    replicas: fc.integer({ min: 1, max: 64 }),
    storage: fc.record({ size: fc.constantFrom('1Gi', '500Mi', '10G') }),
    listeners: listenersArb,
    internalPort: fc.integer({ min: 20000, max: 20010 }),
    tls: fc.record({ duration: fc.constantFrom('2160h', '24h'), renewBefore: fc.constantFrom('1h', '12h') }, { requiredKeys: [] }),
    authentication: fc.record(
      {
        allowAnonymous: fc.boolean(),
        scramIterations: fc.integer({ min: 4096, max: 65536 }),
        maxTokensPerUser: fc.integer({ min: 0, max: 10000 }),
        oauthBearer: fc.record(
          { issuer: fc.constant('https://idp.example.com'), audience: fc.constant('kafka'), jwksUrl: fc.constant('https://idp.example.com/jwks'), usernameClaim: fc.constantFrom('sub', 'preferred_username'), caRef: fc.constant({ secretName: 'idp-ca', key: 'ca.crt' }) },
          { requiredKeys: ['issuer', 'audience', 'jwksUrl'] },
        ),
      },
      { requiredKeys: [] },
    ),
    authorization: fc.record({ superUsers: fc.uniqueArray(fc.constantFrom('admin', 'root', 'ops'), { maxLength: 3 }) }, { requiredKeys: [] }),
    limits: limitsArb,
    encryption: fc.oneof(fc.constant({ enabled: false }), fc.constant({ enabled: true, keysSecretRef: { name: 'keys' }, activeKeyId: 'k1' })),
    audit: fc.record({ logAllowed: fc.boolean(), sinks: fc.array(sinkArb, { maxLength: 3 }) }, { requiredKeys: [] }),
    topics: fc.record({ autoCreate: fc.boolean(), defaultPartitions: fc.integer({ min: 1, max: 10000 }) }, { requiredKeys: [] }),
  },
  { requiredKeys: ['replicas', 'storage', 'listeners'] },
).map((spec) => {
  // As a user would write it: a listener that lists oauthbearer comes with spec.authentication.oauthBearer (the CRD's rule).
  const listsOAuth = spec.listeners.some((l) => ((l as { authentication?: string[] }).authentication ?? []).includes('oauthbearer'));
  if (!listsOAuth || spec.authentication?.oauthBearer) return spec;
  return { ...spec, authentication: { ...spec.authentication, oauthBearer: { issuer: 'https://idp.example.com', audience: 'kafka', jwksUrl: 'https://idp.example.com/jwks' } } };
});

/** The refusals the renderer documents, predicted from the spec alone. */
function expectedRefusals(spec: BrokerCluster['spec'], keysMounted: boolean): string[] {
  const out: string[] = [];
  if (!spec.listeners.some((l) => l.protocol === 'kafka')) out.push('spec.listeners');
  spec.listeners.forEach((l, i) => {
    if (l.protocol === 'http' && spec.listeners.slice(0, i).some((m) => m.protocol === 'http')) out.push(`spec.listeners[${i}]`);
  });
  const sinks = spec.audit?.sinks ?? [];
  sinks.forEach((s, i) => {
    if (s.type === 'file' && sinks.slice(0, i).some((t) => t.type === 'file')) out.push(`spec.audit.sinks[${i}]`);
    if (s.type === 'topic' && s.topic !== '__audit') out.push(`spec.audit.sinks[${i}].topic`);
  });
  if (spec.encryption?.enabled && !keysMounted) out.push('spec.encryption.keysSecretRef');
  if (spec.authentication?.oauthBearer?.caRef && !keysMounted) out.push('spec.authentication.oauthBearer.caRef');
  return out.sort();
}

describe('property: every BrokerCluster the CRD accepts renders to a configuration the broker accepts', () => {
  test('or is refused for exactly the documented reasons, by field', () => {
    let rendered = 0;
    fc.assert(
      fc.property(specArb, fc.boolean(), fc.option(fc.integer({ min: 0, max: 1000 }), { nil: undefined }), fc.boolean(), (spec, internal, brokerId, keysMounted) => {
        const parsed = parseResource({ apiVersion: 'bulwark.dev/v1alpha1', kind: 'BrokerCluster', metadata: { name: 'p', namespace: 'ns' }, spec });
        fc.pre(parsed.ok);
        const c = (parsed as { value: BrokerCluster }).value;
        const internalTls = internal ? { internalTls: { certFile: '/i/tls.crt', keyFile: '/i/tls.key', caFile: '/i/ca.crt' } } : {};
        const mounts = mountsFor(c, { ...internalTls, ...(keysMounted ? { encryptionKeysDir: '/keys', oauthBearerCaFile: '/oauth/ca.crt' } : {}) });
        const identity = { bindHost: '0.0.0.0', ...(brokerId !== undefined ? { brokerId } : {}) };
        const expected = expectedRefusals(c.spec, keysMounted);
        assert.deepEqual(brokerClusterRefusals(c, mounts).map((r) => r.path).sort(), expected);
        if (expected.length > 0) {
          assert.throws(() => renderBrokerConfig(c, mounts, identity), (e) => isBulwarkError(e, 'BWK_ERR_CONFIG_INVALID'));
          return;
        }
        const checked = brokerConfigProblems(renderBrokerConfig(c, mounts, identity));
        assert.ok(checked.ok, `refused: ${checked.ok ? '' : checked.problems.join('; ')}\n${JSON.stringify(c.spec)}`);
        assert.deepEqual(checkBrokerCluster(c), []);
        assert.deepEqual(checked.config.encryption, c.spec.encryption?.enabled ? { keyDir: '/keys', activeKeyId: c.spec.encryption.activeKeyId } : undefined);
        assert.equal(checked.config.auth.oauthBearer?.issuer, c.spec.authentication?.oauthBearer?.issuer);
        rendered++;
        // Each listener is served once, with its own port and mechanisms.
        const served = [{ name: 'kafka', ...checked.config.kafka }, ...checked.config.listeners].map((l) => l.port).concat(checked.config.http.enabled ? [checked.config.http.port] : []);
        assert.deepEqual(served.sort(), c.spec.listeners.map((l) => l.port).sort());
      }),
      { numRuns: 300 },
    );
    assert.ok(rendered > 50, `only ${rendered} generated clusters rendered: the arbitraries are too narrow`);
  });
});
