#!/usr/bin/env node
// Entry point of the `bulwark` binary: the compiled code in dist/ (`npm run build`; `npm start`,
// `npm test` and `npm pack` build it). No TypeScript loader at run time, so a production install
// (`npm install --omit=dev`) runs it. From the sources, under tsx: src/cli/entry.ts.
import { existsSync } from 'node:fs';

const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  console.error('bulwark: dist/ is not built: run `npm run build` (npm start and npm test build it too)');
  process.exit(1);
}
const { run } = await import(main.href);
process.exitCode = await run(process.argv.slice(2), { out: (l) => console.log(l), err: (l) => console.error(l) });
