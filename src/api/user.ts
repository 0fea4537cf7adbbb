import { z } from 'zod';
import {
  baseStatus,
  cel,
  clusterRef,
  GROUP_NAME,
  hostList,
  resourceName,
  ROLE_NAME_DESCRIPTION,
  secretKeyRef,
  USERNAME,
} from './common.ts';
import { limits } from './limits.ts';

export const AUTHENTICATION_TYPES = ['scram-sha-256', 'scram-sha-512', 'password', 'tls'] as const;
export type AuthenticationType = (typeof AUTHENTICATION_TYPES)[number];

const authentication = cel(
  z.strictObject({
    type: z
      .enum(AUTHENTICATION_TYPES)
      .describe(
        'How the user proves who it is: scram-sha-256 or scram-sha-512 (SASL SCRAM; PLAIN over TLS and HTTP login also work), password (SASL PLAIN over TLS and HTTP login, checked against an argon2id hash), or tls (a client certificate).',
      ),
    passwordSecretRef: secretKeyRef
      .optional()
      .describe(
        'A Secret key holding a password you bring (for GitOps with sealed or external secrets). Left out, the operator generates a password. Required in local mode (--policy-dir).',
      ),
    certificateSubject: z
      .string()
      .min(1)
      .max(1024)
      .optional()
      .describe('For type tls: the identity the certificate must carry (CN, SAN DNS name or SAN URI, per the cluster\'s mapping). Left out, it is the username.'),
  }),
  'How this user authenticates.',
  { rule: "self.type == 'tls' || !has(self.certificateSubject)", message: 'certificateSubject applies only to type tls', fieldPath: '.certificateSubject' },
  { rule: "self.type != 'tls' || !has(self.passwordSecretRef)", message: 'a tls user has no password: remove passwordSecretRef', fieldPath: '.passwordSecretRef' },
);

export const userSpec = z
  .strictObject({
    clusterRef,
    username: z
      .string()
      .min(1)
      .max(128)
      .regex(USERNAME)
      .optional()
      .describe('The name clients log in with. Left out, it is metadata.name. Must be unique within the cluster.'),
    authentication,
    groups: z
      .array(z.string().min(1).max(128).regex(GROUP_NAME).describe('A group name.'))
      .max(64)
      .optional()
      .meta({ description: 'Groups the user belongs to; TopicGrants can name groups as subjects. Names starting with system: are reserved.', 'x-kubernetes-list-type': 'set', 'x-kubernetes-validations': [{ rule: "self.all(g, !g.startsWith('system:'))", message: 'group names starting with system: are reserved' }] }),
    roles: z
      .array(resourceName(ROLE_NAME_DESCRIPTION))
      .max(64)
      .optional()
      .meta({ description: 'Roles granted to this user on the resources the roles name: declared Roles, or the built-in admin, reader, producer and consumer (on every name).', 'x-kubernetes-list-type': 'set' }),
    hosts: hostList('Host access list: the user may connect only from these addresses or CIDR blocks. Empty or left out allows every host.').optional(),
    limitGroup: resourceName('Name of a limit group declared in the BrokerCluster\'s spec.limitGroups.').optional(),
    limits: limits.optional(),
    disabled: z.boolean().optional().describe('A disabled user cannot log in, and its open connections are closed. Left out means false.'),
  })
  .describe('A user of a BrokerCluster: a person or an application.');

export const userStatus = z
  .strictObject({
    ...baseStatus,
    username: z.string().max(128).optional().describe('The name clients log in with.'),
    secretName: z.string().max(253).optional().describe('The Secret holding this user\'s connection details.'),
    policyHash: z.string().max(80).optional().describe('Hash of the policy snapshot that last included this user.'),
  })
  .describe('Observed state of the User.');

export type UserSpec = z.infer<typeof userSpec>;
