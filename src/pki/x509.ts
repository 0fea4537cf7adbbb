// X.509 for Bulwark: a CA, certificates it issues, the development PKI of `bulwark dev`, and the
// names a certificate carries.
//
// Contract:
// - PEM strings in and out. Keys are ECDSA P-256, written as PKCS#8 ("PRIVATE KEY"); a CA key may
//   also be P-384 or P-521 (signed with SHA-384 / SHA-512 then). RSA is not supported.
// - A CA has basicConstraints cA (critical, pathLength 0: it signs leaves only) and keyUsage
//   keyCertSign + cRLSign. A leaf has basicConstraints !cA, keyUsage digitalSignature (all an
//   ECDHE-ECDSA handshake needs), extKeyUsage serverAuth and/or clientAuth, its SANs, and subject
//   and authority key identifiers. Serial numbers are 126 random bits.
// - notBefore is backdated five minutes so that a peer whose clock is slightly behind accepts a
//   certificate issued a moment ago. A leaf never outlives its CA: notAfter is capped at the CA's.
// - Bad arguments throw BWK_ERR_PKI_REQUEST_INVALID naming the field; an unusable CA (not a CA,
//   key not matching, unsupported key) throws BWK_ERR_PKI_CA_INVALID. No key material is ever
//   put in a message.
//
// @peculiar/x509 resolves its algorithms through tsyringe, which refuses to load unless
// `Reflect.getMetadata` exists (the `reflect-metadata` polyfill). That package is not a
// dependency, so this module installs the few Reflect metadata functions tsyringe calls, when
// they are missing, and only then loads the library (a static import would run first).
import { createPrivateKey, KeyObject, randomBytes, webcrypto, X509Certificate as NodeX509 } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { writeFileAtomic } from '../lib/index.ts';
import { BulwarkError } from '../lib/index.ts';

installReflectMetadata();
const x509: typeof import('@peculiar/x509') = await import('@peculiar/x509');
const crypto = webcrypto;
type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
type EcdsaParams = webcrypto.EcdsaParams;
x509.cryptoProvider.set(crypto);

export interface PemPair {
  certPem: string;
  keyPem: string;
}

export type CertificateUsage = 'server' | 'client' | 'both';

/**
 * How long a certificate is valid: whole days, or milliseconds (at least one hour) for
 * lifetimes a BrokerCluster gives as durations (spec.tls.duration: 1h and up).
 */
export type Validity = { validDays: number; validMs?: never } | { validMs: number; validDays?: never };

export type IssueRequest = IssueRequestFields & Validity;

interface IssueRequestFields {
  ca: PemPair;
  commonName: string;
  dnsNames?: string[];
  ipAddresses?: string[];
  uris?: string[];
  usage: CertificateUsage;
  /** Start of validity; default five minutes before `now`. */
  notBefore?: Date;
  /** Subject O attributes (Kubernetes reads them as groups, e.g. `system:masters`). */
  organizations?: string[];
  /** The current time (default the system clock): injected so renewal logic can be table-tested. */
  now?: Date;
}

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
const BACKDATE_MS = 5 * 60_000;
/** X.520's upper bound for a common name. */
const MAX_CN = 64;
const DNS_NAME = /^(\*\.)?([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;
const CONTROL = /[\u0000-\u001f\u007f]/;

/** A self-signed CA, valid for `validDays` (or `validMs`) from now (backdated five minutes). */
export async function createCa(options: { commonName: string; now?: Date } & Validity): Promise<PemPair> {
  checkCommonName(options.commonName);
  const validMs = checkValidity(options);
  const keys = await generateKeyPair();
  const notBefore = new Date((options.now ?? new Date()).getTime() - BACKDATE_MS);
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: randomSerial(),
      name: subjectName(options.commonName),
      notBefore,
      notAfter: new Date(notBefore.getTime() + BACKDATE_MS + validMs),
      keys,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } as EcdsaParams,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  return { certPem: cert.toString('pem') + '\n', keyPem: exportPrivateKey(keys.privateKey) };
}

/** A leaf certificate signed by `ca`, with a fresh P-256 key. */
export async function issueCertificate(request: IssueRequest): Promise<PemPair> {
  checkCommonName(request.commonName);
  const validMs = checkValidity(request);
  const dnsNames = request.dnsNames ?? [];
  const ipAddresses = request.ipAddresses ?? [];
  const uris = request.uris ?? [];
  dnsNames.forEach((name, i) => {
    if (name.length > 253 || !DNS_NAME.test(name)) invalidRequest(`dnsNames[${i}] is not a DNS name`);
  });
  ipAddresses.forEach((ip, i) => {
    if (isIP(ip) === 0) invalidRequest(`ipAddresses[${i}] is not an IP address`);
  });
  uris.forEach((uri, i) => {
    if (!isAbsoluteUri(uri)) invalidRequest(`uris[${i}] is not an absolute URI`);
  });
  if (!['server', 'client', 'both'].includes(request.usage)) invalidRequest('usage must be server, client or both');
  if (request.notBefore !== undefined && Number.isNaN(request.notBefore.getTime())) invalidRequest('notBefore is not a valid date');
  const organizations = request.organizations ?? [];
  organizations.forEach((o, i) => {
    if (typeof o !== 'string' || o.length === 0 || o.length > MAX_CN || CONTROL.test(o)) invalidRequest(`organizations[${i}] must be 1 to ${MAX_CN} printable characters`);
  });

  const ca = await loadCa(request.ca);
  const keys = await generateKeyPair();
  const notBefore = request.notBefore ?? new Date((request.now ?? new Date()).getTime() - BACKDATE_MS);
  const wanted = notBefore.getTime() + (request.notBefore ? 0 : BACKDATE_MS) + validMs;
  const notAfter = new Date(Math.min(wanted, ca.notAfter.getTime()));
  if (notAfter <= notBefore) invalidRequest('the CA expires before the certificate would become valid');

  const usages =
    request.usage === 'server' ? [x509.ExtendedKeyUsage.serverAuth] : request.usage === 'client' ? [x509.ExtendedKeyUsage.clientAuth] : [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth];
  const names = [
    ...dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...ipAddresses.map((value) => ({ type: 'ip' as const, value })),
    ...uris.map((value) => ({ type: 'url' as const, value })),
  ];
  const extensions: import('@peculiar/x509').Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension(usages, false),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
    ca.authorityKeyIdentifier,
  ];
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names, false));
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: randomSerial(),
      subject: subjectName(request.commonName, organizations),
      // The CA's subject exactly as encoded, so that issuer and subject compare byte for byte.
      issuer: ca.cert.subjectName,
      notBefore,
      notAfter,
      publicKey: keys.publicKey,
      signingKey: ca.signingKey,
      signingAlgorithm: ca.signingAlgorithm,
      extensions,
    },
    crypto,
  );
  return { certPem: cert.toString('pem') + '\n', keyPem: exportPrivateKey(keys.privateKey) };
}

// --- The names a certificate carries ------------------------------------------------------------

export interface CertificateNames {
  /** Every CN attribute of the subject, in order; values that are not strings are left out and flagged. */
  commonNames: string[];
  dnsNames: string[];
  uris: string[];
  ipAddresses: string[];
}

/**
 * The subject common names and SANs of a DER certificate, read from the DER itself (not from
 * Node's text rendering of it, which has to be parsed again). Undefined when the certificate
 * does not parse, when it has more than one SAN extension, when a SAN is of a kind that cannot
 * be read, or when a CN is not a string: callers use these names as identities, so anything
 * odd is no names at all.
 */
export function certificateNames(der: Uint8Array): CertificateNames | undefined {
  let cert: import('@peculiar/x509').X509Certificate;
  try {
    cert = new x509.X509Certificate(der);
  } catch {
    return undefined;
  }
  try {
    // A CN of a type that is not a string is rendered "#hex" by toJSON and "hex" by getField; a
    // string renders the same in both. Such a value is never a name.
    const subject = cert.subjectName;
    const commonNames = subject.getField('CN');
    const rendered = subject.toJSON().flatMap((rdn) => rdn.CN ?? []);
    if (rendered.length !== commonNames.length || rendered.some((value, i) => value !== commonNames[i] || value.length === 0)) return undefined;
    const sanExtensions = cert.extensions.filter((e) => e.type === SAN_OID);
    if (sanExtensions.length > 1) return undefined;
    const names = { commonNames, dnsNames: [] as string[], uris: [] as string[], ipAddresses: [] as string[] };
    if (sanExtensions.length === 1) {
      const san = new x509.SubjectAlternativeNameExtension(sanExtensions[0]!.rawData);
      for (const name of san.names.items) {
        if (typeof name.value !== 'string') return undefined;
        if (name.type === 'dns') names.dnsNames.push(name.value);
        else if (name.type === 'url') names.uris.push(name.value);
        else if (name.type === 'ip') names.ipAddresses.push(name.value);
      }
    }
    return names;
  } catch {
    // An otherName of an unknown type, a GUID that does not parse, a malformed extension.
    return undefined;
  }
}

const SAN_OID = '2.5.29.17';

// --- Development PKI ----------------------------------------------------------------------------

export interface DevPki {
  caFile: string;
  certFile: string;
  keyFile: string;
  /** A new CA was made on this call (first run, or the old one was about to expire): clients must trust it. */
  created: boolean;
  /** A new server certificate was issued on this call (with a new CA, or the old one was expiring, or the hosts changed). */
  renewed: boolean;
}

/** Names the dev server certificate always carries, so that local clients can verify it. */
export const DEV_DEFAULT_HOSTS = ['localhost', '127.0.0.1', '::1'] as const;
const RENEW_WITHIN_MS = 30 * DAY_MS;
const DEV_CA_DAYS = 3650;
const DEV_SERVER_DAYS = 365;

/**
 * The CA and server certificate of `bulwark dev`, in `dir`: ca.crt, ca.key, server.crt,
 * server.key. Made on the first run; reused afterwards. The server certificate is issued again
 * when it is missing, does not parse, is not signed by the CA, does not match its key, expires
 * within 30 days, or does not cover every one of `hosts` (plus localhost, 127.0.0.1 and ::1).
 * A CA certificate whose key is missing or does not match is an error, not replaced: clients
 * may trust it, and only the user can decide to start over (by deleting ca.crt).
 * Keys are written 0600 and every file atomically: a crash leaves the old file or the new one.
 */
export async function ensureDevPki(dir: string, options: { hosts?: readonly string[] } = {}): Promise<DevPki> {
  const hosts = [...new Set([...DEV_DEFAULT_HOSTS, ...(options.hosts ?? [])])];
  hosts.forEach((h, i) => {
    if (isIP(h) === 0 && (h.length > 253 || !DNS_NAME.test(h))) invalidRequest(`hosts[${i}] is neither an IP address nor a DNS name`);
  });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caFile = join(dir, 'ca.crt');
  const caKeyFile = join(dir, 'ca.key');
  const certFile = join(dir, 'server.crt');
  const keyFile = join(dir, 'server.key');
  const now = Date.now();

  let ca: PemPair | undefined;
  let created = false;
  if (existsSync(caFile)) {
    const certPem = readFileSync(caFile, 'utf8');
    let keyPem: string;
    try {
      keyPem = readFileSync(caKeyFile, 'utf8');
    } catch (err) {
      throw new BulwarkError('BWK_ERR_PKI_CA_INVALID', { source: caKeyFile, detail: `cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'}); delete ${caFile} to make a new CA` });
    }
    const problem = caProblem(certPem, keyPem);
    if (problem) throw new BulwarkError('BWK_ERR_PKI_CA_INVALID', { source: caFile, detail: `${problem}; delete it to make a new CA` });
    if (new Date(new NodeX509(certPem).validTo).getTime() - now > RENEW_WITHIN_MS) ca = { certPem, keyPem };
  }
  if (!ca) {
    ca = await createCa({ commonName: 'Bulwark development CA', validDays: DEV_CA_DAYS });
    // Key first: a crash between the two leaves a key without a certificate, which the next run
    // replaces, never a certificate without its key.
    writeFileAtomic(caKeyFile, [Buffer.from(ca.keyPem)], { mode: 0o600 });
    writeFileAtomic(caFile, [Buffer.from(ca.certPem)]);
    created = true;
  }

  let renewed = false;
  if (created || serverCertProblem(certFile, keyFile, ca.certPem, hosts, now)) {
    const server = await issueCertificate({
      ca,
      commonName: 'Bulwark development server',
      dnsNames: hosts.filter((h) => isIP(h) === 0),
      ipAddresses: hosts.filter((h) => isIP(h) !== 0),
      usage: 'server',
      validDays: DEV_SERVER_DAYS,
    });
    // A key newer than its certificate (crash in between) fails the key check next time.
    writeFileAtomic(keyFile, [Buffer.from(server.keyPem)], { mode: 0o600 });
    writeFileAtomic(certFile, [Buffer.from(server.certPem)]);
    renewed = true;
  }
  return { caFile, certFile, keyFile, created, renewed };
}

/** Why this CA pair cannot sign, or undefined. */
function caProblem(certPem: string, keyPem: string): string | undefined {
  let cert: NodeX509;
  let key: KeyObject;
  try {
    cert = new NodeX509(certPem);
  } catch {
    return 'the certificate does not parse';
  }
  try {
    key = createPrivateKey(keyPem);
  } catch {
    return 'the key does not parse';
  }
  if (!cert.ca) return 'the certificate is not a CA certificate';
  if (!cert.checkPrivateKey(key)) return 'the key does not match the certificate';
  return undefined;
}

/** Whether the server certificate on disk must be issued again. */
function serverCertProblem(certFile: string, keyFile: string, caPem: string, hosts: string[], now: number): boolean {
  try {
    const cert = new NodeX509(readFileSync(certFile));
    const key = createPrivateKey(readFileSync(keyFile));
    const ca = new NodeX509(caPem);
    if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey) || !cert.checkPrivateKey(key)) return true;
    if (new Date(cert.validTo).getTime() - now <= RENEW_WITHIN_MS) return true;
    // subject: 'never': only SANs count, as in every TLS client that matters.
    return !hosts.every((h) => (isIP(h) !== 0 ? cert.checkIP(h) !== undefined : cert.checkHost(h, { subject: 'never' }) !== undefined));
  } catch {
    return true;
  }
}

// --- Keys and the CA ----------------------------------------------------------------------------

interface LoadedCa {
  cert: import('@peculiar/x509').X509Certificate;
  notAfter: Date;
  signingKey: CryptoKey;
  signingAlgorithm: EcdsaParams;
  authorityKeyIdentifier: import('@peculiar/x509').Extension;
}

const CURVES: Record<string, { namedCurve: string; hash: string }> = {
  prime256v1: { namedCurve: 'P-256', hash: 'SHA-256' },
  secp384r1: { namedCurve: 'P-384', hash: 'SHA-384' },
  secp521r1: { namedCurve: 'P-521', hash: 'SHA-512' },
};

async function loadCa(pair: PemPair): Promise<LoadedCa> {
  const problem = caProblem(pair.certPem, pair.keyPem);
  if (problem) throw new BulwarkError('BWK_ERR_PKI_CA_INVALID', { source: 'request.ca', detail: problem });
  const key = createPrivateKey(pair.keyPem);
  const curve = key.asymmetricKeyType === 'ec' ? CURVES[key.asymmetricKeyDetails?.namedCurve ?? ''] : undefined;
  if (!curve) throw new BulwarkError('BWK_ERR_PKI_CA_INVALID', { source: 'request.ca', detail: 'the key is not an ECDSA P-256, P-384 or P-521 key' });
  const der = key.export({ type: 'pkcs8', format: 'der' });
  const signingKey = await crypto.subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve: curve.namedCurve }, false, ['sign']);
  const cert = new x509.X509Certificate(pair.certPem);
  // The authority key id is the CA's subject key id when it has one (RFC 5280 4.2.1.1), else
  // derived from its public key the same way.
  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension);
  const authorityKeyIdentifier = ski
    ? new x509.AuthorityKeyIdentifierExtension(ski.keyId, false)
    : await x509.AuthorityKeyIdentifierExtension.create(cert.publicKey, false, crypto);
  return { cert, notAfter: cert.notAfter, signingKey, signingAlgorithm: { name: 'ECDSA', hash: curve.hash }, authorityKeyIdentifier };
}

async function generateKeyPair(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
}

function exportPrivateKey(key: CryptoKey): string {
  return KeyObject.from(key).export({ type: 'pkcs8', format: 'pem' }) as string;
}

/** 16 random bytes with the top bit clear (serials are positive) and the next set (no leading zero byte). */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x40;
  return bytes.toString('hex');
}

/**
 * A subject of one CN, as a UTF8String. Given as plain text, the library unescapes the value as
 * if it were an RFC 4514 string (a CN of `a "b"` would become `b`); given as an object, it is
 * encoded as is.
 */
function subjectName(commonName: string, organizations: readonly string[] = []): import('@peculiar/x509').Name {
  return new x509.Name([...organizations.map((o) => ({ O: [{ utf8String: o }] })), { CN: [{ utf8String: commonName }] }]);
}

function checkCommonName(cn: unknown): void {
  if (typeof cn !== 'string' || cn.length === 0 || cn.length > MAX_CN || CONTROL.test(cn)) invalidRequest(`commonName must be 1 to ${MAX_CN} printable characters`);
}

/** The validity in milliseconds. */
function checkValidity(v: Partial<{ validDays: unknown; validMs: unknown }>): number {
  if (v.validMs !== undefined) {
    if (v.validDays !== undefined) invalidRequest('give validDays or validMs, not both');
    const ms = v.validMs;
    if (typeof ms !== 'number' || !Number.isInteger(ms) || ms < HOUR_MS || ms > 36_500 * DAY_MS) invalidRequest('validMs must be a whole number of milliseconds from one hour to 36500 days');
    return ms as number;
  }
  const days = v.validDays;
  if (typeof days !== 'number' || !Number.isInteger(days) || days < 1 || days > 36_500) invalidRequest('validDays must be a whole number of days from 1 to 36500');
  return (days as number) * DAY_MS;
}

function isAbsoluteUri(uri: string): boolean {
  if (uri.length > 2048 || CONTROL.test(uri) || /\s/.test(uri)) return false;
  try {
    return /^[a-z][a-z0-9+.-]*:/i.test(uri) && new URL(uri).protocol.length > 1;
  } catch {
    return false;
  }
}

function invalidRequest(detail: string): never {
  throw new BulwarkError('BWK_ERR_PKI_REQUEST_INVALID', { detail });
}

/**
 * The part of the `reflect-metadata` polyfill that tsyringe uses (define, get, own and has
 * metadata, and the decorator factory), installed only when no polyfill is present.
 */
function installReflectMetadata(): void {
  const R = Reflect as unknown as Record<string, unknown>;
  if (typeof R.getMetadata === 'function') return;
  const store = new WeakMap<object, Map<PropertyKey | undefined, Map<unknown, unknown>>>();
  const table = (target: object, property: PropertyKey | undefined, create: boolean): Map<unknown, unknown> | undefined => {
    let byProperty = store.get(target);
    if (!byProperty) {
      if (!create) return undefined;
      store.set(target, (byProperty = new Map()));
    }
    let entries = byProperty.get(property);
    if (!entries && create) byProperty.set(property, (entries = new Map()));
    return entries;
  };
  const getOwn = (key: unknown, target: object, property?: PropertyKey) => table(target, property, false)?.get(key);
  const hasOwn = (key: unknown, target: object, property?: PropertyKey) => table(target, property, false)?.has(key) ?? false;
  const has = (key: unknown, target: object, property?: PropertyKey): boolean => {
    for (let t: object | null = target; t; t = Object.getPrototypeOf(t)) if (hasOwn(key, t, property)) return true;
    return false;
  };
  const get = (key: unknown, target: object, property?: PropertyKey): unknown => {
    for (let t: object | null = target; t; t = Object.getPrototypeOf(t)) if (hasOwn(key, t, property)) return getOwn(key, t, property);
    return undefined;
  };
  const define = (key: unknown, value: unknown, target: object, property?: PropertyKey) => void table(target, property, true)!.set(key, value);
  Object.assign(Reflect, {
    defineMetadata: define,
    getOwnMetadata: getOwn,
    hasOwnMetadata: hasOwn,
    getMetadata: get,
    hasMetadata: has,
    metadata: (key: unknown, value: unknown) => (target: object, property?: PropertyKey) => define(key, value, target, property),
  });
}
