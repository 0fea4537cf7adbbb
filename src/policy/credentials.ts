// Derived credentials: what the snapshot carries instead of passwords and tokens.
//
// Derivation is deterministic for a given salt key, so compiling the same input twice gives the
// same snapshot bytes: salts are HMAC-SHA256(saltKey, mechanism || identity). The salt key is a
// per-cluster secret (the operator's, or the data directory's in local mode); salts stay unique
// per user and per cluster, and cannot be predicted without the key.
import { hash as argon2Hash } from '@node-rs/argon2';
import { createHash, createHmac, pbkdf2, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import type { AuthenticationType } from '../api/index.ts';

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

/** Weak passwords are refused where Bulwark takes a password from the user. */
export function passwordWeakness(password: string): string | undefined {
  if (password.length < 12) return 'shorter than 12 characters';
  if (password.length > 1024) return 'longer than 1024 characters';
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/].filter((r) => r.test(password)).length;
  if (classes < 3 && password.length < 20) return 'needs three of: lowercase, uppercase, digits, symbols (or 20+ characters)';
  return undefined;
}
