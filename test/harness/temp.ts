// Temporary directories for a test file: made on demand, removed after the file's tests (or,
// outside a test file, when the process exits).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';

/**
 * Call once per test file (top level or in a describe); returns `tempDir(name?)`, which makes a
 * fresh directory `bulwark-<prefix>[-<name>]-XXXXXX` under the OS temp dir. Every directory it
 * made is removed by an `after` hook of the suite it was called in.
 */
export function useTempDirs(prefix: string): (name?: string) => string {
  const dirs: string[] = [];
  after(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  return (name?: string) => {
    const dir = mkdtempSync(join(tmpdir(), `bulwark-${prefix}${name ? `-${name}` : ''}-`));
    dirs.push(dir);
    return dir;
  };
}

/** One temporary directory that lives until the process exits (for helpers shared by a process, like the test PKI). */
export function processTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `bulwark-${prefix}-`));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
