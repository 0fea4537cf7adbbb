// The PolicySnapshot: the contract between the operator (or a policy directory) and the brokers.
//
// Versioned JSON with a content hash. It holds derived credentials only: argon2id PHC strings,
// SCRAM salted keys, certificate subjects and SHA-256 token hashes; never a password or token.
// A snapshot that fails validation is rejected whole, never half-applied.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ACTIONS, limits, RESOURCE_TYPES } from '../api/index.ts';
import { canonicalJson } from '../lib/index.ts';
import { BulwarkError } from '../lib/index.ts';

export const SNAPSHOT_FORMAT = 'bulwark.dev/policy-snapshot/v1';

const b64 = z.string().max(200).regex(/^[A-Za-z0-9+/]*={0,2}$/);
const scram = z.strictObject({ salt: b64, iterations: z.number().int().min(4096).max(65536), storedKey: b64, serverKey: b64 });

export const snapshotUser = z.strictObject({
  name: z.string().min(1).max(128),
  source: z.string().max(300),
  authentication: z.enum(['scram-sha-256', 'scram-sha-512', 'password', 'tls']),
  disabled: z.boolean(),
  groups: z.array(z.string().max(128)).max(64),
  hosts: z.array(z.string().max(43)).max(64),
  limits,
  credentials: z.strictObject({
    scramSha256: scram.optional(),
    scramSha512: scram.optional(),
    argon2id: z.string().max(200).regex(/^\$argon2id\$/).optional(),
    certificateSubject: z.string().max(1024).optional(),
  }),
});

export const snapshotRule = z.strictObject({
  source: z.string().max(600),
  effect: z.enum(['Allow', 'Deny']),
  subject: z.string().max(140).regex(/^(User|Group):/),
  resourceType: z.enum(RESOURCE_TYPES),
  pattern: z.string().min(1).max(250),
  actions: z.array(z.enum(ACTIONS)).min(1).max(ACTIONS.length),
  hosts: z.array(z.string().max(43)).max(64),
});

export const snapshotToken = z.strictObject({
  id: z.string().max(300),
  user: z.string().min(1).max(128),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  expiresAt: z.iso.datetime().nullable(),
  /** Token scope: a request must also be allowed by one of these roles. Empty: no narrowing. */
  scope: z.array(snapshotRule).max(10_000),
  scoped: z.boolean(),
});

export const snapshotSettings = z.strictObject({
  superUsers: z.array(z.string().max(128)).max(16),
  allowAnonymous: z.boolean(),
  maxTokensPerUser: z.number().int().min(0).max(10_000),
  scramIterations: z.number().int().min(4096).max(65536),
  /** How a client certificate names its user: which field, and a prefix stripped from it. */
  certificatePrincipal: z.strictObject({ source: z.enum(['commonName', 'sanDns', 'sanUri']), prefix: z.string().max(253) }),
});

const snapshotContent = {
  cluster: z.strictObject({ namespace: z.string().max(63), name: z.string().max(253) }),
  settings: snapshotSettings,
  users: z.array(snapshotUser).max(1_000_000),
  tokens: z.array(snapshotToken).max(1_000_000),
  rules: z.array(snapshotRule).max(10_000_000),
};

export const policySnapshot = z.strictObject({
  format: z.literal(SNAPSHOT_FORMAT),
  version: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  hash: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  ...snapshotContent,
});

export type PolicySnapshot = z.infer<typeof policySnapshot>;
export type SnapshotUser = z.infer<typeof snapshotUser>;
export type SnapshotRule = z.infer<typeof snapshotRule>;
export type SnapshotToken = z.infer<typeof snapshotToken>;
export type SnapshotSettings = z.infer<typeof snapshotSettings>;
export type CertificatePrincipal = SnapshotSettings['certificatePrincipal'];
export type SnapshotContent = Omit<PolicySnapshot, 'format' | 'version' | 'hash'>;

const contentJson = (content: SnapshotContent) => {
  const { cluster, settings, users, tokens, rules } = content;
  return canonicalJson({ format: SNAPSHOT_FORMAT, cluster, settings, users, tokens, rules });
};
const sha256 = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;

/** The content hash: SHA-256 over the canonical JSON of everything but version and hash. */
export function hashSnapshotContent(content: SnapshotContent): string {
  return sha256(contentJson(content));
}

// A snapshot of 10,000 users is megabytes of canonical JSON: a sealed snapshot keeps the canonical
// JSON of its content (and its wire form), so that sealing it again with another version and
// sending it to every broker serialize it once. Sealed snapshots are never changed in place.
const sealedContent = new WeakMap<object, { json: string; hash: string }>();
const wireForm = new WeakMap<object, string>();
const FORMAT_MEMBER = `,"format":${JSON.stringify(SNAPSHOT_FORMAT)}`;

/**
 * The canonical JSON of a whole snapshot from its content's: the keys sort as cluster, format,
 * hash, rules, settings, tokens, users, version, so `hash` goes right after `format` (the first
 * `,"format":` member: the cluster object before it holds only DNS names) and `version` last.
 */
function spliceWire(json: string, hash: string, version: number): string {
  const at = json.indexOf(FORMAT_MEMBER) + FORMAT_MEMBER.length;
  return `${json.slice(0, at)},"hash":${JSON.stringify(hash)}${json.slice(at, -1)},"version":${version}}`;
}

export function sealSnapshot(content: SnapshotContent, version: number): PolicySnapshot {
  const { cluster, settings, users, tokens, rules } = content;
  let sealed = sealedContent.get(content);
  if (!sealed) {
    const json = contentJson(content);
    sealed = { json, hash: sha256(json) };
  }
  const snapshot: PolicySnapshot = { format: SNAPSHOT_FORMAT, version, hash: sealed.hash, cluster, settings, users, tokens, rules };
  sealedContent.set(snapshot, sealed);
  return snapshot;
}

/** The snapshot's bytes on the wire and on disk: canonical JSON, so equal snapshots are equal bytes. */
export function encodeSnapshot(snapshot: PolicySnapshot): string {
  let text = wireForm.get(snapshot);
  if (text === undefined) {
    const sealed = sealedContent.get(snapshot);
    text = sealed && sealed.hash === snapshot.hash ? spliceWire(sealed.json, snapshot.hash, snapshot.version) : canonicalJson(snapshot);
    wireForm.set(snapshot, text);
  }
  return text;
}

/** Parses and verifies a snapshot; throws a coded error and applies nothing if any part is wrong. */
export function decodeSnapshot(text: string): PolicySnapshot {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new BulwarkError('BWK_ERR_SNAPSHOT_INVALID', { detail: `not JSON (${(err as Error).message})` });
  }
  const parsed = policySnapshot.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0]!;
    throw new BulwarkError('BWK_ERR_SNAPSHOT_INVALID', { detail: `${first.path.join('.') || '<root>'}: ${first.message} (${parsed.error.issues.length} issue(s))` });
  }
  const { hash, version } = parsed.data;
  // Text in the wire form (the operator's, a persisted file) is the content's canonical JSON with
  // hash and version spliced in: cut them out, and if what is left hashes to `hash` it is that
  // canonical JSON (finding other bytes with the same SHA-256 is a second preimage), so nothing
  // is serialized again. Any other text is hashed as received: its parsed keys are in the order
  // sent, sorted when the sender wrote canonical JSON, so canonicalJson copies no object (half the
  // time of serializing the schema's output). The schema neither adds nor transforms a member.
  let json = wireContent(text, hash, version);
  if (json === undefined || sha256(json) !== hash) {
    json = contentJson(raw as SnapshotContent);
    if (sha256(json) !== hash) throw new BulwarkError('BWK_ERR_SNAPSHOT_HASH_MISMATCH');
  }
  // The canonical JSON just verified is kept: persisting the snapshot (encodeSnapshot) serializes nothing again.
  sealedContent.set(parsed.data, { json, hash });
  return parsed.data;
}

/** spliceWire undone: the content JSON of text in the wire form of (hash, version), or undefined when it is not in that form. */
function wireContent(text: string, hash: string, version: number): string | undefined {
  const at = text.indexOf(FORMAT_MEMBER);
  if (at < 0) return undefined;
  const hashAt = at + FORMAT_MEMBER.length;
  const hashMember = `,"hash":${JSON.stringify(hash)}`;
  const versionMember = `,"version":${version}}`;
  if (!text.startsWith(hashMember, hashAt) || !text.endsWith(versionMember)) return undefined;
  return `${text.slice(0, hashAt)}${text.slice(hashAt + hashMember.length, text.length - versionMember.length)}}`;
}
