// CRC-32C for record batches: our SSE4.2 routine (native/crc32c.c, three streams in parallel,
// ~19 GB/s here) when it is built and the CPU has SSE4.2, else @node-rs/crc32 (~4.7 GB/s).
// Validating the producer's CRC was a quarter of the append path's time (bench/log.ts).
import { crc32c as portableCrc32c } from '@node-rs/crc32';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { packagePath } from '../lib/index.ts';

interface NativeCrc {
  crc32c(data: Uint8Array): number;
  supported: boolean;
}

const nativePath = packagePath('build', 'crc32c.node');

function loadNative(): NativeCrc | undefined {
  if (!existsSync(nativePath)) return undefined;
  try {
    const m = createRequire(import.meta.url)(nativePath) as NativeCrc;
    return m.supported ? m : undefined;
  } catch {
    return undefined; // built for another Node ABI or CPU: the portable one still works
  }
}

const native = loadNative();

/** Which implementation is in use: 'sse4.2' (native/crc32c.c) or 'portable' (@node-rs/crc32). */
export const CRC32C_IMPLEMENTATION: 'sse4.2' | 'portable' = native ? 'sse4.2' : 'portable';

/** CRC-32C of the bytes, as an unsigned 32-bit integer. */
export const crc32c: (data: Uint8Array) => number = native ? native.crc32c : (data) => portableCrc32c(data as Buffer) >>> 0;
