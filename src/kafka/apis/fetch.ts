// Fetch (key 1): FetchRequest.json / FetchResponse.json, versions 4-11. Below 4 the records
// would be message format v0/v1, which the log does not keep; 12+ is flexible, 13+ uses topic ids.
import { defineApi } from '../schema.ts';

export const Fetch = defineApi({
  name: 'Fetch',
  apiKey: 1,
  versions: '4-11',
  request: {
    flexibleVersions: '12+',
    fields: [
      { name: 'ReplicaId', type: 'int32', versions: '0-14', default: -1 },
      { name: 'MaxWaitMs', type: 'int32', versions: '0+' },
      { name: 'MinBytes', type: 'int32', versions: '0+' },
      { name: 'MaxBytes', type: 'int32', versions: '3+', default: 0x7fffffff },
      { name: 'IsolationLevel', type: 'int8', versions: '4+', default: 0 },
      { name: 'SessionId', type: 'int32', versions: '7+', default: 0 },
      { name: 'SessionEpoch', type: 'int32', versions: '7+', default: -1 },
      {
        name: 'Topics', type: '[]FetchTopic', versions: '0+', fields: [
          { name: 'Topic', type: 'string', versions: '0-12' },
          {
            name: 'Partitions', type: '[]FetchPartition', versions: '0+', fields: [
              { name: 'Partition', type: 'int32', versions: '0+' },
              { name: 'CurrentLeaderEpoch', type: 'int32', versions: '9+', default: -1 },
              { name: 'FetchOffset', type: 'int64', versions: '0+' },
              { name: 'LogStartOffset', type: 'int64', versions: '5+', default: -1 },
              { name: 'PartitionMaxBytes', type: 'int32', versions: '0+' },
            ],
          },
        ],
      },
      {
        name: 'ForgottenTopicsData', type: '[]ForgottenTopic', versions: '7+', fields: [
          { name: 'Topic', type: 'string', versions: '7-12' },
          { name: 'Partitions', type: '[]int32', versions: '7+' },
        ],
      },
      { name: 'RackId', type: 'string', versions: '11+', default: '' },
    ],
  },
  response: {
    flexibleVersions: '12+',
    fields: [
      { name: 'ThrottleTimeMs', type: 'int32', versions: '1+' },
      { name: 'ErrorCode', type: 'int16', versions: '7+' },
      { name: 'SessionId', type: 'int32', versions: '7+', default: 0 },
      {
        name: 'Responses', type: '[]FetchableTopicResponse', versions: '0+', fields: [
          { name: 'Topic', type: 'string', versions: '0-12' },
          {
            name: 'Partitions', type: '[]PartitionData', versions: '0+', fields: [
              { name: 'PartitionIndex', type: 'int32', versions: '0+' },
              { name: 'ErrorCode', type: 'int16', versions: '0+' },
              { name: 'HighWatermark', type: 'int64', versions: '0+' },
              { name: 'LastStableOffset', type: 'int64', versions: '4+', default: -1 },
              { name: 'LogStartOffset', type: 'int64', versions: '5+', default: -1 },
              {
                name: 'AbortedTransactions', type: '[]AbortedTransaction', versions: '4+', nullableVersions: '4+', fields: [
                  { name: 'ProducerId', type: 'int64', versions: '4+' },
                  { name: 'FirstOffset', type: 'int64', versions: '4+' },
                ],
              },
              // librdkafka skips the data unless this is -1.
              { name: 'PreferredReadReplica', type: 'int32', versions: '11+', default: -1 },
              // Nullable in Kafka's schema, but clients mishandle null: we always send bytes.
              { name: 'Records', type: 'records', versions: '0+', nullableVersions: '0+', encodeNullAsEmpty: true },
            ],
          },
        ],
      },
    ],
  },
});
