// The Bulwark image (both roles: `bulwark broker`, `bulwark operator`), built from the repository's
// Dockerfile by buildah, written as an OCI archive that `ctr images import` reads.
//
//   1. Bases: the Dockerfile's BUILD_IMAGE and RUNTIME_IMAGE build arguments are the local bases of
//      the same layout (tools/image/base-images.ts), loaded into buildah's store, unless
//      BULWARK_BUILD_IMAGE / BULWARK_RUNTIME_IMAGE name others (pulled by buildah if missing).
//   2. `buildah build --layers --no-cache --timestamp <SOURCE_DATE_EPOCH, default 0>` with the npm
//      CA bundle as a build secret (never in a layer). Reproducible: the same inputs on the same
//      bases give the same digest (test/image-build builds twice to show it).
//   3. `buildah push` into an OCI layout under two names, bulwark.local/bulwark:<version>-<hash12>
//      and bulwark.local/bulwark:<version>, tarred into the archive.
//
// <hash12> hashes every input: the Dockerfile, .dockerignore, the build context (the files its
// allow-list admits), the bases (their config digests, or the names given) and the build
// arguments (CREATED, from SOURCE_DATE_EPOCH, among them). Unchanged inputs find the archive
// already written and build nothing.
//
// Cache, under ${BULWARK_CACHE:-~/.cache/bulwark}/image/:
//   bases/                          the local bases (base-images.ts)
//   buildah/{root,runroot,driver}   buildah's store (overlay, else vfs) and the driver chosen
//   buildah/tmp                     buildah's TMPDIR: the npm cache of the Dockerfile's cache mounts
//   bulwark-<tag>.tar (+ .json)     the archive;  latest.json  {name, archive, digest} of the last build
//
// `npm run image:build` (or scripts/image-build.sh, which installs buildah and debootstrap first)
// runs it and prints latest.json's content; the e2e tests call buildBrokerImage().
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { alive, cacheRoot } from '../controlplane/launcher.ts';
import type { WrittenImage } from './oci-archive.ts';
import { LOCAL_BUILD_BASE, LOCAL_RUNTIME_BASE, localBuildBase, localRuntimeBase, run, type LocalBaseImage } from './base-images.ts';
import { contextFiles } from './build-context.ts';

export const BROKER_IMAGE_REPOSITORY = 'bulwark.local/bulwark';
export const BROKER_IMAGE_ENTRYPOINT = ['/nodejs/bin/node', '/app/bin/bulwark.js'] as const;

export interface BrokerImageOptions {
  /** The repository to build (its Dockerfile and sources); default this one. */
  root?: string;
  /** Where archives, bases and buildah's store are kept; default ${BULWARK_CACHE}/image. */
  cacheDir?: string;
  /** Progress lines; default stderr. Long steps (debootstrap, npm ci, tsc) print their own output on stderr. */
  log?: (line: string) => void;
  /** @deprecated The Dockerfile builds from the sources, so there is no host build to skip; ignored. */
  skipBuild?: boolean;
  /** The BUILD_IMAGE build argument; default env BULWARK_BUILD_IMAGE, else the local build base. */
  buildImage?: string;
  /** The RUNTIME_IMAGE build argument; default env BULWARK_RUNTIME_IMAGE, else the local runtime base. */
  runtimeImage?: string;
  /**
   * Build again even when the archive for these inputs exists, leaving it and latest.json alone
   * (the new archive is removed after): the build is reproducible when the digests are equal.
   */
  fresh?: boolean;
}

export interface BrokerImage extends WrittenImage {
  /** True when the archive for these inputs already existed. */
  cached: boolean;
}

const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
/** The CA bundle npm trusts inside the build (a build secret): the one this machine trusts. */
const DEFAULT_NPM_CA = '/etc/ssl/certs/ca-certificates.crt';

/** Builds the image archive from the Dockerfile (or finds the one already built from the same inputs). */
export async function buildBrokerImage(opts: BrokerImageOptions = {}): Promise<BrokerImage> {
  const root = opts.root ?? REPO_ROOT;
  const cacheDir = opts.cacheDir ?? join(cacheRoot(), 'image');
  const log = opts.log ?? ((line: string) => process.stderr.write(`image: ${line}\n`));
  mkdirSync(cacheDir, { recursive: true });
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  const buildImage = opts.buildImage ?? (process.env.BULWARK_BUILD_IMAGE || undefined);
  const runtimeImage = opts.runtimeImage ?? (process.env.BULWARK_RUNTIME_IMAGE || undefined);

  const unlock = await lock(join(cacheDir, 'build.lock'), log);
  try {
    ensureTools(root, { debootstrap: !buildImage }, log);
    const localBases: LocalBaseImage[] = [];
    if (!buildImage) localBases.push(await localBuildBase({ cacheDir, log }));
    if (!runtimeImage) localBases.push(await localRuntimeBase({ cacheDir, log }));
    const buildArgs: Record<string, string> = {
      BUILD_IMAGE: buildImage ?? LOCAL_BUILD_BASE,
      RUNTIME_IMAGE: runtimeImage ?? LOCAL_RUNTIME_BASE,
      VERSION: pkg.version,
    };
    const timestamp = sourceDateEpoch();
    buildArgs.CREATED = new Date(timestamp * 1000).toISOString().replace('.000Z', 'Z');

    const hash = inputHash(root, buildArgs, localBases);
    const tag = `${pkg.version}-${hash.slice(0, 12)}`;
    const name = `${BROKER_IMAGE_REPOSITORY}:${tag}`;
    const versionName = `${BROKER_IMAGE_REPOSITORY}:${pkg.version}`;
    const archive = join(cacheDir, opts.fresh ? `bulwark-${tag}.fresh.tar` : `bulwark-${tag}.tar`);
    const meta = `${archive}.json`;
    const latest = join(cacheDir, 'latest.json');
    if (!opts.fresh && existsSync(archive) && existsSync(meta)) {
      const written = JSON.parse(readFileSync(meta, 'utf8')) as WrittenImage;
      writeFileSync(latest, JSON.stringify(written, null, 2) + '\n');
      log(`${name} is up to date (${archive})`);
      return { ...written, cached: true };
    }

    const buildah = await buildahStore(cacheDir, log);
    for (const base of localBases) await loadBase(buildah, base, log);
    const started = Date.now();
    log(`building ${name} from ${join(root, 'Dockerfile')} (buildah build --no-cache --timestamp ${timestamp})…`);
    const secret = process.env.BULWARK_NPM_CA || DEFAULT_NPM_CA;
    // buildah keeps RUN --mount=type=cache directories (the npm cache) and its temporary files under TMPDIR: in the cache too.
    const tmpdir = join(cacheDir, 'buildah', 'tmp');
    mkdirSync(tmpdir, { recursive: true });
    await run('buildah', [
      ...buildah,
      'build',
      // Reproducible: every step runs again (a cached step would bring the time it was first built
      // into the history), and every file of the new layers, the history and the image get one
      // time. So the same sources on the same bases give the same digest. The npm cache mount
      // keeps the npm ci steps quick.
      '--layers',
      '--no-cache',
      '--timestamp',
      String(timestamp),
      // Runs the RUN steps with runc, in the host's network (npm ci needs the registry; no CNI bridge is set up).
      '--isolation',
      'oci',
      '--network',
      'host',
      // Pull a base only when it is not in the store: the local ones always are.
      '--pull=false',
      '--format',
      'oci',
      ...(existsSync(secret) ? ['--secret', `id=npmca,src=${secret}`] : []),
      ...Object.entries(buildArgs).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]),
      '--tag',
      name,
      '--tag',
      versionName,
      '--file',
      join(root, 'Dockerfile'),
      root,
    ], { env: { ...process.env, TMPDIR: tmpdir } });
    log(`built ${name} in ${((Date.now() - started) / 1000).toFixed(0)} s; writing ${archive}…`);
    const digest = await pushArchive(buildah, name, [name, versionName], archive);
    const written: WrittenImage = { name, archive, digest };
    if (opts.fresh) {
      // The names now point at the fresh build in buildah's store; the cached archive is unchanged.
      rmSync(archive, { force: true });
      await prune(cacheDir, buildah, KEEP_ARCHIVES);
      log(`fresh build of ${name}: ${digest}`);
      return { ...written, cached: false };
    }
    writeFileSync(meta, JSON.stringify(written, null, 2) + '\n');
    writeFileSync(latest, JSON.stringify(written, null, 2) + '\n');
    log(`wrote ${archive} (${(statSync(archive).size / 1e6).toFixed(1)} MB, ${digest}) in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    await prune(cacheDir, buildah, KEEP_ARCHIVES);
    return { ...written, cached: false };
  } finally {
    unlock();
  }
}

/** Archives kept in the cache (the newest; an image a test node still runs is in containerd's store anyway). */
const KEEP_ARCHIVES = 3;

/** The reproducible-builds convention: SOURCE_DATE_EPOCH (seconds) when given, else 0 (1970-01-01). */
function sourceDateEpoch(): number {
  const given = process.env.SOURCE_DATE_EPOCH;
  if (given === undefined || given === '') return 0;
  if (!/^[0-9]{1,12}$/.test(given)) throw new Error(`SOURCE_DATE_EPOCH must be seconds since 1970, not ${JSON.stringify(given)}`);
  return Number(given);
}

/** A hash of everything the build reads: the Dockerfile, the context, the bases and the build arguments. */
function inputHash(root: string, buildArgs: Record<string, string>, bases: LocalBaseImage[]): string {
  const h = createHash('sha256').update(JSON.stringify({ buildArgs, bases: bases.map((b) => [b.name, b.configDigest]) }));
  for (const file of ['Dockerfile', '.dockerignore', ...contextFiles(root)]) {
    const path = join(root, file);
    h.update(`\0${file}\0${statSync(path).mode & 0o111 ? 'x' : '-'}\0`).update(readFileSync(path));
  }
  return h.digest('hex');
}

/** buildah's global flags for the store in the cache: overlay where the kernel allows it here, else vfs. */
async function buildahStore(cacheDir: string, log: (line: string) => void): Promise<string[]> {
  const dir = join(cacheDir, 'buildah');
  mkdirSync(dir, { recursive: true });
  const store = (driver: string) => ['--root', join(dir, 'root'), '--runroot', join(dir, 'runroot'), '--storage-driver', driver];
  const chosen = join(dir, 'driver');
  const forced = process.env.BULWARK_BUILDAH_STORAGE_DRIVER;
  if (forced) return store(forced);
  if (existsSync(chosen)) return store(readFileSync(chosen, 'utf8').trim());
  let driver = 'overlay';
  try {
    // `info` initialises the store with the driver; it fails where overlay cannot be mounted.
    await capture('buildah', [...store(driver), 'info']);
  } catch (err) {
    log(`buildah: the overlay driver does not work here (${String(err).split('\n')[0]}); using vfs`);
    rmSync(join(dir, 'root'), { recursive: true, force: true });
    rmSync(join(dir, 'runroot'), { recursive: true, force: true });
    driver = 'vfs';
  }
  writeFileSync(chosen, `${driver}\n`);
  return store(driver);
}

/** Loads a local base into buildah's store under its name, unless the store already has that very image. */
async function loadBase(buildah: string[], base: LocalBaseImage, log: (line: string) => void): Promise<void> {
  const want = base.configDigest.slice('sha256:'.length);
  const have = await capture('buildah', [...buildah, 'inspect', '--type', 'image', '--format', '{{.FromImageID}}', base.name]).catch(() => '');
  if (have.trim() === want) return;
  log(`loading ${base.name} into buildah's store (buildah pull ${base.source.split(':')[0]}:…)`);
  const id = (await capture('buildah', [...buildah, 'pull', '--quiet', base.source], { cwd: base.dir })).trim().split('\n').pop()!;
  await capture('buildah', [...buildah, 'tag', id, base.name]);
  if (id !== want) throw new Error(`loading ${base.name}: buildah gave image ${id}, not ${want}`);
}

/**
 * Pushes the built image into an OCI layout under each name (one manifest, one index entry per
 * name, annotated with the full name containerd imports it as), tars the layout into `archive`,
 * and returns the manifest digest.
 */
async function pushArchive(buildah: string[], image: string, names: string[], archive: string): Promise<string> {
  const layout = `${archive}.${process.pid}.layout`;
  rmSync(layout, { recursive: true, force: true });
  try {
    for (const name of names) await capture('buildah', [...buildah, 'push', '--quiet', image, `oci:${layout}:${name.slice(name.lastIndexOf(':') + 1)}`]);
    const indexPath = join(layout, 'index.json');
    const index = JSON.parse(readFileSync(indexPath, 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
    const digests = new Set(index.manifests.map((m) => m.digest));
    if (index.manifests.length !== names.length || digests.size !== 1) throw new Error(`buildah push wrote ${index.manifests.length} manifests (${[...digests].join(', ')}) for ${names.join(', ')}`);
    for (const m of index.manifests) {
      const ref = m.annotations?.['org.opencontainers.image.ref.name'];
      const name = names.find((n) => n.endsWith(`:${ref}`));
      if (!name) throw new Error(`buildah push: unexpected reference ${ref} in ${indexPath}`);
      m.annotations = { ...m.annotations, 'io.containerd.image.name': name };
    }
    writeFileSync(indexPath, JSON.stringify(index));
    const tmp = `${archive}.${process.pid}.tmp`;
    await run('tar', ['--create', `--file=${tmp}`, `--directory=${layout}`, '--numeric-owner', '--owner=0', '--group=0', '--sort=name', 'oci-layout', 'index.json', 'blobs']);
    renameSync(tmp, archive);
    return [...digests][0]!;
  } finally {
    rmSync(layout, { recursive: true, force: true });
  }
}

/**
 * Keeps the cache to what is used: the newest `keep` archives, their images and the bases loaded
 * now. The rest of buildah's store goes: older builds' images, bases of an earlier recipe (named
 * only by the layout buildah pulled them from) and every unnamed image (the build stages: the
 * builds take nothing from a layer cache, --no-cache). Runs under the build lock.
 */
async function prune(cacheDir: string, buildah: string[], keep: number): Promise<void> {
  const archives = readdirSync(cacheDir)
    .filter((f) => /^bulwark-.*\.tar$/.test(f))
    .map((f) => ({ f, t: statSync(join(cacheDir, f)).mtimeMs }))
    .sort((a, b) => b.t - a.t)
    .map((e) => e.f);
  for (const f of archives.slice(keep)) {
    rmSync(join(cacheDir, f), { force: true });
    rmSync(join(cacheDir, `${f}.json`), { force: true });
  }
  const kept = new Set(archives.slice(0, keep).map((f) => `${BROKER_IMAGE_REPOSITORY}:${/^bulwark-(.*)\.tar$/.exec(f)![1]}`));
  const images = JSON.parse(await capture('buildah', [...buildah, 'images', '--json'])) as { id: string; names?: string[] | null }[];
  for (const image of images) {
    const names = image.names ?? [];
    const stale = names.filter((n) => n.startsWith(`${BROKER_IMAGE_REPOSITORY}:`) && /-[0-9a-f]{12}$/.test(n) && !kept.has(n));
    const oldBase = names.length > 0 && names.every((n) => /^localhost\/build-[0-9a-f]+\/layout:/.test(n));
    for (const ref of oldBase ? [image.id] : stale) await capture('buildah', [...buildah, 'rmi', ref]).catch(() => undefined);
  }
  await capture('buildah', [...buildah, 'rmi', '--prune']).catch(() => undefined);
}

/** Installs buildah (and debootstrap, for the local build base) with scripts/image-build.sh when missing. */
function ensureTools(root: string, need: { debootstrap: boolean }, log: (line: string) => void): void {
  const missing = ['buildah', ...(need.debootstrap ? ['debootstrap'] : [])].filter((tool) => !onPath(tool));
  if (missing.length === 0) return;
  log(`${missing.join(' and ')} missing: installing (scripts/image-build.sh --tools-only)`);
  // Synchronous on purpose: nothing else can proceed without the tools.
  const r = spawnSync('bash', [join(root, 'scripts', 'image-build.sh'), '--tools-only'], { stdio: ['ignore', 2, 2] }).status;
  if (r !== 0) throw new Error(`installing ${missing.join(', ')} failed (scripts/image-build.sh --tools-only exited ${r})`);
}

function onPath(tool: string): boolean {
  return (process.env.PATH ?? '/usr/bin:/bin').split(':').some((d) => d && existsSync(join(d, tool))) || existsSync(join('/usr/sbin', tool));
}

/** Runs a command and resolves with its stdout; rejects with its stderr on a non-zero exit. */
function capture(command: string, args: string[], opts: { cwd?: string } = {}): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolvePromise(out) : reject(new Error(`${command} ${args.filter((a, i) => !['--root', '--runroot'].includes(args[i - 1] ?? '')).slice(0, 8).join(' ')} failed (exit ${code}): ${err.trim()}`))));
  });
}

/**
 * One build at a time per cache (test files may run in parallel): a lock file holding the owner's
 * pid, taken over when that process is gone.
 */
async function lock(path: string, log: (line: string) => void): Promise<() => void> {
  let waited = false;
  for (;;) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let owner = 0;
    try {
      owner = Number(readFileSync(path, 'utf8').trim() || '0');
    } catch {
      continue; // released meanwhile
    }
    // An empty file is one being written this instant, unless it is old (its writer died at once).
    if (owner === 0 && Date.now() - (statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? 0) < 5000) owner = -1;
    if (owner === 0 || (owner > 0 && !alive(owner))) {
      rmSync(path, { force: true });
      continue;
    }
    if (!waited) log(`another image build (pid ${owner > 0 ? owner : '?'}) holds ${path}; waiting for it…`);
    waited = true;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  const image = await buildBrokerImage();
  process.stdout.write(JSON.stringify({ name: image.name, archive: image.archive, digest: image.digest }) + '\n');
}
