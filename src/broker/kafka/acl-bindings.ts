// The policy in force, read as Kafka ACL bindings: what DescribeAcls answers, so that
// kafka-acls.sh --list, AKHQ and Terraform providers can show who may do what. Pure: snapshot
// rules and a Kafka filter in, bindings out. Bulwark's grants stay the custom resources; nothing
// here writes a rule (CreateAcls and DeleteAcls are refused).
//
// One rule becomes one binding per action and host:
//   resourceType topic/group/transactionalId/cluster  -> TOPIC/GROUP/TRANSACTIONAL_ID/CLUSTER
//   pattern "*"        -> name "*", LITERAL (Kafka's wildcard)
//   pattern "orders-*" -> name "orders-", PREFIXED
//   pattern "orders"   -> name "orders", LITERAL;  the cluster -> "kafka-cluster", LITERAL
//   subject            -> principal, as written ("User:alice", "Group:ops")
//   hosts []           -> host "*"; otherwise one binding per address or CIDR block, as written
//   actions            -> operations one to one (all -> ALL); effect -> ALLOW / DENY
// Lossy (docs/security.md): user and accessToken rules (Bulwark's own HTTP objects) have no
// Kafka resource type and are left out; Group: principals and CIDR hosts are not something
// Kafka's own authorizer would match; super users and token scopes are not rules; a rule's
// source is not carried.
import { ACTIONS_BY_TYPE, type Action, type ResourceType } from '../../api/index.ts';
import type { SnapshotRule } from '../../policy/index.ts';
import { CLUSTER_RESOURCE } from './permissions.ts';

/** org.apache.kafka.common.resource.ResourceType codes. */
export const AclResourceType = { UNKNOWN: 0, ANY: 1, TOPIC: 2, GROUP: 3, CLUSTER: 4, TRANSACTIONAL_ID: 5, DELEGATION_TOKEN: 6, USER: 7 } as const;
/** org.apache.kafka.common.resource.PatternType codes. */
export const AclPatternType = { UNKNOWN: 0, ANY: 1, MATCH: 2, LITERAL: 3, PREFIXED: 4 } as const;
/** org.apache.kafka.common.acl.AclOperation codes. */
export const AclOperation = {
  UNKNOWN: 0, ANY: 1, ALL: 2, READ: 3, WRITE: 4, CREATE: 5, DELETE: 6, ALTER: 7, DESCRIBE: 8,
  CLUSTER_ACTION: 9, DESCRIBE_CONFIGS: 10, ALTER_CONFIGS: 11, IDEMPOTENT_WRITE: 12, CREATE_TOKENS: 13, DESCRIBE_TOKENS: 14,
} as const;
/** org.apache.kafka.common.acl.AclPermissionType codes. */
export const AclPermissionType = { UNKNOWN: 0, ANY: 1, DENY: 2, ALLOW: 3 } as const;

/** Kafka's name for the cluster resource in ACLs. */
export const KAFKA_CLUSTER_NAME = CLUSTER_RESOURCE;

const RESOURCE_TYPE: Partial<Record<ResourceType, number>> = {
  topic: AclResourceType.TOPIC,
  group: AclResourceType.GROUP,
  cluster: AclResourceType.CLUSTER,
  transactionalId: AclResourceType.TRANSACTIONAL_ID,
};

const OPERATION: Record<Action, number> = {
  all: AclOperation.ALL,
  read: AclOperation.READ,
  write: AclOperation.WRITE,
  create: AclOperation.CREATE,
  delete: AclOperation.DELETE,
  alter: AclOperation.ALTER,
  describe: AclOperation.DESCRIBE,
  clusterAction: AclOperation.CLUSTER_ACTION,
  describeConfigs: AclOperation.DESCRIBE_CONFIGS,
  alterConfigs: AclOperation.ALTER_CONFIGS,
  idempotentWrite: AclOperation.IDEMPOTENT_WRITE,
};

export interface AclBinding {
  resourceType: number;
  resourceName: string;
  patternType: number;
  principal: string;
  host: string;
  operation: number;
  permissionType: number;
}

/** A DescribeAcls (or DeleteAcls) filter; null strings match anything. */
export interface AclBindingFilter {
  resourceTypeFilter: number;
  resourceNameFilter: string | null;
  patternTypeFilter: number;
  principalFilter: string | null;
  hostFilter: string | null;
  operation: number;
  permissionType: number;
}

/** The bindings one rule stands for; none for the admin types Kafka has no resource type for. */
export function bindingsOfRule(rule: SnapshotRule): AclBinding[] {
  const resourceType = RESOURCE_TYPE[rule.resourceType];
  if (resourceType === undefined) return [];
  let resourceName: string;
  let patternType: number;
  if (rule.resourceType === 'cluster') [resourceName, patternType] = [KAFKA_CLUSTER_NAME, AclPatternType.LITERAL];
  else if (rule.pattern === '*') [resourceName, patternType] = ['*', AclPatternType.LITERAL];
  else if (rule.pattern.endsWith('*')) [resourceName, patternType] = [rule.pattern.slice(0, -1), AclPatternType.PREFIXED];
  else [resourceName, patternType] = [rule.pattern, AclPatternType.LITERAL];
  const permissionType = rule.effect === 'Allow' ? AclPermissionType.ALLOW : AclPermissionType.DENY;
  const hosts = rule.hosts.length > 0 ? rule.hosts : ['*'];
  const valid = ACTIONS_BY_TYPE[rule.resourceType];
  const out: AclBinding[] = [];
  // An action that means nothing on the type (write on a group) authorizes nothing: not listed.
  for (const action of rule.actions) {
    if (!valid.includes(action)) continue;
    for (const host of hosts) out.push({ resourceType, resourceName, patternType, principal: rule.subject, host, operation: OPERATION[action], permissionType });
  }
  return out;
}

/** Why a filter cannot be answered (Kafka's INVALID_REQUEST), or undefined. */
export function invalidFilter(f: AclBindingFilter): string | undefined {
  if (f.resourceTypeFilter === AclResourceType.UNKNOWN || !Object.values(AclResourceType).includes(f.resourceTypeFilter as never)) return 'unknown resource type';
  if (f.patternTypeFilter === AclPatternType.UNKNOWN || !Object.values(AclPatternType).includes(f.patternTypeFilter as never)) return 'unknown pattern type';
  if (f.operation === AclOperation.UNKNOWN || !Object.values(AclOperation).includes(f.operation as never)) return 'unknown operation';
  if (f.permissionType === AclPermissionType.UNKNOWN || !Object.values(AclPermissionType).includes(f.permissionType as never)) return 'unknown permission type';
  return undefined;
}

/** Kafka's AclBindingFilter.matches, MATCH included: the bindings that apply to the named resource. */
export function filterMatches(f: AclBindingFilter, b: AclBinding): boolean {
  if (f.resourceTypeFilter !== AclResourceType.ANY && f.resourceTypeFilter !== b.resourceType) return false;
  if (f.patternTypeFilter === AclPatternType.MATCH) {
    const name = f.resourceNameFilter;
    if (name !== null) {
      const applies = b.patternType === AclPatternType.LITERAL ? b.resourceName === name || b.resourceName === '*' : name.startsWith(b.resourceName);
      if (!applies) return false;
    }
  } else {
    if (f.patternTypeFilter !== AclPatternType.ANY && f.patternTypeFilter !== b.patternType) return false;
    if (f.resourceNameFilter !== null && f.resourceNameFilter !== b.resourceName) return false;
  }
  if (f.principalFilter !== null && f.principalFilter !== b.principal) return false;
  if (f.hostFilter !== null && f.hostFilter !== b.host) return false;
  if (f.operation !== AclOperation.ANY && f.operation !== b.operation) return false;
  if (f.permissionType !== AclPermissionType.ANY && f.permissionType !== b.permissionType) return false;
  return true;
}

export interface AclResource {
  resourceType: number;
  resourceName: string;
  patternType: number;
  acls: { principal: string; host: string; operation: number; permissionType: number }[];
}

/** The rules' bindings that pass the filter, one entry per resource pattern, without duplicates, in a stable order. */
export function describeAcls(rules: readonly SnapshotRule[], filter: AclBindingFilter): AclResource[] {
  const byResource = new Map<string, { resource: AclResource; seen: Set<string> }>();
  for (const rule of rules) {
    for (const b of bindingsOfRule(rule)) {
      if (!filterMatches(filter, b)) continue;
      const key = `${b.resourceType}\0${b.patternType}\0${b.resourceName}`;
      let entry = byResource.get(key);
      if (!entry) byResource.set(key, (entry = { resource: { resourceType: b.resourceType, resourceName: b.resourceName, patternType: b.patternType, acls: [] }, seen: new Set() }));
      const aclKey = `${b.principal}\0${b.host}\0${b.operation}\0${b.permissionType}`;
      if (entry.seen.has(aclKey)) continue;
      entry.seen.add(aclKey);
      entry.resource.acls.push({ principal: b.principal, host: b.host, operation: b.operation, permissionType: b.permissionType });
    }
  }
  return [...byResource.values()].map((e) => e.resource);
}
