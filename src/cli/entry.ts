// `bulwark` from the sources, under tsx (`npm start`, `tsx src/cli/entry.ts …`); the installed
// binary is bin/bulwark.js, which runs the same `run` from dist/.
import { run } from './main.ts';

process.exitCode = await run(process.argv.slice(2), { out: (l) => console.log(l), err: (l) => console.error(l) });
