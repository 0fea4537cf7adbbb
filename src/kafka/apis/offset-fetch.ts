// OffsetFetch (key 9): OffsetFetchRequest.json / OffsetFetchResponse.json, versions 0-7; 6-7
// are flexible (librdkafka uses them), 8+ batches groups. A partition with no committed offset
// answers CommittedOffset -1.
import { defineApi } from '../schema.ts';

export const OffsetFetch = defineApi({
  name: 'OffsetFetch',
  apiKey: 9,
  versions: '0-7',
  request: {
    flexibleVersions: '6+',
    fields: [
      { name: 'GroupId', type: 'string', versions: '0-7' },
      // v2+: null means every partition the group has committed.
      {
        name: 'Topics', type: '[]OffsetFetchRequestTopic', versions: '0-7', nullableVersions: '2-7', fields: [
          { name: 'Name', type: 'string', versions: '0-7' },
          { name: 'PartitionIndexes', type: '[]int32', versions: '0-7' },
        ],
      },
      { name: 'RequireStable', type: 'bool', versions: '7+', default: false },
    ],
  },
  response: {
    flexibleVersions: '6+',
    fields: [
      { name: 'ThrottleTimeMs', type: 'int32', versions: '3+' },
      {
        name: 'Topics', type: '[]OffsetFetchResponseTopic', versions: '0-7', fields: [
          { name: 'Name', type: 'string', versions: '0-7' },
          {
            name: 'Partitions', type: '[]OffsetFetchResponsePartition', versions: '0-7', fields: [
              { name: 'PartitionIndex', type: 'int32', versions: '0-7' },
              { name: 'CommittedOffset', type: 'int64', versions: '0-7' },
              { name: 'CommittedLeaderEpoch', type: 'int32', versions: '5-7', default: -1 },
              { name: 'Metadata', type: 'string', versions: '0-7', nullableVersions: '0-7' },
              { name: 'ErrorCode', type: 'int16', versions: '0-7' },
            ],
          },
        ],
      },
      { name: 'ErrorCode', type: 'int16', versions: '2-7', default: 0 },
    ],
  },
});
