// The Secrets the operator writes for Users and AccessTokens: their names, their labels, and how
// the policy reconciler reads the credentials in them. A Secret counts only when it is controlled
// by the very resource it belongs to (ownerReference uid): a Secret of the same name someone else
// made is never taken for credentials (fail closed).
import { createHmac } from 'node:crypto';
import { z } from 'zod';
import { AUTHENTICATION_TYPES } from '../../api/index.ts';
import { ISSUED_AT_ANNOTATION, snapshotUser, tokenHash, TOKEN_FORMAT, TOKEN_SECRET_KEY, type TokenCredential } from '../../policy/index.ts';
import type { SecretObject } from '../certificates/index.ts';
import type { KubeObject } from '../controller/index.ts';

/** Every Secret written for a User or an AccessToken names its cluster with this label (the policy reconciler maps its events by it). */
export const CLUSTER_LABEL = 'bulwark.dev/cluster';
export const COMPONENT_LABEL = 'app.kubernetes.io/component';
export const USER_SECRET_COMPONENT = 'user-credentials';
export const TOKEN_SECRET_COMPONENT = 'access-token';

/** The token's key and the issued-at annotation: the same contract as a policy directory's token Secrets. */
export { ISSUED_AT_ANNOTATION, TOKEN_SECRET_KEY as TOKEN_KEY } from '../../policy/index.ts';
/** The derived credentials of a User, kept in its own Secret next to the password (DerivedRecord, JSON). */
export const DERIVED_KEY = 'bulwark.derived';

export const userSecretName = (userName: string) => `${userName}-credentials`;
export const tokenSecretName = (token: { metadata: { name: string }; spec: { secretName?: string | undefined } }) => token.spec.secretName ?? `${token.metadata.name}-token`;

export function controlledBy(obj: KubeObject | undefined, ownerUid: string | undefined): boolean {
  return !!obj && !!ownerUid && obj.metadata.ownerReferences?.some((r) => r.controller === true && r.uid === ownerUid) === true;
}

export function secretText(secret: SecretObject | undefined, key: string): string | undefined {
  const b64 = secret?.data?.[key];
  return b64 === undefined ? undefined : Buffer.from(b64, 'base64').toString('utf8');
}

/**
 * The key credential salts and password fingerprints are made with, per cluster: derived from the
 * cluster's server secret (a separate purpose, so neither use reveals the other).
 */
export function credentialSaltKey(serverSecret: Buffer): Buffer {
  return createHmac('sha256', serverSecret).update('bulwark.dev/credential-salt-key').digest();
}

/** What a User's Secret keeps so that no hash is computed again until the password changes. */
export const derivedRecord = z.strictObject({
  /** HMAC-SHA256(salt key, password), hex: tells whether the password changed, reveals nothing without the key. */
  fingerprint: z.string().regex(/^[0-9a-f]{64}$/),
  type: z.enum(AUTHENTICATION_TYPES),
  /** namespace/cluster/username: the salt is derived from it. */
  identity: z.string().max(600),
  iterations: z.number().int().min(4096).max(65536),
  /** The snapshot's own credential shapes, without the certificate subject (a tls user derives nothing). */
  credentials: snapshotUser.shape.credentials.omit({ certificateSubject: true }),
});
export type DerivedRecord = z.infer<typeof derivedRecord>;

export function readDerivedRecord(secret: SecretObject | undefined): DerivedRecord | undefined {
  const text = secretText(secret, DERIVED_KEY);
  if (text === undefined) return undefined;
  try {
    const parsed = derivedRecord.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** The token credential of an AccessToken's Secret: its hash and when it was issued; undefined when it holds no valid token. */
export function readTokenCredential(secret: SecretObject | undefined): TokenCredential | undefined {
  const token = secretText(secret, TOKEN_SECRET_KEY);
  if (token === undefined || !TOKEN_FORMAT.test(token)) return undefined;
  const issuedAt = secret?.metadata.annotations?.[ISSUED_AT_ANNOTATION];
  return { sha256: tokenHash(token), ...(issuedAt ? { issuedAt } : {}) };
}
