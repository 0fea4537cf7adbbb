// DeleteGroups (key 42): DeleteGroupsRequest.json / DeleteGroupsResponse.json, versions 0-2
// (2+ is flexible; 3 adds a per-group error message).
import { defineApi } from '../schema.ts';

export const DeleteGroups = defineApi({
  name: 'DeleteGroups',
  apiKey: 42,
  versions: '0-2',
  request: {
    flexibleVersions: '2+',
    fields: [{ name: 'GroupsNames', type: '[]string', versions: '0+' }],
  },
  response: {
    flexibleVersions: '2+',
    fields: [
      { name: 'ThrottleTimeMs', type: 'int32', versions: '0+' },
      {
        name: 'Results', type: '[]DeletableGroupResult', versions: '0+', fields: [
          { name: 'GroupId', type: 'string', versions: '0+' },
          { name: 'ErrorCode', type: 'int16', versions: '0+' },
        ],
      },
    ],
  },
});
