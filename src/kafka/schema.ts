// The schema DSL: Kafka's message definitions (clients/src/main/resources/common/message/*.json
// in apache/kafka) transcribed field by field, keeping Kafka's keys so the two read side by side:
//
//   { name: 'TopicData', type: '[]TopicProduceData', versions: '0+', fields: [
//     { name: 'Name', type: 'string', versions: '0+' },
//     { name: 'Records', type: 'records', versions: '0+', nullableVersions: '0+' } ] }
//
// - type: a primitive, `[]primitive`, or any other name for a struct (`[]Name` for an array of
//   them) whose `fields` follow; the struct's name is documentation only.
// - versions / nullableVersions / taggedVersions: '3+', '0-7', '4', or 'none'.
// - A field is tagged (tag + taggedVersions) only in the message's flexibleVersions.
// - default: as in Kafka's JSON, typed. Unset means 0, false, '', empty bytes, empty array,
//   default struct; records default to null.
// Only the fields of the versions we implement are transcribed; later ones are left out.
//
// The TypeScript types of decoded and encodable values are inferred from the definitions
// themselves (Kafka's `TopicData` is our `topicData`), so schema and types cannot drift.

export type Primitive = 'int8' | 'int16' | 'int32' | 'int64' | 'bool' | 'string' | 'bytes' | 'records';
export type DefaultValue = number | string | boolean | null;

export interface FieldSpec {
  readonly name: string;
  readonly type: string;
  readonly versions: string;
  readonly nullableVersions?: string;
  readonly taggedVersions?: string;
  readonly tag?: number;
  readonly default?: DefaultValue;
  readonly fields?: readonly FieldSpec[];
  /** Ours, not Kafka's: send null as an empty value (Fetch records: clients mishandle null). */
  readonly encodeNullAsEmpty?: boolean;
}

export interface MessageSpec {
  readonly flexibleVersions: string;
  readonly fields: readonly FieldSpec[];
}

export interface ApiSpec {
  readonly name: string;
  readonly apiKey: number;
  /** The versions we implement, test and advertise. */
  readonly versions: `${number}-${number}`;
  readonly request: MessageSpec;
  readonly response: MessageSpec;
}

/** Identity, for inference: keeps every literal of the definition in its type. */
export function defineApi<const A extends ApiSpec>(api: A): A {
  return api;
}

// ---- Versions ------------------------------------------------------------------------------

export interface VersionRange {
  min: number;
  max: number;
}

const NONE: VersionRange = { min: 0, max: -1 };

export function parseVersions(spec: string): VersionRange {
  if (spec === 'none') return NONE;
  const m = /^(\d+)(?:(\+)|-(\d+))?$/.exec(spec);
  if (!m) throw new Error(`invalid version range ${JSON.stringify(spec)}`);
  const min = Number(m[1]);
  const max = m[2] ? Number.POSITIVE_INFINITY : m[3] !== undefined ? Number(m[3]) : min;
  if (max < min) throw new Error(`invalid version range ${JSON.stringify(spec)}`);
  return { min, max };
}

export function inVersions(spec: string | undefined, version: number): boolean {
  if (spec === undefined) return false;
  const r = parseVersions(spec);
  return version >= r.min && version <= r.max;
}

// ---- Inferred value types ------------------------------------------------------------------

type Simplify<T> = { [K in keyof T]: T[K] } & {};

type ScalarValue<T extends string> = T extends 'int8' | 'int16' | 'int32' | 'int64'
  ? number
  : T extends 'bool'
    ? boolean
    : T extends 'string'
      ? string
      : T extends 'bytes' | 'records'
        ? Buffer
        : never;

type SubFields<F> = F extends { readonly fields: infer S extends readonly FieldSpec[] } ? S : readonly [];
type NullIfNullable<F> = F extends { readonly nullableVersions: string } ? null : never;

type OutValue<F extends FieldSpec> =
  | (F['type'] extends `[]${infer E}` ? (E extends Primitive ? ScalarValue<E>[] : StructValue<SubFields<F>>[]) : F['type'] extends Primitive ? ScalarValue<F['type']> : StructValue<SubFields<F>>)
  | NullIfNullable<F>;

type InValue<F extends FieldSpec> =
  | (F['type'] extends `[]${infer E}`
      ? E extends Primitive
        ? readonly ScalarValue<E>[]
        : readonly StructInput<SubFields<F>>[]
      : F['type'] extends Primitive
        ? ScalarValue<F['type']>
        : StructInput<SubFields<F>>)
  | NullIfNullable<F>;

/**
 * Required when encoding: fields present since version 0 with no explicit default. Fields
 * added later, tagged fields and fields with a default may be left out and take their default.
 */
type IsRequired<F extends FieldSpec> = F extends { readonly default: DefaultValue } | { readonly tag: number }
  ? false
  : F['versions'] extends '0+' | `0-${string}`
    ? true
    : false;

/** A decoded struct: every field, in every version (absent ones hold their default). */
export type StructValue<S extends readonly FieldSpec[]> = Simplify<{ [F in S[number] as Uncapitalize<F['name']>]: OutValue<F> }>;

/** A struct to encode. */
export type StructInput<S extends readonly FieldSpec[]> = Simplify<
  { [F in S[number] as IsRequired<F> extends true ? Uncapitalize<F['name']> : never]: InValue<F> } & {
    [F in S[number] as IsRequired<F> extends true ? never : Uncapitalize<F['name']>]?: InValue<F>;
  }
>;

export type MessageValue<M extends MessageSpec> = StructValue<M['fields']>;
export type MessageInput<M extends MessageSpec> = StructInput<M['fields']>;
