// Passwords the operator generates for Users that bring none (issue 13). Pure apart from the
// random source, which is injected for tests.
//
// The alphabet is the 62 ASCII letters and digits: nothing in it needs quoting or escaping in a
// JAAS double-quoted string, a Java properties value, a librdkafka/kcat config line, a shell
// word, a URL or YAML, so every ready-made configuration in the user's Secret holds it verbatim.
// 32 characters of 62 carry 32 × log2(62) ≈ 190 bits. A cluster whose password policy asks for
// more gets it (spec.authentication.passwordPolicy): a longer password, or `-` and `_` mixed in.
import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import { BulwarkError } from '../../lib/index.ts';
import { DEFAULT_PASSWORD_POLICY, passwordWeakness, type PasswordPolicy } from '../../policy/index.ts';

export const PASSWORD_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
/** Added when the cluster's password policy asks for symbols: base64url's two, which need no quoting anywhere the letters need none. */
export const PASSWORD_SYMBOLS = '-_';
export const GENERATED_PASSWORD_LENGTH = 32;

/** A random source that yields no usable byte in this many draws is broken: stop rather than spin. */
const MAX_DRAWS = 1000;

/**
 * A password of GENERATED_PASSWORD_LENGTH characters (more if the policy's minLength asks), each
 * drawn uniformly by rejection sampling from PASSWORD_ALPHABET (plus PASSWORD_SYMBOLS when the
 * policy needs four classes of a password that long).
 *
 * It always passes `passwordWeakness()` under the policy (src/policy/credentials.ts): a password
 * that fails it (under the default policy, one without an uppercase letter, a lowercase letter
 * and a digit: about 0.4% of draws, nearly all for want of a digit) is thrown away whole and
 * drawn again. Redrawing the whole password keeps the result uniform over the passwords that
 * pass; it costs under 0.01 bits by default.
 */
export function generatePassword(randomBytes: (n: number) => Buffer = cryptoRandomBytes, policy: PasswordPolicy = DEFAULT_PASSWORD_POLICY): string {
  const length = Math.max(GENERATED_PASSWORD_LENGTH, policy.minLength);
  const needsSymbols = policy.minCharacterClasses > 3 && (policy.passphraseLength === 0 || length < policy.passphraseLength);
  const alphabet = needsSymbols ? PASSWORD_ALPHABET + PASSWORD_SYMBOLS : PASSWORD_ALPHABET;
  // Bytes at or above this are thrown away: each character keeps exactly as many byte values (no modulo bias).
  const acceptBelow = 256 - (256 % alphabet.length);
  let draws = 0;
  for (;;) {
    let password = '';
    while (password.length < length) {
      if (++draws > MAX_DRAWS) throw new BulwarkError('BWK_ERR_INTERNAL', {}, { cause: new Error('the random source yields no usable bytes') });
      // ~3% of bytes are rejected (none with symbols), so a few spare bytes usually finish the password in one draw.
      for (const byte of randomBytes(length - password.length + 4)) {
        if (byte >= acceptBelow) continue;
        password += alphabet[byte % alphabet.length];
        if (password.length === length) break;
      }
    }
    if (passwordWeakness(password, policy) === undefined && (needsSymbols || CLASSES.every((c) => c.test(password)))) return password;
  }
}

/** Generated passwords always mix these three, whatever the policy asks: what users of the earlier generator got. */
const CLASSES = [/[A-Z]/, /[a-z]/, /[0-9]/];
