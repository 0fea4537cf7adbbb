// SaslAuthenticate (key 36): SaslAuthenticateRequest.json / SaslAuthenticateResponse.json,
// versions 0-1 (2 is flexible). AuthBytes holds credentials: never log a decoded request.
import { defineApi } from '../schema.ts';

export const SaslAuthenticate = defineApi({
  name: 'SaslAuthenticate',
  apiKey: 36,
  versions: '0-1',
  request: {
    flexibleVersions: '2+',
    fields: [{ name: 'AuthBytes', type: 'bytes', versions: '0+' }],
  },
  response: {
    flexibleVersions: '2+',
    fields: [
      { name: 'ErrorCode', type: 'int16', versions: '0+' },
      { name: 'ErrorMessage', type: 'string', versions: '0+', nullableVersions: '0+' },
      { name: 'AuthBytes', type: 'bytes', versions: '0+' },
      // 0: the session does not expire (librdkafka 2.0 cannot re-authenticate).
      { name: 'SessionLifetimeMs', type: 'int64', versions: '1+', default: 0 },
    ],
  },
});
