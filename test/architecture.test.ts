// The layering DESIGN.md gives, checked on the import statements themselves.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const src = join(import.meta.dirname, '..', 'src');
const files = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));

/** Folder of src/ each local import of each file points into. */
function imports(): { from: string; to: string; file: string }[] {
  return files(src).flatMap((file) => {
    const from = relative(src, file).split('/')[0]!;
    return [...readFileSync(file, 'utf8').matchAll(/^(?:import|export)[^'"]*from\s+'(\.[^']+)'/gm)].map((m) => ({
      from,
      to: relative(src, resolve(file, '..', m[1]!)).split('/')[0]!,
      file: relative(src, file),
    }));
  });
}

const allowed: Record<string, string[]> = {
  lib: ['lib'],
  log: ['log', 'lib'],
  api: ['api', 'lib'],
  policy: ['policy', 'api', 'lib'],
  cluster: ['cluster', 'api', 'lib'],
  auth: ['auth', 'policy', 'api', 'lib'],
};

test('imports point down the layers: log/ only uses lib/; policy/, cluster/, auth/ never use broker/ or operator/', () => {
  const wrong = imports().filter((i) => allowed[i.from] && !allowed[i.from]!.includes(i.to));
  assert.deepEqual(wrong.map((w) => `${w.file} imports ${w.to}/`), []);
});
