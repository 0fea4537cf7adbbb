// Shapes shared by the six kinds: names, references, patterns, conditions, status.
//
// Every schema here is also a CRD schema (see crd.ts), so each field carries a description,
// and each string, list and number carries bounds. CEL rules are attached with `cel()` and
// are enforced by the API server at admission and by `bulwark policy check` offline.
import { z } from 'zod';

export const API_GROUP = 'bulwark.dev';
export const API_VERSION = 'v1alpha1';
export const API_GROUP_VERSION = `${API_GROUP}/${API_VERSION}`;

export interface CelRule {
  rule: string;
  message: string;
  /** Field path reported with the error, relative to the object the rule sits on. */
  fieldPath?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
}

/** Attaches CEL rules (x-kubernetes-validations) to a schema, keeping its description. */
export function cel<T extends z.ZodType>(schema: T, description: string, ...rules: CelRule[]): T {
  return schema.meta({ description, 'x-kubernetes-validations': rules }) as T;
}

/** A field that cannot change once set: the API server rejects an update that changes it. */
export function immutable<T extends z.ZodType>(schema: T, description: string, what: string): T {
  return cel(schema, `${description} Immutable.`, { rule: 'self == oldSelf', message: `${what} is immutable` });
}

export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export const resourceName = (description: string) =>
  z.string().min(1).max(253).regex(DNS_SUBDOMAIN).describe(description);

/** A reference to the BrokerCluster a resource belongs to, in the same namespace. */
export const clusterRef = immutable(
  z.strictObject({
    name: resourceName('Name of the BrokerCluster, in the same namespace as this resource.'),
  }),
  'The BrokerCluster this resource belongs to. Only resources in the cluster\'s own namespace can reference it.',
  'clusterRef',
);

export const secretKeyRef = z
  .strictObject({
    name: resourceName('Name of the Secret, in the same namespace.'),
    key: z
      .string()
      .min(1)
      .max(253)
      .regex(/^[-._a-zA-Z0-9]+$/)
      .describe('Key within the Secret.'),
  })
  .describe('A key of a Secret in the same namespace.');

export { TOPIC_NAME } from '../lib/index.ts';

/**
 * A resource pattern: `*` matches every name, `orders-*` every name starting with `orders-`,
 * anything else matches exactly that name. `*` is not a legal character in Kafka names, so a
 * pattern is never ambiguous.
 */
export const RESOURCE_PATTERN = /^(\*|[a-zA-Z0-9._:@-]{1,249}\*?)$/;
export const resourcePattern = (what: string) =>
  z
    .string()
    .min(1)
    .max(250)
    .regex(RESOURCE_PATTERN)
    .describe(`${what} name pattern: "*" for all, "prefix*" for every name starting with prefix, otherwise the exact name.`);

/** User names as clients send them (SASL usernames, certificate identities). */
export const USERNAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;
/** Group names; `system:` is reserved for the built-in groups. */
export const GROUP_NAME = /^[A-Za-z0-9][A-Za-z0-9._@:-]{0,127}$/;
export const BUILTIN_GROUPS = ['system:authenticated', 'system:unauthenticated'] as const;

/** The built-in roles (builtin-roles.ts): named without a Role, and no Role may take their names. */
export const BUILTIN_ROLE_NAMES = ['admin', 'reader', 'producer', 'consumer'] as const;
export type BuiltinRoleName = (typeof BUILTIN_ROLE_NAMES)[number];
/** What a field that names a Role says about the names it takes. */
export const ROLE_NAME_DESCRIPTION = `Name of a Role in the same namespace, or of a built-in role: ${BUILTIN_ROLE_NAMES.join(', ')} (docs/concepts.md, "Built-in roles").`;

/** An IPv4 or IPv6 address or CIDR block; checked precisely by the compiler. */
export const CIDR = /^([0-9]{1,3}(\.[0-9]{1,3}){3}|[0-9a-fA-F:]{2,39})(\/[0-9]{1,3})?$/;
export const hostList = (description: string) =>
  z.array(z.string().min(2).max(43).regex(CIDR).describe('An IP address or CIDR block, IPv4 or IPv6.')).max(64).describe(description);

/** Go duration strings, as CEL's duration() parses them: 90m, 2160h, 1h30m. */
export const DURATION = /^([0-9]{1,9}(ns|us|ms|s|m|h))+$/;
export const duration = (description: string) => z.string().min(2).max(32).regex(DURATION).describe(description);

export const condition = z
  .strictObject({
    type: z
      .string()
      .min(1)
      .max(316)
      .regex(/^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/)
      .describe('Type of the condition: Ready, Reconciling or Stalled.'),
    status: z.enum(['True', 'False', 'Unknown']).describe('Status of the condition: True, False or Unknown.'),
    observedGeneration: z
      .number()
      .int()
      .min(0)
      .max(Number.MAX_SAFE_INTEGER)
      .optional()
      .describe('The .metadata.generation the condition was set from.'),
    lastTransitionTime: z.iso.datetime().describe('When the condition last changed status.'),
    reason: z
      .string()
      .min(1)
      .max(1024)
      .regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/)
      .describe('CamelCase reason for the condition\'s last transition; documented in docs/conditions.md.'),
    message: z.string().max(32768).describe('Human-readable details of the last transition.'),
  })
  .describe('A condition, shaped like metav1.Condition.');

export const conditions = z
  .array(condition)
  .max(16)
  .meta({
    description: 'Conditions of the resource: Ready, Reconciling, Stalled (kstatus conventions).',
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['type'],
  });

export const observedGeneration = z
  .number()
  .int()
  .min(0)
  .max(Number.MAX_SAFE_INTEGER)
  .describe('The .metadata.generation the operator last acted on.');

/** Status fields every kind has. */
export const baseStatus = {
  observedGeneration: observedGeneration.optional(),
  conditions: conditions.optional(),
};

export const objectMeta = z.object({
  name: resourceName('Name of the resource.'),
  namespace: z.string().min(1).max(63).regex(DNS_LABEL).optional(),
  generation: z.number().int().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});
