// One consumer group of Kafka's classic protocol: its members, state, generation, leader and
// selected protocol. This is bookkeeping only; the coordinator (coordinator.ts) decides when
// to move between states, answers requests and owns the timers stored here.
//
// States and the transitions allowed into each (Kafka's GroupState):
//   Empty               ← PreparingRebalance (the rebalance ended with no member)
//   PreparingRebalance  ← Empty, CompletingRebalance, Stable (members are (re)joining)
//   CompletingRebalance ← PreparingRebalance (joined; waiting for the leader's SyncGroup)
//   Stable              ← CompletingRebalance (assignments handed out)
//   Dead                ← any (the group is gone from the coordinator)
import assert from 'node:assert/strict';
import type { TimerHandle } from '../lib/index.ts';
import type { DescribedGroup, JoinGroupProtocol, JoinGroupResponse, JoinGroupResponseMember, SyncGroupResponse } from './messages.ts';

export const GroupState = {
  Empty: 'Empty',
  PreparingRebalance: 'PreparingRebalance',
  CompletingRebalance: 'CompletingRebalance',
  Stable: 'Stable',
  Dead: 'Dead',
} as const;
export type GroupState = (typeof GroupState)[keyof typeof GroupState];

const validPreviousStates: Record<GroupState, readonly GroupState[]> = {
  Empty: ['PreparingRebalance'],
  PreparingRebalance: ['Empty', 'CompletingRebalance', 'Stable'],
  CompletingRebalance: ['PreparingRebalance'],
  Stable: ['CompletingRebalance'],
  Dead: ['Empty', 'PreparingRebalance', 'CompletingRebalance', 'Stable', 'Dead'],
};

const EMPTY = Buffer.alloc(0);

export interface GroupMember {
  memberId: string;
  readonly groupInstanceId: string | null;
  readonly clientId: string;
  readonly clientHost: string;
  readonly protocolType: string;
  /** In the member's order of preference. */
  protocols: readonly JoinGroupProtocol[];
  rebalanceTimeoutMs: number;
  sessionTimeoutMs: number;
  assignment: Buffer;
  /** Joined but not yet through a first rebalance: subject to the new-member join timeout, not the session timeout. */
  isNew: boolean;
  /** The held JoinGroup, if any. */
  awaitingJoin: ((response: JoinGroupResponse) => void) | undefined;
  /** The held SyncGroup, if any. */
  awaitingSync: ((response: SyncGroupResponse) => void) | undefined;
  sessionTimer: TimerHandle | undefined;
}

/** Same protocols, in the same order, with the same metadata: a rejoin that changes nothing. */
export function sameProtocols(a: readonly JoinGroupProtocol[], b: readonly JoinGroupProtocol[]): boolean {
  return a.length === b.length && a.every((p, i) => p.name === b[i]!.name && Buffer.from(p.metadata).equals(b[i]!.metadata));
}

/**
 * Kafka's choice of protocol: among the protocols every member supports, each member votes for
 * the first one in its own list, and the most votes win. Ties go to the protocol voted for
 * first, in member order (the first member is normally the leader).
 */
export function selectProtocol(members: readonly { protocols: readonly { name: string }[] }[]): string | undefined {
  const first = members[0];
  if (!first) return undefined;
  const candidates = new Set(first.protocols.map((p) => p.name).filter((name) => members.every((m) => m.protocols.some((p) => p.name === name))));
  const votes = new Map<string, number>();
  for (const m of members) {
    const vote = m.protocols.find((p) => candidates.has(p.name));
    if (vote) votes.set(vote.name, (votes.get(vote.name) ?? 0) + 1);
  }
  let best: string | undefined;
  for (const [name, count] of votes) if (best === undefined || count > votes.get(best)!) best = name;
  return best;
}

export class ClassicGroup {
  readonly groupId: string;
  #state: GroupState = GroupState.Empty;
  generationId = 0;
  protocolType: string | null = null;
  protocolName: string | null = null;
  #leaderId: string | undefined;
  /** In join order; the first is the leader's fallback. */
  readonly members = new Map<string, GroupMember>();
  /** group.instance.id → member id of static members. */
  readonly staticMembers = new Map<string, string>();
  /** Ids handed out with MEMBER_ID_REQUIRED and not yet used, each with its expiry timer. */
  readonly pendingMembers = new Map<string, TimerHandle>();
  /** Members given this generation's JoinGroup answer that have not sent SyncGroup yet. */
  readonly pendingSync = new Set<string>();
  /** PreparingRebalance's deadline (initial delay or rebalance timeout). */
  joinTimer: TimerHandle | undefined;
  /** CompletingRebalance/Stable: deadline for every member's SyncGroup. */
  syncTimer: TimerHandle | undefined;
  /** The rebalance started from Empty is still in its initial delay; it cannot finish early. */
  inInitialDelay = false;
  /** A member joined during the current initial delay, so the delay is extended once more. */
  newMemberAdded = false;

  constructor(groupId: string) {
    this.groupId = groupId;
  }

  get state(): GroupState {
    return this.#state;
  }

  get leaderId(): string | undefined {
    return this.#leaderId;
  }

  get size(): number {
    return this.members.size;
  }

  is(state: GroupState): boolean {
    return this.#state === state;
  }

  transitionTo(state: GroupState): void {
    assert.ok(validPreviousStates[state].includes(this.#state), `group ${this.groupId}: no transition from ${this.#state} to ${state}`);
    this.#state = state;
  }

  canRebalance(): boolean {
    return validPreviousStates.PreparingRebalance.includes(this.#state);
  }

  isLeader(memberId: string): boolean {
    return this.#leaderId === memberId;
  }

  get(memberId: string): GroupMember | undefined {
    return this.members.get(memberId);
  }

  /** Kafka's rule: an empty group takes any non-empty protocol set; otherwise the type must match and one protocol must be common to all. */
  supportsProtocols(protocolType: string, protocols: readonly JoinGroupProtocol[]): boolean {
    if (this.members.size === 0) return protocolType.length > 0 && protocols.length > 0;
    const all = [...this.members.values()];
    return this.protocolType === protocolType && protocols.some((p) => all.every((m) => m.protocols.some((q) => q.name === p.name)));
  }

  add(member: GroupMember): void {
    assert.ok(!this.members.has(member.memberId), `member ${member.memberId} is already in group ${this.groupId}`);
    if (this.members.size === 0) this.protocolType = member.protocolType;
    if (member.groupInstanceId !== null) this.staticMembers.set(member.groupInstanceId, member.memberId);
    this.#leaderId ??= member.memberId;
    this.members.set(member.memberId, member);
    this.pendingMembers.delete(member.memberId);
  }

  remove(memberId: string): GroupMember | undefined {
    const member = this.members.get(memberId);
    if (member) {
      this.members.delete(memberId);
      if (member.groupInstanceId !== null && this.staticMembers.get(member.groupInstanceId) === memberId) this.staticMembers.delete(member.groupInstanceId);
    }
    if (this.#leaderId === memberId) this.#leaderId = this.members.keys().next().value;
    this.pendingSync.delete(memberId);
    return member;
  }

  /** A static member came back under a new member id: the entry, its place and its leadership move to the new id. */
  renameMember(oldId: string, newId: string): GroupMember {
    const member = this.members.get(oldId);
    assert.ok(member && member.groupInstanceId !== null, `cannot rename ${oldId} in group ${this.groupId}`);
    const entries = [...this.members].map(([id, m]) => [id === oldId ? newId : id, m] as const);
    this.members.clear();
    for (const [id, m] of entries) this.members.set(id, m);
    member.memberId = newId;
    this.staticMembers.set(member.groupInstanceId, newId);
    if (this.#leaderId === oldId) this.#leaderId = newId;
    if (this.pendingSync.delete(oldId)) this.pendingSync.add(newId);
    return member;
  }

  /** Every member has a JoinGroup held and no handed-out member id is still unused. */
  hasAllMembersJoined(): boolean {
    for (const m of this.members.values()) if (!m.awaitingJoin) return false;
    return this.pendingMembers.size === 0;
  }

  /** How long a rebalance may wait for members: the largest any member asked for. */
  rebalanceTimeoutMs(): number {
    let max = 0;
    for (const m of this.members.values()) max = Math.max(max, m.rebalanceTimeoutMs);
    return max;
  }

  /** Keeps the leader if it rejoined, else picks a member that did; false if none did (or the group is empty). */
  electJoinedLeader(): boolean {
    const leader = this.#leaderId === undefined ? undefined : this.members.get(this.#leaderId);
    if (!leader) return false;
    if (leader.awaitingJoin) return true;
    for (const m of this.members.values()) {
      if (m.awaitingJoin) {
        this.#leaderId = m.memberId;
        return true;
      }
    }
    return false;
  }

  /** Ends PreparingRebalance: a new generation, with a protocol if anyone is left. */
  initNextGeneration(): void {
    this.generationId++;
    this.pendingSync.clear();
    if (this.members.size > 0) {
      this.protocolName = selectProtocol([...this.members.values()]) ?? null;
      assert.ok(this.protocolName !== null, `group ${this.groupId} has members but no common protocol`);
      this.transitionTo(GroupState.CompletingRebalance);
    } else {
      this.protocolName = null;
      this.transitionTo(GroupState.Empty);
    }
  }

  #metadataFor(member: GroupMember): Buffer {
    return member.protocols.find((p) => p.name === this.protocolName)?.metadata ?? EMPTY;
  }

  /** The leader's view of the generation: every member with its metadata for the selected protocol. */
  memberMetadata(): JoinGroupResponseMember[] {
    return [...this.members.values()].map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId, metadata: this.#metadataFor(m) }));
  }

  /** This generation's JoinGroup answer for a member: the member list only for the leader. */
  joinResponse(member: GroupMember): JoinGroupResponse {
    return {
      errorCode: 0,
      generationId: this.generationId,
      protocolType: this.protocolType,
      protocolName: this.protocolName ?? '',
      leader: this.#leaderId ?? '',
      skipAssignment: false,
      memberId: member.memberId,
      members: this.isLeader(member.memberId) ? this.memberMetadata() : [],
    };
  }

  /** DescribeGroups: metadata and assignments only once Stable, as Kafka does. */
  describe(): DescribedGroup {
    const stable = this.is(GroupState.Stable);
    return {
      errorCode: 0,
      groupId: this.groupId,
      groupState: this.#state,
      protocolType: this.protocolType ?? '',
      protocolData: stable ? (this.protocolName ?? '') : '',
      members: [...this.members.values()].map((m) => ({
        memberId: m.memberId,
        groupInstanceId: m.groupInstanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        memberMetadata: stable ? this.#metadataFor(m) : EMPTY,
        memberAssignment: stable ? m.assignment : EMPTY,
      })),
      authorizedOperations: -2147483648,
    };
  }
}
