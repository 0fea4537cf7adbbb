// The broker image, assembled from the project's own production build as an OCI archive, in the
// layout the packaging issue's Dockerfile produces:
//
//   /usr/bin/node             the Node runtime of this machine, with the libraries `ldd` lists for it
//                             and for every native addon (*.node) of the app and its dependencies
//   /app/package.json, /app/bin/bulwark.js, /app/dist/**, /app/build/*.node
//   /app/node_modules/**      production dependencies only (npm ci --omit=dev --ignore-scripts)
//   /etc/passwd, /etc/group   naming bulwark 65532:65532;  /tmp 1777;  no shell
//
// Three layers, so an import reuses what did not change: the runtime, the dependencies, the app.
// Entrypoint ["/usr/bin/node", "/app/bin/bulwark.js"], user 65532:65532, WorkingDir /app,
// NODE_ENV=production. The tag is `<version>-<hash of every input>`: a changed build gets a new
// tag, an unchanged one the same archive, which is then not written again.
//
// Cache, under ${BULWARK_CACHE:-~/.cache/bulwark}/image/:
//   deps-<lock hash>/node_modules   the production install, one per package-lock.json content
//   bulwark-<tag>.tar               the archive;  latest.json  {name, archive, digest} of the last build
//
// `npm run image:build` runs it and prints latest.json's content; the e2e tests call buildBrokerImage().
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cacheRoot } from '../controlplane/launcher.ts';
import { writeOciArchive, type ImageConfig, type ImageFile, type WrittenImage } from './oci-archive.ts';
import { baseFiles, directoryFiles, hostBinaryWithLibraries, IMAGE_UID } from './rootfs.ts';

export const BROKER_IMAGE_REPOSITORY = 'bulwark.local/bulwark';
export const BROKER_IMAGE_ENTRYPOINT = ['/usr/bin/node', '/app/bin/bulwark.js'] as const;

export interface BrokerImageOptions {
  /** The package to build from; default this repository. */
  root?: string;
  /** Where archives and the dependency installs are kept; default ${BULWARK_CACHE}/image. */
  cacheDir?: string;
  /** The Node binary to put in the image; default the one running this. */
  nodeBinary?: string;
  /** Progress lines; default stderr. */
  log?: (line: string) => void;
  /** Skip `scripts/ensure-deps.mjs` (dist/ and build/*.node are taken as they are). */
  skipBuild?: boolean;
}

export interface BrokerImage extends WrittenImage {
  /** True when the archive for these inputs already existed. */
  cached: boolean;
}

const REPO_ROOT = resolve(import.meta.dirname, '..', '..');

/** Builds the broker image archive (or finds the one already built from the same inputs). */
export async function buildBrokerImage(opts: BrokerImageOptions = {}): Promise<BrokerImage> {
  const root = opts.root ?? REPO_ROOT;
  const cacheDir = opts.cacheDir ?? join(cacheRoot(), 'image');
  const log = opts.log ?? ((line: string) => process.stderr.write(`image: ${line}\n`));
  const nodeBinary = realpathSync(opts.nodeBinary ?? process.execPath);
  mkdirSync(cacheDir, { recursive: true });

  if (!opts.skipBuild) {
    // The same staleness rule `npm start` and `npm test` use: rebuild dist/ (tsc) and build/*.node only when a source is newer.
    log('checking the production build (scripts/ensure-deps.mjs)');
    execFileSync(process.execPath, [join(root, 'scripts', 'ensure-deps.mjs')], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  }
  for (const needed of ['dist/cli/main.js', 'bin/bulwark.js', 'package.json', 'package-lock.json']) {
    if (!existsSync(join(root, needed))) throw new Error(`broker image: ${join(root, needed)} is missing (run npm run build)`);
  }
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  const nodeModules = productionDependencies(root, cacheDir, log);

  const dependencies: ImageFile[] = [{ path: '/app/node_modules', type: 'dir', mode: 0o755 }, ...directoryFiles(nodeModules, '/app/node_modules', (rel) => rel === '.package-lock.json')];
  const addons = readdirSync(join(root, 'build')).filter((f) => f.endsWith('.node'));
  // Native addons load libraries node itself does not (the @node-rs prebuilds need librt.so.1):
  // the runtime layer holds what any of them needs.
  const nativeAddons = [...dependencies.filter((f) => f.type === 'file' && f.path.endsWith('.node')).map((f) => f.source!), ...addons.map((f) => join(root, 'build', f))];
  const runtime: ImageFile[] = [...baseFiles(), ...hostBinaryWithLibraries(nodeBinary, '/usr/bin/node'), ...nativeAddons.flatMap((addon) => hostBinaryWithLibraries(addon).slice(1))];
  const app: ImageFile[] = [
    { path: '/app', type: 'dir', mode: 0o755 },
    { path: '/app/package.json', type: 'file', mode: 0o644, source: join(root, 'package.json') },
    { path: '/app/bin/bulwark.js', type: 'file', mode: 0o755, source: join(root, 'bin', 'bulwark.js') },
    ...directoryFiles(join(root, 'dist'), '/app/dist', (rel) => rel === '.tsbuildinfo' || rel === '.built'),
    ...addons.map((f): ImageFile => ({ path: `/app/build/${f}`, type: 'file', mode: 0o755, source: join(root, 'build', f) })),
  ];
  const config: ImageConfig = {
    Entrypoint: [...BROKER_IMAGE_ENTRYPOINT],
    User: `${IMAGE_UID}:${IMAGE_UID}`,
    WorkingDir: '/app',
    Env: ['PATH=/usr/bin:/bin', 'NODE_ENV=production'],
    StopSignal: 'SIGTERM',
    Labels: { 'org.opencontainers.image.title': 'bulwark', 'org.opencontainers.image.version': pkg.version, 'dev.bulwark.node-version': process.versions.node },
  };
  const layers = [{ files: runtime }, { files: dependencies }, { files: app }];

  const hash = inputHash(config, layers);
  const tag = `${pkg.version}-${hash.slice(0, 12)}`;
  const name = `${BROKER_IMAGE_REPOSITORY}:${tag}`;
  const archive = join(cacheDir, `bulwark-${tag}.tar`);
  const meta = `${archive}.json`;
  const latest = join(cacheDir, 'latest.json');
  if (existsSync(archive) && existsSync(meta)) {
    const written = JSON.parse(readFileSync(meta, 'utf8')) as WrittenImage;
    writeFileSync(latest, JSON.stringify(written, null, 2) + '\n');
    log(`${name} is up to date (${archive})`);
    return { ...written, cached: true };
  }
  const files = layers.reduce((n, l) => n + l.files.length, 0);
  log(`writing ${name}: ${files} entries in 3 layers (runtime, dependencies, app)…`);
  const started = Date.now();
  const tmp = `${archive}.${process.pid}.tmp`;
  const image = await writeOciArchive({ name, out: tmp, config, layers });
  renameSync(tmp, archive);
  const written: WrittenImage = { name, archive, digest: image.digest };
  writeFileSync(meta, JSON.stringify(written, null, 2) + '\n');
  writeFileSync(latest, JSON.stringify(written, null, 2) + '\n');
  log(`wrote ${archive} (${(fileSize(archive) / 1e6).toFixed(1)} MB, ${image.digest}) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  prune(cacheDir, KEEP_ARCHIVES);
  return { ...written, cached: false };
}

/** Archives kept in the cache (the newest; an image a test node still runs is in containerd's store anyway). */
const KEEP_ARCHIVES = 3;

/** Removes all but the newest `keep` archives and dependency installs (by modification time). */
function prune(cacheDir: string, keep: number): void {
  const newestFirst = (pattern: RegExp) =>
    readdirSync(cacheDir)
      .filter((f) => pattern.test(f))
      .map((f) => ({ f, t: statSync(join(cacheDir, f)).mtimeMs }))
      .sort((a, b) => b.t - a.t)
      .map((e) => e.f);
  for (const f of newestFirst(/^bulwark-.*\.tar$/).slice(keep)) {
    rmSync(join(cacheDir, f), { force: true });
    rmSync(join(cacheDir, `${f}.json`), { force: true });
  }
  for (const d of newestFirst(/^deps-[0-9a-f]+$/).slice(keep)) rmSync(join(cacheDir, d), { recursive: true, force: true });
}

/**
 * node_modules with the production dependencies only, installed once per package-lock.json
 * content into ${cacheDir}/deps-<hash>/ (npm ci --omit=dev --ignore-scripts: nothing runs at
 * install; native dependencies come as prebuilt platform packages).
 */
function productionDependencies(root: string, cacheDir: string, log: (line: string) => void): string {
  const lock = readFileSync(join(root, 'package-lock.json'));
  const manifest = readFileSync(join(root, 'package.json'));
  const key = createHash('sha256').update(lock).update('\0').update(manifest).digest('hex').slice(0, 16);
  const dir = join(cacheDir, `deps-${key}`);
  const done = join(dir, '.complete');
  if (existsSync(done)) return join(dir, 'node_modules');
  log(`installing production dependencies (npm ci --omit=dev --ignore-scripts) into ${dir}…`);
  const staging = `${dir}.${process.pid}.tmp`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  cpSync(join(root, 'package.json'), join(staging, 'package.json'));
  cpSync(join(root, 'package-lock.json'), join(staging, 'package-lock.json'));
  execFileSync('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: staging, stdio: ['ignore', 'inherit', 'inherit'] });
  writeFileSync(join(staging, '.complete'), `${new Date().toISOString()}\n`);
  try {
    // Fails when the directory exists: never delete an install another build may be reading.
    renameSync(staging, dir);
  } catch {
    if (existsSync(done)) {
      // Another build (a test process in parallel) installed the same lock first: use its install.
      rmSync(staging, { recursive: true, force: true });
    } else {
      rmSync(dir, { recursive: true, force: true });
      renameSync(staging, dir);
    }
  }
  return join(dir, 'node_modules');
}

/** A hash of everything that goes into the image: the config, and each entry's path, type, mode, link and content. */
function inputHash(config: ImageConfig, layers: { files: ImageFile[] }[]): string {
  const h = createHash('sha256').update(JSON.stringify(config));
  layers.forEach((layer, i) => {
    h.update(`\0layer ${i}\0`);
    for (const f of [...layer.files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
      h.update(`${f.path}\0${f.type}\0${f.mode}\0${f.uid ?? 0}:${f.gid ?? 0}\0${f.linkTarget ?? ''}\0`);
      if (f.type === 'file') h.update(f.data ?? readFileSync(f.source!));
    }
  });
  return h.digest('hex');
}

function fileSize(path: string): number {
  return statSync(path).size;
}

if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  const image = await buildBrokerImage();
  process.stdout.write(JSON.stringify({ name: image.name, archive: image.archive, digest: image.digest }) + '\n');
}
