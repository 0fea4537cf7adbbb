// Authentication: credentials in, a Principal (or an audited reason) out. The listeners call
// the Authenticator; the rest is exported for tests, tools and the broker's wiring.
export {
  Authenticator,
  AuthFailureReason,
  AuthMechanism,
  stillValid,
  TOKEN_USERNAME,
  type AuthContext,
  type AuthenticatorOptions,
  type AuthOutcome,
  type ScramExchange,
} from './authenticator.ts';
export { credentialIndex, type CredentialIndex, type IndexedToken } from './credential-index.ts';
export { backoffKey, LOGIN_BACKOFF_DEFAULTS, LoginBackoff, type LoginBackoffOptions } from './login-backoff.ts';
export {
  DEFAULT_MAX_CONCURRENT_VERIFICATIONS,
  DEFAULT_MAX_QUEUED_VERIFICATIONS,
  PasswordVerifier,
  VerifyResult,
  type PasswordVerifierOptions,
} from './password-verifier.ts';
export { MAX_PLAIN_IDENTITY_BYTES, MAX_PLAIN_MESSAGE_BYTES, MAX_PLAIN_PASSWORD_BYTES, parseSaslPlain, type PlainCredentials, type PlainParse } from './sasl-plain.ts';
export {
  decodeSaslName,
  encodeSaslName,
  isScramMechanism,
  MAX_SCRAM_MESSAGE_BYTES,
  parseClientFinal,
  parseClientFirst,
  SCRAM_MECHANISMS,
  ScramError,
  ScramServer,
  type ClientFinal,
  type ClientFirst,
  type ScramLookup,
  type ScramMechanism,
  type ScramServerOptions,
  type ScramStage,
  type ScramStep,
} from './scram.ts';
export { certificateIdentity } from './certificate-identity.ts';
export { issueSessionToken, verifySessionToken, VerifyFailure, type SessionVerification } from './jwt.ts';
export { OAuthBearerFailure, OAuthBearerVerifier, parseOAuthBearerMessage, type OAuthBearerOptions, type OAuthBearerVerification } from './oauth-bearer.ts';
