// The identity a client certificate carries, per the cluster's certificatePrincipal mapping.
//
// Contract:
// - The caller passes only a certificate that verified against the listener's CA (the broker
//   reads it through verifiedPeerCertificate); this module does no chain checking.
// - The names are read from the certificate's DER, not from Node's `subject` / `subjectaltname`
//   strings, whose escaping of commas, quotes and newlines would have to be undone by hand.
// - source 'commonName': the subject's CN; there must be exactly one CN attribute.
//   source 'sanDns' / 'sanUri': the SAN DNS names / URIs that start with the prefix; there must
//   be exactly one distinct such value. A certificate naming two candidates does not say which
//   one it is, so it names no one (X.509-SVIDs carry exactly one URI SAN).
// - The prefix (possibly empty) is stripped; a CN must start with it too. What remains must be
//   non-empty and free of control characters.
// - Fail closed: anything unexpected (DER that does not parse, duplicate SAN extensions, a SAN
//   of an unreadable kind, a CN that is not a string) gives undefined.
import type { PeerCertificate } from 'node:tls';
import { certificateNames } from '../pki/index.ts';
import type { CertificatePrincipal } from '../policy/index.ts';

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const MAX_IDENTITY = 1024;

export function certificateIdentity(cert: PeerCertificate | Uint8Array, mapping: CertificatePrincipal): string | undefined {
  const der = cert instanceof Uint8Array ? cert : cert?.raw;
  if (!(der instanceof Uint8Array) || der.length === 0) return undefined;
  const names = certificateNames(der);
  if (!names) return undefined;
  let candidates: string[];
  switch (mapping.source) {
    case 'commonName':
      if (names.commonNames.length !== 1) return undefined;
      candidates = names.commonNames;
      break;
    case 'sanDns':
      candidates = names.dnsNames;
      break;
    case 'sanUri':
      candidates = names.uris;
      break;
    default:
      return undefined;
  }
  const matches = new Set(candidates.filter((value) => value.startsWith(mapping.prefix)).map((value) => value.slice(mapping.prefix.length)));
  if (matches.size !== 1) return undefined;
  const identity = [...matches][0]!;
  if (identity.length === 0 || identity.length > MAX_IDENTITY || CONTROL.test(identity)) return undefined;
  return identity;
}
