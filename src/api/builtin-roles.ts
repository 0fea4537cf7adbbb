// The built-in roles, after AKHQ's predefined groups: usable by name wherever a Role is named
// (User.spec.roles, AccessToken.spec.roles, TopicGrant.spec.role) without declaring one.
//
// Each is a Role spec with `*` patterns, compiled like a declared Role: named by a User or an
// AccessToken it applies to every name; applied by a TopicGrant, its topic and group rules are
// narrowed to the grant's topics and consumerGroups and the rest is ignored. They ask for what
// Kafka clients need and no more (src/broker/kafka/permissions.ts maps each request):
// - consumer: Metadata, ListOffsets and OffsetFetch need describe on the topic, Fetch and
//   OffsetCommit read; FindCoordinator needs describe on the group, JoinGroup, SyncGroup,
//   Heartbeat, LeaveGroup and OffsetCommit read. read implies describe.
// - producer: Produce needs write on the topic. An idempotent producer's InitProducerId needs
//   nothing more (KIP-679: idempotentWrite on the cluster is never asked); a transactional one
//   needs write on its transactional id (FindCoordinator, describe, is implied).
// - reader: browse without taking part: read a topic's records and its configs, describe the
//   groups (their members and offsets) but not join them.
//
// The names (BUILTIN_ROLE_NAMES, common.ts) are reserved: the Role CRD refuses a Role that takes one (kinds.ts), and the
// compiler reports one made before that rule existed (src/policy/compile.ts). Reserved rather
// than overridable, so a name means the same in every namespace: nobody can widen (or empty)
// every grant that names `reader` by creating a Role called reader.
import type { BuiltinRoleName } from './common.ts';
import type { RoleSpec } from './role.ts';

export interface BuiltinRole {
  name: BuiltinRoleName;
  /** One line: what the role is for. */
  purpose: string;
  spec: RoleSpec;
}

const every = (type: RoleSpec['rules'][number]['resources'][number]['type']) => ({ type, pattern: '*' });

export const BUILTIN_ROLES: readonly BuiltinRole[] = [
  {
    name: 'admin',
    purpose: 'Everything: topics, groups, the cluster, transactional ids and the admin objects.',
    spec: {
      description: 'Built-in: every action on every resource.',
      rules: [{ resources: [every('cluster'), every('topic'), every('group'), every('transactionalId'), every('user'), every('accessToken')], actions: ['all'] }],
    },
  },
  {
    name: 'reader',
    purpose: 'Browse: read records and configs of topics, see consumer groups and their offsets, without joining them or writing.',
    spec: {
      description: 'Built-in: read topics and their configs, describe consumer groups.',
      rules: [
        { resources: [every('topic')], actions: ['read', 'describeConfigs'] },
        { resources: [every('group')], actions: ['describe'] },
      ],
    },
  },
  {
    name: 'producer',
    purpose: 'Produce, idempotently or with a transactional id.',
    spec: {
      description: 'Built-in: write topics and transactional ids.',
      rules: [{ resources: [every('topic'), every('transactionalId')], actions: ['write'] }],
    },
  },
  {
    name: 'consumer',
    purpose: 'Consume, alone or in a consumer group, committing offsets.',
    spec: {
      description: 'Built-in: read topics and consumer groups.',
      rules: [{ resources: [every('topic'), every('group')], actions: ['read'] }],
    },
  },
];

const BY_NAME = new Map<string, BuiltinRole>(BUILTIN_ROLES.map((r) => [r.name, r]));

/** The built-in role of this name, if it is one. */
export function builtinRole(name: string): BuiltinRole | undefined {
  return BY_NAME.get(name);
}
