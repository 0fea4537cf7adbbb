import { z } from 'zod';
import { baseStatus, BUILTIN_GROUPS, BUILTIN_ROLE_NAMES, cel, clusterRef, GROUP_NAME, hostList, resourceName, resourcePattern, USERNAME } from './common.ts';
import { ACTIONS_BY_TYPE, actionList } from './permissions.ts';

const subject = cel(
  z.strictObject({
    kind: z.enum(['User', 'Group']).describe('User (a username, or system:anonymous) or Group (a group name, or system:authenticated / system:unauthenticated).'),
    name: z.string().min(1).max(128).describe('The username or group name.'),
  }),
  'Who the grant applies to.',
  {
    rule: `self.kind == 'Group' ? self.name.matches('${GROUP_NAME.source}') : (self.name == 'system:anonymous' || self.name.matches('${USERNAME.source}'))`,
    message: 'name is not a valid username or group name',
    fieldPath: '.name',
  },
);

const groupActions = ACTIONS_BY_TYPE.group.map((a) => `'${a}'`).join(', ');

export const topicGrantSpec = cel(
  z.strictObject({
    clusterRef,
    subjects: z.array(subject).min(1).max(256).describe('Users and groups the grant applies to.'),
    topics: z.array(resourcePattern('Topic')).min(1).max(256).meta({ description: 'Topics the grant covers, as patterns.', 'x-kubernetes-list-type': 'set' }),
    consumerGroups: z
      .array(resourcePattern('Consumer group'))
      .max(256)
      .optional()
      .meta({ description: 'Consumer groups the grant also covers, for consumers: the grant\'s actions that apply to groups (read, describe, delete, all) are granted on them too.', 'x-kubernetes-list-type': 'set' }),
    actions: actionList.optional(),
    role: resourceName(`A Role whose topic and group rules are applied, narrowed to the topics and consumerGroups above: a Role of this namespace, or a built-in role (${BUILTIN_ROLE_NAMES.join(', ')}; docs/concepts.md, "Built-in roles"). Mutually exclusive with actions.`).optional(),
    effect: z.enum(['Allow', 'Deny']).describe('Allow or Deny. A Deny beats every Allow, from any grant or role.'),
    hosts: hostList('Client addresses the grant applies to. Left out, it applies from every host.').optional(),
  }),
  'Grants (or denies) actions on topics, and optionally consumer groups, to users and groups.',
  { rule: 'has(self.actions) != has(self.role)', message: 'set exactly one of actions or role' },
  {
    rule: `!has(self.consumerGroups) || !has(self.actions) || self.actions.exists(a, a in [${groupActions}])`,
    message: 'consumerGroups is set but none of the actions applies to consumer groups (read, describe, delete, all)',
    fieldPath: '.consumerGroups',
  },
  {
    rule: `!has(self.actions) || self.actions.all(a, a in ['read', 'write', 'create', 'delete', 'alter', 'describe', 'describeConfigs', 'alterConfigs', 'all'])`,
    message: 'an action does not apply to topics',
    fieldPath: '.actions',
  },
  {
    rule: `self.subjects.all(s, s.kind == 'User' || !s.name.startsWith('system:') || s.name in [${BUILTIN_GROUPS.map((g) => `'${g}'`).join(', ')}])`,
    message: 'unknown built-in group: only system:authenticated and system:unauthenticated exist',
    fieldPath: '.subjects',
  },
);

export const topicGrantStatus = z.strictObject({ ...baseStatus, policyHash: z.string().max(80).optional().describe('Hash of the policy snapshot that holds this generation, applied by every broker.'), }).describe('Observed state of the TopicGrant.');
export type TopicGrantSpec = z.infer<typeof topicGrantSpec>;
