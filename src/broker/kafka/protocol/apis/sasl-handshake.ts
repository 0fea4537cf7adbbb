// SaslHandshake (key 17): SaslHandshakeRequest.json / SaslHandshakeResponse.json, versions 0-1,
// never flexible. After v0 the tokens travel as raw size-prefixed frames (not this codec's
// business); after v1 they travel in SaslAuthenticate.
import { defineApi } from '../schema.ts';

export const SaslHandshake = defineApi({
  name: 'SaslHandshake',
  apiKey: 17,
  versions: '0-1',
  request: {
    flexibleVersions: 'none',
    fields: [{ name: 'Mechanism', type: 'string', versions: '0+' }],
  },
  response: {
    flexibleVersions: 'none',
    fields: [
      { name: 'ErrorCode', type: 'int16', versions: '0+' },
      { name: 'Mechanisms', type: '[]string', versions: '0+' },
    ],
  },
});
