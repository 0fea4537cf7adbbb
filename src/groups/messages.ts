// The coordinator's requests and responses: plain objects shaped like Kafka's message
// definitions (clients/src/main/resources/common/message/*.json), field names in camelCase,
// without throttleTimeMs or header fields. Fields that only later versions carry are optional
// here and take the default the definition gives when absent. Error codes are Kafka's
// (error-codes.ts). int64 fields are JavaScript numbers and bytes are Buffers, as in the codec
// (src/kafka), which fills absent fields with their defaults.

/** What JoinGroup needs from the request header and the connection. */
export interface JoinGroupContext {
  /** The request header's client id; a generated member id starts with it. */
  clientId: string;
  /** The client's address, shown by DescribeGroups. */
  clientHost: string;
  /** JoinGroup v4+: a new member is first given an id (MEMBER_ID_REQUIRED) and must rejoin with it. */
  requireKnownMemberId: boolean;
}

export interface JoinGroupProtocol {
  name: string;
  metadata: Buffer;
}

export interface JoinGroupRequest {
  groupId: string;
  sessionTimeoutMs: number;
  /** v1+; absent or -1 means the session timeout. */
  rebalanceTimeoutMs?: number;
  memberId: string;
  /** v5+: static membership. */
  groupInstanceId?: string | null;
  protocolType: string;
  protocols: readonly JoinGroupProtocol[];
  reason?: string | null;
}

export interface JoinGroupResponseMember {
  memberId: string;
  groupInstanceId: string | null;
  metadata: Buffer;
}

export interface JoinGroupResponse {
  errorCode: number;
  generationId: number;
  /** null on errors; v0–6 do not carry it. */
  protocolType: string | null;
  /** "" on errors: what Kafka sends in v0–6, where the field is not nullable (v7+ would send null). */
  protocolName: string;
  leader: string;
  skipAssignment: boolean;
  memberId: string;
  /** Every member with its metadata for the leader; empty for followers. */
  members: JoinGroupResponseMember[];
}

export interface SyncGroupAssignment {
  memberId: string;
  assignment: Buffer;
}

export interface SyncGroupRequest {
  groupId: string;
  generationId: number;
  memberId: string;
  groupInstanceId?: string | null;
  /** v5+: checked against the group's when given. */
  protocolType?: string | null;
  protocolName?: string | null;
  /** The leader's assignments; empty from followers. */
  assignments: readonly SyncGroupAssignment[];
}

export interface SyncGroupResponse {
  errorCode: number;
  protocolType: string | null;
  protocolName: string | null;
  assignment: Buffer;
}

export interface HeartbeatRequest {
  groupId: string;
  generationId: number;
  memberId: string;
  groupInstanceId?: string | null;
}

export interface HeartbeatResponse {
  errorCode: number;
}

export interface LeaveGroupMemberIdentity {
  memberId: string;
  groupInstanceId?: string | null;
  reason?: string | null;
}

/**
 * v0–2 name one member in `memberId`; v3+ list them in `members`. Decoded requests carry both
 * fields (the other at its default), so a non-empty `members` is the v3+ form, and otherwise a
 * non-empty `memberId` is the v0–2 form.
 */
export interface LeaveGroupRequest {
  groupId: string;
  memberId?: string;
  members?: readonly LeaveGroupMemberIdentity[];
}

export interface LeaveGroupResponse {
  /** For the v0–2 form (`memberId`), the member's own error, as Kafka reports it. */
  errorCode: number;
  members: { memberId: string; groupInstanceId: string | null; errorCode: number }[];
}

export interface OffsetCommitRequestPartition {
  partitionIndex: number;
  committedOffset: number;
  committedLeaderEpoch?: number;
  commitTimestamp?: number;
  committedMetadata: string | null;
}

export interface OffsetCommitRequest {
  groupId: string;
  /** v1+; -1 (with an empty memberId) is a commit from outside group management. */
  generationIdOrMemberEpoch?: number;
  memberId?: string;
  groupInstanceId?: string | null;
  retentionTimeMs?: number;
  topics: readonly { name: string; partitions: readonly OffsetCommitRequestPartition[] }[];
}

export interface OffsetCommitResponse {
  topics: { name: string; partitions: { partitionIndex: number; errorCode: number }[] }[];
}

export interface OffsetFetchRequest {
  groupId: string;
  /** null (v2+): every partition the group has committed. */
  topics: readonly { name: string; partitionIndexes: readonly number[] }[] | null;
  requireStable?: boolean;
}

export interface OffsetFetchResponsePartition {
  partitionIndex: number;
  /** -1 when nothing is committed. */
  committedOffset: number;
  committedLeaderEpoch: number;
  metadata: string | null;
  errorCode: number;
}

/** v0–7 shape; for v8+ call once per group and put the group id beside each answer. */
export interface OffsetFetchResponse {
  errorCode: number;
  topics: { name: string; partitions: OffsetFetchResponsePartition[] }[];
}

export interface ListGroupsRequest {
  /** v4+: case-insensitive state names; empty means all. */
  statesFilter?: readonly string[];
  /** v5+: group types ("classic", "consumer"); empty means all. */
  typesFilter?: readonly string[];
}

export interface ListGroupsResponse {
  errorCode: number;
  groups: { groupId: string; protocolType: string; groupState: string; groupType: string }[];
}

export interface DescribeGroupsRequest {
  groups: readonly string[];
  includeAuthorizedOperations?: boolean;
}

export interface DescribedGroupMember {
  memberId: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  /** Only in the Stable state, as in Kafka; empty otherwise. */
  memberMetadata: Buffer;
  memberAssignment: Buffer;
}

export interface DescribedGroup {
  errorCode: number;
  groupId: string;
  groupState: string;
  protocolType: string;
  /** The selected protocol, only in the Stable state. */
  protocolData: string;
  members: DescribedGroupMember[];
  /** Left at Kafka's "not requested" value; authorization fills it in. */
  authorizedOperations: number;
}

export interface DescribeGroupsResponse {
  groups: DescribedGroup[];
}

export interface DeleteGroupsResult {
  groupId: string;
  errorCode: number;
}

export interface OffsetDeleteRequest {
  groupId: string;
  topics: readonly { name: string; partitions: readonly { partitionIndex: number }[] }[];
}

export interface OffsetDeleteResponse {
  errorCode: number;
  topics: { name: string; partitions: { partitionIndex: number; errorCode: number }[] }[];
}
