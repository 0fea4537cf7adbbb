// The broker image (tools/image/broker-image.ts: the Dockerfile, built by buildah), without Kubernetes: built from the sources,
// unpacked layer by layer into a directory, checked for its layout and configuration, and
// run from there: `bulwark broker --help`, then a real broker from the unpacked /app (the host's
// node, nothing above the directory to resolve modules from) with a kcat round trip. That proves
// the production dependencies in the image are complete. The node binary of the image is run too,
// through the image's own dynamic loader and libraries.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { buildBrokerImage } from '../tools/image/broker-image.ts';
import { kcat, kcatScram } from './harness/clients.ts';
import { unpackImage, type UnpackedImage } from './harness/image.ts';
import { useTempDirs } from './harness/temp.ts';

const tempDir = useTempDirs('broker-image');
const PASSWORD = 'Image-Check-Passw0rd-1';

/** Every path under dir, relative, directories included. */
function walk(dir: string, rel = ''): string[] {
  return readdirSync(join(dir, rel), { withFileTypes: true }).flatMap((e) => {
    const r = rel ? `${rel}/${e.name}` : e.name;
    return e.isDirectory() ? [r, ...walk(dir, r)] : [r];
  });
}

describe('the broker image', () => {
  let u: UnpackedImage;
  let paths: string[];
  before(async () => {
    const lines: string[] = [];
    const image = await buildBrokerImage({ log: (l) => lines.push(l) });
    u = unpackImage(image, tempDir('unpacked'));
    assert.equal(u.index.manifests[0]!.annotations?.['io.containerd.image.name'], image.name);
    paths = walk(u.rootfs);
  });

  test('is named bulwark.local/bulwark:<version>-<content hash>, and latest.json names it', () => {
    const version = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')).version;
    assert.match(u.image.name, new RegExp(`^bulwark\\.local/bulwark:${version.replace(/\./g, '\\.')}-[0-9a-f]{12}$`));
    assert.match(u.image.archive, /\/image\/bulwark-[^/]+\.tar$/);
    const latest = JSON.parse(readFileSync(join(u.image.archive, '..', 'latest.json'), 'utf8'));
    assert.deepEqual(latest, { name: u.image.name, archive: u.image.archive, digest: u.image.digest });
  });

  test('built again from the same inputs: the same archive, not rewritten', async () => {
    const before = statSync(u.image.archive).mtimeMs;
    const again = await buildBrokerImage({ log: () => {}, skipBuild: true });
    assert.equal(again.cached, true);
    assert.deepEqual([again.name, again.archive, again.digest], [u.image.name, u.image.archive, u.image.digest]);
    assert.equal(statSync(u.image.archive).mtimeMs, before);
  });

  test('its configuration: the entrypoint, user 65532, /app, NODE_ENV=production', () => {
    const c = u.config.config;
    assert.deepEqual(c.Entrypoint, ['/nodejs/bin/node', '/app/bin/bulwark.js']);
    assert.equal(c.User, '65532:65532');
    assert.equal(c.WorkingDir, '/app');
    assert.ok((c.Env as string[]).includes('NODE_ENV=production'));
    assert.ok((c.Env as string[]).some((e) => e.startsWith('PATH=')));
    assert.ok(u.layers >= 2, 'the runtime base, then the app');
  });

  test('its files: node and its libraries, the app, production dependencies only, the user, /tmp, and no shell', () => {
    for (const p of ['nodejs/bin/node', 'app/package.json', 'app/bin/bulwark.js', 'app/dist/cli/main.js', 'app/build/crc32c.node', 'app/build/sockfd.node', 'app/node_modules/fastify/package.json', 'app/node_modules/pino/package.json']) {
      assert.ok(existsSync(join(u.rootfs, p)), p);
    }
    // (@types/* do come, as dependencies of @kubernetes/client-node.)
    for (const dev of ['kafkajs', 'typescript', 'tsx', 'fast-check']) assert.ok(!existsSync(join(u.rootfs, 'app', 'node_modules', dev)), `${dev} is a dev dependency`);
    assert.ok(!paths.some((p) => p === 'app/src' || p.startsWith('app/test') || p.endsWith('.tsbuildinfo') || p.endsWith('dist/.built')), 'no sources, tests or build state');
    assert.match(readFileSync(join(u.rootfs, 'etc', 'passwd'), 'utf8'), /^nonroot:x:65532:65532:/m);
    assert.match(readFileSync(join(u.rootfs, 'etc', 'group'), 'utf8'), /^nonroot:x:65532:/m);
    assert.equal(lstatSync(join(u.rootfs, 'tmp')).mode & 0o7777, 0o1777);
    const shells = paths.filter((p) => /(^|\/)(sh|bash|dash|ash|busybox)$/.test(p));
    assert.deepEqual(shells, []);
    const top = readdirSync(u.rootfs).sort();
    assert.deepEqual(top.filter((d) => !['app', 'etc', 'home', 'lib', 'lib64', 'nodejs', 'root', 'tmp'].includes(d)), [], `top-level: ${top.join(' ')}`);
    assert.ok(paths.some((p) => /^lib(64)?\/.*ld-linux.*\.so/.test(p) || /^lib\/x86_64-linux-gnu\/ld-linux/.test(p)), 'the dynamic loader');
  });

  test('every library node and the native addons (*.node) load is in the image, at the path the loader looks for it', () => {
    const elves = ['nodejs/bin/node', ...paths.filter((p) => p.startsWith('app/') && p.endsWith('.node'))];
    assert.ok(elves.length >= 4, elves.join(' '));
    const missing: string[] = [];
    for (const elf of elves) {
      let out = '';
      try {
        out = execFileSync('ldd', [join(u.rootfs, elf)], { encoding: 'utf8' });
      } catch (err) {
        if (/not a dynamic executable/.test(String((err as { stdout?: string }).stdout))) continue;
        throw err;
      }
      for (const m of out.matchAll(/(?:=>\s*)?(\/\S+)\s+\(0x[0-9a-f]+\)/g)) {
        if (!existsSync(join(u.rootfs, m[1]!))) missing.push(`${elf} needs ${m[1]}`);
      }
      assert.doesNotMatch(out, /not found/, `${elf}: ${out}`);
    }
    assert.deepEqual(missing, []);
  });

  test("the image's own node runs, with the image's loader and libraries only", () => {
    const loader = paths.find((p) => /ld-linux[^/]*\.so\.\d+$/.test(p));
    assert.ok(loader, 'a dynamic loader in the image');
    const libDirs = [...new Set(paths.filter((p) => /\.so(\.\d+)*$/.test(p)).map((p) => join(u.rootfs, p, '..')))];
    const out = execFileSync(join(u.rootfs, loader), ['--inhibit-cache', '--library-path', libDirs.join(':'), join(u.rootfs, 'nodejs', 'bin', 'node'), '-e', 'console.log(process.version)'], { env: {} });
    assert.equal(out.toString().trim(), process.version);
  });

  test('bulwark broker --help runs from the unpacked /app', () => {
    const out = execFileSync(process.execPath, [join(u.rootfs, 'app', 'bin', 'bulwark.js'), 'broker', '--help'], { cwd: join(u.rootfs, 'app'), env: { PATH: process.env.PATH, NODE_ENV: 'production' } });
    assert.match(out.toString(), /usage: bulwark broker .*--broker-id-from-hostname/);
  });

  test('a broker from the unpacked /app serves kcat (SCRAM-SHA-512) and its probes', async () => {
    const app = join(u.rootfs, 'app');
    const dataDir = tempDir('data');
    const child = spawn(process.execPath, [join(app, 'bin', 'bulwark.js'), 'broker', '--data-dir', dataDir, '--kafka-port', '0', '--auto-create-topics'], {
      cwd: app,
      env: { PATH: process.env.PATH, NODE_ENV: 'production', BULWARK_ROOT_PASSWORD: PASSWORD, BULWARK_HTTP_ENABLED: 'false', BULWARK_PROBES_PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      const deadline = Date.now() + 30_000;
      while (!/probes on/.test(out) && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const kafka = /Kafka on ([\d.]+:\d+)/.exec(out)?.[1];
      const probes = Number(/probes on [\d.]+:(\d+)/.exec(out)?.[1]);
      assert.ok(kafka && probes, `the broker did not start:\n${out}\n${err}`);
      assert.doesNotMatch(err, /sockfd\.node is not built/, 'the native addons load from /app/build');
      const sasl = kcatScram('SCRAM-SHA-512', 'root', PASSWORD);
      const produced = await kcat(['-b', kafka, ...sasl, '-P', '-t', 'image-check'], { input: 'from the image\n' });
      assert.equal(produced.code, 0, produced.stderr);
      const consumed = await kcat(['-b', kafka, ...sasl, '-C', '-t', 'image-check', '-o', 'beginning', '-e', '-f', '%s\\n']);
      assert.equal(consumed.code, 0, consumed.stderr);
      assert.equal(consumed.stdout.trim(), 'from the image');
      const ready = await new Promise<number>((resolve, reject) => httpRequest({ host: '127.0.0.1', port: probes, path: '/readyz' }, (res) => (res.resume(), resolve(res.statusCode!))).on('error', reject).end());
      assert.equal(ready, 200);
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, `${out}\n${err}`);
  });
});
