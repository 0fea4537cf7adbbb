// BrokerCluster spec.authorization.mode. `authenticatedFullAccess` is SwiftMQ's password-check-only
// mode: every authenticated user may do everything.
//
// It is compiled into the snapshot as rules, not carried as a setting: one Allow of `all` on `*`
// for every resource type, to the built-in group every logged-in user is in
// (Group:system:authenticated). So every broker enforces it through the one authorizer it already
// has (a broker that predates the mode too), DescribeAcls and `bulwark policy explain` show it,
// and an allowed request's audit event names it as the rule that allowed it. What that rule
// cannot override still refuses: a Deny grant (deny beats allow), a token narrowed to roles, a
// disabled user, a user's host list; anonymous clients are not in the group and get nothing from it.
//
// Brokers, `bulwark policy check` and the operator recognize the mode by those rules
// (openAuthorization), and say so loudly while it is on.
import { RESOURCE_TYPES, type AuthorizationMode, type BrokerCluster } from '../api/index.ts';
import { AUTHENTICATED_GROUP } from './authorizer.ts';
import type { PolicySnapshot, SnapshotRule } from './snapshot.ts';

export const FULL_ACCESS_MODE = 'authenticatedFullAccess' satisfies AuthorizationMode;
const SUBJECT = `Group:${AUTHENTICATED_GROUP}`;

/** The rules a BrokerCluster's authorization mode adds: none for `policy` (the default). */
export function authorizationModeRules(cluster: BrokerCluster | undefined): SnapshotRule[] {
  if (cluster?.spec.authorization?.mode !== FULL_ACCESS_MODE) return [];
  const source = `BrokerCluster/${cluster.metadata.name} spec.authorization.mode: ${FULL_ACCESS_MODE}`;
  return RESOURCE_TYPES.map((resourceType) => ({ source, effect: 'Allow', subject: SUBJECT, resourceType, pattern: '*', actions: ['all'], hosts: [] }));
}

export interface OpenAuthorization {
  mode: typeof FULL_ACCESS_MODE;
  /** Where the rules come from (the BrokerCluster and its field). */
  sources: string[];
}

/** Whether the snapshot lets every authenticated user do everything: an Allow of all on `*` of every resource type to Group:system:authenticated, from every host. */
export function openAuthorization(snapshot: PolicySnapshot): OpenAuthorization | undefined {
  const types = new Set<string>();
  const sources = new Set<string>();
  for (const r of snapshot.rules) {
    if (r.subject !== SUBJECT || r.effect !== 'Allow' || r.pattern !== '*' || r.hosts.length > 0 || !r.actions.includes('all')) continue;
    types.add(r.resourceType);
    sources.add(r.source);
  }
  return types.size === RESOURCE_TYPES.length ? { mode: FULL_ACCESS_MODE, sources: [...sources].sort() } : undefined;
}

/** What the brokers log and `bulwark policy check` prints while the mode is on. */
export function openAuthorizationWarning(open: OpenAuthorization): string {
  return `authorization mode ${open.mode} (${open.sources.join(', ')}): every authenticated user may do every action on every resource; only Deny grants, token scopes, disabled users and host lists still refuse anything`;
}
