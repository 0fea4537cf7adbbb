// The Kafka wire protocol: requests and responses of the APIs the broker speaks, at the
// versions it advertises. Pure: bytes in, typed values out, and back.
//
// Field names are Kafka's JSON field names in lower camel case (TopicData → topicData), so the
// message definitions in apache/kafka (clients/src/main/resources/common/message) document them.
import type { RequestBody, ResponseBody } from './registry.ts';

export { ApiKey, SUPPORTED_VERSIONS, type ApiKeyValue, type ApiName, type ApiNameOf, type RequestBody, type RequestBodyInput, type ResponseBody, type ResponseBodyInput } from './registry.ts';
export {
  advertisedApiVersions,
  apiVersionsFallback,
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  type DecodedRequest,
  type RequestHeader,
  type ResponseTarget,
} from './frame.ts';
export { isProtocolError, PROTOCOL_ERRORS, ProtocolError, ProtocolErrorKind, type PartialHeader, type ProtocolErrorReason } from './errors.ts';
export type { VersionRange } from './schema.ts';

export type ProduceRequest = RequestBody<'Produce'>;
export type ProduceResponse = ResponseBody<'Produce'>;
export type FetchRequest = RequestBody<'Fetch'>;
export type FetchResponse = ResponseBody<'Fetch'>;
export type ListOffsetsRequest = RequestBody<'ListOffsets'>;
export type ListOffsetsResponse = ResponseBody<'ListOffsets'>;
export type MetadataRequest = RequestBody<'Metadata'>;
export type MetadataResponse = ResponseBody<'Metadata'>;
export type OffsetCommitRequest = RequestBody<'OffsetCommit'>;
export type OffsetCommitResponse = ResponseBody<'OffsetCommit'>;
export type OffsetFetchRequest = RequestBody<'OffsetFetch'>;
export type OffsetFetchResponse = ResponseBody<'OffsetFetch'>;
export type FindCoordinatorRequest = RequestBody<'FindCoordinator'>;
export type FindCoordinatorResponse = ResponseBody<'FindCoordinator'>;
export type JoinGroupRequest = RequestBody<'JoinGroup'>;
export type JoinGroupResponse = ResponseBody<'JoinGroup'>;
export type HeartbeatRequest = RequestBody<'Heartbeat'>;
export type HeartbeatResponse = ResponseBody<'Heartbeat'>;
export type LeaveGroupRequest = RequestBody<'LeaveGroup'>;
export type LeaveGroupResponse = ResponseBody<'LeaveGroup'>;
export type SyncGroupRequest = RequestBody<'SyncGroup'>;
export type SyncGroupResponse = ResponseBody<'SyncGroup'>;
export type DescribeGroupsRequest = RequestBody<'DescribeGroups'>;
export type DescribeGroupsResponse = ResponseBody<'DescribeGroups'>;
export type ListGroupsRequest = RequestBody<'ListGroups'>;
export type ListGroupsResponse = ResponseBody<'ListGroups'>;
export type SaslHandshakeRequest = RequestBody<'SaslHandshake'>;
export type SaslHandshakeResponse = ResponseBody<'SaslHandshake'>;
export type ApiVersionsRequest = RequestBody<'ApiVersions'>;
export type ApiVersionsResponse = ResponseBody<'ApiVersions'>;
export type CreateTopicsRequest = RequestBody<'CreateTopics'>;
export type CreateTopicsResponse = ResponseBody<'CreateTopics'>;
export type DeleteTopicsRequest = RequestBody<'DeleteTopics'>;
export type DeleteTopicsResponse = ResponseBody<'DeleteTopics'>;
export type InitProducerIdRequest = RequestBody<'InitProducerId'>;
export type InitProducerIdResponse = ResponseBody<'InitProducerId'>;
export type DescribeConfigsRequest = RequestBody<'DescribeConfigs'>;
export type DescribeConfigsResponse = ResponseBody<'DescribeConfigs'>;
export type SaslAuthenticateRequest = RequestBody<'SaslAuthenticate'>;
export type SaslAuthenticateResponse = ResponseBody<'SaslAuthenticate'>;
export type DescribeAclsRequest = RequestBody<'DescribeAcls'>;
export type DescribeAclsResponse = ResponseBody<'DescribeAcls'>;
export type CreateAclsRequest = RequestBody<'CreateAcls'>;
export type CreateAclsResponse = ResponseBody<'CreateAcls'>;
export type DeleteAclsRequest = RequestBody<'DeleteAcls'>;
export type DeleteAclsResponse = ResponseBody<'DeleteAcls'>;
export type DeleteGroupsRequest = RequestBody<'DeleteGroups'>;
export type DeleteGroupsResponse = ResponseBody<'DeleteGroups'>;
export type OffsetDeleteRequest = RequestBody<'OffsetDelete'>;
export type OffsetDeleteResponse = ResponseBody<'OffsetDelete'>;
export { KafkaErrorCode } from './error-codes.ts';
