// CreateAcls (key 30): CreateAclsRequest.json / CreateAclsResponse.json, versions 1-3 (2+ is
// flexible, 3 adds the user resource type). Decoded so that every creation can be refused
// with a message: grants are Bulwark's custom resources, not Kafka ACLs.
import { defineApi } from '../schema.ts';

export const CreateAcls = defineApi({
  name: 'CreateAcls',
  apiKey: 30,
  versions: '1-3',
  request: {
    flexibleVersions: '2+',
    fields: [
      {
        name: 'Creations', type: '[]AclCreation', versions: '0+', fields: [
          { name: 'ResourceType', type: 'int8', versions: '0+' },
          { name: 'ResourceName', type: 'string', versions: '0+' },
          { name: 'ResourcePatternType', type: 'int8', versions: '1+', default: 3 },
          { name: 'Principal', type: 'string', versions: '0+' },
          { name: 'Host', type: 'string', versions: '0+' },
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
        name: 'Results', type: '[]AclCreationResult', versions: '0+', fields: [
          { name: 'ErrorCode', type: 'int16', versions: '0+' },
          { name: 'ErrorMessage', type: 'string', versions: '0+', nullableVersions: '0+' },
        ],
      },
    ],
  },
});
