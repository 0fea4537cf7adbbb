// JoinGroup (key 11): JoinGroupRequest.json / JoinGroupResponse.json, versions 0-5 (6+ is
// flexible). From v4 a join with an empty MemberId is answered MEMBER_ID_REQUIRED.
import { defineApi } from '../schema.ts';

export const JoinGroup = defineApi({
  name: 'JoinGroup',
  apiKey: 11,
  versions: '0-5',
  request: {
    flexibleVersions: '6+',
    fields: [
      { name: 'GroupId', type: 'string', versions: '0+' },
      { name: 'SessionTimeoutMs', type: 'int32', versions: '0+' },
      { name: 'RebalanceTimeoutMs', type: 'int32', versions: '1+', default: -1 },
      { name: 'MemberId', type: 'string', versions: '0+' },
      { name: 'GroupInstanceId', type: 'string', versions: '5+', nullableVersions: '5+', default: null },
      { name: 'ProtocolType', type: 'string', versions: '0+' },
      {
        name: 'Protocols', type: '[]JoinGroupRequestProtocol', versions: '0+', fields: [
          { name: 'Name', type: 'string', versions: '0+' },
          { name: 'Metadata', type: 'bytes', versions: '0+' },
        ],
      },
    ],
  },
  response: {
    flexibleVersions: '6+',
    fields: [
      { name: 'ThrottleTimeMs', type: 'int32', versions: '2+' },
      { name: 'ErrorCode', type: 'int16', versions: '0+' },
      { name: 'GenerationId', type: 'int32', versions: '0+', default: -1 },
      { name: 'ProtocolName', type: 'string', versions: '0+' },
      { name: 'Leader', type: 'string', versions: '0+' },
      { name: 'MemberId', type: 'string', versions: '0+' },
      {
        name: 'Members', type: '[]JoinGroupResponseMember', versions: '0+', fields: [
          { name: 'MemberId', type: 'string', versions: '0+' },
          { name: 'GroupInstanceId', type: 'string', versions: '5+', nullableVersions: '5+', default: null },
          { name: 'Metadata', type: 'bytes', versions: '0+' },
        ],
      },
    ],
  },
});
