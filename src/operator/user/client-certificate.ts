// Client certificates of `tls` Users: which names the certificate carries so that the broker
// reads it as the user (userCertificateSubject), and the certificate itself, signed by the
// cluster's built-in CA (planUserCertificate) or asked of cert-manager (userCertManagerCertificate).
// Pure apart from key generation: the User reconciler gathers the CA Secret and the user's
// current certificate, and applies what comes back.
//
// Contract:
// - The identity is spec.authentication.certificateSubject ?? username (as src/policy/compile.ts
//   has it). The cluster's spec.authentication.certificatePrincipal {source, prefix} says where the
//   broker reads it (src/auth/certificate-identity.ts) and what it strips, so the certificate
//   carries prefix + identity in that one field: the CN, one SAN DNS name, or one SAN URI. In the
//   SAN modes the CN is the username (cut to 64): readable, and ignored by the broker.
// - An identity that cannot be put in that field is an error value naming the field (a Stalled
//   reason for the User), never a certificate the broker would read as someone else or no one.
// - Lifetimes are the cluster's (certificatePolicy of spec.tls), as for the brokers' own leaves;
//   keys are ECDSA P-256 from src/pki, renewed with every certificate; extended key usage is
//   clientAuth only. Signed by the CA Secret's current CA (tls.crt, tls.key); clients get the
//   Secret's trust bundle (ca.crt) to verify the brokers.
// - Renewal (built-in mode), in this order, as planCertificates does for the brokers' leaves:
//   Missing (none, unreadable, key not matching, not a client certificate), NotSignedByCurrentCa
//   (the CA rotated or was replaced), NamesChanged (the subject above changed), Expiring (at
//   notAfter - renewBefore).
import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { BrokerCluster, User } from '../../api/index.ts';
import {
  CERT_MANAGER_GROUP,
  CertManagerCertificate,
  type CertificatePolicy,
  certificatePolicy,
  certificateSecretNames,
  goDuration,
  IssueReason,
  observeCaSecret,
  type ObservedCa,
  type SecretObject,
  signerOf,
} from '../certificates/index.ts';
import type { OwnerReference } from '../controller/index.ts';
import { certificateNames, issueCertificate } from '../../pki/index.ts';

// --- The subject --------------------------------------------------------------------------------

export type CertificatePrincipalSource = 'commonName' | 'sanDns' | 'sanUri';

export interface UserCertificateSubject {
  /** What the broker reads from the certificate once it strips the prefix: the user's certificate identity. */
  identity: string;
  /** Where the broker reads it, and the prefix it strips. */
  source: CertificatePrincipalSource;
  prefix: string;
  commonName: string;
  dnsNames: string[];
  uris: string[];
}

/** Why a User's identity cannot be put in its certificate; CamelCase, for the User's Stalled condition. */
export const UserCertificateReason = {
  /** Longer than the field holds: 64 characters for a CN, 253 for a DNS name, 2048 for a URI. */
  CertificateSubjectTooLong: 'CertificateSubjectTooLong',
  /** Control characters, which no certificate field the broker reads may carry. */
  CertificateSubjectNotPrintable: 'CertificateSubjectNotPrintable',
  /** The cluster reads SAN DNS names and prefix + identity is not a DNS name. */
  CertificateSubjectNotDnsName: 'CertificateSubjectNotDnsName',
  /** The cluster reads SAN URIs and prefix + identity is not an absolute URI of printable ASCII. */
  CertificateSubjectNotUri: 'CertificateSubjectNotUri',
} as const;
export type UserCertificateReason = (typeof UserCertificateReason)[keyof typeof UserCertificateReason];

export interface UserCertificateSubjectError {
  ok: false;
  reason: UserCertificateReason;
  /** The certificate field the cluster's certificatePrincipal.source names. */
  field: CertificatePrincipalSource;
  /** The User field the identity comes from: spec.authentication.certificateSubject, spec.username or metadata.name. */
  path: string;
  message: string;
}

export type UserCertificateSubjectResult = { ok: true; subject: UserCertificateSubject } | UserCertificateSubjectError;

/** X.520's upper bound for a common name, as src/pki enforces it. */
const MAX_CN = 64;
const MAX_DNS = 253;
const MAX_URI = 2048;
/** C0, DEL and C1: the broker refuses an identity with any of them (certificate-identity.ts). */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
/** Letters, digits and hyphens, labels of 1 to 63; no wildcard (a wildcard names no one). */
const DNS_NAME = /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;
/** A SAN URI is an IA5String: printable ASCII, no spaces. */
const URI_CHARS = /^[\x21-\x7e]+$/;

export function userCertificateUsername(user: User): string {
  return user.spec.username ?? user.metadata.name;
}

/** The names `user`'s client certificate must carry for `cluster`'s brokers to read it as the user. */
export function userCertificateSubject(cluster: BrokerCluster, user: User): UserCertificateSubjectResult {
  const username = userCertificateUsername(user);
  const identity = user.spec.authentication.certificateSubject ?? username;
  const path = user.spec.authentication.certificateSubject !== undefined ? 'spec.authentication.certificateSubject' : user.spec.username !== undefined ? 'spec.username' : 'metadata.name';
  const principal = cluster.spec.authentication?.certificatePrincipal;
  const source: CertificatePrincipalSource = principal?.source ?? 'commonName';
  const prefix = principal?.prefix ?? '';
  const value = prefix + identity;
  const where = `BrokerCluster ${cluster.metadata.name} reads a client certificate's identity from its ${FIELD_NAMES[source]}${prefix ? ` after the prefix ${JSON.stringify(prefix)}` : ''}`;
  const fail = (reason: UserCertificateReason, why: string): UserCertificateSubjectError => ({ ok: false, reason, field: source, path, message: `${where}: ${why}` });

  if (CONTROL.test(value)) return fail(UserCertificateReason.CertificateSubjectNotPrintable, `the identity ${JSON.stringify(identity)} (${path}) contains control characters`);
  const subject = { identity, source, prefix, commonName: username.slice(0, MAX_CN), dnsNames: [] as string[], uris: [] as string[] };
  switch (source) {
    case 'commonName':
      if (value.length > MAX_CN) return fail(UserCertificateReason.CertificateSubjectTooLong, `${describeIdentity(prefix, identity, path)} is ${value.length} characters; a common name holds at most ${MAX_CN}`);
      return { ok: true, subject: { ...subject, commonName: value } };
    case 'sanDns':
      if (value.length > MAX_DNS) return fail(UserCertificateReason.CertificateSubjectTooLong, `${describeIdentity(prefix, identity, path)} is ${value.length} characters; a DNS name holds at most ${MAX_DNS}`);
      if (!DNS_NAME.test(value)) return fail(UserCertificateReason.CertificateSubjectNotDnsName, `${describeIdentity(prefix, identity, path)}, ${JSON.stringify(value)}, is not a DNS name (labels of letters, digits and hyphens)`);
      return { ok: true, subject: { ...subject, dnsNames: [value] } };
    case 'sanUri':
      if (value.length > MAX_URI) return fail(UserCertificateReason.CertificateSubjectTooLong, `${describeIdentity(prefix, identity, path)} is ${value.length} characters; a URI holds at most ${MAX_URI}`);
      if (!isAbsoluteUri(value)) return fail(UserCertificateReason.CertificateSubjectNotUri, `${describeIdentity(prefix, identity, path)}, ${JSON.stringify(value)}, is not an absolute URI of printable ASCII`);
      return { ok: true, subject: { ...subject, uris: [value] } };
  }
}

const FIELD_NAMES: Record<CertificatePrincipalSource, string> = { commonName: 'subject common name', sanDns: 'SAN DNS name', sanUri: 'SAN URI' };

const describeIdentity = (prefix: string, identity: string, path: string) => (prefix ? `the prefix plus the identity ${JSON.stringify(identity)} (${path})` : `the identity ${JSON.stringify(identity)} (${path})`);

function isAbsoluteUri(uri: string): boolean {
  if (!URI_CHARS.test(uri) || !/^[a-z][a-z0-9+.-]*:/i.test(uri)) return false;
  try {
    return new URL(uri).protocol.length > 1;
  } catch {
    return false;
  }
}

// --- Built-in CA mode ---------------------------------------------------------------------------

export interface UserCertificateInput {
  cluster: BrokerCluster;
  user: User;
  /** The cluster's CA Secret (`<cluster>-ca`, certificateSecretNames), as read; undefined while it does not exist. */
  caSecret: SecretObject | undefined;
  /** The certificate and key the user's Secret holds now, if any. */
  existing?: { certPem: string; keyPem: string };
  /** Now, in ms since the epoch (the reconciler's clock). */
  now: number;
  /** Lifetimes; left out, certificatePolicy(cluster.spec.tls), as for the brokers' certificates. */
  policy?: CertificatePolicy;
}

export interface UserCertificate {
  certPem: string;
  keyPem: string;
  /** The trust bundle clients verify the brokers with: the CA Secret's ca.crt (current CA, plus next or previous during a rotation). */
  caPem: string;
  subject: UserCertificateSubject;
  /** ms since the epoch. */
  notAfter: number;
  /** When to renew it (ms since the epoch): requeue for then. */
  renewAtMs: number;
}

export const UserCertificateWaitReason = {
  /** The CA Secret holds no usable CA, or its CA has expired: the BrokerCluster reconciler makes or replaces it. */
  ClusterCaNotReady: 'ClusterCaNotReady',
} as const;
export type UserCertificateWaitReason = (typeof UserCertificateWaitReason)[keyof typeof UserCertificateWaitReason];

export type UserCertificatePlan =
  | ({ action: 'reuse' } & UserCertificate)
  | ({ action: 'issue'; reason: IssueReason } & UserCertificate)
  | { action: 'wait'; reason: UserCertificateWaitReason; message: string }
  | ({ action: 'stalled' } & Omit<UserCertificateSubjectError, 'ok'>);

/** extKeyUsage clientAuth. */
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/**
 * Keep the user's certificate, or issue a new one signed by the cluster CA's current CA (a new
 * P-256 key each time). `wait` while there is no usable CA; `stalled` when the identity cannot be
 * put in the certificate.
 */
export async function planUserCertificate(input: UserCertificateInput): Promise<UserCertificatePlan> {
  const { cluster, user, now } = input;
  const subjectResult = userCertificateSubject(cluster, user);
  if (!subjectResult.ok) {
    const { ok: _, ...error } = subjectResult;
    return { action: 'stalled', ...error };
  }
  const subject = subjectResult.subject;
  const policy = input.policy ?? certificatePolicy(cluster.spec.tls);
  const ca = observeCaSecret(input.caSecret);
  const caSecretName = certificateSecretNames(cluster.metadata.name).ca;
  if (!ca.current) return { action: 'wait', reason: UserCertificateWaitReason.ClusterCaNotReady, message: `Secret ${caSecretName} holds no CA yet` };
  if (now >= ca.current.notAfter) {
    return { action: 'wait', reason: UserCertificateWaitReason.ClusterCaNotReady, message: `the CA in Secret ${caSecretName} expired at ${new Date(ca.current.notAfter).toISOString()}; the BrokerCluster replaces it` };
  }
  const bundle = input.caSecret?.data?.['ca.crt'];
  const caPem = bundle ? Buffer.from(bundle, 'base64').toString('utf8') : ca.current.pem;

  const seen = input.existing ? readExisting(input.existing, ca) : undefined;
  const reason: IssueReason | undefined = !seen
    ? IssueReason.Missing
    : seen.signedBy !== 'current'
      ? IssueReason.NotSignedByCurrentCa
      : !sameSubject(seen.der, subject)
        ? IssueReason.NamesChanged
        : now >= renewAt(seen.cert, ca, policy)
          ? IssueReason.Expiring
          : undefined;
  if (!reason) {
    const notAfter = Date.parse(seen!.cert.validTo);
    return { action: 'reuse', certPem: input.existing!.certPem, keyPem: input.existing!.keyPem, caPem, subject, notAfter, renewAtMs: renewAt(seen!.cert, ca, policy) };
  }

  const pair = await issueCertificate({
    ca: { certPem: ca.current.pem, keyPem: ca.current.keyPem },
    commonName: subject.commonName,
    dnsNames: subject.dnsNames,
    uris: subject.uris,
    usage: 'client',
    validMs: policy.durationMs,
    now: new Date(now),
  });
  const cert = new X509Certificate(pair.certPem);
  return { action: 'issue', reason, ...pair, caPem, subject, notAfter: Date.parse(cert.validTo), renewAtMs: renewAt(cert, ca, policy) };
}

interface ExistingCertificate {
  cert: X509Certificate;
  der: Uint8Array;
  signedBy: ReturnType<typeof signerOf>;
}

/** The user's current certificate, when it is one: parses, matches its key, and is for client auth. */
function readExisting(existing: { certPem: string; keyPem: string }, ca: ObservedCa): ExistingCertificate | undefined {
  try {
    const cert = new X509Certificate(existing.certPem);
    if (!cert.checkPrivateKey(createPrivateKey(existing.keyPem))) return undefined;
    if (!(cert.keyUsage ?? []).includes(CLIENT_AUTH)) return undefined;
    return { cert, der: cert.raw, signedBy: signerOf(existing.certPem, ca) };
  } catch {
    return undefined;
  }
}

/** The certificate carries exactly the names wanted, read from its DER as the broker reads them. */
function sameSubject(der: Uint8Array, subject: UserCertificateSubject): boolean {
  const names = certificateNames(der);
  if (!names || names.ipAddresses.length > 0) return false;
  const same = (a: readonly string[], b: readonly string[]) => {
    const x = [...a].sort();
    const y = [...b].sort();
    return x.length === y.length && x.every((v, i) => v === y[i]);
  };
  return same(names.commonNames, [subject.commonName]) && same(names.dnsNames, subject.dnsNames) && same(names.uris, subject.uris);
}

/**
 * notAfter - renewBefore. A certificate cut short by its CA's end (src/pki caps a leaf at its
 * CA's notAfter) is renewed once two thirds of its life have passed, no earlier: a new one from
 * the same CA would end at the same time, so renewing at once would only loop. The CA's own
 * rotation re-signs it (NotSignedByCurrentCa) long before that in a cluster the operator runs.
 */
function renewAt(cert: X509Certificate, ca: ObservedCa, policy: CertificatePolicy): number {
  const notBefore = Date.parse(cert.validFrom);
  const notAfter = Date.parse(cert.validTo);
  const cappedByCa = ca.current !== undefined && notAfter >= ca.current.notAfter && notAfter - notBefore < policy.durationMs;
  const before = cappedByCa ? Math.min(policy.renewBeforeMs, Math.floor((notAfter - notBefore) / 3)) : policy.renewBeforeMs;
  return notAfter - before;
}

// --- cert-manager mode --------------------------------------------------------------------------

export interface UserCertManagerCertificateOptions {
  /** Owner references of the Certificate: the User, as controller (the caller has its uid). */
  ownerReferences: readonly OwnerReference[];
  /** Labels of the Certificate and of the Secret cert-manager writes (secretTemplate). */
  labels?: Readonly<Record<string, string>>;
}

/** The Secret cert-manager writes the user's certificate to, and the Certificate's name: `<User metadata.name>-client-tls`. */
export function userCertificateSecretName(user: User): string {
  return `${user.metadata.name}-client-tls`;
}

/**
 * The cert-manager.io/v1 Certificate for a tls User of a cluster with spec.tls.certManager: signed
 * by that issuer, for client auth, with the subject of userCertificateSubject and the cluster's
 * lifetimes, in the User's namespace. The reconciler copies tls.crt and tls.key from its Secret
 * into the user's connection Secret. Throws when the cluster has no certManager issuer (a caller's
 * mistake: choose the mode first) or when the object breaks cert-manager's schema.
 */
export function userCertManagerCertificate(
  cluster: BrokerCluster,
  user: User,
  opts: UserCertManagerCertificateOptions,
): { ok: true; certificate: CertManagerCertificate; subject: UserCertificateSubject } | UserCertificateSubjectError {
  const issuer = cluster.spec.tls?.certManager?.issuerRef;
  if (!issuer) throw new Error(`BrokerCluster ${cluster.metadata.namespace}/${cluster.metadata.name}: spec.tls.certManager.issuerRef is not set`);
  const result = userCertificateSubject(cluster, user);
  if (!result.ok) return result;
  const { subject } = result;
  const policy = certificatePolicy(cluster.spec.tls);
  const name = userCertificateSecretName(user);
  const labels = opts.labels ? { ...opts.labels } : undefined;
  const certificate = new CertManagerCertificate({
    metadata: {
      name,
      namespace: user.metadata.namespace,
      ...(labels ? { labels } : {}),
      ...(opts.ownerReferences.length > 0 ? { ownerReferences: opts.ownerReferences.map((r) => ({ ...r })) } : {}),
    },
    spec: {
      secretName: name,
      ...(labels ? { secretTemplate: { labels } } : {}),
      issuerRef: { name: issuer.name, kind: issuer.kind, group: issuer.group ?? CERT_MANAGER_GROUP },
      commonName: subject.commonName,
      ...(subject.dnsNames.length > 0 ? { dnsNames: [...subject.dnsNames] } : {}),
      ...(subject.uris.length > 0 ? { uris: [...subject.uris] } : {}),
      duration: goDuration(policy.durationMs),
      renewBefore: goDuration(policy.renewBeforeMs),
      // As the brokers' certificates: a renewal gets a new key.
      privateKey: { algorithm: 'ECDSA', size: 256, encoding: 'PKCS8', rotationPolicy: 'Always' },
      usages: ['digital signature', 'client auth'],
    },
  });
  certificate.validate();
  return { ok: true, certificate, subject };
}
