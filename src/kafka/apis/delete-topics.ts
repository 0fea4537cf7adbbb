// DeleteTopics (key 20): DeleteTopicsRequest.json / DeleteTopicsResponse.json, versions 0-3
// (4+ is flexible, 6+ names topics by id).
import { defineApi } from '../schema.ts';

export const DeleteTopics = defineApi({
  name: 'DeleteTopics',
  apiKey: 20,
  versions: '0-3',
  request: {
    flexibleVersions: '4+',
    fields: [
      { name: 'TopicNames', type: '[]string', versions: '0-5' },
      { name: 'TimeoutMs', type: 'int32', versions: '0+' },
    ],
  },
  response: {
    flexibleVersions: '4+',
    fields: [
      { name: 'ThrottleTimeMs', type: 'int32', versions: '1+' },
      {
        name: 'Responses', type: '[]DeletableTopicResult', versions: '0+', fields: [
          { name: 'Name', type: 'string', versions: '0+' },
          { name: 'ErrorCode', type: 'int16', versions: '0+' },
        ],
      },
    ],
  },
});
