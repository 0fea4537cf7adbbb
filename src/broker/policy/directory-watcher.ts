// `--policy-dir`: CR YAML in a directory, compiled by src/policy/ and applied to the broker's
// PolicyStore, then again whenever a file in it changes.
//
// A directory with errors is never half-applied: the policy in force stays, and the errors are
// logged with their file and field. At start, errors stop the broker unless a persisted policy
// exists (fail-static: keep enforcing the last good one). Changes are noticed with fs.watch
// (recursive, so Kubernetes ConfigMap symlink swaps count) plus a slow poll of the directory's
// content hash as a safety net, debounced so an editor's several writes make one reload.
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BulwarkError, type Logger } from '../../lib/index.ts';
import { loadPolicyDirectory } from '../../policy/index.ts';
import type { PolicyStore } from './store.ts';

export interface PolicyDirectoryOptions {
  saltKey: Buffer;
  debounceMs: number;
  /** The broker's `policy` child logger. */
  logger: Logger;
  /** Poll the directory's content every this many ms as a fallback to fs.watch. */
  pollMs?: number;
  /** Called once for each new content of the directory the watcher reads, whether it compiles or not. */
  onContentChange?: () => void;
}

/** A hash of the directory's YAML: `content` hashes the bytes (decides a reload); otherwise path, size and mtime only (the cheap poll). */
async function directoryHash(dir: string, content: boolean): Promise<string> {
  const h = createHash('sha256');
  const walk = async (d: string): Promise<void> => {
    const entries = (await readdir(d, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const e of entries) {
      const p = join(d, e.name);
      const s = await stat(p).catch(() => undefined);
      if (!s) continue;
      if (s.isDirectory()) await walk(p);
      else if (/\.ya?ml$/.test(e.name)) h.update(p).update('\0').update(content ? await readFile(p) : `${s.size}:${s.mtimeMs}`).update('\0');
    }
  };
  await walk(dir);
  return h.digest('hex');
}

export class PolicyDirectoryWatcher {
  readonly #dir: string;
  readonly #store: PolicyStore;
  readonly #opts: PolicyDirectoryOptions;
  #watcher: FSWatcher | undefined;
  #poll: NodeJS.Timeout | undefined;
  #debounce: NodeJS.Timeout | undefined;
  #lastHash = '';
  /** The content last read, compiled or not: onContentChange fires when it differs. */
  #lastSeen = '';
  /** One reload at a time; a change during a reload schedules one more. */
  #running: Promise<void> | undefined;
  #again = false;
  #closed = false;
  #lastErrors = 1;

  constructor(dir: string, store: PolicyStore, opts: PolicyDirectoryOptions) {
    this.#dir = dir;
    this.#store = store;
    this.#opts = opts;
  }

  /** Compiles and applies the directory once, then watches it. */
  async start(): Promise<void> {
    const ok = await this.#reload();
    if (!ok && this.#store.applied.source === 'empty') {
      throw new BulwarkError('BWK_ERR_POLICY_INVALID', { count: this.#lastErrors });
    }
    try {
      this.#watcher = watch(this.#dir, { recursive: true }, () => this.#schedule());
      this.#watcher.on('error', () => undefined);
    } catch {
      // Some filesystems cannot be watched; the poll below still notices changes.
    }
    // The poll reads only names, sizes and times; a difference schedules a real reload.
    let seen = await directoryHash(this.#dir, false).catch(() => '');
    this.#poll = setInterval(() => {
      void directoryHash(this.#dir, false)
        .catch(() => '')
        .then((now) => {
          if (now !== seen) this.#schedule();
          seen = now;
        });
    }, this.#opts.pollMs ?? 2000);
    this.#poll.unref();
  }

  #schedule(): void {
    if (this.#closed) return;
    clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => void this.#run(), this.#opts.debounceMs);
    this.#debounce.unref();
  }

  async #run(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#reload().then(() => undefined);
    await this.#running;
    this.#running = undefined;
    if (this.#again && !this.#closed) {
      this.#again = false;
      await this.#run();
    }
  }

  /** Whether the directory compiled cleanly (and was applied, or was unchanged). */
  async #reload(): Promise<boolean> {
    const log = this.#opts.logger;
    let hash: string;
    try {
      hash = await directoryHash(this.#dir, true);
    } catch (err) {
      log.error({ dir: this.#dir }, `policy directory ${this.#dir} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}); the policy in force stays`);
      return false;
    }
    if (hash !== this.#lastSeen) {
      // Not on the first read: that content is what the broker started with.
      if (this.#lastSeen !== '') this.#opts.onContentChange?.();
      this.#lastSeen = hash;
    }
    if (hash === this.#lastHash) return true;
    let loaded;
    try {
      loaded = await loadPolicyDirectory(this.#dir, { saltKey: this.#opts.saltKey, version: this.#store.applied.version + 1 });
    } catch (err) {
      log.error({ dir: this.#dir, code: (err as { code?: unknown }).code }, `policy directory ${this.#dir} not applied: ${(err as Error).message}; the policy in force stays`);
      return false;
    }
    const errors = loaded.problems.filter((p) => p.severity === 'error');
    for (const p of loaded.problems) log[p.severity === 'error' ? 'error' : 'warn'](`policy ${p.severity}: ${p.file}${p.document ? ` document ${p.document}` : ''}${p.path ? ` ${p.path}` : ''}: ${p.message}`);
    this.#lastErrors = errors.length;
    if (errors.length > 0) {
      log.error({ dir: this.#dir, errors: errors.length }, `policy directory ${this.#dir} has ${errors.length} error(s); not applied, the policy in force stays`);
      return false;
    }
    this.#lastHash = hash;
    // The same content compiles to the same hash: nothing to apply.
    if (loaded.snapshot.hash === this.#store.applied.hash) return true;
    // The directory is this broker's only policy source: it may replace whatever is persisted.
    this.#store.apply(loaded.snapshot, 'dir', { force: true });
    return true;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#debounce);
    clearInterval(this.#poll);
    this.#watcher?.close();
    await this.#running;
  }
}
