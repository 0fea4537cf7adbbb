// Heartbeat (key 12): HeartbeatRequest.json / HeartbeatResponse.json, versions 0-3 (4 is
// flexible).
import { defineApi } from '../schema.ts';

export const Heartbeat = defineApi({
  name: 'Heartbeat',
  apiKey: 12,
  versions: '0-3',
  request: {
    flexibleVersions: '4+',
    fields: [
      { name: 'GroupId', type: 'string', versions: '0+' },
      { name: 'GenerationId', type: 'int32', versions: '0+' },
      { name: 'MemberId', type: 'string', versions: '0+' },
      { name: 'GroupInstanceId', type: 'string', versions: '3+', nullableVersions: '3+', default: null },
    ],
  },
  response: {
    flexibleVersions: '4+',
    fields: [
      { name: 'ThrottleTimeMs', type: 'int32', versions: '1+' },
      { name: 'ErrorCode', type: 'int16', versions: '0+' },
    ],
  },
});
