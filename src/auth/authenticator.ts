// The Authenticator: the single entry point the listeners call to turn credentials into a
// Principal. Kafka's SASL (SCRAM-SHA-256/512, PLAIN), HTTP (password login, Bearer tokens),
// mTLS (an identity already extracted from the client certificate) and anonymous access all
// end in one AuthOutcome.
//
// Contract:
// - The policy is read through `policy()` on every login (and again when a slow verification
//   or a SCRAM exchange ends), so a policy swap takes effect at once: a user deleted or
//   disabled mid-login does not get in, and a password rotated mid-login fails.
// - Methods never throw on client input; anything unexpected is a failure (fail closed).
// - A failure's `reason` and `detail` are for the audit log only; clients get one generic
//   message. Neither ever contains a password, token, hash, salt or key. `user` is the name the
//   client claimed (for a token, the token's user once the token is known).
// - Unknown users, users of another mechanism and disabled users cost the same time as a
//   wrong password and fail at the same step (see scram.ts and password-verifier.ts); the
//   disabled, host and still-there checks come after the credential is verified, so the reason
//   says whether the password was right.
// - PLAIN and HTTP password login with the username `token` take an access token as the
//   password; no user named `token` can log in with a password (tokens win, fail closed).
// - Users with a host access list (spec.hosts) log in only from those addresses when the caller
//   passes the client's address (AuthContext.host); a caller that passes none checks host
//   access itself.
import { BulwarkError } from '../lib/index.ts';
import { ANONYMOUS_USER, TOKEN_FORMAT, TOKEN_USERNAME, tokenHash, type PolicySnapshot, type Principal, type SnapshotUser } from '../policy/index.ts';
import type { ScramCredential } from '../policy/index.ts';
import { credentialIndex, type CredentialIndex, type IndexedToken } from './credential-index.ts';
import { PasswordVerifier, VerifyResult, type PasswordVerifierOptions } from './password-verifier.ts';
import { parseSaslPlain, MAX_PLAIN_IDENTITY_BYTES, MAX_PLAIN_PASSWORD_BYTES } from './sasl-plain.ts';
import { isScramMechanism, ScramError, ScramServer, type ScramMechanism, type ScramStep } from './scram.ts';
import { OAuthBearerFailure, parseOAuthBearerMessage, type OAuthBearerVerifier } from './oauth-bearer.ts';

/** Why a login failed. Stable names: the audit log prints them. */
export const AuthFailureReason = {
  UnknownUser: 'UnknownUser',
  BadCredentials: 'BadCredentials',
  UserDisabled: 'UserDisabled',
  /** The user exists but logs in another way (a tls user with a password, a SCRAM-SHA-512 user with SCRAM-SHA-256). */
  WrongMechanism: 'WrongMechanism',
  UnknownToken: 'UnknownToken',
  TokenExpired: 'TokenExpired',
  AnonymousDisabled: 'AnonymousDisabled',
  /** The user's host access list does not admit the client's address. */
  HostNotAllowed: 'HostNotAllowed',
  /** The client's message broke the protocol (bad encoding, bounds, channel binding, extensions). */
  Malformed: 'Malformed',
  /** Too many password verifications were already waiting; nothing was checked. */
  Busy: 'Busy',
  /** A re-authentication on an open connection named another user than the connection's (KIP-368 forbids it). */
  PrincipalChanged: 'PrincipalChanged',
} as const;
export type AuthFailureReason = (typeof AuthFailureReason)[keyof typeof AuthFailureReason];

/** How the client authenticated, as the audit log names it. */
export const AuthMechanism = {
  Plain: 'PLAIN',
  ScramSha256: 'SCRAM-SHA-256',
  ScramSha512: 'SCRAM-SHA-512',
  /** SASL OAUTHBEARER: a JWT from the configured identity provider. */
  OAuthBearer: 'OAUTHBEARER',
  /** HTTP login with a username and password. */
  Password: 'password',
  /** HTTP Bearer access token. */
  Token: 'token',
  Certificate: 'certificate',
  Anonymous: 'anonymous',
} as const;

export type AuthOutcome =
  | { ok: true; principal: Principal; mechanism: string; /** Token expiry, ms since the epoch. */ expiresAt?: number }
  | { ok: false; reason: AuthFailureReason; mechanism: string; user?: string; /** Safe for logs: which check failed. */ detail?: string };

/** Where the client connects from. */
export interface AuthContext {
  /** The client's IP address, checked against the user's host access list. Left out, host access is not checked here. */
  host?: string;
}

export interface AuthenticatorOptions {
  /** The policy in force now; read on every login so a policy swap takes effect at once. */
  policy: () => PolicySnapshot;
  /** 32 bytes or more, for the fake SCRAM salts of unknown users. Keep it the same on every broker of a cluster and across restarts, as real salts are. */
  serverSecret: Buffer;
  verifier?: PasswordVerifierOptions;
  now?: () => number;
  /** SASL OAUTHBEARER's token verifier (auth.oauthBearer); without it OAUTHBEARER logs nobody in. */
  oauthBearer?: OAuthBearerVerifier;
}

export interface ScramExchange {
  readonly mechanism: string;
  /** Feeds one client message; `outcome` is present when the exchange ended, in success or failure. */
  step(clientMessage: Buffer): Promise<{ response: Buffer; outcome?: AuthOutcome }>;
}

export { TOKEN_USERNAME };

const fail = (reason: AuthFailureReason, mechanism: string, user?: string, detail?: string): AuthOutcome => ({
  ok: false,
  reason,
  mechanism,
  ...(user !== undefined ? { user } : {}),
  ...(detail !== undefined ? { detail } : {}),
});

const SCRAM_TYPE = { 'SCRAM-SHA-256': 'scram-sha-256', 'SCRAM-SHA-512': 'scram-sha-512' } as const;
const scramCredentialOf = (user: SnapshotUser, mechanism: ScramMechanism): ScramCredential | undefined =>
  user.authentication !== SCRAM_TYPE[mechanism] ? undefined : mechanism === 'SCRAM-SHA-256' ? user.credentials.scramSha256 : user.credentials.scramSha512;

/** What a password is checked against for this user; undefined for users without a password (tls). */
type PasswordCredential = { kind: 'argon2id'; phc: string } | { kind: 'scram'; mechanism: ScramMechanism; credential: ScramCredential };
function passwordCredential(user: SnapshotUser): PasswordCredential | undefined {
  if (user.authentication === 'password') return user.credentials.argon2id === undefined ? undefined : { kind: 'argon2id', phc: user.credentials.argon2id };
  if (user.authentication === 'tls') return undefined;
  const mechanism = user.authentication === 'scram-sha-256' ? 'SCRAM-SHA-256' : 'SCRAM-SHA-512';
  const credential = scramCredentialOf(user, mechanism);
  return credential === undefined ? undefined : { kind: 'scram', mechanism, credential };
}
/** Identifies a credential, to notice that it was rotated. */
const credentialId = (c: PasswordCredential | undefined) => (c === undefined ? undefined : c.kind === 'argon2id' ? c.phc : c.credential.storedKey);

export class Authenticator {
  readonly #policy: () => PolicySnapshot;
  readonly #secret: Buffer;
  readonly #now: () => number;
  readonly #verifier: PasswordVerifier;
  readonly #oauthBearer: OAuthBearerVerifier | undefined;

  constructor(opts: AuthenticatorOptions) {
    if (!Buffer.isBuffer(opts.serverSecret) || opts.serverSecret.length < 32) throw new BulwarkError('BWK_ERR_CONFIG_INVALID', { detail: 'auth serverSecret must be at least 32 bytes' });
    this.#policy = opts.policy;
    this.#secret = Buffer.from(opts.serverSecret); // a copy: the caller may wipe or reuse its buffer
    this.#now = opts.now ?? Date.now;
    this.#verifier = new PasswordVerifier(opts.verifier);
    this.#oauthBearer = opts.oauthBearer;
  }

  /** Verifications running and waiting, for metrics. */
  get verifierLoad(): { running: number; queued: number } {
    return this.#verifier.load;
  }

  #index(): CredentialIndex {
    return credentialIndex(this.#policy());
  }

  scram(mechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-512', context: AuthContext = {}): ScramExchange {
    if (!isScramMechanism(mechanism)) return new RefusedExchange(String(mechanism).slice(0, 64));
    return new AuthenticatorScramExchange(mechanism, this.#secret, () => this.#index(), context);
  }

  /** SASL PLAIN: a user's password (argon2id or SCRAM keys), or username `token` with an access token. */
  async plain(message: Buffer, context: AuthContext = {}): Promise<AuthOutcome> {
    const parsed = parseSaslPlain(message);
    if (!parsed.ok) return fail(AuthFailureReason.Malformed, AuthMechanism.Plain, undefined, parsed.detail);
    return this.#login(parsed.value.username, parsed.value.password, AuthMechanism.Plain, context);
  }

  /**
   * SASL OAUTHBEARER: a JWT of the configured issuer, whose user claim names a user of the policy
   * (of any authentication type: the identity provider vouches for it, as an access token does).
   * The outcome's expiresAt is the token's expiry, which ends the session.
   */
  async oauthBearer(message: Buffer, context: AuthContext = {}): Promise<AuthOutcome> {
    const mechanism = AuthMechanism.OAuthBearer;
    if (this.#oauthBearer === undefined) return fail(AuthFailureReason.WrongMechanism, mechanism, undefined, 'auth.oauthBearer is not configured');
    const token = parseOAuthBearerMessage(message);
    if (token === undefined) return fail(AuthFailureReason.Malformed, mechanism, undefined, 'not an RFC 7628 initial response with a bearer token');
    const verified = await this.#oauthBearer.verify(token, this.#now());
    if (!verified.ok) {
      const reason = verified.reason === OAuthBearerFailure.Expired ? AuthFailureReason.TokenExpired : verified.reason === OAuthBearerFailure.Malformed ? AuthFailureReason.Malformed : AuthFailureReason.BadCredentials;
      // No user: an unverified token's claims are the sender's word, not worth an audit field.
      return fail(reason, mechanism, undefined, `token ${verified.reason}`);
    }
    const index = this.#index();
    const user = index.user(verified.user);
    if (user === undefined) return fail(AuthFailureReason.UnknownUser, mechanism, verified.user);
    const admitted = admit(index, user, mechanism, context);
    return admitted.ok ? { ...admitted, expiresAt: verified.expiresAt } : admitted;
  }

  /** HTTP login: the same rules as PLAIN. */
  async password(username: string, password: string, context: AuthContext = {}): Promise<AuthOutcome> {
    if (typeof username !== 'string' || typeof password !== 'string') return fail(AuthFailureReason.Malformed, AuthMechanism.Password, undefined, 'username and password must be strings');
    const userBytes = Buffer.byteLength(username, 'utf8');
    const passBytes = Buffer.byteLength(password, 'utf8');
    if (userBytes === 0 || userBytes > MAX_PLAIN_IDENTITY_BYTES || username.includes('\0')) return fail(AuthFailureReason.Malformed, AuthMechanism.Password, undefined, `username must be 1 to ${MAX_PLAIN_IDENTITY_BYTES} bytes without NUL`);
    if (passBytes === 0 || passBytes > MAX_PLAIN_PASSWORD_BYTES) return fail(AuthFailureReason.Malformed, AuthMechanism.Password, username, `password must be 1 to ${MAX_PLAIN_PASSWORD_BYTES} bytes`);
    return this.#login(username, password, AuthMechanism.Password, context);
  }

  /** HTTP Bearer: an access token. Expiry is checked against now() on every use. */
  token(token: string, context: AuthContext = {}): AuthOutcome {
    return this.#token(token, AuthMechanism.Token, context);
  }

  /** mTLS: the identity the certificate-identity mapping extracted; the tls user whose certificateSubject equals it. */
  certificate(identity: string, context: AuthContext = {}): AuthOutcome {
    const mechanism = AuthMechanism.Certificate;
    if (typeof identity !== 'string' || identity === '') return fail(AuthFailureReason.Malformed, mechanism, undefined, 'empty certificate identity');
    const index = this.#index();
    const user = index.certificateUser(identity);
    if (user === undefined) {
      // A password or SCRAM user of that name exists, but a certificate is not how it logs in.
      const named = index.user(identity);
      return fail(named && named.authentication !== 'tls' ? AuthFailureReason.WrongMechanism : AuthFailureReason.UnknownUser, mechanism, identity.slice(0, 1024));
    }
    return admit(index, user, mechanism, context);
  }

  anonymous(): AuthOutcome {
    return this.#policy().settings.allowAnonymous
      ? { ok: true, principal: { user: ANONYMOUS_USER }, mechanism: AuthMechanism.Anonymous }
      : fail(AuthFailureReason.AnonymousDisabled, AuthMechanism.Anonymous);
  }

  async #login(username: string, password: string, mechanism: string, context: AuthContext): Promise<AuthOutcome> {
    if (username === TOKEN_USERNAME) return this.#token(password, mechanism, context);
    const user = this.#index().user(username);
    const stored = user && passwordCredential(user);
    const result =
      stored === undefined
        ? await this.#verifier.argon2id(undefined, password) // the same cost as a real check
        : stored.kind === 'argon2id'
          ? await this.#verifier.argon2id(stored.phc, password)
          : await this.#verifier.scram(stored.mechanism, stored.credential, password);
    if (result === VerifyResult.Busy) return fail(AuthFailureReason.Busy, mechanism, username);
    if (stored === undefined) return fail(user ? AuthFailureReason.WrongMechanism : AuthFailureReason.UnknownUser, mechanism, username);
    if (result !== VerifyResult.Match) return fail(AuthFailureReason.BadCredentials, mechanism, username);

    // The verification took a while: judge the user by the policy in force now.
    const index = this.#index();
    const current = index.user(username);
    if (current === undefined) return fail(AuthFailureReason.UnknownUser, mechanism, username, 'user was removed during the login');
    if (credentialId(passwordCredential(current)) !== credentialId(stored)) return fail(AuthFailureReason.BadCredentials, mechanism, username, 'credentials changed during the login');
    return admit(index, current, mechanism, context);
  }

  #token(token: string, mechanism: string, context: AuthContext): AuthOutcome {
    if (typeof token !== 'string' || !TOKEN_FORMAT.test(token)) return fail(AuthFailureReason.Malformed, mechanism, undefined, 'not an access token (bwk_ and 43 base64url characters)');
    const index = this.#index();
    const found = index.tokenByHash(tokenHash(token));
    if (found === undefined) return fail(AuthFailureReason.UnknownToken, mechanism);
    const checked = checkToken(index, found, this.#now());
    if (checked !== true) return fail(checked.reason, mechanism, found.token.user, `token ${found.token.id}`);
    const user = index.user(found.token.user)!; // checkToken saw it
    const admitted = admit(index, user, mechanism, context, found.token.id);
    return admitted.ok && Number.isFinite(found.expiresAtMs) ? { ...admitted, expiresAt: found.expiresAtMs } : admitted;
  }
}

/** The checks after the credential: the user is enabled and connects from an allowed host. */
function admit(index: CredentialIndex, user: SnapshotUser, mechanism: string, context: AuthContext, tokenId?: string): AuthOutcome {
  if (user.disabled) return fail(AuthFailureReason.UserDisabled, mechanism, user.name);
  if (context.host !== undefined && !index.hostAllowed(user, context.host)) return fail(AuthFailureReason.HostNotAllowed, mechanism, user.name, `from ${context.host}`);
  return { ok: true, principal: tokenId === undefined ? { user: user.name } : { user: user.name, tokenId }, mechanism };
}

/** Token checks shared by login and stillValid: the token's user exists and is enabled, and the token has not expired. */
function checkToken(index: CredentialIndex, found: IndexedToken, now: number): true | { reason: AuthFailureReason } {
  if (now >= found.expiresAtMs) return { reason: AuthFailureReason.TokenExpired };
  const user = index.user(found.token.user);
  if (user === undefined) return { reason: AuthFailureReason.UnknownUser };
  if (user.disabled) return { reason: AuthFailureReason.UserDisabled };
  return true;
}

/**
 * Whether a session authenticated earlier may go on under `snapshot` at `now`. The broker calls
 * it after every policy swap and on a timer, and closes the connections for which it is not true:
 * users deleted or disabled, tokens revoked or expired, anonymous access turned off, and (when
 * the connection's address is given) a host list that no longer admits it.
 */
export function stillValid(principal: Principal, snapshot: PolicySnapshot, now: number, host?: string): true | { reason: AuthFailureReason } {
  const index = credentialIndex(snapshot);
  if (principal.user === ANONYMOUS_USER && principal.tokenId === undefined) return snapshot.settings.allowAnonymous ? true : { reason: AuthFailureReason.AnonymousDisabled };
  const user = index.user(principal.user);
  if (user === undefined) return { reason: AuthFailureReason.UnknownUser };
  if (user.disabled) return { reason: AuthFailureReason.UserDisabled };
  if (host !== undefined && !index.hostAllowed(user, host)) return { reason: AuthFailureReason.HostNotAllowed };
  if (principal.tokenId !== undefined) {
    const found = index.tokenById(principal.tokenId);
    if (found === undefined || found.token.user !== principal.user) return { reason: AuthFailureReason.UnknownToken };
    return checkToken(index, found, now);
  }
  return true;
}

/** A SCRAM exchange against the policy: wraps the protocol state machine with the user checks. */
class AuthenticatorScramExchange implements ScramExchange {
  readonly mechanism: ScramMechanism;
  readonly #server: ScramServer;
  readonly #index: () => CredentialIndex;
  readonly #context: AuthContext;
  /** Why the exchange must fail whatever the proof says; set by the lookup. */
  #missing: AuthFailureReason | undefined;

  constructor(mechanism: ScramMechanism, secret: Buffer, index: () => CredentialIndex, context: AuthContext) {
    this.mechanism = mechanism;
    this.#index = index;
    this.#context = context;
    this.#server = new ScramServer({
      mechanism,
      serverSecret: secret,
      lookup: (username) => {
        const idx = this.#index();
        const user = idx.user(username);
        const credential = user && scramCredentialOf(user, mechanism);
        if (credential !== undefined) return { credential };
        this.#missing = user === undefined ? AuthFailureReason.UnknownUser : AuthFailureReason.WrongMechanism;
        return { credential: undefined, fakeIterations: idx.snapshot.settings.scramIterations };
      },
    });
  }

  async step(clientMessage: Buffer): Promise<{ response: Buffer; outcome?: AuthOutcome }> {
    let step: ScramStep;
    try {
      step = this.#server.step(clientMessage);
    } catch {
      return { response: Buffer.from(`e=${ScramError.OtherError}`), outcome: fail(AuthFailureReason.Malformed, this.mechanism, undefined, 'internal error') };
    }
    if (step.status === 'continue') return { response: step.response };
    if (step.status === 'failure') {
      // Only the proof check answers invalid-proof; everything else is the client breaking the protocol.
      const reason = step.error !== ScramError.InvalidProof ? AuthFailureReason.Malformed : (this.#missing ?? AuthFailureReason.BadCredentials);
      return { response: step.response, outcome: fail(reason, this.mechanism, step.username, reason === AuthFailureReason.Malformed ? step.detail : undefined) };
    }
    // The proof was right. Judge the user by the policy in force now, which may have changed
    // since client-first; any refusal answers as a wrong proof would.
    const index = this.#index();
    const user = index.user(step.username);
    let outcome: AuthOutcome;
    if (user === undefined) outcome = fail(AuthFailureReason.UnknownUser, this.mechanism, step.username, 'user was removed during the login');
    else if (scramCredentialOf(user, this.mechanism)?.storedKey !== step.credential.storedKey) outcome = fail(AuthFailureReason.BadCredentials, this.mechanism, step.username, 'credentials changed during the login');
    else outcome = admit(index, user, this.mechanism, this.#context);
    return outcome.ok ? { response: step.response, outcome } : { response: Buffer.from(`e=${ScramError.InvalidProof}`), outcome };
  }
}

/** An exchange for a mechanism this authenticator does not offer: its first step fails. */
class RefusedExchange implements ScramExchange {
  readonly mechanism: string;
  constructor(mechanism: string) {
    this.mechanism = mechanism;
  }
  async step(): Promise<{ response: Buffer; outcome?: AuthOutcome }> {
    return { response: Buffer.from(`e=${ScramError.OtherError}`), outcome: fail(AuthFailureReason.WrongMechanism, this.mechanism, undefined, 'mechanism not offered') };
  }
}
