// SASL OAUTHBEARER (RFC 7628) with JWTs from an external identity provider: the token's
// signature is checked against the provider's JWKS, then its issuer, audience and expiry; one
// claim (sub by default) names the user.
//
// Contract:
// - Fail closed: an unknown key id, a bad signature, another issuer or audience, a token without
//   exp, an expired or not-yet-valid token, an algorithm not in the configured list (`none` and
//   the HMACs can never be configured: a JWKS holds no shared secret), a missing or malformed
//   user claim, or a JWKS that cannot be fetched are all refusals. A refusal carries a reason
//   from OAuthBearerFailure for the audit log, never the token or any of its claims.
// - clockToleranceSeconds allows for a provider's clock ahead of ours (nbf, iat); it never
//   extends exp, which is when the session ends.
// - The JWKS is fetched over HTTPS only (trusting only caFile's CAs when given, else the
//   system's; caFile is checked at start-up and read again at each fetch, so a renewed CA needs
//   no restart), at the first login, again when a token names a key id it does not hold (at most
//   every 30 s: jose's cooldown), and when the copy is 10 minutes old. A fetch takes at most 5 s
//   and 1 MiB; a failed fetch is reported (onJwksUnavailable) at most once a minute.
// - The session the token opens lasts no longer than the token (the broker announces the
//   remaining life as the KIP-368 session lifetime, src/broker/kafka/sasl.ts).
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { createRemoteJWKSet, customFetch, errors, jwtVerify, type FetchImplementation, type JWTPayload } from 'jose';
import { OAUTH_BEARER_ALGORITHMS, type OAuthBearerAlgorithm } from '../api/index.ts';
import { BulwarkError } from '../lib/index.ts';

/** Why an OAUTHBEARER token was refused. Stable names: the audit log prints them. */
export const OAuthBearerFailure = {
  Malformed: 'Malformed',
  AlgorithmNotAllowed: 'AlgorithmNotAllowed',
  UnknownKey: 'UnknownKey',
  BadSignature: 'BadSignature',
  WrongIssuer: 'WrongIssuer',
  WrongAudience: 'WrongAudience',
  Expired: 'Expired',
  NotYetValid: 'NotYetValid',
  NoUserClaim: 'NoUserClaim',
  JwksUnavailable: 'JwksUnavailable',
} as const;
export type OAuthBearerFailure = (typeof OAuthBearerFailure)[keyof typeof OAuthBearerFailure];

export interface OAuthBearerOptions {
  issuer: string;
  audience: string;
  /** https:// only. */
  jwksUrl: string;
  /** The claim that names the user; default sub. */
  usernameClaim: string;
  algorithms: readonly OAuthBearerAlgorithm[];
  clockToleranceSeconds: number;
  /** PEM CA bundle to trust for the JWKS endpoint, instead of the system's. */
  caFile?: string;
  /** Told when the JWKS cannot be fetched (BWK_ERR_OAUTH_JWKS_UNAVAILABLE), at most once a minute. */
  onJwksUnavailable?: (err: BulwarkError) => void;
}

export type OAuthBearerVerification = { ok: true; user: string; expiresAt: number } | { ok: false; reason: OAuthBearerFailure };

const MAX_MESSAGE_BYTES = 16 * 1024;
const MAX_USER = 128;
const JWKS_MAX_BYTES = 1 << 20;
const JWKS_TIMEOUT_MS = 5000;
const REPORT_EVERY_MS = 60_000;

/**
 * The token of a client's initial response: gs2 header, then key=value pairs separated by
 * 0x01, ending with two (RFC 7628 §3.1); `auth` is "Bearer <token>". Other keys (Kafka's SASL
 * extensions) are ignored.
 */
export function parseOAuthBearerMessage(message: Buffer): string | undefined {
  if (message.length === 0 || message.length > MAX_MESSAGE_BYTES) return undefined;
  const text = message.toString('utf8');
  const sep = text.indexOf('\x01');
  if (sep < 0 || !/^[ny],(a=[^,]*)?,$/.test(text.slice(0, sep)) || !text.endsWith('\x01\x01')) return undefined;
  for (const pair of text.slice(sep + 1, -2).split('\x01')) {
    if (!pair.startsWith('auth=')) continue;
    const m = /^Bearer ([A-Za-z0-9._~+/=-]+)$/i.exec(pair.slice(5));
    return m?.[1];
  }
  return undefined;
}

/** The PEM text of a CA file; throws BWK_ERR_CONFIG_INVALID naming the file (not its content). */
function readCa(file: string): string {
  let ca: string;
  try {
    ca = readFileSync(file, 'utf8');
  } catch (err) {
    throw new BulwarkError('BWK_ERR_CONFIG_INVALID', { detail: `auth.oauthBearer.caFile: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})` }, { cause: err });
  }
  if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new BulwarkError('BWK_ERR_CONFIG_INVALID', { detail: `auth.oauthBearer.caFile: ${file} holds no PEM certificate` });
  return ca;
}

/** jose's fetch over node:https: our CA, a timeout, a size cap; any failure rejects (never throws later). */
function httpsFetch(caFile: string | undefined): FetchImplementation {
  return (url, options) =>
    new Promise((resolve, reject) => {
      let ca: string | undefined;
      try {
        ca = caFile === undefined ? undefined : readCa(caFile);
      } catch (err) {
        return reject(err);
      }
      const req = request(url, { method: 'GET', headers: { accept: 'application/json' }, ...(ca !== undefined ? { ca } : {}), timeout: JWKS_TIMEOUT_MS }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > JWKS_MAX_BYTES) req.destroy(new Error(`JWKS larger than ${JWKS_MAX_BYTES} bytes`));
          else chunks.push(c);
        });
        res.on('end', () => {
          // jose reads the status and parses the body itself; a status a Response cannot carry is an answer it would refuse anyway.
          const status = res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode <= 599 && ![204, 205, 304].includes(res.statusCode) ? res.statusCode : 502;
          resolve(new Response(Buffer.concat(chunks).toString('utf8'), { status, headers: { 'content-type': 'application/json' } }));
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${JWKS_TIMEOUT_MS} ms`)));
      req.on('error', reject);
      // jose's timeout aborts with a TimeoutError, which it reports as JWKSTimeout.
      options.signal?.addEventListener('abort', () => req.destroy(options.signal?.reason instanceof Error ? options.signal.reason : new Error('JWKS fetch aborted')));
      req.end();
    });
}

/** Verifies OAUTHBEARER tokens against one issuer's JWKS. Build it once, at start-up. */
export class OAuthBearerVerifier {
  readonly #options: OAuthBearerOptions;
  readonly #jwks: ReturnType<typeof createRemoteJWKSet>;
  #reportedAt = -Infinity;

  constructor(options: OAuthBearerOptions) {
    const url = URL.canParse(options.jwksUrl) ? new URL(options.jwksUrl) : undefined;
    if (url?.protocol !== 'https:') throw new BulwarkError('BWK_ERR_CONFIG_INVALID', { detail: 'auth.oauthBearer.jwksUrl must be an https URL' });
    if (options.algorithms.length === 0 || options.algorithms.some((a) => !(OAUTH_BEARER_ALGORITHMS as readonly string[]).includes(a))) {
      throw new BulwarkError('BWK_ERR_CONFIG_INVALID', { detail: `auth.oauthBearer.algorithms must be some of ${OAUTH_BEARER_ALGORITHMS.join(', ')}` });
    }
    if (options.caFile !== undefined) readCa(options.caFile); // a missing or empty CA file stops the start
    this.#options = options;
    this.#jwks = createRemoteJWKSet(url, { timeoutDuration: JWKS_TIMEOUT_MS, cooldownDuration: 30_000, cacheMaxAge: 600_000, [customFetch]: httpsFetch(options.caFile) });
  }

  async verify(token: string, now: number): Promise<OAuthBearerVerification> {
    const o = this.#options;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.#jwks, {
        algorithms: [...o.algorithms],
        issuer: o.issuer,
        audience: o.audience,
        clockTolerance: o.clockToleranceSeconds,
        currentDate: new Date(now),
        requiredClaims: ['exp'],
      }));
    } catch (err) {
      const reason = reasonOf(err);
      if (reason === OAuthBearerFailure.JwksUnavailable) this.#report(err, now);
      return { ok: false, reason };
    }
    // The tolerance is for nbf (jose checked it) and iat; the session ends at exp, so a token past it opens none.
    if (typeof payload.exp !== 'number' || payload.exp * 1000 <= now) return { ok: false, reason: OAuthBearerFailure.Expired };
    if (payload.iat !== undefined && payload.iat * 1000 > now + o.clockToleranceSeconds * 1000) return { ok: false, reason: OAuthBearerFailure.NotYetValid };
    const user = payload[o.usernameClaim];
    if (typeof user !== 'string' || user.length === 0 || user.length > MAX_USER) return { ok: false, reason: OAuthBearerFailure.NoUserClaim };
    return { ok: true, user, expiresAt: payload.exp * 1000 };
  }

  #report(err: unknown, now: number): void {
    if (!this.#options.onJwksUnavailable || now - this.#reportedAt < REPORT_EVERY_MS) return;
    this.#reportedAt = now;
    // Only the fetch's own failure is described (a network or TLS error code, jose's message about the answer): never the token.
    let cause = err;
    while (!(cause instanceof BulwarkError) && cause instanceof Error && cause.cause instanceof Error) cause = cause.cause;
    const detail = cause instanceof BulwarkError ? cause.message : ((cause as NodeJS.ErrnoException).code ?? (cause instanceof Error ? cause.message : 'unknown error'));
    this.#options.onJwksUnavailable(new BulwarkError('BWK_ERR_OAUTH_JWKS_UNAVAILABLE', { url: this.#options.jwksUrl, detail }, { cause: err }));
  }
}

function reasonOf(err: unknown): OAuthBearerFailure {
  if (err instanceof errors.JWTExpired) return OAuthBearerFailure.Expired;
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'iss') return OAuthBearerFailure.WrongIssuer;
    if (err.claim === 'aud') return OAuthBearerFailure.WrongAudience;
    if (err.claim === 'nbf' || err.claim === 'iat') return OAuthBearerFailure.NotYetValid;
    return OAuthBearerFailure.Malformed; // exp missing, or a claim of the wrong type
  }
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported) return OAuthBearerFailure.AlgorithmNotAllowed;
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) return OAuthBearerFailure.UnknownKey;
  if (err instanceof errors.JWSSignatureVerificationFailed) return OAuthBearerFailure.BadSignature;
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return OAuthBearerFailure.Malformed;
  // JWKSTimeout, JWKSInvalid, a non-200 answer, a TLS or network error.
  return OAuthBearerFailure.JwksUnavailable;
}
