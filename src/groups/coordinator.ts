// The consumer-group coordinator: Kafka's classic group protocol with eager rebalancing,
// independent of any transport. The Kafka listener's JoinGroup, SyncGroup, Heartbeat,
// LeaveGroup, OffsetCommit, OffsetFetch, ListGroups, DescribeGroups, DeleteGroups and
// OffsetDelete handlers each call one method with the decoded request and encode what it returns (messages.ts).
//
// Lifecycle of a group (states in group.ts):
// - The first JoinGroup creates it. From Empty, a rebalance first waits the initial delay
//   (extended while new members keep arriving, never past the rebalance timeout) so that a
//   group starting up forms in one generation.
// - PreparingRebalance holds every JoinGroup until all known members have rejoined, or the
//   rebalance timeout (the largest any member gave) passes; members that did not rejoin are
//   then removed. The next generation is chosen, the leader is answered with every member's
//   metadata and the followers with none.
// - CompletingRebalance holds SyncGroups until the leader's arrives with the assignments,
//   then everyone gets theirs and the group is Stable. A member that sends no SyncGroup within
//   the rebalance timeout is removed and the group rebalances.
// - Members learn of a rebalance from Heartbeat (REBALANCE_IN_PROGRESS) and rejoin. A member
//   silent for its session timeout is removed; so is a handed-out member id left unused.
// - A group left with no member and no pending member id is forgotten (Dead). Its committed
//   offsets stay in the OffsetStore, and a group known only from them reads as Empty.
//
// Group membership lives in memory only (as in Kafka it would be rebuilt from the offsets
// topic; here members simply rejoin after a restart). Committed offsets are durable: an
// OffsetCommit is answered once the OffsetStore has synced them.
//
// Everything runs on the event loop: no request interleaves with another except at the
// OffsetStore's await, and state is validated before it.
import { z } from 'zod';
import { randomUUID } from 'node:crypto';
import { BulwarkError } from '../lib/index.ts';
import type { OffsetStore } from '../log/index.ts';
import { KafkaErrorCode } from '../kafka/index.ts';
import { realClock, type Clock } from '../lib/index.ts';
import { ClassicGroup, GroupState, sameProtocols, type GroupMember } from './group.ts';
import type {
  DeleteGroupsResult,
  DescribedGroup,
  DescribeGroupsRequest,
  DescribeGroupsResponse,
  HeartbeatRequest,
  HeartbeatResponse,
  JoinGroupContext,
  JoinGroupRequest,
  JoinGroupResponse,
  LeaveGroupRequest,
  LeaveGroupResponse,
  ListGroupsRequest,
  ListGroupsResponse,
  OffsetCommitRequest,
  OffsetCommitResponse,
  OffsetDeleteRequest,
  OffsetDeleteResponse,
  OffsetFetchRequest,
  OffsetFetchResponse,
  OffsetFetchResponsePartition,
  SyncGroupRequest,
  SyncGroupResponse,
} from './messages.ts';

/** Kafka bounds group ids only by the string encoding; this broker bounds them like topic names. */
export const MAX_GROUP_ID_LENGTH = 249;

/** What the coordinator needs of the offset store (OffsetStore from src/log implements it). */
export type GroupOffsetStore = Pick<OffsetStore, 'commit' | 'get' | 'forGroup' | 'groups'>;

const INT32_MAX = 2 ** 31 - 1;

export const groupCoordinatorOptionsSchema = z
  .strictObject({
    /** group.initial.rebalance.delay.ms */
    initialRebalanceDelayMs: z.number().int().min(0).max(300_000).default(3000),
    /** group.min.session.timeout.ms */
    minSessionTimeoutMs: z.number().int().min(1).max(INT32_MAX).default(6000),
    /** group.max.session.timeout.ms */
    maxSessionTimeoutMs: z.number().int().min(1).max(INT32_MAX).default(1_800_000),
    /** How long a new member's first JoinGroup may wait before it is dropped (Kafka: 5 minutes, fixed). */
    newMemberJoinTimeoutMs: z.number().int().min(1).max(INT32_MAX).default(300_000),
    /** Groups with members (or member ids handed out) at once; a new group beyond it gets COORDINATOR_NOT_AVAILABLE. */
    maxGroups: z.number().int().min(1).default(10_000),
    /** group.max.size (Kafka's default is unbounded); pending member ids are capped by it too. */
    maxMembersPerGroup: z.number().int().min(1).default(1000),
    /** offset.metadata.max.bytes (Kafka compares the string's length, as here). Bounded so an entry fits the OffsetStore's 64 KiB. */
    maxOffsetMetadataLength: z.number().int().min(0).max(8192).default(4096),
  })
  .refine((o) => o.minSessionTimeoutMs <= o.maxSessionTimeoutMs, { message: 'must not exceed maxSessionTimeoutMs', path: ['minSessionTimeoutMs'] });

export type GroupCoordinatorConfig = z.output<typeof groupCoordinatorOptionsSchema>;

export type GroupCoordinatorOptions = z.input<typeof groupCoordinatorOptionsSchema> & {
  clock?: Clock;
  /** Source of the random part of member ids. */
  randomUUID?: () => string;
};

const EMPTY = Buffer.alloc(0);
const NO_AUTHORIZED_OPERATIONS = -2147483648;

const joinError = (memberId: string, errorCode: number): JoinGroupResponse => ({
  errorCode,
  generationId: -1,
  protocolType: null,
  protocolName: '',
  leader: '',
  skipAssignment: false,
  memberId,
  members: [],
});

const syncError = (errorCode: number): SyncGroupResponse => ({ errorCode, protocolType: null, protocolName: null, assignment: EMPTY });

const describedError = (groupId: string, errorCode: number, groupState = ''): DescribedGroup => ({
  errorCode,
  groupId,
  groupState,
  protocolType: '',
  protocolData: '',
  members: [],
  authorizedOperations: NO_AUTHORIZED_OPERATIONS,
});

const validGroupId = (groupId: string) => groupId.length > 0 && groupId.length <= MAX_GROUP_ID_LENGTH;

/** Request bytes may be views into a connection's buffer; anything kept past the request is copied. */
const copy = (bytes: Buffer): Buffer => Buffer.from(bytes);

export class GroupCoordinator {
  readonly config: GroupCoordinatorConfig;
  readonly #offsets: GroupOffsetStore;
  readonly #clock: Clock;
  readonly #randomUUID: () => string;
  readonly #groups = new Map<string, ClassicGroup>();
  readonly #commitsInFlight = new Set<Promise<unknown>>();
  #closing: Promise<void> | undefined;

  constructor(offsets: GroupOffsetStore, options: GroupCoordinatorOptions = {}) {
    const { clock, randomUUID: uuid, ...rest } = options;
    const parsed = groupCoordinatorOptionsSchema.safeParse(rest);
    if (!parsed.success) {
      const detail = parsed.error.issues
        .map((i) => (i.code === 'unrecognized_keys' ? `unknown key groups.${i.keys.join(', groups.')}` : `groups.${i.path.join('.')}: ${i.message}`))
        .join('; ');
      throw new BulwarkError('BWK_ERR_CONFIG_INVALID', { detail });
    }
    this.config = parsed.data;
    this.#offsets = offsets;
    this.#clock = clock ?? realClock;
    this.#randomUUID = uuid ?? randomUUID;
  }

  get #closed(): boolean {
    return this.#closing !== undefined;
  }

  // ---- JoinGroup -------------------------------------------------------------------------

  /** Resolves when the member is part of a new generation, or at once with an error or MEMBER_ID_REQUIRED. */
  joinGroup(request: JoinGroupRequest, context: JoinGroupContext): Promise<JoinGroupResponse> {
    return new Promise((respond) => this.#join(request, context, respond));
  }

  #join(request: JoinGroupRequest, context: JoinGroupContext, respond: (r: JoinGroupResponse) => void): void {
    const { groupId, memberId, sessionTimeoutMs } = request;
    if (this.#closed) return respond(joinError(memberId, KafkaErrorCode.COORDINATOR_NOT_AVAILABLE));
    if (!validGroupId(groupId)) return respond(joinError(memberId, KafkaErrorCode.INVALID_GROUP_ID));
    if (sessionTimeoutMs < this.config.minSessionTimeoutMs || sessionTimeoutMs > this.config.maxSessionTimeoutMs) {
      return respond(joinError(memberId, KafkaErrorCode.INVALID_SESSION_TIMEOUT));
    }
    const isNewMember = memberId === '';
    let group = this.#groups.get(groupId);
    if (!group) {
      // A member id names a member of an existing group; only a new member creates one.
      if (!isNewMember) return respond(joinError(memberId, KafkaErrorCode.UNKNOWN_MEMBER_ID));
      if (this.#groups.size >= this.config.maxGroups) return respond(joinError(memberId, KafkaErrorCode.COORDINATOR_NOT_AVAILABLE));
      group = new ClassicGroup(groupId);
      this.#groups.set(groupId, group);
    }
    try {
      if (!this.#acceptsJoiningMember(group, memberId)) {
        const member = group.get(memberId);
        if (member) this.#removeMember(group, member);
        else this.#forgetPendingMember(group, memberId);
        return respond(joinError('', KafkaErrorCode.GROUP_MAX_SIZE_REACHED));
      }
      if (isNewMember) this.#joinNewMember(group, request, context, respond);
      else this.#joinKnownMember(group, request, context, respond);
      if (group.is(GroupState.PreparingRebalance)) this.#tryCompleteJoin(group);
    } finally {
      this.#forgetIfUnused(group);
    }
  }

  /** Kafka's group.max.size rule: while rebalancing, count those already rejoined, so the last to rejoin are the ones turned away. */
  #acceptsJoiningMember(group: ClassicGroup, memberId: string): boolean {
    const max = this.config.maxMembersPerGroup;
    const member = group.get(memberId);
    switch (group.state) {
      case GroupState.Empty:
      case GroupState.Dead:
        return true;
      case GroupState.PreparingRebalance:
        return member?.awaitingJoin !== undefined || [...group.members.values()].filter((m) => m.awaitingJoin).length < max;
      case GroupState.CompletingRebalance:
      case GroupState.Stable:
        return member !== undefined || group.size < max;
    }
  }

  #joinNewMember(group: ClassicGroup, request: JoinGroupRequest, context: JoinGroupContext, respond: (r: JoinGroupResponse) => void): void {
    if (!group.supportsProtocols(request.protocolType, request.protocols)) return respond(joinError('', KafkaErrorCode.INCONSISTENT_GROUP_PROTOCOL));
    const instanceId = request.groupInstanceId ?? null;
    const newMemberId = `${instanceId ?? context.clientId}-${this.#randomUUID()}`;
    if (instanceId !== null) {
      const previous = group.staticMembers.get(instanceId);
      if (previous !== undefined) return this.#replaceStaticMember(group, previous, newMemberId, request, respond);
    } else if (context.requireKnownMemberId) {
      if (group.pendingMembers.size >= this.config.maxMembersPerGroup) return respond(joinError('', KafkaErrorCode.GROUP_MAX_SIZE_REACHED));
      const timer = this.#clock.setTimeout(() => this.#expirePendingMember(group, newMemberId), request.sessionTimeoutMs);
      group.pendingMembers.set(newMemberId, timer);
      return respond(joinError(newMemberId, KafkaErrorCode.MEMBER_ID_REQUIRED));
    }
    this.#addMemberAndRebalance(group, newMemberId, request, context, respond);
  }

  #joinKnownMember(group: ClassicGroup, request: JoinGroupRequest, context: JoinGroupContext, respond: (r: JoinGroupResponse) => void): void {
    const { memberId, protocols } = request;
    if (!group.supportsProtocols(request.protocolType, protocols)) return respond(joinError(memberId, KafkaErrorCode.INCONSISTENT_GROUP_PROTOCOL));
    const pendingTimer = group.pendingMembers.get(memberId);
    if (pendingTimer !== undefined) {
      // The second JoinGroup of a v4+ member: the id it was given makes it a member now.
      // Handed-out ids are for dynamic members only; static ones never get MEMBER_ID_REQUIRED.
      if ((request.groupInstanceId ?? null) !== null) return respond(joinError(memberId, KafkaErrorCode.INVALID_REQUEST));
      this.#clock.clearTimeout(pendingTimer);
      group.pendingMembers.delete(memberId);
      return this.#addMemberAndRebalance(group, memberId, request, context, respond);
    }
    const invalid = this.#validateMember(group, memberId, request.groupInstanceId);
    if (invalid !== undefined) return respond(joinError(memberId, invalid));
    const member = group.get(memberId)!;
    switch (group.state) {
      case GroupState.PreparingRebalance:
        return this.#updateMemberAndRebalance(group, member, request, respond);
      case GroupState.CompletingRebalance:
        // The same join again (its answer was probably lost): answer with this generation.
        if (sameProtocols(member.protocols, protocols)) return respond(group.joinResponse(member));
        return this.#updateMemberAndRebalance(group, member, request, respond);
      case GroupState.Stable:
        // A leader's rejoin always rebalances: it is how it reacts to changes only it sees (topic metadata).
        if (group.isLeader(memberId) || !sameProtocols(member.protocols, protocols)) return this.#updateMemberAndRebalance(group, member, request, respond);
        return respond(group.joinResponse(member));
      case GroupState.Empty:
      case GroupState.Dead:
        return respond(joinError(memberId, KafkaErrorCode.UNKNOWN_MEMBER_ID));
    }
  }

  #addMemberAndRebalance(group: ClassicGroup, memberId: string, request: JoinGroupRequest, context: JoinGroupContext, respond: (r: JoinGroupResponse) => void): void {
    const member: GroupMember = {
      memberId,
      groupInstanceId: request.groupInstanceId ?? null,
      clientId: context.clientId,
      clientHost: context.clientHost,
      protocolType: request.protocolType,
      protocols: request.protocols.map((p) => ({ name: p.name, metadata: copy(p.metadata) })),
      rebalanceTimeoutMs: rebalanceTimeoutOf(request),
      sessionTimeoutMs: request.sessionTimeoutMs,
      assignment: EMPTY,
      isNew: true,
      awaitingJoin: respond,
      awaitingSync: undefined,
      sessionTimer: undefined,
    };
    if (group.inInitialDelay) group.newMemberAdded = true;
    group.add(member);
    // A new member cannot heartbeat before its first answer, so it gets a longer deadline.
    this.#armSession(group, member, this.config.newMemberJoinTimeoutMs);
    this.#maybePrepareRebalance(group);
  }

  #updateMemberAndRebalance(group: ClassicGroup, member: GroupMember, request: JoinGroupRequest, respond: (r: JoinGroupResponse) => void): void {
    this.#setAwaitingJoin(member, respond);
    member.protocols = request.protocols.map((p) => ({ name: p.name, metadata: copy(p.metadata) }));
    member.rebalanceTimeoutMs = rebalanceTimeoutOf(request);
    member.sessionTimeoutMs = request.sessionTimeoutMs;
    this.#maybePrepareRebalance(group);
  }

  /**
   * A static member restarted: it keeps its place under the new member id, and whoever still
   * uses the old id is fenced. Unlike Kafka, this always rebalances (Kafka skips it when the
   * group is Stable and the selected protocol would not change).
   */
  #replaceStaticMember(group: ClassicGroup, oldId: string, newId: string, request: JoinGroupRequest, respond: (r: JoinGroupResponse) => void): void {
    const old = group.get(oldId)!;
    old.awaitingJoin?.(joinError(oldId, KafkaErrorCode.FENCED_INSTANCE_ID));
    old.awaitingJoin = undefined;
    old.awaitingSync?.(syncError(KafkaErrorCode.FENCED_INSTANCE_ID));
    old.awaitingSync = undefined;
    const member = group.renameMember(oldId, newId);
    this.#armSession(group, member, member.sessionTimeoutMs);
    this.#updateMemberAndRebalance(group, member, request, respond);
  }

  /** A member's newer JoinGroup replaces a held one; the old is told to rejoin rather than left hanging. */
  #setAwaitingJoin(member: GroupMember, respond: (r: JoinGroupResponse) => void): void {
    member.awaitingJoin?.(joinError(member.memberId, KafkaErrorCode.REBALANCE_IN_PROGRESS));
    member.awaitingJoin = respond;
  }

  #maybePrepareRebalance(group: ClassicGroup): void {
    if (group.canRebalance()) this.#prepareRebalance(group);
  }

  #prepareRebalance(group: ClassicGroup): void {
    // Members waiting for assignments will not get them: they must rejoin.
    if (group.is(GroupState.CompletingRebalance)) this.#propagateAssignments(group, KafkaErrorCode.REBALANCE_IN_PROGRESS);
    this.#clearTimer(group, 'syncTimer');
    group.pendingSync.clear();
    const fromEmpty = group.is(GroupState.Empty);
    group.transitionTo(GroupState.PreparingRebalance);
    if (fromEmpty) {
      const delay = this.config.initialRebalanceDelayMs;
      group.inInitialDelay = true;
      group.newMemberAdded = false;
      this.#setJoinTimer(group, delay, Math.max(group.rebalanceTimeoutMs() - delay, 0));
    } else {
      group.joinTimer = this.#clock.setTimeout(() => this.#completeJoin(group), group.rebalanceTimeoutMs());
      this.#tryCompleteJoin(group);
    }
  }

  /** The initial delay: waits again while new members keep arriving, until `remainingMs` of the rebalance timeout is used up. */
  #setJoinTimer(group: ClassicGroup, delayMs: number, remainingMs: number): void {
    group.joinTimer = this.#clock.setTimeout(() => {
      group.joinTimer = undefined;
      if (group.newMemberAdded && remainingMs > 0) {
        group.newMemberAdded = false;
        const next = Math.min(this.config.initialRebalanceDelayMs, remainingMs);
        this.#setJoinTimer(group, next, remainingMs - next);
      } else {
        this.#completeJoin(group);
      }
    }, delayMs);
  }

  #tryCompleteJoin(group: ClassicGroup): void {
    if (group.is(GroupState.PreparingRebalance) && !group.inInitialDelay && group.hasAllMembersJoined()) this.#completeJoin(group);
  }

  #completeJoin(group: ClassicGroup): void {
    if (!group.is(GroupState.PreparingRebalance)) return;
    this.#clearTimer(group, 'joinTimer');
    group.inInitialDelay = false;
    group.newMemberAdded = false;
    // Dynamic members that did not rejoin in time are gone; static ones keep their place until their session ends.
    for (const member of [...group.members.values()]) {
      if (!member.awaitingJoin && member.groupInstanceId === null) this.#dropMember(group, member);
    }
    if (!group.electJoinedLeader() && group.size > 0) {
      // Only static members remain and none rejoined: wait again, their sessions will decide.
      group.joinTimer = this.#clock.setTimeout(() => this.#completeJoin(group), group.rebalanceTimeoutMs());
      return;
    }
    group.initNextGeneration();
    if (group.is(GroupState.Empty)) return this.#forgetIfUnused(group);
    for (const member of group.members.values()) {
      const respond = member.awaitingJoin;
      member.awaitingJoin = undefined;
      respond?.(group.joinResponse(member));
      member.isNew = false;
      this.#armSession(group, member, member.sessionTimeoutMs);
      group.pendingSync.add(member.memberId);
    }
    const generation = group.generationId;
    group.syncTimer = this.#clock.setTimeout(() => this.#expirePendingSync(group, generation), group.rebalanceTimeoutMs());
  }

  // ---- SyncGroup -------------------------------------------------------------------------

  /** Resolves with the member's assignment once the leader has sent them (at once when Stable or on error). */
  syncGroup(request: SyncGroupRequest): Promise<SyncGroupResponse> {
    return new Promise((respond) => this.#sync(request, respond));
  }

  #sync(request: SyncGroupRequest, respond: (r: SyncGroupResponse) => void): void {
    const { groupId, memberId, generationId } = request;
    if (this.#closed) return respond(syncError(KafkaErrorCode.COORDINATOR_NOT_AVAILABLE));
    if (!validGroupId(groupId)) return respond(syncError(KafkaErrorCode.INVALID_GROUP_ID));
    const group = this.#groups.get(groupId);
    if (!group) return respond(syncError(KafkaErrorCode.UNKNOWN_MEMBER_ID));
    const invalid = this.#validateMember(group, memberId, request.groupInstanceId) ?? this.#validateGeneration(group, generationId);
    if (invalid !== undefined) return respond(syncError(invalid));
    if ((request.protocolType != null && request.protocolType !== group.protocolType) || (request.protocolName != null && request.protocolName !== group.protocolName)) {
      return respond(syncError(KafkaErrorCode.INCONSISTENT_GROUP_PROTOCOL));
    }
    const member = group.get(memberId)!;
    switch (group.state) {
      case GroupState.Empty:
      case GroupState.Dead:
        return respond(syncError(KafkaErrorCode.UNKNOWN_MEMBER_ID));
      case GroupState.PreparingRebalance:
        return respond(syncError(KafkaErrorCode.REBALANCE_IN_PROGRESS));
      case GroupState.CompletingRebalance: {
        member.awaitingSync?.(syncError(KafkaErrorCode.REBALANCE_IN_PROGRESS));
        member.awaitingSync = respond;
        this.#syncReceived(group, memberId);
        if (group.isLeader(memberId)) {
          // Members the leader left out get an empty assignment; ids it made up are ignored.
          const given = new Map(request.assignments.map((a) => [a.memberId, a.assignment]));
          for (const m of group.members.values()) {
            const assignment = given.get(m.memberId);
            m.assignment = assignment ? copy(assignment) : EMPTY;
          }
          this.#propagateAssignments(group, KafkaErrorCode.NONE);
          group.transitionTo(GroupState.Stable);
        }
        return;
      }
      case GroupState.Stable:
        this.#syncReceived(group, memberId);
        respond({ errorCode: KafkaErrorCode.NONE, protocolType: group.protocolType, protocolName: group.protocolName, assignment: member.assignment });
        return this.#armSession(group, member, member.sessionTimeoutMs);
    }
  }

  #syncReceived(group: ClassicGroup, memberId: string): void {
    group.pendingSync.delete(memberId);
    if (group.pendingSync.size === 0) this.#clearTimer(group, 'syncTimer');
  }

  /** Answers every held SyncGroup, with its assignment or with `errorCode`; each answered member's session starts afresh. */
  #propagateAssignments(group: ClassicGroup, errorCode: number): void {
    for (const member of group.members.values()) {
      if (errorCode !== KafkaErrorCode.NONE) member.assignment = EMPTY;
      const respond = member.awaitingSync;
      if (!respond) continue;
      member.awaitingSync = undefined;
      respond(
        errorCode === KafkaErrorCode.NONE
          ? { errorCode, protocolType: group.protocolType, protocolName: group.protocolName, assignment: member.assignment }
          : syncError(errorCode),
      );
      this.#armSession(group, member, member.sessionTimeoutMs);
    }
  }

  #expirePendingSync(group: ClassicGroup, generation: number): void {
    group.syncTimer = undefined;
    if (generation !== group.generationId || !(group.is(GroupState.CompletingRebalance) || group.is(GroupState.Stable))) return;
    if (group.pendingSync.size === 0) return;
    for (const memberId of [...group.pendingSync]) {
      const member = group.get(memberId);
      if (member) this.#dropMember(group, member);
    }
    this.#prepareRebalance(group);
  }

  // ---- Heartbeat -------------------------------------------------------------------------

  heartbeat(request: HeartbeatRequest): HeartbeatResponse {
    const { groupId, memberId } = request;
    if (this.#closed) return { errorCode: KafkaErrorCode.COORDINATOR_NOT_AVAILABLE };
    if (!validGroupId(groupId)) return { errorCode: KafkaErrorCode.INVALID_GROUP_ID };
    const group = this.#groups.get(groupId);
    if (!group) return { errorCode: KafkaErrorCode.UNKNOWN_MEMBER_ID };
    const invalid = this.#validateMember(group, memberId, request.groupInstanceId) ?? this.#validateGeneration(group, request.generationId);
    if (invalid !== undefined) return { errorCode: invalid };
    const member = group.get(memberId)!;
    switch (group.state) {
      case GroupState.Empty:
      case GroupState.Dead:
        return { errorCode: KafkaErrorCode.UNKNOWN_MEMBER_ID };
      case GroupState.PreparingRebalance:
        this.#armSession(group, member, member.sessionTimeoutMs);
        return { errorCode: KafkaErrorCode.REBALANCE_IN_PROGRESS };
      case GroupState.CompletingRebalance:
      case GroupState.Stable:
        this.#armSession(group, member, member.sessionTimeoutMs);
        return { errorCode: KafkaErrorCode.NONE };
    }
  }

  // ---- LeaveGroup ------------------------------------------------------------------------

  leaveGroup(request: LeaveGroupRequest): LeaveGroupResponse {
    const single = !request.members?.length && !!request.memberId;
    const leaving = single ? [{ memberId: request.memberId!, groupInstanceId: null }] : (request.members ?? []);
    if (this.#closed) return { errorCode: KafkaErrorCode.COORDINATOR_NOT_AVAILABLE, members: [] };
    if (!validGroupId(request.groupId)) return { errorCode: KafkaErrorCode.INVALID_GROUP_ID, members: [] };
    const group = this.#groups.get(request.groupId);
    const members = leaving.map(({ memberId, groupInstanceId = null }) => {
      const errorCode = group ? this.#leave(group, memberId, groupInstanceId) : KafkaErrorCode.UNKNOWN_MEMBER_ID;
      return { memberId, groupInstanceId, errorCode };
    });
    if (group) this.#forgetIfUnused(group);
    // v0–2 have no member list: the member's error is the response's.
    return { errorCode: single ? (members[0]?.errorCode ?? KafkaErrorCode.NONE) : KafkaErrorCode.NONE, members };
  }

  #leave(group: ClassicGroup, memberId: string, groupInstanceId: string | null): number {
    if (memberId === '') {
      // An administrator removes a static member by its instance id alone.
      const current = groupInstanceId === null ? undefined : group.staticMembers.get(groupInstanceId);
      if (current === undefined) return KafkaErrorCode.UNKNOWN_MEMBER_ID;
      this.#removeMember(group, group.get(current)!);
      return KafkaErrorCode.NONE;
    }
    if (group.pendingMembers.has(memberId)) {
      this.#forgetPendingMember(group, memberId);
      return KafkaErrorCode.NONE;
    }
    const invalid = this.#validateMember(group, memberId, groupInstanceId);
    if (invalid !== undefined) return invalid;
    this.#removeMember(group, group.get(memberId)!);
    return KafkaErrorCode.NONE;
  }

  // ---- OffsetCommit / OffsetFetch --------------------------------------------------------

  /** Resolves once the offsets are durable; each partition carries its own error code. */
  async offsetCommit(request: OffsetCommitRequest): Promise<OffsetCommitResponse> {
    const answer = (code: (p: OffsetCommitRequest['topics'][number]['partitions'][number]) => number): OffsetCommitResponse => ({
      topics: request.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: code(p) })) })),
    });
    const invalid = this.#validateOffsetCommit(request);
    if (invalid !== undefined) return answer(() => invalid);

    const tooLarge = (metadata: string | null) => metadata !== null && metadata.length > this.config.maxOffsetMetadataLength;
    const entries = request.topics.flatMap((t) =>
      t.partitions
        .filter((p) => !tooLarge(p.committedMetadata))
        .map((p) => ({ group: request.groupId, topic: t.name, partition: p.partitionIndex, offset: p.committedOffset, metadata: p.committedMetadata ?? '' })),
    );
    let stored: number = KafkaErrorCode.NONE;
    if (entries.length > 0) {
      const commit = this.#offsets.commit(entries, this.#clock.now());
      this.#commitsInFlight.add(commit);
      try {
        await commit;
      } catch {
        // Kafka answers a failed write of the offsets log with NOT_COORDINATOR: the client finds the coordinator again and retries.
        stored = KafkaErrorCode.NOT_COORDINATOR;
      } finally {
        this.#commitsInFlight.delete(commit);
      }
    }
    return answer((p) => (tooLarge(p.committedMetadata) ? KafkaErrorCode.OFFSET_METADATA_TOO_LARGE : stored));
  }

  /** Kafka's checks: members of an active group commit within their generation; anyone may commit for a group with no members. */
  #validateOffsetCommit(request: OffsetCommitRequest): number | undefined {
    if (this.#closed) return KafkaErrorCode.COORDINATOR_NOT_AVAILABLE;
    if (!validGroupId(request.groupId)) return KafkaErrorCode.INVALID_GROUP_ID;
    const generationId = request.generationIdOrMemberEpoch ?? -1;
    const memberId = request.memberId ?? '';
    const instanceId = request.groupInstanceId ?? null;
    const group = this.#groups.get(request.groupId);
    // No group in memory: a commit from outside group management, or from a generation that is over.
    if (!group) return generationId < 0 ? undefined : KafkaErrorCode.ILLEGAL_GENERATION;
    if (generationId < 0 && group.is(GroupState.Empty)) return undefined;
    if (generationId < 0 && memberId === '' && instanceId === null) return KafkaErrorCode.UNKNOWN_MEMBER_ID;
    const invalid = this.#validateMember(group, memberId, instanceId) ?? this.#validateGeneration(group, generationId);
    if (invalid !== undefined) return invalid;
    // The generation's assignments are not out yet: the member must finish the rebalance first.
    if (group.is(GroupState.CompletingRebalance)) return KafkaErrorCode.REBALANCE_IN_PROGRESS;
    // Stable, or PreparingRebalance: a member may still commit what it consumed before it rejoins.
    const member = group.get(memberId)!;
    this.#armSession(group, member, member.sessionTimeoutMs);
    return undefined;
  }

  /** Committed offsets, whatever the group's state: -1 for partitions with none. */
  offsetFetch(request: OffsetFetchRequest): OffsetFetchResponse {
    const error = this.#closed ? KafkaErrorCode.COORDINATOR_NOT_AVAILABLE : !validGroupId(request.groupId) ? KafkaErrorCode.INVALID_GROUP_ID : KafkaErrorCode.NONE;
    const partition = (partitionIndex: number, committedOffset: number, metadata: string | null, errorCode: number): OffsetFetchResponsePartition => ({
      partitionIndex,
      committedOffset,
      committedLeaderEpoch: -1,
      metadata,
      errorCode,
    });
    if (error !== KafkaErrorCode.NONE) {
      // v0–1 have no top-level error code, so each partition carries it too.
      return { errorCode: error, topics: (request.topics ?? []).map((t) => ({ name: t.name, partitions: t.partitionIndexes.map((i) => partition(i, -1, '', error)) })) };
    }
    if (request.topics === null) {
      const byTopic = new Map<string, OffsetFetchResponsePartition[]>();
      const committed = this.#offsets.forGroup(request.groupId).sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
      for (const c of committed) {
        let list = byTopic.get(c.topic);
        if (!list) byTopic.set(c.topic, (list = []));
        list.push(partition(c.partition, c.offset, c.metadata ?? '', KafkaErrorCode.NONE));
      }
      return { errorCode: KafkaErrorCode.NONE, topics: [...byTopic].map(([name, partitions]) => ({ name, partitions })) };
    }
    return {
      errorCode: KafkaErrorCode.NONE,
      topics: request.topics.map((t) => ({
        name: t.name,
        partitions: t.partitionIndexes.map((i) => {
          const c = this.#offsets.get(request.groupId, t.name, i);
          return c ? partition(i, c.offset, c.metadata ?? '', KafkaErrorCode.NONE) : partition(i, -1, '', KafkaErrorCode.NONE);
        }),
      })),
    };
  }

  // ---- DeleteGroups / OffsetDelete ------------------------------------------------------

  /**
   * Deletes groups with no members, and their committed offsets, as Kafka does: a group with
   * members is NON_EMPTY_GROUP, one nobody knows GROUP_ID_NOT_FOUND. Resolves once the
   * deletions are on disk.
   */
  async deleteGroups(groupIds: readonly string[]): Promise<DeleteGroupsResult[]> {
    const results: DeleteGroupsResult[] = [];
    const entries: { group: string; topic: string; partition: number; offset: number; metadata: string | null }[] = [];
    const deleted: DeleteGroupsResult[] = [];
    for (const groupId of groupIds) {
      const answer = (errorCode: number) => results.push({ groupId, errorCode });
      if (this.#closed) answer(KafkaErrorCode.COORDINATOR_NOT_AVAILABLE);
      else if (!validGroupId(groupId)) answer(KafkaErrorCode.INVALID_GROUP_ID);
      else {
        const group = this.#groups.get(groupId);
        const committed = this.#offsets.forGroup(groupId);
        if (group && !group.is(GroupState.Empty)) answer(KafkaErrorCode.NON_EMPTY_GROUP);
        else if (!group && committed.length === 0) answer(KafkaErrorCode.GROUP_ID_NOT_FOUND);
        else if (results.some((r) => r.groupId === groupId)) answer(KafkaErrorCode.GROUP_ID_NOT_FOUND);
        else {
          if (group) this.#forgetEmptyGroup(group);
          for (const c of committed) entries.push({ group: groupId, topic: c.topic, partition: c.partition, offset: -1, metadata: null });
          const result = { groupId, errorCode: KafkaErrorCode.NONE as number };
          results.push(result);
          deleted.push(result);
        }
      }
    }
    if (entries.length > 0 && !(await this.#deleteOffsets(entries))) for (const r of deleted) r.errorCode = KafkaErrorCode.NOT_COORDINATOR;
    return results;
  }

  /**
   * Deletes a group's committed offsets for some partitions. An Empty group (or one known only
   * by its offsets) loses them all; an active consumer group keeps those of topics a member is
   * subscribed to (GROUP_SUBSCRIBED_TO_TOPIC), and an active group of another protocol type
   * keeps everything (NON_EMPTY_GROUP), as in Kafka.
   */
  async offsetDelete(request: OffsetDeleteRequest): Promise<OffsetDeleteResponse> {
    const fail = (errorCode: number): OffsetDeleteResponse => ({ errorCode, topics: [] });
    if (this.#closed) return fail(KafkaErrorCode.COORDINATOR_NOT_AVAILABLE);
    if (!validGroupId(request.groupId)) return fail(KafkaErrorCode.INVALID_GROUP_ID);
    const group = this.#groups.get(request.groupId);
    if (!group && this.#offsets.forGroup(request.groupId).length === 0) return fail(KafkaErrorCode.GROUP_ID_NOT_FOUND);
    let subscribed: (topic: string) => boolean = () => false;
    if (group && !group.is(GroupState.Empty)) {
      if (group.protocolType !== 'consumer') return fail(KafkaErrorCode.NON_EMPTY_GROUP);
      const topics = subscribedTopics(group);
      // Metadata that cannot be read could name any topic: keep every offset (fail closed).
      subscribed = topics === undefined ? () => true : (topic) => topics.has(topic);
    }
    const entries: { group: string; topic: string; partition: number; offset: number; metadata: string | null }[] = [];
    const response: OffsetDeleteResponse = {
      errorCode: KafkaErrorCode.NONE,
      topics: request.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) => {
          if (subscribed(t.name)) return { partitionIndex: p.partitionIndex, errorCode: KafkaErrorCode.GROUP_SUBSCRIBED_TO_TOPIC };
          if (this.#offsets.get(request.groupId, t.name, p.partitionIndex)) entries.push({ group: request.groupId, topic: t.name, partition: p.partitionIndex, offset: -1, metadata: null });
          return { partitionIndex: p.partitionIndex, errorCode: KafkaErrorCode.NONE };
        }),
      })),
    };
    if (entries.length > 0 && !(await this.#deleteOffsets(entries))) return fail(KafkaErrorCode.NOT_COORDINATOR);
    return response;
  }

  /** Writes deletions (offset -1) to the OffsetStore; false if the write failed. */
  async #deleteOffsets(entries: { group: string; topic: string; partition: number; offset: number; metadata: string | null }[]): Promise<boolean> {
    const commit = this.#offsets.commit(entries, this.#clock.now());
    this.#commitsInFlight.add(commit);
    try {
      await commit;
      return true;
    } catch {
      return false;
    } finally {
      this.#commitsInFlight.delete(commit);
    }
  }

  /** An Empty group is dropped from memory, with the member ids it handed out and its timers. */
  #forgetEmptyGroup(group: ClassicGroup): void {
    for (const timer of group.pendingMembers.values()) this.#clock.clearTimeout(timer);
    group.pendingMembers.clear();
    this.#clearTimer(group, 'joinTimer');
    this.#clearTimer(group, 'syncTimer');
    group.transitionTo(GroupState.Dead);
    this.#groups.delete(group.groupId);
  }

  // ---- ListGroups / DescribeGroups -------------------------------------------------------

  /** Groups with members, and groups known only by their committed offsets (Empty). */
  listGroups(request: ListGroupsRequest = {}): ListGroupsResponse {
    if (this.#closed) return { errorCode: KafkaErrorCode.COORDINATOR_NOT_AVAILABLE, groups: [] };
    const states = new Set((request.statesFilter ?? []).map((s) => s.toLowerCase()));
    const types = new Set((request.typesFilter ?? []).map((t) => t.toLowerCase()));
    if (types.size > 0 && !types.has('classic')) return { errorCode: KafkaErrorCode.NONE, groups: [] };
    const all = new Map<string, { protocolType: string; groupState: string }>();
    for (const groupId of this.#offsets.groups()) all.set(groupId, { protocolType: '', groupState: GroupState.Empty });
    for (const g of this.#groups.values()) all.set(g.groupId, { protocolType: g.protocolType ?? '', groupState: g.state });
    const groups = [...all]
      .filter(([, g]) => states.size === 0 || states.has(g.groupState.toLowerCase()))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([groupId, g]) => ({ groupId, ...g, groupType: 'classic' }));
    return { errorCode: KafkaErrorCode.NONE, groups };
  }

  describeGroups(request: DescribeGroupsRequest): DescribeGroupsResponse {
    return {
      groups: request.groups.map((groupId) => {
        if (this.#closed) return describedError(groupId, KafkaErrorCode.COORDINATOR_NOT_AVAILABLE);
        if (!validGroupId(groupId)) return describedError(groupId, KafkaErrorCode.INVALID_GROUP_ID);
        const group = this.#groups.get(groupId);
        if (group) return group.describe();
        // Kafka answers an unknown group with the Dead state and no error.
        return describedError(groupId, KafkaErrorCode.NONE, this.#offsets.forGroup(groupId).length > 0 ? GroupState.Empty : GroupState.Dead);
      }),
    };
  }

  // ---- Shutdown --------------------------------------------------------------------------

  /** Stops every timer, answers held JoinGroup/SyncGroup requests with COORDINATOR_NOT_AVAILABLE, and waits for commits in flight. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    for (const group of this.#groups.values()) {
      for (const member of group.members.values()) {
        this.#clearSession(member);
        member.awaitingJoin?.(joinError(member.memberId, KafkaErrorCode.COORDINATOR_NOT_AVAILABLE));
        member.awaitingJoin = undefined;
        member.awaitingSync?.(syncError(KafkaErrorCode.COORDINATOR_NOT_AVAILABLE));
        member.awaitingSync = undefined;
      }
      for (const timer of group.pendingMembers.values()) this.#clock.clearTimeout(timer);
      group.pendingMembers.clear();
      this.#clearTimer(group, 'joinTimer');
      this.#clearTimer(group, 'syncTimer');
      group.transitionTo(GroupState.Dead);
    }
    this.#groups.clear();
    await Promise.allSettled([...this.#commitsInFlight]);
  }

  // ---- Members, sessions and timers ------------------------------------------------------

  /** The member exists, and a static member's instance id still maps to it. */
  #validateMember(group: ClassicGroup, memberId: string, groupInstanceId: string | null | undefined): number | undefined {
    if (group.is(GroupState.Dead)) return KafkaErrorCode.COORDINATOR_NOT_AVAILABLE;
    if (groupInstanceId != null) {
      const current = group.staticMembers.get(groupInstanceId);
      if (current === undefined) return KafkaErrorCode.UNKNOWN_MEMBER_ID;
      if (current !== memberId) return KafkaErrorCode.FENCED_INSTANCE_ID;
    }
    return group.get(memberId) ? undefined : KafkaErrorCode.UNKNOWN_MEMBER_ID;
  }

  #validateGeneration(group: ClassicGroup, generationId: number): number | undefined {
    return generationId === group.generationId ? undefined : KafkaErrorCode.ILLEGAL_GENERATION;
  }

  #armSession(group: ClassicGroup, member: GroupMember, timeoutMs: number): void {
    this.#clearSession(member);
    member.sessionTimer = this.#clock.setTimeout(() => this.#expireSession(group, member), timeoutMs);
  }

  #clearSession(member: GroupMember): void {
    if (member.sessionTimer !== undefined) this.#clock.clearTimeout(member.sessionTimer);
    member.sessionTimer = undefined;
  }

  #expireSession(group: ClassicGroup, member: GroupMember): void {
    member.sessionTimer = undefined;
    if (group.is(GroupState.Dead) || group.get(member.memberId) !== member) return;
    // A held JoinGroup or SyncGroup counts as a heartbeat (the rebalance and sync deadlines
    // bound those waits), except for a new member's first join, which has its own deadline.
    if (!member.isNew && (member.awaitingJoin || member.awaitingSync)) return;
    this.#removeMember(group, member);
    this.#forgetIfUnused(group);
  }

  #expirePendingMember(group: ClassicGroup, memberId: string): void {
    if (!group.pendingMembers.delete(memberId)) return;
    this.#tryCompleteJoin(group);
    this.#forgetIfUnused(group);
  }

  #forgetPendingMember(group: ClassicGroup, memberId: string): void {
    const timer = group.pendingMembers.get(memberId);
    if (timer === undefined) return;
    this.#clock.clearTimeout(timer);
    group.pendingMembers.delete(memberId);
    this.#tryCompleteJoin(group);
  }

  /** Takes a member out without touching the group's state: its held requests are answered UNKNOWN_MEMBER_ID. */
  #dropMember(group: ClassicGroup, member: GroupMember): void {
    this.#clearSession(member);
    member.awaitingJoin?.(joinError('', KafkaErrorCode.UNKNOWN_MEMBER_ID));
    member.awaitingJoin = undefined;
    member.awaitingSync?.(syncError(KafkaErrorCode.UNKNOWN_MEMBER_ID));
    member.awaitingSync = undefined;
    group.remove(member.memberId);
  }

  /** A member leaves (LeaveGroup, session end, group full): the others rebalance, or the rebalance under way may now finish. */
  #removeMember(group: ClassicGroup, member: GroupMember): void {
    this.#dropMember(group, member);
    if (group.is(GroupState.Stable) || group.is(GroupState.CompletingRebalance)) this.#maybePrepareRebalance(group);
    else if (group.is(GroupState.PreparingRebalance)) this.#tryCompleteJoin(group);
  }

  /** A group with no member and no pending member id has nothing left in memory worth keeping. */
  #forgetIfUnused(group: ClassicGroup): void {
    if (!group.is(GroupState.Empty) || group.size > 0 || group.pendingMembers.size > 0) return;
    this.#clearTimer(group, 'joinTimer');
    this.#clearTimer(group, 'syncTimer');
    group.transitionTo(GroupState.Dead);
    if (this.#groups.get(group.groupId) === group) this.#groups.delete(group.groupId);
  }

  #clearTimer(group: ClassicGroup, which: 'joinTimer' | 'syncTimer'): void {
    const timer = group[which];
    if (timer !== undefined) this.#clock.clearTimeout(timer);
    group[which] = undefined;
  }
}

/** JoinGroup v0 has no rebalance timeout, and -1 stands for none: the session timeout serves. Capped at int32, as timers need. */
function rebalanceTimeoutOf(request: JoinGroupRequest): number {
  const t = request.rebalanceTimeoutMs;
  return t === undefined || t < 0 ? request.sessionTimeoutMs : Math.min(t, INT32_MAX);
}

/**
 * The topics an active consumer group's members subscribe to, from their metadata for the
 * selected protocol (ConsumerProtocolSubscription: version int16, then topics as an int32
 * count of int16-length strings, in every version). Undefined when any of it cannot be read.
 */
function subscribedTopics(group: ClassicGroup): Set<string> | undefined {
  const topics = new Set<string>();
  for (const member of group.members.values()) {
    const metadata = group.protocolName === null ? undefined : member.protocols.find((p) => p.name === group.protocolName)?.metadata;
    if (metadata === undefined || metadata.length < 6) return undefined;
    const count = metadata.readInt32BE(2);
    if (count < 0) return undefined;
    let pos = 6;
    for (let i = 0; i < count; i++) {
      if (pos + 2 > metadata.length) return undefined;
      const length = metadata.readInt16BE(pos);
      pos += 2;
      if (length < 0 || pos + length > metadata.length) return undefined;
      topics.add(metadata.toString('utf8', pos, pos + length));
      pos += length;
    }
  }
  return topics;
}
