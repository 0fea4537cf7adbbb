// The APIs we speak: their keys, the versions we advertise, and their codecs, compiled for
// every advertised version when this module loads (a definition error fails start-up).
import { ApiVersions } from './apis/api-versions.ts';
import { CreateAcls } from './apis/create-acls.ts';
import { CreateTopics } from './apis/create-topics.ts';
import { DeleteAcls } from './apis/delete-acls.ts';
import { DeleteGroups } from './apis/delete-groups.ts';
import { DeleteTopics } from './apis/delete-topics.ts';
import { DescribeAcls } from './apis/describe-acls.ts';
import { DescribeConfigs } from './apis/describe-configs.ts';
import { DescribeGroups } from './apis/describe-groups.ts';
import { Fetch } from './apis/fetch.ts';
import { FindCoordinator } from './apis/find-coordinator.ts';
import { Heartbeat } from './apis/heartbeat.ts';
import { InitProducerId } from './apis/init-producer-id.ts';
import { JoinGroup } from './apis/join-group.ts';
import { LeaveGroup } from './apis/leave-group.ts';
import { ListGroups } from './apis/list-groups.ts';
import { ListOffsets } from './apis/list-offsets.ts';
import { Metadata } from './apis/metadata.ts';
import { OffsetCommit } from './apis/offset-commit.ts';
import { OffsetDelete } from './apis/offset-delete.ts';
import { OffsetFetch } from './apis/offset-fetch.ts';
import { Produce } from './apis/produce.ts';
import { SaslAuthenticate } from './apis/sasl-authenticate.ts';
import { SaslHandshake } from './apis/sasl-handshake.ts';
import { SyncGroup } from './apis/sync-group.ts';
import { compileMessage, type MessageCodec } from './compile.ts';
import { parseVersions, type ApiSpec, type MessageInput, type MessageValue, type VersionRange } from './schema.ts';

export const APIS = {
  Produce,
  Fetch,
  ListOffsets,
  Metadata,
  OffsetCommit,
  OffsetFetch,
  FindCoordinator,
  JoinGroup,
  Heartbeat,
  LeaveGroup,
  SyncGroup,
  DescribeGroups,
  ListGroups,
  SaslHandshake,
  ApiVersions,
  CreateTopics,
  DeleteTopics,
  InitProducerId,
  DescribeAcls,
  CreateAcls,
  DeleteAcls,
  DescribeConfigs,
  SaslAuthenticate,
  DeleteGroups,
  OffsetDelete,
} as const;

export type ApiName = keyof typeof APIS;
type Apis = typeof APIS;

export const ApiKey = Object.fromEntries(Object.entries(APIS).map(([name, api]) => [name, api.apiKey])) as { readonly [N in ApiName]: Apis[N]['apiKey'] };
export type ApiKeyValue = Apis[ApiName]['apiKey'];
/** The API name of a key: ApiNameOf<0> is 'Produce'. */
export type ApiNameOf<K extends number> = { [N in ApiName]: Apis[N]['apiKey'] extends K ? N : never }[ApiName];

export type RequestBody<N extends ApiName> = MessageValue<Apis[N]['request']>;
export type ResponseBody<N extends ApiName> = MessageValue<Apis[N]['response']>;
/** A request body to encode: fields added after version 0, or with a default, may be left out. */
export type RequestBodyInput<N extends ApiName> = MessageInput<Apis[N]['request']>;
/** A response body to encode: fields added after version 0, or with a default, may be left out. */
export type ResponseBodyInput<N extends ApiName> = MessageInput<Apis[N]['response']>;

export interface ApiCodecs {
  readonly name: ApiName;
  readonly apiKey: number;
  readonly versions: VersionRange;
  /** Indexed by version; undefined outside `versions`. */
  readonly request: readonly (MessageCodec | undefined)[];
  readonly response: readonly (MessageCodec | undefined)[];
}

function compileApi(api: ApiSpec): ApiCodecs {
  const versions = parseVersions(api.versions);
  const request: MessageCodec[] = [];
  const response: MessageCodec[] = [];
  for (let v = versions.min; v <= versions.max; v++) {
    request[v] = compileMessage(api.request, v, `${api.name}Request`);
    response[v] = compileMessage(api.response, v, `${api.name}Response`);
  }
  return { name: api.name as ApiName, apiKey: api.apiKey, versions, request, response };
}

/** Indexed by API key. */
export const CODECS: readonly (ApiCodecs | undefined)[] = (() => {
  const byKey: ApiCodecs[] = [];
  for (const [name, api] of Object.entries(APIS) as [string, ApiSpec][]) {
    if (api.name !== name) throw new Error(`API ${name} is defined as ${api.name}`);
    if (byKey[api.apiKey]) throw new Error(`API key ${api.apiKey} is defined twice`);
    byKey[api.apiKey] = compileApi(api);
  }
  return byKey;
})();

/** What we advertise in ApiVersions, by API key: exactly the versions compiled and tested. */
export const SUPPORTED_VERSIONS: Readonly<Record<number, Readonly<VersionRange>>> = Object.freeze(
  Object.fromEntries(Object.values(APIS).map((api) => [api.apiKey, Object.freeze(parseVersions(api.versions))])),
);
