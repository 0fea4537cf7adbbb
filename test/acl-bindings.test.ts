// The policy as Kafka ACL bindings (src/broker/kafka/acl-bindings.ts): what DescribeAcls lists for
// each kind of rule, and Kafka's filter semantics. kafka-acls.sh against a broker is in
// kafka-admin-tools.test.ts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AclOperation as Op, AclPatternType as P, AclPermissionType as Perm, AclResourceType as R, bindingsOfRule, describeAcls, invalidFilter, type AclBindingFilter } from '../src/broker/kafka/acl-bindings.ts';
import type { SnapshotRule } from '../src/policy/index.ts';

const rule = (over: Partial<SnapshotRule>): SnapshotRule => ({ source: 'Role/default/r', effect: 'Allow', subject: 'User:alice', resourceType: 'topic', pattern: 'orders', actions: ['read'], hosts: [], ...over });
const ANY: AclBindingFilter = { resourceTypeFilter: R.ANY, resourceNameFilter: null, patternTypeFilter: P.ANY, principalFilter: null, hostFilter: null, operation: Op.ANY, permissionType: Perm.ANY };
const short = (b: ReturnType<typeof bindingsOfRule>[number]) => `${b.resourceType}/${b.resourceName}/${b.patternType} ${b.principal}@${b.host} ${b.operation} ${b.permissionType}`;

describe('rules as bindings', () => {
  test('patterns: "*" is the literal wildcard, "x*" a prefix, anything else a literal; the cluster is kafka-cluster', () => {
    assert.deepEqual(bindingsOfRule(rule({ pattern: '*' })).map(short), [`${R.TOPIC}/*/${P.LITERAL} User:alice@* ${Op.READ} ${Perm.ALLOW}`]);
    assert.deepEqual(bindingsOfRule(rule({ pattern: 'orders-*' })).map(short), [`${R.TOPIC}/orders-/${P.PREFIXED} User:alice@* ${Op.READ} ${Perm.ALLOW}`]);
    assert.deepEqual(bindingsOfRule(rule({ pattern: 'orders' })).map(short), [`${R.TOPIC}/orders/${P.LITERAL} User:alice@* ${Op.READ} ${Perm.ALLOW}`]);
    assert.deepEqual(bindingsOfRule(rule({ resourceType: 'cluster', pattern: '*', actions: ['describe'] })).map(short), [`${R.CLUSTER}/kafka-cluster/${P.LITERAL} User:alice@* ${Op.DESCRIBE} ${Perm.ALLOW}`]);
    assert.deepEqual(bindingsOfRule(rule({ resourceType: 'transactionalId', pattern: 'tx-*', actions: ['write'] })).map(short), [`${R.TRANSACTIONAL_ID}/tx-/${P.PREFIXED} User:alice@* ${Op.WRITE} ${Perm.ALLOW}`]);
  });

  test('one binding per action and host; Deny is DENY; Group: subjects as written', () => {
    const b = bindingsOfRule(rule({ effect: 'Deny', subject: 'Group:ops', resourceType: 'group', pattern: 'g', actions: ['read', 'delete', 'all'], hosts: ['10.0.0.0/8', '192.0.2.7'] }));
    assert.deepEqual(b.map(short), [
      `${R.GROUP}/g/${P.LITERAL} Group:ops@10.0.0.0/8 ${Op.READ} ${Perm.DENY}`,
      `${R.GROUP}/g/${P.LITERAL} Group:ops@192.0.2.7 ${Op.READ} ${Perm.DENY}`,
      `${R.GROUP}/g/${P.LITERAL} Group:ops@10.0.0.0/8 ${Op.DELETE} ${Perm.DENY}`,
      `${R.GROUP}/g/${P.LITERAL} Group:ops@192.0.2.7 ${Op.DELETE} ${Perm.DENY}`,
      `${R.GROUP}/g/${P.LITERAL} Group:ops@10.0.0.0/8 ${Op.ALL} ${Perm.DENY}`,
      `${R.GROUP}/g/${P.LITERAL} Group:ops@192.0.2.7 ${Op.ALL} ${Perm.DENY}`,
    ]);
  });

  test('left out: the admin types (no Kafka resource type) and actions that mean nothing on the type', () => {
    assert.deepEqual(bindingsOfRule(rule({ resourceType: 'user', pattern: '*', actions: ['create'] })), []);
    assert.deepEqual(bindingsOfRule(rule({ resourceType: 'accessToken', pattern: '*', actions: ['all'] })), []);
    assert.deepEqual(bindingsOfRule(rule({ resourceType: 'group', pattern: 'g', actions: ['write', 'read'] })).map((b) => b.operation), [Op.READ]);
  });

  test('describeAcls groups by resource pattern and lists a binding two rules share once', () => {
    const out = describeAcls([rule({ actions: ['read', 'write'] }), rule({ actions: ['read'], source: 'TopicGrant/default/t' }), rule({ pattern: 'orders-*' })], ANY);
    assert.deepEqual(out, [
      { resourceType: R.TOPIC, resourceName: 'orders', patternType: P.LITERAL, acls: [{ principal: 'User:alice', host: '*', operation: Op.READ, permissionType: Perm.ALLOW }, { principal: 'User:alice', host: '*', operation: Op.WRITE, permissionType: Perm.ALLOW }] },
      { resourceType: R.TOPIC, resourceName: 'orders-', patternType: P.PREFIXED, acls: [{ principal: 'User:alice', host: '*', operation: Op.READ, permissionType: Perm.ALLOW }] },
    ]);
  });
});

describe("Kafka's filters", () => {
  const rules = [
    rule({ pattern: '*', subject: 'User:admin', actions: ['all'] }),
    rule({ pattern: 'orders-*' }),
    rule({ pattern: 'orders-eu', effect: 'Deny', subject: 'Group:interns', actions: ['all'] }),
    rule({ pattern: 'other' }),
    rule({ resourceType: 'group', pattern: 'orders-eu' }),
  ];
  const names = (f: Partial<AclBindingFilter>) => describeAcls(rules, { ...ANY, ...f }).map((r) => `${r.resourceType}/${r.resourceName}/${r.patternType}`);

  test('MATCH: every binding that applies to the named resource (literal, wildcard, prefixes of it)', () => {
    assert.deepEqual(names({ resourceTypeFilter: R.TOPIC, resourceNameFilter: 'orders-eu', patternTypeFilter: P.MATCH }), [`${R.TOPIC}/*/${P.LITERAL}`, `${R.TOPIC}/orders-/${P.PREFIXED}`, `${R.TOPIC}/orders-eu/${P.LITERAL}`]);
  });

  test('LITERAL, PREFIXED and ANY compare the name exactly; null names and ANY types match all', () => {
    assert.deepEqual(names({ resourceNameFilter: 'orders-eu', patternTypeFilter: P.LITERAL }), [`${R.TOPIC}/orders-eu/${P.LITERAL}`, `${R.GROUP}/orders-eu/${P.LITERAL}`]);
    assert.deepEqual(names({ resourceNameFilter: 'orders-', patternTypeFilter: P.PREFIXED }), [`${R.TOPIC}/orders-/${P.PREFIXED}`]);
    assert.deepEqual(names({ resourceNameFilter: 'orders-eu', resourceTypeFilter: R.GROUP }), [`${R.GROUP}/orders-eu/${P.LITERAL}`]);
    assert.equal(names({}).length, 5);
  });

  test('principal, host, operation and permission filters', () => {
    assert.deepEqual(names({ principalFilter: 'Group:interns' }), [`${R.TOPIC}/orders-eu/${P.LITERAL}`]);
    assert.deepEqual(names({ permissionType: Perm.DENY }), [`${R.TOPIC}/orders-eu/${P.LITERAL}`]);
    assert.deepEqual(names({ operation: Op.ALL }), [`${R.TOPIC}/*/${P.LITERAL}`, `${R.TOPIC}/orders-eu/${P.LITERAL}`]);
    assert.deepEqual(names({ hostFilter: '10.1.2.3' }), []);
  });

  test('UNKNOWN or out-of-range values are invalid filters', () => {
    assert.equal(invalidFilter(ANY), undefined);
    assert.match(invalidFilter({ ...ANY, resourceTypeFilter: R.UNKNOWN })!, /resource type/);
    assert.match(invalidFilter({ ...ANY, patternTypeFilter: 9 })!, /pattern type/);
    assert.match(invalidFilter({ ...ANY, operation: 99 })!, /operation/);
    assert.match(invalidFilter({ ...ANY, permissionType: 0 })!, /permission type/);
  });
});
