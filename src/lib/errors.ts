// The catalog of Bulwark's errors. Every error the code throws on purpose is declared here once,
// with a stable code, what it maps to (the HTTP status; the Kafka error code when a Kafka client
// can meet it; the CLI exits 2 for all), and a message template. Nobody matches on message text:
// match on `code`. docs/errors.md documents every code with its status and Kafka code; a test
// keeps the two in step. Retired codes are listed in RETIRED and never reused.
//
// Messages never carry a token, password or hash: details are names, numbers and reasons.
import { KafkaErrorCode } from './kafka-error-codes.ts';

export interface ErrorSpec {
  /** HTTP status the error maps to when it reaches an HTTP client. */
  status: number;
  /** Kafka error code the error maps to when it reaches a Kafka client (a Produce, Fetch or ListOffsets partition). */
  kafka?: KafkaErrorCode;
  message: (details: Record<string, string | number>) => string;
}

export const ERRORS = {
  BWK_ERR_CONFIG_INVALID: { status: 400, message: (d) => `invalid configuration: ${d.detail}` },
  BWK_ERR_POLICY_DIR_UNREADABLE: { status: 500, message: (d) => `cannot read policy directory ${d.dir}: ${d.detail}` },
  BWK_ERR_POLICY_INVALID: { status: 400, message: (d) => `policy has ${d.count} error(s)` },
  BWK_ERR_POLICY_CLUSTER_AMBIGUOUS: { status: 400, message: (d) => `cannot tell which cluster to compile for: ${d.detail}` },
  BWK_ERR_SNAPSHOT_INVALID: { status: 400, message: (d) => `policy snapshot rejected: ${d.detail}` },
  BWK_ERR_SNAPSHOT_HASH_MISMATCH: { status: 400, message: () => 'policy snapshot rejected: content does not match its hash' },
  BWK_ERR_CLI_USAGE: { status: 400, message: (d) => `${d.detail}` },
  BWK_ERR_RESOURCE_ARGUMENT_INVALID: { status: 400, message: (d) => `invalid resource ${JSON.stringify(d.value)}: expected TYPE:NAME with TYPE one of ${d.types}` },
  BWK_ERR_LOG_CORRUPT: { status: 500, kafka: KafkaErrorCode.KAFKA_STORAGE_ERROR, message: (d) => `corrupt log data in ${d.file} at byte ${d.position}: ${d.detail}` },
  BWK_ERR_LOG_PARTITION_FENCED: { status: 503, kafka: KafkaErrorCode.KAFKA_STORAGE_ERROR, message: (d) => `partition ${d.partition} is fenced after corruption was found; it serves nothing until repaired: ${d.detail}` },
  BWK_ERR_LOG_BATCH_INVALID: { status: 400, kafka: KafkaErrorCode.CORRUPT_MESSAGE, message: (d) => `invalid record batch at byte ${d.position} of the request: ${d.detail}` },
  BWK_ERR_RECORD_LIMIT_EXCEEDED: { status: 400, kafka: KafkaErrorCode.INVALID_RECORD, message: (d) => `record ${d.record} of the batch is refused: ${d.detail} exceeds limits.${d.limit} (${d.max})` },
  BWK_ERR_RECORD_LIMITS_UNCHECKABLE: { status: 400, kafka: KafkaErrorCode.INVALID_RECORD, message: (d) => `the batch is refused: record limits are set and cannot be checked, because ${d.detail}` },
  BWK_ERR_LOG_BATCH_TOO_LARGE: { status: 413, kafka: KafkaErrorCode.MESSAGE_TOO_LARGE, message: (d) => `record batch at byte ${d.position} of the request is too large: ${d.detail}` },
  BWK_ERR_LOG_RECORDS_UNDECODABLE: { status: 409, message: (d) => `cannot show the records of the batch at offset ${d.offset} as JSON (${d.detail}); ask for format=binary to get the raw batch` },
  BWK_ERR_LOG_SEGMENT_FULL: { status: 500, kafka: KafkaErrorCode.KAFKA_STORAGE_ERROR, message: (d) => `segment ${d.file} would exceed 2 GiB: the partition must roll first` },
  BWK_ERR_LOG_OFFSET_OUT_OF_RANGE: { status: 416, kafka: KafkaErrorCode.OFFSET_OUT_OF_RANGE, message: (d) => `offset ${d.offset} is outside ${d.partition}'s range [${d.start}, ${d.end}]` },
  BWK_ERR_LOG_DECRYPT_FAILED: { status: 500, kafka: KafkaErrorCode.KAFKA_STORAGE_ERROR, message: (d) => `batch at offset ${d.offset} of ${d.partition} failed authentication (tampered, moved, or wrong key ${d.keyId})` },
  BWK_ERR_LOG_KEY_MISSING: { status: 500, kafka: KafkaErrorCode.KAFKA_STORAGE_ERROR, message: (d) => `encryption key ${d.keyId} is not in ${d.dir}` },
  BWK_ERR_LOG_KEY_INVALID: { status: 500, message: (d) => `encryption key ${d.keyId} (file ${d.file}) is not usable: ${d.detail}` },
  BWK_ERR_LOG_KEY_DIR_UNREADABLE: { status: 500, message: (d) => `cannot read the encryption key directory ${d.dir}: ${d.detail}` },
  BWK_ERR_LOG_KEY_NEEDED: { status: 500, message: (d) => `encryption key ${d.keyId} ${d.where}, and ${d.count} segment(s) on disk still need it (such as ${d.file}); mount the key again, or delete that data` },
  BWK_ERR_LOG_CLOSED: { status: 503, kafka: KafkaErrorCode.NOT_LEADER_OR_FOLLOWER, message: (d) => `partition ${d.partition} is closed` },
  BWK_ERR_LOG_CONFIG_INVALID: { status: 400, message: (d) => `invalid log configuration: ${d.detail}` },
  BWK_ERR_TOPIC_NOT_FOUND: { status: 404, kafka: KafkaErrorCode.UNKNOWN_TOPIC_OR_PARTITION, message: (d) => `topic ${d.topic} does not exist` },
  BWK_ERR_PARTITION_NOT_FOUND: { status: 404, kafka: KafkaErrorCode.UNKNOWN_TOPIC_OR_PARTITION, message: (d) => `topic ${d.topic} has no partition ${d.partition}` },
  BWK_ERR_TOPIC_EXISTS: { status: 409, kafka: KafkaErrorCode.TOPIC_ALREADY_EXISTS, message: (d) => `topic ${d.topic} already exists` },
  BWK_ERR_TOPIC_INVALID: { status: 400, kafka: KafkaErrorCode.INVALID_TOPIC_EXCEPTION, message: (d) => `cannot create topic ${d.topic}: ${d.detail}` },
  BWK_ERR_HTTP_BODY_INVALID: { status: 400, message: (d) => `invalid request: ${d.detail}` },
  BWK_ERR_HTTP_CREDENTIALS_NEED_TLS: { status: 400, message: () => 'credentials refused: this HTTP listener is plaintext, and an Authorization header sent over it can be read on the way; use the TLS listener (https) and replace the token or password that was sent' },
  BWK_ERR_HTTP_BODY_TOO_LARGE: { status: 413, message: () => 'the request body is larger than the listener accepts (limits.maxRequestBytes)' },
  BWK_ERR_PRODUCER_SEQUENCE: { status: 409, kafka: KafkaErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, message: (d) => `out-of-order batch for ${d.topic}-${d.partition}: sequence ${d.got}, expected ${d.expected}` },
  BWK_ERR_PRODUCER_FENCED: { status: 409, kafka: KafkaErrorCode.INVALID_PRODUCER_EPOCH, message: (d) => `a newer producer epoch has written to ${d.topic}-${d.partition}; this producer is fenced` },
  BWK_ERR_PKI_REQUEST_INVALID: { status: 400, message: (d) => `cannot issue the certificate: ${d.detail}` },
  BWK_ERR_PKI_CA_INVALID: { status: 500, message: (d) => `the CA (${d.source}) cannot sign: ${d.detail}` },
  BWK_ERR_TLS_FILES_INVALID: { status: 500, message: (d) => `cannot load the TLS files: ${d.detail}` },
  BWK_ERR_TLS_RELOAD_FAILED: { status: 500, message: (d) => `changed TLS files rejected, still serving the previous certificate: ${d.detail}` },
  BWK_ERR_JWT_SECRET_INVALID: { status: 500, message: (d) => `the session token secret is unusable: ${d.detail}` },
  BWK_ERR_POLICY_PERSISTED_INVALID: { status: 500, message: (d) => `the persisted policy ${d.file} cannot be loaded (${d.detail}); restore it or remove it to start with no policy` },
  BWK_ERR_ROOT_PASSWORD_WEAK: { status: 400, message: (d) => `BULWARK_ROOT_PASSWORD is too weak: ${d.detail}` },
  BWK_ERR_AUDIT_FILE_UNWRITABLE: { status: 500, message: (d) => `cannot open the audit log file ${d.path}: ${d.detail}` },
  BWK_ERR_AUDIT_SYSLOG_UNREACHABLE: { status: 503, message: (d) => `cannot send audit events to the syslog receiver ${d.target}: ${d.detail}` },
  BWK_ERR_OAUTH_JWKS_UNAVAILABLE: { status: 503, message: (d) => `cannot fetch the JWKS of auth.oauthBearer from ${d.url}: ${d.detail}; OAUTHBEARER logins are refused until it can` },
  BWK_ERR_CLUSTER_STATE_REJECTED: { status: 409, message: (d) => `cluster state version ${d.version} not applied: ${d.detail}` },
  BWK_ERR_CLUSTER_STATE_INVALID: { status: 400, message: (d) => `cluster state rejected: ${d.detail}` },
  BWK_ERR_PARTITION_NOT_LED: { status: 421, kafka: KafkaErrorCode.NOT_LEADER_OR_FOLLOWER, message: (d) => `this broker does not lead ${d.topic}-${d.partition}; broker ${d.leader} does` },
  BWK_ERR_TOPICS_MANAGED_BY_OPERATOR: { status: 409, message: (d) => `cannot ${d.operation} topic ${d.topic} here: in a cluster the operator owns topics; use the Kafka API (CreateTopics, DeleteTopics) or a Topic resource` },
  BWK_ERR_TOPIC_REQUEST_UNKNOWN: { status: 404, message: (d) => `no topic request ${d.id} is waiting for an answer` },
  BWK_ERR_POLICY_PUSH_REJECTED: { status: 409, message: (d) => `policy snapshot version ${d.version} not applied: ${d.detail}` },
  BWK_ERR_UNAUTHENTICATED: { status: 401, message: () => 'authentication required: send valid credentials' },
  BWK_ERR_FORBIDDEN: { status: 403, message: () => 'not allowed: the policy does not grant this action on this resource' },
  BWK_ERR_KAFKA_REQUEST_BEFORE_AUTHENTICATION: { status: 401, message: (d) => `${d.api} before authentication: the connection is closed` },
  BWK_ERR_KAFKA_SESSION_EXPIRED: { status: 401, message: (d) => `${d.api} after the SASL session's lifetime ended without a re-authentication: the connection is closed` },
  BWK_ERR_KAFKA_ACLS_READ_ONLY: { status: 405, kafka: KafkaErrorCode.POLICY_VIOLATION, message: (d) => `${d.api} refused: Kafka ACLs on this broker are a read-only view of the Bulwark policy. Grant or revoke access with the custom resources (Role, the User's spec.roles, TopicGrant) and list the result with DescribeAcls (kafka-acls.sh --list)` },
  BWK_ERR_TOKEN_EXISTS: { status: 409, message: (d) => `AccessToken ${d.token} already exists${d.where ? ` (${d.where})` : ''}: a token is printed only when it is created, never again; revoke it first (bulwark token revoke) or choose another name` },
  BWK_ERR_TOKEN_NOT_FOUND: { status: 404, message: (d) => `AccessToken ${d.token} not found${d.where ? ` ${d.where}` : ''}` },
  BWK_ERR_TOKEN_SPEC_INVALID: { status: 400, message: (d) => `AccessToken ${d.token} would be invalid: ${d.detail}` },
  BWK_ERR_TOKEN_CLUSTER_UNKNOWN: { status: 400, message: (d) => `cannot tell which BrokerCluster the token is for: ${d.detail}` },
  BWK_ERR_TOKEN_FILE_SHARED: { status: 409, message: (d) => `AccessToken ${d.token} is declared in ${d.file} together with other documents; remove it from that file by hand (bulwark token revoke only removes files holding one token and its Secret)` },
  BWK_ERR_TOKEN_WAIT_TIMEOUT: { status: 504, message: (d) => `the operator did not write Secret ${d.secret} within ${d.wait}; AccessToken status: ${d.status}. ${d.outcome}` },
  BWK_ERR_KUBE_UNAVAILABLE: { status: 503, message: (d) => `no API server: ${d.detail}` },
  BWK_ERR_KUBE_FORBIDDEN: { status: 403, message: (d) => `forbidden: your Kubernetes credentials may not ${d.verb} ${d.resource} in namespace ${d.namespace} (RBAC: a Role or ClusterRole granting verb ${d.verb} on ${d.resource}, bound to you, is missing); the API server said: ${d.detail}` },
  BWK_ERR_KUBE_REQUEST_FAILED: { status: 502, message: (d) => `the API server refused to ${d.verb} ${d.resource} in namespace ${d.namespace}: ${d.detail}` },
  BWK_ERR_INTERNAL: { status: 500, kafka: KafkaErrorCode.UNKNOWN_SERVER_ERROR, message: () => 'internal error' },
} as const satisfies Record<string, ErrorSpec>;

export type BulwarkErrorCode = keyof typeof ERRORS;

/** Codes that were in the catalog and were removed. They are never reused (test/errors.test.ts). */
export const RETIRED: readonly string[] = [];

export class BulwarkError extends Error {
  readonly code: BulwarkErrorCode;
  readonly status: number;
  constructor(code: BulwarkErrorCode, details: Record<string, string | number> = {}, options?: { cause?: unknown }) {
    super(ERRORS[code].message(details), options);
    this.name = 'BulwarkError';
    this.code = code;
    this.status = ERRORS[code].status;
  }
}

export function isBulwarkError(err: unknown, code?: BulwarkErrorCode): err is BulwarkError {
  return err instanceof BulwarkError && (code === undefined || err.code === code);
}
