// SaslHandshake (v1) and SaslAuthenticate: the Kafka side of authentication. The mechanisms
// themselves live in src/auth/; this module keeps the exchange in order on one connection and
// turns outcomes into Kafka answers.
//
// Clients learn nothing from a failure: every failure is SASL_AUTHENTICATION_FAILED with the
// same message, whatever the reason (unknown user, wrong password, disabled, busy); the reason
// goes to the audit log. After a failure the connection is closed, as Kafka does. Before each
// attempt the per-IP backoff may delay the answer.
//
// Re-authentication (KIP-368): a successful SaslAuthenticate (v1 and later) tells the client how
// long its login lasts, sessionLifetimeMs: the token's remaining life, or
// auth.maxSessionLifetimeMs, the sooner. Before then the client repeats SaslHandshake and
// SaslAuthenticate on the open connection, with the same mechanism, as the same user (Kafka
// refuses a change of principal; so do we, closing the connection). A session past its end is
// closed by its next request other than those two (server.ts), as Kafka does.
import { AuthFailureReason, type AuthOutcome, type Authenticator } from '../../auth/index.ts';
import { KafkaErrorCode } from '../../kafka/index.ts';
import type { SaslAuthenticateRequest, SaslHandshakeRequest } from '../../kafka/index.ts';
import { saslMechanisms, type KafkaSession, type SaslMechanismName } from './session.ts';

export const GENERIC_FAILURE = 'Authentication failed';
const EMPTY = Buffer.alloc(0);

export interface SaslHooks {
  authenticator: Authenticator;
  /** Delay before answering an attempt from this IP (failed logins back off). */
  delayFor(ip: string): number;
  /** Called once per finished exchange; returns a reason to refuse a successful login (host access, connection caps), or undefined. */
  finished(session: KafkaSession, outcome: AuthOutcome): string | undefined;
  /** auth.maxSessionLifetimeMs: the longest a login lasts; null for no limit but a token's expiry. */
  maxSessionLifetimeMs: number | null;
  now(): number;
  /** A SASL session logged in again on its connection (KIP-368). */
  reauthenticated(session: KafkaSession): void;
}

/** How long a login made at `now` lasts, in ms; undefined when it does not end. At least 1: 0 would tell the client "no limit". */
export function sessionLifetime(now: number, maxSessionLifetimeMs: number | null, tokenExpiresAt: number | undefined): number | undefined {
  const ends = Math.min(maxSessionLifetimeMs === null ? Infinity : now + maxSessionLifetimeMs, tokenExpiresAt ?? Infinity);
  return Number.isFinite(ends) ? Math.max(1, ends - now) : undefined;
}

export function handshake(session: KafkaSession, body: SaslHandshakeRequest, version: number) {
  const enabled = saslMechanisms(session.listener);
  // v0 would be followed by raw SASL frames, which this listener does not read (see the codec's note).
  if (version === 0) {
    session.connection.closeAfterWrite();
    return { errorCode: KafkaErrorCode.UNSUPPORTED_VERSION, mechanisms: enabled };
  }
  // A SASL login may be repeated (re-authentication) with its own mechanism; a certificate's identity may not be traded.
  if (session.principal && session.mechanism !== 'anonymous' && !session.saslAuthenticated) return { errorCode: KafkaErrorCode.ILLEGAL_SASL_STATE, mechanisms: enabled };
  const wanted = enabled.find((m) => m === body.mechanism);
  if (!wanted) return { errorCode: KafkaErrorCode.UNSUPPORTED_SASL_MECHANISM, mechanisms: enabled };
  if (session.saslAuthenticated && wanted !== session.mechanism) {
    session.connection.closeAfterWrite();
    return { errorCode: KafkaErrorCode.ILLEGAL_SASL_STATE, mechanisms: enabled };
  }
  session.handshake = wanted;
  return { errorCode: KafkaErrorCode.NONE, mechanisms: enabled };
}

export interface AuthenticateAnswer {
  body: { errorCode: number; errorMessage: string | null; authBytes: Buffer; sessionLifetimeMs: number };
  /** Close the connection once this answer is written. */
  close: boolean;
}

const failure = (errorCode: number, errorMessage: string): AuthenticateAnswer => ({ body: { errorCode, errorMessage, authBytes: EMPTY, sessionLifetimeMs: 0 }, close: true });

export async function authenticate(session: KafkaSession, body: SaslAuthenticateRequest, hooks: SaslHooks): Promise<AuthenticateAnswer> {
  const mechanism: SaslMechanismName | undefined = session.handshake;
  if (!mechanism) return failure(KafkaErrorCode.ILLEGAL_SASL_STATE, 'SaslAuthenticate before a successful SaslHandshake');
  const delay = session.scram ? 0 : hooks.delayFor(session.ip);
  if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
  let outcome: AuthOutcome | undefined;
  let response: Buffer = EMPTY;
  if (mechanism === 'PLAIN') {
    outcome = await hooks.authenticator.plain(body.authBytes, { host: session.ip });
  } else if (mechanism === 'OAUTHBEARER') {
    // A refused token gets SASL_AUTHENTICATION_FAILED at once, not RFC 7628's error challenge: Kafka's clients handle both.
    outcome = await hooks.authenticator.oauthBearer(body.authBytes, { host: session.ip });
  } else {
    session.scram ??= hooks.authenticator.scram(mechanism, { host: session.ip });
    const step = await session.scram.step(body.authBytes);
    response = step.response;
    outcome = step.outcome;
  }
  if (!outcome) return { body: { errorCode: KafkaErrorCode.NONE, errorMessage: null, authBytes: response, sessionLifetimeMs: 0 }, close: false };
  // Re-authentication must not change who the connection is (Kafka refuses it too).
  if (outcome.ok && session.saslAuthenticated && outcome.principal.user !== session.principal!.user) {
    outcome = { ok: false, reason: AuthFailureReason.PrincipalChanged, mechanism, user: outcome.principal.user, detail: `re-authentication as another user than ${session.principal!.user}` };
  }
  const refused = hooks.finished(session, outcome);
  if (!outcome.ok || refused) {
    session.handshake = undefined;
    session.scram = undefined;
    return failure(KafkaErrorCode.SASL_AUTHENTICATION_FAILED, GENERIC_FAILURE);
  }
  const now = hooks.now();
  const lifetime = sessionLifetime(now, hooks.maxSessionLifetimeMs, outcome.expiresAt);
  const again = session.saslAuthenticated;
  session.authenticated(outcome.principal, mechanism, outcome.expiresAt, lifetime === undefined ? undefined : now + lifetime);
  if (again) hooks.reauthenticated(session);
  return { body: { errorCode: KafkaErrorCode.NONE, errorMessage: null, authBytes: response, sessionLifetimeMs: lifetime ?? 0 }, close: false };
}
