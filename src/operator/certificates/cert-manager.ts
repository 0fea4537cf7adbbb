// cert-manager mode (spec.tls.certManager): the operator asks cert-manager for the same leaf
// certificates the built-in CA would make (leaves.ts), in the same Secrets, and waits for them.
// Pure: the builder turns a BrokerCluster into cert-manager.io/v1 Certificates, typed and
// checked against cert-manager's schema by @kubernetes-models/cert-manager; the readiness check
// reads a Certificate's status. The reconciler applies the Certificates and watches them; cert-
// manager writes the Secrets (tls.crt, tls.key, ca.crt), and brokers hot-reload them as they do
// the built-in CA's.
import { Certificate, type ICertificate } from '@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate';
import type { BrokerCluster } from '../../api/index.ts';
import { controllerReference, KINDS, type KubeObject, type OwnerReference } from '../controller/index.ts';
import { type LeafCertificate, leafCertificates } from './leaves.ts';
import { certificatePolicy } from './plan.ts';
import type { CertificateOutcome, CertificateReader, CertificateRequest, CertificateSource, CertificateState } from './source.ts';

export { Certificate as CertManagerCertificate } from '@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate';

export const CERT_MANAGER_GROUP = 'cert-manager.io';

/** What a leaf's usage asks of cert-manager: the key usage and extended key usages src/pki gives the same leaf. */
const USAGES: Record<LeafCertificate['usage'], NonNullable<ICertificate['spec']>['usages']> = {
  server: ['digital signature', 'server auth'],
  client: ['digital signature', 'client auth'],
  both: ['digital signature', 'server auth', 'client auth'],
};

export interface CertManagerCertificateOptions {
  /** Labels of the Certificate objects, and of the Secrets cert-manager writes (secretTemplate). */
  labels?: Readonly<Record<string, string>>;
  /** Owner references of the Certificates. Left out: the cluster, as controller, when it has a uid. */
  ownerReferences?: readonly OwnerReference[];
}

/** The Certificate's name for a leaf: the name of the Secret it fills (one Certificate per Secret, as cert-manager expects). */
export function certificateName(leaf: LeafCertificate): string {
  return leaf.secretName;
}

/**
 * The cert-manager.io/v1 Certificates for a BrokerCluster with spec.tls.certManager: one per leaf
 * (server, internal, operator), signed by spec.tls.certManager.issuerRef, owned by the cluster.
 * Throws when the cluster has no certManager issuer, or when a Certificate breaks cert-manager's
 * schema (naming the field).
 */
export function certManagerCertificates(cluster: BrokerCluster, leaves: readonly LeafCertificate[], opts: CertManagerCertificateOptions = {}): Certificate[] {
  const issuer = cluster.spec.tls?.certManager?.issuerRef;
  if (!issuer) throw new Error(`BrokerCluster ${cluster.metadata.namespace}/${cluster.metadata.name}: spec.tls.certManager.issuerRef is not set`);
  const policy = certificatePolicy(cluster.spec.tls);
  const { namespace, uid } = cluster.metadata;
  const labels = opts.labels ? { ...opts.labels } : undefined;
  const owners = opts.ownerReferences
    ? opts.ownerReferences.map((r) => ({ ...r }))
    : uid
      ? [controllerReference(cluster)]
      : [];
  return leaves.map((leaf) => {
    const cert = new Certificate({
      metadata: {
        name: certificateName(leaf),
        namespace,
        ...(labels ? { labels } : {}),
        ...(owners.length > 0 ? { ownerReferences: owners } : {}),
      },
      spec: {
        secretName: leaf.secretName,
        ...(labels ? { secretTemplate: { labels } } : {}),
        issuerRef: { name: issuer.name, kind: issuer.kind, group: issuer.group ?? CERT_MANAGER_GROUP },
        commonName: leaf.commonName,
        ...(leaf.dnsNames.length > 0 ? { dnsNames: [...leaf.dnsNames] } : {}),
        duration: goDuration(policy.durationMs),
        renewBefore: goDuration(policy.renewBeforeMs),
        // A renewal gets a new key, as the built-in CA's does.
        privateKey: { algorithm: 'ECDSA', size: 256, encoding: 'PKCS8', rotationPolicy: 'Always' },
        usages: USAGES[leaf.usage],
      },
    });
    cert.validate();
    return cert;
  });
}

/** Milliseconds as a Go duration string cert-manager parses: 2160h, 720h0m0s, 1h30m0s, 1500ms. */
export function goDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`not a duration: ${ms} ms`);
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  const rest = ms % 1000;
  if (rest !== 0) return `${h}h${m}m${s}s${rest}ms`;
  if (m === 0 && s === 0) return `${h}h`;
  return `${h}h${m}m${s}s`;
}

// --- Readiness ----------------------------------------------------------------------------------

/** Why a Certificate is not ready; CamelCase, for the BrokerCluster's conditions. */
export const CertificateWaitReason = {
  /** The Certificate does not exist (yet). */
  CertificateMissing: 'CertificateMissing',
  /** cert-manager has not looked at this generation of the Certificate yet. */
  CertificateNotObserved: 'CertificateNotObserved',
  /** cert-manager is issuing it (or waiting for its issuer). */
  CertificateIssuing: 'CertificateIssuing',
  /** The last issuance failed; cert-manager retries with backoff (1 h, doubling). */
  CertificateIssuanceFailed: 'CertificateIssuanceFailed',
  /** The certificate in the Secret has expired. */
  CertificateExpired: 'CertificateExpired',
} as const;
export type CertificateWaitReason = (typeof CertificateWaitReason)[keyof typeof CertificateWaitReason];

export type CertificateReadiness =
  | { ready: true; name: string; secretName: string; notAfter: string; renewalTime?: string }
  | { ready: false; name: string; reason: CertificateWaitReason; message: string };

interface CertificateCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  observedGeneration?: number;
}

/**
 * Whether cert-manager has issued `cert` (as read from the API server): its Ready condition is
 * True for the current generation and notAfter is still ahead of `now`. `name` is the expected
 * Certificate name, used when `cert` is undefined.
 */
export function certificateReadiness(name: string, cert: ICertificate | undefined, now: number): CertificateReadiness {
  if (!cert) return { ready: false, name, reason: CertificateWaitReason.CertificateMissing, message: `Certificate ${name} does not exist yet` };
  const status = cert.status ?? {};
  const conditions = (status.conditions ?? []) as CertificateCondition[];
  const ready = conditions.find((c) => c.type === 'Ready');
  const issuing = conditions.find((c) => c.type === 'Issuing');
  const generation = cert.metadata?.generation;
  const said = (c: CertificateCondition | undefined) => (c?.message ? `: ${c.message}` : '');

  if (generation !== undefined && ready?.observedGeneration !== undefined && ready.observedGeneration < generation) {
    return { ready: false, name, reason: CertificateWaitReason.CertificateNotObserved, message: `cert-manager has not yet observed generation ${generation} of Certificate ${name}` };
  }
  const notAfter = status.notAfter;
  if (ready?.status === 'True' && notAfter) {
    if (Date.parse(notAfter) <= now) {
      return { ready: false, name, reason: CertificateWaitReason.CertificateExpired, message: `Certificate ${name} expired at ${notAfter}` };
    }
    return { ready: true, name, secretName: cert.spec?.secretName ?? name, notAfter, ...(status.renewalTime ? { renewalTime: status.renewalTime } : {}) };
  }
  // cert-manager sets Issuing=False with reason Failed (and lastFailureTime) when an issuance failed.
  if (status.lastFailureTime && !(issuing?.status === 'True')) {
    const failures = status.failedIssuanceAttempts ? ` (${status.failedIssuanceAttempts} attempts)` : '';
    return { ready: false, name, reason: CertificateWaitReason.CertificateIssuanceFailed, message: `issuing Certificate ${name} failed at ${status.lastFailureTime}${failures}${said(issuing ?? ready)}` };
  }
  if (notAfter && Date.parse(notAfter) <= now) {
    return { ready: false, name, reason: CertificateWaitReason.CertificateExpired, message: `Certificate ${name} expired at ${notAfter}` };
  }
  return { ready: false, name, reason: CertificateWaitReason.CertificateIssuing, message: `Certificate ${name} is not ready${said(ready ?? issuing)}` };
}

/**
 * Readiness of all a cluster's Certificates, in `names` order: ready when every one is. `get`
 * looks a Certificate up (from the operator's cache).
 */
export function certificatesReadiness(names: readonly string[], get: (name: string) => ICertificate | undefined, now: number): { ready: boolean; certificates: CertificateReadiness[] } {
  const certificates = names.map((n) => certificateReadiness(n, get(n), now));
  return { ready: certificates.every((c) => c.ready), certificates };
}

// --- The CertificateSource -----------------------------------------------------------------------

/** Event reasons of cert-manager mode. */
export const CertManagerEventReason = {
  /** The operator created a Certificate for cert-manager to issue. */
  CertificateRequested: 'CertificateRequested',
} as const;

/** How often to look again while cert-manager has not issued everything (its status changes also trigger a reconcile, through the watch on owned Certificates). */
export const CERT_MANAGER_POLL_MS = 30_000;

/** Keys the brokers load from each Secret. */
const SECRET_KEYS = ['tls.crt', 'tls.key', 'ca.crt'] as const;

/**
 * cert-manager mode as the BrokerCluster reconciler's CertificateSource: the objects to apply are
 * the Certificates; ready when cert-manager has issued every one and its Secret holds tls.crt,
 * tls.key and ca.crt (an issuer that does not publish its CA, such as ACME, leaves ca.crt out:
 * the internal listener's mTLS cannot work without it, so the cluster waits, saying why).
 */
export function certManagerCertificateSource(): CertificateSource {
  return {
    mode: 'certManager',
    async reconcile(request: CertificateRequest, reader: CertificateReader): Promise<CertificateOutcome> {
      const { cluster, now } = request;
      const leaves = leafCertificates(cluster, request.identity);
      const desired = certManagerCertificates(cluster, leaves, { labels: request.labels, ownerReferences: request.ownerReferences });
      const events: CertificateOutcome['events'] = [];
      const certificates: CertificateState[] = [];
      const waiting: string[] = [];
      const issuer = cluster.spec.tls?.certManager?.issuerRef;
      for (const leaf of leaves) {
        const name = certificateName(leaf);
        const live = await reader.object<KubeObject & ICertificate>(KINDS.certificate, name);
        if (!live) {
          // The reconciler applies it right after this: say what happens next, not that it is missing.
          events.push({ reason: CertManagerEventReason.CertificateRequested, message: `created Certificate ${name} for cert-manager (${issuer?.kind} ${issuer?.name})` });
          certificates.push({ name: leaf.id, secretName: leaf.secretName });
          waiting.push(`Certificate ${name} requested from ${issuer?.kind} ${issuer?.name}`);
          continue;
        }
        const readiness = certificateReadiness(name, live, now);
        if (!readiness.ready) {
          certificates.push({ name: leaf.id, secretName: leaf.secretName });
          waiting.push(readiness.message);
          continue;
        }
        certificates.push({ name: leaf.id, secretName: leaf.secretName, notAfter: readiness.notAfter, ...(readiness.renewalTime ? { renewalTime: readiness.renewalTime } : {}) });
        const secret = await reader.secret(leaf.secretName);
        const missing = SECRET_KEYS.filter((k) => !secret?.data?.[k]);
        if (missing.length > 0) waiting.push(`Secret ${leaf.secretName} of Certificate ${name} has no ${missing.join(', ')}${missing.includes('ca.crt') ? ': the issuer does not publish its CA, which the brokers need (use a CA, Vault or self-signed-CA issuer)' : ''}`);
      }
      const ready = waiting.length === 0;
      return {
        objects: desired.map((c) => c.toJSON() as unknown as KubeObject),
        ready,
        message: ready ? 'cert-manager has issued every certificate' : `waiting for cert-manager: ${waiting.join('; ')}`,
        certificates,
        ...(ready ? {} : { requeueAfterMs: CERT_MANAGER_POLL_MS }),
        events,
      };
    },
  };
}
