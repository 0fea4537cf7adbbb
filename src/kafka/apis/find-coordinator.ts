// FindCoordinator (key 10): FindCoordinatorRequest.json / FindCoordinatorResponse.json,
// versions 0-2 (3 is flexible, 4+ batches keys). librdkafka needs version 0 advertised.
import { defineApi } from '../schema.ts';

export const FindCoordinator = defineApi({
  name: 'FindCoordinator',
  apiKey: 10,
  versions: '0-2',
  request: {
    flexibleVersions: '3+',
    fields: [
      { name: 'Key', type: 'string', versions: '0-3' },
      // 0 group, 1 transaction.
      { name: 'KeyType', type: 'int8', versions: '1+', default: 0 },
    ],
  },
  response: {
    flexibleVersions: '3+',
    fields: [
      { name: 'ThrottleTimeMs', type: 'int32', versions: '1+' },
      { name: 'ErrorCode', type: 'int16', versions: '0-3' },
      { name: 'ErrorMessage', type: 'string', versions: '1-3', nullableVersions: '1-3' },
      { name: 'NodeId', type: 'int32', versions: '0-3' },
      { name: 'Host', type: 'string', versions: '0-3' },
      { name: 'Port', type: 'int32', versions: '0-3' },
    ],
  },
});
