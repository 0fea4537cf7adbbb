// Passwords the operator generates for Users that bring none (issue 13). Pure apart from the
// random source, which is injected for tests.
//
// The alphabet is the 62 ASCII letters and digits: nothing in it needs quoting or escaping in a
// JAAS double-quoted string, a Java properties value, a librdkafka/kcat config line, a shell
// word, a URL or YAML, so every ready-made configuration in the user's Secret holds it verbatim.
// 32 characters of 62 carry 32 × log2(62) ≈ 190 bits.
import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import { BulwarkError } from '../../lib/index.ts';

export const PASSWORD_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
export const GENERATED_PASSWORD_LENGTH = 32;

/** Bytes at or above this are thrown away: 248 = 4 × 62, so each character has exactly 4 byte values (no modulo bias). */
const ACCEPT_BELOW = 256 - (256 % PASSWORD_ALPHABET.length);
/** A random source that yields no usable byte in this many draws is broken: stop rather than spin. */
const MAX_DRAWS = 1000;
const CLASSES = [/[A-Z]/, /[a-z]/, /[0-9]/];

/**
 * 32 characters from PASSWORD_ALPHABET, each drawn uniformly by rejection sampling.
 *
 * It always passes `passwordWeakness()` (src/policy/credentials.ts): 32 characters pass its
 * length rule by themselves, and on top of that a password without an uppercase letter, a
 * lowercase letter and a digit is thrown away whole and drawn again (about 0.4% of draws, nearly
 * all for want of a digit). Redrawing the whole password keeps the result uniform over the
 * passwords that have all three classes; it costs under 0.01 bits.
 */
export function generatePassword(randomBytes: (n: number) => Buffer = cryptoRandomBytes): string {
  let draws = 0;
  for (;;) {
    let password = '';
    while (password.length < GENERATED_PASSWORD_LENGTH) {
      if (++draws > MAX_DRAWS) throw new BulwarkError('BWK_ERR_INTERNAL', {}, { cause: new Error('the random source yields no usable bytes') });
      // ~3% of bytes are rejected, so a few spare bytes usually finish the password in one draw.
      for (const byte of randomBytes(GENERATED_PASSWORD_LENGTH - password.length + 4)) {
        if (byte >= ACCEPT_BELOW) continue;
        password += PASSWORD_ALPHABET[byte % PASSWORD_ALPHABET.length];
        if (password.length === GENERATED_PASSWORD_LENGTH) break;
      }
    }
    if (CLASSES.every((c) => c.test(password))) return password;
  }
}
