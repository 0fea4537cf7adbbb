// Password verification off the event loop, with a bounded queue.
//
// argon2id (@node-rs/argon2's `verify`) and PBKDF2 (`crypto.pbkdf2`) both run on libuv's thread
// pool, which Node shares with file I/O and DNS (4 threads unless UV_THREADPOOL_SIZE says
// otherwise). At most `maxConcurrent` verifications (default 2) run at once, so a login storm
// leaves threads for the log's file I/O; at most `maxQueued` (default 64) wait behind them, and
// any beyond fail at once with `busy` instead of piling up memory and latency: each argon2id
// verification holds 19 MiB while it runs.
//
// Every verification costs about the same whoever asks, so response time does not tell which
// usernames exist or how they log in:
// - no credential (unknown user, certificate-only user): verify against a dummy argon2id hash
//   with the same parameters, computed once, lazily; the answer is always a mismatch;
// - argon2id (`password` users): verify against the user's hash;
// - SCRAM users logging in with PLAIN or HTTP: recompute SaltedPassword with PBKDF2, compare
//   H(HMAC(SaltedPassword, "Client Key")) with the StoredKey in constant time, then also verify
//   the dummy argon2id hash. PBKDF2 at 8192 iterations takes a fifth of an argon2id check
//   (2-5 ms against 13 ms on a 2-core machine), so without the padding a fast failure would
//   say "this user exists and uses SCRAM".
// Any error inside a verification (a malformed hash) is a mismatch: fail closed.
import { hash as argon2Hash, verify as argon2Verify } from '@node-rs/argon2';
import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { BulwarkError } from '../lib/index.ts';
import { ARGON2_PARAMS, type ScramCredential, type ScramMechanism } from '../policy/index.ts';

const pbkdf2Async = promisify(pbkdf2);

export const VerifyResult = {
  Match: 'match',
  Mismatch: 'mismatch',
  /** The queue was full: nothing was verified. */
  Busy: 'busy',
} as const;
export type VerifyResult = (typeof VerifyResult)[keyof typeof VerifyResult];

export interface PasswordVerifierOptions {
  /** Verifications running at once on the thread pool. Default 2. */
  maxConcurrent?: number;
  /** Verifications waiting for a slot; beyond this, `busy`. Default 64. */
  maxQueued?: number;
}

export const DEFAULT_MAX_CONCURRENT_VERIFICATIONS = 2;
export const DEFAULT_MAX_QUEUED_VERIFICATIONS = 64;

const SCRAM_DIGEST = { 'SCRAM-SHA-256': { name: 'sha256', size: 32 }, 'SCRAM-SHA-512': { name: 'sha512', size: 64 } } as const;

export class PasswordVerifier {
  readonly maxConcurrent: number;
  readonly maxQueued: number;
  #running = 0;
  readonly #waiting: (() => void)[] = [];
  #dummy: Promise<string> | undefined;

  constructor(opts: PasswordVerifierOptions = {}) {
    this.maxConcurrent = opts.maxConcurrent ?? DEFAULT_MAX_CONCURRENT_VERIFICATIONS;
    this.maxQueued = opts.maxQueued ?? DEFAULT_MAX_QUEUED_VERIFICATIONS;
    if (!Number.isInteger(this.maxConcurrent) || this.maxConcurrent < 1 || this.maxConcurrent > 1024)
      throw new BulwarkError('BWK_ERR_CONFIG_INVALID', { detail: 'verifier.maxConcurrent must be an integer from 1 to 1024' });
    if (!Number.isInteger(this.maxQueued) || this.maxQueued < 0 || this.maxQueued > 1_000_000)
      throw new BulwarkError('BWK_ERR_CONFIG_INVALID', { detail: 'verifier.maxQueued must be an integer from 0 to 1000000' });
  }

  /** Verifications running now and waiting now. */
  get load(): { running: number; queued: number } {
    return { running: this.#running, queued: this.#waiting.length };
  }

  /** Checks a password against an argon2id PHC string; with none, against the dummy (always a mismatch). */
  argon2id(phc: string | undefined, password: string): Promise<VerifyResult> {
    return this.#run(async () => {
      if (phc === undefined) {
        await this.#verifyDummy(password);
        return false;
      }
      return argon2Verify(phc, password);
    });
  }

  /** Checks a password against a SCRAM credential by recomputing its StoredKey. */
  scram(mechanism: ScramMechanism, credential: ScramCredential, password: string): Promise<VerifyResult> {
    return this.#run(async () => {
      const digest = SCRAM_DIGEST[mechanism];
      const stored = Buffer.from(credential.storedKey, 'base64');
      let matches = false;
      if (digest && stored.length === digest.size && Number.isInteger(credential.iterations) && credential.iterations >= 1) {
        const salted = await pbkdf2Async(Buffer.from(password, 'utf8'), Buffer.from(credential.salt, 'base64'), credential.iterations, digest.size, digest.name);
        const clientKey = createHmac(digest.name, salted).update('Client Key').digest();
        matches = timingSafeEqual(createHash(digest.name).update(clientKey).digest(), stored);
      }
      await this.#verifyDummy(password); // padding: see the header
      return matches;
    });
  }

  /** Runs `job` when a slot is free; the slot is taken (or the job queued, or refused) synchronously. */
  #run(job: () => Promise<boolean>): Promise<VerifyResult> {
    if (this.#running >= this.maxConcurrent && this.#waiting.length >= this.maxQueued) return Promise.resolve(VerifyResult.Busy);
    const start = async (): Promise<VerifyResult> => {
      try {
        return (await job()) ? VerifyResult.Match : VerifyResult.Mismatch;
      } catch {
        return VerifyResult.Mismatch;
      } finally {
        const next = this.#waiting.shift();
        if (next) next(); // the slot passes straight to the next in line
        else this.#running--;
      }
    };
    if (this.#running < this.maxConcurrent) {
      this.#running++;
      return start();
    }
    return new Promise<void>((resolve) => this.#waiting.push(resolve)).then(start);
  }

  async #verifyDummy(password: string): Promise<void> {
    this.#dummy ??= argon2Hash(randomBytes(32), { ...ARGON2_PARAMS, algorithm: 2 }).catch((err: unknown) => {
      this.#dummy = undefined; // try again next time rather than fail fast forever
      throw err;
    });
    await argon2Verify(await this.#dummy, password);
  }
}
