// DescribeAcls (key 29): DescribeAclsRequest.json / DescribeAclsResponse.json, versions 1-3
// (1 adds the pattern type, 2+ is flexible, 3 adds the user resource type; 0 is deprecated
// and, having no pattern type, could not tell a prefixed grant from a literal one).
import { defineApi } from '../schema.ts';

export const DescribeAcls = defineApi({
  name: 'DescribeAcls',
  apiKey: 29,
  versions: '1-3',
  request: {
    flexibleVersions: '2+',
    fields: [
      { name: 'ResourceTypeFilter', type: 'int8', versions: '0+' },
      { name: 'ResourceNameFilter', type: 'string', versions: '0+', nullableVersions: '0+' },
      { name: 'PatternTypeFilter', type: 'int8', versions: '1+', default: 3 },
      { name: 'PrincipalFilter', type: 'string', versions: '0+', nullableVersions: '0+' },
      { name: 'HostFilter', type: 'string', versions: '0+', nullableVersions: '0+' },
      { name: 'Operation', type: 'int8', versions: '0+' },
      { name: 'PermissionType', type: 'int8', versions: '0+' },
    ],
  },
  response: {
    flexibleVersions: '2+',
    fields: [
      { name: 'ThrottleTimeMs', type: 'int32', versions: '0+' },
      { name: 'ErrorCode', type: 'int16', versions: '0+' },
      { name: 'ErrorMessage', type: 'string', versions: '0+', nullableVersions: '0+' },
      {
        name: 'Resources', type: '[]DescribeAclsResource', versions: '0+', fields: [
          { name: 'Type', type: 'int8', versions: '0+' },
          { name: 'Name', type: 'string', versions: '0+' },
          { name: 'PatternType', type: 'int8', versions: '1+', default: 3 },
          {
            name: 'Acls', type: '[]AclDescription', versions: '0+', fields: [
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
