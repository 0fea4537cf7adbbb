// cert-manager mode, the pure parts: the Certificates the operator asks cert-manager for, and how
// it reads their status. The same objects against the real cert-manager controller and CRDs:
// test/certmanager.test.ts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ICertificate } from '@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate';
import type { BrokerCluster } from '../src/api/index.ts';
import {
  CERT_MANAGER_POLL_MS,
  type CertificateReader,
  certificateReadiness,
  certificatesReadiness,
  certManagerCertificateSource,
  certManagerCertificates,
  goDuration,
  leafCertificates,
  type SecretObject,
} from '../src/operator/certificates/index.ts';
import type { KindRef, KubeObject } from '../src/operator/controller/index.ts';

const identity = { operatorIdentity: 'bulwark-operator', clusterDomain: 'cluster.local' };

function cluster(tls: BrokerCluster['spec']['tls'], replicas = 2): BrokerCluster {
  return {
    apiVersion: 'bulwark.dev/v1alpha1',
    kind: 'BrokerCluster',
    metadata: { name: 'events', namespace: 'streaming', uid: '0f7c3a52-1111-4222-8333-444455556666', generation: 1 },
    spec: {
      replicas,
      storage: { size: '1Gi' },
      listeners: [{ name: 'kafka', protocol: 'kafka', port: 9093, tls: { enabled: true }, authentication: ['scram-sha-512'] }],
      tls,
    },
  } as BrokerCluster;
}

const ca = { certManager: { issuerRef: { name: 'team-ca', kind: 'Issuer' as const } } };

describe('certManagerCertificates', () => {
  test('one Certificate per leaf, filling the Secret the built-in CA would, with the issuer of spec.tls.certManager', () => {
    const c = cluster(ca);
    const leaves = leafCertificates(c, identity);
    const certs = certManagerCertificates(c, leaves).map((x) => x.toJSON() as ICertificate);
    assert.deepEqual(
      certs.map((x) => [x.metadata?.name, x.spec?.secretName]),
      [
        ['events-tls', 'events-tls'],
        ['events-internal-tls', 'events-internal-tls'],
        ['events-operator-tls', 'events-operator-tls'],
      ],
    );
    for (const x of certs) {
      assert.equal(x.apiVersion, 'cert-manager.io/v1');
      assert.equal(x.kind, 'Certificate');
      assert.equal(x.metadata?.namespace, 'streaming');
      assert.deepEqual(x.spec?.issuerRef, { name: 'team-ca', kind: 'Issuer', group: 'cert-manager.io' });
      assert.deepEqual(x.spec?.privateKey, { algorithm: 'ECDSA', size: 256, encoding: 'PKCS8', rotationPolicy: 'Always' });
      assert.deepEqual(x.metadata?.ownerReferences, [
        { apiVersion: 'bulwark.dev/v1alpha1', kind: 'BrokerCluster', name: 'events', uid: '0f7c3a52-1111-4222-8333-444455556666', controller: true, blockOwnerDeletion: true },
      ]);
    }
  });

  test('names, common names and usages are the leaves\' own', () => {
    const c = cluster(ca);
    const leaves = leafCertificates(c, identity);
    const [server, internal, operator] = certManagerCertificates(c, leaves).map((x) => x.toJSON() as ICertificate);
    assert.deepEqual(server!.spec?.dnsNames, leaves[0]!.dnsNames);
    assert.ok(server!.spec?.dnsNames?.includes('events.streaming.svc'));
    assert.ok(server!.spec?.dnsNames?.includes('events-1.events-brokers.streaming.svc.cluster.local'));
    assert.deepEqual(server!.spec?.usages, ['digital signature', 'server auth']);
    assert.deepEqual(internal!.spec?.usages, ['digital signature', 'server auth', 'client auth']);
    assert.equal(operator!.spec?.commonName, 'bulwark-operator');
    assert.equal(operator!.spec?.dnsNames, undefined, 'a client certificate has no DNS names');
    assert.deepEqual(operator!.spec?.usages, ['digital signature', 'client auth']);
  });

  test('duration and renewBefore come from spec.tls; renewBefore defaults to a third of duration, as in built-in mode', () => {
    const given = certManagerCertificates(cluster({ ...ca, duration: '720h', renewBefore: '48h' }), leafCertificates(cluster(ca), identity))[0]!;
    assert.equal(given.spec?.duration, '720h');
    assert.equal(given.spec?.renewBefore, '48h');
    const defaults = certManagerCertificates(cluster(ca), leafCertificates(cluster(ca), identity))[0]!;
    assert.equal(defaults.spec?.duration, '2160h');
    assert.equal(defaults.spec?.renewBefore, '720h');
    const odd = certManagerCertificates(cluster({ ...ca, duration: '1h30m' }), leafCertificates(cluster(ca), identity))[0]!;
    assert.equal(odd.spec?.duration, '1h30m0s');
    assert.equal(odd.spec?.renewBefore, '0h30m0s');
  });

  test('a ClusterIssuer of another group is passed through; labels go on the Certificate and the Secret', () => {
    const c = cluster({ certManager: { issuerRef: { name: 'corp', kind: 'ClusterIssuer', group: 'awspca.cert-manager.io' } } });
    const labels = { 'app.kubernetes.io/instance': 'events' };
    const x = certManagerCertificates(c, leafCertificates(c, identity), { labels })[0]!;
    assert.deepEqual(x.spec?.issuerRef, { name: 'corp', kind: 'ClusterIssuer', group: 'awspca.cert-manager.io' });
    assert.deepEqual(x.metadata?.labels, labels);
    assert.deepEqual(x.spec?.secretTemplate, { labels });
  });

  test('without spec.tls.certManager it refuses, naming the field', () => {
    const c = cluster(undefined);
    assert.throws(() => certManagerCertificates(c, leafCertificates(c, identity)), /spec\.tls\.certManager\.issuerRef/);
  });

  test('goDuration writes what Go\'s time.ParseDuration reads', () => {
    assert.equal(goDuration(2160 * 3_600_000), '2160h');
    assert.equal(goDuration(90 * 60_000), '1h30m0s');
    assert.equal(goDuration(1500), '0h0m1s500ms');
    assert.throws(() => goDuration(-1), RangeError);
  });
});

describe('certificateReadiness', () => {
  const now = Date.parse('2026-12-06T04:00:00Z');
  const base = (status: ICertificate['status'], generation = 1): ICertificate => ({
    apiVersion: 'cert-manager.io/v1',
    kind: 'Certificate',
    metadata: { name: 'events-tls', namespace: 'streaming', generation },
    spec: { secretName: 'events-tls', issuerRef: { name: 'team-ca' } },
    status,
  });
  const ready = { type: 'Ready', status: 'True', reason: 'Ready', message: 'Certificate is up to date and has not expired', observedGeneration: 1 } as const;

  const cases: { name: string; cert: ICertificate | undefined; want: Record<string, unknown> }[] = [
    { name: 'missing', cert: undefined, want: { ready: false, reason: 'CertificateMissing' } },
    { name: 'no status yet', cert: base(undefined), want: { ready: false, reason: 'CertificateIssuing' } },
    {
      name: 'issuing',
      cert: base({ conditions: [{ type: 'Ready', status: 'False', reason: 'DoesNotExist', message: 'Issuing certificate as Secret does not exist' }, { type: 'Issuing', status: 'True', reason: 'DoesNotExist' }] }),
      want: { ready: false, reason: 'CertificateIssuing' },
    },
    {
      name: 'ready',
      cert: base({ conditions: [ready], notAfter: '2027-03-06T04:00:00Z', renewalTime: '2027-02-04T04:00:00Z', revision: 1 }),
      want: { ready: true, notAfter: '2027-03-06T04:00:00Z', renewalTime: '2027-02-04T04:00:00Z', secretName: 'events-tls' },
    },
    {
      name: 'ready for an older generation: not yet observed',
      cert: base({ conditions: [ready], notAfter: '2027-03-06T04:00:00Z' }, 2),
      want: { ready: false, reason: 'CertificateNotObserved' },
    },
    {
      name: 'failed',
      cert: base({ conditions: [{ type: 'Ready', status: 'False', reason: 'DoesNotExist' }, { type: 'Issuing', status: 'False', reason: 'Failed', message: 'The certificate request has failed to complete and will be retried' }], lastFailureTime: '2026-12-06T03:59:00Z', failedIssuanceAttempts: 2 }),
      want: { ready: false, reason: 'CertificateIssuanceFailed' },
    },
    {
      name: 'expired although Ready says True (cert-manager has not caught up)',
      cert: base({ conditions: [ready], notAfter: '2026-12-06T03:00:00Z' }),
      want: { ready: false, reason: 'CertificateExpired' },
    },
    {
      name: 'expired and not ready',
      cert: base({ conditions: [{ type: 'Ready', status: 'False', reason: 'Expired' }], notAfter: '2026-12-06T03:00:00Z' }),
      want: { ready: false, reason: 'CertificateExpired' },
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const r = certificateReadiness('events-tls', c.cert, now);
      for (const [k, v] of Object.entries(c.want)) assert.deepEqual((r as Record<string, unknown>)[k], v, `${k} of ${JSON.stringify(r)}`);
      if (!r.ready) assert.match(r.message, /events-tls/);
    });
  }

  test('a failure message carries cert-manager\'s reason and the attempts', () => {
    const r = certificateReadiness('events-tls', cases.find((c) => c.name === 'failed')!.cert, now);
    assert.equal(r.ready, false);
    assert.match(!r.ready ? r.message : '', /2 attempts.*failed to complete/);
  });

  test('certificatesReadiness is ready only when every Certificate is', () => {
    const good = base({ conditions: [ready], notAfter: '2027-03-06T04:00:00Z' });
    const all = certificatesReadiness(['a', 'b'], () => good, now);
    assert.equal(all.ready, true);
    const one = certificatesReadiness(['a', 'b'], (n) => (n === 'a' ? good : undefined), now);
    assert.equal(one.ready, false);
    assert.deepEqual(one.certificates.map((c) => c.ready), [true, false]);
  });
});

describe('certManagerCertificateSource', () => {
  const now = Date.parse('2026-12-06T04:00:00Z');
  const c = cluster(ca);
  const request = { cluster: c, identity, now, labels: { 'app.kubernetes.io/instance': 'events' }, ownerReferences: [{ apiVersion: 'bulwark.dev/v1alpha1', kind: 'BrokerCluster', name: 'events', uid: 'u-1', controller: true, blockOwnerDeletion: true }] };
  const issued = (name: string): ICertificate => ({
    apiVersion: 'cert-manager.io/v1',
    kind: 'Certificate',
    metadata: { name, namespace: 'streaming', generation: 1 },
    spec: { secretName: name, issuerRef: { name: 'team-ca' } },
    status: { conditions: [{ type: 'Ready', status: 'True', observedGeneration: 1 }], notAfter: '2027-03-06T04:00:00Z', renewalTime: '2027-02-04T04:00:00Z', revision: 1 },
  });
  const secret = (name: string, keys = ['tls.crt', 'tls.key', 'ca.crt']): SecretObject => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: 'streaming' },
    type: 'kubernetes.io/tls',
    data: Object.fromEntries(keys.map((k) => [k, Buffer.from('x').toString('base64')])),
  });
  const reader = (certs: Record<string, ICertificate>, secrets: Record<string, SecretObject>): CertificateReader => ({
    secret: async (name) => secrets[name],
    object: async <T extends KubeObject>(_kind: KindRef, name: string) => certs[name] as unknown as T | undefined,
  });

  test('at first: the three Certificates to apply, owned as the reconciler says, not ready, an event for each, a requeue', async () => {
    const out = await certManagerCertificateSource().reconcile(request, reader({}, {}));
    assert.deepEqual(out.objects.map((o) => [o.kind, o.metadata.name]), [
      ['Certificate', 'events-tls'],
      ['Certificate', 'events-internal-tls'],
      ['Certificate', 'events-operator-tls'],
    ]);
    assert.deepEqual(out.objects[0]!.metadata.ownerReferences, request.ownerReferences);
    assert.equal(out.ready, false);
    assert.match(out.message, /^waiting for cert-manager: Certificate events-tls requested from Issuer team-ca; Certificate events-internal-tls requested/);
    assert.deepEqual(out.events.map((e) => e.reason), ['CertificateRequested', 'CertificateRequested', 'CertificateRequested']);
    assert.equal(out.requeueAfterMs, CERT_MANAGER_POLL_MS);
    assert.deepEqual(out.certificates.map((s) => [s.name, s.secretName, s.notAfter]), [
      ['server', 'events-tls', undefined],
      ['internal', 'events-internal-tls', undefined],
      ['operator', 'events-operator-tls', undefined],
    ]);
  });

  test('once cert-manager has issued all three: ready, with each notAfter and renewalTime, no event, no requeue', async () => {
    const names = ['events-tls', 'events-internal-tls', 'events-operator-tls'];
    const out = await certManagerCertificateSource().reconcile(request, reader(Object.fromEntries(names.map((n) => [n, issued(n)])), Object.fromEntries(names.map((n) => [n, secret(n)]))));
    assert.equal(out.ready, true, out.message);
    assert.deepEqual(out.events, []);
    assert.equal(out.requeueAfterMs, undefined);
    assert.deepEqual(out.certificates[0], { name: 'server', secretName: 'events-tls', notAfter: '2027-03-06T04:00:00Z', renewalTime: '2027-02-04T04:00:00Z' });
  });

  test('an issuer that does not publish its CA (no ca.crt) keeps the cluster waiting, and says why', async () => {
    const names = ['events-tls', 'events-internal-tls', 'events-operator-tls'];
    const secrets = Object.fromEntries(names.map((n) => [n, secret(n, n === 'events-internal-tls' ? ['tls.crt', 'tls.key'] : undefined)]));
    const out = await certManagerCertificateSource().reconcile(request, reader(Object.fromEntries(names.map((n) => [n, issued(n)])), secrets));
    assert.equal(out.ready, false);
    assert.match(out.message, /Secret events-internal-tls of Certificate events-internal-tls has no ca\.crt: the issuer does not publish its CA/);
  });
});
