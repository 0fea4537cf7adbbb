// Audit events: what the broker records, one JSON object per event (format in audit-log.ts).

/** Why the broker closed a connection on its own. */
export const ConnectionCloseReason = {
  TokenRevoked: 'TokenRevoked',
  TokenExpired: 'TokenExpired',
  UserDeleted: 'UserDeleted',
  UserDisabled: 'UserDisabled',
  HostNotAllowed: 'HostNotAllowed',
} as const;
export type ConnectionCloseReason = (typeof ConnectionCloseReason)[keyof typeof ConnectionCloseReason];

export interface AuthenticationEvent {
  type: 'authentication';
  outcome: 'success' | 'failure';
  listener: string;
  mechanism: string;
  /** The authenticated user, or on failure the name the client claimed, when known. */
  user?: string;
  tokenId?: string;
  clientIp: string;
  reason?: string;
  /** Which check failed, in words safe for logs (never a secret). */
  detail?: string;
}

export interface AuthorizationEvent {
  type: 'authorization';
  decision: 'allow' | 'deny';
  user: string;
  tokenId?: string;
  action: string;
  resourceType: string;
  resourceName: string;
  reason: string;
  /** The `source` of the rule that decided, when one did. */
  ruleSource?: string;
  clientIp?: string;
  listener?: string;
  /** How many identical decisions this event stands for (denials are coalesced). */
  count: number;
  /** Time of the last of them, when count > 1. */
  lastTime?: string;
}

export interface PolicyEvent {
  type: 'policy';
  version: number;
  hash: string;
  source: string;
  previousVersion: number | null;
  previousHash: string | null;
  userCount: number;
  tokenCount: number;
  ruleCount: number;
}

export interface TopicEvent {
  type: 'topic';
  operation: 'created' | 'deleted';
  topic: string;
  partitions?: number;
  /** Who did it. */
  user: string;
  tokenId?: string;
  clientIp?: string;
}

export interface ConnectionEvent {
  type: 'connection';
  reason: ConnectionCloseReason;
  user?: string;
  tokenId?: string;
  clientIp?: string;
  listener?: string;
}

/** An event as recorded, before the log stamps its time. */
export type AuditEventInput = AuthenticationEvent | AuthorizationEvent | PolicyEvent | TopicEvent | ConnectionEvent;
export type AuditEvent = AuditEventInput & { time: string };
export type Fields<E> = Omit<E, 'type'>;

