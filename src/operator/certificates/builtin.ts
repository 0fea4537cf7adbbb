// Built-in CA mode: the operator is the cluster's CA. Gather the Secrets, plan (plan.ts, pure),
// carry the plan out with src/pki, and hand back the Secrets to apply.
//
// Secrets (kubernetes.io/tls), in the cluster's namespace:
//   <cluster>-ca            tls.crt, tls.key   the current CA
//                           ca.crt             the trust bundle: current, plus next or previous during a rotation
//                           next.crt, next.key the next CA, between introduce and promote (annotation
//                                              bulwark.dev/next-ca-introduced-at)
//                           previous.crt       the replaced CA, until dropped (annotation bulwark.dev/previous-ca-promoted-at)
//                           annotation bulwark.dev/rotate-ca-handled: the BrokerCluster's last
//                           bulwark.dev/rotate-ca value acted on; a new value starts a rotation now
//   <cluster>-tls           tls.crt, tls.key, ca.crt   the client listeners' certificate
//   <cluster>-internal-tls  tls.crt, tls.key, ca.crt   the internal listener's certificate
//   <cluster>-operator-tls  tls.crt, tls.key, ca.crt   the operator's client certificate (CN = its identity)
// Renewing rewrites a leaf Secret in place; the brokers reload the files the kubelet updates, so
// no pod restarts (the pod template's config hash never includes certificates).
import { createCa, issueCertificate } from '../../pki/index.ts';
import { type CertificateIdentity, certificateSecretNames, LEAF_IDS, type LeafCertificate, type LeafId, leafCertificates } from './leaves.ts';
import {
  type CaStep,
  certificatePolicy,
  type IssueReason,
  type ObservedCa,
  type ObservedCertificate,
  type ObservedCertificates,
  type ObservedLeaf,
  observeCertificate,
  planCertificates,
  signerOf,
} from './plan.ts';
import type { CertificateOutcome, CertificateReader, CertificateRequest, CertificateSource, CertificateState, SecretObject } from './source.ts';

export const NEXT_CA_ANNOTATION = 'bulwark.dev/next-ca-introduced-at';
export const PREVIOUS_CA_ANNOTATION = 'bulwark.dev/previous-ca-promoted-at';
/** On the BrokerCluster: a new value (any text, a date say) starts a CA rotation now, with the usual overlap. */
export const ROTATE_CA_ANNOTATION = 'bulwark.dev/rotate-ca';
/** On the CA Secret: the rotate-ca value last acted on. */
export const ROTATE_CA_HANDLED_ANNOTATION = 'bulwark.dev/rotate-ca-handled';

/** Event reasons of the built-in CA. */
export const CertificateEventReason = {
  CaCreated: 'CaCreated',
  CaRotationStarted: 'CaRotationStarted',
  CaPromoted: 'CaPromoted',
  PreviousCaDropped: 'PreviousCaDropped',
  CertificateIssued: 'CertificateIssued',
  CertificateRenewed: 'CertificateRenewed',
} as const;

const decode = (b64: string | undefined): string | undefined => (b64 === undefined ? undefined : Buffer.from(b64, 'base64').toString('utf8'));
const encode = (text: string): string => Buffer.from(text, 'utf8').toString('base64');
const iso = (ms: number): string => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

/** What the CA Secret holds; anything unreadable counts as absent. */
export function observeCaSecret(secret: SecretObject | undefined): ObservedCa {
  const d = secret?.data ?? {};
  const ann = secret?.metadata.annotations ?? {};
  const out: ObservedCa = {};
  const current = observeCertificate(decode(d['tls.crt']));
  const currentKey = decode(d['tls.key']);
  if (current && currentKey) out.current = { ...current, keyPem: currentKey };
  const next = observeCertificate(decode(d['next.crt']));
  const nextKey = decode(d['next.key']);
  const introducedAt = Date.parse(ann[NEXT_CA_ANNOTATION] ?? '');
  if (out.current && next && nextKey && Number.isFinite(introducedAt)) out.next = { ...next, keyPem: nextKey, introducedAt };
  const previous = observeCertificate(decode(d['previous.crt']));
  const promotedAt = Date.parse(ann[PREVIOUS_CA_ANNOTATION] ?? '');
  if (out.current && previous && Number.isFinite(promotedAt)) out.previous = { ...previous, promotedAt };
  return out;
}

export function observeLeafSecret(secret: SecretObject | undefined, ca: ObservedCa): ObservedLeaf | undefined {
  const cert = observeCertificate(decode(secret?.data?.['tls.crt']));
  const keyPem = decode(secret?.data?.['tls.key']);
  if (!cert || !keyPem) return undefined;
  return { cert, keyPem, signedBy: signerOf(cert.pem, ca) };
}

interface CaPem {
  certPem: string;
  keyPem: string;
}
interface CaState {
  current: CaPem & { cert: ObservedCertificate };
  next?: CaPem & { cert: ObservedCertificate; introducedAt: number };
  previous?: { certPem: string; promotedAt: number };
}

/** The built-in CA as a CertificateSource. */
export function builtinCertificateSource(): CertificateSource {
  return {
    mode: 'builtin',
    async reconcile(request: CertificateRequest, reader: CertificateReader): Promise<CertificateOutcome> {
      const { cluster, now } = request;
      const names = certificateSecretNames(cluster.metadata.name);
      const policy = certificatePolicy(cluster.spec.tls);
      const desired = leafCertificates(cluster, request.identity);

      const caSecret = await reader.secret(names.ca);
      // A rotation asked for by a value not yet acted on. Whatever the plan does with it (a new CA
      // now; or the one being created, or a rotation already under way), it is then acted on.
      const asked = request.rotateCa || undefined;
      const handled = caSecret?.metadata.annotations?.[ROTATE_CA_HANDLED_ANNOTATION];
      const observed: ObservedCertificates = { ca: observeCaSecret(caSecret), leaves: {}, rotationRequested: asked !== undefined && asked !== handled };
      const leafSecrets = new Map<LeafId, SecretObject | undefined>();
      for (const leaf of desired) {
        const s = await reader.secret(leaf.secretName);
        leafSecrets.set(leaf.id, s);
        const seen = observeLeafSecret(s, observed.ca);
        if (seen) observed.leaves[leaf.id] = seen;
      }

      const plan = planCertificates(now, policy, desired, observed);
      const events: CertificateOutcome['events'] = [];
      const caName = `${cluster.metadata.name}.${cluster.metadata.namespace} CA`.slice(0, 64);
      const newCa = async () => {
        const pair = await createCa({ commonName: caName, validMs: policy.caDurationMs, now: new Date(now) });
        return { ...pair, cert: observeCertificate(pair.certPem)! };
      };

      let state: CaState | undefined = observed.ca.current ? fromObserved(observed.ca) : undefined;
      const askedNow = observed.rotationRequested ? asked : undefined;
      for (const step of plan.ca) state = await caStep(step, state, newCa, now, events, askedNow);
      const ca = state!;
      const bundle = [ca.current.certPem, ca.next?.certPem, ca.previous?.certPem].filter((p): p is string => p !== undefined).join('');

      const leafPems = new Map<LeafId, { certPem: string; keyPem: string }>();
      for (const leaf of desired) {
        const seen = observed.leaves[leaf.id];
        if (seen) leafPems.set(leaf.id, { certPem: seen.cert.pem, keyPem: seen.keyPem });
      }
      for (const { id, reason } of plan.issue) {
        const leaf = desired.find((l) => l.id === id)!;
        leafPems.set(id, await issueLeaf(leaf, ca.current, policy.durationMs, now));
        events.push(leafEvent(leaf, reason));
      }

      const meta = (name: string, annotations?: Record<string, string>) => ({
        name,
        namespace: cluster.metadata.namespace,
        labels: { ...request.labels },
        ...(annotations && Object.keys(annotations).length > 0 ? { annotations } : {}),
        ownerReferences: [...request.ownerReferences],
      });
      const caData: Record<string, string> = { 'tls.crt': encode(ca.current.certPem), 'tls.key': encode(ca.current.keyPem), 'ca.crt': encode(bundle) };
      const caAnnotations: Record<string, string> = {};
      const lastHandled = asked ?? handled;
      if (lastHandled !== undefined) caAnnotations[ROTATE_CA_HANDLED_ANNOTATION] = lastHandled;
      if (ca.next) {
        caData['next.crt'] = encode(ca.next.certPem);
        caData['next.key'] = encode(ca.next.keyPem);
        caAnnotations[NEXT_CA_ANNOTATION] = iso(ca.next.introducedAt);
      }
      if (ca.previous) {
        caData['previous.crt'] = encode(ca.previous.certPem);
        caAnnotations[PREVIOUS_CA_ANNOTATION] = iso(ca.previous.promotedAt);
      }
      const objects: SecretObject[] = [{ apiVersion: 'v1', kind: 'Secret', metadata: meta(names.ca, caAnnotations), type: 'kubernetes.io/tls', data: caData }];
      const certificates: CertificateState[] = [{ name: 'ca', secretName: names.ca, notAfter: iso(ca.current.cert.notAfter), renewalTime: iso(ca.current.cert.notAfter - policy.caRenewBeforeMs) }];
      for (const leaf of desired) {
        const pem = leafPems.get(leaf.id)!;
        const cert = observeCertificate(pem.certPem)!;
        objects.push({ apiVersion: 'v1', kind: 'Secret', metadata: meta(leaf.secretName), type: 'kubernetes.io/tls', data: { 'tls.crt': encode(pem.certPem), 'tls.key': encode(pem.keyPem), 'ca.crt': encode(bundle) } });
        certificates.push({ name: leaf.id, secretName: leaf.secretName, notAfter: iso(cert.notAfter), renewalTime: iso(cert.notAfter - policy.renewBeforeMs) });
      }
      certificates.sort((a, b) => order(a.name) - order(b.name));
      return { objects, ready: true, message: 'certificates issued by the built-in CA', certificates, requeueAfterMs: Math.max(1000, plan.nextCheckAt - now), events };
    },
  };
}

const order = (name: CertificateState['name']) => (name === 'ca' ? -1 : LEAF_IDS.indexOf(name));

function fromObserved(o: ObservedCa): CaState {
  const c = o.current!;
  return {
    current: { certPem: c.pem, keyPem: c.keyPem, cert: c },
    ...(o.next ? { next: { certPem: o.next.pem, keyPem: o.next.keyPem, cert: o.next, introducedAt: o.next.introducedAt } } : {}),
    ...(o.previous ? { previous: { certPem: o.previous.pem, promotedAt: o.previous.promotedAt } } : {}),
  };
}

async function caStep(step: CaStep, state: CaState | undefined, newCa: () => Promise<CaPem & { cert: ObservedCertificate }>, now: number, events: CertificateOutcome['events'], asked?: string): Promise<CaState> {
  switch (step) {
    case 'create': {
      const current = await newCa();
      events.push({ reason: CertificateEventReason.CaCreated, message: `created the cluster CA, valid until ${iso(current.cert.notAfter)}` });
      return { current };
    }
    case 'introduceNext': {
      const next = await newCa();
      const why = asked !== undefined ? `asked for (${ROTATE_CA_ANNOTATION}: ${JSON.stringify(asked.slice(0, 64))})` : `the CA expires ${iso(state!.current.cert.notAfter)}`;
      events.push({ reason: CertificateEventReason.CaRotationStarted, message: `${why}: a new CA is trusted from now on (ca.crt carries both) and signs certificates after the overlap` });
      return { current: state!.current, next: { ...next, introducedAt: now } };
    }
    case 'promoteNext': {
      const s = state!;
      events.push({ reason: CertificateEventReason.CaPromoted, message: 'the new CA now signs every certificate; the old one stays trusted until every certificate is re-signed' });
      return { current: { certPem: s.next!.certPem, keyPem: s.next!.keyPem, cert: s.next!.cert }, previous: { certPem: s.current.certPem, promotedAt: now } };
    }
    case 'dropPrevious': {
      events.push({ reason: CertificateEventReason.PreviousCaDropped, message: 'every certificate is signed by the current CA: the previous CA is no longer trusted' });
      return { current: state!.current, ...(state!.next ? { next: state!.next } : {}) };
    }
  }
}

async function issueLeaf(leaf: LeafCertificate, ca: CaPem, durationMs: number, now: number) {
  return issueCertificate({
    ca: { certPem: ca.certPem, keyPem: ca.keyPem },
    commonName: leaf.commonName,
    dnsNames: leaf.dnsNames,
    usage: leaf.usage,
    validMs: durationMs,
    now: new Date(now),
  });
}

function leafEvent(leaf: LeafCertificate, reason: IssueReason): { reason: string; message: string } {
  const what = `${leaf.id} certificate (Secret ${leaf.secretName})`;
  switch (reason) {
    case 'Missing':
      return { reason: CertificateEventReason.CertificateIssued, message: `issued the ${what}` };
    case 'Expiring':
      return { reason: CertificateEventReason.CertificateRenewed, message: `renewed the ${what}: it reached its renewal time` };
    case 'NamesChanged':
      return { reason: CertificateEventReason.CertificateRenewed, message: `re-issued the ${what}: the names it must cover changed` };
    case 'NotSignedByCurrentCa':
      return { reason: CertificateEventReason.CertificateRenewed, message: `re-issued the ${what}: it was not signed by the current CA` };
  }
}

export type { CertificateIdentity };
