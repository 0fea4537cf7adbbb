// SASL PLAIN (RFC 4616): `[authzid] NUL authcid NUL passwd`, UTF-8.
//
// Contract: parsing never throws, and a failure's detail never contains the password. Bounds:
// authzid and authcid 1..255 bytes (RFC 4616), passwd 1..4096 bytes (Bulwark accepts passwords
// of up to 1024 characters, so 4096 UTF-8 bytes, above the RFC's 255); the message as a whole
// is refused beyond that before it is scanned. An authzid must be empty or equal the authcid:
// Bulwark has no "act as another user" for PLAIN, as Kafka has none.

export const MAX_PLAIN_IDENTITY_BYTES = 255;
export const MAX_PLAIN_PASSWORD_BYTES = 4096;
export const MAX_PLAIN_MESSAGE_BYTES = 2 * MAX_PLAIN_IDENTITY_BYTES + MAX_PLAIN_PASSWORD_BYTES + 2;

export interface PlainCredentials {
  /** The authorization identity, when the client sent one (always equal to username). */
  authzid?: string;
  username: string;
  password: string;
}

export type PlainParse = { ok: true; value: PlainCredentials } | { ok: false; detail: string };

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function parseSaslPlain(message: Buffer | Uint8Array): PlainParse {
  if (message.length > MAX_PLAIN_MESSAGE_BYTES) return { ok: false, detail: `message is longer than ${MAX_PLAIN_MESSAGE_BYTES} bytes` };
  const first = message.indexOf(0);
  const second = first < 0 ? -1 : message.indexOf(0, first + 1);
  if (first < 0 || second < 0) return { ok: false, detail: 'message must be authzid NUL authcid NUL passwd' };
  if (message.indexOf(0, second + 1) >= 0) return { ok: false, detail: 'message has more than two NUL separators' };
  const parts = [message.subarray(0, first), message.subarray(first + 1, second), message.subarray(second + 1)] as const;
  const [authzBytes, userBytes, passBytes] = parts;
  if (authzBytes.length > MAX_PLAIN_IDENTITY_BYTES) return { ok: false, detail: `authzid is longer than ${MAX_PLAIN_IDENTITY_BYTES} bytes` };
  if (userBytes.length === 0 || userBytes.length > MAX_PLAIN_IDENTITY_BYTES) return { ok: false, detail: `authcid must be 1 to ${MAX_PLAIN_IDENTITY_BYTES} bytes` };
  if (passBytes.length === 0 || passBytes.length > MAX_PLAIN_PASSWORD_BYTES) return { ok: false, detail: `passwd must be 1 to ${MAX_PLAIN_PASSWORD_BYTES} bytes` };
  let authzid: string, username: string, password: string;
  try {
    authzid = utf8.decode(authzBytes);
    username = utf8.decode(userBytes);
    password = utf8.decode(passBytes);
  } catch {
    return { ok: false, detail: 'message is not valid UTF-8' };
  }
  if (authzid !== '' && authzid !== username) return { ok: false, detail: 'authzid differs from the authcid' };
  return { ok: true, value: { ...(authzid !== '' ? { authzid } : {}), username, password } };
}
