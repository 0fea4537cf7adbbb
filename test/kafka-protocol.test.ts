// The Kafka wire codec: every API at every advertised version round-trips; hand-built frames
// from the protocol's own definitions decode and encode byte for byte; malformed frames fail
// with ProtocolError and nothing else; definition mistakes fail at start-up.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { KafkaErrorCode } from '../src/kafka/error-codes.ts';
import { compileMessage } from '../src/kafka/compile.ts';
import {
  ApiKey,
  advertisedApiVersions,
  apiVersionsFallback,
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  isProtocolError,
  ProtocolError,
  ProtocolErrorKind,
  SUPPORTED_VERSIONS,
  type ApiKeyValue,
  type ProtocolErrorReason,
  type RequestHeader,
} from '../src/kafka/index.ts';
import { APIS, type ApiName } from '../src/kafka/registry.ts';
import { sampleRequest, sampleResponse, type SampleMode } from '../src/kafka/samples.ts';
import { inVersions, parseVersions, type FieldSpec } from '../src/kafka/schema.ts';
import { Reader, Writer } from '../src/kafka/wire.ts';
import { prng } from './harness/prng.ts';

const hex = (s: string) => Buffer.from(s.replace(/[^0-9a-f]/gi, ''), 'hex');
const str16 = (s: string) => Buffer.concat([hex(Buffer.byteLength(s).toString(16).padStart(4, '0')), Buffer.from(s)]);
const compact = (s: string) => Buffer.concat([Buffer.from([Buffer.byteLength(s) + 1]), Buffer.from(s)]);
const withSize = (body: Buffer) => Buffer.concat([hex(body.length.toString(16).padStart(8, '0')), body]);
/** The frame as decodeRequest / decodeResponse take it: without the size prefix. */
const unframed = (b: Buffer) => {
  assert.equal(b.readInt32BE(0), b.length - 4, 'size prefix counts the rest of the frame');
  return b.subarray(4);
};

function rejects(fn: () => unknown, reason: ProtocolErrorReason): ProtocolError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ProtocolError, `expected ProtocolError, got ${String(err)}`);
    assert.equal(err.reason, reason, err.message);
    return err;
  }
  assert.fail(`expected ProtocolError ${reason}`);
}


// ---- The oracle: what a body must decode to, worked out from the definitions independently
// of the compiler. Fields the version does not send come back as their default.

const camel = (name: string) => name[0]!.toLowerCase() + name.slice(1);

function defaultOf(f: FieldSpec): unknown {
  if (f.default !== undefined) return f.default;
  if (f.type.startsWith('[]')) return [];
  if (f.fields) return Object.fromEntries(f.fields.map((s) => [camel(s.name), defaultOf(s)]));
  if (f.type === 'bool') return false;
  if (f.type === 'string') return '';
  if (f.type === 'bytes') return Buffer.alloc(0);
  if (f.type === 'records') return f.nullableVersions ? null : Buffer.alloc(0);
  return 0;
}

function expected(fields: readonly FieldSpec[], value: Record<string, unknown>, version: number, flexible: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    const key = camel(f.name);
    const sent = inVersions(f.versions, version) && (f.taggedVersions === undefined || !inVersions(f.taggedVersions, version) || flexible);
    const v = value[key];
    out[key] = sent && v !== undefined ? expectedField(f, v, version, flexible) : defaultOf(f);
  }
  return out;
}

function expectedField(f: FieldSpec, v: unknown, version: number, flexible: boolean): unknown {
  if (v === null) return f.encodeNullAsEmpty ? Buffer.alloc(0) : null;
  if (f.type.startsWith('[]')) return (v as unknown[]).map((e) => (f.fields ? expected(f.fields, e as Record<string, unknown>, version, flexible) : e));
  if (f.fields) return expected(f.fields, v as Record<string, unknown>, version, flexible);
  return v;
}

// ---- Round trips -----------------------------------------------------------------------------

const anyRequest = (h: RequestHeader, body: Record<string, unknown>) => encodeRequest(h as RequestHeader<ApiKeyValue>, body as never);
const anyResponse = (h: RequestHeader, body: Record<string, unknown>) => encodeResponse(h as RequestHeader<ApiKeyValue>, body as never);

describe('every API round-trips at every advertised version', () => {
  const random = prng(20240601);
  const modes: SampleMode[] = ['full', 'minimal', 'random', 'random', 'random'];
  for (const [name, api] of Object.entries(APIS) as [ApiName, (typeof APIS)[ApiName]][]) {
    const { min, max } = SUPPORTED_VERSIONS[api.apiKey]!;
    test(`${name} (key ${api.apiKey}) requests and responses, versions ${min}-${max}`, () => {
      for (let v = min; v <= max; v++) {
        const reqFlexible = inVersions(api.request.flexibleVersions, v);
        const resFlexible = inVersions(api.response.flexibleVersions, v);
        modes.forEach((mode, i) => {
          const header: RequestHeader = { apiKey: api.apiKey, apiVersion: v, correlationId: 1000 + i, clientId: i === 1 ? null : 'client-ü' };
          const at = `${name} v${v} ${mode}#${i}`;

          const request = sampleRequest(name, v, mode, random);
          const frame = anyRequest(header, request);
          const decoded = decodeRequest(unframed(frame));
          assert.deepEqual(decoded.header, header, at);
          assert.equal(decoded.apiKey, api.apiKey);
          assert.deepEqual(decoded.body, expected(api.request.fields, request, v, reqFlexible), `${at} request`);
          assert.deepEqual(anyRequest(header, decoded.body), frame, `${at}: the decoded request encodes to the same bytes`);

          const response = sampleResponse(name, v, mode, random);
          const rframe = anyResponse(header, response);
          const back = decodeResponse(unframed(rframe), api.apiKey, v);
          assert.equal(back.correlationId, header.correlationId);
          assert.deepEqual(back.body, expected(api.response.fields, response, v, resFlexible), `${at} response`);
          assert.deepEqual(anyResponse(header, back.body), rframe, `${at}: the decoded response encodes to the same bytes`);
        });
      }
    });
  }

  test('fields left out when encoding take their defaults; fields a version lacks decode to defaults', () => {
    const h = { apiKey: ApiKey.Produce, apiVersion: 8, correlationId: 1 };
    const frame = encodeResponse(h, { responses: [{ name: 't', partitionResponses: [{ index: 0, errorCode: 0, baseOffset: 42 }] }] });
    const { body } = decodeResponse(unframed(frame), ApiKey.Produce, 8);
    assert.deepEqual(body.responses[0]!.partitionResponses[0], { index: 0, errorCode: 0, baseOffset: 42, logAppendTimeMs: -1, logStartOffset: -1, recordErrors: [], errorMessage: null });
    assert.equal(body.throttleTimeMs, 0);

    const meta = decodeRequest(unframed(encodeRequest({ apiKey: ApiKey.Metadata, apiVersion: 3, correlationId: 2, clientId: null }, { topics: null, allowAutoTopicCreation: false })));
    assert.equal(meta.apiKey, ApiKey.Metadata);
    if (meta.apiKey !== ApiKey.Metadata) return;
    assert.equal(meta.body.topics, null);
    assert.equal(meta.body.allowAutoTopicCreation, true, 'v3 has no AllowAutoTopicCreation: its default');
  });
});

describe('typed bodies', () => {
  test('a decoded request narrows on apiKey to its API body, with records a view of the frame', () => {
    const records = Buffer.from('batch-bytes');
    const frame = unframed(
      encodeRequest({ apiKey: ApiKey.Produce, apiVersion: 7, correlationId: 5, clientId: 'p' }, { acks: -1, timeoutMs: 30000, topicData: [{ name: 'orders', partitionData: [{ index: 3, records }] }] }),
    );
    const req = decodeRequest(frame);
    assert.equal(req.apiKey, ApiKey.Produce);
    if (req.apiKey !== ApiKey.Produce) return;
    const got = req.body.topicData[0]!.partitionData[0]!.records;
    assert.ok(got !== null);
    assert.deepEqual(got, records);
    assert.equal(got.buffer, frame.buffer, 'records share the frame memory');
    frame[frame.length - 1] = 0x21;
    assert.equal(got[got.length - 1], 0x21, 'records are not copied');
    assert.equal(req.body.transactionalId, null);
  });

  test('bytes fields are copied out of the frame', () => {
    const frame = unframed(
      encodeRequest(
        { apiKey: ApiKey.JoinGroup, apiVersion: 5, correlationId: 1, clientId: 'c' },
        { groupId: 'g', sessionTimeoutMs: 45000, memberId: '', protocolType: 'consumer', protocols: [{ name: 'range', metadata: Buffer.from('meta') }] },
      ),
    );
    const req = decodeRequest(frame);
    if (req.apiKey !== ApiKey.JoinGroup) assert.fail('JoinGroup');
    const metadata = req.body.protocols[0]!.metadata;
    frame.fill(0);
    assert.equal(metadata.toString(), 'meta');
    assert.equal(req.body.groupInstanceId, null);
    assert.equal(req.body.rebalanceTimeoutMs, -1, 'left out: its default');
  });

  test('Fetch never sends null records: null goes out as zero bytes', () => {
    const frame = encodeResponse(
      { apiKey: ApiKey.Fetch, apiVersion: 11, correlationId: 9 },
      { responses: [{ topic: 't', partitions: [{ partitionIndex: 0, errorCode: 0, highWatermark: 10, records: null }] }] },
    );
    assert.deepEqual(frame.subarray(-4), hex('00000000'), 'records length 0, not -1');
    const { body } = decodeResponse(unframed(frame), ApiKey.Fetch, 11);
    const p = body.responses[0]!.partitions[0]!;
    assert.deepEqual(p.records, Buffer.alloc(0));
    assert.equal(p.preferredReadReplica, -1);
    assert.equal(p.lastStableOffset, -1);
    assert.deepEqual(p.abortedTransactions, []);
  });

  test('the compiler rejects a value the version cannot carry', () => {
    const h = { apiKey: ApiKey.Metadata, apiVersion: 0, correlationId: 1, clientId: null };
    const err = rejects(() => encodeRequest(h, { topics: null }), 'NULL_NOT_ENCODABLE');
    assert.equal(err.kind, ProtocolErrorKind.Unencodable);
    assert.match(err.message, /MetadataRequest\.Topics/);
    rejects(() => encodeRequest({ ...h, apiVersion: 1 }, { topics: [{ name: 'x'.repeat(40000) }] }), 'STRING_TOO_LONG');
    rejects(() => encodeResponse({ apiKey: ApiKey.Fetch, apiVersion: 3, correlationId: 1 }, { responses: [] }), 'UNSUPPORTED_VERSION');
  });

  test('types follow the schema: required fields are required, names are Kafka names in camel case', () => {
    const h = { apiKey: ApiKey.Heartbeat, apiVersion: 3, correlationId: 1 };
    // @ts-expect-error errorCode is in every version and has no default
    assert.ok(encodeResponse(h, {}));
    // @ts-expect-error Kafka's name is ErrorCode, so ours is errorCode
    assert.ok(encodeResponse(h, { errorCode: 0, error_code: 0 }));
    assert.ok(encodeResponse(h, { errorCode: 0 }));
  });

  test("a broker's dispatch: narrow on apiKey, answer with the request's header and a typed body", () => {
    const answer = (frame: Buffer): Buffer | undefined => {
      const req = decodeRequest(frame);
      switch (req.apiKey) {
        case ApiKey.Heartbeat:
          return encodeResponse(req.header, { errorCode: req.body.generationId === 4 ? KafkaErrorCode.NONE : KafkaErrorCode.ILLEGAL_GENERATION });
        case ApiKey.Produce:
          // @ts-expect-error a Produce response has no errorCode at the top
          return encodeResponse(req.header, { errorCode: 0, responses: [] });
        default:
          return undefined;
      }
    };
    const frame = unframed(encodeRequest({ apiKey: ApiKey.Heartbeat, apiVersion: 1, correlationId: 77, clientId: 'c' }, { groupId: 'g', generationId: 4, memberId: 'm' }));
    assert.deepEqual(answer(frame), hex('0000000a 0000004d 00000000 0000'));
  });
});

// ---- Golden frames, built by hand from the message definitions -------------------------------

describe('golden frames', () => {
  test('ApiVersions v0 request: header v1 and an empty body', () => {
    const bytes = withSize(Buffer.concat([hex('0012 0000 00000001'), str16('kcat')]));
    assert.deepEqual(encodeRequest({ apiKey: ApiKey.ApiVersions, apiVersion: 0, correlationId: 1, clientId: 'kcat' }, {}), bytes);
    const req = decodeRequest(unframed(bytes));
    assert.deepEqual(req.header, { apiKey: 18, apiVersion: 0, correlationId: 1, clientId: 'kcat' });
    assert.deepEqual(req.body, { clientSoftwareName: '', clientSoftwareVersion: '' });
  });

  test('ApiVersions v3 request as librdkafka sends it: header v2 (client id stays int16-prefixed), compact strings', () => {
    const bytes = withSize(Buffer.concat([hex('0012 0003 00000002'), str16('rdkafka'), hex('00'), compact('librdkafka'), compact('2.0.2'), hex('00')]));
    const req = decodeRequest(unframed(bytes));
    assert.deepEqual(req.header, { apiKey: 18, apiVersion: 3, correlationId: 2, clientId: 'rdkafka' });
    assert.deepEqual(req.body, { clientSoftwareName: 'librdkafka', clientSoftwareVersion: '2.0.2' });
    assert.deepEqual(encodeRequest({ apiKey: 18, apiVersion: 3, correlationId: 2, clientId: 'rdkafka' }, { clientSoftwareName: 'librdkafka', clientSoftwareVersion: '2.0.2' }), bytes);
  });

  const apiKeys = [
    { apiKey: 0, minVersion: 0, maxVersion: 8 },
    { apiKey: 18, minVersion: 0, maxVersion: 4 },
  ];

  test('ApiVersions v0 response: correlation id, error, int32-counted array', () => {
    const bytes = withSize(hex('00000007 0000 00000002 0000 0000 0008 0012 0000 0004'));
    assert.deepEqual(encodeResponse({ apiKey: 18, apiVersion: 0, correlationId: 7 }, { errorCode: 0, apiKeys }), bytes);
    assert.deepEqual(decodeResponse(unframed(bytes), 18, 0).body.apiKeys, apiKeys);
  });

  test('ApiVersions v3 response: header v0 (no tagged fields), compact array, tagged fields per struct and at the end', () => {
    const bytes = withSize(hex('00000007 0000 03 0000 0000 0008 00 0012 0000 0004 00 00000000 00'));
    assert.deepEqual(encodeResponse({ apiKey: 18, apiVersion: 3, correlationId: 7 }, { errorCode: 0, apiKeys }), bytes);
    // With tagged fields: tag 1 FinalizedFeaturesEpoch (int64, 8 bytes) and tag 3 ZkMigrationReady.
    const tagged = withSize(hex('00000007 0000 01 00000000 02 01 08 0000000000000005 03 01 01'));
    const body = decodeResponse(unframed(tagged), 18, 3).body;
    assert.equal(body.finalizedFeaturesEpoch, 5);
    assert.equal(body.zkMigrationReady, true);
    assert.deepEqual(body.supportedFeatures, []);
    assert.deepEqual(encodeResponse({ apiKey: 18, apiVersion: 3, correlationId: 7 }, { errorCode: 0, apiKeys: [], finalizedFeaturesEpoch: 5, zkMigrationReady: true }), tagged);
  });

  test('the UNSUPPORTED_VERSION fallback answer, byte for byte as in the notes', () => {
    const max = SUPPORTED_VERSIONS[ApiKey.ApiVersions]!.max.toString(16).padStart(4, '0');
    assert.deepEqual(apiVersionsFallback(0x01020304), hex(`00000010 01020304 0023 00000001 0012 0000 ${max}`));
    const { body } = decodeResponse(unframed(apiVersionsFallback(5)), ApiKey.ApiVersions, 4);
    assert.equal(body.errorCode, KafkaErrorCode.UNSUPPORTED_VERSION);
    assert.deepEqual(body.apiKeys, [{ apiKey: 18, minVersion: 0, maxVersion: SUPPORTED_VERSIONS[18]!.max }]);
  });

  test('Produce v3 request: header, null transactional id, acks, timeout, topics, records', () => {
    const bytes = withSize(
      Buffer.concat([hex('0000 0003 0000002a'), str16('producer'), hex('ffff ffff 00007530 00000001'), str16('orders'), hex('00000001 00000002 00000003 010203')]),
    );
    const req = decodeRequest(unframed(bytes));
    assert.deepEqual(req.header, { apiKey: 0, apiVersion: 3, correlationId: 42, clientId: 'producer' });
    assert.deepEqual(req.body, { transactionalId: null, acks: -1, timeoutMs: 30000, topicData: [{ name: 'orders', partitionData: [{ index: 2, records: hex('010203') }] }] });
    assert.deepEqual(encodeRequest(req.header, req.body as never), bytes);
  });

  test('InitProducerId v2 response: header v1 carries an empty tagged-field section', () => {
    const bytes = withSize(hex('00000003 00 00000000 0000 0000000000001000 0001 00'));
    assert.deepEqual(encodeResponse({ apiKey: ApiKey.InitProducerId, apiVersion: 2, correlationId: 3 }, { throttleTimeMs: 0, errorCode: 0, producerId: 4096, producerEpoch: 1 }), bytes);
  });

  test('Metadata v1 request: null topics (all of them) is int32 -1; v0 has no null and sends an empty array', () => {
    const v1 = withSize(Buffer.concat([hex('0003 0001 00000001'), str16('c'), hex('ffffffff')]));
    assert.deepEqual(encodeRequest({ apiKey: 3, apiVersion: 1, correlationId: 1, clientId: 'c' }, { topics: null }), v1);
    const v0 = withSize(Buffer.concat([hex('0003 0000 00000001'), str16('c'), hex('ffffffff')]));
    rejects(() => decodeRequest(unframed(v0)), 'UNEXPECTED_NULL');
  });

  test('OffsetFetch v7 request (flexible): compact strings and arrays, RequireStable', () => {
    const bytes = withSize(Buffer.concat([hex('0009 0007 00000004'), str16('c'), hex('00'), compact('grp'), hex('02'), compact('t'), hex('03 00000000 00000001 00'), hex('01 00')]));
    const req = decodeRequest(unframed(bytes));
    assert.deepEqual(req.body, { groupId: 'grp', topics: [{ name: 't', partitionIndexes: [0, 1] }], requireStable: true });
    assert.deepEqual(encodeRequest(req.header, req.body as never), bytes);
  });

  test('advertisedApiVersions lists every API once, sorted, matching SUPPORTED_VERSIONS', () => {
    const list = advertisedApiVersions();
    assert.deepEqual(
      list.map((e) => e.apiKey),
      Object.values(APIS)
        .map((a) => a.apiKey)
        .sort((a, b) => a - b),
    );
    for (const e of list) assert.deepEqual({ min: e.minVersion, max: e.maxVersion }, SUPPORTED_VERSIONS[e.apiKey]);
  });

  test('the advertised table holds what librdkafka and the Java client need', () => {
    const has = (key: number, v: number) => v >= SUPPORTED_VERSIONS[key]!.min && v <= SUPPORTED_VERSIONS[key]!.max;
    assert.ok(has(ApiKey.Produce, 0), 'Produce 0: otherwise librdkafka disables gzip/snappy/lz4');
    assert.ok(has(ApiKey.Produce, 3) && has(ApiKey.Fetch, 4), 'message format v2');
    assert.ok(has(ApiKey.Produce, 7) && has(ApiKey.Fetch, 10), 'zstd');
    assert.ok(has(ApiKey.FindCoordinator, 0), 'broker group coordinator');
    for (const [key, v] of [
      [ApiKey.OffsetCommit, 1],
      [ApiKey.OffsetCommit, 2],
      [ApiKey.OffsetFetch, 1],
      [ApiKey.JoinGroup, 0],
      [ApiKey.SyncGroup, 0],
      [ApiKey.Heartbeat, 0],
      [ApiKey.LeaveGroup, 0],
    ] as const)
      assert.ok(has(key, v), `balanced consumer needs ${key} v${v}`);
    assert.ok(has(ApiKey.SaslHandshake, 0) && has(ApiKey.SaslHandshake, 1) && has(ApiKey.SaslAuthenticate, 0), 'SASL');
    assert.ok(has(ApiKey.InitProducerId, 0) && has(ApiKey.ListOffsets, 1), 'idempotence, offsets by time');
    assert.ok(has(ApiKey.ApiVersions, 3) && has(ApiKey.OffsetFetch, 7) && has(ApiKey.ListGroups, 4) && has(ApiKey.InitProducerId, 4), "librdkafka's flexible versions");
  });
});

// ---- Malformed input -------------------------------------------------------------------------

describe('malformed requests fail with ProtocolError', () => {
  const produceHead = Buffer.concat([hex('0000 0003 00000009'), str16('p'), hex('ffff ffff 00007530')]);

  test('frames shorter than a header', () => {
    for (let n = 0; n < 8; n++) rejects(() => decodeRequest(Buffer.alloc(n)), 'FRAME_TOO_SHORT');
  });

  test('unknown API keys and unsupported versions are their own kinds and carry the correlation id', () => {
    const unknown = rejects(() => decodeRequest(hex('0063 0000 0000abcd 0000')), 'UNKNOWN_API_KEY');
    assert.equal(unknown.kind, ProtocolErrorKind.UnknownApiKey);
    assert.deepEqual(unknown.header, { apiKey: 99, apiVersion: 0, correlationId: 0xabcd });
    rejects(() => decodeRequest(hex('ffff 0000 00000001')), 'UNKNOWN_API_KEY');
    rejects(() => decodeRequest(hex('0015 0000 00000001')), 'UNKNOWN_API_KEY');

    const tooNew = rejects(() => decodeRequest(hex('0012 0063 00000077 0000 00 00 00 00')), 'UNSUPPORTED_VERSION');
    assert.equal(tooNew.kind, ProtocolErrorKind.UnsupportedVersion);
    assert.equal(tooNew.header?.correlationId, 0x77, 'enough to send apiVersionsFallback');
    rejects(() => decodeRequest(hex('0001 0003 00000001 0000')), 'UNSUPPORTED_VERSION');
    rejects(() => decodeRequest(hex('0000 ffff 00000001 0000')), 'UNSUPPORTED_VERSION');
  });

  test('every truncation of a valid frame of every API and version', () => {
    const random = prng(7);
    let frames = 0;
    for (const [name, api] of Object.entries(APIS) as [ApiName, (typeof APIS)[ApiName]][]) {
      const { min, max } = SUPPORTED_VERSIONS[api.apiKey]!;
      for (let v = min; v <= max; v++) {
        const frame = unframed(anyRequest({ apiKey: api.apiKey, apiVersion: v, correlationId: 1, clientId: 'c' }, sampleRequest(name, v, 'random', random)));
        for (let n = 0; n < frame.length; n++) {
          assert.throws(() => decodeRequest(frame.subarray(0, n)), (err) => isProtocolError(err, ProtocolErrorKind.Malformed), `${name} v${v} cut at ${n}`);
        }
        frames++;
      }
    }
    assert.ok(frames > 80);
  });

  test('absurd array counts fail before anything is allocated', () => {
    const before = process.memoryUsage().rss;
    for (const count of ['7fffffff', '40000000', '00000002']) rejects(() => decodeRequest(Buffer.concat([produceHead, hex(count)])), 'LENGTH_EXCEEDS_FRAME');
    // Flexible (OffsetFetch v6): compact count 2^32 - 2 as a 5-byte varint.
    const flexHead = Buffer.concat([hex('0009 0006 00000001'), str16('c'), hex('00'), compact('g')]);
    rejects(() => decodeRequest(Buffer.concat([flexHead, hex('feffffff0f')])), 'LENGTH_EXCEEDS_FRAME');
    assert.ok(process.memoryUsage().rss - before < 50 * 2 ** 20);
  });

  test('absurd string and bytes lengths', () => {
    rejects(() => decodeRequest(Buffer.concat([produceHead, hex('00000001 7fff')])), 'LENGTH_EXCEEDS_FRAME');
    rejects(() => decodeRequest(Buffer.concat([produceHead, hex('00000001 0001 61 00000001 00000000 7fffffff')])), 'LENGTH_EXCEEDS_FRAME');
    rejects(() => decodeRequest(Buffer.concat([produceHead, hex('00000001 fffe 00000000')])), 'INVALID_LENGTH');
    rejects(() => decodeRequest(Buffer.concat([produceHead, hex('00000001 ffff 00000000')])), 'UNEXPECTED_NULL');
    rejects(() => decodeRequest(Buffer.concat([produceHead, hex('fffffffe')])), 'INVALID_LENGTH');
    rejects(() => decodeRequest(Buffer.concat([produceHead, hex('00000001 0001 61 00000001 00000000 fffffffe')])), 'INVALID_LENGTH');
    // Compact string longer than 32767 bytes, even if the frame holds it.
    const flexHead = Buffer.concat([hex('0009 0006 00000001'), str16('c'), hex('00')]);
    rejects(() => decodeRequest(Buffer.concat([flexHead, hex('818002'), Buffer.alloc(40000)])), 'INVALID_LENGTH');
  });

  test('varints longer than 5 bytes or 32 bits', () => {
    const flexHead = Buffer.concat([hex('0009 0006 00000001'), str16('c')]);
    rejects(() => decodeRequest(Buffer.concat([flexHead, hex('ffffffffff01')])), 'VARINT_TOO_LONG');
    rejects(() => decodeRequest(Buffer.concat([flexHead, hex('ffffffff1f')])), 'VARINT_TOO_LONG');
    const r = new Reader(hex('ffffffff0f'));
    assert.equal(r.uvarint(), 2 ** 32 - 1);
  });

  test('tagged fields: unknown ones are skipped, sizes past the frame fail', () => {
    const ok = Buffer.concat([hex('0012 0003 00000001'), str16('c'), hex('01 05 02 aaaa'), compact('n'), compact('v'), hex('02 00 00 09 01 bb')]);
    const req = decodeRequest(ok);
    assert.deepEqual(req.body, { clientSoftwareName: 'n', clientSoftwareVersion: 'v' });
    const bad = Buffer.concat([hex('0012 0003 00000001'), str16('c'), hex('01 05 7f aaaa')]);
    rejects(() => decodeRequest(bad), 'LENGTH_EXCEEDS_FRAME');
    // A known tagged field (ApiVersions response tag 1, an int64) must fill exactly its size.
    rejects(() => decodeResponse(hex('00000007 0000 01 00000000 01 01 09 0000000000000005 00'), 18, 3), 'TAGGED_FIELD_SIZE_MISMATCH');
    rejects(() => decodeResponse(hex('00000007 0000 01 00000000 01 01 04 00000005'), 18, 3), 'TRUNCATED');
  });

  test('trailing bytes after the body are ignored, as Kafka does', () => {
    const frame = unframed(encodeRequest({ apiKey: ApiKey.Heartbeat, apiVersion: 3, correlationId: 1, clientId: 'c' }, { groupId: 'g', generationId: 4, memberId: 'm' }));
    assert.deepEqual(decodeRequest(Buffer.concat([frame, hex('deadbeef')])).body, decodeRequest(frame).body);
  });

  test('errors name offsets and schema paths, never client bytes', () => {
    const secret = 'hunter2-secret-password';
    const frame = unframed(encodeRequest({ apiKey: ApiKey.SaslAuthenticate, apiVersion: 1, correlationId: 1, clientId: secret }, { authBytes: Buffer.from(`\0user\0${secret}`) }));
    const messages: string[] = [];
    for (let n = 8; n < frame.length; n++) {
      try {
        decodeRequest(frame.subarray(0, n));
      } catch (err) {
        assert.ok(isProtocolError(err, ProtocolErrorKind.Malformed));
        messages.push(err.message);
      }
    }
    assert.equal(messages.length, frame.length - 8);
    for (const m of messages) assert.ok(!m.includes('hunter2') && !m.includes(Buffer.from('hunter2').toString('hex')), m);
  });
});

// ---- The DSL and its compiler ----------------------------------------------------------------

describe('schema compiler', () => {
  const spec = {
    flexibleVersions: '1+',
    fields: [
      { name: 'Id', type: 'int32', versions: '0+' },
      { name: 'Label', type: 'string', versions: '0+', nullableVersions: '1+', default: null },
      { name: 'Point', type: 'Point', versions: '1+', tag: 4, taggedVersions: '1+', fields: [{ name: 'X', type: 'int64', versions: '1+', default: -1 }] },
      { name: 'Names', type: '[]string', versions: '1+', tag: 0, taggedVersions: '1+' },
      { name: 'Later', type: 'int16', versions: '2+', default: 7 },
    ],
  } as const;
  const roundTrip = (version: number, value: object) => {
    const codec = compileMessage(spec, version, 'Test');
    const buf = Buffer.alloc(codec.size(value));
    const w = new Writer(buf);
    codec.write(w, value);
    assert.equal(w.pos, buf.length);
    return { buf, back: codec.read(new Reader(buf)) };
  };

  test('tagged fields are sent in tag order, only when not default, and read back', () => {
    const { buf, back } = roundTrip(1, { id: 1, label: null, point: { x: 3 }, names: ['a'] });
    assert.deepEqual(buf, hex('00000001 00 02 00 03 02 02 61 04 09 0000000000000003 00'));
    assert.deepEqual(back, { id: 1, label: null, point: { x: 3 }, names: ['a'], later: 7 });
    const plain = roundTrip(1, { id: 1, label: 'l', point: { x: -1 }, names: [] });
    assert.deepEqual(plain.buf, hex('00000001 02 6c 00'), 'default tagged values are not sent');
    assert.deepEqual(plain.back, { id: 1, label: 'l', point: { x: -1 }, names: [], later: 7 });
  });

  test('a non-flexible version sends no tagged section and no tagged field', () => {
    const { buf, back } = roundTrip(0, { id: 2, label: 'x', point: { x: 5 }, names: ['z'] });
    assert.deepEqual(buf, hex('00000002 0001 78'));
    assert.deepEqual(back, { id: 2, label: 'x', point: { x: -1 }, names: [], later: 7 });
  });

  test('version ranges', () => {
    assert.deepEqual(parseVersions('3+'), { min: 3, max: Infinity });
    assert.deepEqual(parseVersions('0-7'), { min: 0, max: 7 });
    assert.deepEqual(parseVersions('4'), { min: 4, max: 4 });
    assert.ok(!inVersions('none', 0));
    assert.throws(() => parseVersions('7-3'));
    assert.throws(() => parseVersions('v1'));
  });

  test('inconsistent definitions fail when compiled, at start-up', () => {
    const bad = (fields: readonly FieldSpec[], message: RegExp) => assert.throws(() => compileMessage({ flexibleVersions: '0+', fields }, 0, 'Bad'), message);
    bad([{ name: 'S', type: 'Thing', versions: '0+' }], /needs fields/);
    bad([{ name: 'N', type: 'int32', versions: '0+', nullableVersions: '0+' }], /cannot be nullable/);
    bad([{ name: 'D', type: 'int32', versions: '0+', default: 'x' }], /does not fit/);
    bad([{ name: 'D', type: 'string', versions: '0+', default: null }], /does not fit/);
    bad([{ name: 'T', type: 'int32', versions: '0+', tag: 1 }], /go together/);
    bad(
      [
        { name: 'A', type: 'int32', versions: '0+', tag: 1, taggedVersions: '0+' },
        { name: 'B', type: 'int32', versions: '0+', tag: 1, taggedVersions: '0+' },
      ],
      /used twice/,
    );
    bad(
      [
        { name: 'A', type: 'int32', versions: '0+' },
        { name: 'a', type: 'int32', versions: '0+' },
      ],
      /duplicate/,
    );
    bad([{ name: 'V', type: 'int32', versions: '2-1' }], /invalid version range/);
  });
});
