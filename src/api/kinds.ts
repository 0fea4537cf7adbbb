// The six kinds: their names as the API server knows them, their schemas, their columns.
import { z } from 'zod';
import { BUILTIN_ROLE_NAMES, type CelRule } from './common.ts';
import { accessTokenSpec, accessTokenStatus } from './access-token.ts';
import { brokerClusterSpec, brokerClusterStatus } from './broker-cluster.ts';
import { roleSpec, roleStatus } from './role.ts';
import { topicGrantSpec, topicGrantStatus } from './topic-grant.ts';
import { topicSpec, topicStatus } from './topic.ts';
import { userSpec, userStatus } from './user.ts';

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'date' | 'boolean';
  jsonPath: string;
  description: string;
  priority?: number;
}

export interface KindDefinition {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  description: string;
  spec: z.ZodType;
  status: z.ZodType;
  columns: PrinterColumn[];
  /** CEL rules on the whole object: the only place a rule can read metadata.name. */
  rules?: CelRule[];
}

const ready: PrinterColumn = {
  name: 'Ready',
  type: 'string',
  jsonPath: '.status.conditions[?(@.type=="Ready")].status',
  description: 'Whether the resource is in force on every broker.',
};
const reason: PrinterColumn = {
  name: 'Reason',
  type: 'string',
  jsonPath: '.status.conditions[?(@.type=="Ready")].reason',
  description: 'Why the resource is (not) ready.',
  priority: 1,
};
const cluster: PrinterColumn = { name: 'Cluster', type: 'string', jsonPath: '.spec.clusterRef.name', description: 'The BrokerCluster it belongs to.' };
const age: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'Time since creation.' };

// Short names all start with "bw" so they never collide with built-in kinds (roles, users...).
export const KINDS = [
  {
    kind: 'BrokerCluster',
    plural: 'brokerclusters',
    singular: 'brokercluster',
    shortNames: ['bwcluster', 'bwc'],
    description: 'A Bulwark broker cluster: broker pods, their listeners, certificates, limits and audit.',
    spec: brokerClusterSpec,
    status: brokerClusterStatus,
    columns: [
      { name: 'Replicas', type: 'integer', jsonPath: '.spec.replicas', description: 'Desired broker pods.' },
      { name: 'Available', type: 'integer', jsonPath: '.status.readyReplicas', description: 'Ready broker pods.' },
      ready,
      { name: 'Policy', type: 'integer', jsonPath: '.status.policyVersion', description: 'Policy snapshot version applied by every broker.' },
      { name: 'In sync', type: 'string', jsonPath: '.status.policyInSync', description: 'Brokers holding the current policy snapshot.' },
      { name: 'State', type: 'string', jsonPath: '.status.clusterStateInSync', description: 'Brokers holding the current cluster state (topics, partition leaders).', priority: 1 },
      reason,
      age,
    ],
  },
  {
    kind: 'User',
    plural: 'users',
    singular: 'user',
    shortNames: ['bwuser', 'bwu'],
    description: 'A user of a BrokerCluster, with its authentication, groups, roles, host access list and limits.',
    spec: userSpec,
    status: userStatus,
    columns: [cluster, { name: 'Auth', type: 'string', jsonPath: '.spec.authentication.type', description: 'Authentication type.' }, { name: 'Disabled', type: 'boolean', jsonPath: '.spec.disabled', description: 'Whether the user is disabled.', priority: 1 }, ready, reason, age],
  },
  {
    kind: 'Role',
    plural: 'roles',
    singular: 'role',
    shortNames: ['bwrole', 'bwr'],
    description: 'A named set of permissions (resource patterns × actions), shared by the clusters of its namespace.',
    spec: roleSpec,
    status: roleStatus,
    // The compiler also reports a Role that took one of these names before this rule existed.
    rules: [{ rule: `!(self.metadata.name in [${BUILTIN_ROLE_NAMES.map((n) => `'${n}'`).join(', ')}])`, message: `metadata.name: ${BUILTIN_ROLE_NAMES.join(', ')} are built-in roles; a Role cannot take their names (use the built-in role, or choose another name)` }],
    columns: [{ name: 'Description', type: 'string', jsonPath: '.spec.description', description: 'What the role is for.', priority: 1 }, ready, reason, age],
  },
  {
    kind: 'AccessToken',
    plural: 'accesstokens',
    singular: 'accesstoken',
    shortNames: ['bwtoken', 'bwt'],
    description: 'An access token for an application, acting for a User; its value lives only in a Secret.',
    spec: accessTokenSpec,
    status: accessTokenStatus,
    columns: [cluster, { name: 'User', type: 'string', jsonPath: '.spec.userRef.name', description: 'The user the token acts for.' }, { name: 'Expires', type: 'date', jsonPath: '.status.expiresAt', description: 'When the token expires.' }, ready, reason, age],
  },
  {
    kind: 'TopicGrant',
    plural: 'topicgrants',
    singular: 'topicgrant',
    shortNames: ['bwgrant', 'bwg'],
    description: 'Allows or denies actions on topics (and consumer groups) to users and groups.',
    spec: topicGrantSpec,
    status: topicGrantStatus,
    columns: [cluster, { name: 'Effect', type: 'string', jsonPath: '.spec.effect', description: 'Allow or Deny.' }, { name: 'Role', type: 'string', jsonPath: '.spec.role', description: 'Role applied, if any.', priority: 1 }, ready, reason, age],
  },
  {
    kind: 'Topic',
    plural: 'topics',
    singular: 'topic',
    shortNames: ['bwtopic', 'bwtp'],
    description: 'A Kafka topic of a BrokerCluster: partitions, replication factor, configs; its status says which broker leads each partition.',
    spec: topicSpec,
    status: topicStatus,
    // Kubernetes names are narrower than Kafka's, except in length: a name of 250 to 253 characters needs spec.topicName.
    rules: [{ rule: 'has(self.spec.topicName) || size(self.metadata.name) <= 249', message: 'metadata.name is longer than a Kafka topic name may be (249): set spec.topicName' }],
    columns: [
      cluster,
      { name: 'Topic', type: 'string', jsonPath: '.status.topicName', description: 'The Kafka topic name.' },
      { name: 'Partitions', type: 'integer', jsonPath: '.spec.partitions', description: 'Number of partitions.' },
      { name: 'RF', type: 'integer', jsonPath: '.spec.replicationFactor', description: 'Replication factor (left out: 1).', priority: 1 },
      ready,
      { name: 'In sync', type: 'string', jsonPath: '.status.inSync', description: 'Brokers holding this generation of the topic.', priority: 1 },
      reason,
      age,
    ],
  },
] as const satisfies readonly KindDefinition[];

export type KindName = (typeof KINDS)[number]['kind'];
export const KIND_NAMES = KINDS.map((k) => k.kind) as KindName[];
export function kindDefinition(kind: string): KindDefinition | undefined {
  return KINDS.find((k) => k.kind === kind);
}
