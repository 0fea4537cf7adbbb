import { z } from 'zod';
import { baseStatus, cel, clusterRef, duration, immutable, resourceName, ROLE_NAME_DESCRIPTION } from './common.ts';

export const accessTokenSpec = cel(
  z.strictObject({
    clusterRef,
    userRef: immutable(
      z.strictObject({ name: resourceName('Name of the User (metadata.name), in the same namespace.') }),
      'The User this token acts for. The token never has more access than the user.',
      'userRef',
    ),
    expiresAt: z.iso.datetime().optional().describe('When the token stops working (RFC 3339, UTC). Checked by the broker on every use.'),
    lifetime: duration('How long the token works after it is created, as a duration such as 720h. Mutually exclusive with expiresAt.').optional(),
    roles: z
      .array(resourceName(ROLE_NAME_DESCRIPTION))
      .max(16)
      .optional()
      .meta({ description: 'Narrows the token to these roles (declared Roles, or the built-in admin, reader, producer and consumer): a request must be allowed both by the user\'s own permissions and by one of these roles. Left out, the token has the user\'s permissions.', 'x-kubernetes-list-type': 'set' }),
    secretName: resourceName('The Secret the operator writes the token to. Left out, it is <metadata.name>-token. In local mode, the Secret that holds the token.').optional(),
    description: z.string().max(1024).optional().describe('What the token is for.'),
  }),
  'An access token for an application: the operator generates it, writes it to a Secret, and sends only its SHA-256 hash to the brokers.',
  { rule: '!(has(self.expiresAt) && has(self.lifetime))', message: 'expiresAt and lifetime are mutually exclusive', fieldPath: '.lifetime' },
);

export const accessTokenStatus = z
  .strictObject({
    ...baseStatus,
    secretName: z.string().max(253).optional().describe('The Secret holding the token.'),
    expiresAt: z.iso.datetime().optional().describe('When the token expires.'),
    policyHash: z.string().max(80).optional().describe('Hash of the policy snapshot that holds this generation, applied by every broker.'),
  })
  .describe('Observed state of the AccessToken.');

export type AccessTokenSpec = z.infer<typeof accessTokenSpec>;
