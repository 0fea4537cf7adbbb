// Produce (key 0): ProduceRequest.json / ProduceResponse.json, versions 0-8 (9+ is flexible).
// Note the order Kafka chose: ThrottleTimeMs comes after Responses.
import { defineApi } from '../schema.ts';

export const Produce = defineApi({
  name: 'Produce',
  apiKey: 0,
  versions: '0-8',
  request: {
    flexibleVersions: '9+',
    fields: [
      { name: 'TransactionalId', type: 'string', versions: '3+', nullableVersions: '3+', default: null },
      { name: 'Acks', type: 'int16', versions: '0+' },
      { name: 'TimeoutMs', type: 'int32', versions: '0+' },
      {
        name: 'TopicData', type: '[]TopicProduceData', versions: '0+', fields: [
          { name: 'Name', type: 'string', versions: '0+' },
          {
            name: 'PartitionData', type: '[]PartitionProduceData', versions: '0+', fields: [
              { name: 'Index', type: 'int32', versions: '0+' },
              { name: 'Records', type: 'records', versions: '0+', nullableVersions: '0+' },
            ],
          },
        ],
      },
    ],
  },
  response: {
    flexibleVersions: '9+',
    fields: [
      {
        name: 'Responses', type: '[]TopicProduceResponse', versions: '0+', fields: [
          { name: 'Name', type: 'string', versions: '0+' },
          {
            name: 'PartitionResponses', type: '[]PartitionProduceResponse', versions: '0+', fields: [
              { name: 'Index', type: 'int32', versions: '0+' },
              { name: 'ErrorCode', type: 'int16', versions: '0+' },
              { name: 'BaseOffset', type: 'int64', versions: '0+' },
              { name: 'LogAppendTimeMs', type: 'int64', versions: '2+', default: -1 },
              { name: 'LogStartOffset', type: 'int64', versions: '5+', default: -1 },
              {
                name: 'RecordErrors', type: '[]BatchIndexAndErrorMessage', versions: '8+', fields: [
                  { name: 'BatchIndex', type: 'int32', versions: '8+' },
                  { name: 'BatchIndexErrorMessage', type: 'string', versions: '8+', nullableVersions: '8+', default: null },
                ],
              },
              { name: 'ErrorMessage', type: 'string', versions: '8+', nullableVersions: '8+', default: null },
            ],
          },
        ],
      },
      { name: 'ThrottleTimeMs', type: 'int32', versions: '1+', default: 0 },
    ],
  },
});
