// Writes crds/*.yaml, the same files into the Helm chart (helm/bulwark/crds/), the same CRDs as one
// file for kustomize (manifests/base/crds.yaml), and docs/api-reference.md from the zod schemas in src/api, and the table of
// built-in roles in docs/concepts.md.
// `npm run gen:crds`; a test fails when the files on disk differ from what this would write.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderApiReference, renderCrdBundle, renderCrds, withBuiltinRoles } from '../src/api/render.ts';

const root = join(import.meta.dirname, '..');
for (const target of ['crds', 'helm/bulwark/crds']) {
  const dir = join(root, target);
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(dir)) if (f.endsWith('.yaml')) rmSync(join(dir, f));
  for (const { fileName, text } of renderCrds()) {
    writeFileSync(join(dir, fileName), text);
    console.log(`wrote ${target}/${fileName}`);
  }
}
writeFileSync(join(root, 'manifests', 'base', 'crds.yaml'), renderCrdBundle());
console.log('wrote manifests/base/crds.yaml');
writeFileSync(join(root, 'docs', 'api-reference.md'), renderApiReference());
console.log('wrote docs/api-reference.md');
const concepts = join(root, 'docs', 'concepts.md');
writeFileSync(concepts, withBuiltinRoles(readFileSync(concepts, 'utf8')));
console.log('wrote the built-in roles table of docs/concepts.md');
