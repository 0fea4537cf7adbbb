// Helpers of the tests that run the real cert-manager controller (tools/certmanager/launcher.ts)
// on a control plane: a CA Issuer over a CA made with src/pki, and polling with the controller's
// log in the failure message.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { createCa } from '../../src/pki/index.ts';
import type { CertManager } from '../../tools/certmanager/launcher.ts';
import { ensureBinaries, startControlPlane, type ControlPlane } from './controlplane.ts';
import { startCertManager } from '../../tools/certmanager/launcher.ts';

export { startCertManager, type CertManager } from '../../tools/certmanager/launcher.ts';

function goInstalled(): boolean {
  if (process.env.GO) return true;
  const dirs = (process.env.PATH ?? '').split(':').filter(Boolean);
  return dirs.some((d) => existsSync(join(d, 'go'))) || existsSync('/usr/local/go/bin/go');
}

/** The `skip` of a suite that needs cert-manager: only when Go is missing (or control-plane suites are skipped), saying so. */
export const certManagerSkip: string | false =
  process.env.BULWARK_SKIP_CONTROLPLANE === '1'
    ? 'BULWARK_SKIP_CONTROLPLANE=1'
    : goInstalled()
      ? false
      : 'Go is not installed: the cert-manager controller is built from its Go module (Go >= 1.26)';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const b64 = (s: string) => Buffer.from(s).toString('base64');

/** GET as admin; undefined on 404, a failed assertion on any other error. */
export async function getJson<T>(cp: ControlPlane, path: string): Promise<T | undefined> {
  const r = await cp.request('GET', path);
  if (r.status === 404) return undefined;
  assert.equal(r.status, 200, `GET ${path}: ${r.body}`);
  return r.json<T>();
}

/** Polls `check` every 100 ms until it returns a value; fails with the last error and the controller's log. */
export async function eventually<T>(cm: CertManager, what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      assert.fail(`${what}: not within ${timeoutMs} ms${last ? ` (${String(last)})` : ''}\n--- cert-manager log ---\n${cm.logTail(60)}`);
    }
    await sleep(100);
  }
}

/** A kubernetes.io/tls Secret holding a CA made by src/pki, and a CA Issuer over it, Ready. */
export async function caIssuer(cp: ControlPlane, cm: CertManager, ns: string, name: string): Promise<{ caPem: string }> {
  const ca = await createCa({ commonName: `${name}-root`, validDays: 30 });
  const manifest = {
    apiVersion: 'v1',
    kind: 'List',
    items: [
      { apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: `${name}-key-pair`, namespace: ns }, data: { 'tls.crt': b64(ca.certPem), 'tls.key': b64(ca.keyPem) } },
      { apiVersion: 'cert-manager.io/v1', kind: 'Issuer', metadata: { name, namespace: ns }, spec: { ca: { secretName: `${name}-key-pair` } } },
    ],
  };
  await cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify(manifest), check: true });
  await eventually(cm, `Issuer ${ns}/${name} Ready`, async () => {
    const i = await getJson<{ status?: { conditions?: { type: string; status: string }[] } }>(cp, `/apis/cert-manager.io/v1/namespaces/${ns}/issuers/${name}`);
    return i?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? true : undefined;
  });
  return { caPem: ca.certPem };
}

/**
 * Call inside a describe: before its tests, a control plane with cert-manager running and the
 * Bulwark CRDs installed; after them, both stopped. The getters give the running pair.
 */
export function useCertManagerControlPlane(): { cp: () => ControlPlane; cm: () => CertManager } {
  let cp: ControlPlane | undefined;
  let cm: CertManager | undefined;
  before(
    async () => {
      await ensureBinaries();
      cp = await startControlPlane();
      cm = await startCertManager(cp);
      await cp.kubectl(['apply', '--server-side', '-f', join(import.meta.dirname, '..', '..', 'crds')], { check: true });
      await cp.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/brokerclusters.bulwark.dev'], { check: true });
    },
    { timeout: 60 * 60_000 },
  );
  after(async () => {
    await cm?.stop();
    await cp?.stop();
  });
  return { cp: () => cp ?? assert.fail('no control plane'), cm: () => cm ?? assert.fail('no cert-manager') };
}
