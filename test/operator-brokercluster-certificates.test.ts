// The built-in CA of a BrokerCluster: the names its certificates cover, the renewal plan (a pure
// function of the time, table-tested with an injected clock), and the CA rotation carried out
// with real certificates from src/pki.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, test } from 'node:test';
import type { BrokerCluster } from '../src/api/index.ts';
import {
  builtinCertificateSource,
  certificatePolicy,
  type CertificateOutcome,
  type CertificateReader,
  type CertificateRequest,
  leafCertificates,
  type ObservedCertificate,
  type ObservedCertificates,
  parseDuration,
  planCertificates,
  type SecretObject,
} from '../src/operator/certificates/index.ts';
import { resource } from './harness/resources.ts';

const H = 3_600_000;
const T0 = Date.parse('2027-01-01T00:00:00Z');

function cluster(extra: Record<string, unknown> = {}): BrokerCluster {
  return resource('BrokerCluster', 'main', { replicas: 2, storage: { size: '1Gi' }, listeners: [{ name: 'kafka', protocol: 'kafka', port: 9092, tls: { enabled: true } }], ...extra }, 'team') as BrokerCluster;
}
const identity = { operatorIdentity: 'bulwark-operator', clusterDomain: 'cluster.local' };

describe('durations and lifetimes', () => {
  test('Go durations parse to milliseconds; anything else is refused', () => {
    const cases: [string, number | undefined][] = [
      ['2160h', 2160 * H],
      ['1h30m', 1.5 * H],
      ['90m', 1.5 * H],
      ['10s', 10_000],
      ['500ms', 500],
      ['1.5h', 1.5 * H],
      ['', undefined],
      ['5d', undefined],
      ['h', undefined],
      ['-1h', undefined],
    ];
    for (const [text, ms] of cases) assert.equal(parseDuration(text), ms, text);
  });

  test('defaults: 2160h leaves renewed a third before expiry; the CA lives ten leaf lifetimes and rotates three before its end', () => {
    const p = certificatePolicy(undefined);
    assert.equal(p.durationMs, 2160 * H);
    assert.equal(p.renewBeforeMs, 720 * H);
    assert.equal(p.caDurationMs, 21600 * H);
    assert.equal(p.caRenewBeforeMs, 6480 * H);
    assert.equal(p.caOverlapMs, 2160 * H);
    assert.equal(p.previousGraceMs, 720 * H, 'the previous CA is trusted as long as a client has to take a renewed certificate');
    const q = certificatePolicy({ duration: '24h', renewBefore: '2h' });
    assert.deepEqual([q.durationMs, q.renewBeforeMs], [24 * H, 2 * H]);
  });
});

describe('the names the certificates cover', () => {
  test('the server certificate covers the client Service and every broker, with and without the cluster domain', () => {
    const [server, internal, operator] = leafCertificates(cluster(), identity);
    assert.equal(server!.secretName, 'main-tls');
    assert.deepEqual(server!.dnsNames, [
      'main',
      'main.team',
      'main.team.svc',
      'main.team.svc.cluster.local',
      '*.main-brokers.team.svc',
      '*.main-brokers.team.svc.cluster.local',
      'main-0.main-brokers.team.svc',
      'main-0.main-brokers.team.svc.cluster.local',
      'main-1.main-brokers.team.svc',
      'main-1.main-brokers.team.svc.cluster.local',
    ]);
    assert.equal(server!.usage, 'server');
    assert.equal(internal!.secretName, 'main-internal-tls');
    assert.equal(internal!.usage, 'both');
    assert.ok(!internal!.dnsNames.includes('main.team.svc'), 'the internal certificate names only the brokers');
    assert.deepEqual([operator!.secretName, operator!.commonName, operator!.usage, operator!.dnsNames], ['main-operator-tls', 'bulwark-operator', 'client', []]);
  });
});

// --- The plan, on made-up observations (no crypto) -----------------------------------------------

const policy = certificatePolicy({ duration: '100h', renewBefore: '30h' }); // CA: 1000h, rotation 300h before its end, overlap 100h
const desired = leafCertificates(cluster(), identity);
const cert = (notBefore: number, notAfter: number, names: { cn?: string; dns?: string[] } = {}): ObservedCertificate => ({ pem: '', notBefore, notAfter, fingerprint: `${notBefore}`, commonName: names.cn ?? '', dnsNames: names.dns ?? [] });
const leaf = (id: 'server' | 'internal' | 'operator', issuedAt: number, signedBy: 'current' | 'previous' | 'unknown' = 'current') => {
  const d = desired.find((l) => l.id === id)!;
  // src/pki backdates notBefore five minutes.
  return { cert: cert(issuedAt - 5 * 60_000, issuedAt + policy.durationMs, { cn: d.commonName, dns: d.dnsNames }), keyPem: '', signedBy } as const;
};
const allLeaves = (issuedAt: number, signedBy: 'current' | 'previous' = 'current') => ({ server: leaf('server', issuedAt, signedBy), internal: leaf('internal', issuedAt, signedBy), operator: leaf('operator', issuedAt, signedBy) });
const ca = (createdAt: number) => ({ ...cert(createdAt, createdAt + policy.caDurationMs), keyPem: '' });

describe('planCertificates', () => {
  const cases: { name: string; now: number; observed: ObservedCertificates; ca: string[]; issue: string[]; next: number }[] = [
    { name: 'nothing yet: a CA, then every certificate', now: T0, observed: { ca: {}, leaves: {} }, ca: ['create'], issue: ['server:Missing', 'internal:Missing', 'operator:Missing'], next: T0 + 70 * H },
    { name: 'all fresh: nothing to do; look again at the first renewal', now: T0 + H, observed: { ca: { current: ca(T0) }, leaves: allLeaves(T0) }, ca: [], issue: [], next: T0 + 70 * H },
    { name: 'one minute before renewal: nothing yet', now: T0 + 70 * H - 60_000, observed: { ca: { current: ca(T0) }, leaves: allLeaves(T0) }, ca: [], issue: [], next: T0 + 70 * H },
    {
      name: 'renewal time reached: the expiring one is renewed, the others wait',
      now: T0 + 70 * H,
      observed: { ca: { current: ca(T0) }, leaves: { ...allLeaves(T0 + 10 * H), server: leaf('server', T0) } },
      ca: [],
      issue: ['server:Expiring'],
      next: T0 + 80 * H,
    },
    {
      name: 'a deleted Secret: that certificate is issued again',
      now: T0 + 5 * H,
      observed: { ca: { current: ca(T0) }, leaves: { server: leaf('server', T0), operator: leaf('operator', T0) } },
      ca: [],
      issue: ['internal:Missing'],
      next: T0 + 70 * H,
    },
    {
      name: 'replicas changed: the server certificate no longer covers the brokers',
      now: T0 + 5 * H,
      observed: { ca: { current: ca(T0) }, leaves: { ...allLeaves(T0), server: { ...leaf('server', T0), cert: { ...leaf('server', T0).cert, dnsNames: ['main'] } } } },
      ca: [],
      issue: ['server:NamesChanged'],
      next: T0 + 70 * H,
    },
    {
      name: 'a leaf signed by some other CA is re-issued',
      now: T0 + 5 * H,
      observed: { ca: { current: ca(T0) }, leaves: { ...allLeaves(T0), operator: leaf('operator', T0, 'unknown') } },
      ca: [],
      issue: ['operator:NotSignedByCurrentCa'],
      next: T0 + 70 * H,
    },
    {
      name: 'CA rotation, step 1: 300h before the CA ends a next CA is introduced; leaves stay',
      now: T0 + 700 * H,
      observed: { ca: { current: ca(T0) }, leaves: allLeaves(T0 + 690 * H) },
      ca: ['introduceNext'],
      issue: [],
      next: T0 + 760 * H,
    },
    {
      name: 'step 1 in progress: waiting for the overlap to end',
      now: T0 + 750 * H,
      observed: { ca: { current: ca(T0), next: { ...ca(T0 + 700 * H), introducedAt: T0 + 700 * H } }, leaves: allLeaves(T0 + 740 * H) },
      ca: [],
      issue: [],
      next: T0 + 800 * H,
    },
    {
      name: 'step 2: the overlap is over: the next CA is promoted and signs every leaf again',
      now: T0 + 800 * H,
      observed: { ca: { current: ca(T0), next: { ...ca(T0 + 700 * H), introducedAt: T0 + 700 * H } }, leaves: allLeaves(T0 + 790 * H) },
      ca: ['promoteNext'],
      issue: ['server:NotSignedByCurrentCa', 'internal:NotSignedByCurrentCa', 'operator:NotSignedByCurrentCa'],
      next: T0 + 830 * H,
    },
    {
      name: 'step 3 waits renewBefore after the promotion: the time a tls client has to take its re-issued certificate',
      now: T0 + 800 * H + 60_000,
      observed: { ca: { current: ca(T0 + 700 * H), previous: { ...ca(T0), promotedAt: T0 + 800 * H } }, leaves: allLeaves(T0 + 800 * H) },
      ca: [],
      issue: [],
      next: T0 + 830 * H,
    },
    {
      name: 'step 3 still waits an hour after the promotion (it used to drop here)',
      now: T0 + 801 * H,
      observed: { ca: { current: ca(T0 + 700 * H), previous: { ...ca(T0), promotedAt: T0 + 800 * H } }, leaves: allLeaves(T0 + 800 * H) },
      ca: [],
      issue: [],
      next: T0 + 830 * H,
    },
    {
      name: 'step 3: every leaf on the new CA and the grace passed: the previous CA is dropped',
      now: T0 + 830 * H,
      observed: { ca: { current: ca(T0 + 700 * H), previous: { ...ca(T0), promotedAt: T0 + 800 * H } }, leaves: allLeaves(T0 + 800 * H) },
      ca: ['dropPrevious'],
      issue: [],
      next: T0 + 870 * H,
    },
    {
      name: 'step 3 holds while a leaf is still signed by the previous CA: it is re-signed now, and the drop waits a grace period from then',
      now: T0 + 801 * H,
      observed: { ca: { current: ca(T0 + 700 * H), previous: { ...ca(T0), promotedAt: T0 + 800 * H } }, leaves: { ...allLeaves(T0 + 800 * H), internal: leaf('internal', T0 + 790 * H, 'previous') } },
      ca: [],
      issue: ['internal:NotSignedByCurrentCa'],
      next: T0 + 831 * H,
    },
    {
      name: 'step 3 counts the grace from the newest leaf',
      now: T0 + 801 * H,
      observed: { ca: { current: ca(T0 + 700 * H), previous: { ...ca(T0), promotedAt: T0 + 800 * H } }, leaves: { ...allLeaves(T0 + 800 * H), internal: leaf('internal', T0 + 800 * H + 30 * 60_000) } },
      ca: [],
      issue: [],
      next: T0 + 830 * H + 30 * 60_000,
    },
    {
      name: 'the CA expired while the operator was away: replaced at once, every leaf re-signed',
      now: T0 + 1001 * H,
      observed: { ca: { current: ca(T0) }, leaves: allLeaves(T0 + 690 * H) },
      ca: ['introduceNext', 'promoteNext'],
      issue: ['server:NotSignedByCurrentCa', 'internal:NotSignedByCurrentCa', 'operator:NotSignedByCurrentCa'],
      next: T0 + 1001 * H + 1000,
    },
    {
      name: 'then the expired CA, now the previous one, is dropped at once: it verifies nothing',
      now: T0 + 1001 * H + 1000,
      observed: { ca: { current: ca(T0 + 1001 * H), previous: { ...ca(T0), promotedAt: T0 + 1001 * H } }, leaves: allLeaves(T0 + 1001 * H) },
      ca: ['dropPrevious'],
      issue: [],
      next: T0 + 1071 * H,
    },
    {
      name: 'a rotation asked for (bulwark.dev/rotate-ca): the next CA is introduced now, 600h before its age would',
      now: T0 + 100 * H,
      observed: { ca: { current: ca(T0) }, leaves: allLeaves(T0 + 90 * H), rotationRequested: true },
      ca: ['introduceNext'],
      issue: [],
      next: T0 + 160 * H,
    },
    {
      name: 'asked for while the previous CA is still trusted: nothing more (that rotation is the one asked for)',
      now: T0 + 801 * H,
      observed: { ca: { current: ca(T0 + 700 * H), previous: { ...ca(T0), promotedAt: T0 + 800 * H } }, leaves: allLeaves(T0 + 800 * H), rotationRequested: true },
      ca: [],
      issue: [],
      next: T0 + 830 * H,
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const plan = planCertificates(c.now, policy, desired, c.observed);
      assert.deepEqual(plan.ca, c.ca);
      assert.deepEqual(plan.issue.map((i) => `${i.id}:${i.reason}`), c.issue);
      assert.equal(new Date(plan.nextCheckAt).toISOString(), new Date(c.next).toISOString());
    });
  }
});

// --- The built-in source with real certificates ----------------------------------------------------

/** Secrets kept in memory, written as the reconciler would apply them. */
class SecretStore implements CertificateReader {
  readonly secrets = new Map<string, SecretObject>();
  async secret(name: string) {
    return this.secrets.get(name);
  }
  async object() {
    return undefined;
  }
  write(outcome: CertificateOutcome) {
    for (const o of outcome.objects) this.secrets.set(o.metadata.name, o as SecretObject);
  }
  pem(name: string, key: string): string {
    return Buffer.from(this.secrets.get(name)!.data![key]!, 'base64').toString('utf8');
  }
  bundle(name: string): X509Certificate[] {
    return this.pem(name, 'ca.crt')
      .split(/(?=-----BEGIN CERTIFICATE-----)/)
      .filter((p) => p.trim())
      .map((p) => new X509Certificate(p));
  }
}

const request = (now: number, c = cluster({ tls: { duration: '100h', renewBefore: '30h' } })): CertificateRequest => ({
  cluster: c,
  identity,
  now,
  labels: { 'app.kubernetes.io/instance': 'main' },
  ownerReferences: [{ apiVersion: 'bulwark.dev/v1alpha1', kind: 'BrokerCluster', name: 'main', uid: 'u-1', controller: true, blockOwnerDeletion: true }],
});
const source = builtinCertificateSource();
const leafOf = (store: SecretStore, secret: string) => new X509Certificate(store.pem(secret, 'tls.crt'));
const signedBy = (leafCert: X509Certificate, caCert: X509Certificate) => leafCert.checkIssued(caCert) && leafCert.verify(caCert.publicKey);

describe('builtinCertificateSource', () => {
  test('issues a CA and three certificates, then does nothing until the renewal time, then renews only what is due', async () => {
    const store = new SecretStore();
    const first = await source.reconcile(request(T0), store);
    store.write(first);
    assert.deepEqual(first.objects.map((o) => o.metadata.name), ['main-ca', 'main-tls', 'main-internal-tls', 'main-operator-tls']);
    assert.deepEqual(first.events.map((e) => e.reason), ['CaCreated', 'CertificateIssued', 'CertificateIssued', 'CertificateIssued']);
    assert.ok(first.objects.every((o) => o.metadata.ownerReferences?.[0]?.uid === 'u-1' && (o as SecretObject).type === 'kubernetes.io/tls'));
    const caCert = new X509Certificate(store.pem('main-ca', 'tls.crt'));
    const server = leafOf(store, 'main-tls');
    assert.ok(signedBy(server, caCert));
    assert.ok(server.checkHost('main-1.main-brokers.team.svc'));
    assert.ok(server.checkHost('main.team.svc.cluster.local'));
    assert.equal(Date.parse(server.validTo), T0 + 100 * H);
    assert.equal(leafOf(store, 'main-operator-tls').subject, 'CN=bulwark-operator');
    assert.deepEqual(
      first.certificates.map((c) => [c.name, c.notAfter, c.renewalTime]),
      [
        ['ca', '2027-02-11T16:00:00Z', '2027-01-30T04:00:00Z'],
        ['server', '2027-01-05T04:00:00Z', '2027-01-03T22:00:00Z'],
        ['internal', '2027-01-05T04:00:00Z', '2027-01-03T22:00:00Z'],
        ['operator', '2027-01-05T04:00:00Z', '2027-01-03T22:00:00Z'],
      ],
    );
    assert.equal(first.requeueAfterMs, 70 * H);

    const again = await source.reconcile(request(T0 + 10 * H), store);
    assert.deepEqual(again.events, []);
    assert.deepEqual(again.objects, first.objects, 'the same Secrets, byte for byte: applying them changes nothing');
    assert.equal(again.requeueAfterMs, 60 * H);

    const due = await source.reconcile(request(T0 + 70 * H), store);
    assert.deepEqual(due.events.map((e) => e.reason), ['CertificateRenewed', 'CertificateRenewed', 'CertificateRenewed']);
    store.write(due);
    assert.equal(Date.parse(leafOf(store, 'main-tls').validTo), T0 + 170 * H);
    assert.equal(store.pem('main-ca', 'tls.crt'), caCert.toString(), 'renewing leaves keeps the CA');
    assert.equal(store.pem('main-ca', 'tls.key').length > 0, true);
  });

  test('a CA rotation never leaves a certificate untrusted: next CA trusted first, leaves re-signed after the overlap, the old CA dropped last', async () => {
    const store = new SecretStore();
    const at = (h: number) => T0 + h * H;
    const run = async (h: number) => {
      const out = await source.reconcile(request(at(h)), store);
      store.write(out);
      return out;
    };
    await run(0);
    const oldCa = new X509Certificate(store.pem('main-ca', 'tls.crt'));
    // Keep leaves fresh up to the rotation, as the reconciler's requeues would.
    for (let h = 70; h < 700; h += 70) await run(h);
    assert.ok(signedBy(leafOf(store, 'main-tls'), oldCa));

    const introduce = await run(700);
    assert.ok(introduce.events.some((e) => e.reason === 'CaRotationStarted'));
    const bundle1 = store.bundle('main-tls');
    assert.equal(bundle1.length, 2, 'ca.crt carries the current and the next CA');
    assert.equal(bundle1[0]!.fingerprint256, oldCa.fingerprint256);
    const nextCa = bundle1[1]!;
    assert.ok(signedBy(leafOf(store, 'main-tls'), oldCa), 'leaves are still signed by the old CA during the overlap');
    assert.equal(store.bundle('main-ca').length, 2);

    await run(770);
    assert.ok(signedBy(leafOf(store, 'main-tls'), oldCa));

    const promote = await run(800);
    assert.ok(promote.events.some((e) => e.reason === 'CaPromoted'));
    for (const s of ['main-tls', 'main-internal-tls', 'main-operator-tls']) assert.ok(signedBy(leafOf(store, s), nextCa), `${s} is re-signed by the new CA`);
    const bundle2 = store.bundle('main-tls');
    assert.deepEqual(bundle2.map((c) => c.fingerprint256), [nextCa.fingerprint256, oldCa.fingerprint256], 'the old CA is still trusted right after the promotion');
    assert.equal(new X509Certificate(store.pem('main-ca', 'tls.crt')).fingerprint256, nextCa.fingerprint256);

    const early = await run(829);
    assert.ok(!early.events.some((e) => e.reason === 'PreviousCaDropped'), 'renewBefore has not passed since the promotion');
    assert.equal(store.bundle('main-tls').length, 2, 'a tls client still presenting its old certificate is trusted');
    const drop = await run(830);
    assert.ok(drop.events.some((e) => e.reason === 'PreviousCaDropped'));
    assert.deepEqual(store.bundle('main-tls').map((c) => c.fingerprint256), [nextCa.fingerprint256]);
    assert.equal(store.secrets.get('main-ca')!.data!['previous.crt'], undefined);
    assert.equal(store.secrets.get('main-ca')!.metadata.annotations, undefined);
  });

  test('bulwark.dev/rotate-ca starts a rotation now, once per value, and it then runs its usual course', async () => {
    const store = new SecretStore();
    const at = (h: number) => T0 + h * H;
    const run = async (h: number, rotateCa?: string) => {
      const out = await source.reconcile({ ...request(at(h)), ...(rotateCa ? { rotateCa } : {}) }, store);
      store.write(out);
      return out;
    };
    await run(0);
    const oldCa = new X509Certificate(store.pem('main-ca', 'tls.crt'));
    const asked = await run(10, '2027-01-15 key ceremony');
    const started = asked.events.find((e) => e.reason === 'CaRotationStarted');
    assert.ok(started, JSON.stringify(asked.events));
    assert.match(started.message, /asked for \(bulwark\.dev\/rotate-ca: "2027-01-15 key ceremony"\)/);
    assert.equal(store.bundle('main-tls').length, 2, 'ca.crt carries the current and the next CA at once');
    assert.equal(store.secrets.get('main-ca')!.metadata.annotations?.['bulwark.dev/rotate-ca-handled'], '2027-01-15 key ceremony');
    const nextCa = store.bundle('main-tls')[1]!;

    // The same value again (every later reconcile sees it): no second rotation.
    const again = await run(20, '2027-01-15 key ceremony');
    assert.ok(!again.events.some((e) => e.reason === 'CaRotationStarted'));
    assert.deepEqual(store.bundle('main-tls').map((c) => c.fingerprint256), [oldCa.fingerprint256, nextCa.fingerprint256]);
    assert.ok(signedBy(leafOf(store, 'main-tls'), oldCa), 'leaves stay on the old CA during the overlap');

    // One duration (100h) after it was introduced, the new CA is promoted, as any rotation's is.
    const promoted = await run(110, '2027-01-15 key ceremony');
    assert.ok(promoted.events.some((e) => e.reason === 'CaPromoted'));
    assert.ok(signedBy(leafOf(store, 'main-tls'), nextCa));
    assert.equal(store.secrets.get('main-ca')!.metadata.annotations?.['bulwark.dev/rotate-ca-handled'], '2027-01-15 key ceremony', 'the value acted on is kept');

    // A new value while the previous CA is still trusted: taken as that rotation's, not a second one.
    const during = await run(111, 'once more');
    assert.ok(!during.events.some((e) => e.reason === 'CaRotationStarted'));
    assert.equal(store.secrets.get('main-ca')!.metadata.annotations?.['bulwark.dev/rotate-ca-handled'], 'once more');
  });

  test('scaling the cluster re-issues the certificates whose names change, and only those', async () => {
    const store = new SecretStore();
    store.write(await source.reconcile(request(T0), store));
    const operatorBefore = store.pem('main-operator-tls', 'tls.crt');
    const scaled = await source.reconcile(request(T0 + H, cluster({ replicas: 3, tls: { duration: '100h', renewBefore: '30h' } })), store);
    store.write(scaled);
    assert.deepEqual(scaled.events.map((e) => e.message.split(' (')[0]), ['re-issued the server certificate', 're-issued the internal certificate']);
    assert.ok(leafOf(store, 'main-tls').checkHost('main-2.main-brokers.team.svc'));
    assert.equal(store.pem('main-operator-tls', 'tls.crt'), operatorBefore);
  });
});
