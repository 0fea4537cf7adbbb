// LeaveGroup (key 13): LeaveGroupRequest.json / LeaveGroupResponse.json, versions 0-3 (4+ is
// flexible). v3 replaced the single MemberId by a batch of Members.
import { defineApi } from '../schema.ts';

export const LeaveGroup = defineApi({
  name: 'LeaveGroup',
  apiKey: 13,
  versions: '0-3',
  request: {
    flexibleVersions: '4+',
    fields: [
      { name: 'GroupId', type: 'string', versions: '0+' },
      { name: 'MemberId', type: 'string', versions: '0-2' },
      {
        name: 'Members', type: '[]MemberIdentity', versions: '3+', fields: [
          { name: 'MemberId', type: 'string', versions: '3+' },
          { name: 'GroupInstanceId', type: 'string', versions: '3+', nullableVersions: '3+', default: null },
        ],
      },
    ],
  },
  response: {
    flexibleVersions: '4+',
    fields: [
      { name: 'ThrottleTimeMs', type: 'int32', versions: '1+' },
      { name: 'ErrorCode', type: 'int16', versions: '0+' },
      {
        name: 'Members', type: '[]MemberResponse', versions: '3+', fields: [
          { name: 'MemberId', type: 'string', versions: '3+' },
          { name: 'GroupInstanceId', type: 'string', versions: '3+', nullableVersions: '3+' },
          { name: 'ErrorCode', type: 'int16', versions: '3+' },
        ],
      },
    ],
  },
});
