// One client connection of the Kafka listener: framing, ordering, limits.
//
// Frames are a 4-byte big-endian size and that many bytes. The size is checked against the
// configured maximum before any byte of the frame is buffered, so no client can make the broker
// allocate without bound; a bad size closes this connection only. Requests are handled as they
// arrive (pipelining), but responses are written in request order, as Kafka clients require;
// a handler may answer nothing (Produce with acks=0).
import type { Socket } from 'node:net';
import type { ByteBudget, SizeClassPool } from './buffer-pool.ts';

/** What net.Socket's `onread` option takes: where each read lands, and who hears of it. */
export interface DirectReads {
  buffer: () => Buffer;
  callback: (bytes: number, buf: Buffer) => void;
}

export type FrameHandler = (frame: Buffer) => Promise<Buffer | null>;

export interface ConnectionOptions {
  maxFrameBytes: number;
  /** Called when the connection closes itself (bad frame size, handler failure). */
  onProtocolViolation?: (reason: string) => void;
  /** Called once a response's bytes were handed to the OS (or dropped with the connection), so a pooled buffer can be reused. */
  onWritten?: (bytes: Buffer) => void;
  /** Where the copies of large Produce frames come from (see #onData); without it they are fresh. */
  producePool?: SizeClassPool;
  /**
   * Direct reads: how many bytes of large frames, across connections, may be allocated before
   * they have arrived (see ByteBudget). Without it no frame is read directly into its buffer.
   */
  directFrames?: ByteBudget;
  /** Direct reads: whether this connection may have a frame allocated ahead of its bytes (the server: once it has logged in). */
  mayReadAhead?: () => boolean;
  /**
   * Closes the connection after this long without a byte read or written and with no request
   * in flight (Kafka's connections.max.idle.ms). Left out, never.
   */
  idleTimeoutMs?: number;
  /** Called just before an idle connection is closed. */
  onIdle?: () => void;
}

/** Produce frames at least this large that span socket chunks are copied into pooled buffers. */
export const POOLED_FRAME_BYTES = 64 * 1024;
/** Direct reads land in slabs between these sizes, each written once from start to end (see #readBuffer). */
const MIN_SLAB_BYTES = 4 * 1024;
const MAX_SLAB_BYTES = 256 * 1024;
const PRODUCE_API_KEY = 0;

export class KafkaConnection {
  readonly socket: Socket;
  readonly #handle: FrameHandler;
  readonly #opts: ConnectionOptions;
  /** Bytes received and not yet framed. */
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** Size of the frame being received, once its 4 size bytes are in. */
  #need = -1;
  /** Responses in request order; a slot resolves to the bytes to write (or null for none). */
  #pending: Promise<Buffer | null>[] = [];
  #writing = false;
  #closed = false;
  /** Set by closeAfterWrite: close once the responses queued so far are written. */
  #closing = false;
  /** Direct reads: the slab the next read lands in, how much of it earlier reads filled, and the size of the next one. */
  #slab: Buffer | undefined;
  #slabUsed = 0;
  #slabBytes = 16 * 1024;
  /** Direct reads: a large Produce frame being read straight into its pooled buffer. */
  #direct: { frame: Buffer; filled: number; pool: SizeClassPool } | undefined;
  readonly #directReads: boolean;
  #corked = false;

  /**
   * `socket` is either a socket that emits 'data', or a function that makes one reading through
   * the `onread` option into buffers this connection hands out (server.ts, plaintext listeners).
   */
  constructor(socket: Socket | ((reads: DirectReads) => Socket), handle: FrameHandler, opts: ConnectionOptions) {
    this.#handle = handle;
    this.#opts = opts;
    this.#directReads = typeof socket === 'function';
    if (typeof socket === 'function') {
      socket = socket({ buffer: () => this.#readBuffer(), callback: (n, buf) => this.#received(n, buf) });
    } else {
      socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    }
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('close', () => {
      this.#closed = true;
      // A large frame cut off mid-read has no handler to return its buffer.
      const d = this.#direct;
      if (d !== undefined) {
        d.pool.release(d.frame);
        this.#opts.directFrames?.give(d.frame.length);
      }
      this.#direct = undefined;
    });
    socket.on('error', () => socket.destroy());
    // The socket's own inactivity timer: Node refreshes it on every read and write, so an active
    // connection costs nothing here. It fires once per quiet spell; a request still in flight
    // (a long-polling Fetch) is not idleness, and its answer restarts the timer.
    const idleMs = opts.idleTimeoutMs;
    if (idleMs !== undefined) {
      socket.setTimeout(idleMs);
      socket.on('timeout', () => {
        if (this.#closed || this.#pending.length > 0) return;
        this.#opts.onIdle?.();
        this.close();
      });
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Closes the connection once the responses already queued (including the one in progress) are written; reads nothing more. */
  closeAfterWrite(): void {
    this.#closing = true;
    this.socket.pause();
  }

  /**
   * The broker is stopping: reads nothing more, writes the answers to the requests already read,
   * then closes (at once when nothing is in flight).
   */
  drain(): void {
    this.closeAfterWrite();
    if (!this.#writing) this.#endIfDrained();
  }

  close(reason?: string): void {
    if (!this.#closed) {
      this.#closed = true;
      if (reason) this.#opts.onProtocolViolation?.(reason);
    }
    // Also when closeAfterWrite has ended it: a client that has not closed its side is cut off.
    this.socket.destroy();
  }

  /**
   * Where the next read lands (Node asks after every read). A large Produce frame whose size is
   * known is read straight into its pooled buffer: no copy, no allocation. Other reads go to the
   * unused end of a slab. A slab is never written twice, so frames that are slices of it stay
   * valid while their handlers run, and many reads share one allocation (Node allocates 64 KiB
   * per read). Slabs grow while reads fill what they are offered and shrink while reads are
   * small, so an idle connection holds a few KiB, not 256.
   */
  #readBuffer(): Buffer {
    const d = this.#direct;
    if (d !== undefined) return d.frame.subarray(d.filled);
    const slab = this.#slab;
    if (slab === undefined || slab.length - this.#slabUsed < slab.length / 4 || slab.length > 2 * this.#slabBytes) {
      this.#slab = Buffer.allocUnsafeSlow(this.#slabBytes);
      this.#slabUsed = 0;
    }
    return this.#slab!.subarray(this.#slabUsed);
  }

  /** A direct read put `n` bytes into `buf`, the buffer #readBuffer gave it. */
  #received(n: number, buf: Buffer): void {
    const d = this.#direct;
    if (d === undefined) {
      if (n === buf.length) this.#slabBytes = Math.min(MAX_SLAB_BYTES, this.#slabBytes * 2);
      else if (n < this.#slabBytes / 16) this.#slabBytes = Math.max(MIN_SLAB_BYTES, this.#slabBytes / 2);
      const chunk = this.#slab!.subarray(this.#slabUsed, this.#slabUsed + n);
      this.#slabUsed += n;
      this.#onData(chunk);
      return;
    }
    if (this.#closing) return;
    d.filled += n;
    if (d.filled < d.frame.length) return;
    this.#direct = undefined;
    this.#opts.directFrames?.give(d.frame.length); // arrived whole: no longer ahead of its bytes
    this.#dispatch(d.frame, d.pool);
  }

  #onData(chunk: Buffer): void {
    if (this.#closing) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    for (;;) {
      if (this.#need < 0) {
        if (this.#buffered < 4) return;
        const size = this.#take(4).readInt32BE(0);
        if (size < 8 || size > this.#opts.maxFrameBytes) {
          // 8: api key, version and correlation id at least.
          return this.close(`frame size ${size} outside [8, ${this.#opts.maxFrameBytes}]`);
        }
        this.#need = size;
      }
      if (this.#buffered < this.#need) {
        // With direct reads, a large Produce frame continues straight into its pooled buffer.
        // Only for a connection that may read ahead, within the shared budget: the whole frame is
        // allocated before most of it has arrived.
        const pool = this.#opts.producePool;
        const budget = this.#opts.directFrames;
        if (
          this.#directReads &&
          pool !== undefined &&
          budget !== undefined &&
          this.#need >= POOLED_FRAME_BYTES &&
          this.#buffered >= 2 &&
          this.#apiKey() === PRODUCE_API_KEY &&
          (this.#opts.mayReadAhead?.() ?? true) &&
          budget.tryTake(this.#need)
        ) {
          const frame = pool.take(this.#need);
          let filled = 0;
          for (const c of this.#chunks) filled += c.copy(frame, filled);
          this.#chunks = [];
          this.#buffered = 0;
          this.#direct = { frame, filled, pool };
          this.#need = -1;
        }
        return;
      }
      const n = this.#need;
      this.#need = -1;
      // A frame that spans chunks is copied. For large Produce frames the copy goes into a pooled
      // buffer, returned when the handler settles: a fresh 1 MiB buffer per request (~700/s) had
      // garbage collection take 51-54% of the broker's CPU (bench/broker-ingest.ts, 1 MiB
      // batches); pooled, the broker's CPU per GB fell from 1.7-2.1 s to 0.8-1.6 s and 1 KiB
      // records in 1 MiB batches went from 0.31-0.35 to 0.38-0.53 of the append ceiling (quiet
      // windows, alternating runs). Invariant this relies on: nothing keeps the Produce frame, or
      // a slice of it, once its handler has settled. The log writes the records synchronously
      // (an encrypting log seals a copy), and Broker.produce reads them only before its first
      // await (a handler can settle while a partition's append is still pending). Other requests
      // are not pooled: they are rarely large, and their handlers keep parts of requests (the
      // codec copies `bytes` fields such as JoinGroup member metadata, but nothing checks that
      // every handler only keeps copies). A handler still running when the connection closes
      // keeps its buffer until it settles.
      const pool = this.#opts.producePool;
      const pooled = pool !== undefined && n >= POOLED_FRAME_BYTES && this.#chunks[0]!.length < n && this.#apiKey() === PRODUCE_API_KEY;
      const frame = this.#take(n, pooled ? pool.take(n) : undefined);
      this.#dispatch(frame, pooled ? pool : undefined);
      if (this.#closed || this.#closing) return;
    }
  }

  /** The api key (first int16) of the buffered frame; at least 2 bytes are buffered. */
  #apiKey(): number {
    const [a, b] = this.#chunks;
    return a!.length >= 2 ? a!.readInt16BE(0) : ((a![0]! << 8) | b![0]!) << 16 >> 16;
  }

  /** Removes n bytes from the front of the buffered chunks; copies (into `into` when given, n bytes) only when a frame spans chunks. */
  #take(n: number, into?: Buffer): Buffer {
    const first = this.#chunks[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
    } else {
      out = into ?? Buffer.allocUnsafe(n);
      let copied = 0;
      while (copied < n) {
        const c = this.#chunks[0]!;
        const part = Math.min(c.length, n - copied);
        c.copy(out, copied, 0, part);
        copied += part;
        if (part === c.length) this.#chunks.shift();
        else this.#chunks[0] = c.subarray(part);
      }
    }
    this.#buffered -= n;
    return out;
  }

  #dispatch(frame: Buffer, pool?: SizeClassPool): void {
    let handled = this.#handle(frame);
    // Back to the pool once the handler settles, answered or failed, and whether or not the
    // connection closed meanwhile: not on close itself, as the handler may still be using it.
    if (pool) handled = handled.finally(() => pool.release(frame));
    const slot = handled.catch((err: unknown) => {
      this.close(`handler failed: ${(err as Error).message}`);
      return null;
    });
    this.#pending.push(slot);
    if (!this.#writing) void this.#flush();
  }

  /**
   * Responses ready in the same turn of the event loop go out in one writev: corked until the
   * turn's promise jobs have run (a nextTick queued from one runs after them). One write per
   * response was 15% of the broker's main thread with 16 KiB Produce batches.
   */
  #cork(): void {
    if (this.#corked) return;
    this.#corked = true;
    this.socket.cork();
    process.nextTick(() => {
      this.#corked = false;
      this.socket.uncork();
    });
  }

  async #flush(): Promise<void> {
    this.#writing = true;
    while (this.#pending.length > 0 && !this.#closed) {
      const bytes = await this.#pending[0]!;
      this.#pending.shift();
      if (bytes === null) continue;
      const written = this.#opts.onWritten;
      if (this.#closed) written?.(bytes);
      else {
        this.#cork();
        this.socket.write(bytes, written && (() => written(bytes)));
      }
    }
    this.#writing = false;
    this.#endIfDrained();
  }

  #endIfDrained(): void {
    if (this.#closing && this.#pending.length === 0 && !this.#closed) {
      this.#closed = true;
      this.socket.end();
      // Read on (#onData drops it) to see the client's FIN: a paused socket never sees it, and
      // stays half-open for good when the client sent more after the last answer (kafkajs does).
      this.socket.resume();
    }
  }
}
