// Short-lived HTTP session tokens: what `POST /login` hands out and bearer authentication
// takes back. JWTs signed with HS256 under a secret every broker of the cluster shares.
//
// Contract:
// - Claims: sub (the user), iss, aud, iat, nbf (= iat), exp, jti (128 random bits), and tid
//   when the session was opened with an access token (its id), so that the token's expiry and
//   scope still apply to the session.
// - Verification accepts HS256 only: `none`, other HMACs and every asymmetric algorithm are
//   refused before any key is used (the classic algorithm-confusion attacks). The signature is
//   checked before any claim (jose does so), with WebCrypto's constant-time HMAC verify.
// - A failure is a result with a reason from VerifyFailure, never an exception, and it carries
//   nothing of the token. Clock tolerance applies to nbf, iat and exp alike.
// - The secret must be at least 32 bytes (HS256's key size); a shorter one throws
//   BWK_ERR_JWT_SECRET_INVALID on issue and on verify, since it is configuration, not input.
import { randomBytes } from 'node:crypto';
import { errors, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import { BulwarkError } from '../lib/index.ts';
import type { Principal } from '../policy/index.ts';

export const SESSION_TOKEN_ALGORITHM = 'HS256';
export const MIN_SECRET_BYTES = 32;
/** Longer than any token this module makes; a bigger "token" is refused unparsed. */
const MAX_TOKEN_CHARS = 8192;
const MAX_USER = 128;
const MAX_TOKEN_ID = 300;

/** Why a session token was refused. Stable names: audit logs and metrics print them. */
export const VerifyFailure = {
  Expired: 'Expired',
  NotYetValid: 'NotYetValid',
  BadSignature: 'BadSignature',
  WrongIssuer: 'WrongIssuer',
  WrongAudience: 'WrongAudience',
  Malformed: 'Malformed',
} as const;
export type VerifyFailure = (typeof VerifyFailure)[keyof typeof VerifyFailure];

export interface IssueSessionOptions {
  secret: Uint8Array;
  issuer: string;
  audience: string;
  ttlSeconds: number;
  now?: Date;
}

export interface VerifySessionOptions {
  secret: Uint8Array;
  issuer: string;
  audience: string;
  clockToleranceSeconds: number;
  now?: Date;
}

export type SessionVerification = { ok: true; principal: Principal; expiresAt: Date } | { ok: false; reason: VerifyFailure };

export async function issueSessionToken(principal: Principal, options: IssueSessionOptions): Promise<{ token: string; expiresAt: Date }> {
  checkSecret(options.secret);
  if (!Number.isInteger(options.ttlSeconds) || options.ttlSeconds < 1) throw new BulwarkError('BWK_ERR_CONFIG_INVALID', { detail: 'session ttlSeconds must be a positive whole number' });
  const iat = Math.floor((options.now ?? new Date()).getTime() / 1000);
  const exp = iat + options.ttlSeconds;
  const claims: JWTPayload = principal.tokenId === undefined ? {} : { tid: principal.tokenId };
  const token = await new SignJWT(claims)
    .setProtectedHeader({ alg: SESSION_TOKEN_ALGORITHM, typ: 'JWT' })
    .setSubject(principal.user)
    .setIssuer(options.issuer)
    .setAudience(options.audience)
    .setIssuedAt(iat)
    .setNotBefore(iat)
    .setExpirationTime(exp)
    .setJti(randomBytes(16).toString('base64url'))
    .sign(options.secret);
  return { token, expiresAt: new Date(exp * 1000) };
}

export async function verifySessionToken(token: string, options: VerifySessionOptions): Promise<SessionVerification> {
  checkSecret(options.secret);
  if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_CHARS) return fail(VerifyFailure.Malformed);
  const now = options.now ?? new Date();
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, options.secret, {
      algorithms: [SESSION_TOKEN_ALGORITHM],
      issuer: options.issuer,
      audience: options.audience,
      clockTolerance: options.clockToleranceSeconds,
      currentDate: now,
      requiredClaims: ['sub', 'iat', 'nbf', 'exp', 'jti'],
    }));
  } catch (err) {
    return fail(reasonOf(err));
  }
  // jose checks iat's future only with maxTokenAge; a token from the future is not valid yet.
  if (typeof payload.iat !== 'number' || payload.iat > now.getTime() / 1000 + options.clockToleranceSeconds) return fail(VerifyFailure.NotYetValid);
  const { sub, tid, exp } = payload;
  if (typeof sub !== 'string' || sub.length === 0 || sub.length > MAX_USER) return fail(VerifyFailure.Malformed);
  if (tid !== undefined && (typeof tid !== 'string' || tid.length === 0 || tid.length > MAX_TOKEN_ID)) return fail(VerifyFailure.Malformed);
  if (typeof exp !== 'number' || !Number.isFinite(exp)) return fail(VerifyFailure.Malformed);
  const principal: Principal = tid === undefined ? { user: sub } : { user: sub, tokenId: tid };
  return { ok: true, principal, expiresAt: new Date(exp * 1000) };
}

function reasonOf(err: unknown): VerifyFailure {
  if (err instanceof errors.JWTExpired) return VerifyFailure.Expired;
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.reason === 'check_failed') {
      if (err.claim === 'iss') return VerifyFailure.WrongIssuer;
      if (err.claim === 'aud') return VerifyFailure.WrongAudience;
      if (err.claim === 'nbf' || err.claim === 'iat') return VerifyFailure.NotYetValid;
    }
    return VerifyFailure.Malformed;
  }
  // A signature that does not verify, or no signature we accept (alg none, RS256 and the rest).
  if (err instanceof errors.JWSSignatureVerificationFailed || err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported) return VerifyFailure.BadSignature;
  // JWSInvalid, JWTInvalid (not three parts, bad base64 or JSON, unknown crit) and anything else.
  return VerifyFailure.Malformed;
}

function fail(reason: VerifyFailure): SessionVerification {
  return { ok: false, reason };
}

function checkSecret(secret: Uint8Array): void {
  if (!(secret instanceof Uint8Array) || secret.length < MIN_SECRET_BYTES) {
    throw new BulwarkError('BWK_ERR_JWT_SECRET_INVALID', { detail: `it must be at least ${MIN_SECRET_BYTES} bytes` });
  }
}
