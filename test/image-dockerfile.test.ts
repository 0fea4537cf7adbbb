// The Dockerfile, read as a reviewer reads it: hadolint (installed from PyPI by
// scripts/image-lint.sh) finds nothing at warning level or above, and the facts the packaging
// issue asks for hold: bases are build arguments, the final stage runs a numeric non-root user with
// an exec-form entrypoint and no RUN (it needs no shell), the npm CA is a secret rather than a
// layer, and the .dockerignore allow-list admits exactly what the COPY steps read.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { contextFiles, dockerignoreAllowList } from '../tools/image/build-context.ts';
import { useTempDirs } from './harness/temp.ts';

const root = join(import.meta.dirname, '..');
const tempDir = useTempDirs('image-dockerfile');

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

/** The Dockerfile's instructions, continuation lines joined, comments dropped. */
function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) return;
    if (pending === '') start = i + 1;
    pending += (pending ? ' ' : '') + line.replace(/\\$/, '').trim();
    if (line.endsWith('\\')) return;
    const m = /^(\S+)\s*(.*)$/.exec(pending)!;
    out.push({ keyword: m[1]!.toUpperCase(), args: m[2]!, line: start });
    pending = '';
  });
  return out;
}

/** Instructions per stage (the ones before the first FROM are stage -1: the global ARGs). */
function stages(all: Instruction[]): { from: string; name?: string; body: Instruction[] }[] {
  const result: { from: string; name?: string; body: Instruction[] }[] = [];
  for (const ins of all) {
    if (ins.keyword === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args)!;
      result.push({ from: m[1]!, ...(m[2] ? { name: m[2] } : {}), body: [] });
    } else if (result.length > 0) result.at(-1)!.body.push(ins);
  }
  return result;
}

function hadolint(file: string): { code: number | null; out: string } {
  const r = spawnSync('bash', [join(root, 'scripts', 'image-lint.sh'), '--quiet', file], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('the Dockerfile', () => {
  const text = readFileSync(join(root, 'Dockerfile'), 'utf8');
  const all = instructions(text);
  const byStage = stages(all);
  const final = byStage.at(-1)!;

  test('hadolint finds nothing at warning level or above', () => {
    const r = hadolint(join(root, 'Dockerfile'));
    assert.equal(r.code, 0, r.out);
  });

  test('hadolint does fail a Dockerfile with findings (the lint is not a no-op)', () => {
    const bad = join(tempDir('bad'), 'Dockerfile');
    writeFileSync(bad, 'FROM debian\nRUN apt-get install curl\nUSER root\n');
    const r = hadolint(bad);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /DL3006/);
    assert.match(r.out, /DL3002/);
  });

  test('every ignore in .hadolint.yaml carries a comment saying why', () => {
    const config = readFileSync(join(root, '.hadolint.yaml'), 'utf8');
    for (const line of config.split('\n').filter((l) => /^\s*-\s*DL\d+/.test(l))) assert.match(line, /#\s*\S/, `no reason given: ${line}`);
  });

  test('the bases are build arguments declared before the first FROM, with the official images as defaults', () => {
    const firstFrom = all.findIndex((i) => i.keyword === 'FROM');
    const globalArgs = all.slice(0, firstFrom).filter((i) => i.keyword === 'ARG').map((i) => i.args);
    assert.ok(globalArgs.includes('BUILD_IMAGE=docker.io/library/node:20-bookworm'), globalArgs.join('; '));
    assert.ok(globalArgs.includes('RUNTIME_IMAGE=gcr.io/distroless/nodejs20-debian12:nonroot'), globalArgs.join('; '));
    for (const s of byStage) assert.match(s.from, /^\$\{(BUILD_IMAGE|RUNTIME_IMAGE)\}$/, `FROM ${s.from}: every stage starts from a build argument`);
    assert.equal(final.from, '${RUNTIME_IMAGE}');
    assert.ok(byStage.slice(0, -1).every((s) => s.from === '${BUILD_IMAGE}' && s.name), 'the build stages are named and start from BUILD_IMAGE');
  });

  test('the final stage: numeric non-root USER, exec-form ENTRYPOINT of node on bin/bulwark.js, SIGTERM, production, no RUN', () => {
    const users = final.body.filter((i) => i.keyword === 'USER');
    assert.equal(users.length, 1);
    const [uid, gid] = users[0]!.args.split(':').map(Number);
    assert.ok(Number.isInteger(uid) && Number.isInteger(gid) && uid! > 0 && gid! > 0, `USER ${users[0]!.args} is numeric and not root`);
    const entrypoint = final.body.find((i) => i.keyword === 'ENTRYPOINT');
    assert.ok(entrypoint);
    assert.deepEqual(JSON.parse(entrypoint.args), ['/nodejs/bin/node', '/app/bin/bulwark.js'], 'exec form: node is PID 1 and gets the signals');
    assert.equal(final.body.find((i) => i.keyword === 'STOPSIGNAL')?.args, 'SIGTERM');
    assert.ok(final.body.some((i) => i.keyword === 'ENV' && /\bNODE_ENV=production\b/.test(i.args)));
    assert.equal(final.body.find((i) => i.keyword === 'WORKDIR')?.args, '/app');
    assert.deepEqual(final.body.filter((i) => i.keyword === 'RUN').map((i) => i.line), [], 'no RUN in the final stage: it has no shell');
    assert.ok(!final.body.some((i) => i.keyword === 'CMD' && !i.args.startsWith('[')), 'no shell-form CMD');
    const copies = final.body.filter((i) => i.keyword === 'COPY' || i.keyword === 'ADD');
    assert.ok(copies.length > 0 && copies.every((i) => /--from=\S+/.test(i.args) && !/--chown|--chmod/.test(i.args)), 'the final stage copies only build results, owned by root');
    const labels = final.body.filter((i) => i.keyword === 'LABEL').map((i) => i.args).join(' ');
    for (const label of ['title', 'version', 'source']) assert.match(labels, new RegExp(`org\\.opencontainers\\.image\\.${label}=`));
  });

  test('npm trusts the CA bundle through an optional build secret, never a layer', () => {
    const installs = all.filter((i) => i.keyword === 'RUN' && /\bnpm ci\b/.test(i.args));
    assert.equal(installs.length, 2, 'production dependencies and the build dependencies');
    for (const i of installs) {
      assert.match(i.args, /--mount=type=secret,id=npmca,required=false/);
      assert.match(i.args, /NODE_EXTRA_CA_CERTS=\/run\/secrets\/npmca/);
      assert.match(i.args, /--ignore-scripts/);
    }
    assert.match(installs[0]!.args, /--omit=dev/, 'the deps stage installs production dependencies only');
    assert.ok(!/ca-certificates|\.crt|\.pem/.test(all.filter((i) => i.keyword === 'COPY' || i.keyword === 'ADD').map((i) => i.args).join(' ')), 'no CA file is copied in');
  });

  test('dependencies are installed from the manifests alone, before any source is copied (a source change reuses them)', () => {
    for (const s of byStage.slice(0, -1)) {
      const install = s.body.findIndex((i) => i.keyword === 'RUN' && /\bnpm ci\b/.test(i.args));
      const copiesBefore = s.body.slice(0, install).filter((i) => i.keyword === 'COPY').map((i) => i.args);
      assert.deepEqual(copiesBefore, ['package.json package-lock.json ./'], `stage ${s.name}`);
    }
  });

  test('.dockerignore is an allow-list admitting exactly what the COPY steps read from the context', () => {
    const allowed = dockerignoreAllowList(root);
    const sources = all
      .filter((i) => i.keyword === 'COPY' && !/--from=/.test(i.args))
      .flatMap((i) => i.args.split(/\s+/).filter((a) => !a.startsWith('--')).slice(0, -1))
      .map((p) => p.replace(/\/$/, ''));
    assert.deepEqual([...new Set(sources)].sort(), [...allowed].sort());
    for (const p of allowed) assert.ok(existsSync(join(root, p)), `${p} exists`);
    const files = contextFiles(root);
    assert.ok(files.includes('src/cli/main.ts') && files.includes('native/sockfd.c'));
    assert.ok(!files.some((f) => f.startsWith('node_modules/') || f.startsWith('dist/') || f.startsWith('test/') || f.startsWith('build/')), 'no installs, build output or tests in the context');
  });
});
