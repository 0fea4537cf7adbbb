// InitProducerId (key 22): InitProducerIdRequest.json / InitProducerIdResponse.json, versions
// 0-4; 2+ is flexible (librdkafka uses 2-4), 3+ lets a producer bump its epoch (KIP-360).
import { defineApi } from '../schema.ts';

export const InitProducerId = defineApi({
  name: 'InitProducerId',
  apiKey: 22,
  versions: '0-4',
  request: {
    flexibleVersions: '2+',
    fields: [
      { name: 'TransactionalId', type: 'string', versions: '0+', nullableVersions: '0+' },
      { name: 'TransactionTimeoutMs', type: 'int32', versions: '0+' },
      { name: 'ProducerId', type: 'int64', versions: '3+', default: -1 },
      { name: 'ProducerEpoch', type: 'int16', versions: '3+', default: -1 },
    ],
  },
  response: {
    flexibleVersions: '2+',
    fields: [
      { name: 'ThrottleTimeMs', type: 'int32', versions: '0+' },
      { name: 'ErrorCode', type: 'int16', versions: '0+' },
      { name: 'ProducerId', type: 'int64', versions: '0+', default: -1 },
      { name: 'ProducerEpoch', type: 'int16', versions: '0+' },
    ],
  },
});
