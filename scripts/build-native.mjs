// Builds native/crc32c.c into build/crc32c.node (gitignored) with the machine's C compiler and
// Node's own headers, when the source is newer than the build. Without a compiler or headers it
// says so and stops: the log then uses the portable CRC-32C (slower, same results).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

const root = join(import.meta.dirname, '..');
const source = join(root, 'native', 'crc32c.c');
const target = join(root, 'build', 'crc32c.node');
const headers = [join(dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node'].find((d) => existsSync(join(d, 'node_api.h')));

if (existsSync(target) && statSync(target).mtimeMs >= statSync(source).mtimeMs) process.exit(0);
if (!headers) {
  console.error('bulwark: Node headers (node_api.h) not found; using the portable CRC-32C');
  process.exit(0);
}
const cc = process.env.CC ?? 'cc';
try {
  mkdirSync(dirname(target), { recursive: true });
  execFileSync(cc, ['-O3', '-shared', '-fPIC', `-I${headers}`, source, '-o', target], { stdio: 'inherit' });
  console.error(`bulwark: built ${target}`);
} catch {
  console.error(`bulwark: could not build ${target} with ${cc}; using the portable CRC-32C`);
}
