// The schema compiler: (message definition, version) → read / size / write closures, built once
// at start-up. Every decision that depends on the schema or the version (is this field present,
// tagged, nullable, compact?) is taken here; the closures only move bytes. Encoding is two
// passes, size then write, so each frame is one exact allocation and the records of a Fetch
// response are copied once.
//
// Decoding hostile input:
// - every length is checked against the bytes left before anything is allocated; an array's
//   count is checked against the smallest encoding of its elements, so a count of 2^31 fails
//   on the spot instead of looping or allocating;
// - only -1 (or compact 0) means null; other negative lengths are malformed (Kafka reads any
//   negative length as null; no client sends one);
// - strings are at most 32767 bytes, as Kafka enforces for compact strings too;
// - a known tagged field must fill exactly the size it declares; unknown tags are skipped.
import { ProtocolError } from './errors.ts';
import { inVersions, parseVersions, type DefaultValue, type FieldSpec, type MessageSpec, type Primitive } from './schema.ts';
import { Reader, uvarintSize, Writer } from './wire.ts';

/** One value's codec at one version. */
interface ValueCodec {
  read(r: Reader): unknown;
  size(v: unknown): number;
  write(w: Writer, v: unknown): void;
  /** Fewest bytes any value takes on the wire: bounds an array's count by the bytes left. */
  readonly minSize: number;
}

/** A message (or struct) at one version. */
export interface MessageCodec {
  readonly version: number;
  readonly flexible: boolean;
  read(r: Reader): Record<string, unknown>;
  size(v: object): number;
  write(w: Writer, v: object): void;
}

interface StructCodec extends ValueCodec {
  read(r: Reader): Record<string, unknown>;
  isDefault(v: Record<string, unknown>): boolean;
}

const PRIMITIVES: ReadonlySet<string> = new Set<Primitive>(['int8', 'int16', 'int32', 'int64', 'bool', 'string', 'bytes', 'records']);
const EMPTY = Buffer.alloc(0);
const MAX_STRING = 0x7fff;

export function camelCase(jsonName: string): string {
  return jsonName.charAt(0).toLowerCase() + jsonName.slice(1);
}

// ---- Fixed-size primitives -------------------------------------------------------------------

const fixed = (n: number, read: (r: Reader) => unknown, write: (w: Writer, v: never) => void): ValueCodec => ({
  read,
  size: () => n,
  write: write as (w: Writer, v: unknown) => void,
  minSize: n,
});
const INT8 = fixed(1, (r) => r.int8(), (w, v: number) => w.int8(v));
const INT16 = fixed(2, (r) => r.int16(), (w, v: number) => w.int16(v));
const INT32 = fixed(4, (r) => r.int32(), (w, v: number) => w.int32(v));
const INT64 = fixed(8, (r) => r.int64(), (w, v: number) => w.int64(v));
const BOOL = fixed(1, (r) => r.bool(), (w, v: boolean) => w.bool(v));

// ---- Length-prefixed values --------------------------------------------------------------------

interface Shape {
  flexible: boolean;
  nullable: boolean;
  path: string;
  version: number;
}

/** Reads a length prefix: int16/int32, or a compact uvarint holding length + 1. null is -1. */
function lengthReader(flexible: boolean, wide: boolean): (r: Reader) => number {
  if (flexible) return (r) => r.uvarint() - 1;
  return wide ? (r) => r.int32() : (r) => r.int16();
}

function nullOrThrow(s: Shape, length: number, at: number): null {
  if (length === -1 && s.nullable) return null;
  throw new ProtocolError(length === -1 ? 'UNEXPECTED_NULL' : 'INVALID_LENGTH', { field: s.path, length, offset: at });
}

function nullSize(s: Shape, wide: boolean): number {
  if (!s.nullable) throw new ProtocolError('NULL_NOT_ENCODABLE', { field: s.path, version: s.version });
  return s.flexible ? 1 : wide ? 4 : 2;
}

function writeLength(w: Writer, s: Shape, wide: boolean, length: number): void {
  if (s.flexible) w.uvarint(length + 1);
  else if (wide) w.int32(length);
  else w.int16(length);
}

function prefixSize(s: Shape, wide: boolean, length: number): number {
  return s.flexible ? uvarintSize(length + 1) : wide ? 4 : 2;
}

function stringCodec(s: Shape): ValueCodec {
  const readLength = lengthReader(s.flexible, false);
  return {
    read(r) {
      const at = r.pos;
      const n = readLength(r);
      if (n < 0) return nullOrThrow(s, n, at);
      if (n > MAX_STRING) throw new ProtocolError('INVALID_LENGTH', { field: s.path, length: n, offset: at });
      if (n > r.end - r.pos) throw new ProtocolError('LENGTH_EXCEEDS_FRAME', { field: s.path, length: n, offset: at, remaining: r.end - r.pos });
      const p = r.pos;
      r.pos = p + n;
      return r.buf.toString('utf8', p, p + n);
    },
    size(v) {
      if (v === null) return nullSize(s, false);
      const n = Buffer.byteLength(v as string, 'utf8');
      if (n > MAX_STRING) throw new ProtocolError('STRING_TOO_LONG', { field: s.path, length: n });
      return prefixSize(s, false, n) + n;
    },
    write(w, v) {
      if (v === null) return writeLength(w, s, false, -1);
      const n = Buffer.byteLength(v as string, 'utf8');
      writeLength(w, s, false, n);
      w.utf8(v as string, n);
    },
    minSize: s.flexible ? 1 : 2,
  };
}

/**
 * bytes are copied out of the frame (they are small and often kept, like group member
 * metadata, and must not pin a large frame); records are a view of the frame, never copied.
 */
function bytesCodec(s: Shape, zeroCopy: boolean, nullAsEmpty: boolean): ValueCodec {
  const readLength = lengthReader(s.flexible, true);
  const emptySize = s.flexible ? 1 : 4;
  return {
    read(r) {
      const at = r.pos;
      const n = readLength(r);
      if (n < 0) return nullOrThrow(s, n, at);
      if (n > r.end - r.pos) throw new ProtocolError('LENGTH_EXCEEDS_FRAME', { field: s.path, length: n, offset: at, remaining: r.end - r.pos });
      const p = r.pos;
      r.pos = p + n;
      const view = r.buf.subarray(p, p + n);
      return zeroCopy ? view : Buffer.from(view);
    },
    size(v) {
      if (v === null) return nullAsEmpty ? emptySize : nullSize(s, true);
      const n = (v as Buffer).length;
      return prefixSize(s, true, n) + n;
    },
    write(w, v) {
      if (v === null) return writeLength(w, s, true, nullAsEmpty ? 0 : -1);
      writeLength(w, s, true, (v as Buffer).length);
      w.bytes(v as Buffer);
    },
    minSize: s.flexible ? 1 : 4,
  };
}

function arrayCodec(s: Shape, element: ValueCodec): ValueCodec {
  const readLength = lengthReader(s.flexible, true);
  // No struct encodes in zero bytes; the floor of 1 keeps the bound even if one ever did.
  const elementMin = Math.max(1, element.minSize);
  const { read: readElement, size: elementSize, write: writeElement } = element;
  return {
    read(r) {
      const at = r.pos;
      const n = readLength(r);
      if (n < 0) return nullOrThrow(s, n, at);
      if (n > (r.end - r.pos) / elementMin) throw new ProtocolError('LENGTH_EXCEEDS_FRAME', { field: s.path, length: n, offset: at, remaining: r.end - r.pos });
      const out: unknown[] = [];
      for (let i = 0; i < n; i++) out.push(readElement(r));
      return out;
    },
    size(v) {
      if (v === null) return nullSize(s, true);
      const a = v as readonly unknown[];
      let total = prefixSize(s, true, a.length);
      for (let i = 0; i < a.length; i++) total += elementSize(a[i]);
      return total;
    },
    write(w, v) {
      if (v === null) return writeLength(w, s, true, -1);
      const a = v as readonly unknown[];
      writeLength(w, s, true, a.length);
      for (let i = 0; i < a.length; i++) writeElement(w, a[i]);
    },
    minSize: s.flexible ? 1 : 4,
  };
}

// ---- Defaults ----------------------------------------------------------------------------------

interface FieldKind {
  kind: 'primitive' | 'array' | 'struct';
  /** The primitive, or the array's element primitive; undefined for structs and struct arrays. */
  primitive: Primitive | undefined;
}

function kindOf(f: FieldSpec, path: string): FieldKind {
  const isArray = f.type.startsWith('[]');
  const base = isArray ? f.type.slice(2) : f.type;
  const primitive = PRIMITIVES.has(base) ? (base as Primitive) : undefined;
  if (primitive === undefined && !(f.fields && f.fields.length > 0)) throw new Error(`${path}: struct type ${f.type} needs fields`);
  if (primitive !== undefined && f.fields) throw new Error(`${path}: ${f.type} cannot have fields`);
  if (isArray && (primitive === 'records' || primitive === 'bytes')) throw new Error(`${path}: arrays of ${primitive} are not supported`);
  return { kind: isArray ? 'array' : primitive ? 'primitive' : 'struct', primitive };
}

/** A fresh default value for a field (fresh because arrays and structs are mutable). */
function defaultFactory(f: FieldSpec, path: string): () => unknown {
  const { kind, primitive } = kindOf(f, path);
  if (f.default !== undefined) {
    checkDefault(f, kind, primitive, path);
    const d = f.default;
    return () => d;
  }
  if (kind === 'array') return () => [];
  if (kind === 'struct') {
    const subs = f.fields!.map((sf) => [camelCase(sf.name), defaultFactory(sf, `${path}.${sf.name}`)] as const);
    return () => {
      const o: Record<string, unknown> = {};
      for (const [key, make] of subs) o[key] = make();
      return o;
    };
  }
  switch (primitive) {
    case 'bool':
      return () => false;
    case 'string':
      return () => '';
    case 'bytes':
      return () => EMPTY;
    case 'records':
      return f.nullableVersions ? () => null : () => EMPTY;
    default:
      return () => 0;
  }
}

function checkDefault(f: FieldSpec, kind: FieldKind['kind'], primitive: Primitive | undefined, path: string): void {
  const d: DefaultValue | undefined = f.default;
  const expected = kind !== 'primitive' ? 'null' : primitive === 'bool' ? 'boolean' : primitive === 'string' ? 'string' : primitive === 'bytes' || primitive === 'records' ? 'null' : 'number';
  const ok = d === null ? f.nullableVersions !== undefined : typeof d === expected;
  if (!ok) throw new Error(`${path}: default ${JSON.stringify(d)} does not fit type ${f.type}`);
}

/** Is `v` the field's default? Tagged fields holding their default are not sent, as in Kafka. */
function defaultTest(f: FieldSpec, kind: FieldKind['kind'], primitive: Primitive | undefined, struct: StructCodec | undefined): (v: unknown) => boolean {
  if (kind === 'struct') return (v) => struct!.isDefault(v as Record<string, unknown>);
  if (kind === 'array') return f.default === null ? (v) => v === null : (v) => v !== null && (v as unknown[]).length === 0;
  if (primitive === 'bytes' || primitive === 'records') {
    const nullDefault = f.default === null || (primitive === 'records' && f.nullableVersions !== undefined);
    return nullDefault ? (v) => v === null : (v) => v !== null && (v as Buffer).length === 0;
  }
  const d = f.default ?? (primitive === 'bool' ? false : primitive === 'string' ? '' : 0);
  return (v) => v === d;
}

// ---- Structs -----------------------------------------------------------------------------------

interface Slot {
  key: string;
  /** Decodes the field, or makes its default when the version does not send it (here). */
  read: (r: Reader) => unknown;
}

interface SentField {
  key: string;
  codec: ValueCodec;
  makeDefault: () => unknown;
  isDefault: (v: unknown) => boolean;
}

interface TaggedField extends SentField {
  tag: number;
  path: string;
}

function compileStruct(fields: readonly FieldSpec[], version: number, flexible: boolean, path: string): StructCodec {
  const slots: Slot[] = [];
  const sent: SentField[] = [];
  const tagged: TaggedField[] = [];
  const seenKeys = new Set<string>();
  for (const f of fields) {
    const fieldPath = `${path}.${f.name}`;
    const key = camelCase(f.name);
    if (seenKeys.has(key)) throw new Error(`${fieldPath}: duplicate field`);
    seenKeys.add(key);
    validateField(f, fieldPath);
    const makeDefault = defaultFactory(f, fieldPath);
    if (!inVersions(f.versions, version)) {
      slots.push({ key, read: makeDefault });
      continue;
    }
    const isTagged = f.taggedVersions !== undefined && inVersions(f.taggedVersions, version);
    if (isTagged && !flexible) {
      // Tagged fields exist only in flexible versions; elsewhere the field is not sent.
      slots.push({ key, read: makeDefault });
      continue;
    }
    const { codec, struct, kind, primitive } = compileField(f, version, flexible, fieldPath);
    const isDefault = defaultTest(f, kind, primitive, struct);
    if (isTagged) {
      slots.push({ key, read: makeDefault });
      tagged.push({ key, codec, makeDefault, isDefault, tag: f.tag!, path: fieldPath });
    } else {
      slots.push({ key, read: codec.read });
      sent.push({ key, codec, makeDefault, isDefault });
    }
  }
  tagged.sort((a, b) => a.tag - b.tag);
  for (let i = 1; i < tagged.length; i++) if (tagged[i]!.tag === tagged[i - 1]!.tag) throw new Error(`${path}: tag ${tagged[i]!.tag} is used twice`);

  const byTag: (TaggedField | undefined)[] = [];
  for (const t of tagged) byTag[t.tag] = t;
  const slotCount = slots.length;
  const sentCount = sent.length;

  function readTaggedFields(r: Reader, o: Record<string, unknown>): void {
    const count = r.uvarint();
    for (let i = 0; i < count; i++) {
      const tag = r.uvarint();
      const at = r.pos;
      const size = r.uvarint();
      if (size > r.end - r.pos) throw new ProtocolError('LENGTH_EXCEEDS_FRAME', { field: `${path} tagged field ${tag}`, length: size, offset: at, remaining: r.end - r.pos });
      const field = byTag[tag];
      if (field === undefined) {
        r.pos += size;
        continue;
      }
      const outerEnd = r.end;
      const stop = r.pos + size;
      r.end = stop;
      try {
        o[field.key] = field.codec.read(r);
        if (r.pos !== stop) throw new ProtocolError('TAGGED_FIELD_SIZE_MISMATCH', { field: field.path, tag, size, used: r.pos - (stop - size) });
      } finally {
        r.end = outerEnd;
      }
    }
  }

  function taggedSize(v: Record<string, unknown>): number {
    let count = 0;
    let total = 0;
    for (const t of tagged) {
      const x = v[t.key];
      if (x === undefined || t.isDefault(x)) continue;
      const n = t.codec.size(x);
      count++;
      total += uvarintSize(t.tag) + uvarintSize(n) + n;
    }
    return uvarintSize(count) + total;
  }

  function writeTaggedFields(w: Writer, v: Record<string, unknown>): void {
    let count = 0;
    for (const t of tagged) {
      const x = v[t.key];
      if (x !== undefined && !t.isDefault(x)) count++;
    }
    w.uvarint(count);
    for (const t of tagged) {
      const x = v[t.key];
      if (x === undefined || t.isDefault(x)) continue;
      w.uvarint(t.tag);
      w.uvarint(t.codec.size(x));
      t.codec.write(w, x);
    }
  }

  const everySent: SentField[] = [...sent, ...tagged];

  return {
    read(r) {
      const o: Record<string, unknown> = {};
      for (let i = 0; i < slotCount; i++) {
        const s = slots[i]!;
        o[s.key] = s.read(r);
      }
      if (flexible) readTaggedFields(r, o);
      return o;
    },
    size(v) {
      const o = v as Record<string, unknown>;
      let total = 0;
      for (let i = 0; i < sentCount; i++) {
        const f = sent[i]!;
        const x = o[f.key];
        total += f.codec.size(x === undefined ? f.makeDefault() : x);
      }
      if (flexible) total += taggedSize(o);
      return total;
    },
    write(w, v) {
      const o = v as Record<string, unknown>;
      for (let i = 0; i < sentCount; i++) {
        const f = sent[i]!;
        const x = o[f.key];
        f.codec.write(w, x === undefined ? f.makeDefault() : x);
      }
      if (flexible) writeTaggedFields(w, o);
    },
    minSize: sent.reduce((n, f) => n + f.codec.minSize, flexible ? 1 : 0),
    isDefault(v) {
      for (const t of everySent) {
        const x = v[t.key];
        if (x !== undefined && !t.isDefault(x)) return false;
      }
      return true;
    },
  };
}

function compileField(f: FieldSpec, version: number, flexible: boolean, path: string): { codec: ValueCodec; struct: StructCodec | undefined; kind: FieldKind['kind']; primitive: Primitive | undefined } {
  const { kind, primitive } = kindOf(f, path);
  const shape: Shape = { flexible, nullable: inVersions(f.nullableVersions, version), path, version };
  if (kind === 'struct') {
    if (shape.nullable) throw new Error(`${path}: nullable structs are not supported`);
    const struct = compileStruct(f.fields!, version, flexible, path);
    return { codec: struct, struct, kind, primitive };
  }
  if (kind === 'array') {
    const element = primitive ? primitiveCodec(primitive, { ...shape, nullable: false }, false) : compileStruct(f.fields!, version, flexible, path);
    return { codec: arrayCodec(shape, element), struct: undefined, kind, primitive };
  }
  return { codec: primitiveCodec(primitive!, shape, f.encodeNullAsEmpty === true), struct: undefined, kind, primitive };
}

function primitiveCodec(p: Primitive, shape: Shape, nullAsEmpty: boolean): ValueCodec {
  switch (p) {
    case 'int8':
      return INT8;
    case 'int16':
      return INT16;
    case 'int32':
      return INT32;
    case 'int64':
      return INT64;
    case 'bool':
      return BOOL;
    case 'string':
      return stringCodec(shape);
    case 'bytes':
      return bytesCodec(shape, false, nullAsEmpty);
    case 'records':
      return bytesCodec(shape, true, nullAsEmpty);
  }
}

function validateField(f: FieldSpec, path: string): void {
  parseVersions(f.versions);
  if (f.nullableVersions !== undefined) {
    parseVersions(f.nullableVersions);
    const { kind, primitive } = kindOf(f, path);
    if (kind === 'struct' || (kind === 'primitive' && primitive !== 'string' && primitive !== 'bytes' && primitive !== 'records')) throw new Error(`${path}: ${f.type} cannot be nullable`);
  }
  if ((f.tag === undefined) !== (f.taggedVersions === undefined)) throw new Error(`${path}: tag and taggedVersions go together`);
  if (f.taggedVersions !== undefined) parseVersions(f.taggedVersions);
  if (f.encodeNullAsEmpty && f.type !== 'records' && f.type !== 'bytes') throw new Error(`${path}: encodeNullAsEmpty applies to bytes and records`);
}

/** Compiles a message at one version. Throws (at start-up) if the definition is inconsistent. */
export function compileMessage(spec: MessageSpec, version: number, name: string): MessageCodec {
  const flexible = inVersions(spec.flexibleVersions, version);
  const struct = compileStruct(spec.fields, version, flexible, name);
  return { version, flexible, read: struct.read, size: struct.size, write: struct.write };
}
