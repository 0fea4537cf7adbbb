// The compressed prefix tree against the obvious answer: every stored prefix of the name.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { PrefixTreeBuilder } from '../src/policy/prefix-tree.ts';

/** Builds a tree whose folded value is the list of prefixes on the path, shortest first. */
function tree(prefixes: string[]) {
  const b = new PrefixTreeBuilder<string>();
  for (const p of prefixes) b.upsert(p, () => p);
  return b.build<string[]>((shorter, own) => [...(shorter ?? []), own]);
}

test('finds exactly the stored prefixes of a name, shortest first', () => {
  const arbText = fc.string({ unit: fc.constantFrom('a', 'b', 'c'), maxLength: 12 });
  fc.assert(
    fc.property(fc.uniqueArray(arbText, { maxLength: 40 }), arbText, (prefixes, name) => {
      const expected = prefixes.filter((p) => name.startsWith(p)).sort((x, y) => x.length - y.length);
      assert.deepEqual(tree(prefixes).longestPrefixOf(name) ?? [], expected);
    }),
    { numRuns: 2000 },
  );
});

test('a prefix at every length of a long name, and siblings off its stem', () => {
  const name = 'x'.repeat(200) + '.orders';
  const prefixes = [...Array.from({ length: name.length }, (_, i) => name.slice(0, i + 1)), ...Array.from({ length: 50 }, (_, i) => `${'x'.repeat(150)}q${i}`)];
  const t = tree(prefixes);
  assert.equal(t.longestPrefixOf(name)!.length, name.length);
  assert.equal(t.longestPrefixOf(`${'x'.repeat(120)}y`)!.at(-1), 'x'.repeat(120));
  assert.deepEqual(t.longestPrefixOf(`${'x'.repeat(150)}q7-topic`)!.slice(-2), ['x'.repeat(150), `${'x'.repeat(150)}q7`]);
  assert.equal(t.longestPrefixOf('y'), undefined);
});
