// The docs' shell commands: every block says who runs it (test/harness/docs-blocks.ts), and the
// blocks marked `host` run here, each as a bash script with -e and pipefail, in a scratch
// directory that sees the repository's files. The `node` blocks run in e2e/docs.test.ts.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { allShellBlocks, blockScript, expectedExit, markerProblems, shellBlocks } from './harness/docs-blocks.ts';
import { docsEnv, type DocsEnv } from './harness/docs-env.ts';

const root = join(import.meta.dirname, '..');
const blocks = allShellBlocks(root);

describe('the docs say who runs each command', () => {
  test('every shell block in README.md and docs/ has a docs-test marker, and what it names exists', () => {
    assert.deepEqual(markerProblems(blocks, (f) => existsSync(join(root, f))), []);
  });

  test('the parser finds blocks, markers, reasons and console commands', () => {
    const md = [
      '<!-- docs-test: production (needs a LoadBalancer) -->',
      '```sh',
      'kubectl get svc',
      '```',
      '',
      '```bash',
      'echo unmarked',
      '```',
      '<!-- docs-test: host exits 3 -->',
      '```console',
      '$ bulwark --version',
      'bulwark 0.1.0',
      '```',
      '```yaml',
      'kind: Pod',
      '```',
    ].join('\n');
    const found = shellBlocks('x.md', md);
    assert.deepEqual(
      found.map((b) => [b.line, b.lang, b.mode, b.detail]),
      [
        [2, 'sh', 'production', 'needs a LoadBalancer'],
        [6, 'bash', undefined, ''],
        [10, 'console', 'host', 'exits 3'],
      ],
    );
    assert.equal(blockScript(found[2]!), 'bulwark --version');
    assert.equal(expectedExit(found[2]!), 3);
    assert.equal(expectedExit(found[0]!), undefined, 'a production block has no exit code');
    assert.equal(markerProblems(found, () => true).length, 1, 'the unmarked block is reported');
  });
});

describe('the docs commands marked host run as written', () => {
  const host = blocks.filter((b) => b.mode === 'host');
  let env: DocsEnv | undefined;
  after(() => {
    if (env) rmSync(env.dir, { recursive: true, force: true });
  });
  test('there are some', () => assert.ok(host.length > 0));
  for (const b of host) {
    test(`${b.file}:${b.line}`, async () => {
      env ??= await docsEnv();
      const r = spawnSync('bash', ['-euo', 'pipefail', '-c', blockScript(b)], { cwd: env.dir, env: env.env, encoding: 'utf8', timeout: 300_000 });
      assert.equal(r.status, expectedExit(b), `${b.file}:${b.line} failed (exit ${r.status}${r.signal ? `, ${r.signal}` : ''}):\n${blockScript(b)}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
    });
  }
});
