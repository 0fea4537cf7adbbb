// Direct reads for plaintext Kafka connections.
//
// Node reads a socket 64 KiB at a time into a fresh allocation, and a 1 MiB Produce frame is then
// copied out of sixteen of them. Through net.Socket's `onread` option a socket reads into buffers
// its owner hands it instead (KafkaConnection: the unused end of a slab, or the rest of a large
// Produce frame's pooled buffer), but Node offers that option only for sockets it makes from a
// descriptor, not for the ones a server accepts. So the listener accepts with pauseOnConnect
// (nothing has been read), duplicates the descriptor (native/sockfd.c), lets Node close the
// original, and wraps the copy.
//
// Measured (bench/broker-ingest.ts, ours alone, runs alternating with and without): 1 MiB batches
// 690-840 -> 840-1,240 MB/s, broker CPU per GB 1.5-1.8 -> 0.7-1.1 s; 16 KiB batches +12%. Node's
// 64 KiB allocations (~1 GB/s of external memory between scavenges) kept V8's major GC marking on
// its helper threads without pause; with direct reads that mode no longer appears.
//
// TLS listeners keep Node's reads (a TLS socket has no `onread`). Without the native module, or
// where a socket has no descriptor, the accepted socket is used as it is.
import { closeSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Socket, type SocketConstructorOpts } from 'node:net';
import { packagePath } from '../../lib/index.ts';
import type { DirectReads } from './connection.ts';

interface SockFd {
  dup(fd: number): number;
}

const nativePath = packagePath('build', 'sockfd.node');

function loadNative(): SockFd | undefined {
  if (!existsSync(nativePath)) return undefined;
  try {
    return createRequire(import.meta.url)(nativePath) as SockFd;
  } catch {
    return undefined; // built for another Node ABI: Node's own reads still work
  }
}

const native = loadNative();

/** Whether plaintext Kafka listeners read into the connection's own buffers (logged at start). */
export const DIRECT_READS = native !== undefined;

/**
 * For a socket accepted with pauseOnConnect: a function that makes an equivalent socket reading
 * through `onread`, or undefined when that cannot be done (then resume and use `raw`). Once it
 * returns a function, `raw` is destroyed and the function must be called, once.
 */
export function directSocket(raw: Socket): ((reads: DirectReads) => Socket) | undefined {
  // `_handle.fd` is Node's own (undocumented, stable since 0.x); anything unexpected falls back.
  const fd = (raw as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  if (native === undefined || typeof fd !== 'number' || fd < 0) return undefined;
  const copy = native.dup(fd);
  if (copy < 0) return undefined;
  raw.destroy();
  return (reads) => {
    try {
      return new Socket({ fd: copy, readable: true, writable: true, onread: reads } as SocketConstructorOpts);
    } catch (err) {
      closeSync(copy);
      throw err;
    }
  };
}
