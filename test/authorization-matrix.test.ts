// The authorization matrix (issue 6): every Kafka API the broker implements, at every version it
// advertises, sent over a real socket after a real SASL login by a principal the policy allows
// and by one it denies. The allowed call must work; the denied one must get the error a Kafka
// client expects (TOPIC_ 29, GROUP_ 30, CLUSTER_ 31, TRANSACTIONAL_ID_AUTHORIZATION_FAILED 53),
// or be filtered out of a listing, and must change nothing. Then: no existence oracle, deny
// beats allow, nothing but ApiVersions and SASL before authentication, and kafkajs seeing the
// same answers. The policy is test/fixtures/matrix-policy/policy.yaml, compiled by the broker
// from --policy-dir as in production.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Kafka, logLevel, type SASLOptions } from 'kafkajs';
import { ACTIONS_BY_TYPE } from '../src/api/index.ts';
import { KafkaErrorCode as E } from '../src/kafka/error-codes.ts';
import { CLUSTER_RESOURCE, requiredPermissions } from '../src/broker/kafka/permissions.ts';
import { ApiKey, decodeRequest, encodeRequest, SUPPORTED_VERSIONS, type ApiName } from '../src/kafka/index.ts';
import { APIS } from '../src/kafka/registry.ts';
import { sampleRequest } from '../src/kafka/samples.ts';
import { buildRecordBatch } from '../src/log/record-batch.ts';
import { connectAndLogin, ConnectionClosedError, KafkaWireClient, type ScramMechanism } from '../tools/kafka-wire/client.ts';
import { startTestBroker, type TestBroker } from './harness/broker.ts';
import { sharedTestPki } from './harness/pki.ts';

const POLICY_DIR = join(import.meta.dirname, 'fixtures', 'matrix-policy');
const USERS = {
  alice: { password: 'Matrix-Alice-Passw0rd!', mechanism: 'SCRAM-SHA-256' },
  bob: { password: 'Matrix-Bob-Passw0rd!', mechanism: 'SCRAM-SHA-512' },
  carol: { password: 'Matrix-Carol-Passw0rd!', mechanism: 'SCRAM-SHA-256' },
  dave: { password: 'Matrix-Dave-Passw0rd!', mechanism: 'SCRAM-SHA-256' },
} as const satisfies Record<string, { password: string; mechanism: ScramMechanism }>;
type UserName = keyof typeof USERS;

/** The requests a client may send before it has authenticated. */
const BEFORE_AUTHENTICATION: readonly ApiName[] = ['ApiVersions', 'SaslHandshake', 'SaslAuthenticate'];
const API_NAMES = Object.keys(APIS) as ApiName[];
const versionsOf = (api: ApiName): number[] => {
  const r = SUPPORTED_VERSIONS[APIS[api].apiKey]!;
  return Array.from({ length: r.max - r.min + 1 }, (_, i) => r.min + i);
};

let t: TestBroker;
let caPem: string;
/** Logged in once each; every matrix row reuses them (a denial never closes a connection). */
let alice: KafkaWireClient;
let bob: KafkaWireClient;
const kafkaPort = () => t.broker.kafkaPort!;
const tlsPort = () => t.broker.listenerPort('tls')!;
const login = (user: UserName) => connectAndLogin(kafkaPort(), USERS[user].mechanism, user, USERS[user].password);

// --- Request builders, shared by the rows ---------------------------------------------------

const records = () => buildRecordBatch([{ key: null, value: Buffer.from('matrix') }]);
const SESSION = { sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000 };
const PROTOCOLS = { protocolType: 'consumer', protocols: [{ name: 'range', metadata: Buffer.from('m') }] };

function produce(c: KafkaWireClient, v: number, topic: string) {
  return c.request(ApiKey.Produce, v, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: 0, records: records() }] }] });
}
function fetch(c: KafkaWireClient, v: number, topic: string) {
  return c.request(ApiKey.Fetch, v, { maxWaitMs: 0, minBytes: 0, maxBytes: 1 << 20, topics: [{ topic, partitions: [{ partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20 }] }], forgottenTopicsData: [] });
}
function listOffsets(c: KafkaWireClient, v: number, topic: string) {
  return c.request(ApiKey.ListOffsets, v, { replicaId: -1, isolationLevel: 0, topics: [{ name: topic, partitions: [{ partitionIndex: 0, timestamp: -1 }] }] });
}
function metadata(c: KafkaWireClient, v: number, topics: string[] | null) {
  return c.request(ApiKey.Metadata, v, { topics: topics === null ? (v === 0 ? [] : null) : topics.map((name) => ({ name })), allowAutoTopicCreation: false });
}
function deleteTopics(c: KafkaWireClient, v: number, topic: string) {
  return c.request(ApiKey.DeleteTopics, v, { topicNames: [topic], timeoutMs: 5000 });
}
function describeConfigs(c: KafkaWireClient, v: number, resourceType: number, resourceName: string) {
  return c.request(ApiKey.DescribeConfigs, v, { resources: [{ resourceType, resourceName, configurationKeys: null }] });
}
function offsetCommit(c: KafkaWireClient, v: number, groupId: string, topic: string, offset: number) {
  return c.request(ApiKey.OffsetCommit, v, {
    groupId,
    generationIdOrMemberEpoch: -1,
    memberId: '',
    topics: [{ name: topic, partitions: [{ partitionIndex: 0, committedOffset: offset, committedMetadata: null }] }],
  });
}
function offsetFetch(c: KafkaWireClient, v: number, groupId: string, topics: string[] | null) {
  return c.request(ApiKey.OffsetFetch, v, { groupId, topics: topics === null ? null : topics.map((name) => ({ name, partitionIndexes: [0] })) });
}
function describeGroup(c: KafkaWireClient, groupId: string) {
  return c.request(ApiKey.DescribeGroups, 4, { groups: [groupId] }).then((r) => r.groups[0]!);
}
/** JoinGroup at version v, rejoining with the id handed out when v4+ asks for one. */
async function joinGroup(c: KafkaWireClient, v: number, groupId: string) {
  const join = (memberId: string) => c.request(ApiKey.JoinGroup, v, { groupId, ...SESSION, memberId, groupInstanceId: null, ...PROTOCOLS });
  const first = await join('');
  return first.errorCode === E.MEMBER_ID_REQUIRED ? join(first.memberId) : first;
}
/** A member of a new group, joined but not yet synced. */
async function joined(c: KafkaWireClient, groupId: string): Promise<{ memberId: string; generationId: number }> {
  const r = await joinGroup(c, 5, groupId);
  assert.equal(r.errorCode, E.NONE, `joining ${groupId}`);
  return { memberId: r.memberId, generationId: r.generationId };
}
/** A member of a stable group: joined and synced. */
async function member(c: KafkaWireClient, groupId: string): Promise<{ memberId: string; generationId: number }> {
  const m = await joined(c, groupId);
  const s = await c.request(ApiKey.SyncGroup, 3, { groupId, ...m, groupInstanceId: null, assignments: [{ memberId: m.memberId, assignment: Buffer.alloc(0) }] });
  assert.equal(s.errorCode, E.NONE, `syncing ${groupId}`);
  return m;
}
const committed = async (groupId: string) => (await offsetFetch(alice, 7, groupId, ['m-topic'])).topics[0]?.partitions[0]?.committedOffset;

// --- The matrix -------------------------------------------------------------------------------

/** What a call showed: the error codes it carries for what it asked about, and what a listing listed. */
interface Outcome {
  codes: number[];
  listed?: string[];
  /** Evidence that an allowed call did its job (records read, a member id, an offset...). */
  works?: () => void | Promise<void>;
}
/** Every code is this one; or, for a listing, no error and these names listed and those not. */
type Expect = { codes: number } | { lists: string[]; omits: string[] };
type Side = 'allowed' | 'denied';

interface Row {
  api: ApiName;
  /** What the request needs, in words. */
  needs: string;
  /** Versions the row applies to (default: every version the broker advertises). */
  versions?: (v: number) => boolean;
  /** Run once per version before both calls (as alice, mostly); passed to call (a member id, a topic). */
  prepare?: (v: number) => Promise<unknown>;
  /**
   * The request. Sent by alice (allowed) and bob (denied) on their logged-in connections; with
   * `fresh`, on a new unauthenticated connection to that listener instead.
   */
  call: (c: KafkaWireClient, v: number, prepared: unknown, side: Side) => Promise<Outcome>;
  fresh?: 'kafka' | 'tls';
  allowed: Expect;
  denied: Expect;
  /** State the denied call must not change: read before and after it. */
  untouched?: (v: number) => unknown;
}

const codesOf = <T extends { errorCode: number }>(xs: readonly T[]) => xs.map((x) => x.errorCode);
const NONE: Expect = { codes: E.NONE };
const TOPIC_DENIED: Expect = { codes: E.TOPIC_AUTHORIZATION_FAILED };
const GROUP_DENIED: Expect = { codes: E.GROUP_AUTHORIZATION_FAILED };

const MATRIX: Row[] = [
  {
    api: 'ApiVersions',
    needs: 'nothing: every client may ask, before and after login',
    call: async (c, v) => {
      const r = await c.request(ApiKey.ApiVersions, v, { clientSoftwareName: 'matrix', clientSoftwareVersion: '1' });
      return { codes: [r.errorCode], works: () => assert.ok(r.apiKeys.some((k) => k.apiKey === ApiKey.Produce)) };
    },
    allowed: NONE,
    denied: NONE,
  },
  {
    api: 'Metadata',
    needs: 'describe on each named topic',
    call: async (c, v) => {
      const r = await metadata(c, v, ['m-topic']);
      return { codes: codesOf(r.topics), works: () => assert.equal(r.topics[0]!.partitions.length, 1) };
    },
    allowed: NONE,
    denied: TOPIC_DENIED,
  },
  {
    api: 'Metadata',
    needs: 'all topics: only those the principal may describe are listed',
    call: async (c, v) => {
      const r = await metadata(c, v, null);
      return { codes: codesOf(r.topics), listed: r.topics.map((x) => x.name) };
    },
    allowed: { lists: ['m-topic'], omits: ['pub', 'secret-a'] },
    denied: { lists: ['pub'], omits: ['m-topic', 'm-denied', 'secret-a'] },
  },
  {
    api: 'Produce',
    needs: 'write on the topic',
    call: async (c, v) => {
      const r = await produce(c, v, 'm-topic');
      const p = r.responses.flatMap((x) => x.partitionResponses);
      return { codes: codesOf(p), works: () => assert.ok(p[0]!.baseOffset >= 0) };
    },
    allowed: NONE,
    denied: TOPIC_DENIED,
    untouched: () => t.broker.topics.partition('m-topic', 0)!.nextOffset,
  },
  {
    api: 'Fetch',
    needs: 'read on the topic',
    call: async (c, v) => {
      const r = await fetch(c, v, 'm-topic');
      const p = r.responses.flatMap((x) => x.partitions);
      return { codes: codesOf(p), works: () => assert.ok((p[0]!.records?.length ?? 0) > 0, 'records were read') };
    },
    allowed: NONE,
    denied: TOPIC_DENIED,
  },
  {
    api: 'ListOffsets',
    needs: 'describe on the topic',
    call: async (c, v) => {
      const r = await listOffsets(c, v, 'm-topic');
      const p = r.topics.flatMap((x) => x.partitions);
      return { codes: codesOf(p), works: () => assert.ok((v === 0 ? p[0]!.oldStyleOffsets[0]! : p[0]!.offset) > 0, 'the latest offset') };
    },
    allowed: NONE,
    denied: TOPIC_DENIED,
  },
  {
    api: 'CreateTopics',
    needs: 'create on the cluster or the topic',
    call: async (c, v) => {
      const name = `m-created-v${v}`;
      const r = await c.request(ApiKey.CreateTopics, v, { topics: [{ name, numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 5000, validateOnly: false });
      return { codes: codesOf(r.topics), works: () => assert.ok(t.broker.topics.topic(name)) };
    },
    allowed: NONE,
    denied: TOPIC_DENIED,
    untouched: (v) => t.broker.topics.topic(`m-created-v${v}`) !== undefined,
  },
  {
    api: 'DeleteTopics',
    needs: 'delete on the topic',
    prepare: async (v) => assert.ok(t.broker.topics.createTopic(`m-doomed-v${v}`, 1).ok),
    call: async (c, v) => {
      const r = await deleteTopics(c, v, `m-doomed-v${v}`);
      return { codes: codesOf(r.responses), works: () => assert.equal(t.broker.topics.topic(`m-doomed-v${v}`), undefined) };
    },
    allowed: NONE,
    denied: TOPIC_DENIED,
    untouched: (v) => t.broker.topics.topic(`m-doomed-v${v}`) !== undefined,
  },
  {
    api: 'DescribeConfigs',
    needs: 'describeConfigs on the topic',
    call: async (c, v) => {
      const r = await describeConfigs(c, v, 2, 'm-topic');
      return { codes: codesOf(r.results), works: () => assert.ok(r.results[0]!.configs.some((x) => x.name === 'retention.ms')) };
    },
    allowed: NONE,
    denied: TOPIC_DENIED,
  },
  {
    // Allowed, and then refused for another reason: this broker describes topic configs only.
    api: 'DescribeConfigs',
    needs: 'describeConfigs on the cluster (broker resource: authorized, then INVALID_REQUEST)',
    call: async (c, v) => ({ codes: codesOf((await describeConfigs(c, v, 4, '0')).results) }),
    allowed: { codes: E.INVALID_REQUEST },
    denied: { codes: E.CLUSTER_AUTHORIZATION_FAILED },
  },
  {
    api: 'FindCoordinator',
    needs: 'describe on the group',
    call: async (c, v) => {
      const r = await c.request(ApiKey.FindCoordinator, v, { key: 'g-coordinated', keyType: 0 });
      return { codes: [r.errorCode], works: () => assert.deepEqual([r.nodeId, r.host, r.port], [0, '127.0.0.1', kafkaPort()]) };
    },
    allowed: NONE,
    denied: GROUP_DENIED,
  },
  {
    api: 'FindCoordinator',
    needs: 'describe on the transactional id',
    versions: (v) => v >= 1,
    call: async (c, v) => ({ codes: [(await c.request(ApiKey.FindCoordinator, v, { key: 'tx-coordinated', keyType: 1 })).errorCode] }),
    allowed: NONE,
    denied: { codes: E.TRANSACTIONAL_ID_AUTHORIZATION_FAILED },
  },
  {
    api: 'JoinGroup',
    needs: 'read on the group',
    call: async (c, v) => {
      const r = await joinGroup(c, v, `g-join-v${v}`);
      return { codes: [r.errorCode], works: () => assert.equal(r.leader, r.memberId) };
    },
    allowed: NONE,
    denied: GROUP_DENIED,
    untouched: async (v) => (await describeGroup(alice, `g-join-v${v}`)).members.length,
  },
  {
    api: 'SyncGroup',
    needs: 'read on the group',
    prepare: (v) => joined(alice, `g-sync-v${v}`),
    call: async (c, v, m) => {
      const { memberId, generationId } = m as Awaited<ReturnType<typeof joined>>;
      const r = await c.request(ApiKey.SyncGroup, v, { groupId: `g-sync-v${v}`, generationId, memberId, groupInstanceId: null, assignments: [{ memberId, assignment: Buffer.from('plan') }] });
      return { codes: [r.errorCode], works: () => assert.equal(r.assignment.toString(), 'plan') };
    },
    allowed: NONE,
    denied: GROUP_DENIED,
    untouched: async (v) => (await describeGroup(alice, `g-sync-v${v}`)).groupState,
  },
  {
    api: 'Heartbeat',
    needs: 'read on the group',
    prepare: (v) => member(alice, `g-heartbeat-v${v}`),
    call: async (c, v, m) => {
      const { memberId, generationId } = m as Awaited<ReturnType<typeof member>>;
      return { codes: [(await c.request(ApiKey.Heartbeat, v, { groupId: `g-heartbeat-v${v}`, generationId, memberId, groupInstanceId: null })).errorCode] };
    },
    allowed: NONE,
    denied: GROUP_DENIED,
  },
  {
    api: 'LeaveGroup',
    needs: 'read on the group',
    prepare: (v) => member(alice, `g-leave-v${v}`),
    call: async (c, v, m) => {
      const { memberId } = m as Awaited<ReturnType<typeof member>>;
      const r = await c.request(ApiKey.LeaveGroup, v, { groupId: `g-leave-v${v}`, memberId, members: [{ memberId, groupInstanceId: null }] });
      return { codes: [r.errorCode, ...codesOf(r.members)], works: async () => assert.equal((await describeGroup(alice, `g-leave-v${v}`)).members.length, 0) };
    },
    allowed: NONE,
    denied: GROUP_DENIED,
    untouched: async (v) => (await describeGroup(alice, `g-leave-v${v}`)).members.length,
  },
  {
    api: 'OffsetCommit',
    needs: 'read on the group',
    call: async (c, v) => {
      const r = await offsetCommit(c, v, `g-commit-v${v}`, 'm-topic', 7);
      return { codes: codesOf(r.topics.flatMap((x) => x.partitions)), works: async () => assert.equal(await committed(`g-commit-v${v}`), 7) };
    },
    allowed: NONE,
    denied: GROUP_DENIED,
    untouched: (v) => committed(`g-commit-v${v}`),
  },
  {
    api: 'OffsetCommit',
    needs: 'read on each topic (in a group both may use)',
    call: async (c, v) => ({ codes: codesOf((await offsetCommit(c, v, `shared-commit-v${v}`, 'm-topic', 7)).topics.flatMap((x) => x.partitions)) }),
    allowed: NONE,
    denied: TOPIC_DENIED,
    untouched: (v) => committed(`shared-commit-v${v}`),
  },
  {
    api: 'OffsetFetch',
    needs: 'describe on the group',
    prepare: async (v) => assert.deepEqual(codesOf((await offsetCommit(alice, 7, `g-fetch-v${v}`, 'm-topic', 5)).topics[0]!.partitions), [E.NONE]),
    call: async (c, v) => {
      const r = await offsetFetch(c, v, `g-fetch-v${v}`, ['m-topic']);
      const p = r.topics.flatMap((x) => x.partitions);
      // The group-level error code exists from v2.
      return { codes: [...(v >= 2 ? [r.errorCode] : []), ...codesOf(p)], works: () => assert.equal(p[0]!.committedOffset, 5) };
    },
    allowed: NONE,
    denied: GROUP_DENIED,
  },
  {
    api: 'OffsetFetch',
    needs: 'describe on each named topic (in a group both may use)',
    prepare: async (v) => assert.deepEqual(codesOf((await offsetCommit(alice, 7, `shared-fetch-v${v}`, 'm-topic', 5)).topics[0]!.partitions), [E.NONE]),
    call: async (c, v) => ({ codes: codesOf((await offsetFetch(c, v, `shared-fetch-v${v}`, ['m-topic'])).topics.flatMap((x) => x.partitions)) }),
    allowed: NONE,
    denied: TOPIC_DENIED,
  },
  {
    api: 'OffsetFetch',
    needs: "all of a group's topics: only those the principal may describe are listed",
    versions: (v) => v >= 2,
    prepare: async (v) => {
      const r = await alice.request(ApiKey.OffsetCommit, 7, {
        groupId: `shared-all-v${v}`,
        generationIdOrMemberEpoch: -1,
        memberId: '',
        topics: ['m-topic', 'pub'].map((name) => ({ name, partitions: [{ partitionIndex: 0, committedOffset: 1, committedMetadata: null }] })),
      });
      // alice may not read pub: that commit is refused; bob commits it himself.
      assert.deepEqual(r.topics.map((x) => x.partitions[0]!.errorCode), [E.NONE, E.TOPIC_AUTHORIZATION_FAILED]);
      assert.deepEqual(codesOf((await offsetCommit(bob, 7, `shared-all-v${v}`, 'pub', 1)).topics[0]!.partitions), [E.NONE]);
    },
    call: async (c, v) => {
      const r = await offsetFetch(c, v, `shared-all-v${v}`, null);
      return { codes: [r.errorCode, ...codesOf(r.topics.flatMap((x) => x.partitions))], listed: r.topics.map((x) => x.name) };
    },
    allowed: { lists: ['m-topic'], omits: ['pub'] },
    denied: { lists: ['pub'], omits: ['m-topic'] },
  },
  {
    api: 'DescribeAcls',
    needs: 'describe on the cluster (who may do what is itself sensitive)',
    call: async (c, v) => {
      const r = await c.request(ApiKey.DescribeAcls, v, { resourceTypeFilter: 1, resourceNameFilter: null, patternTypeFilter: 1, principalFilter: null, hostFilter: null, operation: 1, permissionType: 1 });
      // alice's role: all on m-* topics, a PREFIXED binding (pattern type 4) of operation ALL (2), ALLOW (3).
      const works = () => assert.ok(r.resources.some((x) => x.type === 2 && x.name === 'm-' && x.patternType === 4 && x.acls.some((a) => a.principal === 'User:alice' && a.operation === 2 && a.permissionType === 3)));
      return { codes: [r.errorCode], works };
    },
    allowed: NONE,
    denied: { codes: E.CLUSTER_AUTHORIZATION_FAILED },
  },
  ...(['CreateAcls', 'DeleteAcls'] as const).map(
    (api): Row => ({
      api,
      needs: 'alter on the cluster; then refused all the same, pointing to the custom resources (grants are not Kafka ACLs)',
      call: async (c, v) => {
        const binding = { resourceType: 2, resourceName: 'm-topic', principal: 'User:bob', host: '*', operation: 3, permissionType: 3 };
        const results =
          api === 'CreateAcls'
            ? (await c.request(ApiKey.CreateAcls, v, { creations: [{ ...binding, resourcePatternType: 3 }] })).results
            : (await c.request(ApiKey.DeleteAcls, v, { filters: [{ resourceTypeFilter: 2, resourceNameFilter: 'm-topic', patternTypeFilter: 3, principalFilter: null, hostFilter: null, operation: 1, permissionType: 1 }] })).filterResults;
        return { codes: codesOf(results), works: () => assert.match(results[0]!.errorMessage ?? '', /custom resources/) };
      },
      allowed: { codes: E.POLICY_VIOLATION },
      denied: { codes: E.CLUSTER_AUTHORIZATION_FAILED },
    }),
  ),
  {
    api: 'DeleteGroups',
    needs: 'delete on each group',
    prepare: async (v) => assert.deepEqual(codesOf((await offsetCommit(alice, 7, `g-deleted-v${v}`, 'm-topic', 4)).topics[0]!.partitions), [E.NONE]),
    call: async (c, v) => {
      const r = await c.request(ApiKey.DeleteGroups, v, { groupsNames: [`g-deleted-v${v}`] });
      return { codes: codesOf(r.results), works: async () => assert.equal(await committed(`g-deleted-v${v}`), -1) };
    },
    allowed: NONE,
    denied: GROUP_DENIED,
    untouched: (v) => committed(`g-deleted-v${v}`),
  },
  {
    api: 'OffsetDelete',
    needs: 'delete on the group',
    prepare: async (v) => assert.deepEqual(codesOf((await offsetCommit(alice, 7, `g-offdel-v${v}`, 'm-topic', 4)).topics[0]!.partitions), [E.NONE]),
    call: async (c, v) => {
      const r = await c.request(ApiKey.OffsetDelete, v, { groupId: `g-offdel-v${v}`, topics: [{ name: 'm-topic', partitions: [{ partitionIndex: 0 }] }] });
      return { codes: [r.errorCode, ...codesOf(r.topics.flatMap((x) => x.partitions))], works: async () => assert.equal(await committed(`g-offdel-v${v}`), -1) };
    },
    allowed: NONE,
    denied: GROUP_DENIED,
    untouched: (v) => committed(`g-offdel-v${v}`),
  },
  {
    api: 'OffsetDelete',
    needs: 'read on each topic (in a group both may delete from)',
    prepare: async (v) => assert.deepEqual(codesOf((await offsetCommit(alice, 7, `g-offdel-topic-v${v}`, 'm-topic', 4)).topics[0]!.partitions), [E.NONE]),
    call: async (_c, v, _, side) => {
      // bob may delete from no group, so both sides are alice's, who may not read secret-a.
      const r = await alice.request(ApiKey.OffsetDelete, v, { groupId: `g-offdel-topic-v${v}`, topics: [{ name: side === 'allowed' ? 'm-topic' : 'secret-a', partitions: [{ partitionIndex: 0 }] }] });
      return { codes: codesOf(r.topics.flatMap((x) => x.partitions)) };
    },
    allowed: NONE,
    denied: TOPIC_DENIED,
    untouched: (v) => committed(`g-offdel-topic-v${v}`),
  },
  {
    api: 'ListGroups',
    needs: 'describe on the cluster, or else on each group listed',
    prepare: async () => {
      if ((await describeGroup(alice, 'g-listed')).members.length === 0) await member(alice, 'g-listed');
      if ((await describeGroup(bob, 'bob-listed')).members.length === 0) await member(bob, 'bob-listed');
    },
    call: async (c, v) => {
      const r = await c.request(ApiKey.ListGroups, v, { statesFilter: [] });
      return { codes: [r.errorCode], listed: r.groups.map((g) => g.groupId) };
    },
    allowed: { lists: ['g-listed', 'bob-listed'], omits: [] },
    denied: { lists: ['bob-listed'], omits: ['g-listed'] },
  },
  {
    api: 'DescribeGroups',
    needs: 'describe on each group',
    prepare: async () => {
      if ((await describeGroup(alice, 'g-described')).members.length === 0) await member(alice, 'g-described');
    },
    call: async (c, v) => {
      const r = await c.request(ApiKey.DescribeGroups, v, { groups: ['g-described'], includeAuthorizedOperations: false });
      return { codes: codesOf(r.groups), works: () => assert.deepEqual([r.groups[0]!.groupState, r.groups[0]!.members.length], ['Stable', 1]) };
    },
    allowed: NONE,
    denied: GROUP_DENIED,
  },
  {
    api: 'InitProducerId',
    needs: 'write on the transactional id',
    call: async (c, v) => {
      const r = await c.request(ApiKey.InitProducerId, v, { transactionalId: 'tx-matrix', transactionTimeoutMs: 60_000 });
      return { codes: [r.errorCode], works: () => assert.ok(r.producerId >= 0) };
    },
    allowed: NONE,
    denied: { codes: E.TRANSACTIONAL_ID_AUTHORIZATION_FAILED },
  },
  {
    // KIP-679: an idempotent producer id carries no permission; each Produce is still checked.
    api: 'InitProducerId',
    needs: 'nothing beyond authentication without a transactional id',
    call: async (c, v) => {
      const r = await c.request(ApiKey.InitProducerId, v, { transactionalId: null, transactionTimeoutMs: 60_000 });
      return { codes: [r.errorCode], works: () => assert.ok(r.producerId >= 0) };
    },
    allowed: NONE,
    denied: NONE,
  },
  {
    // Before any principal is known, the only thing to refuse is a mechanism the listener does not offer.
    api: 'SaslHandshake',
    needs: 'a mechanism the listener offers (PLAIN is not offered without TLS)',
    fresh: 'kafka',
    call: async (c, v, _, side) => {
      const r = await c.request(ApiKey.SaslHandshake, v, { mechanism: side === 'allowed' ? 'SCRAM-SHA-256' : 'PLAIN' });
      assert.deepEqual(r.mechanisms, ['SCRAM-SHA-256', 'SCRAM-SHA-512']);
      if (v === 0) {
        // v0 is advertised for librdkafka's sake but never used: raw SASL frames would follow it.
        // Every v0 handshake is UNSUPPORTED_VERSION (35) and the connection closes.
        assert.equal(r.errorCode, 35);
        assert.ok(await c.closesWithin(1000), 'the connection closes after a v0 handshake');
        return { codes: [side === 'allowed' ? E.NONE : E.UNSUPPORTED_SASL_MECHANISM] };
      }
      return { codes: [r.errorCode] };
    },
    allowed: NONE,
    denied: { codes: E.UNSUPPORTED_SASL_MECHANISM },
  },
  ...(
    [
      ['SCRAM-SHA-256', 'an enabled user (dave is disabled)', 'kafka', 'alice', 'dave', USERS.dave.password],
      ['SCRAM-SHA-512', 'the right password', 'kafka', 'bob', 'bob', 'Matrix-Bob-Passw0rd?'],
      ['PLAIN', 'an enabled user, over TLS', 'tls', 'alice', 'dave', USERS.dave.password],
    ] as const
  ).map(
    ([mechanism, needs, listener, allowedUser, deniedUser, deniedPassword]): Row => ({
      api: 'SaslAuthenticate',
      needs: `${mechanism}: ${needs}; a failed login closes the connection`,
      fresh: listener,
      call: async (c, v, _, side) => {
        const [user, password] = side === 'allowed' ? [allowedUser, USERS[allowedUser].password] : [deniedUser, deniedPassword];
        const r = mechanism === 'PLAIN' ? await c.plain(user, password, { authenticate: v }) : await c.scram(mechanism, user, password, { authenticate: v });
        const works = async () => assert.ok((await metadata(c, 8, null)).topics.length > 0, 'the session works: it sees topics');
        if (side === 'denied') {
          assert.equal(r.errorMessage, 'Authentication failed', 'the same message whatever the reason');
          assert.ok(await c.closesWithin(1000), 'the broker closed the connection');
        }
        return { codes: [r.errorCode], works };
      },
      allowed: NONE,
      denied: { codes: E.SASL_AUTHENTICATION_FAILED },
    }),
  ),
];

function expectOutcome(o: Outcome, want: Expect, what: string): void {
  if ('codes' in want) {
    assert.ok(o.codes.length > 0, `${what}: the answer carries error codes`);
    assert.deepEqual(o.codes, o.codes.map(() => want.codes), `${what}: error codes`);
    return;
  }
  assert.deepEqual(o.codes, o.codes.map(() => E.NONE), `${what}: a listing is filtered, not refused`);
  for (const name of want.lists) assert.ok(o.listed!.includes(name), `${what}: lists ${name} (listed ${o.listed!.join(', ')})`);
  for (const name of want.omits) assert.ok(!o.listed!.includes(name), `${what}: does not list ${name}`);
}

/** Sends the row's request for one side and checks the answer (and, when allowed, that it worked). */
async function check(row: Row, side: Side, v: number, prepared: unknown): Promise<void> {
  const run = async (c: KafkaWireClient) => {
    const o = await row.call(c, v, prepared, side);
    expectOutcome(o, side === 'allowed' ? row.allowed : row.denied, `${row.api} v${v}, ${side}`);
    if (side === 'allowed') await o.works?.();
  };
  if (!row.fresh) return run(side === 'allowed' ? alice : bob);
  const c = await KafkaWireClient.connect(row.fresh === 'tls' ? tlsPort() : kafkaPort(), row.fresh === 'tls' ? { tls: { ca: caPem } } : {});
  try {
    await run(c);
  } finally {
    c.close();
  }
}

describe('authorization matrix', () => {
  before(async () => {
    const pki = await sharedTestPki();
    caPem = pki.ca.certPem;
    t = await startTestBroker({
      config: {
        kafka: { authentication: ['scram-sha-256', 'scram-sha-512'] },
        listeners: [{ name: 'tls', port: 0, tls: pki.serverTls, authentication: ['plain', 'scram-sha-512'] }],
        http: { enabled: false },
        policy: { dir: POLICY_DIR },
        auth: { rootUser: false },
        groups: { initialRebalanceDelayMs: 0 },
      },
    });
    for (const name of ['m-topic', 'pub', 'secret-a', 'm-denied']) assert.ok(t.broker.topics.createTopic(name, 1).ok);
    alice = await login('alice');
    bob = await login('bob');
    // Data to fetch and offsets to list.
    assert.deepEqual(codesOf((await produce(alice, 8, 'm-topic')).responses[0]!.partitionResponses), [E.NONE]);
    assert.deepEqual(codesOf((await produce(bob, 8, 'pub')).responses[0]!.partitionResponses), [E.NONE]);
  });
  after(async () => {
    alice?.close();
    bob?.close();
    await t?.stop();
  });

  test('the matrix has a row for every API the broker advertises', () => {
    const covered = new Set(MATRIX.map((r) => r.api));
    assert.deepEqual(API_NAMES.filter((api) => !covered.has(api)), []);
  });

  for (const row of MATRIX) {
    describe(`${row.api}: ${row.needs}`, () => {
      for (const v of versionsOf(row.api).filter(row.versions ?? (() => true))) {
        test(`v${v}`, async () => {
          const prepared = await row.prepare?.(v);
          const before = await row.untouched?.(v);
          await check(row, 'denied', v, prepared);
          if (row.untouched) assert.deepEqual(await row.untouched(v), before, 'the denied request changed nothing');
          await check(row, 'allowed', v, prepared);
        });
      }
    });
  }

  test('denials never close a connection: bob is still logged in', async () => {
    assert.equal(bob.isClosed, false);
    assert.deepEqual(codesOf((await metadata(bob, 8, ['pub'])).topics), [E.NONE]);
  });

  describe('no existence oracle: a forbidden topic that exists and one that does not get the same bytes', () => {
    // Names of the same length, so that the answers can be compared byte for byte.
    const EXISTS = 'secret-a';
    const MISSING = 'secret-b';
    const ORACLE: { api: ApiName; send: (c: KafkaWireClient, v: number, topic: string) => Promise<Buffer> }[] = [
      { api: 'Metadata', send: (c, v, topic) => c.requestFrame(ApiKey.Metadata, v, { topics: [{ name: topic }], allowAutoTopicCreation: true }) },
      { api: 'Produce', send: (c, v, topic) => c.requestFrame(ApiKey.Produce, v, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: 0, records: records() }] }] }) },
      {
        api: 'Fetch',
        send: (c, v, topic) => c.requestFrame(ApiKey.Fetch, v, { maxWaitMs: 0, minBytes: 0, topics: [{ topic, partitions: [{ partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20 }] }], forgottenTopicsData: [] }),
      },
      { api: 'ListOffsets', send: (c, v, topic) => c.requestFrame(ApiKey.ListOffsets, v, { replicaId: -1, isolationLevel: 0, topics: [{ name: topic, partitions: [{ partitionIndex: 0, timestamp: -2 }] }] }) },
      { api: 'DeleteTopics', send: (c, v, topic) => c.requestFrame(ApiKey.DeleteTopics, v, { topicNames: [topic], timeoutMs: 5000 }) },
      { api: 'DescribeConfigs', send: (c, v, topic) => c.requestFrame(ApiKey.DescribeConfigs, v, { resources: [{ resourceType: 2, resourceName: topic, configurationKeys: null }] }) },
    ];
    const withoutCorrelationId = (frame: Buffer) => frame.subarray(4).toString('latin1');

    for (const { api, send: sendFor } of ORACLE) {
      test(`${api}, every version`, async () => {
        for (const v of versionsOf(api)) {
          const existing = await sendFor(bob, v, EXISTS);
          const missing = await sendFor(bob, v, MISSING);
          assert.ok(existing.includes(Buffer.from(EXISTS)), 'the answer names the topic asked about');
          assert.equal(withoutCorrelationId(missing).replaceAll(MISSING, EXISTS), withoutCorrelationId(existing), `${api} v${v}`);
          // ...and the answer is the denial, not something that merely looks alike.
          assert.ok(existing.includes(Buffer.from([0, E.TOPIC_AUTHORIZATION_FAILED])), `${api} v${v} says TOPIC_AUTHORIZATION_FAILED`);
        }
        assert.ok(t.broker.topics.topic(EXISTS), 'the forbidden topic is still there');
        assert.equal(t.broker.topics.topic(MISSING), undefined, 'and the missing one was not created');
      });
    }
  });

  describe('deny beats allow: carol may do anything, but interns are denied m-denied and g-denied', () => {
    let carol: KafkaWireClient;
    before(async () => (carol = await login('carol')));
    after(() => carol?.close());

    test('topics: the denied one is refused in the same request that writes the allowed one', async () => {
      const r = await carol.request(ApiKey.Produce, 8, {
        transactionalId: null,
        acks: -1,
        timeoutMs: 5000,
        topicData: ['m-topic', 'm-denied'].map((name) => ({ name, partitionData: [{ index: 0, records: records() }] })),
      });
      assert.deepEqual(
        r.responses.map((x) => [x.name, x.partitionResponses[0]!.errorCode]),
        [
          ['m-topic', E.NONE],
          ['m-denied', E.TOPIC_AUTHORIZATION_FAILED],
        ],
      );
      assert.deepEqual(codesOf((await fetch(carol, 11, 'm-denied')).responses[0]!.partitions), [E.TOPIC_AUTHORIZATION_FAILED]);
      assert.deepEqual(codesOf((await metadata(carol, 8, ['m-denied'])).topics), [E.TOPIC_AUTHORIZATION_FAILED]);
      const listed = (await metadata(carol, 8, null)).topics.map((x) => x.name);
      assert.ok(listed.includes('m-topic') && listed.includes('pub') && listed.includes('secret-a'), 'everything else is listed');
      assert.ok(!listed.includes('m-denied'), 'the denied topic is not');
    });

    test('groups: the denied group is refused; in an allowed group, the denied topic is', async () => {
      assert.equal((await joinGroup(carol, 5, 'g-denied')).errorCode, E.GROUP_AUTHORIZATION_FAILED);
      assert.equal((await carol.request(ApiKey.FindCoordinator, 2, { key: 'g-denied', keyType: 0 })).errorCode, E.GROUP_AUTHORIZATION_FAILED);
      assert.deepEqual(codesOf((await offsetCommit(carol, 7, 'g-carol', 'm-denied', 1)).topics[0]!.partitions), [E.TOPIC_AUTHORIZATION_FAILED]);
      assert.deepEqual(codesOf((await offsetCommit(carol, 7, 'g-carol', 'm-topic', 1)).topics[0]!.partitions), [E.NONE]);
    });
  });

  describe('before authentication: only ApiVersions and the SASL exchange', () => {
    test('ApiVersions is answered and the connection stays open', async () => {
      const c = await KafkaWireClient.connect(kafkaPort());
      try {
        for (const v of versionsOf('ApiVersions')) assert.equal((await c.request(ApiKey.ApiVersions, v, {})).errorCode, E.NONE);
        assert.equal(c.isClosed, false);
      } finally {
        c.close();
      }
    });

    test('SaslAuthenticate before SaslHandshake is ILLEGAL_SASL_STATE, and the connection closes', async () => {
      const c = await KafkaWireClient.connect(kafkaPort());
      const r = await c.request(ApiKey.SaslAuthenticate, 1, { authBytes: Buffer.from('n,,n=alice,r=abc') });
      assert.equal(r.errorCode, E.ILLEGAL_SASL_STATE);
      assert.ok(await c.closesWithin(1000));
    });

    for (const api of API_NAMES.filter((a) => !BEFORE_AUTHENTICATION.includes(a))) {
      test(`${api}, every version: the connection is closed without an answer`, async () => {
        for (const v of versionsOf(api)) {
          // acks=0 would be answered by nothing even after login: ask for an answer.
          const body = { ...sampleRequest(api, v, 'minimal'), ...(api === 'Produce' ? { acks: -1 } : {}) } as never;
          const c = await KafkaWireClient.connect(kafkaPort());
          await assert.rejects(c.requestFrame(APIS[api].apiKey, v, body), ConnectionClosedError, `${api} v${v}`);
          // The same bytes after login are answered: it was the missing login, not the frame.
          await alice.requestFrame(APIS[api].apiKey, v, body);
        }
      });
    }

    test('after a failed login, nothing is answered either', async () => {
      const c = await KafkaWireClient.connect(kafkaPort());
      assert.equal((await c.scram('SCRAM-SHA-256', 'alice', 'not-the-password')).errorCode, E.SASL_AUTHENTICATION_FAILED);
      await assert.rejects(metadata(c, 8, ['m-topic']), ConnectionClosedError);
    });
  });

  describe('real clients see the same answers (kafkajs)', () => {
    /** kafkajs for a user; `logs` collects its debug log, where it records the errors it handles itself. */
    const kafka = (user: UserName, logs?: { message: string; error?: unknown }[]) =>
      new Kafka({
        brokers: [`127.0.0.1:${kafkaPort()}`],
        clientId: `matrix-${user}`,
        logLevel: logs ? logLevel.DEBUG : logLevel.NOTHING,
        ...(logs ? { logCreator: () => (entry: { log: { message: string; error?: unknown } }) => void logs.push(entry.log) } : {}),
        retry: { retries: 0 },
        sasl: { mechanism: USERS[user].mechanism.toLowerCase(), username: user, password: USERS[user].password } as SASLOptions,
      });

    test('producer: alice writes m-topic; bob gets TOPIC_AUTHORIZATION_FAILED', async () => {
      const a = kafka('alice').producer();
      const b = kafka('bob').producer();
      await a.connect();
      await b.connect();
      try {
        const sent = await a.send({ topic: 'm-topic', messages: [{ value: 'from kafkajs' }] });
        assert.equal(sent[0]!.errorCode, E.NONE);
        await assert.rejects(b.send({ topic: 'm-topic', messages: [{ value: 'nope' }] }), (err) => errorTypes(err).includes('TOPIC_AUTHORIZATION_FAILED'));
        await b.send({ topic: 'pub', messages: [{ value: 'bob may write pub' }] });
      } finally {
        await a.disconnect();
        await b.disconnect();
      }
    });

    test('consumer: bob cannot use a g-* group (GROUP_AUTHORIZATION_FAILED); alice consumes in it', async () => {
      const logs: { message: string; error?: unknown }[] = [];
      const denied = kafka('bob', logs).consumer({ groupId: 'g-kafkajs', retry: { retries: 0, restartOnFailure: async () => false } });
      const crashed = new Promise<Error>((resolve) => denied.on(denied.events.CRASH, (e) => resolve(e.payload.error)));
      await denied.connect();
      try {
        await denied.subscribe({ topics: ['pub'], fromBeginning: true });
        await denied.run({ eachMessage: async () => undefined });
        // kafkajs reports a refused FindCoordinator as "coordinator not found", after logging the broker's answer.
        assert.equal((await crashed).name, 'KafkaJSGroupCoordinatorNotFound');
        const seen = logs.filter((l) => l.message === 'Tried to find group coordinator').flatMap((l) => errorTypes(l.error));
        assert.deepEqual([...new Set(seen)], ['GROUP_AUTHORIZATION_FAILED']);
      } finally {
        await denied.disconnect();
      }

      const allowed = kafka('alice').consumer({ groupId: 'g-kafkajs', sessionTimeout: 10_000 });
      await allowed.connect();
      try {
        await allowed.subscribe({ topics: ['m-topic'], fromBeginning: true });
        const first = new Promise<string>((resolve) => void allowed.run({ eachMessage: async ({ message }) => resolve(message.value!.toString()) }));
        assert.equal(await first, 'matrix');
      } finally {
        await allowed.disconnect();
      }
    });

    test('admin: bob sees only pub and may not create, delete or list offsets of m-* topics; alice may', async () => {
      const b = kafka('bob').admin();
      const a = kafka('alice').admin();
      await b.connect();
      await a.connect();
      try {
        const bobSees = await b.listTopics();
        assert.ok(bobSees.includes('pub') && !bobSees.includes('m-topic') && !bobSees.includes('secret-a'), `bob sees ${bobSees.join(', ')}`);
        await assert.rejects(b.createTopics({ topics: [{ topic: 'm-kafkajs' }] }), (err) => errorTypes(err).includes('TOPIC_AUTHORIZATION_FAILED'));
        await assert.rejects(b.deleteTopics({ topics: ['m-topic'] }), (err) => errorTypes(err).includes('TOPIC_AUTHORIZATION_FAILED'));
        await assert.rejects(b.fetchTopicOffsets('m-topic'), (err) => errorTypes(err).includes('TOPIC_AUTHORIZATION_FAILED'));
        assert.equal(t.broker.topics.topic('m-kafkajs'), undefined);

        assert.equal(await a.createTopics({ topics: [{ topic: 'm-kafkajs' }] }), true);
        assert.ok((await a.listTopics()).includes('m-kafkajs'));
        await a.deleteTopics({ topics: ['m-kafkajs'] });
        assert.equal(t.broker.topics.topic('m-kafkajs'), undefined);
      } finally {
        await a.disconnect();
        await b.disconnect();
      }
    });
  });
});

/** The Kafka error types (kafkajs `type`) anywhere in an error and the errors it wraps. */
function errorTypes(err: unknown): string[] {
  const out: string[] = [];
  const walk = (e: unknown, depth: number) => {
    if (!e || typeof e !== 'object' || depth > 5) return;
    const x = e as { type?: unknown; cause?: unknown; originalError?: unknown; errors?: unknown };
    if (typeof x.type === 'string') out.push(x.type);
    walk(x.cause, depth + 1);
    walk(x.originalError, depth + 1);
    if (Array.isArray(x.errors)) for (const inner of x.errors) walk(inner, depth + 1);
  };
  walk(err, 0);
  return out;
}

describe('requiredPermissions covers every API the broker advertises', () => {
  const ctx = { topicNames: () => ['existing-topic'], groupIds: () => ['existing-group'] };
  const strings = (value: unknown, out = new Set<string>()): Set<string> => {
    if (typeof value === 'string') out.add(value);
    else if (Array.isArray(value)) for (const v of value) strings(v, out);
    else if (value && typeof value === 'object' && !Buffer.isBuffer(value)) for (const v of Object.values(value)) strings(v, out);
    return out;
  };

  for (const [key, range] of Object.entries(SUPPORTED_VERSIONS)) {
    const api = API_NAMES.find((n) => APIS[n].apiKey === Number(key))!;
    test(`${api} (key ${key}), versions ${range.min}-${range.max}`, () => {
      for (let v = range.min; v <= range.max; v++) {
        for (const mode of ['full', 'minimal'] as const) {
          const frame = encodeRequest({ apiKey: Number(key) as never, apiVersion: v, correlationId: 1, clientId: 'unit' }, sampleRequest(api, v, mode) as never);
          const req = decodeRequest(frame.subarray(4));
          const permissions = requiredPermissions(req, ctx);
          assert.ok(Array.isArray(permissions as unknown), `${api} v${v} has no mapping in requiredPermissions`);
          // Every request after login asks for something, unless it touches nothing (an idempotent producer id).
          // (A minimal request names no resource, so it may need nothing.)
          if (BEFORE_AUTHENTICATION.includes(api)) assert.deepEqual(permissions, [], `${api} v${v} ${mode} needs no permission`);
          else if (mode === 'full') assert.ok(permissions.length > 0, `${api} v${v} asks for no permission: a handler would decide alone`);
          // Only resources the request or the broker names, with actions their type knows.
          const named = strings(req.body).add(CLUSTER_RESOURCE).add('existing-topic').add('existing-group');
          for (const p of permissions) {
            assert.ok(named.has(p.name), `${api} v${v}: ${p.type} ${p.name} is named nowhere in the request`);
            assert.ok(ACTIONS_BY_TYPE[p.type].includes(p.action), `${api} v${v}: ${p.action} is not an action on ${p.type}`);
          }
        }
      }
    });
  }
});
