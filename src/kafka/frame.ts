// Whole frames: a request or response header followed by a body.
//
//   request  = [size:int32] apiKey:int16 apiVersion:int16 correlationId:int32
//              clientId:nullable int16-length string   (never compact, even in header v2)
//              [tagged fields]                          (header v2: flexible versions)
//              body
//   response = [size:int32] correlationId:int32 [tagged fields] body
//              (header v1 for flexible versions, except ApiVersions: always v0, because a
//               client must read it before it knows what the broker supports)
//
// decodeRequest and decodeResponse take a frame without its size prefix; encodeRequest and
// encodeResponse return one with it, ready for the socket.
//
// Trailing bytes after a request body are ignored, for every API, as Kafka's broker does
// (RequestContext.parseRequest reads the body and never looks at what is left). A frame whose
// body parses is therefore accepted even with bytes after it; everything before the end of the
// body is checked.
import { KafkaErrorCode } from './error-codes.ts';
import { compileMessage, type MessageCodec } from './compile.ts';
import { ProtocolError, type PartialHeader } from './errors.ts';
import { ApiKey, CODECS, SUPPORTED_VERSIONS, type ApiKeyValue, type ApiName, type ApiNameOf, type RequestBody, type RequestBodyInput, type ResponseBody, type ResponseBodyInput } from './registry.ts';
import { Reader, Writer } from './wire.ts';

export interface RequestHeader<K extends number = number> {
  apiKey: K;
  apiVersion: number;
  correlationId: number;
  clientId: string | null;
}

/** A decoded request; switch on `apiKey` to narrow `body` (and `header`) to that API's. */
export type DecodedRequest = {
  [N in ApiName]: { apiKey: (typeof ApiKey)[N]; header: RequestHeader<(typeof ApiKey)[N]>; body: RequestBody<N> };
}[ApiName];

/** What a response needs from the request it answers. */
export interface ResponseTarget<K extends number = number> {
  apiKey: K;
  apiVersion: number;
  correlationId: number;
}

// The header's pieces, compiled with the same DSL as the bodies.
const CLIENT_ID = compileMessage({ flexibleVersions: 'none', fields: [{ name: 'ClientId', type: 'string', versions: '0+', nullableVersions: '0+' }] }, 0, 'RequestHeader');
const HEADER_TAGS = compileMessage({ flexibleVersions: '0+', fields: [] }, 0, 'Header');
const REQUEST_HEADER_FIXED = 8;

function requestCodec(h: PartialHeader): MessageCodec {
  const api = h.apiKey >= 0 ? CODECS[h.apiKey] : undefined;
  if (api === undefined) throw new ProtocolError('UNKNOWN_API_KEY', { apiKey: h.apiKey }, h);
  const codec = h.apiVersion >= 0 ? api.request[h.apiVersion] : undefined;
  if (codec === undefined) throw new ProtocolError('UNSUPPORTED_VERSION', { apiKey: h.apiKey, apiVersion: h.apiVersion }, h);
  return codec;
}

function responseCodec(apiKey: number, apiVersion: number): MessageCodec {
  const api = apiKey >= 0 ? CODECS[apiKey] : undefined;
  if (api === undefined) throw new ProtocolError('UNKNOWN_API_KEY', { apiKey });
  const codec = apiVersion >= 0 ? api.response[apiVersion] : undefined;
  if (codec === undefined) throw new ProtocolError('UNSUPPORTED_VERSION', { apiKey, apiVersion });
  return codec;
}

/**
 * Parses a request frame (without the 4-byte size prefix). Throws ProtocolError, and nothing
 * else, on any input: UNKNOWN_API_KEY and UNSUPPORTED_VERSION carry the header read so far
 * (`err.header.correlationId` answers ApiVersions through apiVersionsFallback), MALFORMED too
 * once the first 8 bytes were there.
 */
export function decodeRequest(frame: Buffer): DecodedRequest {
  if (frame.length < REQUEST_HEADER_FIXED) throw new ProtocolError('FRAME_TOO_SHORT', { length: frame.length });
  const h: PartialHeader = { apiKey: frame.readInt16BE(0), apiVersion: frame.readInt16BE(2), correlationId: frame.readInt32BE(4) };
  const codec = requestCodec(h);
  const r = new Reader(frame, REQUEST_HEADER_FIXED);
  try {
    const clientId = CLIENT_ID.read(r).clientId as string | null;
    if (codec.flexible) HEADER_TAGS.read(r);
    const body = codec.read(r);
    return { apiKey: h.apiKey, header: { apiKey: h.apiKey, apiVersion: h.apiVersion, correlationId: h.correlationId, clientId }, body } as DecodedRequest;
  } catch (err) {
    if (err instanceof ProtocolError) err.header = h;
    throw err;
  }
}

/**
 * Encodes a response to `request`, size prefix included. `alloc` may supply the buffer (of
 * exactly the size asked), e.g. from a pool the connection refills once the bytes are written.
 */
export function encodeResponse<K extends ApiKeyValue>(request: ResponseTarget<K>, body: ResponseBodyInput<ApiNameOf<K>>, alloc?: (size: number) => Buffer): Buffer {
  const codec = responseCodec(request.apiKey, request.apiVersion);
  const taggedHeader = codec.flexible && request.apiKey !== ApiKey.ApiVersions;
  const headerSize = taggedHeader ? 5 : 4;
  const size = headerSize + codec.size(body);
  const w = new Writer(alloc ? alloc(4 + size) : Buffer.allocUnsafe(4 + size));
  w.int32(size);
  w.int32(request.correlationId);
  if (taggedHeader) w.uvarint(0);
  codec.write(w, body);
  return checkFilled(w);
}

/** Encodes a request, size prefix included (header v1, or v2 for flexible versions). */
export function encodeRequest<K extends ApiKeyValue>(header: RequestHeader<K>, body: RequestBodyInput<ApiNameOf<K>>): Buffer {
  const codec = requestCodec(header);
  const clientId = { clientId: header.clientId };
  const size = REQUEST_HEADER_FIXED + CLIENT_ID.size(clientId) + (codec.flexible ? 1 : 0) + codec.size(body);
  const w = new Writer(Buffer.allocUnsafe(4 + size));
  w.int32(size);
  w.int16(header.apiKey);
  w.int16(header.apiVersion);
  w.int32(header.correlationId);
  CLIENT_ID.write(w, clientId);
  if (codec.flexible) w.uvarint(0);
  codec.write(w, body);
  return checkFilled(w);
}

/**
 * Parses a response frame (without the size prefix) to a request of `apiKey` at `apiVersion`.
 * An ApiVersions answer carrying UNSUPPORTED_VERSION is read as v0, whatever was asked: that
 * is how a broker answers a version it does not know.
 */
export function decodeResponse<K extends ApiKeyValue>(frame: Buffer, apiKey: K, apiVersion: number): { correlationId: number; body: ResponseBody<ApiNameOf<K>> } {
  if (frame.length < 4) throw new ProtocolError('FRAME_TOO_SHORT', { length: frame.length });
  const correlationId = frame.readInt32BE(0);
  const isApiVersions = apiKey === ApiKey.ApiVersions;
  const fallback = isApiVersions && frame.length >= 6 && frame.readInt16BE(4) === KafkaErrorCode.UNSUPPORTED_VERSION;
  const codec = responseCodec(apiKey, fallback ? 0 : apiVersion);
  const r = new Reader(frame, 4);
  if (codec.flexible && !isApiVersions) HEADER_TAGS.read(r);
  return { correlationId, body: codec.read(r) as ResponseBody<ApiNameOf<K>> };
}

/**
 * The answer to an ApiVersions request of a version we do not support, as Kafka gives it: a
 * v0 body with UNSUPPORTED_VERSION and only ApiVersions' own range, so the client retries with
 * a version in it. The connection stays open.
 *   size:int32=16 correlationId:int32 errorCode:int16=35 count:int32=1 18:int16 min:int16 max:int16
 */
export function apiVersionsFallback(correlationId: number): Buffer {
  const own = SUPPORTED_VERSIONS[ApiKey.ApiVersions]!;
  return encodeResponse(
    { apiKey: ApiKey.ApiVersions, apiVersion: 0, correlationId },
    { errorCode: KafkaErrorCode.UNSUPPORTED_VERSION, apiKeys: [{ apiKey: ApiKey.ApiVersions, minVersion: own.min, maxVersion: own.max }] },
  );
}

/** The ApiVersions response's apiKeys: every API with the versions we support. */
export function advertisedApiVersions(): { apiKey: number; minVersion: number; maxVersion: number }[] {
  return Object.entries(SUPPORTED_VERSIONS)
    .map(([key, r]) => ({ apiKey: Number(key), minVersion: r.min, maxVersion: r.max }))
    .sort((a, b) => a.apiKey - b.apiKey);
}

function checkFilled(w: Writer): Buffer {
  // Size and write passes disagreeing would send uninitialised memory: a bug, never input.
  if (w.pos !== w.buf.length) throw new Error(`encoder wrote ${w.pos} of ${w.buf.length} bytes`);
  return w.buf;
}
