// The package's root directory: the nearest one above this file holding a package.json. The same
// answer from src/lib/ (tsx, tests) and from dist/lib/ (the built package, `npm install`ed or
// not), so files shipped beside the code (build/*.node, examples/policy/) are found from it rather
// than by counting `..` from each source file.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

function findPackageRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return join(start, '..', '..'); // no package.json: src/lib or dist/lib, two levels down
  }
}

/** The absolute path of the package root (where package.json, build/ and examples/ are). */
export const PACKAGE_ROOT: string = findPackageRoot(import.meta.dirname);

/** An absolute path inside the package root, e.g. packagePath('build', 'crc32c.node'). */
export function packagePath(...segments: string[]): string {
  return join(PACKAGE_ROOT, ...segments);
}
