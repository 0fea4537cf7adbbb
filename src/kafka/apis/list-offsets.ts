// ListOffsets (key 2): ListOffsetsRequest.json / ListOffsetsResponse.json, versions 0-5
// (6+ is flexible).
import { defineApi } from '../schema.ts';

export const ListOffsets = defineApi({
  name: 'ListOffsets',
  apiKey: 2,
  versions: '0-5',
  request: {
    flexibleVersions: '6+',
    fields: [
      { name: 'ReplicaId', type: 'int32', versions: '0+' },
      { name: 'IsolationLevel', type: 'int8', versions: '2+' },
      {
        name: 'Topics', type: '[]ListOffsetsTopic', versions: '0+', fields: [
          { name: 'Name', type: 'string', versions: '0+' },
          {
            name: 'Partitions', type: '[]ListOffsetsPartition', versions: '0+', fields: [
              { name: 'PartitionIndex', type: 'int32', versions: '0+' },
              { name: 'CurrentLeaderEpoch', type: 'int32', versions: '4+', default: -1 },
              { name: 'Timestamp', type: 'int64', versions: '0+' },
              { name: 'MaxNumOffsets', type: 'int32', versions: '0', default: 1 },
            ],
          },
        ],
      },
    ],
  },
  response: {
    flexibleVersions: '6+',
    fields: [
      { name: 'ThrottleTimeMs', type: 'int32', versions: '2+' },
      {
        name: 'Topics', type: '[]ListOffsetsTopicResponse', versions: '0+', fields: [
          { name: 'Name', type: 'string', versions: '0+' },
          {
            name: 'Partitions', type: '[]ListOffsetsPartitionResponse', versions: '0+', fields: [
              { name: 'PartitionIndex', type: 'int32', versions: '0+' },
              { name: 'ErrorCode', type: 'int16', versions: '0+' },
              { name: 'OldStyleOffsets', type: '[]int64', versions: '0' },
              { name: 'Timestamp', type: 'int64', versions: '1+', default: -1 },
              { name: 'Offset', type: 'int64', versions: '1+', default: -1 },
              { name: 'LeaderEpoch', type: 'int32', versions: '4+', default: -1 },
            ],
          },
        ],
      },
    ],
  },
});
