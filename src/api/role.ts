import { z } from 'zod';
import { baseStatus, BUILTIN_ROLE_NAMES, cel } from './common.ts';
import { actionList, actionsFitResourcesRule, resourceRef } from './permissions.ts';

export const roleRule = cel(
  z.strictObject({
    resources: z.array(resourceRef).min(1).max(16).describe('The resources this rule covers.'),
    actions: actionList,
  }),
  'A rule: these actions on these resources.',
  actionsFitResourcesRule,
);

export const roleSpec = z
  .strictObject({
    description: z.string().max(1024).optional().describe('What the role is for.'),
    rules: z.array(roleRule).min(1).max(64).describe('The rules of the role; it allows the union of them.'),
  })
  .describe(`A named set of permissions. Roles are shared by every cluster in their namespace; Users, AccessTokens and TopicGrants refer to them by name. The built-in roles (${BUILTIN_ROLE_NAMES.join(', ')}) need no Role, and their names cannot be taken.`);

export const roleStatus = z.strictObject({ ...baseStatus, policyHash: z.string().max(80).optional().describe('Hash of the policy snapshot that holds this generation, applied by every broker.'), }).describe('Observed state of the Role.');
export type RoleSpec = z.infer<typeof roleSpec>;
