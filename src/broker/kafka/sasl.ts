// SaslHandshake (v1) and SaslAuthenticate: the Kafka side of authentication. The mechanisms
// themselves live in src/auth/; this module keeps the exchange in order on one connection and
// turns outcomes into Kafka answers.
//
// Clients learn nothing from a failure: every failure is SASL_AUTHENTICATION_FAILED with the
// same message, whatever the reason (unknown user, wrong password, disabled, busy); the reason
// goes to the audit log. After a failure the connection is closed, as Kafka does. Before each
// attempt the per-IP backoff may delay the answer.
import type { AuthOutcome, Authenticator } from '../../auth/index.ts';
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
}

export function handshake(session: KafkaSession, body: SaslHandshakeRequest, version: number) {
  const enabled = saslMechanisms(session.listener);
  // v0 would be followed by raw SASL frames, which this listener does not read (see the codec's note).
  if (version === 0) {
    session.connection.closeAfterWrite();
    return { errorCode: KafkaErrorCode.UNSUPPORTED_VERSION, mechanisms: enabled };
  }
  if (session.principal && session.mechanism !== 'anonymous') return { errorCode: KafkaErrorCode.ILLEGAL_SASL_STATE, mechanisms: enabled };
  const wanted = enabled.find((m) => m === body.mechanism);
  if (!wanted) return { errorCode: KafkaErrorCode.UNSUPPORTED_SASL_MECHANISM, mechanisms: enabled };
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
  } else {
    session.scram ??= hooks.authenticator.scram(mechanism, { host: session.ip });
    const step = await session.scram.step(body.authBytes);
    response = step.response;
    outcome = step.outcome;
  }
  if (!outcome) return { body: { errorCode: KafkaErrorCode.NONE, errorMessage: null, authBytes: response, sessionLifetimeMs: 0 }, close: false };
  const refused = hooks.finished(session, outcome);
  if (!outcome.ok || refused) {
    session.handshake = undefined;
    session.scram = undefined;
    return failure(KafkaErrorCode.SASL_AUTHENTICATION_FAILED, GENERIC_FAILURE);
  }
  session.authenticated(outcome.principal, mechanism, outcome.expiresAt);
  return { body: { errorCode: KafkaErrorCode.NONE, errorMessage: null, authBytes: response, sessionLifetimeMs: 0 }, close: false };
}
