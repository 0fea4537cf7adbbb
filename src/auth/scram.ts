// The SCRAM server (RFC 5802, RFC 7677): SCRAM-SHA-256 and SCRAM-SHA-512, one exchange per
// instance, as a state machine that Kafka's SaslAuthenticate (and anything else) feeds bytes.
//
//   client-first  n,,n=user,r=cnonce           ─▶  server-first  r=cnonce+snonce,s=salt,i=iterations
//   client-final  c=biws,r=cnonce+snonce,p=..   ─▶  server-final  v=ServerSignature | e=error
//
// Contract:
// - `step` never throws and never blocks: every malformed, oversized or out-of-order message
//   ends the exchange with a failure that carries an RFC 5802 `e=` answer. A finished exchange
//   answers every further message with a failure.
// - No channel binding (gs2 flag `n` or `y`; `p=` is refused), no extensions (`m=`, and Kafka's
//   `tokenauth=true` for delegation tokens, are refused), authzid empty or equal to the username.
// - A username without a usable credential (unknown, disabled elsewhere, another mechanism) is
//   indistinguishable on the wire from a wrong password: it gets a salt derived from the server
//   secret (stable per username, as a real salt is), the policy's iteration count, and the same
//   proof computation against a fake StoredKey; it fails only at the final step, with the same
//   `e=invalid-proof` a wrong password gets.
// - The proof check is H(proof XOR HMAC(StoredKey, AuthMessage)) == StoredKey, compared with
//   timingSafeEqual. Failure details name the check that failed, never a key, salt or proof.
// SASLprep is not applied to usernames or passwords, as in Kafka: credentials are derived from
// the UTF-8 bytes as given, and clients send them the same way.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { BulwarkError } from '../lib/index.ts';
import type { ScramCredential, ScramMechanism } from '../policy/index.ts';

export type { ScramMechanism } from '../policy/index.ts';
export const SCRAM_MECHANISMS: readonly ScramMechanism[] = ['SCRAM-SHA-256', 'SCRAM-SHA-512'];

export const isScramMechanism = (name: string): name is ScramMechanism => (SCRAM_MECHANISMS as readonly string[]).includes(name);

/** The `e=` values of RFC 5802 section 7 that this server sends. */
export const ScramError = {
  InvalidEncoding: 'invalid-encoding',
  ExtensionsNotSupported: 'extensions-not-supported',
  InvalidProof: 'invalid-proof',
  ChannelBindingsDontMatch: 'channel-bindings-dont-match',
  ChannelBindingNotSupported: 'channel-binding-not-supported',
  InvalidUsernameEncoding: 'invalid-username-encoding',
  OtherError: 'other-error',
} as const;
export type ScramError = (typeof ScramError)[keyof typeof ScramError];

/** What the server knows about a username, asked once per exchange after client-first. */
export type ScramLookup =
  | { credential: ScramCredential }
  /** No usable credential: the exchange goes on with a fake one announcing these iterations. */
  | { credential: undefined; fakeIterations: number };

export interface ScramServerOptions {
  mechanism: ScramMechanism;
  lookup: (username: string) => ScramLookup;
  /** At least 32 bytes; the fake salts and keys of usernames without a credential derive from it. */
  serverSecret: Buffer;
  /** The server's nonce part; random (24 bytes, base64) unless a test injects one. */
  nonce?: () => string;
}

export type ScramStage = 'client-first' | 'client-final' | 'finished';

export type ScramStep =
  | { status: 'continue'; response: Buffer; username: string }
  | { status: 'success'; response: Buffer; username: string; credential: ScramCredential }
  | {
      status: 'failure';
      response: Buffer;
      /** Which message the failure answered. */
      stage: ScramStage;
      error: ScramError;
      /** Safe for logs: names the check that failed, never a secret. */
      detail: string;
      /** The username, once client-first was understood. */
      username?: string;
      /** False when there was no real credential: the proof could not have been right. */
      credentialKnown?: boolean;
    };

/** Longest message accepted. Real ones are under 300 bytes; the bound keeps parsing cheap. */
export const MAX_SCRAM_MESSAGE_BYTES = 4096;
const MAX_NONCE_LENGTH = 512;
const FAKE_SALT_BYTES = 24; // the length of the salts compiled credentials carry (policy/credentials.ts)

const DIGEST = {
  'SCRAM-SHA-256': { name: 'sha256', size: 32 },
  'SCRAM-SHA-512': { name: 'sha512', size: 64 },
} as const;

/** printable = %x21-2B / %x2D-7E: visible ASCII without the comma. */
const PRINTABLE = /^[\x21-\x2b\x2d-\x7e]+$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

interface Keys {
  salt: string;
  iterations: number;
  storedKey: Buffer;
  serverKey: Buffer;
}

type Parsed<T> = { ok: true; value: T } | { ok: false; error: ScramError; detail: string };
const bad = (error: ScramError, detail: string): { ok: false; error: ScramError; detail: string } => ({ ok: false, error, detail });

export interface ClientFirst {
  gs2Header: string;
  username: string;
  clientNonce: string;
  bare: string;
}

/** RFC 5802 saslname: `=2C` is `,` and `=3D` is `=`; any other `=`, or a raw `,`, is invalid. */
export function decodeSaslName(value: string): string | undefined {
  if (value.includes(',')) return undefined;
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c !== '=') {
      out += c;
      continue;
    }
    const code = value.slice(i + 1, i + 3);
    if (code === '2C') out += ',';
    else if (code === '3D') out += '=';
    else return undefined;
    i += 2;
  }
  return out;
}

export function encodeSaslName(name: string): string {
  return name.replace(/=/g, '=3D').replace(/,/g, '=2C');
}

export function parseClientFirst(text: string): Parsed<ClientFirst> {
  // gs2-header = gs2-cbind-flag "," [ authzid ] ","
  if (text.startsWith('p=')) return bad(ScramError.ChannelBindingNotSupported, 'client asked for channel binding (p=)');
  const flag = text[0];
  if ((flag !== 'n' && flag !== 'y') || text[1] !== ',') return bad(ScramError.InvalidEncoding, 'gs2 header must start with n, or y,');
  const authzEnd = text.indexOf(',', 2);
  if (authzEnd < 0) return bad(ScramError.InvalidEncoding, 'gs2 header is not terminated');
  const authzPart = text.slice(2, authzEnd);
  let authzid: string | undefined;
  if (authzPart !== '') {
    if (!authzPart.startsWith('a=')) return bad(ScramError.InvalidEncoding, 'gs2 header has something other than a=authzid');
    authzid = decodeSaslName(authzPart.slice(2));
    if (authzid === undefined || authzid === '') return bad(ScramError.InvalidUsernameEncoding, 'authzid is not a valid saslname');
  }
  const gs2Header = text.slice(0, authzEnd + 1);
  const bare = text.slice(authzEnd + 1);
  const attrs = bare.split(',');
  if (attrs[0]?.startsWith('m=')) return bad(ScramError.ExtensionsNotSupported, 'mandatory extension (m=) is not supported');
  if (attrs.length < 2 || !attrs[0]!.startsWith('n=') || !attrs[1]!.startsWith('r=')) return bad(ScramError.InvalidEncoding, 'client-first must be n=username,r=nonce');
  const username = decodeSaslName(attrs[0]!.slice(2));
  if (username === undefined || username === '') return bad(ScramError.InvalidUsernameEncoding, 'username is not a valid saslname');
  const clientNonce = attrs[1]!.slice(2);
  if (clientNonce.length > MAX_NONCE_LENGTH || !PRINTABLE.test(clientNonce)) return bad(ScramError.InvalidEncoding, 'client nonce is empty, too long or not printable');
  for (const ext of attrs.slice(2)) {
    // Kafka sends tokenauth=true to log in with a delegation token, which Bulwark does not
    // issue: refuse it rather than treat the token id as a username. No other extension is
    // defined, so any other is refused too (fail closed).
    if (/^tokenauth=/i.test(ext)) return bad(ScramError.ExtensionsNotSupported, 'delegation-token authentication (tokenauth) is not supported');
    return bad(ScramError.ExtensionsNotSupported, 'client-first carries an extension; none is supported');
  }
  if (authzid !== undefined && authzid !== username) return bad(ScramError.OtherError, 'authzid differs from the username');
  return { ok: true, value: { gs2Header, username, clientNonce, bare } };
}

export interface ClientFinal {
  channelBinding: string;
  nonce: string;
  proof: Buffer;
  withoutProof: string;
}

export function parseClientFinal(text: string, proofSize: number): Parsed<ClientFinal> {
  // client-final-message = channel-binding "," nonce ["," extensions] "," proof
  const proofAt = text.lastIndexOf(',p=');
  if (proofAt < 0) return bad(ScramError.InvalidEncoding, 'client-final has no proof (p=) at its end');
  const withoutProof = text.slice(0, proofAt);
  const attrs = withoutProof.split(',');
  if (attrs.length < 2 || !attrs[0]!.startsWith('c=') || !attrs[1]!.startsWith('r=')) return bad(ScramError.InvalidEncoding, 'client-final must be c=...,r=...,p=...');
  if (attrs.length > 2) return bad(ScramError.ExtensionsNotSupported, 'client-final carries an extension; none is supported');
  const proofText = text.slice(proofAt + 3);
  if (!BASE64.test(proofText)) return bad(ScramError.InvalidEncoding, 'proof is not base64');
  const proof = Buffer.from(proofText, 'base64');
  if (proof.length !== proofSize) return bad(ScramError.InvalidEncoding, `proof is ${proof.length} bytes, expected ${proofSize}`);
  return { ok: true, value: { channelBinding: attrs[0]!.slice(2), nonce: attrs[1]!.slice(2), proof, withoutProof } };
}

const defaultNonce = () => randomBytes(24).toString('base64'); // 24 bytes: 32 characters, no padding

export class ScramServer {
  readonly mechanism: ScramMechanism;
  readonly #digest: (typeof DIGEST)[ScramMechanism];
  readonly #lookup: (username: string) => ScramLookup;
  readonly #secret: Buffer;
  readonly #nonce: () => string;
  #stage: ScramStage = 'client-first';
  #first: ClientFirst | undefined;
  #serverFirst = '';
  #keys: Keys | undefined;
  #credential: ScramCredential | undefined;

  constructor(opts: ScramServerOptions) {
    if (!isScramMechanism(opts.mechanism)) throw new BulwarkError('BWK_ERR_CONFIG_INVALID', { detail: `unknown SCRAM mechanism ${String(opts.mechanism).slice(0, 32)}` });
    if (!Buffer.isBuffer(opts.serverSecret) || opts.serverSecret.length < 32) throw new BulwarkError('BWK_ERR_CONFIG_INVALID', { detail: 'the SCRAM server secret must be at least 32 bytes' });
    this.mechanism = opts.mechanism;
    this.#digest = DIGEST[opts.mechanism];
    this.#lookup = opts.lookup;
    this.#secret = opts.serverSecret;
    this.#nonce = opts.nonce ?? defaultNonce;
  }

  get stage(): ScramStage {
    return this.#stage;
  }

  step(message: Buffer | Uint8Array): ScramStep {
    const stage = this.#stage;
    try {
      if (stage === 'finished') return this.#fail(ScramError.OtherError, 'the exchange has already finished');
      if (message.length > MAX_SCRAM_MESSAGE_BYTES) return this.#fail(ScramError.InvalidEncoding, `message is longer than ${MAX_SCRAM_MESSAGE_BYTES} bytes`);
      let text: string;
      try {
        text = utf8.decode(message);
      } catch {
        return this.#fail(ScramError.InvalidEncoding, 'message is not valid UTF-8');
      }
      return stage === 'client-first' ? this.#clientFirst(text) : this.#clientFinal(text);
    } catch {
      // Nothing above should throw; if it does (a lookup bug), the exchange fails closed.
      return this.#fail(ScramError.OtherError, 'internal error while processing the message', stage);
    }
  }

  #clientFirst(text: string): ScramStep {
    const parsed = parseClientFirst(text);
    if (!parsed.ok) return this.#fail(parsed.error, parsed.detail);
    const first = parsed.value;
    this.#first = first;
    const found = this.#lookup(first.username);
    const real = found.credential === undefined ? undefined : this.#decode(found.credential);
    this.#credential = real ? found.credential : undefined;
    this.#keys = real ?? this.#fakeKeys(first.username, found.credential === undefined ? found.fakeIterations : Math.max(4096, Math.trunc(found.credential.iterations) || 0));
    const serverNonce = this.#nonce();
    if (!PRINTABLE.test(serverNonce) || serverNonce.length < 18) return this.#fail(ScramError.OtherError, 'server nonce is not printable or too short');
    this.#serverFirst = `r=${first.clientNonce}${serverNonce},s=${this.#keys.salt},i=${this.#keys.iterations}`;
    this.#stage = 'client-final';
    return { status: 'continue', response: Buffer.from(this.#serverFirst, 'utf8'), username: first.username };
  }

  #clientFinal(text: string): ScramStep {
    const first = this.#first!;
    const keys = this.#keys!;
    const parsed = parseClientFinal(text, this.#digest.size);
    if (!parsed.ok) return this.#fail(parsed.error, parsed.detail);
    const final = parsed.value;
    // c= must be the base64 of the very gs2 header the client sent: a man in the middle who
    // downgraded `y` to `n` (or changed the authzid) is caught here.
    if (final.channelBinding !== Buffer.from(first.gs2Header, 'utf8').toString('base64')) return this.#fail(ScramError.ChannelBindingsDontMatch, 'c= does not match the gs2 header of client-first');
    // librdkafka (kcat, confluent-kafka) sends r=<client nonce><server-first nonce>, repeating its
    // own nonce; Apache Kafka accepts any r= that ends with the server-first nonce for that reason.
    // We accept exactly those two forms: both carry this exchange's fresh server nonce, and the
    // proof signs the r= actually sent, so neither weakens replay protection.
    const expected = this.#serverFirst.slice(2, this.#serverFirst.indexOf(','));
    if (final.nonce !== expected && final.nonce !== first.clientNonce + expected) return this.#fail(ScramError.OtherError, 'nonce does not match the exchange');

    const authMessage = `${first.bare},${this.#serverFirst},${final.withoutProof}`;
    const clientSignature = createHmac(this.#digest.name, keys.storedKey).update(authMessage).digest();
    const clientKey = Buffer.alloc(this.#digest.size);
    for (let i = 0; i < clientKey.length; i++) clientKey[i] = final.proof[i]! ^ clientSignature[i]!;
    const matches = timingSafeEqual(createHash(this.#digest.name).update(clientKey).digest(), keys.storedKey);
    // The same work was done for a fake credential; only now does its absence decide.
    if (!matches || this.#credential === undefined) return this.#fail(ScramError.InvalidProof, this.#credential === undefined ? 'no credential for this user and mechanism' : 'proof does not match');

    const serverSignature = createHmac(this.#digest.name, keys.serverKey).update(authMessage).digest('base64');
    this.#stage = 'finished';
    return { status: 'success', response: Buffer.from(`v=${serverSignature}`, 'utf8'), username: first.username, credential: this.#credential };
  }

  /** The stored keys, or undefined when the credential is unusable for this mechanism (fail closed). */
  #decode(c: ScramCredential): Keys | undefined {
    const storedKey = Buffer.from(c.storedKey, 'base64');
    const serverKey = Buffer.from(c.serverKey, 'base64');
    if (storedKey.length !== this.#digest.size || serverKey.length !== this.#digest.size || !BASE64.test(c.salt) || c.salt === '') return undefined;
    if (!Number.isInteger(c.iterations) || c.iterations < 4096) return undefined;
    return { salt: c.salt, iterations: c.iterations, storedKey, serverKey };
  }

  /** Deterministic per (mechanism, username), so asking twice shows the same salt, as for a real user. */
  #fakeKeys(username: string, iterations: number): Keys {
    const derive = (purpose: string, size: number) =>
      createHmac('sha512', this.#secret).update(`bulwark/scram-fake/${purpose}\0${this.mechanism}\0${username}`, 'utf8').digest().subarray(0, size);
    return {
      salt: derive('salt', FAKE_SALT_BYTES).toString('base64'),
      iterations,
      storedKey: derive('stored-key', this.#digest.size),
      serverKey: derive('server-key', this.#digest.size),
    };
  }

  #fail(error: ScramError, detail: string, stage: ScramStage = this.#stage): ScramStep {
    this.#stage = 'finished';
    return {
      status: 'failure',
      response: Buffer.from(`e=${error}`, 'utf8'),
      stage,
      error,
      detail,
      ...(this.#first ? { username: this.#first.username, credentialKnown: this.#credential !== undefined } : {}),
    };
  }
}
