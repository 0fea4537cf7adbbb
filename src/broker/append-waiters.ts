// Long polling for Fetch: a fetch that found less than minBytes waits until a produce appends
// to one of its partitions, or its maxWaitMs passes, whichever comes first.
export class AppendWaiters {
  readonly #waiters = new Map<string, Set<() => void>>();

  /** Resolves on the first append to any of `keys` (topic-partition), or after `ms`. */
  wait(keys: readonly string[], ms: number): Promise<void> {
    if (ms <= 0 || keys.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        for (const k of keys) {
          const set = this.#waiters.get(k);
          set?.delete(done);
          if (set?.size === 0) this.#waiters.delete(k);
        }
        resolve();
      };
      const timer = setTimeout(done, ms);
      for (const k of keys) {
        let set = this.#waiters.get(k);
        if (!set) this.#waiters.set(k, (set = new Set()));
        set.add(done);
      }
    });
  }

  notify(key: string): void {
    const set = this.#waiters.get(key);
    if (set) for (const done of [...set]) done();
  }

  /** Releases every waiter (shutdown). */
  releaseAll(): void {
    for (const set of [...this.#waiters.values()]) for (const done of [...set]) done();
  }
}
