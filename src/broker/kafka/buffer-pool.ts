// Large buffers reused instead of allocated per Fetch: each fresh 1 MiB buffer is external
// memory to V8, and allocating one per fetch drove a full mark-compact every ~65 ms while
// consuming (bench/broker.ts, --trace-gc). A buffer handed out is a view of a pooled slab; it
// goes back when its owner calls release (the connection, once the socket wrote it).
export class BufferPool {
  readonly #maxBytes: number;
  readonly #pool: SizeClassPool;

  /**
   * Slabs of `slabBytes`, at most `max` idle. `classes` > 1 pools larger sizes too, in power-of-two
   * classes up to slabBytes * 2^(classes-1), still at most max * slabBytes idle in all: a Fetch of
   * two partitions at 1 MiB each answers 2 MiB, which a single class would leave to the GC on
   * every fetch (bench/cluster.ts, a broker leading two partitions of a topic).
   */
  constructor(slabBytes: number, max: number, classes = 1) {
    this.#maxBytes = slabBytes * 2 ** (classes - 1);
    this.#pool = new SizeClassPool(slabBytes, this.#maxBytes, max, max * slabBytes);
  }

  /** A buffer of exactly `size` bytes: pooled when it fits the largest class, fresh otherwise. */
  take(size: number): Buffer {
    return size > this.#maxBytes ? Buffer.allocUnsafe(size) : this.#pool.take(size);
  }

  /** Returns a buffer from take(); anything else is ignored. The caller must not touch it again. */
  release(buf: Buffer): void {
    this.#pool.release(buf);
  }
}

/**
 * Buffers of many sizes reused: size classes are powers of two from `minBytes` (the largest is
 * clamped to `maxBytes`), each keeping at most `perClass` idle buffers, and all of them at most
 * `maxIdleBytes` together (a buffer that would exceed it is left to the garbage collector), so
 * a burst of large frames does not stay allocated. A buffer handed out is a view of
 * exactly the size asked for; release takes it back (once: a second release, or a buffer that did
 * not come from take, is ignored).
 */
export class SizeClassPool {
  readonly #minBytes: number;
  readonly #maxBytes: number;
  readonly #perClass: number;
  readonly #maxIdleBytes: number;
  readonly #free = new Map<number, Buffer[]>();
  readonly #slabOf = new WeakMap<Buffer, Buffer>();
  #idleBytes = 0;

  constructor(minBytes: number, maxBytes: number, perClass: number, maxIdleBytes: number) {
    this.#minBytes = minBytes;
    this.#maxBytes = maxBytes;
    this.#perClass = perClass;
    this.#maxIdleBytes = maxIdleBytes;
  }

  #classOf(size: number): number {
    let c = this.#minBytes;
    while (c < size) c *= 2;
    return Math.min(c, Math.max(this.#maxBytes, size));
  }

  /** A buffer of exactly `size` bytes (contents undefined), from the pool when one is idle. */
  take(size: number): Buffer {
    const bytes = this.#classOf(size);
    let slab = this.#free.get(bytes)?.pop();
    if (slab) this.#idleBytes -= bytes;
    else slab = Buffer.allocUnsafe(bytes);
    const view = slab.subarray(0, size);
    this.#slabOf.set(view, slab);
    return view;
  }

  /** Returns a buffer from take(). The caller must not touch it again. */
  release(buf: Buffer): void {
    const slab = this.#slabOf.get(buf);
    if (slab === undefined) return;
    this.#slabOf.delete(buf);
    let free = this.#free.get(slab.length);
    if (!free) this.#free.set(slab.length, (free = []));
    if (free.length < this.#perClass && this.#idleBytes + slab.length <= this.#maxIdleBytes) {
      free.push(slab);
      this.#idleBytes += slab.length;
    }
  }

  /** Bytes of the buffers kept for reuse. */
  get idleBytes(): number {
    return this.#idleBytes;
  }
}

/**
 * Bytes that may be committed at once ahead of the data that fills them: a large Produce frame
 * read directly into its pooled buffer (connection.ts) is allocated whole when its first bytes
 * arrive, so without a bound a client could make the broker allocate a maximum-size frame for
 * six bytes sent, once per connection. Past the budget, frames are read the ordinary way, whose
 * memory grows only with the bytes received.
 */
export class ByteBudget {
  readonly limit: number;
  #used = 0;

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Takes n bytes of the budget if they fit. */
  tryTake(n: number): boolean {
    if (this.#used + n > this.limit) return false;
    this.#used += n;
    return true;
  }

  give(n: number): void {
    this.#used = Math.max(0, this.#used - n);
  }

  get used(): number {
    return this.#used;
  }
}
