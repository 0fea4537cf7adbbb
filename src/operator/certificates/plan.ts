// The built-in CA's decisions, as pure functions of the time and what the Secrets hold: which
// certificates to issue, when the CA rotates, and when to look again. Table-tested with an
// injected clock (test/operator-certificates.test.ts).
//
// Lifetimes (all from spec.tls; defaults in CERTIFICATE_DEFAULTS):
//   leaf        duration (2160h), renewed at notAfter - renewBefore (a third of duration)
//   CA          10 × duration; rotation starts at notAfter - 3 × duration
// CA rotation, in three steps so that nobody ever sees a certificate it does not trust:
//   1 introduce  a next CA is made (at the CA's age, or at once when the BrokerCluster's
//                bulwark.dev/rotate-ca asks); every ca.crt carries current + next; leaves stay.
//                Clients that copy ca.crt have `duration` to pick up the bundle.
//   2 promote    duration later: next becomes current, the old one becomes previous (ca.crt:
//                current + previous), and every leaf is re-signed by the new CA.
//   3 drop       once every leaf is signed by the current CA and renewBefore has passed since
//                the newest of them, previous is dropped from ca.crt. renewBefore is the time a
//                tls user's application is given to take any renewed certificate; a CA promotion
//                re-issues the users' certificates too, so it gives them the same.
import { X509Certificate } from 'node:crypto';
import type { BrokerCluster } from '../../api/index.ts';
import { LEAF_IDS, type LeafCertificate, type LeafId } from './leaves.ts';

const NS_PER_UNIT: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go duration string (2160h, 1h30m, 90m, 500ms) in milliseconds; undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  if (!/^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/.test(text)) return undefined;
  let ms = 0;
  for (const m of text.matchAll(/([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)/g)) ms += Number(m[1]) * NS_PER_UNIT[m[2]!]!;
  return Math.round(ms);
}

export const CERTIFICATE_DEFAULTS = { duration: '2160h' } as const;
const HOUR_MS = 3_600_000;
/** src/pki backdates notBefore by five minutes. */
const LEAF_BACKDATE_MS = 5 * 60_000;

export interface CertificatePolicy {
  durationMs: number;
  renewBeforeMs: number;
  caDurationMs: number;
  /** Rotation of the CA starts this long before it expires. */
  caRenewBeforeMs: number;
  /** Between introducing the next CA and signing leaves with it. */
  caOverlapMs: number;
  /** Between re-signing every leaf and dropping the previous CA from ca.crt: the time a client has to take its re-issued certificate. */
  previousGraceMs: number;
}

/** The lifetimes of spec.tls (the CRD's CEL rules have checked the durations). */
export function certificatePolicy(tls: BrokerCluster['spec']['tls']): CertificatePolicy {
  const durationMs = Math.max(HOUR_MS, parseDuration(tls?.duration ?? CERTIFICATE_DEFAULTS.duration) ?? 0);
  const asked = tls?.renewBefore !== undefined ? parseDuration(tls.renewBefore) : undefined;
  const renewBeforeMs = asked !== undefined && asked > 0 && asked < durationMs ? asked : Math.floor(durationMs / 3);
  return {
    durationMs,
    renewBeforeMs,
    caDurationMs: 10 * durationMs,
    caRenewBeforeMs: 3 * durationMs,
    caOverlapMs: durationMs,
    previousGraceMs: renewBeforeMs,
  };
}

// --- What the Secrets hold ----------------------------------------------------------------------

export interface ObservedCertificate {
  pem: string;
  notBefore: number;
  notAfter: number;
  /** SHA-256 fingerprint, to tell certificates apart. */
  fingerprint: string;
  commonName: string;
  dnsNames: string[];
}

export interface ObservedCa {
  current?: ObservedCertificate & { keyPem: string };
  /** Introduced, not yet signing. */
  next?: ObservedCertificate & { keyPem: string; introducedAt: number };
  /** Replaced, still trusted until every leaf is re-signed and the grace has passed. */
  previous?: ObservedCertificate & { promotedAt: number };
}

export interface ObservedLeaf {
  cert: ObservedCertificate;
  keyPem: string;
  /** Fingerprint of the CA that signed it, when it is one of the observed CAs. */
  signedBy: 'current' | 'next' | 'previous' | 'unknown';
}

export interface ObservedCertificates {
  ca: ObservedCa;
  leaves: Partial<Record<LeafId, ObservedLeaf>>;
  /** A rotation asked for now (the BrokerCluster's bulwark.dev/rotate-ca, not yet acted on), rather than at the CA's age. */
  rotationRequested?: boolean;
}

/** Parses one PEM certificate; undefined when it does not parse. */
export function observeCertificate(pem: string | undefined): ObservedCertificate | undefined {
  if (!pem) return undefined;
  try {
    const cert = new X509Certificate(pem);
    const dnsNames = (cert.subjectAltName ?? '')
      .split(', ')
      .filter((s) => s.startsWith('DNS:'))
      .map((s) => s.slice(4));
    const commonName = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1] ?? '';
    return { pem, notBefore: Date.parse(cert.validFrom), notAfter: Date.parse(cert.validTo), fingerprint: cert.fingerprint256, commonName, dnsNames };
  } catch {
    return undefined;
  }
}

/** Which of the CAs signed `leafPem`, checked by signature, not by name. */
export function signerOf(leafPem: string, ca: ObservedCa): ObservedLeaf['signedBy'] {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(leafPem);
  } catch {
    return 'unknown';
  }
  for (const which of ['current', 'next', 'previous'] as const) {
    const c = ca[which];
    if (!c) continue;
    const authority = new X509Certificate(c.pem);
    if (leaf.checkIssued(authority) && leaf.verify(authority.publicKey)) return which;
  }
  return 'unknown';
}

// --- The plan ---------------------------------------------------------------------------------

export const IssueReason = {
  Missing: 'Missing',
  Expiring: 'Expiring',
  NamesChanged: 'NamesChanged',
  /** Signed by a CA that is not the current one (after a promotion, or a CA the operator did not make). */
  NotSignedByCurrentCa: 'NotSignedByCurrentCa',
} as const;
export type IssueReason = (typeof IssueReason)[keyof typeof IssueReason];

export type CaStep = 'create' | 'introduceNext' | 'promoteNext' | 'dropPrevious';

export interface CertificatePlan {
  /** CA steps, in order. */
  ca: CaStep[];
  issue: { id: LeafId; reason: IssueReason }[];
  /** When to look again (ms since the epoch): the next renewal or rotation step. */
  nextCheckAt: number;
}

/**
 * What to do now. `desired` are the leaves the cluster needs (leafCertificates); `observed` what
 * the Secrets hold. The plan is applied in order: CA steps first, then leaf issues against the
 * CA that is current after them.
 */
export function planCertificates(now: number, policy: CertificatePolicy, desired: readonly LeafCertificate[], observed: ObservedCertificates): CertificatePlan {
  const ca: CaStep[] = [];
  const times: number[] = [];
  const { current, next, previous } = observed.ca;
  let promoted = false;

  if (!current) {
    ca.push('create');
    promoted = true; // every leaf must be signed by the new CA
    times.push(now + policy.caDurationMs - policy.caRenewBeforeMs);
  } else if (now >= current.notAfter && !next) {
    // The CA expired (the operator was away): nothing it signed is valid any more, so replace it at once.
    ca.push('introduceNext', 'promoteNext');
    promoted = true;
    times.push(now + policy.caDurationMs - policy.caRenewBeforeMs);
  } else if (next) {
    const promoteAt = next.introducedAt + policy.caOverlapMs;
    // A current CA that expires before the overlap ends is promoted at once: an expired CA helps nobody.
    if (now >= promoteAt || now >= current.notAfter) {
      ca.push('promoteNext');
      promoted = true;
    } else times.push(Math.min(promoteAt, current.notAfter));
  } else {
    const introduceAt = current.notAfter - policy.caRenewBeforeMs;
    // Asked for, a rotation starts now, unless the last one is still dropping its previous CA
    // (ca.crt would hold three CAs): the request is that rotation's, already under way.
    if (now >= introduceAt || (observed.rotationRequested && !previous)) {
      ca.push('introduceNext');
      times.push(now + policy.caOverlapMs);
    } else times.push(introduceAt);
  }

  const issue: CertificatePlan['issue'] = [];
  for (const leaf of desired) {
    const seen = observed.leaves[leaf.id];
    const renewAt = seen ? seen.cert.notAfter - policy.renewBeforeMs : 0;
    const reason: IssueReason | undefined = !seen
      ? IssueReason.Missing
      : promoted || seen.signedBy !== 'current'
        ? IssueReason.NotSignedByCurrentCa
        : !sameNames(seen.cert, leaf)
          ? IssueReason.NamesChanged
          : now >= renewAt
            ? IssueReason.Expiring
            : undefined;
    if (reason) {
      issue.push({ id: leaf.id, reason });
      times.push(now + Math.max(policy.durationMs - policy.renewBeforeMs, 1000));
    } else times.push(renewAt);
  }
  issue.sort((a, b) => LEAF_IDS.indexOf(a.id) - LEAF_IDS.indexOf(b.id));

  // After a promotion the old CA stays trusted until every leaf is signed by the current CA and
  // the newest of them has had the grace period to reach everyone who presents one: the pods (the
  // kubelet updates mounted Secrets within a minute or two) and the tls users' applications,
  // whose certificates were re-issued at the promotion. A leaf issued now postpones the drop.
  // An expired previous CA verifies nothing: it goes at once.
  if (previous && !promoted) {
    const leavesOnCurrent = issue.length === 0 && desired.every((l) => observed.leaves[l.id]?.signedBy === 'current');
    const newestLeaf = Math.max(previous.promotedAt, ...desired.map((l) => (observed.leaves[l.id]?.cert.notBefore ?? 0) + LEAF_BACKDATE_MS));
    const dropAt = newestLeaf + policy.previousGraceMs;
    if (now >= previous.notAfter || (leavesOnCurrent && now >= dropAt)) ca.push('dropPrevious');
    else times.push(Math.max(leavesOnCurrent ? dropAt : now + policy.previousGraceMs, now + 1000));
  }
  if (promoted && !ca.includes('create')) times.push(current && now >= current.notAfter ? now + 1000 : now + policy.previousGraceMs);

  return { ca, issue, nextCheckAt: Math.min(...times) };
}

function sameNames(cert: ObservedCertificate, leaf: LeafCertificate): boolean {
  if (cert.commonName !== leaf.commonName) return false;
  const a = [...cert.dnsNames].sort();
  const b = [...leaf.dnsNames].sort();
  return a.length === b.length && a.every((n, i) => n === b[i]);
}
