// The authorizer: answers "may this principal do this action on this resource?" and says why.
//
// Built once per snapshot, queried on every request. The index is principal-first, like Kafka's
// and Rivven's ACL indexes: each subject (a user, a group) owns one index per resource type, with
// literal names in a hash map, prefixes in a radix tree and `*` in a slot. A decision looks up
// the principal's few subjects and walks each radix tree along the resource name, so its cost
// depends on the name's length and the principal's groups, not on the number of grants
// (bench/authorize.ts: flat from 10 to 100,000 grants).
import type { Action, ResourceType } from '../api/index.ts';
import { compileHostMatcher, type HostMatcher } from '../lib/cidr.ts';
import { BulwarkError } from '../lib/errors.ts';
import { ACTION_BIT, allowMask, denyMask, TYPE_ORDINAL } from './actions.ts';
import { parsePattern } from './pattern.ts';
import type { PolicySnapshot, SnapshotRule, SnapshotUser } from './snapshot.ts';

export const ANONYMOUS_USER = 'system:anonymous';
export const AUTHENTICATED_GROUP = 'system:authenticated';
export const UNAUTHENTICATED_GROUP = 'system:unauthenticated';

/** Why a decision came out as it did. Stable names: audit logs and `policy explain` print them. */
export const Reason = {
  AllowedByRule: 'AllowedByRule',
  SuperUser: 'SuperUser',
  DeniedByRule: 'DeniedByRule',
  NoMatchingGrant: 'NoMatchingGrant',
  UnknownUser: 'UnknownUser',
  UserDisabled: 'UserDisabled',
  AnonymousDisabled: 'AnonymousDisabled',
  UnknownToken: 'UnknownToken',
  TokenExpired: 'TokenExpired',
  OutsideTokenScope: 'OutsideTokenScope',
} as const;
export type Reason = (typeof Reason)[keyof typeof Reason];

export interface Principal {
  /** The username, or system:anonymous. */
  user: string;
  /** Set when the principal authenticated with an access token: its id (AccessToken name). */
  tokenId?: string;
}

export interface AuthorizeRequest {
  principal: Principal;
  action: Action;
  resource: { type: ResourceType; name: string };
  /** Client address, for grants restricted to hosts. Unknown hosts match no host-restricted grant. */
  host?: string;
}

export type Decision =
  | { allowed: true; reason: typeof Reason.AllowedByRule; rule: SnapshotRule }
  | { allowed: true; reason: typeof Reason.SuperUser; rule?: undefined }
  | { allowed: false; reason: typeof Reason.DeniedByRule; rule: SnapshotRule }
  | { allowed: false; reason: Exclude<Reason, 'AllowedByRule' | 'SuperUser' | 'DeniedByRule'>; rule?: undefined };

export interface Authorizer {
  authorize(request: AuthorizeRequest): Decision;
  /** The snapshot the authorizer was built from. */
  readonly snapshot: PolicySnapshot;
  user(name: string): SnapshotUser | undefined;
}

// --- Index ------------------------------------------------------------------------------------

interface CompiledRule {
  rule: SnapshotRule;
  allow: number;
  deny: number;
  hosts: HostMatcher | undefined;
}

/** The rules of one subject on one pattern. Host-free rules are folded into two masks. */
interface Entry {
  allow: number;
  deny: number;
  rules: CompiledRule[];
  /** Rules that apply only from some hosts; checked per request, only when present. */
  hostRules: CompiledRule[] | undefined;
}

interface RadixNode {
  label: string;
  entry: Entry | undefined;
  children: Map<number, RadixNode> | undefined;
}

interface TypeIndex {
  literal: Map<string, Entry>;
  prefixes: RadixNode | undefined;
  any: Entry | undefined;
}

type SubjectIndex = (TypeIndex | undefined)[];

interface PrincipalIndex {
  user: SnapshotUser | undefined;
  superUser: boolean;
  subjects: SubjectIndex[];
}

const newEntry = (): Entry => ({ allow: 0, deny: 0, rules: [], hostRules: undefined });

function addRule(entry: Entry, rule: CompiledRule): void {
  entry.rules.push(rule);
  if (rule.hosts) (entry.hostRules ??= []).push(rule);
  else {
    entry.allow |= rule.allow;
    entry.deny |= rule.deny;
  }
}

function radixInsert(root: RadixNode, key: string): RadixNode {
  let node = root;
  let i = 0;
  for (;;) {
    if (i === key.length) return node;
    node.children ??= new Map();
    const c = key.charCodeAt(i);
    const child = node.children.get(c);
    if (!child) {
      const leaf: RadixNode = { label: key.slice(i), entry: undefined, children: undefined };
      node.children.set(c, leaf);
      return leaf;
    }
    let common = 0;
    const max = Math.min(child.label.length, key.length - i);
    while (common < max && child.label.charCodeAt(common) === key.charCodeAt(i + common)) common++;
    if (common === child.label.length) {
      node = child;
      i += common;
      continue;
    }
    // Split the edge at the common prefix.
    const split: RadixNode = { label: child.label.slice(0, common), entry: undefined, children: new Map() };
    child.label = child.label.slice(common);
    split.children!.set(child.label.charCodeAt(0), child);
    node.children.set(c, split);
    node = split;
    i += common;
  }
}

function compileRule(rule: SnapshotRule): CompiledRule {
  let hosts: HostMatcher | undefined;
  if (rule.hosts.length > 0) {
    try {
      hosts = compileHostMatcher(rule.hosts);
    } catch (err) {
      throw new BulwarkError('BWK_ERR_SNAPSHOT_INVALID', { detail: `rule from ${rule.source}: ${(err as Error).message}` });
    }
  }
  if (!/^(\*|[a-zA-Z0-9._:@-]{1,249}\*?)$/.test(rule.pattern)) throw new BulwarkError('BWK_ERR_SNAPSHOT_INVALID', { detail: `rule from ${rule.source}: bad pattern` });
  return rule.effect === 'Allow' ? { rule, allow: allowMask(rule.actions), deny: 0, hosts } : { rule, allow: 0, deny: denyMask(rule.actions), hosts };
}

function indexRules(rules: readonly SnapshotRule[]): Map<string, SubjectIndex> {
  const bySubject = new Map<string, SubjectIndex>();
  for (const rule of rules) {
    const compiled = compileRule(rule);
    let subject = bySubject.get(rule.subject);
    if (!subject) bySubject.set(rule.subject, (subject = []));
    const t = TYPE_ORDINAL[rule.resourceType];
    const ti = (subject[t] ??= { literal: new Map(), prefixes: undefined, any: undefined });
    const p = parsePattern(rule.pattern);
    let entry: Entry;
    if (p.kind === 'any') entry = ti.any ??= newEntry();
    else if (p.kind === 'literal') {
      entry = ti.literal.get(p.name) ?? newEntry();
      ti.literal.set(p.name, entry);
    } else {
      const node = radixInsert((ti.prefixes ??= { label: '', entry: undefined, children: undefined }), p.prefix);
      entry = node.entry ??= newEntry();
    }
    addRule(entry, compiled);
  }
  return bySubject;
}

// --- Decisions --------------------------------------------------------------------------------

/** Running result of a lookup: the first entries that allowed and denied the action. */
interface Match {
  bit: number;
  host: string | undefined;
  deny: CompiledRule | Entry | undefined;
  allow: CompiledRule | Entry | undefined;
}

function consider(entry: Entry, m: Match): void {
  if (m.deny === undefined && entry.deny & m.bit) m.deny = entry;
  if (m.allow === undefined && entry.allow & m.bit) m.allow = entry;
  const hostRules = entry.hostRules;
  if (hostRules !== undefined && m.host !== undefined) {
    for (const r of hostRules) {
      if ((r.deny & m.bit && m.deny === undefined) || (r.allow & m.bit && m.allow === undefined)) {
        if (r.hosts!(m.host)) {
          if (r.deny & m.bit) m.deny ??= r;
          if (r.allow & m.bit) m.allow ??= r;
        }
      }
    }
  }
}

function lookup(ti: TypeIndex, name: string, m: Match): void {
  const literal = ti.literal.size > 0 ? ti.literal.get(name) : undefined;
  if (literal !== undefined) consider(literal, m);
  if (ti.any !== undefined) consider(ti.any, m);
  let node = ti.prefixes;
  let i = 0;
  while (node !== undefined) {
    if (node.entry !== undefined) consider(node.entry, m);
    if (i === name.length || node.children === undefined) break;
    const child = node.children.get(name.charCodeAt(i));
    if (child === undefined || !name.startsWith(child.label, i)) break;
    i += child.label.length;
    node = child;
  }
}

/** The rule behind a match, for explanations: found only after the decision, off the hot path. */
function ruleOf(found: CompiledRule | Entry, bit: number, effect: 'Allow' | 'Deny'): SnapshotRule {
  if ('rule' in found) return found.rule;
  const r = found.rules.find((c) => !c.hosts && (effect === 'Allow' ? c.allow : c.deny) & bit);
  return r!.rule;
}

function match(subjects: readonly SubjectIndex[], type: number, name: string, bit: number, host: string | undefined): Match {
  const m: Match = { bit, host, deny: undefined, allow: undefined };
  for (let s = 0; s < subjects.length; s++) {
    const ti = subjects[s]![type];
    if (ti !== undefined) lookup(ti, name, m);
    if (m.deny !== undefined) break; // deny wins: nothing later can change the answer
  }
  return m;
}

/** Builds the authorizer for a snapshot. Throws a coded error, and builds nothing, if any rule is invalid. */
export function buildAuthorizer(snapshot: PolicySnapshot, opts: { now?: () => number } = {}): Authorizer {
  const now = opts.now ?? Date.now;
  const bySubject = indexRules(snapshot.rules);
  const superUsers = new Set(snapshot.settings.superUsers);
  const users = new Map(snapshot.users.map((u) => [u.name, u]));
  const subjectsOf = (keys: string[]) => keys.map((k) => bySubject.get(k)).filter((s): s is SubjectIndex => s !== undefined);

  const principals = new Map<string, PrincipalIndex>();
  for (const u of snapshot.users) {
    const keys = [`User:${u.name}`, ...u.groups.map((g) => `Group:${g}`), `Group:${AUTHENTICATED_GROUP}`];
    principals.set(u.name, { user: u, superUser: superUsers.has(u.name), subjects: subjectsOf(keys) });
  }
  const anonymous: PrincipalIndex | undefined = snapshot.settings.allowAnonymous
    ? { user: undefined, superUser: false, subjects: subjectsOf([`User:${ANONYMOUS_USER}`, `Group:${UNAUTHENTICATED_GROUP}`]) }
    : undefined;

  const tokens = new Map(
    snapshot.tokens.map((t) => [
      t.id,
      {
        token: t,
        expiresAtMs: t.expiresAt === null ? Infinity : Date.parse(t.expiresAt),
        scope: t.scoped ? [...indexRules(t.scope).values()] : undefined,
      },
    ]),
  );

  function authorize(req: AuthorizeRequest): Decision {
    const { principal, action, resource } = req;
    const p = principal.user === ANONYMOUS_USER ? anonymous : principals.get(principal.user);
    if (p === undefined) return { allowed: false, reason: principal.user === ANONYMOUS_USER ? Reason.AnonymousDisabled : Reason.UnknownUser };
    if (p.user?.disabled) return { allowed: false, reason: Reason.UserDisabled };
    const bit = ACTION_BIT[action];
    const type = TYPE_ORDINAL[resource.type];
    if (bit === undefined || type === undefined) return { allowed: false, reason: Reason.NoMatchingGrant }; // fail closed on garbage

    let scope: SubjectIndex[] | undefined;
    if (principal.tokenId !== undefined) {
      const t = tokens.get(principal.tokenId);
      if (t === undefined || t.token.user !== principal.user) return { allowed: false, reason: Reason.UnknownToken };
      if (now() >= t.expiresAtMs) return { allowed: false, reason: Reason.TokenExpired };
      scope = t.scope;
    }

    let decision: Decision;
    if (p.superUser) decision = { allowed: true, reason: Reason.SuperUser };
    else {
      const m = match(p.subjects, type, resource.name, bit, req.host);
      if (m.deny !== undefined) return { allowed: false, reason: Reason.DeniedByRule, rule: ruleOf(m.deny, bit, 'Deny') };
      if (m.allow === undefined) return { allowed: false, reason: Reason.NoMatchingGrant };
      decision = { allowed: true, reason: Reason.AllowedByRule, rule: ruleOf(m.allow, bit, 'Allow') };
    }
    if (scope !== undefined) {
      const s = match(scope, type, resource.name, bit, req.host);
      if (s.allow === undefined) return { allowed: false, reason: Reason.OutsideTokenScope };
    }
    return decision;
  }

  return { authorize, snapshot, user: (name) => users.get(name) };
}
