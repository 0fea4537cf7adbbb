// The image the Dockerfile builds (tools/image/broker-image.ts: buildah on local bases of the same
// layout; the first build on a machine takes minutes, later ones reuse the cache), read back from
// its OCI archive the way a user inspects an image: its names, its configuration, its files, who
// owns them. Then it is run the way the kubelet runs it, with runc: a read-only root filesystem,
// user 65532, writable only /tmp (a tmpfs) and the data volume; node is PID 1, serves Kafka, and
// on SIGTERM flushes its partitions and exits 0.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { buildBrokerImage, BROKER_IMAGE_ENTRYPOINT, BROKER_IMAGE_REPOSITORY } from '../tools/image/broker-image.ts';
import { kcat, kcatScram } from './harness/clients.ts';
import { unpackImage, type UnpackedImage } from './harness/image.ts';
import { useTempDirs } from './harness/temp.ts';

const root = join(import.meta.dirname, '..');
const tempDir = useTempDirs('image-build');
const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
const UID = 65532;
const PASSWORD = 'Image-Run-Passw0rd-1';

describe('the image built from the Dockerfile', () => {
  let u: UnpackedImage;
  before(async () => {
    u = unpackImage(await buildBrokerImage({ log: (l) => process.stderr.write(`# image: ${l}\n`) }), tempDir('unpacked'));
  });

  test('the archive carries two names for one manifest: <version>-<content hash> and <version>', () => {
    assert.match(u.image.name, new RegExp(`^${BROKER_IMAGE_REPOSITORY.replace(/\./g, '\\.')}:${version.replace(/\./g, '\\.')}-[0-9a-f]{12}$`));
    const names = u.index.manifests.map((m) => m.annotations?.['io.containerd.image.name']).sort();
    assert.deepEqual(names, [`${BROKER_IMAGE_REPOSITORY}:${version}`, u.image.name].sort());
    assert.deepEqual([...new Set(u.index.manifests.map((m) => m.digest))], [u.image.digest]);
  });

  test('buildah built it from the Dockerfile: its history is the final stage', () => {
    assert.ok(u.config.config.Labels?.['io.buildah.version'], 'built by buildah');
    const steps = (u.config.history ?? []).map((h) => h.created_by ?? '').join('\n');
    for (const step of [/COPY .*node_modules/, /COPY .*dist/, /USER 65532:65532/, /ENTRYPOINT \["\/nodejs\/bin\/node", ?"\/app\/bin\/bulwark\.js"\]/]) assert.match(steps, step);
  });

  test('reproducible: built again from the same sources, the image has the same digest, and the build time is SOURCE_DATE_EPOCH (default 1970)', { timeout: 15 * 60_000 }, async () => {
    const again = await buildBrokerImage({ fresh: true, log: (l) => process.stderr.write(`# image (again): ${l}\n`) });
    assert.equal(again.name, u.image.name);
    assert.equal(again.digest, u.image.digest, 'a second build from scratch gives the same digest');
    assert.equal(u.config.created, '1970-01-01T00:00:00Z');
    assert.equal(u.config.config.Labels['org.opencontainers.image.created'], '1970-01-01T00:00:00Z');
    // buildah notes each step of the build with the image it started FROM; the base's own entries have no such note.
    const steps = (u.config.history ?? []).filter((h) => h.comment?.startsWith('FROM '));
    assert.ok(steps.length >= 10, JSON.stringify(u.config.history));
    assert.deepEqual([...new Set(steps.map((h) => h.created))], ['1970-01-01T00:00:00Z'], 'every step of the build has that time');
  });

  test('its configuration: user 65532:65532, the exec-form entrypoint, /app, production, SIGTERM, OCI labels', () => {
    const c = u.config.config;
    assert.equal(c.User, '65532:65532');
    assert.deepEqual(c.Entrypoint, [...BROKER_IMAGE_ENTRYPOINT]);
    assert.equal(c.Cmd, undefined);
    assert.equal(c.WorkingDir, '/app');
    assert.ok((c.Env as string[]).includes('NODE_ENV=production'));
    assert.equal(c.StopSignal, 'SIGTERM');
    assert.equal(c.Labels['org.opencontainers.image.title'], 'bulwark');
    assert.equal(c.Labels['org.opencontainers.image.version'], version);
  });

  test('its files: the app and production dependencies only; no shell, compiler, npm or sources', () => {
    const paths = new Set(u.entries.map((e) => e.path));
    for (const p of ['nodejs/bin/node', 'app/package.json', 'app/bin/bulwark.js', 'app/dist/cli/main.js', 'app/build/crc32c.node', 'app/build/sockfd.node', 'app/node_modules/fastify/package.json', 'app/node_modules/@node-rs/argon2/package.json']) {
      assert.ok(paths.has(p), `${p} is in the image`);
    }
    for (const dev of ['typescript', 'tsx', 'kafkajs', 'fast-check', 'esbuild']) assert.ok(!paths.has(`app/node_modules/${dev}`), `${dev} (a dev dependency) is not`);
    const banned = [...paths].filter((p) => /(^|\/)(s?bin\/)?(sh|bash|dash|ash|busybox|cc|gcc|g\+\+|cc1|ld|as|make|python3?|npm|npx|apt|dpkg)$/.test(p) && !p.startsWith('app/node_modules/'));
    assert.deepEqual(banned, []);
    assert.ok(![...paths].some((p) => p === 'app/src' || p.startsWith('app/src/') || p.startsWith('app/native') || p.startsWith('app/test') || p.endsWith('.tsbuildinfo')), 'no sources or build state');
    assert.match(readFileSync(join(u.rootfs, 'etc', 'passwd'), 'utf8'), /^nonroot:x:65532:65532:/m);
  });

  test('nothing in it is writable by 65532 except /tmp and its home: the app is root\'s and read-only to it', () => {
    const writable = u.entries.filter(
      (e) => e.type !== 'l' && ((e.uid === UID && e.mode & 0o200) || (e.gid === UID && e.mode & 0o020) || e.mode & 0o002),
    );
    assert.deepEqual(
      writable.map((e) => e.path).filter((p) => p !== 'tmp' && p !== 'home/nonroot'),
      [],
    );
    const app = u.entries.filter((e) => e.path === 'app' || e.path.startsWith('app/'));
    assert.ok(app.length > 1000, `${app.length} entries under /app`);
    assert.deepEqual(app.filter((e) => e.uid !== 0 || e.gid !== 0).map((e) => `${e.path} ${e.uid}:${e.gid}`).slice(0, 5), []);
  });

  test('run by runc as the kubelet would: PID 1 on a read-only root as 65532, serves Kafka, and on SIGTERM flushes and exits 0', async (t) => {
    const runc = ['/usr/sbin/runc', '/usr/bin/runc'].find(existsSync);
    assert.ok(runc, 'runc is installed (buildah pulls it in: scripts/image-build.sh)');
    const bundle = tempDir('bundle');
    const state = tempDir('runc-state');
    const data = tempDir('data');
    chownSync(data, UID, UID);
    // Mount points for the volumes (the kubelet's runtime makes them the same way).
    mkdirSync(join(u.rootfs, 'var', 'lib', 'bulwark'), { recursive: true });
    execFileSync(runc, ['spec', '--bundle', bundle]);
    const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));
    const c = u.config.config;
    spec.root = { path: u.rootfs, readonly: true };
    spec.process = {
      ...spec.process,
      terminal: false,
      user: { uid: UID, gid: UID },
      args: [...c.Entrypoint, 'broker', '--data-dir', '/var/lib/bulwark', '--kafka-port', '0', '--auto-create-topics'],
      env: [...c.Env, `BULWARK_ROOT_PASSWORD=${PASSWORD}`, 'BULWARK_HTTP_ENABLED=false', 'BULWARK_PROBES_PORT=0'],
      cwd: c.WorkingDir,
      noNewPrivileges: true,
      capabilities: { bounding: [], effective: [], permitted: [], ambient: [] },
    };
    spec.mounts.push(
      { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777', 'size=64m'] },
      { destination: '/var/lib/bulwark', type: 'bind', source: data, options: ['rbind', 'rw'] },
    );
    // The host's network, so kcat reaches the listener (a pod would have its own).
    spec.linux.namespaces = spec.linux.namespaces.filter((n: { type: string }) => n.type !== 'network');
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));

    const id = `bulwark-image-test-${process.pid}`;
    const child = spawn(runc, ['--root', state, 'run', '--bundle', bundle, id], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    t.after(async () => {
      if (child.exitCode === null) {
        execFileSync(runc, ['--root', state, 'kill', id, 'KILL']);
        await exited;
      }
      execFileSync(runc, ['--root', state, 'delete', '--force', id], { stdio: 'ignore' });
    });

    const deadline = Date.now() + 60_000;
    while (!/Kafka on/.test(out) && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const kafka = /Kafka on ([\d.]+:\d+)/.exec(out)?.[1];
    assert.ok(kafka, `the broker did not start:\n${out}\n${err}`);
    assert.doesNotMatch(err, /is not built/, 'the native addons load from /app/build');

    // PID 1 of its PID namespace is node running the entrypoint.
    const pid = (JSON.parse(execFileSync(runc, ['--root', state, 'state', id], { encoding: 'utf8' })) as { pid: number }).pid;
    assert.equal(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, 2).join(' '), BROKER_IMAGE_ENTRYPOINT.join(' '));
    assert.match(readFileSync(`/proc/${pid}/status`, 'utf8'), /^NSpid:\s+\d+\s+1$/m);
    assert.match(readFileSync(`/proc/${pid}/status`, 'utf8'), /^Uid:\s+65532\s+65532\s+65532\s+65532$/m);

    const sasl = kcatScram('SCRAM-SHA-512', 'root', PASSWORD);
    const produced = await kcat(['-b', kafka, ...sasl, '-P', '-t', 'from-the-image'], { input: 'one\ntwo\n' });
    assert.equal(produced.code, 0, produced.stderr);
    const consumed = await kcat(['-b', kafka, ...sasl, '-C', '-t', 'from-the-image', '-o', 'beginning', '-e', '-f', '%s\\n']);
    assert.equal(consumed.code, 0, consumed.stderr);
    assert.equal(consumed.stdout.trim(), 'one\ntwo');

    // What containerd does on a pod's deletion: the stop signal to the container's init.
    execFileSync(runc, ['--root', state, 'kill', id, 'TERM']);
    assert.equal(await exited, 0, `${out}\n${err}`);
    assert.match(out, /bulwark: stopping \(flushing partitions\)…\n(.|\n)*bulwark: stopped/);
    assert.doesNotMatch(err, /EROFS|read-only file system/i);
    // The data volume holds the partition, written by 65532.
    const files = (execFileSync('find', [data, '-type', 'f', '-printf', '%U %P\n'], { encoding: 'utf8' }) as string).trim().split('\n');
    assert.ok(files.some((f) => /^65532 .*from-the-image-0\//.test(f)), files.join('\n'));
    assert.ok(files.every((f) => f.startsWith('65532 ')), files.join('\n'));
    assert.deepEqual(readdirSync(join(u.rootfs, 'tmp')), [], 'the image directory itself was not written to');
  });
});
