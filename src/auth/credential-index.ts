// The credential index: the lookups authentication needs, built once per PolicySnapshot.
//
// Users by name, certificate (tls) users by certificateSubject, tokens by SHA-256 and by id,
// and each user's host access list compiled to a matcher. Built on first use of a snapshot and
// cached in a WeakMap keyed by the snapshot object, so every login against the policy in force
// is a few hash lookups, and a swapped-out snapshot's index goes with it.
//
// Fails closed on data the compiler should never produce: a certificateSubject claimed by two
// tls users, or a token hash held by two tokens, matches nobody; a host list that does not
// parse admits no host; an unparseable expiry has already expired.
//
// Token lookup by hash is a Map lookup, not a constant-time scan: what it could leak through
// timing is a prefix of SHA-256(token), which says nothing about any token.
import { compileHostMatcher, type HostMatcher } from '../lib/index.ts';
import type { PolicySnapshot, SnapshotToken, SnapshotUser } from '../policy/index.ts';

export interface IndexedToken {
  token: SnapshotToken;
  /** Expiry in ms since the epoch; Infinity when the token never expires. */
  expiresAtMs: number;
}

export interface CredentialIndex {
  readonly snapshot: PolicySnapshot;
  user(name: string): SnapshotUser | undefined;
  /** The tls user whose certificateSubject is exactly this identity. */
  certificateUser(identity: string): SnapshotUser | undefined;
  tokenByHash(sha256: string): IndexedToken | undefined;
  tokenById(id: string): IndexedToken | undefined;
  /** Whether the user may connect from this address. No host list admits every address; with one, an unknown address is refused. */
  hostAllowed(user: SnapshotUser, host: string | undefined): boolean;
}

const cache = new WeakMap<PolicySnapshot, CredentialIndex>();

export function credentialIndex(snapshot: PolicySnapshot): CredentialIndex {
  let index = cache.get(snapshot);
  if (index === undefined) {
    index = buildIndex(snapshot);
    cache.set(snapshot, index);
  }
  return index;
}

/** A map that forgets keys claimed more than once. */
function uniqueBy<T>(items: readonly T[], key: (item: T) => string | undefined): Map<string, T> {
  const out = new Map<string, T>();
  const dropped = new Set<string>();
  for (const item of items) {
    const k = key(item);
    if (k === undefined || dropped.has(k)) continue;
    if (out.has(k)) {
      out.delete(k);
      dropped.add(k);
    } else out.set(k, item);
  }
  return out;
}

function expiryMs(expiresAt: string | null): number {
  if (expiresAt === null) return Infinity;
  const ms = Date.parse(expiresAt);
  return Number.isNaN(ms) ? -Infinity : ms;
}

const NO_HOST: HostMatcher = () => false;

function buildIndex(snapshot: PolicySnapshot): CredentialIndex {
  const users = uniqueBy(snapshot.users, (u) => u.name);
  const certificateUsers = uniqueBy(snapshot.users, (u) => (u.authentication === 'tls' ? u.credentials.certificateSubject : undefined));
  const tokens = snapshot.tokens.map((token): IndexedToken => ({ token, expiresAtMs: expiryMs(token.expiresAt) }));
  const byHash = uniqueBy(tokens, (t) => t.token.sha256);
  const byId = uniqueBy(tokens, (t) => t.token.id);
  const hostMatchers = new Map<SnapshotUser, HostMatcher>(); // compiled on first use: most users have no host list

  return {
    snapshot,
    user: (name) => users.get(name),
    certificateUser: (identity) => certificateUsers.get(identity),
    tokenByHash: (sha256) => byHash.get(sha256),
    tokenById: (id) => byId.get(id),
    hostAllowed(user, host) {
      if (user.hosts.length === 0) return true;
      if (host === undefined) return false;
      let matcher = hostMatchers.get(user);
      if (matcher === undefined) {
        try {
          matcher = compileHostMatcher(user.hosts);
        } catch {
          matcher = NO_HOST;
        }
        hostMatchers.set(user, matcher);
      }
      return matcher(host);
    },
  };
}
