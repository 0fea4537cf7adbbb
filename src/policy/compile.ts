// compilePolicy: the five kinds in, one PolicySnapshot out. Pure and deterministic: the same
// resources and credentials always give the same snapshot bytes.
//
// Problems are reported as diagnostics against the resource that has them, and the compiler
// fails closed around them: a user without credentials cannot log in, a token whose scope names
// a missing role is left out, a Deny whose role is missing denies everything on its topics.
import {
  ACTIONS_BY_TYPE,
  BUILTIN_ROLES,
  type AccessToken,
  type Action,
  type BrokerCluster,
  type BulwarkResource,
  type Limits,
  type ResourceType,
  type Role,
  type RoleSpec,
  type TopicGrant,
  type User,
} from '../api/index.ts';
import type { DerivedCredentials } from './credentials.ts';
import { DEFAULT_SCRAM_ITERATIONS, TOKEN_USERNAME } from './credentials.ts';
import { formatPattern, intersectPatterns, parsePattern } from './pattern.ts';
import { parseCidr } from '../lib/index.ts';
import { authorizationModeRules } from './authorization-mode.ts';
import { sealSnapshot, type PolicySnapshot, type SnapshotRule, type SnapshotSettings, type SnapshotToken, type SnapshotUser } from './snapshot.ts';

export interface TokenCredential {
  /** Hex SHA-256 of the token. */
  sha256: string;
  /** When the token was issued (RFC 3339); needed to resolve spec.lifetime. */
  issuedAt?: string;
}

export interface CompileInput {
  cluster: { namespace: string; name: string };
  /** Resources of any namespace and cluster; only the cluster's own are compiled. */
  resources: readonly BulwarkResource[];
  credentials?: {
    /** Keyed by the User's metadata.name. */
    users?: ReadonlyMap<string, DerivedCredentials>;
    /** Keyed by the AccessToken's metadata.name. */
    tokens?: ReadonlyMap<string, TokenCredential>;
  };
  /** Monotonic snapshot version, assigned by whoever distributes it. Defaults to 1. */
  version?: number;
}

/** Why a resource compiled with a problem: CamelCase, stable (the operator's Stalled reasons are these). */
export const DIAGNOSTIC_REASONS = [
  'UsernameConflict',
  'PasswordUnavailable',
  'ReservedUsername',
  'LimitGroupNotFound',
  'RoleNotFound',
  'CertificateSubjectConflict',
  'TokenLimitExceeded',
  'SubjectNotFound',
  'UserNotFound',
  'TokenUnavailable',
  'IssuedAtUnknown',
  'RoleRulesIgnored',
  'RoleNotApplicable',
  'HostInvalid',
  'RoleNameReserved',
] as const;
export type DiagnosticReason = (typeof DIAGNOSTIC_REASONS)[number];

export interface Diagnostic {
  severity: 'error' | 'warning';
  /** Kind/name of the resource the problem is in. */
  resource: string;
  reason: DiagnosticReason;
  path?: string;
  message: string;
}

export interface CompileResult {
  snapshot: PolicySnapshot;
  diagnostics: Diagnostic[];
}

export const DEFAULT_MAX_TOKENS_PER_USER = 100;

export function compilePolicy(input: CompileInput): CompileResult {
  const { namespace, name: clusterName } = input.cluster;
  const diagnostics: Diagnostic[] = [];
  const report = (severity: Diagnostic['severity'], resource: BulwarkResource, reason: DiagnosticReason, message: string, path?: string) =>
    diagnostics.push({ severity, resource: `${resource.kind}/${resource.metadata.name}`, reason, message, ...(path ? { path } : {}) });

  const inNamespace = input.resources.filter((r) => r.metadata.namespace === namespace);
  const ofCluster = <K extends BulwarkResource['kind']>(kind: K) =>
    inNamespace.filter((r): r is Extract<BulwarkResource, { kind: K }> => r.kind === kind && 'clusterRef' in r.spec && r.spec.clusterRef.name === clusterName);

  const cluster = inNamespace.find((r): r is BrokerCluster => r.kind === 'BrokerCluster' && r.metadata.name === clusterName);
  const settings = compileSettings(cluster);
  const roles = resolveRoles(inNamespace.filter((r): r is Role => r.kind === 'Role'), report);
  const rules: SnapshotRule[] = [];

  // Users --------------------------------------------------------------------------------
  const usersByName = new Map<string, User[]>();
  for (const u of ofCluster('User')) {
    const username = u.spec.username ?? u.metadata.name;
    usersByName.set(username, [...(usersByName.get(username) ?? []), u]);
  }
  const users: SnapshotUser[] = [];
  const usernameOf = new Map<string, string>(); // metadata.name -> username, for users that compiled
  const usersBySubject = new Map<string, BulwarkResource[]>(); // certificate subject -> the tls Users claiming it
  for (const [username, claimants] of usersByName) {
    if (claimants.length > 1) {
      for (const u of claimants) report('error', u, 'UsernameConflict', `username ${username} is claimed by ${claimants.length} Users; none of them can log in until it is unique`, 'spec.username');
      continue;
    }
    const u = claimants[0]!;
    usernameOf.set(u.metadata.name, username);
    const derived = input.credentials?.users?.get(u.metadata.name) ?? {};
    const type = u.spec.authentication.type;
    const hasCredential = type === 'tls' || (type === 'password' ? !!derived.argon2id : type === 'scram-sha-256' ? !!derived.scramSha256 : !!derived.scramSha512);
    if (!hasCredential) report('error', u, 'PasswordUnavailable', 'no password is available for this user, so it cannot log in', 'spec.authentication.passwordSecretRef');
    // SASL PLAIN and HTTP password logins read username `token` as "the password is an access token".
    if (type === 'password' && username === TOKEN_USERNAME)
      report('error', u, 'ReservedUsername', `username ${TOKEN_USERNAME} is reserved for access-token logins (SASL PLAIN, HTTP), so this password user cannot log in; choose another username`, 'spec.username');
    const limitGroup = u.spec.limitGroup ? cluster?.spec.limitGroups?.find((g) => g.name === u.spec.limitGroup) : undefined;
    if (u.spec.limitGroup && !limitGroup) report('error', u, 'LimitGroupNotFound', `limit group ${u.spec.limitGroup} is not declared in BrokerCluster ${clusterName}; the cluster's default limits apply`, 'spec.limitGroup');
    // The CRD's pattern lets 10.0.0.0/33 or 300.1.1.1 through; said here, by field. The broker
    // refuses every login of a user whose list it cannot read (src/auth/credential-index.ts).
    (u.spec.hosts ?? []).forEach((h, i) => {
      if (!parseCidr(h)) report('error', u, 'HostInvalid', `${h} is not an IP address or CIDR block (such as 10.0.0.0/8 or 2001:db8::/32); this user cannot log in from any host until it is fixed`, `spec.hosts[${i}]`);
    });
    const certificateSubject = type === 'tls' ? (u.spec.authentication.certificateSubject ?? username) : undefined;
    if (certificateSubject !== undefined) usersBySubject.set(certificateSubject, [...(usersBySubject.get(certificateSubject) ?? []), u]);
    users.push({
      name: username,
      source: `User/${u.metadata.name}`,
      authentication: type,
      disabled: u.spec.disabled ?? false,
      groups: sortedUnique(u.spec.groups ?? []),
      hosts: sortedUnique(u.spec.hosts ?? []),
      limits: mergeLimits(cluster?.spec.limits?.users, limitGroup?.limits, u.spec.limits),
      credentials: {
        ...(type === 'scram-sha-256' && derived.scramSha256 ? { scramSha256: derived.scramSha256 } : {}),
        ...(type === 'scram-sha-512' && derived.scramSha512 ? { scramSha512: derived.scramSha512 } : {}),
        ...(type === 'password' && derived.argon2id ? { argon2id: derived.argon2id } : {}),
        ...(certificateSubject !== undefined ? { certificateSubject } : {}),
      },
    });
    for (const roleName of u.spec.roles ?? []) {
      const role = roles.get(roleName);
      if (!role) {
        report('error', u, 'RoleNotFound', `Role ${roleName} does not exist in namespace ${namespace}; its permissions are not granted`, 'spec.roles');
        continue;
      }
      if (role.shadowsBuiltin) report('warning', u, 'RoleNameReserved', shadowWarning(roleName), 'spec.roles');
      rules.push(...roleRules(role, `User:${username}`, `User/${u.metadata.name} via ${role.label}`));
    }
  }

  // Two tls users with one certificate subject: the broker lets neither log in with it (fail
  // closed, src/auth/credentials.ts); say so here, where it can be fixed.
  for (const [subject, claimants] of usersBySubject) {
    if (claimants.length < 2) continue;
    for (const u of claimants) report('error', u, 'CertificateSubjectConflict', `certificate subject ${subject} is claimed by ${claimants.length} tls Users; none of them can log in with a certificate until it is unique`, 'spec.authentication.certificateSubject');
  }

  // Access tokens -------------------------------------------------------------------------
  const tokens: SnapshotToken[] = [];
  const userByName = new Map(users.map((u) => [u.name, u]));
  const tokensPerUser = new Map<string, number>();
  for (const t of [...ofCluster('AccessToken')].sort((a, b) => compare(a.metadata.name, b.metadata.name))) {
    const token = compileToken(t, usernameOf, roles, input.credentials?.tokens?.get(t.metadata.name), (r, m, p) => report('error', t, r, m, p));
    for (const roleName of t.spec.roles ?? []) if (roles.get(roleName)?.shadowsBuiltin) report('warning', t, 'RoleNameReserved', shadowWarning(roleName), 'spec.roles');
    if (!token) continue;
    const count = (tokensPerUser.get(token.user) ?? 0) + 1;
    const cap = userByName.get(token.user)?.limits.maxTokens ?? settings.maxTokensPerUser;
    if (count > cap) {
      report('error', t, 'TokenLimitExceeded', `user ${token.user} already has ${cap} tokens, the most allowed; this one is not accepted`);
      continue;
    }
    tokensPerUser.set(token.user, count);
    tokens.push(token);
  }

  // Topic grants --------------------------------------------------------------------------
  for (const g of ofCluster('TopicGrant')) rules.push(...grantRules(g, roles, (sev, r, m, p) => report(sev, g, r, m, p)));
  for (const g of ofCluster('TopicGrant')) {
    for (const s of g.spec.subjects) {
      if (s.kind === 'User' && s.name !== 'system:anonymous' && !userByName.has(s.name)) report('warning', g, 'SubjectNotFound', `subject User ${s.name} is not a user of cluster ${clusterName}`, 'spec.subjects');
    }
  }

  // spec.authorization.mode: authenticatedFullAccess is rules for Group:system:authenticated (authorization-mode.ts).
  rules.push(...authorizationModeRules(cluster));

  users.sort((a, b) => compare(a.name, b.name));
  rules.sort(compareRules);
  const snapshot = sealSnapshot({ cluster: { namespace, name: clusterName }, settings, users, tokens, rules }, input.version ?? 1);
  return { snapshot, diagnostics };
}

/** The snapshot settings of a BrokerCluster; with none, the defaults (what the CRD documents for each field left out). */
export function compileSettings(cluster: BrokerCluster | undefined): SnapshotSettings {
  const spec = cluster?.spec;
  return {
    superUsers: sortedUnique(spec?.authorization?.superUsers ?? []),
    allowAnonymous: spec?.authentication?.allowAnonymous ?? false,
    maxTokensPerUser: spec?.authentication?.maxTokensPerUser ?? DEFAULT_MAX_TOKENS_PER_USER,
    scramIterations: spec?.authentication?.scramIterations ?? DEFAULT_SCRAM_ITERATIONS,
    certificatePrincipal: { source: spec?.authentication?.certificatePrincipal?.source ?? 'commonName', prefix: spec?.authentication?.certificatePrincipal?.prefix ?? '' },
  };
}

function compileToken(
  t: AccessToken,
  usernameOf: ReadonlyMap<string, string>,
  roles: ReadonlyMap<string, ResolvedRole>,
  credential: TokenCredential | undefined,
  fail: (reason: DiagnosticReason, message: string, path?: string) => void,
): SnapshotToken | undefined {
  const user = usernameOf.get(t.spec.userRef.name);
  if (!user) return void fail('UserNotFound', `User ${t.spec.userRef.name} does not exist (or cannot log in); the token is not accepted`, 'spec.userRef');
  if (!credential) return void fail('TokenUnavailable', 'no token value is available for this AccessToken', 'spec.secretName');
  let expiresAt: string | null = t.spec.expiresAt ?? null;
  if (t.spec.lifetime) {
    if (!credential.issuedAt) return void fail('IssuedAtUnknown', 'lifetime needs the time the token was issued, which is unknown; use expiresAt', 'spec.lifetime');
    expiresAt = new Date(Date.parse(credential.issuedAt) + parseDurationMs(t.spec.lifetime)).toISOString();
  }
  const scope: SnapshotRule[] = [];
  for (const roleName of t.spec.roles ?? []) {
    const role = roles.get(roleName);
    // Fail closed: a token meant to be narrowed must never fall back to the user's full access.
    if (!role) return void fail('RoleNotFound', `Role ${roleName} does not exist; the token is not accepted`, 'spec.roles');
    scope.push(...roleRules(role, `User:${user}`, `AccessToken/${t.metadata.name} via ${role.label}`));
  }
  scope.sort(compareRules);
  return { id: t.metadata.name, user, sha256: credential.sha256, expiresAt, scope, scoped: (t.spec.roles ?? []).length > 0 };
}

/** A Role as references see it: a declared one, or a built-in (src/api/builtin-roles.ts). */
interface ResolvedRole {
  spec: RoleSpec;
  /** How rule sources name it: Role/<name>, or built-in role <name>. */
  label: string;
  builtin: boolean;
  /** A declared Role with a built-in role's name: one made before the CRD refused such names. */
  shadowsBuiltin: boolean;
}

/**
 * The roles references resolve to: the built-in roles, and the namespace's Roles. A Role that
 * takes a built-in name (the CRD refuses them; one made before that rule existed may remain) is
 * an error, yet still applies where it is named: switching its references to the built-in could
 * give them more than the author meant, and dropping them could cut off applications. Local mode
 * compiles nothing while the error stands.
 */
function resolveRoles(declared: readonly Role[], report: (severity: Diagnostic['severity'], resource: BulwarkResource, reason: DiagnosticReason, message: string, path?: string) => void): Map<string, ResolvedRole> {
  const roles = new Map<string, ResolvedRole>(BUILTIN_ROLES.map((b) => [b.name, { spec: b.spec, label: `built-in role ${b.name}`, builtin: true, shadowsBuiltin: false }]));
  for (const r of declared) {
    const shadowsBuiltin = roles.get(r.metadata.name)?.builtin === true;
    if (shadowsBuiltin)
      report('error', r, 'RoleNameReserved', `${r.metadata.name} is the name of a built-in role, which a Role can no longer take; until this Role is renamed (and the resources naming it changed) or deleted, resources naming ${r.metadata.name} keep getting this Role, not the built-in one`, 'metadata.name');
    roles.set(r.metadata.name, { spec: r.spec, label: `Role/${r.metadata.name}`, builtin: false, shadowsBuiltin });
  }
  return roles;
}

const shadowWarning = (name: string) => `${name} names a Role of this namespace that takes a built-in role's name; it gets that Role, not the built-in ${name}, until the Role is renamed or deleted`;

function roleRules(role: ResolvedRole, subject: string, source: string): SnapshotRule[] {
  const out: SnapshotRule[] = [];
  for (const rule of role.spec.rules) {
    for (const res of rule.resources) {
      const actions = actionsFor(res.type, rule.actions);
      if (actions.length > 0) out.push({ source, effect: 'Allow', subject, resourceType: res.type, pattern: res.pattern, actions, hosts: [] });
    }
  }
  return out;
}

function grantRules(g: TopicGrant, roles: ReadonlyMap<string, ResolvedRole>, report: (sev: Diagnostic['severity'], reason: DiagnosticReason, message: string, path?: string) => void): SnapshotRule[] {
  const { effect, subjects, topics, consumerGroups = [] } = g.spec;
  let hosts = g.spec.hosts ?? [];
  const source = `TopicGrant/${g.metadata.name}`;
  // A host the broker cannot read would make it reject the whole snapshot. Fail closed here
  // instead: an Allow grant allows nothing, a Deny grant denies from every host.
  const badHosts = hosts.map((h, i) => [h, i] as const).filter(([h]) => !parseCidr(h));
  for (const [h, i] of badHosts)
    report('error', 'HostInvalid', `${h} is not an IP address or CIDR block (such as 10.0.0.0/8 or 2001:db8::/32); ${effect === 'Allow' ? 'the grant allows nothing' : 'failing closed, this Deny applies from every host'} until it is fixed`, `spec.hosts[${i}]`);
  if (badHosts.length > 0) {
    if (effect === 'Allow') return [];
    hosts = [];
  }
  // Each target: a resource type, a pattern, and the actions on it.
  const targets: { type: ResourceType; pattern: string; actions: Action[]; source: string }[] = [];
  const add = (type: ResourceType, patterns: readonly string[], actions: readonly Action[], src: string) => {
    const fitting = actionsFor(type, actions);
    if (fitting.length > 0) for (const pattern of patterns) targets.push({ type, pattern, actions: fitting, source: src });
  };
  if (g.spec.actions) {
    add('topic', topics, g.spec.actions, source);
    add('group', consumerGroups, g.spec.actions, source);
  } else {
    const roleName = g.spec.role!;
    const role = roles.get(roleName);
    if (!role) {
      if (effect === 'Deny') {
        report('error', 'RoleNotFound', `Role ${roleName} does not exist; failing closed, this Deny covers every action on its topics and groups`, 'spec.role');
        add('topic', topics, ['all'], `${source} (missing Role/${roleName}: deny all)`);
        add('group', consumerGroups, ['all'], `${source} (missing Role/${roleName}: deny all)`);
      } else {
        report('error', 'RoleNotFound', `Role ${roleName} does not exist; the grant allows nothing`, 'spec.role');
      }
    } else {
      const via = `${source} via ${role.label}`;
      if (role.shadowsBuiltin) report('warning', 'RoleNameReserved', shadowWarning(roleName), 'spec.role');
      let used = false;
      for (const rule of role.spec.rules) {
        for (const res of rule.resources) {
          const narrowTo = res.type === 'topic' ? topics : res.type === 'group' ? consumerGroups : undefined;
          if (!narrowTo) continue;
          for (const p of narrowTo) {
            const both = intersectPatterns(parsePattern(res.pattern), parsePattern(p));
            if (both) {
              add(res.type, [formatPattern(both)], rule.actions, via);
              used = true;
            }
          }
        }
      }
      // A built-in role's other rules are documented as ignored here (docs/concepts.md).
      if (!role.builtin && role.spec.rules.some((r) => r.resources.some((res) => res.type !== 'topic' && res.type !== 'group')))
        report('warning', 'RoleRulesIgnored', `Role ${roleName} has rules for resources other than topics and groups; a TopicGrant applies only its topic and group rules`, 'spec.role');
      if (!used) report('warning', 'RoleNotApplicable', `Role ${roleName} covers none of this grant's topics or groups; the grant has no effect`, 'spec.role');
      else if (effect === 'Allow' && consumerGroups.length === 0 && role.spec.rules.some((r) => r.resources.some((res) => res.type === 'group')))
        report('warning', 'RoleNotApplicable', `Role ${roleName} has rules for consumer groups, but this grant names no consumerGroups, so it allows nothing on groups (consuming in a group needs read on the group)`, 'spec.consumerGroups');
    }
  }
  const out: SnapshotRule[] = [];
  for (const s of subjects) {
    for (const t of targets) out.push({ source: t.source, effect, subject: `${s.kind}:${s.name}`, resourceType: t.type, pattern: t.pattern, actions: t.actions, hosts: sortedUnique(hosts) });
  }
  return out;
}

/** The given actions that mean something on this resource type, in canonical order. */
function actionsFor(type: ResourceType, actions: readonly Action[]): Action[] {
  return ACTIONS_BY_TYPE[type].filter((a) => actions.includes(a));
}

function mergeLimits(...layers: (Limits | undefined)[]): Limits {
  const out: Record<string, number> = {};
  for (const layer of layers) for (const [k, v] of Object.entries(layer ?? {})) if (v !== undefined) out[k] = v;
  return out as Limits;
}

const DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
export function parseDurationMs(text: string): number {
  let total = 0;
  for (const [, n, unit] of text.matchAll(/([0-9]+)(ns|us|ms|s|m|h)/g)) total += Number(n) * DURATION_UNITS[unit!]!;
  return total;
}

function sortedUnique(values: readonly string[]): string[] {
  return [...new Set(values)].sort(compare);
}

/** Code-unit order, independent of locale: deterministic everywhere. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareRules(a: SnapshotRule, b: SnapshotRule): number {
  return (
    compare(a.subject, b.subject) ||
    compare(a.resourceType, b.resourceType) ||
    compare(a.pattern, b.pattern) ||
    compare(a.effect, b.effect) ||
    compare(a.source, b.source) ||
    compare(a.actions.join(), b.actions.join()) ||
    compare(a.hosts.join(), b.hosts.join())
  );
}
