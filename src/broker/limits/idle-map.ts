// A map whose entries go away when nobody has used them for a while, with a hard cap on its size.
//
// Entries are kept in order of last use (a Map iterates in insertion order, and a touch moves the
// entry to the end), so the idle ones are always at the front. Each access looks at a few entries
// from the front and drops those idle for longer than `idleMs`: the cost per access is O(1) and no
// timer is needed. An idle entry that `canDrop` refuses (a quota bucket still in debt) is moved to
// the back and looked at again after another idle period. Past `maxEntries`, the least recently
// used entry is dropped whatever its state: memory stays bounded even under a flood of new keys.

interface Slot<V> {
  value: V;
  at: number;
}

/** Entries examined per access: more than one, so the sweep outpaces the one entry an access can add. */
const SWEEP_STEPS = 4;

export class IdleMap<K, V> {
  readonly #slots = new Map<K, Slot<V>>();
  readonly #idleMs: number;
  readonly #maxEntries: number;
  readonly #canDrop: (value: V, nowMs: number) => boolean;

  constructor(opts: { idleMs: number; maxEntries: number; canDrop?: (value: V, nowMs: number) => boolean }) {
    if (!(opts.idleMs >= 0) || !Number.isInteger(opts.maxEntries) || opts.maxEntries < 1) throw new RangeError('idleMs must be >= 0 and maxEntries an integer >= 1');
    this.#idleMs = opts.idleMs;
    this.#maxEntries = opts.maxEntries;
    this.#canDrop = opts.canDrop ?? (() => true);
  }

  get size(): number {
    return this.#slots.size;
  }

  /** The value for `key`, marked as used at `nowMs`. */
  get(key: K, nowMs: number): V | undefined {
    const slot = this.#slots.get(key);
    if (slot) {
      this.#slots.delete(key);
      slot.at = nowMs;
      this.#slots.set(key, slot);
    }
    this.#sweep(nowMs);
    return slot?.value;
  }

  set(key: K, value: V, nowMs: number): void {
    this.#slots.delete(key);
    this.#slots.set(key, { value, at: nowMs });
    if (this.#slots.size > this.#maxEntries) this.#slots.delete(this.#slots.keys().next().value as K);
    this.#sweep(nowMs);
  }

  delete(key: K): void {
    this.#slots.delete(key);
  }

  #sweep(nowMs: number): void {
    for (let i = 0; i < SWEEP_STEPS; i++) {
      const first = this.#slots.entries().next();
      if (first.done) return;
      const [key, slot] = first.value;
      if (nowMs - slot.at <= this.#idleMs) return;
      this.#slots.delete(key);
      if (!this.#canDrop(slot.value, nowMs)) {
        slot.at = nowMs;
        this.#slots.set(key, slot);
      }
    }
  }
}
