// The permission vocabulary: resource types and actions, as the CRDs spell them.
//
// Actions follow Kafka's ACL operations one to one, so that each Kafka request maps to exactly
// one (action, resource) pair. The admin types are Bulwark's own objects, managed over HTTP.
import { z } from 'zod';
import { cel, resourcePattern } from './common.ts';

export const ACTIONS = [
  'read',
  'write',
  'create',
  'delete',
  'alter',
  'describe',
  'describeConfigs',
  'alterConfigs',
  'clusterAction',
  'idempotentWrite',
  'all',
] as const;
export type Action = (typeof ACTIONS)[number];

export const RESOURCE_TYPES = ['cluster', 'topic', 'group', 'transactionalId', 'user', 'accessToken'] as const;
export type ResourceType = (typeof RESOURCE_TYPES)[number];

/** Which actions mean something on which resource type (Kafka's table, plus the admin types). */
export const ACTIONS_BY_TYPE: Record<ResourceType, readonly Action[]> = {
  cluster: ['create', 'alter', 'describe', 'clusterAction', 'describeConfigs', 'alterConfigs', 'idempotentWrite', 'all'],
  topic: ['read', 'write', 'create', 'delete', 'alter', 'describe', 'describeConfigs', 'alterConfigs', 'all'],
  group: ['read', 'describe', 'delete', 'all'],
  transactionalId: ['write', 'describe', 'all'],
  user: ['create', 'alter', 'delete', 'describe', 'all'],
  accessToken: ['create', 'alter', 'delete', 'describe', 'all'],
};

/**
 * What granting an action also allows, as Kafka defines it: read, write, delete and alter imply
 * describe; alterConfigs implies describeConfigs; all implies everything. Implications apply to
 * Allow only: denying read does not deny describe.
 */
export const IMPLIED: Record<Action, readonly Action[]> = {
  read: ['describe'],
  write: ['describe'],
  delete: ['describe'],
  alter: ['describe'],
  alterConfigs: ['describeConfigs'],
  create: [],
  describe: [],
  describeConfigs: [],
  clusterAction: [],
  idempotentWrite: [],
  all: ACTIONS.filter((a) => a !== 'all'),
};

const celList = (values: readonly string[]) => `[${values.map((v) => `'${v}'`).join(', ')}]`;

export const action = z.enum(ACTIONS).describe('An action, after Kafka\'s ACL operations.');
export const actionList = z
  .array(action)
  .min(1)
  .max(ACTIONS.length)
  .meta({ description: 'Actions, after Kafka\'s ACL operations. read, write, delete and alter imply describe; alterConfigs implies describeConfigs; all implies every action.', 'x-kubernetes-list-type': 'set' });

export const resourceRef = cel(
  z.strictObject({
    type: z.enum(RESOURCE_TYPES).describe('Resource type: cluster, topic, group (consumer group), transactionalId, or the admin objects user and accessToken.'),
    pattern: resourcePattern('Resource'),
  }),
  'A set of resources of one type, selected by a name pattern.',
  { rule: "self.type != 'cluster' || self.pattern == '*'", message: "the cluster resource has no name: use pattern '*'", fieldPath: '.pattern' },
);

/**
 * CEL: every action applies to at least one of the rule's resource types. Actions that apply to
 * only some of them are granted on those (read on a topic and a group; write on the topic only).
 */
export const actionsFitResourcesRule = {
  rule: `self.actions.all(a, self.resources.exists(r, ${Object.entries(ACTIONS_BY_TYPE)
    .map(([type, allowed]) => `(r.type == '${type}' && a in ${celList(allowed)})`)
    .join(' || ')}))`,
  message: 'an action applies to none of the rule\'s resource types (see docs/concepts.md, "Actions")',
  fieldPath: '.actions',
};
