// Sample message bodies drawn from the schema itself: every field of a request or response,
// including fields the version does not send (the encoder must drop them). For round-trip
// tests and the fuzzer's corpus of valid frames; deterministic for a given random source.
//
//   full     every value differs from its default; arrays hold several elements
//   minimal  nulls wherever the version allows them, otherwise empty or zero
//   random   a mix, drawn from `random`
import { camelCase } from './compile.ts';
import { APIS, type ApiName } from './registry.ts';
import { inVersions, type FieldSpec } from './schema.ts';

export type SampleMode = 'full' | 'minimal' | 'random';
/** Uniform in [0, 1), like Math.random. */
export type RandomSource = () => number;

const INTS: Record<string, readonly number[]> = {
  int8: [1, -1, 127, -128, 42],
  int16: [1, -1, 32767, -32768, 300],
  int32: [1, -1, 2147483647, -2147483648, 70000],
  int64: [1, -1, 2 ** 53 - 1, -(2 ** 53 - 1), 0x1_0000_0005, 1_700_000_000_000],
};
// Multi-byte UTF-8, and a length past 127 so compact lengths need a 2-byte varint.
const STRINGS = ['a', 'topic-ü→😀', 'x'.repeat(200), 'consumer', ''];

export function sampleRequest(name: ApiName, version: number, mode: SampleMode, random: RandomSource = Math.random): Record<string, unknown> {
  return sampleStruct(APIS[name].request.fields, version, mode, random);
}

export function sampleResponse(name: ApiName, version: number, mode: SampleMode, random: RandomSource = Math.random): Record<string, unknown> {
  return sampleStruct(APIS[name].response.fields, version, mode, random);
}

function sampleStruct(fields: readonly FieldSpec[], version: number, mode: SampleMode, random: RandomSource): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const f of fields) o[camelCase(f.name)] = sampleField(f, version, mode, random);
  return o;
}

const pick = <T>(xs: readonly T[], random: RandomSource): T => xs[Math.floor(random() * xs.length)]!;

function sampleField(f: FieldSpec, version: number, mode: SampleMode, random: RandomSource): unknown {
  const nullable = inVersions(f.nullableVersions, version);
  if (nullable && (mode === 'minimal' || (mode === 'random' && random() < 0.25))) return null;
  if (f.type.startsWith('[]')) {
    const element = f.type.slice(2);
    const count = mode === 'minimal' ? 0 : mode === 'full' ? 2 : Math.floor(random() * 4);
    const out: unknown[] = [];
    for (let i = 0; i < count; i++) out.push(f.fields ? sampleStruct(f.fields, version, mode, random) : samplePrimitive(element, mode, random));
    return out;
  }
  if (f.fields) return sampleStruct(f.fields, version, mode, random);
  return samplePrimitive(f.type, mode, random, f.default);
}

function samplePrimitive(type: string, mode: SampleMode, random: RandomSource, notThis?: unknown): unknown {
  const full = mode === 'full';
  switch (type) {
    case 'bool':
      return full ? notThis !== true : mode === 'minimal' ? false : random() < 0.5;
    case 'string':
      return full ? STRINGS[Math.floor(random() * 3)]! : mode === 'minimal' ? '' : pick(STRINGS, random);
    case 'bytes':
    case 'records': {
      const n = full ? 1 + Math.floor(random() * 300) : mode === 'minimal' ? 0 : Math.floor(random() * 40);
      const b = Buffer.allocUnsafe(n);
      for (let i = 0; i < n; i++) b[i] = Math.floor(random() * 256);
      return b;
    }
    default: {
      if (mode === 'minimal') return 0;
      const choices = INTS[type]!.filter((x) => x !== notThis);
      return pick(choices, random);
    }
  }
}
