// Derived credentials: what the snapshot carries instead of passwords and tokens.
//
// Derivation is deterministic for a given salt key, so compiling the same input twice gives the
// same snapshot bytes: salts are HMAC-SHA256(saltKey, mechanism || identity). The salt key is a
// per-cluster secret (the operator's, or the data directory's in local mode); salts stay unique
// per user and per cluster, and cannot be predicted without the key.
import { hash as argon2Hash } from '@node-rs/argon2';
import { createHash, createHmac, pbkdf2, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import type { AuthenticationType, BrokerCluster } from '../api/index.ts';

const pbkdf2Async = promisify(pbkdf2);

export type ScramMechanism = 'SCRAM-SHA-256' | 'SCRAM-SHA-512';
export interface ScramCredential {
  salt: string;
  iterations: number;
  storedKey: string;
  serverKey: string;
}
export interface DerivedCredentials {
  scramSha256?: ScramCredential;
  scramSha512?: ScramCredential;
  argon2id?: string;
}

/** OWASP's argon2id parameters: 19 MiB, 2 passes, 1 lane. */
export const ARGON2_PARAMS = { memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;
export const DEFAULT_SCRAM_ITERATIONS = 8192;

const digestOf = (m: ScramMechanism) => (m === 'SCRAM-SHA-256' ? 'sha256' : 'sha512');

function deriveSalt(saltKey: Buffer, purpose: string, identity: string, length: number): Buffer {
  return createHmac('sha256', saltKey).update(`${purpose}\0${identity}`).digest().subarray(0, length);
}

/** RFC 5802: SaltedPassword = Hi(password, salt, i); StoredKey = H(HMAC(SP, "Client Key")); ServerKey = HMAC(SP, "Server Key"). */
export async function scramCredential(mechanism: ScramMechanism, password: string, salt: Buffer, iterations: number): Promise<ScramCredential> {
  const digest = digestOf(mechanism);
  const size = digest === 'sha256' ? 32 : 64;
  const salted = await pbkdf2Async(Buffer.from(password, 'utf8'), salt, iterations, size, digest);
  const clientKey = createHmac(digest, salted).update('Client Key').digest();
  return {
    salt: salt.toString('base64'),
    iterations,
    storedKey: createHash(digest).update(clientKey).digest('base64'),
    serverKey: createHmac(digest, salted).update('Server Key').digest('base64'),
  };
}

export interface DeriveOptions {
  saltKey: Buffer;
  /** Unique, stable name of the user: namespace/cluster/username. */
  identity: string;
  scramIterations?: number;
}

/** The credentials a user of this authentication type needs; none for tls. */
export async function deriveCredentials(type: AuthenticationType, password: string, opts: DeriveOptions): Promise<DerivedCredentials> {
  const iterations = opts.scramIterations ?? DEFAULT_SCRAM_ITERATIONS;
  switch (type) {
    case 'scram-sha-256':
      return { scramSha256: await scramCredential('SCRAM-SHA-256', password, deriveSalt(opts.saltKey, 'scram-sha-256', opts.identity, 24), iterations) };
    case 'scram-sha-512':
      return { scramSha512: await scramCredential('SCRAM-SHA-512', password, deriveSalt(opts.saltKey, 'scram-sha-512', opts.identity, 24), iterations) };
    case 'password':
      return { argon2id: await argon2Hash(password, { ...ARGON2_PARAMS, algorithm: 2, salt: deriveSalt(opts.saltKey, 'argon2id', opts.identity, 16) }) };
    case 'tls':
      return {};
  }
}

export const TOKEN_PREFIX = 'bwk_';
/** bwk_ followed by 43 base64url characters: 256 random bits. */
export const TOKEN_FORMAT = /^bwk_[A-Za-z0-9_-]{43}$/;

/** The username SASL PLAIN and HTTP password logins take to mean "the password is an access token". */
export const TOKEN_USERNAME = 'token';

export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

/** Tokens are stored as their SHA-256 only: with 256 random bits, a slow hash adds nothing. */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** What a password must be: a BrokerCluster's spec.authentication.passwordPolicy with its defaults filled in. */
export interface PasswordPolicy {
  minLength: number;
  minCharacterClasses: number;
  /** A password at least this long need not mix classes; 0: every password must. */
  passphraseLength: number;
}

/** No password is longer: argon2id and PBKDF2 hash all of it, on every login. */
export const MAX_PASSWORD_LENGTH = 1024;
/** What the CRD documents for a policy left out, and what the standalone root password must pass. */
export const DEFAULT_PASSWORD_POLICY: PasswordPolicy = Object.freeze({ minLength: 12, minCharacterClasses: 3, passphraseLength: 20 });

/** The policy a BrokerCluster sets (spec.authentication.passwordPolicy), or the default's values for what it leaves out. */
export function passwordPolicyOf(cluster: BrokerCluster | undefined): PasswordPolicy {
  const p = cluster?.spec.authentication?.passwordPolicy;
  return {
    minLength: p?.minLength ?? DEFAULT_PASSWORD_POLICY.minLength,
    minCharacterClasses: p?.minCharacterClasses ?? DEFAULT_PASSWORD_POLICY.minCharacterClasses,
    passphraseLength: p?.passphraseLength ?? DEFAULT_PASSWORD_POLICY.passphraseLength,
  };
}

/** The rule of the policy a password fails: a field of spec.authentication.passwordPolicy, or maxLength (fixed). */
export type PasswordRule = 'minLength' | 'maxLength' | 'minCharacterClasses';
export interface PasswordWeakness {
  rule: PasswordRule;
  /** What the rule asks for; never anything about the password beyond failing it. */
  message: string;
}

const CHARACTER_CLASSES = [/\p{Ll}/u, /\p{Lu}/u, /[0-9]/, /[^\p{Ll}\p{Lu}0-9]/u];

/**
 * Why a password fails the policy, or undefined when it passes. Lengths count Unicode code
 * points (what a person typing it counts). The classes: lowercase letters, uppercase letters,
 * ASCII digits, and anything else (symbols, spaces, letters without case).
 */
export function passwordWeakness(password: string, policy: PasswordPolicy = DEFAULT_PASSWORD_POLICY): PasswordWeakness | undefined {
  let length = 0;
  for (let i = 0; i < password.length; i++) {
    const unit = password.charCodeAt(i);
    if (unit < 0xdc00 || unit > 0xdfff) length++; // a low surrogate ends a code point already counted
  }
  if (length < policy.minLength) return { rule: 'minLength', message: `shorter than ${policy.minLength} characters` };
  if (length > MAX_PASSWORD_LENGTH) return { rule: 'maxLength', message: `longer than ${MAX_PASSWORD_LENGTH} characters` };
  if (policy.passphraseLength > 0 && length >= policy.passphraseLength) return undefined;
  const classes = CHARACTER_CLASSES.filter((r) => r.test(password)).length;
  if (classes < policy.minCharacterClasses) {
    const or = policy.passphraseLength > 0 ? ` (or ${policy.passphraseLength}+ characters)` : '';
    return { rule: 'minCharacterClasses', message: `needs ${policy.minCharacterClasses} of: lowercase letters, uppercase letters, digits, symbols${or}` };
  }
  return undefined;
}

/** Why a brought password is refused, for a status or a policy check: the Secret and the rule, never the password. */
export function passwordPolicyFailure(secret: { name: string; key: string }, weakness: PasswordWeakness): string {
  return `the password in Secret ${secret.name} (key ${secret.key}) fails the password policy's ${weakness.rule} rule: ${weakness.message}; this user cannot log in until it is changed`;
}
