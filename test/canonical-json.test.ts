// Canonical JSON (src/lib/canonical-json.ts) is what every policy snapshot hash is computed over,
// on the operator and on every broker: the fast serializer (native JSON.stringify over a
// key-sorted view) must give exactly the bytes of the definition — keys sorted by UTF-16 code
// units at every level, undefined members dropped, undefined array items as null — for any value.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { canonicalJson } from '../src/lib/index.ts';

/** The definition, written out member by member, independently of the code under test. */
function reference(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : reference(v))).join(',')}]`;
  const rec = value as Record<string, unknown>;
  const keys = Object.keys(rec)
    .filter((k) => rec[k] !== undefined)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${keys.map((k) => `${JSON.stringify(k)}:${reference(rec[k])}`).join(',')}}`;
}

/** A deterministic pseudo-random generator, so a failure reproduces. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

const KEYS = ['a', 'b', 'Z', 'zeta', 'é', 'ä', '😀', '\u2028', 'key with "quotes"', '', '10', '9', '007', '-1', '1.5', 'users', 'hash'];

function randomValue(r: () => number, depth: number): unknown {
  const pick = r();
  if (depth === 0 || pick < 0.35) {
    const leaves = [null, true, false, 0, -0, 1.5e300, -42, 'text', '', '"\\\n\u0000é😀', undefined];
    return leaves[Math.floor(r() * leaves.length)];
  }
  if (pick < 0.6) return Array.from({ length: Math.floor(r() * 5) }, () => randomValue(r, depth - 1));
  const obj: Record<string, unknown> = {};
  for (let i = Math.floor(r() * 6); i > 0; i--) obj[KEYS[Math.floor(r() * KEYS.length)]!] = randomValue(r, depth - 1);
  return obj;
}

test('gives the bytes of the definition for 5,000 random values (keys in any order, integer-like keys, unicode, undefined)', () => {
  const r = rng(20261206);
  for (let i = 0; i < 5000; i++) {
    const v = randomValue(r, 5);
    assert.equal(canonicalJson(v), reference(v), `value #${i}`);
  }
});

test('sorts keys at every level, drops undefined members, writes undefined array items as null', () => {
  const value = { users: [{ name: 'u', b: 1, a: { d: undefined, c: [undefined, 2] } }], cluster: { z: 1, a: 2 }, format: 'f' };
  assert.equal(canonicalJson(value), '{"cluster":{"a":2,"z":1},"format":"f","users":[{"a":{"c":[null,2]},"b":1,"name":"u"}]}');
  // An object whose keys are already sorted is serialized as it is, and left unchanged.
  const sorted = { a: 1, b: { c: 2 } };
  assert.equal(canonicalJson(sorted), '{"a":1,"b":{"c":2}}');
  assert.deepEqual(Object.keys(value), ['users', 'cluster', 'format'], 'the input is not reordered');
});

test('integer-like keys sort as strings ("10" before "9"), not as JavaScript orders them', () => {
  const value = { b: 1, 9: 'nine', 10: 'ten', a: [{ 2: 'x', 1: 'y' }] };
  assert.equal(canonicalJson(value), '{"10":"ten","9":"nine","a":[{"1":"y","2":"x"}],"b":1}');
});

test('an object with toJSON is serialized by its own members, as the definition does', () => {
  const date = new Date(0);
  assert.equal(canonicalJson({ at: date }), reference({ at: date }));
  assert.equal(canonicalJson({ at: date }), '{"at":{}}');
});

test('NaN and Infinity are refused, wherever they are', () => {
  assert.throws(() => canonicalJson({ a: [1, Number.NaN] }), /no NaN or Infinity/);
  assert.throws(() => canonicalJson({ 10: 1, b: Infinity }), /no NaN or Infinity/);
});

test('the same value in another key order has the same hash', () => {
  const a = { settings: { superUsers: ['root'], allowAnonymous: false }, users: [{ name: 'x', groups: ['g'] }] };
  const b = { users: [{ groups: ['g'], name: 'x' }], settings: { allowAnonymous: false, superUsers: ['root'] } };
  const hash = (v: unknown) => createHash('sha256').update(canonicalJson(v)).digest('hex');
  assert.equal(hash(a), hash(b));
});
