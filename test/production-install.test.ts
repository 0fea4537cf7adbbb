// The package as a production install gets it: `npm pack` (whose prepack builds dist/ and the
// native modules), the tarball installed into an empty directory with production dependencies
// only (`npm install --omit=dev`: no tsx, no typescript), then the installed `bulwark` binary run
// as a user would: help, policy check of the shipped examples, and a broker that answers Kafka
// (kcat, SCRAM-SHA-512 as the root user) and HTTP. Everything but the build lives in a temp dir.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';

const root = join(import.meta.dirname, '..');
const work = mkdtempSync(join(tmpdir(), 'bulwark-install-'));
const app = join(work, 'app');
const installed = join(app, 'node_modules', 'bulwark');
const bin = join(app, 'node_modules', '.bin', 'bulwark');
const ROOT_PASSWORD = 'Install-Check-Passw0rd!';
// The binary starts through its shebang (`env node`): the node running this test comes first.
const env = { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}` };

const run = (cmd: string, args: string[], opts: { cwd: string; timeout?: number }) =>
  promisify(execFile)(cmd, args, { env, maxBuffer: 32 << 20, timeout: opts.timeout ?? 120_000, cwd: opts.cwd });

/** kcat to completion (killed after 30 s); its exit code and output, never a rejection. */
function kcat(args: string[], input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('kcat', args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input ?? '');
  });
}

after(() => rmSync(work, { recursive: true, force: true }));

describe('a production install of the packed tarball', { timeout: 240_000 }, () => {
  let tarball = '';
  let files: string[] = [];

  before(async () => {
    const packed = join(work, 'pack');
    mkdirSync(packed);
    await run('npm', ['pack', '--pack-destination', packed, '--no-audit', '--no-fund'], { cwd: root, timeout: 180_000 });
    const tgz = readdirSync(packed).filter((f) => f.endsWith('.tgz'));
    assert.equal(tgz.length, 1, `npm pack made ${tgz.join(', ')}`);
    tarball = join(packed, tgz[0]!);
    files = (await run('tar', ['-tzf', tarball], { cwd: work })).stdout.split('\n').filter(Boolean);
    // An empty project, so that npm installs here and nowhere above.
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'bulwark-install-check', private: true }));
    await run('npm', ['install', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline', '--no-save', tarball], { cwd: app, timeout: 180_000 });
  });

  test('the tarball holds the built code, the native modules built here, the examples and CRDs; no sources', () => {
    for (const f of ['package/bin/bulwark.js', 'package/dist/cli/main.js', 'package/dist/lib/package-root.js', 'package/examples/policy/users.yaml', 'package/crds/bulwark.dev_users.yaml', 'package/package.json']) {
      assert.ok(files.includes(f), `${f} is in the tarball`);
    }
    for (const native of ['crc32c.node', 'sockfd.node']) {
      if (existsSync(join(root, 'build', native))) assert.ok(files.includes(`package/build/${native}`), `build/${native} is in the tarball`);
    }
    assert.deepEqual(
      files.filter((f) => /^package\/(src|test|bench|scripts|native|tools)\//.test(f) || f.endsWith('.tsbuildinfo') || f.endsWith('dist/.built')),
      [],
    );
  });

  test('the install has no dev dependencies', () => {
    assert.ok(existsSync(join(installed, 'dist', 'cli', 'main.js')));
    for (const dev of ['tsx', 'typescript', 'kafkajs', 'fast-check']) assert.ok(!existsSync(join(app, 'node_modules', dev)), `${dev} is not installed`);
  });

  test('bulwark help and bulwark policy check of the shipped examples', async () => {
    const help = await run(bin, ['help'], { cwd: app });
    assert.match(help.stdout, /^bulwark: a Kafka-compatible broker/);
    const check = await run(bin, ['policy', 'check', join(installed, 'examples', 'policy')], { cwd: app });
    assert.match(check.stdout, /policy OK: streaming\/events: 5 users, 1 tokens, \d+ rules, 0 error\(s\)/);
  });

  test('the shipped native CRC-32C is found from dist/', async () => {
    if (!existsSync(join(root, 'build', 'crc32c.node'))) return; // not built here: nothing shipped to find
    const code = `const m = await import(${JSON.stringify(join(installed, 'dist', 'log', 'crc32c.js'))}); console.log(m.CRC32C_IMPLEMENTATION);`;
    const r = await run(process.execPath, ['--input-type=module', '-e', code], { cwd: app });
    assert.equal(r.stdout.trim(), 'sse4.2');
  });

  test('bulwark broker answers Kafka (kcat, SCRAM-SHA-512 as root) and HTTP, and stops cleanly', async () => {
    const dataDir = join(work, 'data');
    const child = spawn(bin, ['broker', '--data-dir', dataDir, '--kafka-port', '0', '--http-port', '0', '--auto-create-topics'], {
      cwd: app,
      env: { ...env, BULWARK_ROOT_PASSWORD: ROOT_PASSWORD },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (err += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 60_000;
      while (!/HTTP on/.test(out) && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const kafka = /Kafka on ([\d.]+:\d+)/.exec(out)?.[1];
      const http = /HTTP on ([\d.]+:\d+)/.exec(out)?.[1];
      assert.ok(kafka && http, `the broker did not start:\n${out}\n${err}`);
      if (existsSync(join(root, 'build', 'sockfd.node'))) assert.doesNotMatch(err, /sockfd\.node is not built/);

      const sasl = ['-X', 'security.protocol=SASL_PLAINTEXT', '-X', 'sasl.mechanisms=SCRAM-SHA-512', '-X', 'sasl.username=root', '-X', `sasl.password=${ROOT_PASSWORD}`];
      const meta = await kcat(['-b', kafka, ...sasl, '-L']);
      assert.equal(meta.code, 0, meta.stderr);
      assert.match(meta.stdout, /1 brokers:/);
      const produced = await kcat(['-b', kafka, ...sasl, '-P', '-t', 'install-check'], 'hello from a production install\n');
      assert.equal(produced.code, 0, produced.stderr);
      const consumed = await kcat(['-b', kafka, ...sasl, '-C', '-t', 'install-check', '-o', 'beginning', '-e', '-q']);
      assert.equal(consumed.code, 0, consumed.stderr);
      assert.equal(consumed.stdout.trim(), 'hello from a production install');

      assert.equal((await fetch(`http://${http}/healthz`)).status, 200);
    } finally {
      child.kill('SIGTERM');
      assert.equal(await exited, 0, `${out}\n${err}`);
    }
    assert.match(out, /bulwark: stopped/);
  });
});
