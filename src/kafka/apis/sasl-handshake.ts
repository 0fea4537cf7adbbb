// SaslHandshake (key 17): SaslHandshakeRequest.json / SaslHandshakeResponse.json, versions 0-1,
// never flexible. After v1 the tokens travel in SaslAuthenticate. After v0 they would travel as
// raw frames without a request header, which the listener does not speak: it answers a v0
// handshake with UNSUPPORTED_VERSION and closes (kafka/sasl.ts). v0 stays advertised because
// librdkafka will not authenticate with a broker whose range starts above 0; it then uses v1.
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
