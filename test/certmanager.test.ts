// cert-manager mode against the real thing: cert-manager's controller, built from its Go module
// (scripts/certmanager-build.sh), with its own CRDs, on a real kube-apiserver and etcd. A CA
// Issuer signs with a CA made by src/pki; the operator's Certificates (certManagerCertificates)
// must pass the real CRD schema and become Ready, and the Secrets must hold what brokers load.
import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { before, describe, test } from 'node:test';
import type { ICertificate } from '@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate';
import type { BrokerCluster } from '../src/api/index.ts';
import { createCa } from '../src/pki/index.ts';
import { type CertificateReader, certificateReadiness, certManagerCertificateSource, certManagerCertificates, leafCertificates, type SecretObject } from '../src/operator/certificates/index.ts';
import type { KindRef, KubeObject } from '../src/operator/controller/index.ts';
import { caIssuer as makeCaIssuer, certManagerSkip as skip, eventually as poll, getJson as get, startCertManager, useCertManagerControlPlane, type CertManager } from './harness/certmanager.ts';
import { alive, type ControlPlane } from './harness/controlplane.ts';


let cp: ControlPlane;
let cm: CertManager;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const getJson = <T>(path: string) => get<T>(cp, path);
const certPath = (ns: string, name: string) => `/apis/cert-manager.io/v1/namespaces/${ns}/certificates/${name}`;
const eventually = <T>(what: string, check: () => Promise<T | undefined>, timeoutMs?: number) => poll(cm, what, check, timeoutMs);
const caIssuer = (ns: string, name: string) => makeCaIssuer(cp, cm, ns, name);

async function readyCertificate(ns: string, name: string): Promise<ICertificate> {
  return eventually(`Certificate ${ns}/${name} Ready`, async () => {
    const c = await getJson<ICertificate>(certPath(ns, name));
    return c && certificateReadiness(name, c, Date.now()).ready ? c : undefined;
  });
}

interface TlsSecret {
  type: string;
  data: Record<string, string>;
}
const decode = (s: TlsSecret, key: string) => Buffer.from(s.data[key] ?? '', 'base64').toString('utf8');

function sans(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '')
    .split(', ')
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice(4))
    .sort();
}

describe('cert-manager (the real controller) signs what the operator asks for', { skip }, () => {
  const running = useCertManagerControlPlane();
  before(() => {
    cp = running.cp();
    cm = running.cm();
  });

  test('a CA Issuer signs a Certificate: the Secret holds tls.crt, tls.key and ca.crt, and the leaf verifies against the CA with the names asked for', async (t) => {
    const ns = await cp.createNamespace('cm-ca');
    const { caPem } = await caIssuer(ns, 'team-ca');
    const dnsNames = ['orders.example.test', 'orders.streaming.svc'];
    const certificate = {
      apiVersion: 'cert-manager.io/v1',
      kind: 'Certificate',
      metadata: { name: 'orders', namespace: ns },
      spec: { secretName: 'orders-tls', commonName: 'orders.example.test', dnsNames, duration: '24h', issuerRef: { name: 'team-ca', kind: 'Issuer' }, privateKey: { algorithm: 'ECDSA', size: 256 } },
    };
    const applied = Date.now();
    await cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify(certificate), check: true });
    const ready = await readyCertificate(ns, 'orders');
    const applyToReadyMs = Date.now() - applied;
    t.diagnostic(`Certificate apply -> Ready: ${applyToReadyMs} ms`);

    const secret = (await getJson<TlsSecret>(`/api/v1/namespaces/${ns}/secrets/orders-tls`))!;
    assert.equal(secret.type, 'kubernetes.io/tls');
    assert.deepEqual(Object.keys(secret.data).sort(), ['ca.crt', 'tls.crt', 'tls.key']);
    assert.equal(decode(secret, 'ca.crt').trim(), caPem.trim(), 'ca.crt is the Issuer\'s CA');

    const leaf = new X509Certificate(decode(secret, 'tls.crt'));
    const caCert = new X509Certificate(caPem);
    assert.ok(leaf.checkIssued(caCert), 'issued by the CA');
    assert.ok(leaf.verify(caCert.publicKey), 'signature verifies with the CA key');
    assert.deepEqual(sans(leaf), [...dnsNames].sort());
    assert.ok(leaf.checkPrivateKey(createPrivateKey(decode(secret, 'tls.key'))), 'tls.key is the leaf\'s key');
    assert.equal(new Date(leaf.validTo).toISOString(), new Date(ready.status!.notAfter!).toISOString(), 'status.notAfter is the certificate\'s');
  });

  test('a ClusterIssuer named by spec.tls.certManager signs too (its CA Secret in the cluster resource namespace)', async () => {
    const ns = await cp.createNamespace('cm-cluster-issuer');
    const name = `corp-ca-${ns.slice(-6)}`;
    const ca = await createCa({ commonName: `${name}-root`, validDays: 30 });
    const b64 = (x: string) => Buffer.from(x).toString('base64');
    const manifest = {
      apiVersion: 'v1',
      kind: 'List',
      items: [
        { apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name, namespace: 'kube-system' }, data: { 'tls.crt': b64(ca.certPem), 'tls.key': b64(ca.keyPem) } },
        { apiVersion: 'cert-manager.io/v1', kind: 'ClusterIssuer', metadata: { name }, spec: { ca: { secretName: name } } },
      ],
    };
    await cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify(manifest), check: true });
    const c = {
      apiVersion: 'bulwark.dev/v1alpha1',
      kind: 'BrokerCluster',
      metadata: { name: 'events', namespace: ns },
      spec: { replicas: 1, storage: { size: '1Gi' }, listeners: [{ name: 'kafka', protocol: 'kafka', port: 9093 }], tls: { certManager: { issuerRef: { name, kind: 'ClusterIssuer' } } } },
    } as BrokerCluster;
    const leaves = leafCertificates(c, { operatorIdentity: 'bulwark-operator', clusterDomain: 'cluster.local' }).filter((l) => l.id === 'operator');
    const [cert] = certManagerCertificates(c, leaves);
    assert.deepEqual(cert!.spec?.issuerRef, { name, kind: 'ClusterIssuer', group: 'cert-manager.io' });
    await cp.kubectl(['apply', '--server-side', '--field-manager=bulwark-operator', '--validate=strict', '-f', '-'], { input: JSON.stringify(cert!.toJSON()), check: true });
    await readyCertificate(ns, 'events-operator-tls');
    const secret = (await getJson<TlsSecret>(`/api/v1/namespaces/${ns}/secrets/events-operator-tls`))!;
    const x = new X509Certificate(decode(secret, 'tls.crt'));
    assert.ok(x.verify(new X509Certificate(ca.certPem).publicKey), 'signed by the ClusterIssuer\'s CA');
    assert.match(x.subject, /CN=bulwark-operator/);
  });

  test('the Certificates built for a BrokerCluster pass the real CRD schema and become Ready; the Secrets hold what each leaf needs', async (t) => {
    const ns = await cp.createNamespace('cm-bc');
    const { caPem } = await caIssuer(ns, 'team-ca');
    const spec = {
      replicas: 2,
      storage: { size: '1Gi' },
      listeners: [{ name: 'kafka', protocol: 'kafka', port: 9093, tls: { enabled: true }, authentication: ['scram-sha-512'] }],
      tls: { certManager: { issuerRef: { name: 'team-ca', kind: 'Issuer' } }, duration: '48h', renewBefore: '12h' },
    };
    await cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'bulwark.dev/v1alpha1', kind: 'BrokerCluster', metadata: { name: 'events', namespace: ns }, spec }), check: true });
    const cluster = (await getJson<BrokerCluster>(`/apis/bulwark.dev/v1alpha1/namespaces/${ns}/brokerclusters/events`))!;
    const leaves = leafCertificates(cluster, { operatorIdentity: 'bulwark-operator', clusterDomain: 'cluster.local' });
    const certs = certManagerCertificates(cluster, leaves, { labels: { 'app.kubernetes.io/instance': 'events' } });

    // Server-side apply with strict field validation, as the operator applies: an unknown or
    // mistyped field is an error here, not silently dropped.
    const applied = Date.now();
    for (const c of certs) {
      const r = await cp.kubectl(['apply', '--server-side', '--field-manager=bulwark-operator', '--validate=strict', '-f', '-'], { input: JSON.stringify(c.toJSON()) });
      assert.equal(r.code, 0, `${c.metadata?.name}: ${r.stderr}`);
    }
    const ready = await Promise.all(leaves.map((l) => readyCertificate(ns, l.secretName)));
    t.diagnostic(`3 Certificates apply -> all Ready: ${Date.now() - applied} ms`);

    const caCert = new X509Certificate(caPem);
    for (const [i, leaf] of leaves.entries()) {
      const status = certificateReadiness(leaf.secretName, ready[i], Date.now());
      assert.ok(status.ready, leaf.id);
      const secret = (await getJson<TlsSecret & { metadata: { labels?: Record<string, string> } }>(`/api/v1/namespaces/${ns}/secrets/${leaf.secretName}`))!;
      assert.equal(secret.metadata.labels?.['app.kubernetes.io/instance'], 'events', 'secretTemplate labels reach the Secret');
      const x = new X509Certificate(decode(secret, 'tls.crt'));
      assert.ok(x.checkIssued(caCert) && x.verify(caCert.publicKey), `${leaf.id} signed by the Issuer's CA`);
      assert.equal(decode(secret, 'ca.crt').trim(), caPem.trim());
      assert.ok(x.checkPrivateKey(createPrivateKey(decode(secret, 'tls.key'))));
      assert.match(decode(secret, 'tls.key'), /^-----BEGIN PRIVATE KEY-----/, 'PKCS#8, as src/pki writes keys');
      assert.equal(createPrivateKey(decode(secret, 'tls.key')).asymmetricKeyDetails?.namedCurve, 'prime256v1');
      assert.match(x.subject, new RegExp(`CN=${leaf.commonName.replace(/\./g, '\\.')}`));
      assert.deepEqual(sans(x), [...leaf.dnsNames].sort(), `${leaf.id} DNS names`);
      const eku = x.keyUsage ?? [];
      const wantEku = { server: ['1.3.6.1.5.5.7.3.1'], client: ['1.3.6.1.5.5.7.3.2'], both: ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'] }[leaf.usage];
      assert.deepEqual([...eku].sort(), wantEku, `${leaf.id} extended key usage`);

      // duration 48h, renewBefore 12h: notAfter - notBefore is 48 h, renewal 12 h before notAfter.
      const lifetime = Date.parse(x.validTo) - Date.parse(x.validFrom);
      assert.ok(Math.abs(lifetime - 48 * 3_600_000) <= 2_000, `${leaf.id} lifetime ${lifetime} ms`);
      if (!status.ready) continue;
      assert.equal(Date.parse(status.notAfter) - Date.parse(status.renewalTime!), 12 * 3_600_000, `${leaf.id} renewalTime`);
    }
    const owned = await getJson<ICertificate>(certPath(ns, 'events-tls'));
    assert.equal(owned?.metadata?.ownerReferences?.[0]?.uid, cluster.metadata.uid, 'owned by the BrokerCluster');
  });

  test('the certManager CertificateSource, reading the API server, waits for cert-manager and then reports each notAfter; applying its objects twice changes nothing', async (t) => {
    const ns = await cp.createNamespace('cm-source');
    await caIssuer(ns, 'team-ca');
    const spec = {
      replicas: 1,
      storage: { size: '1Gi' },
      listeners: [{ name: 'kafka', protocol: 'kafka', port: 9093, tls: { enabled: true }, authentication: ['scram-sha-512'] }],
      tls: { certManager: { issuerRef: { name: 'team-ca', kind: 'Issuer' } } },
    };
    await cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'bulwark.dev/v1alpha1', kind: 'BrokerCluster', metadata: { name: 'events', namespace: ns }, spec }), check: true });
    const cluster = (await getJson<BrokerCluster>(`/apis/bulwark.dev/v1alpha1/namespaces/${ns}/brokerclusters/events`))!;
    const reader: CertificateReader = {
      secret: (name) => getJson<SecretObject>(`/api/v1/namespaces/${ns}/secrets/${name}`),
      object: <T extends KubeObject>(kind: KindRef, name: string) => getJson<T>(`/apis/${kind.apiVersion}/namespaces/${ns}/${kind.plural}/${name}`),
    };
    const source = certManagerCertificateSource();
    const request = (now: number) => ({
      cluster,
      identity: { operatorIdentity: 'bulwark-operator', clusterDomain: 'cluster.local' },
      now,
      labels: { 'app.kubernetes.io/instance': 'events' },
      ownerReferences: [{ apiVersion: cluster.apiVersion, kind: cluster.kind, name: 'events', uid: cluster.metadata.uid!, controller: true, blockOwnerDeletion: true }],
    });
    const apply = async (objects: KubeObject[]) => {
      for (const o of objects) await cp.kubectl(['apply', '--server-side', '--field-manager=bulwark-operator', '--validate=strict', '-f', '-'], { input: JSON.stringify(o), check: true });
    };

    const first = await source.reconcile(request(Date.now()), reader);
    assert.equal(first.ready, false);
    assert.equal(first.events.length, 3);
    const applied = Date.now();
    await apply(first.objects);
    const done = await eventually('the source reports ready', async () => {
      const o = await source.reconcile(request(Date.now()), reader);
      return o.ready ? o : undefined;
    });
    t.diagnostic(`CertificateSource: objects applied -> ready: ${Date.now() - applied} ms`);
    assert.deepEqual(done.events, []);
    for (const s of done.certificates) {
      assert.ok(s.notAfter && s.renewalTime, `${s.name} has notAfter and renewalTime`);
      // Defaults: 2160h, renewed a third of it (720h) before notAfter.
      assert.equal(Date.parse(s.notAfter!) - Date.parse(s.renewalTime!), 720 * 3_600_000, s.name);
    }

    const versions = async () => Promise.all(done.objects.map(async (o) => (await getJson<KubeObject>(certPath(ns, o.metadata.name)))!.metadata.resourceVersion));
    const before = await versions();
    await apply(done.objects);
    assert.deepEqual(await versions(), before, 'server-side apply of the same Certificates is a no-op');
  });

  test('a renewal (Issuing=True, as `cmctl renew` does) re-signs with a new key: rotationPolicy Always', async (t) => {
    const ns = await cp.createNamespace('cm-renew');
    await caIssuer(ns, 'team-ca');
    const c = {
      apiVersion: 'bulwark.dev/v1alpha1',
      kind: 'BrokerCluster',
      metadata: { name: 'events', namespace: ns },
      spec: { replicas: 1, storage: { size: '1Gi' }, listeners: [{ name: 'kafka', protocol: 'kafka', port: 9093 }], tls: { certManager: { issuerRef: { name: 'team-ca', kind: 'Issuer' } } } },
    } as BrokerCluster;
    const leaves = leafCertificates(c, { operatorIdentity: 'bulwark-operator', clusterDomain: 'cluster.local' }).filter((l) => l.id === 'server');
    const [cert] = certManagerCertificates(c, leaves);
    await cp.kubectl(['apply', '--server-side', '--field-manager=bulwark-operator', '-f', '-'], { input: JSON.stringify(cert!.toJSON()), check: true });
    const first = await readyCertificate(ns, 'events-tls');
    const before = (await getJson<TlsSecret>(`/api/v1/namespaces/${ns}/secrets/events-tls`))!;

    const conditions = [...(first.status?.conditions ?? []), { type: 'Issuing', status: 'True', reason: 'ManuallyTriggered', message: 'Certificate re-issuance manually triggered', lastTransitionTime: new Date().toISOString() }];
    const triggered = Date.now();
    await cp.kubectl(['-n', ns, 'patch', 'certificate', 'events-tls', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { conditions } })], { check: true });
    const renewed = await eventually('revision 2', async () => {
      const x = await getJson<ICertificate>(certPath(ns, 'events-tls'));
      return x?.status?.revision === 2 && certificateReadiness('events-tls', x, Date.now()).ready ? x : undefined;
    });
    t.diagnostic(`renewal triggered -> revision 2 Ready: ${Date.now() - triggered} ms`);
    assert.equal(renewed.status?.revision, 2);
    const afterSecret = (await getJson<TlsSecret>(`/api/v1/namespaces/${ns}/secrets/events-tls`))!;
    assert.notEqual(decode(afterSecret, 'tls.crt'), decode(before, 'tls.crt'), 'a new certificate');
    assert.notEqual(decode(afterSecret, 'tls.key'), decode(before, 'tls.key'), 'a new private key');
  });

  test('a controller that cannot start is reported with its own words, and leaves no process behind', async () => {
    const err = await startCertManager(cp, { controllers: ['issuers', 'no-such-controller'] }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    assert.ok(err, 'startCertManager rejects');
    assert.match(err.message, /exited before it was ready/);
    assert.match(err.message, /unknown controller "no-such-controller"/);
    const left = readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .filter((d) => {
        try {
          return readFileSync(`/proc/${d}/cmdline`, 'utf8').includes('no-such-controller');
        } catch {
          return false;
        }
      });
    assert.deepEqual(left, [], 'no controller process left');
  });

  test('measure: the controller\'s resident memory when idle', async (t) => {
    await sleep(2000);
    const rss = cm.rssKiB();
    assert.ok(rss !== undefined && rss > 0);
    t.diagnostic(`cert-manager ${cm.version} controller: startup to caches synced ${cm.startupMs} ms, RSS idle ${Math.round(rss / 1024)} MiB`);
  });

  test('stop() ends the controller', async () => {
    await cm.stop();
    assert.equal(alive(cm.pid), false);
  });
});
