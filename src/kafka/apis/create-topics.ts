// CreateTopics (key 19): CreateTopicsRequest.json / CreateTopicsResponse.json, versions 0-4
// (5+ is flexible). Kafka's JSON spells timeoutMs and validateOnly in lower camel case already.
import { defineApi } from '../schema.ts';

export const CreateTopics = defineApi({
  name: 'CreateTopics',
  apiKey: 19,
  versions: '0-4',
  request: {
    flexibleVersions: '5+',
    fields: [
      {
        name: 'Topics', type: '[]CreatableTopic', versions: '0+', fields: [
          { name: 'Name', type: 'string', versions: '0+' },
          { name: 'NumPartitions', type: 'int32', versions: '0+' },
          { name: 'ReplicationFactor', type: 'int16', versions: '0+' },
          {
            name: 'Assignments', type: '[]CreatableReplicaAssignment', versions: '0+', fields: [
              { name: 'PartitionIndex', type: 'int32', versions: '0+' },
              { name: 'BrokerIds', type: '[]int32', versions: '0+' },
            ],
          },
          {
            name: 'Configs', type: '[]CreatableTopicConfig', versions: '0+', fields: [
              { name: 'Name', type: 'string', versions: '0+' },
              { name: 'Value', type: 'string', versions: '0+', nullableVersions: '0+' },
            ],
          },
        ],
      },
      { name: 'timeoutMs', type: 'int32', versions: '0+', default: 60000 },
      { name: 'validateOnly', type: 'bool', versions: '1+', default: false },
    ],
  },
  response: {
    flexibleVersions: '5+',
    fields: [
      { name: 'ThrottleTimeMs', type: 'int32', versions: '2+' },
      {
        name: 'Topics', type: '[]CreatableTopicResult', versions: '0+', fields: [
          { name: 'Name', type: 'string', versions: '0+' },
          { name: 'ErrorCode', type: 'int16', versions: '0+' },
          { name: 'ErrorMessage', type: 'string', versions: '1+', nullableVersions: '0+' },
        ],
      },
    ],
  },
});
