// The consumer-group coordinator as clients see it: groups forming, rebalancing when members
// come and go, sessions ending, offsets committed durably; time driven by a manual clock.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { KafkaErrorCode } from '../src/kafka/error-codes.ts';
import { ManualClock } from '../src/lib/index.ts';
import {
  GroupCoordinator,
  selectProtocol,
  type GroupCoordinatorOptions,
  type JoinGroupRequest,
  type JoinGroupResponse,
} from '../src/groups/index.ts';
import { isBulwarkError } from '../src/lib/errors.ts';
import { OffsetStore } from '../src/log/index.ts';
import { useTempDirs } from './harness/temp.ts';

const tempDir = useTempDirs('groups');

const SESSION = 10_000;
const REBALANCE = 30_000;
const INITIAL_DELAY = 100;

function setup(options: GroupCoordinatorOptions = {}, dir = tempDir()) {
  const clock = new ManualClock(1_700_000_000_000);
  const store = OffsetStore.open(dir);
  let n = 0;
  const gc = new GroupCoordinator(store, { clock, initialRebalanceDelayMs: INITIAL_DELAY, randomUUID: () => `uuid${++n}`, ...options });
  return { clock, store, gc, dir };
}
type Env = ReturnType<typeof setup>;

/** Lets promise callbacks run, after the clock moved or a request was made. */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A held request: `value` is set once it resolves. */
function track<T>(p: Promise<T>): { value: T | undefined } {
  const t: { value: T | undefined } = { value: undefined };
  void p.then((v) => (t.value = v));
  return t;
}

/** Not answered yet (a plain boolean, so that asserting it does not narrow `value` for later checks). */
const held = (t: { value: unknown }): boolean => t.value === undefined;

const bytes = (s: string) => Buffer.from(s);
const text = (b: Buffer | undefined) => (b === undefined ? undefined : Buffer.from(b).toString());

function joinRequest(clientId: string, memberId = '', over: Partial<JoinGroupRequest> = {}): JoinGroupRequest {
  return {
    groupId: 'g',
    sessionTimeoutMs: SESSION,
    rebalanceTimeoutMs: REBALANCE,
    memberId,
    groupInstanceId: null,
    protocolType: 'consumer',
    protocols: [{ name: 'range', metadata: bytes(`subscription-${clientId}`) }],
    ...over,
  };
}

const join = (env: Env, clientId: string, memberId = '', over: Partial<JoinGroupRequest> = {}, requireKnownMemberId = false) =>
  env.gc.joinGroup(joinRequest(clientId, memberId, over), { clientId, clientHost: `/10.0.0.${clientId.charCodeAt(0) % 200}`, requireKnownMemberId });

/** Joins every client, waits out the initial delay, and completes the SyncGroup round (leader last). */
async function formGroup(env: Env, clients: string[]) {
  const joins = clients.map((c) => track(join(env, c)));
  env.clock.advance(10 * INITIAL_DELAY);
  await flush();
  const responses = joins.map((j) => j.value!);
  assert.ok(responses.every((r) => r?.errorCode === KafkaErrorCode.NONE), 'every join succeeds');
  return completeSync(env, clients, responses);
}

/** The SyncGroup round after a rebalance: followers first, then the leader with an assignment for each. */
async function completeSync(env: Env, clients: string[], responses: JoinGroupResponse[]) {
  const ids = Object.fromEntries(clients.map((c, i) => [c, responses[i]!.memberId]));
  const generationId = responses[0]!.generationId;
  const leader = responses[0]!.leader;
  const syncs = responses.map((r) =>
    track(
      env.gc.syncGroup({
        groupId: 'g',
        generationId,
        memberId: r.memberId,
        assignments: r.memberId === leader ? clients.map((c) => ({ memberId: ids[c]!, assignment: bytes(`partitions-for-${c}`) })) : [],
      }),
    ),
  );
  await flush();
  assert.deepEqual(syncs.map((s) => [s.value?.errorCode, text(s.value?.assignment)]), clients.map((c) => [KafkaErrorCode.NONE, `partitions-for-${c}`]));
  return { ids, generationId, leader };
}

const heartbeat = (env: Env, memberId: string, generationId: number) => env.gc.heartbeat({ groupId: 'g', generationId, memberId }).errorCode;

describe('forming a group', () => {
  test('three members: the leader gets every member and its metadata, followers none, and all get assignments after SyncGroup', async () => {
    const env = setup();
    const joins = ['a', 'b', 'c'].map((c) => track(join(env, c)));
    await flush();
    assert.ok(joins.every(held), 'joins are held during the initial rebalance delay');
    env.clock.advance(10 * INITIAL_DELAY);
    await flush();
    const [a, b, c] = joins.map((j) => j.value!);
    assert.ok(a && b && c);
    for (const r of [a, b, c]) {
      assert.equal(r.errorCode, KafkaErrorCode.NONE);
      assert.equal(r.generationId, 1);
      assert.equal(r.leader, a.memberId);
      assert.equal(r.protocolType, 'consumer');
      assert.equal(r.protocolName, 'range');
    }
    assert.match(a.memberId, /^a-uuid\d+$/, 'member ids are the client id and a uuid');
    assert.deepEqual(
      a.members.map((m) => [m.memberId, text(m.metadata)]),
      [
        [a.memberId, 'subscription-a'],
        [b.memberId, 'subscription-b'],
        [c.memberId, 'subscription-c'],
      ],
    );
    assert.deepEqual(b.members, []);
    assert.deepEqual(c.members, []);

    // Followers' SyncGroups wait for the leader's assignments.
    const syncB = track(env.gc.syncGroup({ groupId: 'g', generationId: 1, memberId: b.memberId, assignments: [] }));
    const syncC = track(env.gc.syncGroup({ groupId: 'g', generationId: 1, memberId: c.memberId, assignments: [] }));
    await flush();
    assert.ok(held(syncB));
    assert.equal(env.gc.describeGroups({ groups: ['g'] }).groups[0]?.groupState, 'CompletingRebalance');
    const syncA = await env.gc.syncGroup({
      groupId: 'g',
      generationId: 1,
      memberId: a.memberId,
      assignments: [
        { memberId: a.memberId, assignment: bytes('p0') },
        { memberId: b.memberId, assignment: bytes('p1') },
        { memberId: c.memberId, assignment: bytes('p2') },
      ],
    });
    await flush();
    assert.deepEqual([syncA, syncB.value, syncC.value].map((s) => [s?.errorCode, s?.protocolName, text(s?.assignment)]), [
      [0, 'range', 'p0'],
      [0, 'range', 'p1'],
      [0, 'range', 'p2'],
    ]);
    assert.equal(heartbeat(env, b.memberId, 1), KafkaErrorCode.NONE);
    await env.gc.close();
  });

  test('the initial delay is extended while new members keep arriving, but never past the rebalance timeout', async () => {
    const env = setup({ initialRebalanceDelayMs: 1000 });
    const first = track(join(env, 'a', '', { rebalanceTimeoutMs: 2500 }));
    env.clock.advance(900);
    const second = track(join(env, 'b', '', { rebalanceTimeoutMs: 2500 }));
    env.clock.advance(100); // the first delay ends; b arrived during it, so it waits another second
    await flush();
    assert.ok(held(first));
    env.clock.advance(1000);
    await flush();
    assert.equal(first.value?.generationId, 1);
    assert.equal(second.value?.generationId, 1);
    await env.gc.close();

    // Members arriving continuously: the group still forms when the rebalance timeout is used up.
    const busy = setup({ initialRebalanceDelayMs: 1000 });
    const early = track(join(busy, 'a', '', { rebalanceTimeoutMs: 2500 }));
    for (let i = 0; i < 4; i++) {
      busy.clock.advance(500);
      void join(busy, `n${i}`, '', { rebalanceTimeoutMs: 2500 });
    }
    busy.clock.advance(500); // 2500 ms in
    await flush();
    assert.equal(early.value?.errorCode, KafkaErrorCode.NONE);
    await busy.gc.close();
  });

  test('v4+ clients first get MEMBER_ID_REQUIRED with an id, and join with it', async () => {
    const env = setup();
    const first = await join(env, 'rdkafka', '', {}, true);
    assert.equal(first.errorCode, KafkaErrorCode.MEMBER_ID_REQUIRED);
    assert.equal(first.memberId, 'rdkafka-uuid1');
    assert.equal(first.generationId, -1);
    // Not a member yet.
    assert.equal(heartbeat(env, first.memberId, 0), KafkaErrorCode.UNKNOWN_MEMBER_ID);
    assert.equal(env.gc.describeGroups({ groups: ['g'] }).groups[0]?.members.length, 0);

    const second = track(join(env, 'rdkafka', first.memberId, {}, true));
    env.clock.advance(INITIAL_DELAY);
    await flush();
    assert.equal(second.value?.errorCode, KafkaErrorCode.NONE);
    assert.equal(second.value?.memberId, first.memberId);
    assert.equal(second.value?.leader, first.memberId);

    // An id that is never used expires with the session timeout it was asked with.
    const unused = await join(env, 'late', '', {}, true);
    env.clock.advance(SESSION);
    assert.equal((await join(env, 'late', unused.memberId, {}, true)).errorCode, KafkaErrorCode.UNKNOWN_MEMBER_ID);
    await env.gc.close();
  });

  test('protocols: the type must match, one protocol must be common to all, and the one most members prefer wins', async () => {
    const env = setup();
    const a = track(join(env, 'a', '', { protocols: [{ name: 'range', metadata: bytes('x') }, { name: 'roundrobin', metadata: bytes('y') }] }));
    const r1 = await join(env, 'b', '', { protocols: [{ name: 'cooperative-sticky', metadata: bytes('z') }] });
    assert.equal(r1.errorCode, KafkaErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    assert.equal(r1.memberId, '');
    assert.equal((await join(env, 'b', '', { protocolType: 'connect' })).errorCode, KafkaErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    const b = track(join(env, 'b', '', { protocols: [{ name: 'roundrobin', metadata: bytes('b-rr') }, { name: 'range', metadata: bytes('b-range') }] }));
    const c = track(join(env, 'c', '', { protocols: [{ name: 'roundrobin', metadata: bytes('c-rr') }, { name: 'range', metadata: bytes('c-range') }] }));
    env.clock.advance(10 * INITIAL_DELAY);
    await flush();
    assert.equal(a.value?.protocolName, 'roundrobin');
    assert.deepEqual(a.value?.members.map((m) => text(m.metadata)), ['y', 'b-rr', 'c-rr'], 'the leader sees the metadata for the chosen protocol');
    assert.equal(b.value?.protocolName, 'roundrobin');
    assert.equal(c.value?.errorCode, KafkaErrorCode.NONE);

    // A new group needs a protocol type and at least one protocol.
    assert.equal((await env.gc.joinGroup({ ...joinRequest('x'), groupId: 'other', protocols: [] }, { clientId: 'x', clientHost: 'h', requireKnownMemberId: false })).errorCode, KafkaErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    assert.equal((await env.gc.joinGroup({ ...joinRequest('x'), groupId: 'other', protocolType: '' }, { clientId: 'x', clientHost: 'h', requireKnownMemberId: false })).errorCode, KafkaErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    assert.equal(env.gc.describeGroups({ groups: ['other'] }).groups[0]?.groupState, 'Dead', 'a rejected join leaves no group behind');
    await env.gc.close();
  });

  test('selectProtocol: votes among the common protocols, ties to the first voted', () => {
    const m = (...names: string[]) => ({ protocols: names.map((name) => ({ name })) });
    assert.equal(selectProtocol([m('range', 'roundrobin'), m('roundrobin', 'range'), m('roundrobin', 'range')]), 'roundrobin');
    assert.equal(selectProtocol([m('range', 'roundrobin'), m('roundrobin', 'range')]), 'range');
    assert.equal(selectProtocol([m('sticky', 'range'), m('range')]), 'range');
    assert.equal(selectProtocol([m('a'), m('b')]), undefined);
    assert.equal(selectProtocol([]), undefined);
  });
});

describe('rebalancing', () => {
  test('a fourth member joins: the others learn it from Heartbeat (REBALANCE_IN_PROGRESS) and rejoin', async () => {
    const env = setup();
    const { ids, generationId } = await formGroup(env, ['a', 'b', 'c']);
    assert.equal(generationId, 1);

    const first = await join(env, 'd', '', {}, true);
    assert.equal(first.errorCode, KafkaErrorCode.MEMBER_ID_REQUIRED);
    const d = track(join(env, 'd', first.memberId, {}, true));
    await flush();
    assert.ok(held(d), "the new member waits for the others' rejoin");
    assert.equal(env.gc.describeGroups({ groups: ['g'] }).groups[0]?.groupState, 'PreparingRebalance');
    for (const c of ['a', 'b', 'c']) assert.equal(heartbeat(env, ids[c]!, 1), KafkaErrorCode.REBALANCE_IN_PROGRESS);
    // SyncGroup of the old generation is refused too.
    assert.equal((await env.gc.syncGroup({ groupId: 'g', generationId: 1, memberId: ids.b!, assignments: [] })).errorCode, KafkaErrorCode.REBALANCE_IN_PROGRESS);

    const rejoins = ['a', 'b', 'c'].map((c) => track(join(env, c, ids[c]!, {}, true)));
    await flush();
    const responses = [...rejoins.map((r) => r.value!), d.value!];
    assert.deepEqual(responses.map((r) => [r.errorCode, r.generationId, r.leader]), responses.map(() => [0, 2, ids.a]), 'completes once everyone rejoined, no timeout needed');
    assert.equal(responses[0]!.members.length, 4);
    assert.deepEqual(responses.slice(1).map((r) => r.members.length), [0, 0, 0]);
    await completeSync(env, ['a', 'b', 'c', 'd'], responses);
    assert.equal(heartbeat(env, ids.a!, 2), KafkaErrorCode.NONE);
    assert.equal(heartbeat(env, ids.a!, 1), KafkaErrorCode.ILLEGAL_GENERATION);
    await env.gc.close();
  });

  test('a member that stops heartbeating is removed after its session timeout, and the rest rebalance', async () => {
    const env = setup();
    const { ids } = await formGroup(env, ['a', 'b', 'c']);
    for (let t = 0; t < 3; t++) {
      env.clock.advance(3000);
      assert.equal(heartbeat(env, ids.a!, 1), KafkaErrorCode.NONE);
      assert.equal(heartbeat(env, ids.b!, 1), KafkaErrorCode.NONE);
    }
    env.clock.advance(SESSION - 9000 - 1);
    assert.equal(env.gc.describeGroups({ groups: ['g'] }).groups[0]?.members.length, 3, 'c is still in, 1 ms before its session ends');
    env.clock.advance(1);
    assert.equal(env.gc.describeGroups({ groups: ['g'] }).groups[0]?.members.length, 2);
    assert.equal(heartbeat(env, ids.c!, 1), KafkaErrorCode.UNKNOWN_MEMBER_ID);
    assert.equal(heartbeat(env, ids.a!, 1), KafkaErrorCode.REBALANCE_IN_PROGRESS);
    assert.equal(heartbeat(env, ids.b!, 1), KafkaErrorCode.REBALANCE_IN_PROGRESS);
    const [a, b] = await Promise.all([join(env, 'a', ids.a), join(env, 'b', ids.b)]);
    assert.equal(a.generationId, 2);
    assert.deepEqual(a.members.map((m) => m.memberId), [ids.a, ids.b]);
    await completeSync(env, ['a', 'b'], [a, b]);
    await env.gc.close();
  });

  test('members that do not rejoin within the rebalance timeout are removed; the group goes on without them', async () => {
    const env = setup();
    const { ids } = await formGroup(env, ['a', 'b']);
    const c = track(join(env, 'c'));
    const a = track(join(env, 'a', ids.a));
    // b keeps heartbeating but never rejoins.
    for (let t = 0; t < 9; t++) {
      env.clock.advance(3000);
      assert.equal(heartbeat(env, ids.b!, 1), KafkaErrorCode.REBALANCE_IN_PROGRESS);
    }
    env.clock.advance(REBALANCE - 27_000 - 1);
    await flush();
    assert.ok(held(a), '1 ms before the rebalance timeout');
    env.clock.advance(1);
    await flush();
    assert.equal(a.value?.generationId, 2);
    assert.deepEqual(a.value?.members.map((m) => m.memberId), [ids.a, c.value?.memberId]);
    assert.equal(heartbeat(env, ids.b!, 1), KafkaErrorCode.UNKNOWN_MEMBER_ID);
    await env.gc.close();
  });

  test('a leader that never sends SyncGroup is removed at the rebalance timeout, and the waiting followers are told to rejoin', async () => {
    const env = setup();
    // Sessions longer than the rebalance timeout, so that only the SyncGroup deadline can act.
    const joins = ['a', 'b'].map((c) => track(join(env, c, '', { sessionTimeoutMs: 60_000 })));
    env.clock.advance(2 * INITIAL_DELAY); // b arrived during the first delay, which is therefore extended once
    await flush();
    const [a, b] = joins.map((j) => j.value!);
    const syncB = track(env.gc.syncGroup({ groupId: 'g', generationId: 1, memberId: b!.memberId, assignments: [] }));
    env.clock.advance(REBALANCE - 1);
    await flush();
    assert.ok(held(syncB));
    env.clock.advance(1);
    await flush();
    assert.equal(syncB.value?.errorCode, KafkaErrorCode.REBALANCE_IN_PROGRESS);
    assert.equal(heartbeat(env, a!.memberId, 1), KafkaErrorCode.UNKNOWN_MEMBER_ID);
    const again = await join(env, 'b', b!.memberId);
    assert.deepEqual([again.generationId, again.leader], [2, b!.memberId], 'b, alone, leads the next generation');
    await env.gc.close();
  });

  test('LeaveGroup removes members and the others rebalance; v0–2 report the member error at the top', async () => {
    const env = setup();
    const { ids } = await formGroup(env, ['a', 'b']);
    assert.deepEqual(env.gc.leaveGroup({ groupId: 'g', members: [{ memberId: ids.b!, groupInstanceId: null }, { memberId: 'nobody' }] }), {
      errorCode: 0,
      members: [
        { memberId: ids.b, groupInstanceId: null, errorCode: KafkaErrorCode.NONE },
        { memberId: 'nobody', groupInstanceId: null, errorCode: KafkaErrorCode.UNKNOWN_MEMBER_ID },
      ],
    });
    assert.equal(heartbeat(env, ids.a!, 1), KafkaErrorCode.REBALANCE_IN_PROGRESS);
    const a = await join(env, 'a', ids.a);
    assert.deepEqual([a.generationId, a.members.length], [2, 1], 'the only member left rejoined: no need to wait');
    // As the codec decodes v0–2 (members at its default) and v3+ (memberId at its default).
    assert.equal(env.gc.leaveGroup({ groupId: 'g', memberId: 'nobody', members: [] }).errorCode, KafkaErrorCode.UNKNOWN_MEMBER_ID);
    assert.deepEqual(env.gc.leaveGroup({ groupId: 'g', memberId: '', members: [] }), { errorCode: 0, members: [] });
    assert.equal(env.gc.leaveGroup({ groupId: 'g', memberId: ids.a!, members: [] }).errorCode, KafkaErrorCode.NONE);
    // No member and no offsets: the group is gone.
    assert.equal(env.gc.describeGroups({ groups: ['g'] }).groups[0]?.groupState, 'Dead');
    assert.deepEqual(env.gc.listGroups().groups, []);
    assert.equal(env.clock.pendingTimers, 0, 'no timer is left behind');
    await env.gc.close();
  });

  test('a leaving member that has a held JoinGroup gets UNKNOWN_MEMBER_ID, and the rebalance completes without it', async () => {
    const env = setup();
    const { ids } = await formGroup(env, ['a', 'b', 'c']);
    const a = track(join(env, 'a', ids.a));
    const b = track(join(env, 'b', ids.b));
    env.gc.leaveGroup({ groupId: 'g', members: [{ memberId: ids.b! }] });
    await flush();
    assert.equal(b.value?.errorCode, KafkaErrorCode.UNKNOWN_MEMBER_ID);
    assert.ok(held(a), 'c has not rejoined yet');
    env.gc.leaveGroup({ groupId: 'g', members: [{ memberId: ids.c! }] });
    await flush();
    assert.deepEqual(a.value?.members.map((m) => m.memberId), [ids.a]);
    await env.gc.close();
  });

  test('a static member that restarts takes its place back under a new id, and the old id is fenced', async () => {
    const env = setup();
    const joins = [track(join(env, 'a', '', { groupInstanceId: 'host-1' }, true)), track(join(env, 'b', '', {}, false))];
    env.clock.advance(10 * INITIAL_DELAY);
    await flush();
    assert.match(joins[0]!.value!.memberId, /^host-1-uuid/, 'static members skip MEMBER_ID_REQUIRED; their id starts with the instance id');
    const { ids } = await completeSync(env, ['a', 'b'], joins.map((j) => j.value!));
    const restarted = track(join(env, 'a', '', { groupInstanceId: 'host-1' }, true));
    assert.equal(env.gc.heartbeat({ groupId: 'g', generationId: 1, memberId: ids.a!, groupInstanceId: 'host-1' }).errorCode, KafkaErrorCode.FENCED_INSTANCE_ID);
    await join(env, 'b', ids.b);
    await flush();
    assert.equal(restarted.value?.generationId, 2);
    assert.equal(restarted.value?.leader, restarted.value?.memberId, 'it keeps the leadership');
    assert.deepEqual(env.gc.leaveGroup({ groupId: 'g', members: [{ memberId: '', groupInstanceId: 'host-1' }] }).members[0]?.errorCode, KafkaErrorCode.NONE);
    await env.gc.close();
  });
});

describe('errors', () => {
  test('illegal generation, unknown member, rebalance in progress', async () => {
    const env = setup();
    const { ids } = await formGroup(env, ['a', 'b']);
    assert.equal(heartbeat(env, ids.a!, 2), KafkaErrorCode.ILLEGAL_GENERATION);
    assert.equal(heartbeat(env, 'a-stranger', 1), KafkaErrorCode.UNKNOWN_MEMBER_ID);
    assert.equal(env.gc.heartbeat({ groupId: 'nope', generationId: 1, memberId: ids.a! }).errorCode, KafkaErrorCode.UNKNOWN_MEMBER_ID);
    assert.equal((await env.gc.syncGroup({ groupId: 'g', generationId: 0, memberId: ids.a!, assignments: [] })).errorCode, KafkaErrorCode.ILLEGAL_GENERATION);
    assert.equal((await env.gc.syncGroup({ groupId: 'g', generationId: 1, memberId: 'a-stranger', assignments: [] })).errorCode, KafkaErrorCode.UNKNOWN_MEMBER_ID);
    assert.equal((await env.gc.syncGroup({ groupId: 'g', generationId: 1, memberId: ids.a!, protocolName: 'roundrobin', assignments: [] })).errorCode, KafkaErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    assert.equal((await join(env, 'a', 'a-stranger')).errorCode, KafkaErrorCode.UNKNOWN_MEMBER_ID);
    assert.equal((await env.gc.joinGroup({ ...joinRequest('a', 'a-stranger'), groupId: 'nope' }, { clientId: 'a', clientHost: 'h', requireKnownMemberId: true })).errorCode, KafkaErrorCode.UNKNOWN_MEMBER_ID);
    // A follower's unchanged rejoin in Stable just gets the current generation back.
    const b = await join(env, 'b', ids.b);
    assert.deepEqual([b.errorCode, b.generationId, b.members.length], [0, 1, 0]);
    await env.gc.close();
  });

  test('group id and session timeout are validated', async () => {
    const env = setup();
    const ctx = { clientId: 'x', clientHost: 'h', requireKnownMemberId: true };
    assert.equal((await env.gc.joinGroup({ ...joinRequest('x'), groupId: '' }, ctx)).errorCode, KafkaErrorCode.INVALID_GROUP_ID);
    assert.equal((await env.gc.joinGroup({ ...joinRequest('x'), groupId: 'g'.repeat(250) }, ctx)).errorCode, KafkaErrorCode.INVALID_GROUP_ID);
    assert.equal((await env.gc.joinGroup({ ...joinRequest('x'), groupId: 'g'.repeat(249) }, ctx)).errorCode, KafkaErrorCode.MEMBER_ID_REQUIRED);
    assert.equal((await env.gc.joinGroup({ ...joinRequest('x'), sessionTimeoutMs: 5999 }, ctx)).errorCode, KafkaErrorCode.INVALID_SESSION_TIMEOUT);
    assert.equal((await env.gc.joinGroup({ ...joinRequest('x'), sessionTimeoutMs: 1_800_001 }, ctx)).errorCode, KafkaErrorCode.INVALID_SESSION_TIMEOUT);
    assert.equal(env.gc.heartbeat({ groupId: '', generationId: 1, memberId: 'm' }).errorCode, KafkaErrorCode.INVALID_GROUP_ID);
    assert.equal(env.gc.describeGroups({ groups: [''] }).groups[0]?.errorCode, KafkaErrorCode.INVALID_GROUP_ID);
    assert.equal(env.gc.offsetFetch({ groupId: '', topics: null }).errorCode, KafkaErrorCode.INVALID_GROUP_ID);
    await env.gc.close();
  });

  test('bounded: members per group and groups', async () => {
    const env = setup({ maxMembersPerGroup: 2, maxGroups: 1 });
    const { ids } = await formGroup(env, ['a', 'b']);
    const full = await join(env, 'c');
    assert.deepEqual([full.errorCode, full.memberId], [KafkaErrorCode.GROUP_MAX_SIZE_REACHED, '']);
    assert.equal((await join(env, 'b', ids.b)).errorCode, KafkaErrorCode.NONE, 'existing members still rejoin');
    assert.equal((await env.gc.joinGroup({ ...joinRequest('x'), groupId: 'second' }, { clientId: 'x', clientHost: 'h', requireKnownMemberId: false })).errorCode, KafkaErrorCode.COORDINATOR_NOT_AVAILABLE);
    await env.gc.close();
  });

  test('invalid options fail at construction with a coded error', () => {
    const store = OffsetStore.open(tempDir());
    assert.throws(() => new GroupCoordinator(store, { minSessionTimeoutMs: 10_000, maxSessionTimeoutMs: 5000 }), (e) => isBulwarkError(e, 'BWK_ERR_CONFIG_INVALID') && e.message.includes('groups.minSessionTimeoutMs'));
    assert.throws(() => new GroupCoordinator(store, { maxGroups: 0 }), (e) => isBulwarkError(e, 'BWK_ERR_CONFIG_INVALID') && e.message.includes('groups.maxGroups'));
    store.close();
  });
});

describe('offsets', () => {
  test('committed offsets are durable: they survive reopening the OffsetStore', async () => {
    const env = setup();
    const { ids } = await formGroup(env, ['a', 'b']);
    const commit = await env.gc.offsetCommit({
      groupId: 'g',
      generationIdOrMemberEpoch: 1,
      memberId: ids.a,
      topics: [
        { name: 'orders', partitions: [{ partitionIndex: 0, committedOffset: 42, committedMetadata: 'from-a' }, { partitionIndex: 1, committedOffset: 7, committedMetadata: null }] },
        { name: 'audit', partitions: [{ partitionIndex: 3, committedOffset: 9, committedMetadata: 'x'.repeat(4097) }] },
      ],
    });
    assert.deepEqual(commit, {
      topics: [
        { name: 'orders', partitions: [{ partitionIndex: 0, errorCode: 0 }, { partitionIndex: 1, errorCode: 0 }] },
        { name: 'audit', partitions: [{ partitionIndex: 3, errorCode: KafkaErrorCode.OFFSET_METADATA_TOO_LARGE }] },
      ],
    });
    // A group with no members takes commits from outside group management (generation -1).
    const simple = await env.gc.offsetCommit({ groupId: 'tool', generationIdOrMemberEpoch: -1, memberId: '', topics: [{ name: 'orders', partitions: [{ partitionIndex: 0, committedOffset: 5, committedMetadata: null }] }] });
    assert.equal(simple.topics[0]?.partitions[0]?.errorCode, KafkaErrorCode.NONE);
    await env.gc.close();
    env.store.close();

    const reopened = setup({}, env.dir);
    assert.deepEqual(reopened.gc.offsetFetch({ groupId: 'g', topics: [{ name: 'orders', partitionIndexes: [0, 1, 2] }, { name: 'audit', partitionIndexes: [3] }] }), {
      errorCode: 0,
      topics: [
        {
          name: 'orders',
          partitions: [
            { partitionIndex: 0, committedOffset: 42, committedLeaderEpoch: -1, metadata: 'from-a', errorCode: 0 },
            { partitionIndex: 1, committedOffset: 7, committedLeaderEpoch: -1, metadata: '', errorCode: 0 },
            { partitionIndex: 2, committedOffset: -1, committedLeaderEpoch: -1, metadata: '', errorCode: 0 },
          ],
        },
        { name: 'audit', partitions: [{ partitionIndex: 3, committedOffset: -1, committedLeaderEpoch: -1, metadata: '', errorCode: 0 }] },
      ],
    });
    assert.deepEqual(reopened.gc.offsetFetch({ groupId: 'g', topics: null }).topics.map((t) => [t.name, t.partitions.map((p) => [p.partitionIndex, p.committedOffset])]), [['orders', [[0, 42], [1, 7]]]]);
    assert.deepEqual(reopened.gc.offsetFetch({ groupId: 'tool', topics: null }).topics[0]?.partitions[0]?.committedOffset, 5);
    assert.deepEqual(reopened.gc.offsetFetch({ groupId: 'never', topics: null }), { errorCode: 0, topics: [] });
    await reopened.gc.close();
    reopened.store.close();
  });

  test('commits are checked against the generation and the rebalance', async () => {
    const env = setup();
    const { ids } = await formGroup(env, ['a', 'b']);
    const commit = (over: { generationIdOrMemberEpoch?: number; memberId?: string; groupId?: string }) =>
      env.gc.offsetCommit({ groupId: 'g', topics: [{ name: 't', partitions: [{ partitionIndex: 0, committedOffset: 1, committedMetadata: null }] }], ...over }).then((r) => r.topics[0]?.partitions[0]?.errorCode);
    assert.equal(await commit({ generationIdOrMemberEpoch: 2, memberId: ids.a }), KafkaErrorCode.ILLEGAL_GENERATION);
    assert.equal(await commit({ generationIdOrMemberEpoch: 1, memberId: 'stranger' }), KafkaErrorCode.UNKNOWN_MEMBER_ID);
    assert.equal(await commit({}), KafkaErrorCode.UNKNOWN_MEMBER_ID, 'an active group takes commits from its members only');
    assert.equal(await commit({ groupId: 'nope', generationIdOrMemberEpoch: 3, memberId: 'm' }), KafkaErrorCode.ILLEGAL_GENERATION);

    // During PreparingRebalance members may still commit what they consumed.
    void join(env, 'c');
    assert.equal(await commit({ generationIdOrMemberEpoch: 1, memberId: ids.b }), KafkaErrorCode.NONE);
    const rejoins = [track(join(env, 'a', ids.a)), track(join(env, 'b', ids.b))];
    await flush();
    assert.equal(rejoins[0]!.value?.generationId, 2);
    // Between JoinGroup and the assignments, they may not.
    assert.equal(await commit({ generationIdOrMemberEpoch: 2, memberId: ids.b }), KafkaErrorCode.REBALANCE_IN_PROGRESS);
    await env.gc.close();
  });
});

describe('listing and describing', () => {
  test('DescribeGroups and ListGroups show each state, members and offset-only groups', async () => {
    const env = setup();
    await env.gc.offsetCommit({ groupId: 'tool', topics: [{ name: 't', partitions: [{ partitionIndex: 0, committedOffset: 1, committedMetadata: null }] }] });
    const a = track(join(env, 'a'));
    assert.equal(env.gc.describeGroups({ groups: ['g'] }).groups[0]?.groupState, 'PreparingRebalance');
    env.clock.advance(INITIAL_DELAY);
    await flush();
    await env.gc.syncGroup({ groupId: 'g', generationId: 1, memberId: a.value!.memberId, assignments: [{ memberId: a.value!.memberId, assignment: bytes('p0') }] });

    const [g, tool, unknown] = env.gc.describeGroups({ groups: ['g', 'tool', 'unknown'] }).groups;
    assert.deepEqual({ ...g, members: g?.members.map((m) => ({ ...m, memberMetadata: text(m.memberMetadata), memberAssignment: text(m.memberAssignment) })) }, {
      errorCode: 0,
      groupId: 'g',
      groupState: 'Stable',
      protocolType: 'consumer',
      protocolData: 'range',
      members: [{ memberId: a.value!.memberId, groupInstanceId: null, clientId: 'a', clientHost: '/10.0.0.97', memberMetadata: 'subscription-a', memberAssignment: 'p0' }],
      authorizedOperations: -2147483648,
    });
    assert.deepEqual([tool?.errorCode, tool?.groupState, tool?.members], [0, 'Empty', []]);
    assert.deepEqual([unknown?.errorCode, unknown?.groupState], [0, 'Dead']);

    assert.deepEqual(env.gc.listGroups().groups, [
      { groupId: 'g', protocolType: 'consumer', groupState: 'Stable', groupType: 'classic' },
      { groupId: 'tool', protocolType: '', groupState: 'Empty', groupType: 'classic' },
    ]);
    assert.deepEqual(env.gc.listGroups({ statesFilter: ['stable'] }).groups.map((x) => x.groupId), ['g']);
    assert.deepEqual(env.gc.listGroups({ typesFilter: ['consumer'] }).groups, []);
    await env.gc.close();
  });
});

describe('close', () => {
  test('close() answers held requests with COORDINATOR_NOT_AVAILABLE, stops every timer, and refuses what follows', async () => {
    const env = setup();
    const joins = ['a', 'b'].map((c) => track(join(env, c)));
    env.clock.advance(10 * INITIAL_DELAY);
    await flush();
    const heldSync = track(env.gc.syncGroup({ groupId: 'g', generationId: 1, memberId: joins[1]!.value!.memberId, assignments: [] }));
    const heldJoin = track(env.gc.joinGroup({ ...joinRequest('c'), groupId: 'other' }, { clientId: 'c', clientHost: 'h', requireKnownMemberId: false }));
    await flush();
    assert.ok(held(heldSync));
    assert.ok(held(heldJoin));
    await env.gc.close();
    assert.equal(heldSync.value?.errorCode, KafkaErrorCode.COORDINATOR_NOT_AVAILABLE);
    assert.equal(heldJoin.value?.errorCode, KafkaErrorCode.COORDINATOR_NOT_AVAILABLE);
    assert.equal(env.clock.pendingTimers, 0);
    assert.equal((await join(env, 'd')).errorCode, KafkaErrorCode.COORDINATOR_NOT_AVAILABLE);
    assert.equal(heartbeat(env, joins[0]!.value!.memberId, 1), KafkaErrorCode.COORDINATOR_NOT_AVAILABLE);
    assert.equal(env.gc.listGroups().errorCode, KafkaErrorCode.COORDINATOR_NOT_AVAILABLE);
  });
});
