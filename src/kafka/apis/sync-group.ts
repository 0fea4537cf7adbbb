// SyncGroup (key 14): SyncGroupRequest.json / SyncGroupResponse.json, versions 0-3 (4+ is
// flexible).
import { defineApi } from '../schema.ts';

export const SyncGroup = defineApi({
  name: 'SyncGroup',
  apiKey: 14,
  versions: '0-3',
  request: {
    flexibleVersions: '4+',
    fields: [
      { name: 'GroupId', type: 'string', versions: '0+' },
      { name: 'GenerationId', type: 'int32', versions: '0+' },
      { name: 'MemberId', type: 'string', versions: '0+' },
      { name: 'GroupInstanceId', type: 'string', versions: '3+', nullableVersions: '3+', default: null },
      {
        name: 'Assignments', type: '[]SyncGroupRequestAssignment', versions: '0+', fields: [
          { name: 'MemberId', type: 'string', versions: '0+' },
          { name: 'Assignment', type: 'bytes', versions: '0+' },
        ],
      },
    ],
  },
  response: {
    flexibleVersions: '4+',
    fields: [
      { name: 'ThrottleTimeMs', type: 'int32', versions: '1+' },
      { name: 'ErrorCode', type: 'int16', versions: '0+' },
      { name: 'Assignment', type: 'bytes', versions: '0+' },
    ],
  },
});
