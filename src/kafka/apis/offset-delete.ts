// OffsetDelete (key 47): OffsetDeleteRequest.json / OffsetDeleteResponse.json, version 0
// (1 is flexible).
import { defineApi } from '../schema.ts';

export const OffsetDelete = defineApi({
  name: 'OffsetDelete',
  apiKey: 47,
  versions: '0-0',
  request: {
    flexibleVersions: '1+',
    fields: [
      { name: 'GroupId', type: 'string', versions: '0+' },
      {
        name: 'Topics', type: '[]OffsetDeleteRequestTopic', versions: '0+', fields: [
          { name: 'Name', type: 'string', versions: '0+' },
          {
            name: 'Partitions', type: '[]OffsetDeleteRequestPartition', versions: '0+', fields: [
              { name: 'PartitionIndex', type: 'int32', versions: '0+' },
            ],
          },
        ],
      },
    ],
  },
  response: {
    flexibleVersions: '1+',
    fields: [
      { name: 'ErrorCode', type: 'int16', versions: '0+' },
      { name: 'ThrottleTimeMs', type: 'int32', versions: '0+' },
      {
        name: 'Topics', type: '[]OffsetDeleteResponseTopic', versions: '0+', fields: [
          { name: 'Name', type: 'string', versions: '0+' },
          {
            name: 'Partitions', type: '[]OffsetDeleteResponsePartition', versions: '0+', fields: [
              { name: 'PartitionIndex', type: 'int32', versions: '0+' },
              { name: 'ErrorCode', type: 'int16', versions: '0+' },
            ],
          },
        ],
      },
    ],
  },
});
