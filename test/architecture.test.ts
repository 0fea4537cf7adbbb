// The layering DESIGN.md gives, checked on the import statements themselves:
// - each folder of src/ imports only the folders below it (the table `allowed`);
// - broker/ and operator/ never import each other: they meet through the contracts in policy/
//   and cluster/;
// - a folder with an index.ts is entered only through it;
// - no file-level import cycle, type-only imports included.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, test } from 'node:test';

const src = join(import.meta.dirname, '..', 'src');
const files = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));

interface Edge {
  /** Importing file, relative to src/. */
  file: string;
  /** Imported file, relative to src/. */
  target: string;
  from: string;
  to: string;
}

const IMPORT = /^(?:import|export)\b[^'";]*?from\s+'(\.[^']+)'|^import\s+'(\.[^']+)'|\bimport\(\s*'(\.[^']+)'\s*\)/gm;

export function importEdges(root: string): Edge[] {
  return files(root).flatMap((abs) => {
    const file = relative(root, abs);
    return [...readFileSync(abs, 'utf8').matchAll(IMPORT)].map((m) => {
      const target = relative(root, resolve(dirname(abs), (m[1] ?? m[2] ?? m[3])!));
      return { file, target, from: file.split(sep)[0]!, to: target.split(sep)[0]! };
    });
  });
}

/** Which top-level folders each folder may import (itself included). Folders not listed may import anything but what `forbidden` says. */
const allowed: Record<string, string[]> = {
  lib: ['lib'],
  log: ['log', 'lib'],
  api: ['api', 'lib'],
  kafka: ['kafka', 'lib'],
  pki: ['pki', 'lib'],
  policy: ['policy', 'api', 'lib'],
  cluster: ['cluster', 'api', 'lib'],
  config: ['config', 'api', 'lib'],
  auth: ['auth', 'policy', 'pki', 'api', 'lib'],
  groups: ['groups', 'kafka', 'log', 'lib'],
  audit: ['audit', 'policy', 'log', 'lib'],
};
const forbidden: Record<string, string[]> = {
  broker: ['operator', 'cli'],
  operator: ['broker', 'cli'],
};

/** Strongly connected components of more than one file (or a file importing itself): Tarjan. */
export function cycles(edges: Edge[]): string[][] {
  const graph = new Map<string, string[]>();
  for (const e of edges) graph.set(e.file, [...(graph.get(e.file) ?? []), e.target]);
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

/** The outermost folder holding `target` but not `file` that has an index.ts, when the import does not go through it. */
export function bypassedIndex(root: string, e: Edge): string | undefined {
  const parts = dirname(e.target).split(sep);
  for (let i = 1; i <= parts.length; i++) {
    const dir = parts.slice(0, i).join(sep);
    if (dir === '.' || e.file.startsWith(dir + sep)) continue;
    if (!existsSync(join(root, dir, 'index.ts'))) return undefined;
    return e.target === join(dir, 'index.ts') ? undefined : dir;
  }
  return undefined;
}

const edges = importEdges(src);

test('imports point down the layers DESIGN.md gives', () => {
  const wrong = edges.filter((e) => (allowed[e.from] && !allowed[e.from]!.includes(e.to)) || forbidden[e.from]?.includes(e.to));
  assert.deepEqual(
    wrong.map((w) => `${w.file} imports ${w.to}/`),
    [],
  );
});

test('a folder with an index.ts is entered only through it', () => {
  const wrong = edges.flatMap((e) => {
    const dir = bypassedIndex(src, e);
    return dir ? [`${e.file} imports ${e.target} instead of ${dir}/index.ts`] : [];
  });
  assert.deepEqual(wrong, []);
});

test('no file-level import cycles, type-only imports included', () => {
  assert.deepEqual(cycles(edges), []);
});

test('every folder of src/ with code in it, but cli/, has an index.ts: its public surface', () => {
  const folders = readdirSync(src, { withFileTypes: true }).filter((e) => e.isDirectory() && e.name !== 'cli' && files(join(src, e.name)).length > 0);
  assert.deepEqual(
    folders.filter((f) => !existsSync(join(src, f.name, 'index.ts'))).map((f) => f.name),
    [],
  );
});

// The checks above must be able to fail: run them on a small tree made for it.
describe('the checks catch what they are meant to', () => {
  const fake = (file: string, target: string): Edge => ({ file, target, from: file.split('/')[0]!, to: target.split('/')[0]! });
  test('a two-file cycle through a type-only import is found', () => {
    const found = cycles([fake('broker/broker.ts', 'broker/kafka/server.ts'), fake('broker/kafka/server.ts', 'broker/broker.ts'), fake('broker/kafka/server.ts', 'lib/errors.ts')]);
    assert.deepEqual(found, [['broker/broker.ts', 'broker/kafka/server.ts']]);
  });
  test('an import that bypasses an index is named; one through it is not', () => {
    assert.equal(bypassedIndex(src, fake('broker/broker.ts', 'policy/snapshot.ts')), 'policy');
    assert.equal(bypassedIndex(src, fake('broker/broker.ts', 'policy/index.ts')), undefined);
    assert.equal(bypassedIndex(src, fake('policy/compile.ts', 'policy/snapshot.ts')), undefined);
  });
  test('operator → broker is refused', () => {
    const e = fake('operator/reconciler.ts', 'broker/index.ts');
    assert.ok(forbidden[e.from]!.includes(e.to));
  });
});
