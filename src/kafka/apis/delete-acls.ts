// DeleteAcls (key 31): DeleteAclsRequest.json / DeleteAclsResponse.json, versions 1-3 (2+ is
// flexible, 3 adds the user resource type). Every filter is refused with a message: grants are
// Bulwark's custom resources, not Kafka ACLs.
import { defineApi } from '../schema.ts';

export const DeleteAcls = defineApi({
  name: 'DeleteAcls',
  apiKey: 31,
  versions: '1-3',
  request: {
    flexibleVersions: '2+',
    fields: [
      {
        name: 'Filters', type: '[]DeleteAclsFilter', versions: '0+', fields: [
          { name: 'ResourceTypeFilter', type: 'int8', versions: '0+' },
          { name: 'ResourceNameFilter', type: 'string', versions: '0+', nullableVersions: '0+' },
          { name: 'PatternTypeFilter', type: 'int8', versions: '1+', default: 3 },
          { name: 'PrincipalFilter', type: 'string', versions: '0+', nullableVersions: '0+' },
          { name: 'HostFilter', type: 'string', versions: '0+', nullableVersions: '0+' },
          { name: 'Operation', type: 'int8', versions: '0+' },
          { name: 'PermissionType', type: 'int8', versions: '0+' },
        ],
      },
    ],
  },
  response: {
    flexibleVersions: '2+',
    fields: [
      { name: 'ThrottleTimeMs', type: 'int32', versions: '0+' },
      {
        name: 'FilterResults', type: '[]DeleteAclsFilterResult', versions: '0+', fields: [
          { name: 'ErrorCode', type: 'int16', versions: '0+' },
          { name: 'ErrorMessage', type: 'string', versions: '0+', nullableVersions: '0+' },
          {
            name: 'MatchingAcls', type: '[]DeleteAclsMatchingAcl', versions: '0+', fields: [
              { name: 'ErrorCode', type: 'int16', versions: '0+' },
              { name: 'ErrorMessage', type: 'string', versions: '0+', nullableVersions: '0+' },
              { name: 'ResourceType', type: 'int8', versions: '0+' },
              { name: 'ResourceName', type: 'string', versions: '0+' },
              { name: 'PatternType', type: 'int8', versions: '1+', default: 3 },
              { name: 'Principal', type: 'string', versions: '0+' },
              { name: 'Host', type: 'string', versions: '0+' },
              { name: 'Operation', type: 'int8', versions: '0+' },
              { name: 'PermissionType', type: 'int8', versions: '0+' },
            ],
          },
        ],
      },
    ],
  },
});
