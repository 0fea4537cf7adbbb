// ApiVersions (key 18): ApiVersionsRequest.json / ApiVersionsResponse.json.
// v3+ is flexible, yet its response header stays v0 (see frame.ts). v4 only lets a feature's
// MinVersion be 0 in the response; its bytes are v3's.
import { defineApi } from '../schema.ts';

export const ApiVersions = defineApi({
  name: 'ApiVersions',
  apiKey: 18,
  versions: '0-4',
  request: {
    flexibleVersions: '3+',
    fields: [
      { name: 'ClientSoftwareName', type: 'string', versions: '3+' },
      { name: 'ClientSoftwareVersion', type: 'string', versions: '3+' },
    ],
  },
  response: {
    flexibleVersions: '3+',
    fields: [
      { name: 'ErrorCode', type: 'int16', versions: '0+' },
      {
        name: 'ApiKeys', type: '[]ApiVersion', versions: '0+', fields: [
          { name: 'ApiKey', type: 'int16', versions: '0+' },
          { name: 'MinVersion', type: 'int16', versions: '0+' },
          { name: 'MaxVersion', type: 'int16', versions: '0+' },
        ],
      },
      { name: 'ThrottleTimeMs', type: 'int32', versions: '1+' },
      {
        name: 'SupportedFeatures', type: '[]SupportedFeatureKey', versions: '3+', tag: 0, taggedVersions: '3+', fields: [
          { name: 'Name', type: 'string', versions: '3+' },
          { name: 'MinVersion', type: 'int16', versions: '3+' },
          { name: 'MaxVersion', type: 'int16', versions: '3+' },
        ],
      },
      { name: 'FinalizedFeaturesEpoch', type: 'int64', versions: '3+', tag: 1, taggedVersions: '3+', default: -1 },
      {
        name: 'FinalizedFeatures', type: '[]FinalizedFeatureKey', versions: '3+', tag: 2, taggedVersions: '3+', fields: [
          { name: 'Name', type: 'string', versions: '3+' },
          { name: 'MaxVersionLevel', type: 'int16', versions: '3+' },
          { name: 'MinVersionLevel', type: 'int16', versions: '3+' },
        ],
      },
      { name: 'ZkMigrationReady', type: 'bool', versions: '3+', tag: 3, taggedVersions: '3+', default: false },
    ],
  },
});
