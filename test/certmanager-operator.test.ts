// The operator in cert-manager mode, end to end on the plain control plane (no pods): the
// BrokerCluster reconciler, run by the operator's own machinery (startOperator: informers, queue,
// server-side apply), asks the real cert-manager controller for its certificates, waits for them
// (WaitingForCertificates, no StatefulSet), and carries on once cert-manager has issued them,
// woken by its watch on the Certificates it owns.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type { ICertificate } from '@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate';
import { createLogger } from '../src/lib/index.ts';
import { brokerClusterReconciler } from '../src/operator/brokercluster/index.ts';
import { CERT_MANAGER_POLL_MS, certManagerCertificateSource } from '../src/operator/certificates/index.ts';
import { startOperator } from '../src/operator/index.ts';
import { caIssuer, certManagerSkip as skip, eventually, getJson, useCertManagerControlPlane, type CertManager } from './harness/certmanager.ts';
import type { ControlPlane } from './harness/controlplane.ts';

const log = createLogger({ level: 'silent' });

let cp: ControlPlane;
let cm: CertManager;

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}
interface ClusterStatus {
  conditions?: Condition[];
  certificates?: { name: string; secretName: string; notAfter?: string; renewalTime?: string }[];
}

describe('the operator in cert-manager mode, with the real cert-manager', { skip }, () => {
  const running = useCertManagerControlPlane();
  before(() => {
    cp = running.cp();
    cm = running.cm();
  });

  test('waits for an issuer that is not there yet, then, once cert-manager has issued, creates the StatefulSet and shows each notAfter', async (t) => {
    const ns = await cp.createNamespace('cm-op');
    const reconciler = brokerClusterReconciler({ brokerImage: 'bulwark.local/bulwark:test', certificates: { certManager: certManagerCertificateSource() } });
    const operator = await startOperator({ kubeconfig: cp.kubeconfigPath, reconcilers: [reconciler], namespaces: [ns], leaderElection: false, metricsPort: 0, metricsHost: '127.0.0.1', log });
    const cluster = () => getJson<{ metadata: { uid: string }; status?: ClusterStatus }>(cp, `/apis/bulwark.dev/v1alpha1/namespaces/${ns}/brokerclusters/events`);
    const certificate = (name: string) => getJson<ICertificate>(cp, `/apis/cert-manager.io/v1/namespaces/${ns}/certificates/${name}`);
    const statefulSet = () => getJson<{ metadata: { name: string } }>(cp, `/apis/apps/v1/namespaces/${ns}/statefulsets/events`);
    try {
      await operator.synced();
      const spec = {
        replicas: 1,
        storage: { size: '1Gi' },
        listeners: [{ name: 'kafka', protocol: 'kafka', port: 9093, tls: { enabled: true }, authentication: ['scram-sha-512'] }],
        tls: { certManager: { issuerRef: { name: 'team-ca', kind: 'Issuer' } }, duration: '24h', renewBefore: '8h' },
      };
      await cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'bulwark.dev/v1alpha1', kind: 'BrokerCluster', metadata: { name: 'events', namespace: ns }, spec }), check: true });

      // No Issuer yet: the Certificates exist, owned by the cluster, and the cluster waits for them.
      // First "requested", then, woken by cert-manager's status on the Certificates, "not ready".
      const waiting = await eventually(cm, 'Reconciling with WaitingForCertificates, cert-manager not issuing', async () => {
        const c = await cluster();
        const r = c?.status?.conditions?.find((x) => x.type === 'Reconciling');
        return r?.status === 'True' && r.reason === 'WaitingForCertificates' && /Certificate events-tls is not ready/.test(r.message) ? c : undefined;
      });
      const ready = waiting.status!.conditions!.find((x) => x.type === 'Ready')!;
      assert.equal(ready.status, 'False');
      for (const name of ['events-tls', 'events-internal-tls', 'events-operator-tls']) {
        const c = await certificate(name);
        assert.ok(c, `Certificate ${name} created`);
        assert.equal(c.metadata?.ownerReferences?.[0]?.uid, waiting.metadata.uid, `${name} owned by the BrokerCluster`);
        assert.deepEqual(c.spec?.issuerRef, { name: 'team-ca', kind: 'Issuer', group: 'cert-manager.io' });
      }
      assert.equal(await statefulSet(), undefined, 'no StatefulSet while the certificates it mounts are missing');

      // The Issuer arrives: cert-manager issues, and the watch on the owned Certificates wakes the
      // reconciler well before its fallback poll would.
      const issuerAt = Date.now();
      await caIssuer(cp, cm, ns, 'team-ca');
      await eventually(cm, 'the StatefulSet', statefulSet, CERT_MANAGER_POLL_MS - 5_000);
      t.diagnostic(`Issuer created -> certificates issued -> StatefulSet applied: ${Date.now() - issuerAt} ms`);

      const done = await eventually(cm, 'status.certificates with notAfter', async () => {
        const c = await cluster();
        return c?.status?.certificates?.length === 3 && c.status.certificates.every((x) => x.notAfter) ? c : undefined;
      });
      for (const s of done.status!.certificates!) {
        const c = await certificate(s.secretName);
        assert.equal(Date.parse(s.notAfter!), Date.parse(c!.status!.notAfter!), `${s.name}: notAfter is cert-manager's`);
        assert.equal(Date.parse(s.notAfter!) - Date.parse(s.renewalTime!), 8 * 3_600_000, `${s.name}: renewed 8h before notAfter`);
      }
      const reason = done.status!.conditions!.find((x) => x.type === 'Reconciling')!.reason;
      assert.notEqual(reason, 'WaitingForCertificates', 'no longer waiting for certificates (now for pods, which this control plane never runs)');
    } finally {
      await operator.stop();
    }
  });
});
