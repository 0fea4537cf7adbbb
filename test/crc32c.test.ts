// CRC-32C: the SSE4.2 routine (native/crc32c.c) against the RFC 3720 vectors and the portable one.
import { crc32c as portable } from '@node-rs/crc32';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { crc32c, CRC32C_IMPLEMENTATION } from '../src/log/crc32c.ts';

test('the SSE4.2 implementation is built (by npm test / npm start) and in use', () => {
  assert.equal(CRC32C_IMPLEMENTATION, 'sse4.2', 'build/crc32c.node missing: run node scripts/build-native.mjs');
});

test('RFC 3720 (iSCSI) test vectors', () => {
  assert.equal(crc32c(Buffer.alloc(32, 0x00)), 0x8a9136aa);
  assert.equal(crc32c(Buffer.alloc(32, 0xff)), 0x62a8ab43);
  assert.equal(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => i))), 0x46dd794e);
  assert.equal(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i))), 0x113fdb5c);
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
  assert.equal(crc32c(Buffer.alloc(0)), 0);
});

test('agrees with the portable implementation on any bytes, length and alignment', () => {
  // Lengths around the three-stream block sizes (3 x 256 and 3 x 8192) matter most.
  const length = fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 700, max: 900 }), fc.integer({ min: 24_000, max: 50_000 }));
  fc.assert(
    fc.property(length, fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 2 ** 31 }), (n, offset, seed) => {
      const buf = Buffer.allocUnsafe(n + offset);
      for (let i = 0; i < buf.length; i++) buf[i] = (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24;
      const view = buf.subarray(offset);
      assert.equal(crc32c(view), portable(view) >>> 0);
    }),
    { numRuns: 500 },
  );
});
