// Large buffers reused instead of allocated per Fetch: each fresh 1 MiB buffer is external
// memory to V8, and allocating one per fetch drove a full mark-compact every ~65 ms while
// consuming (bench/broker.ts, --trace-gc). A buffer handed out is a view of a pooled slab; it
// goes back when its owner calls release (the connection, once the socket wrote it).
export class BufferPool {
  readonly #slabBytes: number;
  readonly #max: number;
  readonly #free: Buffer[] = [];
  readonly #slabOf = new WeakMap<Buffer, Buffer>();

  constructor(slabBytes: number, max: number) {
    this.#slabBytes = slabBytes;
    this.#max = max;
  }

  /** A buffer of exactly `size` bytes: pooled when it fits a slab, fresh otherwise. */
  take(size: number): Buffer {
    if (size > this.#slabBytes) return Buffer.allocUnsafe(size);
    const slab = this.#free.pop() ?? Buffer.allocUnsafe(this.#slabBytes);
    const view = slab.subarray(0, size);
    this.#slabOf.set(view, slab);
    return view;
  }

  /** Returns a buffer from take(); anything else is ignored. The caller must not touch it again. */
  release(buf: Buffer): void {
    const slab = this.#slabOf.get(buf);
    if (slab === undefined) return;
    this.#slabOf.delete(buf);
    if (this.#free.length < this.#max) this.#free.push(slab);
  }
}
