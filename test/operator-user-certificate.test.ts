// Client certificates of tls Users (src/operator/user/client-certificate.ts): the names the
// cluster's certificatePrincipal mapping asks for, when the built-in CA keeps or re-issues a
// certificate (injected clock), the cert-manager Certificate, and, with a real broker and kcat,
// that an issued certificate logs in as its user and gets exactly that user's grants.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import type { ICertificate } from '@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate';
import type { BrokerCluster, User } from '../src/api/index.ts';
import { certificateIdentity } from '../src/auth/certificate-identity.ts';
import { type SecretObject, NEXT_CA_ANNOTATION, PREVIOUS_CA_ANNOTATION } from '../src/operator/certificates/index.ts';
import {
  planUserCertificate,
  type UserCertificatePlan,
  UserCertificateReason,
  userCertificateSecretName,
  userCertificateSubject,
  UserCertificateWaitReason,
  userCertManagerCertificate,
} from '../src/operator/user/client-certificate.ts';
import { createCa, issueCertificate, type PemPair } from '../src/pki/index.ts';
import { compileSettings } from '../src/policy/index.ts';
import { startTestBroker, type SecureTestBroker } from './harness/broker.ts';
import { kcat, kcatMtls } from './harness/clients.ts';
import { CLUSTER as POLICY_CLUSTER, NAMESPACE as POLICY_NAMESPACE, topicGrantYaml, userYaml } from './harness/policy.ts';
import { certManagerSkip, eventually, getJson, useCertManagerControlPlane } from './harness/certmanager.ts';
import { resource } from './harness/resources.ts';
import { useTempDirs } from './harness/temp.ts';

const HOUR = 3_600_000;
/** The injected clock's start: a fixed instant, so every time below is exact. */
const T0 = Date.parse('2031-03-01T00:00:00Z');
const b64 = (s: string) => Buffer.from(s).toString('base64');
type Principal = NonNullable<NonNullable<BrokerCluster['spec']['authentication']>['certificatePrincipal']>;

function cluster(opts: { principal?: Principal; tls?: BrokerCluster['spec']['tls']; name?: string; namespace?: string } = {}): BrokerCluster {
  return resource(
    'BrokerCluster',
    opts.name ?? 'events',
    {
      replicas: 1,
      storage: { size: '1Gi' },
      listeners: [{ name: 'kafka', protocol: 'kafka', port: 9093, tls: { enabled: true, clientAuth: 'optional' }, authentication: ['mtls', 'scram-sha-512'] }],
      tls: opts.tls ?? { duration: '24h' },
      ...(opts.principal ? { authentication: { certificatePrincipal: opts.principal } } : {}),
    },
    opts.namespace ?? 'streaming',
  ) as BrokerCluster;
}

function user(name: string, opts: { username?: string; certificateSubject?: string; namespace?: string; clusterName?: string } = {}): User {
  return resource(
    'User',
    name,
    {
      clusterRef: { name: opts.clusterName ?? 'events' },
      ...(opts.username ? { username: opts.username } : {}),
      authentication: { type: 'tls', ...(opts.certificateSubject !== undefined ? { certificateSubject: opts.certificateSubject } : {}) },
    },
    opts.namespace ?? 'streaming',
  ) as User;
}

/** The CA Secret the BrokerCluster reconciler writes (builtin.ts): current CA, and optionally next or previous. */
function caSecret(current: PemPair, extra: { next?: PemPair; introducedAt?: number; previous?: PemPair; promotedAt?: number } = {}): SecretObject {
  const annotations: Record<string, string> = {};
  const data: Record<string, string> = { 'tls.crt': b64(current.certPem), 'tls.key': b64(current.keyPem) };
  if (extra.next) {
    data['next.crt'] = b64(extra.next.certPem);
    data['next.key'] = b64(extra.next.keyPem);
    annotations[NEXT_CA_ANNOTATION] = new Date(extra.introducedAt ?? T0).toISOString();
  }
  if (extra.previous) {
    data['previous.crt'] = b64(extra.previous.certPem);
    annotations[PREVIOUS_CA_ANNOTATION] = new Date(extra.promotedAt ?? T0).toISOString();
  }
  data['ca.crt'] = b64(current.certPem + (extra.next?.certPem ?? '') + (extra.previous?.certPem ?? ''));
  return { apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: 'events-ca', namespace: 'streaming', annotations }, data };
}

function issued(plan: UserCertificatePlan): Extract<UserCertificatePlan, { action: 'issue' | 'reuse' }> {
  assert.ok(plan.action === 'issue' || plan.action === 'reuse', `expected a certificate, got ${JSON.stringify(plan)}`);
  return plan;
}

/** What the broker reads from the certificate with the cluster's settings (the same compile the brokers get). */
const brokerReads = (certPem: string, c: BrokerCluster) => certificateIdentity(new X509Certificate(certPem).raw, compileSettings(c).certificatePrincipal);

describe('userCertificateSubject: the names the cluster reads as the user', () => {
  const valid: [string, BrokerCluster, User, { identity: string; commonName: string; dnsNames: string[]; uris: string[] }][] = [
    ['no mapping: the CN is the username (metadata.name)', cluster(), user('dave'), { identity: 'dave', commonName: 'dave', dnsNames: [], uris: [] }],
    ['spec.username is the username', cluster(), user('dave', { username: 'dave@corp' }), { identity: 'dave@corp', commonName: 'dave@corp', dnsNames: [], uris: [] }],
    ['certificateSubject overrides the username', cluster(), user('dave', { certificateSubject: 'dave.clients.example' }), { identity: 'dave.clients.example', commonName: 'dave.clients.example', dnsNames: [], uris: [] }],
    ['commonName with a prefix: the CN carries prefix + identity', cluster({ principal: { source: 'commonName', prefix: 'kafka:' } }), user('dave'), { identity: 'dave', commonName: 'kafka:dave', dnsNames: [], uris: [] }],
    ['sanDns: one DNS name; the CN is the username', cluster({ principal: { source: 'sanDns' } }), user('dave', { certificateSubject: 'dave.clients.example' }), { identity: 'dave.clients.example', commonName: 'dave', dnsNames: ['dave.clients.example'], uris: [] }],
    ['sanDns with a prefix', cluster({ principal: { source: 'sanDns', prefix: 'kafka-' } }), user('dave', { certificateSubject: 'dave.clients.example' }), { identity: 'dave.clients.example', commonName: 'dave', dnsNames: ['kafka-dave.clients.example'], uris: [] }],
    ['sanUri with a SPIFFE prefix', cluster({ principal: { source: 'sanUri', prefix: 'spiffe://bulwark.test/ns/apps/sa/' } }), user('dave'), { identity: 'dave', commonName: 'dave', dnsNames: [], uris: ['spiffe://bulwark.test/ns/apps/sa/dave'] }],
    ['sanUri without a prefix: the identity is the whole URI', cluster({ principal: { source: 'sanUri' } }), user('dave', { certificateSubject: 'urn:example:dave' }), { identity: 'urn:example:dave', commonName: 'dave', dnsNames: [], uris: ['urn:example:dave'] }],
    ['a username longer than a CN holds, in a SAN mode: the CN is cut to 64', cluster({ principal: { source: 'sanUri', prefix: 'spiffe://t/' } }), user('d'.repeat(80)), { identity: 'd'.repeat(80), commonName: 'd'.repeat(64), dnsNames: [], uris: [`spiffe://t/${'d'.repeat(80)}`] }],
  ];
  for (const [name, c, u, want] of valid) {
    test(name, async () => {
      const r = userCertificateSubject(c, u);
      assert.ok(r.ok, JSON.stringify(r));
      const { identity, commonName, dnsNames, uris } = r.subject;
      assert.deepEqual({ identity, commonName, dnsNames, uris }, want);
      // And a certificate issued for it is read by the broker's own mapping as exactly the identity.
      const ca = await createCa({ commonName: 'subject test CA', validMs: 240 * HOUR, now: new Date(T0) });
      const plan = issued(await planUserCertificate({ cluster: c, user: u, caSecret: caSecret(ca), now: T0 }));
      assert.equal(brokerReads(plan.certPem, c), want.identity);
    });
  }

  const invalid: [string, BrokerCluster, User, { reason: UserCertificateReason; field: string; path: string; mentions: RegExp }][] = [
    [
      'commonName: prefix + identity longer than 64',
      cluster({ principal: { source: 'commonName', prefix: 'kafka:' } }),
      user('dave', { certificateSubject: 'x'.repeat(60) }),
      { reason: UserCertificateReason.CertificateSubjectTooLong, field: 'commonName', path: 'spec.authentication.certificateSubject', mentions: /66 characters; a common name holds at most 64/ },
    ],
    [
      'commonName: a username of 65 characters',
      cluster(),
      user('dave', { username: 'u'.repeat(65) }),
      { reason: UserCertificateReason.CertificateSubjectTooLong, field: 'commonName', path: 'spec.username', mentions: /common name/ },
    ],
    [
      'commonName: control characters (C1 included, which the broker refuses)',
      cluster(),
      user('dave', { certificateSubject: 'dave\u0085' }),
      { reason: UserCertificateReason.CertificateSubjectNotPrintable, field: 'commonName', path: 'spec.authentication.certificateSubject', mentions: /control characters/ },
    ],
    [
      'sanDns: a username with @ is not a DNS name',
      cluster({ principal: { source: 'sanDns' } }),
      user('dave', { username: 'dave@corp' }),
      { reason: UserCertificateReason.CertificateSubjectNotDnsName, field: 'sanDns', path: 'spec.username', mentions: /SAN DNS name.*"dave@corp", is not a DNS name/ },
    ],
    [
      'sanDns: a wildcard names no one',
      cluster({ principal: { source: 'sanDns' } }),
      user('dave', { certificateSubject: '*.clients.example' }),
      { reason: UserCertificateReason.CertificateSubjectNotDnsName, field: 'sanDns', path: 'spec.authentication.certificateSubject', mentions: /not a DNS name/ },
    ],
    [
      'sanDns: a label longer than 63',
      cluster({ principal: { source: 'sanDns' } }),
      user('dave', { certificateSubject: `${'a'.repeat(64)}.example` }),
      { reason: UserCertificateReason.CertificateSubjectNotDnsName, field: 'sanDns', path: 'spec.authentication.certificateSubject', mentions: /not a DNS name/ },
    ],
    [
      'sanUri: an identity that is not a URI, and no prefix to make it one',
      cluster({ principal: { source: 'sanUri' } }),
      user('dave'),
      { reason: UserCertificateReason.CertificateSubjectNotUri, field: 'sanUri', path: 'metadata.name', mentions: /"dave", is not an absolute URI/ },
    ],
    [
      'sanUri: non-ASCII (a SAN URI is an IA5String)',
      cluster({ principal: { source: 'sanUri', prefix: 'spiffe://bulwark.test/' } }),
      user('dave', { certificateSubject: 'dävé' }),
      { reason: UserCertificateReason.CertificateSubjectNotUri, field: 'sanUri', path: 'spec.authentication.certificateSubject', mentions: /after the prefix "spiffe:\/\/bulwark.test\/"/ },
    ],
  ];
  for (const [name, c, u, want] of invalid) {
    test(`refused, naming the field: ${name}`, async () => {
      const r = userCertificateSubject(c, u);
      assert.ok(!r.ok);
      assert.deepEqual([r.reason, r.field, r.path], [want.reason, want.field, want.path]);
      assert.match(r.message, want.mentions);
      // The plan stalls with the same reason instead of issuing anything.
      const ca = await createCa({ commonName: 'subject test CA', validMs: 240 * HOUR, now: new Date(T0) });
      const plan = await planUserCertificate({ cluster: c, user: u, caSecret: caSecret(ca), now: T0 });
      assert.deepEqual(plan, { action: 'stalled', reason: r.reason, field: r.field, path: r.path, message: r.message });
    });
  }
});

describe('planUserCertificate: keep or re-issue, with an injected clock', () => {
  // duration 24h: renewBefore 8h (a third), the CA lives 240h.
  const c = cluster({ tls: { duration: '24h' } });
  const dave = user('dave');
  let ca: PemPair;
  let first: Extract<UserCertificatePlan, { action: 'issue' | 'reuse' }>;
  const plan = (now: number, opts: { secret?: SecretObject | undefined; existing?: PemPair | undefined; cluster?: BrokerCluster; user?: User } = {}) =>
    planUserCertificate({
      cluster: opts.cluster ?? c,
      user: opts.user ?? dave,
      caSecret: 'secret' in opts ? opts.secret : caSecret(ca),
      ...('existing' in opts ? (opts.existing ? { existing: opts.existing } : {}) : { existing: first }),
      now,
    });

  before(async () => {
    ca = await createCa({ commonName: 'events.streaming CA', validMs: 240 * HOUR, now: new Date(T0) });
    first = issued(await plan(T0, { existing: undefined }));
  });

  test('none yet: issued by the current CA, for client auth only, with the cluster\'s lifetime; the client gets the CA bundle', () => {
    assert.equal(first.action, 'issue');
    assert.equal(first.action === 'issue' && first.reason, 'Missing');
    const cert = new X509Certificate(first.certPem);
    const caCert = new X509Certificate(ca.certPem);
    assert.ok(cert.checkIssued(caCert) && cert.verify(caCert.publicKey));
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.2'], 'extKeyUsage clientAuth only');
    assert.equal(cert.ca, false);
    assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1', 'a P-256 key, like the brokers\' leaves');
    assert.equal(first.notAfter, T0 + 24 * HOUR);
    assert.equal(Date.parse(cert.validTo), first.notAfter);
    assert.equal(first.renewAtMs, T0 + 16 * HOUR, 'renewed 8h (a third of 24h) before it expires');
    assert.equal(first.caPem, ca.certPem);
  });

  test('fresh: kept, up to the last millisecond before its renewal time', async () => {
    for (const now of [T0 + 1000, T0 + HOUR, first.renewAtMs - 1]) {
      const p = await plan(now);
      assert.equal(p.action, 'reuse', `at T0+${(now - T0) / HOUR}h`);
      assert.equal(issued(p).certPem, first.certPem);
      assert.equal(issued(p).keyPem, first.keyPem);
      assert.equal(issued(p).renewAtMs, first.renewAtMs);
    }
  });

  test('near expiry: re-issued with a new key at its renewal time, and after', async () => {
    for (const now of [first.renewAtMs, first.notAfter - 1000, first.notAfter + HOUR]) {
      const p = issued(await plan(now));
      assert.deepEqual([p.action, p.action === 'issue' && p.reason], ['issue', 'Expiring']);
      assert.notEqual(p.keyPem, first.keyPem);
      assert.equal(p.notAfter, now + 24 * HOUR);
      assert.equal(p.renewAtMs, now + 16 * HOUR);
    }
  });

  test('the CA changed (another CA in the Secret): re-issued, signed by the new one', async () => {
    const other = await createCa({ commonName: 'another CA', validMs: 240 * HOUR, now: new Date(T0) });
    const p = issued(await plan(T0 + HOUR, { secret: caSecret(other) }));
    assert.deepEqual([p.action, p.action === 'issue' && p.reason], ['issue', 'NotSignedByCurrentCa']);
    assert.ok(new X509Certificate(p.certPem).verify(new X509Certificate(other.certPem).publicKey));
  });

  test('CA rotation: kept while the next CA is only introduced; re-issued by the new CA once it is promoted, with both CAs in the bundle', async () => {
    const next = await createCa({ commonName: 'events.streaming CA 2', validMs: 240 * HOUR, now: new Date(T0) });
    const introduced = await plan(T0 + HOUR, { secret: caSecret(ca, { next, introducedAt: T0 }) });
    assert.equal(introduced.action, 'reuse');
    assert.equal(issued(introduced).caPem, ca.certPem + next.certPem);
    const promoted = issued(await plan(T0 + 2 * HOUR, { secret: caSecret(next, { previous: ca, promotedAt: T0 + 2 * HOUR }) }));
    assert.deepEqual([promoted.action, promoted.action === 'issue' && promoted.reason], ['issue', 'NotSignedByCurrentCa']);
    assert.ok(new X509Certificate(promoted.certPem).verify(new X509Certificate(next.certPem).publicKey));
    assert.equal(promoted.caPem, next.certPem + ca.certPem);
  });

  test('the subject changed: re-issued when the user\'s certificateSubject, the mapping\'s source or its prefix changes', async () => {
    const cases: [string, { cluster?: BrokerCluster; user?: User }, string][] = [
      ['certificateSubject', { user: user('dave', { certificateSubject: 'dave.clients.example' }) }, 'dave.clients.example'],
      ['source', { cluster: cluster({ principal: { source: 'sanDns' } }) }, 'dave'],
      ['prefix', { cluster: cluster({ principal: { source: 'commonName', prefix: 'kafka:' } }) }, 'dave'],
    ];
    for (const [what, change, identity] of cases) {
      const p = issued(await plan(T0 + HOUR, change));
      assert.deepEqual([p.action, p.action === 'issue' && p.reason], ['issue', 'NamesChanged'], what);
      assert.equal(brokerReads(p.certPem, change.cluster ?? c), identity, what);
      // And the new one is kept afterwards.
      assert.equal((await plan(T0 + 2 * HOUR, { ...change, existing: p })).action, 'reuse', what);
    }
  });

  test('an unusable certificate counts as none: unparseable, key not matching, not for client auth', async () => {
    const server = await issueCertificate({ ca, commonName: 'dave', usage: 'server', validMs: 24 * HOUR, now: new Date(T0) });
    const other = issued(await plan(T0, { existing: undefined }));
    for (const [what, existing] of [
      ['garbage', { certPem: 'not a certificate', keyPem: first.keyPem }],
      ['another key', { certPem: first.certPem, keyPem: other.keyPem }],
      ['a server certificate', server],
    ] as const) {
      const p = issued(await plan(T0 + HOUR, { existing }));
      assert.deepEqual([p.action, p.action === 'issue' && p.reason], ['issue', 'Missing'], what);
    }
  });

  test('no usable CA: wait (no Secret, no key, an expired CA)', async () => {
    const noKey: SecretObject = { ...caSecret(ca), data: { 'tls.crt': b64(ca.certPem) } };
    for (const [what, secret, now] of [
      ['no Secret', undefined, T0],
      ['no key', noKey, T0],
      ['expired', caSecret(ca), T0 + 241 * HOUR],
    ] as const) {
      const p = await plan(now, { secret });
      assert.equal(p.action, 'wait', what);
      assert.equal(p.action === 'wait' && p.reason, UserCertificateWaitReason.ClusterCaNotReady, what);
    }
  });

  test('a CA that ends before the cluster\'s duration: the certificate ends with it, and is renewed at two thirds of its life, not at once', async () => {
    const shortCa = await createCa({ commonName: 'short CA', validMs: 48 * HOUR, now: new Date(T0) });
    const long = cluster({ tls: { duration: '2160h' } });
    const p = issued(await planUserCertificate({ cluster: long, user: dave, caSecret: caSecret(shortCa), now: T0 }));
    const caEnd = Date.parse(new X509Certificate(shortCa.certPem).validTo);
    assert.equal(p.notAfter, caEnd);
    const life = p.notAfter - Date.parse(new X509Certificate(p.certPem).validFrom);
    assert.equal(p.renewAtMs, p.notAfter - Math.floor(life / 3));
    assert.ok(p.renewAtMs > T0);
    const again = await planUserCertificate({ cluster: long, user: dave, caSecret: caSecret(shortCa), existing: p, now: T0 + HOUR });
    assert.equal(again.action, 'reuse');
  });
});

describe('userCertManagerCertificate: the Certificate cert-manager signs', () => {
  const issuerRef = { name: 'team-ca', kind: 'ClusterIssuer' as const };
  const owner = { apiVersion: 'bulwark.dev/v1alpha1', kind: 'User', name: 'dave', uid: '5a1d2c3b-0000-4000-8000-000000000001', controller: true, blockOwnerDeletion: true };

  test('commonName mapping: issuer of spec.tls.certManager, client auth, the cluster\'s lifetimes, owned by the User, labelled', () => {
    const c = cluster({ tls: { certManager: { issuerRef }, duration: '720h', renewBefore: '240h' } });
    const r = userCertManagerCertificate(c, user('dave', { certificateSubject: 'dave.clients.example' }), { ownerReferences: [owner], labels: { 'app.kubernetes.io/managed-by': 'bulwark' } });
    assert.ok(r.ok);
    const json = r.certificate.toJSON() as ICertificate;
    assert.deepEqual(json, {
      apiVersion: 'cert-manager.io/v1',
      kind: 'Certificate',
      metadata: { name: 'dave-client-tls', namespace: 'streaming', labels: { 'app.kubernetes.io/managed-by': 'bulwark' }, ownerReferences: [owner] },
      spec: {
        secretName: 'dave-client-tls',
        secretTemplate: { labels: { 'app.kubernetes.io/managed-by': 'bulwark' } },
        issuerRef: { name: 'team-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' },
        commonName: 'dave.clients.example',
        duration: '720h',
        renewBefore: '240h',
        privateKey: { algorithm: 'ECDSA', size: 256, encoding: 'PKCS8', rotationPolicy: 'Always' },
        usages: ['digital signature', 'client auth'],
      },
    });
    assert.equal(userCertificateSecretName(user('dave')), 'dave-client-tls');
  });

  test('SAN mappings: the DNS name or URI carries prefix + identity; defaults: renewBefore a third, no labels', () => {
    const dns = userCertManagerCertificate(cluster({ principal: { source: 'sanDns', prefix: 'kafka-' }, tls: { certManager: { issuerRef } } }), user('dave', { certificateSubject: 'dave.clients.example' }), { ownerReferences: [owner] });
    assert.ok(dns.ok);
    const d = dns.certificate.toJSON() as ICertificate;
    assert.deepEqual([d.spec?.commonName, d.spec?.dnsNames, d.spec?.uris], ['dave', ['kafka-dave.clients.example'], undefined]);
    assert.deepEqual([d.spec?.duration, d.spec?.renewBefore], ['2160h', '720h']);
    assert.equal(d.metadata?.labels, undefined);
    assert.equal(d.spec?.secretTemplate, undefined);

    const uri = userCertManagerCertificate(cluster({ principal: { source: 'sanUri', prefix: 'spiffe://bulwark.test/ns/streaming/sa/' }, tls: { certManager: { issuerRef } } }), user('dave'), { ownerReferences: [owner] });
    assert.ok(uri.ok);
    const u = uri.certificate.toJSON() as ICertificate;
    assert.deepEqual([u.spec?.commonName, u.spec?.dnsNames, u.spec?.uris], ['dave', undefined, ['spiffe://bulwark.test/ns/streaming/sa/dave']]);
  });

  test('an identity that does not fit: the same error value as userCertificateSubject; a cluster without cert-manager: an error', () => {
    const c = cluster({ principal: { source: 'sanDns' }, tls: { certManager: { issuerRef } } });
    const r = userCertManagerCertificate(c, user('dave', { username: 'dave@corp' }), { ownerReferences: [owner] });
    assert.ok(!r.ok);
    assert.equal(r.reason, UserCertificateReason.CertificateSubjectNotDnsName);
    assert.throws(() => userCertManagerCertificate(cluster(), user('dave'), { ownerReferences: [owner] }), /spec\.tls\.certManager\.issuerRef is not set/);
  });
});

describe('with a real broker and kcat: the issued certificate logs in as its user, with exactly its grants', () => {
  const tempDir = useTempDirs('user-cert');
  let b: SecureTestBroker;
  let dir: string;
  let caPem: string;
  // The policy directory's cluster (the names harness/policy.ts uses), as the User objects refer to it.
  const policyCluster = (principal?: Principal) => cluster({ name: POLICY_CLUSTER, namespace: POLICY_NAMESPACE, principal, tls: { duration: '24h' } });
  const clusterYaml = (c: BrokerCluster) => JSON.stringify(c, null, 2) + '\n';
  const dave = user('dave', { certificateSubject: 'dave.clients.example', namespace: POLICY_NAMESPACE, clusterName: POLICY_CLUSTER });
  const erin = user('erin', { namespace: POLICY_NAMESPACE, clusterName: POLICY_CLUSTER });
  /** The shared test PKI's CA (the one the tls listener trusts for client certificates), as the cluster CA Secret. */
  let clusterCa: SecretObject;

  before(async () => {
    await promisify(execFile)('kcat', ['-V']); // fail loudly, not skip, when kcat is missing
    b = await startTestBroker({
      security: {
        policy: {
          'cluster.yaml': written,
          'dave.yaml': userYaml('dave', { type: 'tls', certificateSubject: 'dave.clients.example' }),
          'erin.yaml': userYaml('erin', { type: 'tls' }),
          'dave-orders.yaml': topicGrantYaml('dave-orders', { users: ['dave'], topics: ['orders-*'], actions: ['read', 'write'] }),
          'erin-audit.yaml': topicGrantYaml('erin-audit', { users: ['erin'], topics: ['audit-*'], actions: ['read', 'write'] }),
        },
      },
    });
    for (const topic of ['orders-1', 'audit-1']) b.broker.topics.createTopic(topic, 1);
    clusterCa = caSecret(b.pki.ca);
    caPem = b.pki.ca.certPem;
    dir = tempDir();
  });
  after(() => b?.stop());

  /** Writes a plan's certificate and key as files for kcat. */
  function files(name: string, p: { certPem: string; keyPem: string }) {
    const certFile = join(dir, `${name}.crt`);
    const keyFile = join(dir, `${name}.key`);
    writeFileSync(certFile, p.certPem);
    writeFileSync(keyFile, p.keyPem, { mode: 0o600 });
    return { certFile, keyFile };
  }
  const caFile = () => {
    const f = join(dir, 'ca.crt');
    writeFileSync(f, caPem);
    return f;
  };
  const produce = (cert: { certFile: string; keyFile: string }, topic: string, value: string) =>
    kcat(['-b', b.address('tls'), ...kcatMtls(caFile(), cert), '-P', '-t', topic], { input: `${value}\n` });
  const consume = (cert: { certFile: string; keyFile: string }, topic: string) =>
    kcat(['-b', b.address('tls'), ...kcatMtls(caFile(), cert), '-C', '-t', topic, '-o', 'beginning', '-e', '-f', '%s\\n']);

  let written = clusterYaml(policyCluster());
  /** The cluster with this mapping, in force on the broker (a file that does not change is no reload). */
  async function switchMapping(principal: Principal | undefined): Promise<BrokerCluster> {
    const c = policyCluster(principal);
    if (clusterYaml(c) !== written) {
      const version = b.broker.policy.applied.version;
      b.policy.write('cluster.yaml', (written = clusterYaml(c)));
      await b.policyAfter(version);
    }
    assert.deepEqual(b.broker.policy.snapshot.settings.certificatePrincipal, compileSettings(c).certificatePrincipal);
    return c;
  }

  let previous: { certPem: string; keyPem: string } | undefined;
  const mappings: [string, Principal | undefined][] = [
    ['subject common name (the default)', undefined],
    ['SAN DNS name with a prefix', { source: 'sanDns', prefix: 'kafka-' }],
    ['SAN URI with a SPIFFE prefix', { source: 'sanUri', prefix: 'spiffe://bulwark.test/ns/apps/sa/' }],
  ];
  for (const [name, principal] of mappings) {
    test(`mapping: ${name}`, async () => {
      const c = await switchMapping(principal);
      const now = Date.now();
      const plan = issued(await planUserCertificate({ cluster: c, user: dave, caSecret: clusterCa, ...(previous ? { existing: previous } : {}), now }));
      assert.deepEqual([plan.action, plan.action === 'issue' && plan.reason], ['issue', previous ? 'NamesChanged' : 'Missing']);
      const daveCert = files(`dave-${principal?.source ?? 'default'}`, plan);
      const tag = `${principal?.source ?? 'commonName'}-${now}`;

      // Granted: produce to orders-1 and read it back.
      const ok = await produce(daveCert, 'orders-1', `dave ${tag}`);
      assert.equal(ok.code, 0, ok.stderr);
      const read = await consume(daveCert, 'orders-1');
      assert.equal(read.code, 0, read.stderr);
      assert.ok(read.stdout.split('\n').includes(`dave ${tag}`), read.stdout);
      // Not granted: audit-1 is erin's.
      const refused = await produce(daveCert, 'audit-1', `dave ${tag}`);
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /Topic authorization failed|not authorized/i);
      const logins = (await b.auditEvents()).filter((e) => e.type === 'authentication' && e.outcome === 'success' && e.user === 'dave' && e.mechanism === 'certificate');
      assert.ok(logins.length >= 2, JSON.stringify(logins));

      // The certificate of another user, from the same module and CA: that user's access, not dave's.
      const erinPlan = issued(await planUserCertificate({ cluster: c, user: erin, caSecret: clusterCa, now }));
      assert.equal(brokerReads(erinPlan.certPem, c), 'erin');
      const erinCert = files(`erin-${principal?.source ?? 'default'}`, erinPlan);
      const erinOrders = await produce(erinCert, 'orders-1', `erin ${tag}`);
      assert.notEqual(erinOrders.code, 0, 'erin cannot write dave\'s topic');
      assert.match(erinOrders.stderr, /Topic authorization failed|not authorized/i);
      const erinAudit = await produce(erinCert, 'audit-1', `erin ${tag}`);
      assert.equal(erinAudit.code, 0, erinAudit.stderr);

      // dave's certificate for the previous mapping names no one under this one.
      if (previous) {
        const stale = await produce(files('dave-stale', previous), 'orders-1', `stale ${tag}`);
        assert.notEqual(stale.code, 0, 'a certificate made for another mapping gets no access');
      }
      previous = plan;

      // Kept on the next reconcile: nothing changed.
      assert.equal((await planUserCertificate({ cluster: c, user: dave, caSecret: clusterCa, existing: plan, now: now + 1000 })).action, 'reuse');
    });
  }
});

describe('with the real cert-manager: the Certificate passes its CRD schema, is issued, and kcat logs in with it as the user', { skip: certManagerSkip }, () => {
  const running = useCertManagerControlPlane();
  const tempDir = useTempDirs('user-cert-cm');
  let b: SecureTestBroker;
  const principal: Principal = { source: 'sanUri', prefix: 'spiffe://bulwark.test/ns/apps/sa/' };

  before(async () => {
    b = await startTestBroker({
      security: {
        policy: {
          'cluster.yaml': JSON.stringify(cluster({ name: POLICY_CLUSTER, namespace: POLICY_NAMESPACE, principal })),
          'svc.yaml': userYaml('svc', { type: 'tls' }),
          'svc-payments.yaml': topicGrantYaml('svc-payments', { users: ['svc'], topics: ['payments-*'], actions: ['read', 'write'] }),
        },
      },
    });
    for (const topic of ['payments-1', 'other-1']) b.broker.topics.createTopic(topic, 1);
  });
  after(() => b?.stop());

  test('a CA Issuer over the CA the broker trusts signs the user\'s Certificate; the SAN URI is the user to the broker', async () => {
    const cp = running.cp();
    const cm = running.cm();
    const ns = await cp.createNamespace('user-cert');
    // The Issuer signs with the test PKI's CA, the one the broker's tls listener trusts for client certificates.
    await cp.kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: [
          { apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: 'team-ca-key-pair', namespace: ns }, data: { 'tls.crt': b64(b.pki.ca.certPem), 'tls.key': b64(b.pki.ca.keyPem) } },
          { apiVersion: 'cert-manager.io/v1', kind: 'Issuer', metadata: { name: 'team-ca', namespace: ns }, spec: { ca: { secretName: 'team-ca-key-pair' } } },
        ],
      }),
      check: true,
    });
    const c = cluster({ name: POLICY_CLUSTER, namespace: ns, principal, tls: { certManager: { issuerRef: { name: 'team-ca', kind: 'Issuer' } }, duration: '24h' } });
    const svc = user('svc', { namespace: ns, clusterName: POLICY_CLUSTER });
    const owner = { apiVersion: 'bulwark.dev/v1alpha1', kind: 'User', name: 'svc', uid: '5a1d2c3b-0000-4000-8000-000000000002', controller: true, blockOwnerDeletion: true };
    const built = userCertManagerCertificate(c, svc, { ownerReferences: [owner], labels: { 'app.kubernetes.io/instance': POLICY_CLUSTER } });
    assert.ok(built.ok);
    const r = await cp.kubectl(['apply', '--server-side', '--field-manager=bulwark-operator', '--validate=strict', '-f', '-'], { input: JSON.stringify(built.certificate.toJSON()) });
    assert.equal(r.code, 0, r.stderr);

    type TlsSecret = { metadata: { labels?: Record<string, string> }; data?: Record<string, string> };
    const secret = await eventually(cm, 'Secret svc-client-tls with tls.crt', async () => {
      const s = await getJson<TlsSecret>(cp, `/api/v1/namespaces/${ns}/secrets/svc-client-tls`);
      return s?.data?.['tls.crt'] && s.data['tls.key'] ? s : undefined;
    });
    assert.equal(secret.metadata.labels?.['app.kubernetes.io/instance'], POLICY_CLUSTER);
    const certPem = Buffer.from(secret.data!['tls.crt']!, 'base64').toString('utf8');
    const keyPem = Buffer.from(secret.data!['tls.key']!, 'base64').toString('utf8');
    const x = new X509Certificate(certPem);
    assert.deepEqual(x.keyUsage, ['1.3.6.1.5.5.7.3.2'], 'client auth only');
    assert.equal(brokerReads(certPem, c), 'svc');

    const dir = tempDir();
    const cert = { certFile: join(dir, 'svc.crt'), keyFile: join(dir, 'svc.key') };
    writeFileSync(cert.certFile, certPem);
    writeFileSync(cert.keyFile, keyPem, { mode: 0o600 });
    const ok = await kcat(['-b', b.address('tls'), ...kcatMtls(b.pki.caFile, cert), '-P', '-t', 'payments-1'], { input: 'paid\n' });
    assert.equal(ok.code, 0, ok.stderr);
    const refused = await kcat(['-b', b.address('tls'), ...kcatMtls(b.pki.caFile, cert), '-P', '-t', 'other-1'], { input: 'nope\n' });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /Topic authorization failed|not authorized/i);

    // Both modes put the same names in the certificate: the built-in plan, given the same CA, keeps what cert-manager issued.
    const kept = await planUserCertificate({ cluster: c, user: svc, caSecret: caSecret(b.pki.ca), existing: { certPem, keyPem }, now: Date.now() });
    assert.equal(kept.action, 'reuse');
  });
});
