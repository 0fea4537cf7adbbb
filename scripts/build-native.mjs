// Builds each native/<name>.c into build/<name>.node (gitignored) with the machine's C compiler
// and Node's own headers, when the source is newer than the build:
//   crc32c.c  SSE4.2 CRC-32C for record batches (src/log/crc32c.ts);
//   sockfd.c  dup(2), so the Kafka listener can read into its own buffers (src/broker/kafka/direct-socket.ts).
// Without a compiler or headers it says so and stops: each has a portable fallback in TypeScript
// (slower, same results).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

const root = join(import.meta.dirname, '..');
const headers = [join(dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node'].find((d) => existsSync(join(d, 'node_api.h')));
const cc = process.env.CC ?? 'cc';

for (const file of readdirSync(join(root, 'native')).filter((f) => f.endsWith('.c')).sort()) {
  const source = join(root, 'native', file);
  const target = join(root, 'build', file.replace(/\.c$/, '.node'));
  if (existsSync(target) && statSync(target).mtimeMs >= statSync(source).mtimeMs) continue;
  if (!headers) {
    console.error(`bulwark: Node headers (node_api.h) not found; not building ${file} (the portable fallback is used)`);
    continue;
  }
  try {
    mkdirSync(dirname(target), { recursive: true });
    execFileSync(cc, ['-O3', '-shared', '-fPIC', `-I${headers}`, source, '-o', target], { stdio: 'inherit' });
    console.error(`bulwark: built ${target}`);
  } catch {
    console.error(`bulwark: could not build ${target} with ${cc}; the portable fallback is used`);
  }
}
