// ListGroups (key 16): ListGroupsRequest.json / ListGroupsResponse.json, versions 0-4; 3-4 are
// flexible (librdkafka's ListConsumerGroups uses v4), 5 adds group types.
import { defineApi } from '../schema.ts';

export const ListGroups = defineApi({
  name: 'ListGroups',
  apiKey: 16,
  versions: '0-4',
  request: {
    flexibleVersions: '3+',
    fields: [{ name: 'StatesFilter', type: '[]string', versions: '4+' }],
  },
  response: {
    flexibleVersions: '3+',
    fields: [
      { name: 'ThrottleTimeMs', type: 'int32', versions: '1+' },
      { name: 'ErrorCode', type: 'int16', versions: '0+' },
      {
        name: 'Groups', type: '[]ListedGroup', versions: '0+', fields: [
          { name: 'GroupId', type: 'string', versions: '0+' },
          { name: 'ProtocolType', type: 'string', versions: '0+' },
          { name: 'GroupState', type: 'string', versions: '4+' },
        ],
      },
    ],
  },
});
