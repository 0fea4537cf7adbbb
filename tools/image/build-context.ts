// The Docker build context as the repository's .dockerignore admits it. The .dockerignore is an
// allow-list: `*` first, then one `!path` line per file or directory the Dockerfile COPYs. Only
// that form is read here (anything else is an error), so the hash of the context that
// broker-image.ts computes covers exactly what a builder sends.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';

/** The allow-list's entries: paths relative to the root, as written after `!`. */
export function dockerignoreAllowList(root: string): string[] {
  const lines = readFileSync(join(root, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  if (lines[0] !== '*') throw new Error(`${join(root, '.dockerignore')}: must start with "*" (an allow-list)`);
  return lines.slice(1).map((l) => {
    const m = /^!([A-Za-z0-9._/-]+?)\/?$/.exec(l);
    if (!m || m[1]!.includes('..') || m[1]!.startsWith('/')) throw new Error(`${join(root, '.dockerignore')}: "${l}" is not a plain "!path" entry`);
    return posix.normalize(m[1]!);
  });
}

/** Every file in the build context, relative to the root, sorted. */
export function contextFiles(root: string): string[] {
  const files: string[] = [];
  const walk = (rel: string) => {
    const st = statSync(join(root, rel));
    if (st.isDirectory()) {
      for (const entry of readdirSync(join(root, rel))) walk(posix.join(rel, entry));
    } else if (st.isFile()) files.push(rel);
  };
  for (const entry of dockerignoreAllowList(root)) walk(entry);
  return [...new Set(files)].sort();
}
