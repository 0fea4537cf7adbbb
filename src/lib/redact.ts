// Redaction: what every audit event and every log line goes through before it is written.
// A field whose name looks secret is dropped, token- and JWT-shaped text is scrubbed from every
// string, binary values are dropped, long strings are cut.


/** Field names that carry secrets, lowercased with - and _ removed. Over-matching is the safe side. */
const SECRET_KEY = /pass|pwd|secret|token|authbytes|authdata|authorization|authheader|proof|salt|nonce|cookie|credential|signature|privat|sha256|argon2|phc|keys?$/;
/** Names SECRET_KEY matches that are identifiers or counts, not secrets. */
const NOT_SECRET = new Set(['tokenid', 'tokencount']);

const TOKEN_SHAPED = /bwk_[A-Za-z0-9_-]*/g;
/** A JWS or JWE in compact form: a base64url JSON header (always `eyJ`, for `{"`) and 2-4 more parts. */
const JWT_SHAPED = /eyJ[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*){2,4}/g;
const HTTP_CREDENTIALS = /\b(Bearer|Basic|Digest)\s+[A-Za-z0-9._~+/=-]+/gi;
/** `password=...`, `"secret": "..."` inside free text; quoted values whole. */
const INLINE_SECRET = /(["']?)\b(password|passwd|pwd|secret|token|access_token|refresh_token)\1(\s*[:=]\s*)("(?:[^"\\]|\\.)*"|'[^']*'|[^\s"',;&}]*)/gi;

/** SCRAM's client proof in a client-final message (`c=biws,r=...,p=...`). */
const SCRAM_PROOF = /(^|,)p=[A-Za-z0-9+/=]*/g;

const MAX_STRING = 1024;
/** Strings are cut to this before scrubbing so a huge client-supplied value costs bounded work. */
const MAX_SCRUBBED = 8192;
const MAX_DEPTH = 4;
const MAX_ARRAY = 64;

export function isSecretKey(key: string): boolean {
  const k = key.toLowerCase().replace(/[-_]/g, '');
  return !NOT_SECRET.has(k) && SECRET_KEY.test(k);
}

/** Removes token-shaped and JWT-shaped text and inline credentials from a string, and bounds its length. */
export function scrubString(text: string): string {
  let s = text.length > MAX_SCRUBBED ? text.slice(0, MAX_SCRUBBED) : text;
  // A SASL PLAIN message (authzid NUL authcid NUL password) or other binary text: nothing after
  // the first NUL is kept, since the password is what follows it.
  const nul = s.indexOf('\u0000');
  if (nul !== -1) s = `${s.slice(0, nul)}[REDACTED]`;
  s = s
    .replace(JWT_SHAPED, '[REDACTED-JWT]')
    .replace(TOKEN_SHAPED, 'bwk_[REDACTED]')
    .replace(HTTP_CREDENTIALS, '$1 [REDACTED]')
    .replace(INLINE_SECRET, '$1$2$1$3[REDACTED]')
    .replace(SCRAM_PROOF, '$1p=[REDACTED]');
  return s.length > MAX_STRING ? `${s.slice(0, MAX_STRING)}…[cut]` : s;
}

function redactValue(value: unknown, depth: number): unknown {
  switch (typeof value) {
    case 'string':
      return scrubString(value);
    case 'number':
    case 'boolean':
      return value;
    case 'bigint':
      return value.toString();
    case 'object':
      break;
    default:
      return undefined; // undefined, functions, symbols
  }
  if (value === null) return null;
  // Bytes are never logged: in this process they are frames, SASL messages and keys.
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return undefined;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (value instanceof Error) return scrubString(`${value.name}: ${value.message}`);
  if (depth >= MAX_DEPTH) return '[too deep]';
  if (Array.isArray(value)) return value.slice(0, MAX_ARRAY).map((v) => redactValue(v, depth + 1) ?? null);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (isSecretKey(k)) continue;
    const r = redactValue(v, depth + 1);
    if (r !== undefined) out[k] = r;
  }
  return out;
}

/**
 * The one redaction every audit event goes through before it is serialized: drops fields whose
 * name looks secret (password, secret, token but not tokenId, authBytes, proof, key, salt,
 * storedKey, serverKey, authorization, ...) at any depth, drops binary values, and scrubs
 * `bwk_` tokens, JWTs, HTTP credentials, inline `password=` pairs and SASL PLAIN messages from
 * every string.
 */
export function redact(event: Record<string, unknown>): Record<string, unknown> {
  return redactValue(event, 0) as Record<string, unknown>;
}

