// Every error code is documented in docs/errors.md, and every documented code exists.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ERRORS } from '../src/lib/errors.ts';

test('docs/errors.md documents exactly the codes in the catalog', () => {
  const doc = readFileSync(join(import.meta.dirname, '..', 'docs', 'errors.md'), 'utf8');
  const documented = new Set([...doc.matchAll(/^## (BWK_ERR_[A-Z_]+)/gm)].map((m) => m[1]));
  assert.deepEqual([...documented].sort(), Object.keys(ERRORS).sort());
});
